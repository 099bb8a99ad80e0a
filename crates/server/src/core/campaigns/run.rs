//! The campaign runner's step ([`feed`]): a campaign's next recipients handed to the sender at
//! the bulk priority, each once; and the pauses the gateway decides.

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{
    Campaign, CampaignAction, CampaignRecipient, Channel, Fed, FeedItem, campaign_status,
};
use openbsp_wire::SendRequest;
use openbsp_wire::send::Surface;
use openbsp_wire::template::Definition;
use serde_json::{Value, json};

use super::approved;
use super::spec::Spec;
use crate::core::messages::{self, SendInput, priority};
use crate::core::{Core, CoreError, CoreResult};

/// How far ahead of the sender the runner queues a campaign's sends: this many seconds at
/// its rate (enough that the sender never waits for the runner; little enough that a pause
/// holds few sends).
const LOOKAHEAD_SECS: u64 = 2;
/// The fewest sends queued ahead, whatever the rate.
const LOOKAHEAD_MIN: u64 = 20;
/// Most recipients handed to the sender in one feed (one transaction).
pub const FEED_MAX: u64 = 1_000;
/// Who a session a campaign send opens says opened it.
pub const OPENED_BY: &str = "campaign";

/// One step of the runner for a campaign: a scheduled one whose time came starts (once no
/// upload is under way); a running
/// one whose template Meta paused or disabled, or whose channel's credentials were rejected,
/// pauses with that reason; otherwise the next recipients are handed to the sender, enough to
/// keep [`LOOKAHEAD_SECS`] of its rate queued; a running one with nothing left completes. A
/// campaign of grouped direct sends only completes ([`complete_grouped`]).
/// Returns what the feed did (`None` when it fed nothing).
pub async fn feed(core: &Core, c: &Campaign, next_due: &mut i64) -> CoreResult<Option<Fed>> {
    let now = core.now();
    if c.group_key.is_some() {
        complete_grouped(core, c, now).await?;
        return Ok(None);
    }
    let mut c = c.clone();
    if c.status == campaign_status::SCHEDULED {
        if c.uploading {
            return Ok(None); // it begins when the upload ends
        }
        c = core
            .store
            .transition_campaign(&c.tenant_id, &c.id, CampaignAction::Begin, now)
            .await?
            .campaign;
    }
    let Some(channel) = core.stored_channel(&c.channel_id).await? else {
        return Ok(None);
    };
    if let Some(reason) = &channel.pause_reason {
        pause_by_gateway(
            core,
            &c,
            json!({"code": "channel_paused", "message": "Meta rejected the channel's credentials", "error": reason}),
        )
        .await?;
        return Ok(None);
    }
    let spec = Spec::from_stored(&c.template_name, &c.language, &c.spec)?;
    let def = match approved(core, &channel, &spec).await {
        Ok((_, def)) => def,
        Err(CoreError::TemplateRefused(e)) => {
            pause_by_gateway(core, &c, template_reason(&e)).await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let rate = u64::from(c.rate_limit.unwrap_or(channel.throughput_mps).max(1));
    let queued = core.store.campaign_queued(&c.id).await?;
    let want = (rate * LOOKAHEAD_SECS).max(LOOKAHEAD_MIN);
    if queued >= want {
        return Ok(None);
    }
    // At most FEED_MAX a transaction; the runner comes back within a tick for the rest.
    let pending = core
        .store
        .pending_recipients(&c.id, (want - queued).min(FEED_MAX) as u32)
        .await?;
    if pending.is_empty() {
        if queued == 0 {
            core.store
                .transition_campaign(&c.tenant_id, &c.id, CampaignAction::Complete, now)
                .await?;
        }
        return Ok(None);
    }
    // The campaign's own pace, when it is under the channel's (the channel's pacing does the
    // rest): each send due one period after the one before.
    let own_pace = c.rate_limit.is_some_and(|r| r < channel.throughput_mps);
    let period = 1_000.0 / rate as f64;
    let mut due = (*next_due as f64).max(now as f64);
    let mut items = Vec::with_capacity(pending.len());
    for r in &pending {
        let due_at = own_pace.then_some(due as i64);
        due += period;
        items.push(item(core, &c, &channel, &spec, &def, r, due_at).await?);
    }
    if own_pace {
        *next_due = due as i64;
    }
    let fed = core.store.feed_campaign(&c.id, items, now).await?;
    if fed.queued > 0 {
        core.wake_sender(&channel.id);
    }
    Ok(Some(fed))
}

/// A campaign of grouped direct sends is never fed (its recipients are born queued with their
/// messages): it completes once none of its messages is queued at the sender any more (the
/// store checks again under the campaign's lock, so a send that joined since is not missed);
/// a later send with its key makes it run again.
async fn complete_grouped(core: &Core, c: &Campaign, now: i64) -> CoreResult<()> {
    if c.status == campaign_status::RUNNING && core.store.campaign_queued(&c.id).await? == 0 {
        core.store
            .transition_campaign(&c.tenant_id, &c.id, CampaignAction::Complete, now)
            .await?;
    }
    Ok(())
}

/// Meta refused a send because its template is paused or disabled (132015, 132016): the
/// campaign the message belongs to, if it runs, pauses at once with Meta's error as its
/// reason, and the gateway forgets what it cached of templates (the stored one is read again,
/// from Meta when it is no longer sendable).
pub async fn on_template_refused(
    core: Core,
    tenant_id: String,
    message_id: String,
    error: openbsp_wire::MetaError,
) {
    core.invalidate();
    let campaign = match core.store.get_message(&tenant_id, &message_id).await {
        Ok(Some(m)) => m.campaign_id,
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(message.id = %message_id, error = %e, "cannot read a refused send's message");
            None
        }
    };
    let Some(campaign) = campaign else { return };
    match core.store.get_campaign(&tenant_id, &campaign).await {
        // A campaign of grouped sends is not paused: each of its sends is checked on its own.
        Ok(Some(c)) if c.status == campaign_status::RUNNING && c.group_key.is_none() => {
            if let Err(e) = pause_by_gateway(&core, &c, template_reason(&error)).await {
                tracing::warn!(campaign.id = %c.id, error = %e, "could not pause a campaign whose template Meta refused");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(campaign.id = %campaign, error = %e, "cannot read a refused send's campaign")
        }
    }
}

/// The pause reason of a campaign whose template Meta paused (132015), disabled (132016) or
/// no longer has (132001).
fn template_reason(e: &openbsp_wire::MetaError) -> Value {
    use openbsp_wire::error::codes;
    let code = match e.code {
        codes::TEMPLATE_PAUSED => "template_paused",
        codes::TEMPLATE_DISABLED => "template_disabled",
        _ => "template_unavailable",
    };
    json!({"code": code, "meta_code": e.code, "message": e.message})
}

/// Pauses a campaign for `reason`, as the gateway decided (its event says why).
async fn pause_by_gateway(core: &Core, c: &Campaign, reason: Value) -> CoreResult<()> {
    tracing::info!(campaign.id = %c.id, reason = %reason, "campaign paused by the gateway");
    core.store
        .transition_campaign(
            &c.tenant_id,
            &c.id,
            CampaignAction::Pause {
                reason: Some(reason),
            },
            core.now(),
        )
        .await?;
    Ok(())
}

/// A recipient's send, as [`messages::send`] would store it, at the bulk priority; or its
/// failure, when Meta's rules refuse it (a failure of the gateway's own is an error: the
/// recipient stays pending).
async fn item(
    core: &Core,
    c: &Campaign,
    channel: &Channel,
    spec: &Spec,
    def: &Definition,
    r: &CampaignRecipient,
    due_at: Option<i64>,
) -> CoreResult<FeedItem> {
    let fail = |reason: Value| Ok(FeedItem::Fail { seq: r.seq, reason });
    let variables = r.variables.as_object().cloned().unwrap_or_default();
    let object = match spec.fill(def, &variables) {
        Ok((object, _)) => object,
        Err(e) => {
            return fail(
                json!({"code": e.rule, "meta_code": e.code, "field": e.field,
                               "message": e.message}),
            );
        }
    };
    let to = if r.recipient.contains('.') {
        json!({"recipient": r.recipient})
    } else {
        json!({"to": r.recipient})
    };
    let mut body = to;
    body["type"] = json!("template");
    body["template"] = object;
    let req = match SendRequest::parse(&body, Surface::Native) {
        Ok(req) => req,
        Err(e) => {
            return fail(json!({"code": "invalid", "meta_code": e.code, "message": e.message}));
        }
    };
    let raw = c.id.as_bytes();
    let mut input = SendInput::new(&c.tenant_id, channel, &req, raw, None);
    input.opened_by = OPENED_BY;
    let id = new_id_at(prefix::MESSAGE, core.now());
    match messages::prepare(core, id, &input).await {
        Ok((mut new, check)) => {
            new.priority = priority::BULK;
            new.message.campaign_id = Some(c.id.clone());
            new.due_at = due_at;
            Ok(FeedItem::Send {
                seq: r.seq,
                new: Box::new(new),
                check,
            })
        }
        Err(CoreError::Refused(e) | CoreError::TemplateRefused(e)) => {
            fail(json!({"code": "refused", "meta_code": e.code, "message": e.message}))
        }
        Err(CoreError::TemplateRule(e)) => fail(json!({"code": e.rule, "meta_code": e.code,
                                                        "field": e.field, "message": e.message})),
        Err(e) => Err(e),
    }
}
