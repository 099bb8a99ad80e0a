//! Messages: accepting an outbound message (validated request in, durably queued message out,
//! the send policy applied in the enqueue's own transaction), waiting for Meta's answer to it,
//! marking inbound messages read, and reading messages back.

use std::time::Duration;

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::refs::MessageRef;
use openbsp_domain::windows::{self, Refusal, SendKind};
use openbsp_store::policy::SendCheck;
use openbsp_store::{
    Channel, ContactKey, ContactProfile, EnqueueOutcome, Message, MessageFilter, NewOutbound, Page,
    SessionSpec, StatusEntry,
};
use openbsp_wire::error::codes;
use openbsp_wire::{MessageBody, MetaError, Recipient, SendRequest};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::templates::TemplateUse;
use super::{Core, CoreError, CoreResult, SendOutcome};

/// Priority of a send in its channel's queue (lower first): replies in a session, then
/// one-to-one sends, then campaign traffic. A one-to-one send is asked for as `DIRECT`; the
/// store's send policy makes it a `REPLY` when the user's window is open.
pub use openbsp_store::priority;

/// Who opened a session a send opens.
pub mod opened_by {
    /// A business send when no session was open.
    pub const MESSAGE: &str = "message";
    /// Session Start.
    pub const SESSION_START: &str = "session_start";
}

/// One send to accept.
#[derive(Debug, Clone)]
pub struct SendInput<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The channel it goes out on.
    pub channel: &'a Channel,
    /// The validated request.
    pub req: &'a SendRequest,
    /// The request body as received (its hash tells a retry from a reuse of the key).
    pub raw_body: &'a [u8],
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// What a session this send opens says opened it ([`opened_by`]).
    pub opened_by: &'static str,
    /// What a Session Start says of its contact (named and linked in the same transaction).
    pub profile: Option<ContactProfile>,
    /// The client's key grouping this send with others as one campaign (Pingtochat's
    /// `bulk_id`): only a template send is grouped (see [`grouped`]).
    pub campaign: Option<String>,
    /// A surface's own callback data, kept on the message in place of the request's
    /// `biz_opaque_callback_data` and echoed in its status events (Connectly's `callbackData`,
    /// up to [`MAX_CALLBACK_DATA_BYTES`]). Meta is never given it: Meta gets the gateway's id.
    pub callback_data: Option<String>,
}

/// The most callback data a surface may keep on a message (Connectly's limit).
pub const MAX_CALLBACK_DATA_BYTES: usize = 1024;

impl<'a> SendInput<'a> {
    /// A plain send (`opened_by` = message, no contact profile).
    pub fn new(
        tenant_id: &'a str,
        channel: &'a Channel,
        req: &'a SendRequest,
        raw_body: &'a [u8],
        idempotency_key: Option<String>,
    ) -> SendInput<'a> {
        SendInput {
            tenant_id,
            channel,
            req,
            raw_body,
            idempotency_key,
            opened_by: opened_by::MESSAGE,
            profile: None,
            campaign: None,
            callback_data: None,
        }
    }
}

/// A send the store holds.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The message, as stored.
    pub message: Message,
    /// Whether this call stored it (false: a retry under the same `Idempotency-Key`, answered
    /// with the first message).
    pub created: bool,
    /// Whether this call's enqueue opened the message's session (decided in its transaction).
    pub opened_session: bool,
}

/// What became of a send whose caller waited for Meta.
#[derive(Debug, Clone)]
pub enum Awaited {
    /// Meta accepted it.
    Sent {
        /// The gateway's id of the message.
        id: String,
        /// Meta's id of it.
        wamid: String,
        /// Meta's `message_status` when it gave one (`held_for_quality_assessment`).
        message_status: Option<String>,
    },
    /// Still queued when the wait ran out (pacing, retries): the message as accepted.
    Queued(Message),
    /// A retry under the same `Idempotency-Key`: the first message as it is now.
    Replayed(Message),
}

/// Meta's `wamid` for a message reference: a gateway id is looked up (within the tenant), a
/// `wamid` is passed through.
async fn resolve_wamid(
    core: &Core,
    tenant_id: &str,
    reference: &str,
    field: &str,
) -> CoreResult<String> {
    let names_nothing = || {
        CoreError::Refused(MetaError::invalid_value(format!(
            "Param {field} names no message: {reference}"
        )))
    };
    match MessageRef::parse(reference).map_err(|_| names_nothing())? {
        MessageRef::Wamid(w) => Ok(w),
        MessageRef::Id(id) => core
            .store
            .get_message(tenant_id, &id)
            .await?
            .ok_or_else(names_nothing)?
            .wamid
            .ok_or_else(|| CoreError::NotSent(reference.to_string())),
    }
}

/// Accepts a send: resolves its references, checks a template against its stored
/// definition, and queues it with its outbox row in one durable transaction in which the
/// store applies the send policy (windows, opt-out) to the conversation as it stands.
pub async fn send(core: &Core, input: SendInput<'_>) -> CoreResult<Accepted> {
    let id = new_id_at(prefix::MESSAGE, core.now());
    send_with_id(core, id, input).await
}

/// [`send`] under a chosen message id (so a waiter can be registered first).
async fn send_with_id(core: &Core, id: String, input: SendInput<'_>) -> CoreResult<Accepted> {
    let now = core.now();
    if let Some(key) = &input.campaign {
        check_group(key, &input)?;
    }
    let (check, template) = if is_replay(
        core,
        input.tenant_id,
        &input.req.body,
        input.idempotency_key.as_deref(),
    )
    .await?
    {
        // Answered by the store with the first message, before any check.
        (replay_check(input.opened_by), None)
    } else {
        send_check(core, input.channel, &input.req.body, input.opened_by).await?
    };
    let mut new = outbound(core, id, &input, now).await?;
    // A grouped send joins (or starts) its campaign in the enqueue's own transaction; a replay
    // (no template checked) is answered by the store with the first message, as any replay.
    let group = match (&input.campaign, &template) {
        (Some(key), Some(used)) => Some(grouped(&input, key, used, now)),
        _ => None,
    };
    with_template(&mut new, template);
    let outcome = match group {
        Some(group) => core
            .store
            .enqueue_grouped(&group, new, &check, now)
            .await
            .map_err(group_error)?,
        None => core.store.enqueue_checked(new, &check).await?,
    }
    .map_err(|r| CoreError::Refused(refusal_error(r)))?;
    match outcome {
        EnqueueOutcome::Created {
            message,
            opened_session,
        } => {
            metrics::counter!("openbsp_messages_accepted_total").increment(1);
            core.wake_sender(&message.channel_id);
            Ok(Accepted {
                message,
                created: true,
                opened_session,
            })
        }
        EnqueueOutcome::Existing(message) => Ok(Accepted {
            message,
            created: false,
            opened_session: false,
        }),
        EnqueueOutcome::KeyReused(first) => Err(CoreError::KeyReused { first: first.id }),
    }
}

/// What a send is stored as, and the check the send policy applies to it, as [`send`]
/// prepares them (the template checked against its stored definition and rendered, references
/// resolved): for a worker that queues sends of its own (the campaign runner).
pub async fn prepare(
    core: &Core,
    id: String,
    input: &SendInput<'_>,
) -> CoreResult<(NewOutbound, SendCheck)> {
    let now = core.now();
    let (check, template) =
        send_check(core, input.channel, &input.req.body, input.opened_by).await?;
    let mut new = outbound(core, id, input, now).await?;
    with_template(&mut new, template);
    Ok((new, check))
}

/// [`send`], then waits (at most `wait`) for Meta's answer, as a Cloud API caller expects:
/// Meta's `wamid`, Meta's refusal ([`CoreError::Refused`]), or the queued message when the
/// wait runs out.
pub async fn send_awaiting(
    core: &Core,
    input: SendInput<'_>,
    wait: Duration,
) -> CoreResult<Awaited> {
    let id = new_id_at(prefix::MESSAGE, core.now());
    let (tx, rx) = oneshot::channel();
    core.waiters.lock().insert(id.clone(), tx);
    let accepted = match send_with_id(core, id.clone(), input).await {
        Ok(a) if a.created => a.message,
        Ok(a) => {
            core.waiters.lock().remove(&id);
            return Ok(Awaited::Replayed(a.message));
        }
        Err(e) => {
            core.waiters.lock().remove(&id);
            return Err(e);
        }
    };
    match await_outcome(core, &accepted, rx, wait).await {
        Some(SendOutcome::Accepted {
            wamid,
            message_status,
        }) => Ok(Awaited::Sent {
            id: accepted.id,
            wamid,
            message_status,
        }),
        Some(SendOutcome::Failed(err)) => Err(CoreError::Refused(
            serde_json::from_value::<MetaError>(err)
                .unwrap_or_else(|_| MetaError::new(codes::SEND_FAILURE, None)),
        )),
        None => {
            core.waiters.lock().remove(&accepted.id);
            Ok(Awaited::Queued(accepted))
        }
    }
}

/// How often a waiting caller also looks at the message itself, should the word of its
/// outcome be lost (a notice from another replica dropped with its connection).
const OUTCOME_POLL: Duration = Duration::from_millis(250);

/// Meta's answer to `message`: told here (by this replica's sender, or another's notice), or
/// read from the store; `None` if it has none within `wait`.
async fn await_outcome(
    core: &Core,
    message: &Message,
    rx: oneshot::Receiver<SendOutcome>,
    wait: Duration,
) -> Option<SendOutcome> {
    let deadline = tokio::time::Instant::now() + wait;
    tokio::pin!(rx);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        tokio::select! {
            told = &mut rx => return told.ok(),
            _ = tokio::time::sleep(left.min(OUTCOME_POLL)) => {}
        }
        if let Ok(Some(m)) = core
            .store
            .get_message(&message.tenant_id, &message.id)
            .await
        {
            if let Some(wamid) = m.wamid {
                return Some(SendOutcome::Accepted {
                    wamid,
                    message_status: None,
                });
            }
            if m.status == openbsp_domain::MessageStatus::Failed {
                return Some(SendOutcome::Failed(m.error.unwrap_or_default()));
            }
        }
    }
}

/// Whether a template send replays an earlier one under the same `Idempotency-Key`: the
/// store answers a replay with the first message before any check, so a template paused or
/// deleted since does not change the answer to a retry.
async fn is_replay(
    core: &Core,
    tenant_id: &str,
    body: &MessageBody,
    key: Option<&str>,
) -> CoreResult<bool> {
    match (body, key) {
        (MessageBody::Template(_), Some(k)) => Ok(core
            .store
            .find_message_by_idempotency_key(tenant_id, k)
            .await?
            .is_some()),
        _ => Ok(false),
    }
}

/// The messaging limit a business-initiated send on `channel` counts against: its
/// portfolio's, unless unlimited (while the tier is not known the send is counted, so the limit
/// holds from the moment Meta names it).
fn reach_of(channel: &Channel) -> Option<openbsp_store::policy::Reach> {
    use openbsp_domain::limits::{Counting, counting};
    let limit = match counting(channel.messaging_tier.as_deref()) {
        Counting::Unlimited => return None,
        Counting::Unknown => None,
        Counting::Limit(n) => Some(n),
    };
    Some(openbsp_store::policy::Reach {
        portfolio: channel.portfolio().to_string(),
        limit,
    })
}

/// The check of a replay (never applied: the store answers a replay first).
fn replay_check(opened_by: &str) -> SendCheck {
    SendCheck {
        kind: SendKind::Template { marketing: false },
        session_kind: None,
        opened_by: opened_by.to_string(),
        reach: None,
    }
}

/// The message keeps the template it uses and the text the contact sees.
fn with_template(new: &mut NewOutbound, template: Option<TemplateUse>) {
    if let Some(t) = template {
        new.message.template_id = Some(t.template_id);
        new.message.rendered_text = t.rendered.map(|r| r.text);
    }
}

/// The store's row for a send: its references resolved (a gateway id in a reply context or
/// a reaction becomes Meta's wamid), the Graph body the sender will post, and a placeholder
/// session the policy replaces.
async fn outbound(core: &Core, id: String, a: &SendInput<'_>, now: i64) -> CoreResult<NewOutbound> {
    if let Some(c) = &a.callback_data
        && c.len() > MAX_CALLBACK_DATA_BYTES
    {
        return Err(CoreError::invalid_field(
            "callbackData",
            format!(
                "callback data is at most {MAX_CALLBACK_DATA_BYTES} bytes; got {}",
                c.len()
            ),
        ));
    }
    let (tenant_id, req) = (a.tenant_id, a.req);
    let context_wamid = match &req.context_message_id {
        None => None,
        Some(ctx) => Some(resolve_wamid(core, tenant_id, ctx, "context['message_id']").await?),
    };
    let resolved;
    let req = match &req.body {
        MessageBody::Reaction { message_id, emoji }
            if !matches!(MessageRef::parse(message_id), Ok(MessageRef::Wamid(_))) =>
        {
            let mut r = req.clone();
            r.body = MessageBody::Reaction {
                message_id: resolve_wamid(core, tenant_id, message_id, "reaction['message_id']")
                    .await?,
                emoji: emoji.clone(),
            };
            resolved = r;
            &resolved
        }
        _ => req,
    };
    let payload = req.to_graph_body(context_wamid.as_deref(), Some(&id));
    super::media::check_send(core, tenant_id, &payload).await?;
    let message = Message {
        id,
        tenant_id: tenant_id.to_string(),
        channel_id: a.channel.id.clone(),
        contact_id: None,
        direction: openbsp_store::Direction::Outbound,
        recipient: req.recipient.as_str().to_string(),
        msg_type: req.body.type_name().to_string(),
        content: req.content_json(),
        wamid: None,
        status: MessageStatus::Queued,
        error: None,
        biz_opaque_callback_data: a
            .callback_data
            .clone()
            .or_else(|| req.biz_opaque_callback_data.clone()),
        context_message_id: req.context_message_id.clone(),
        session_id: None,
        template_id: None,
        rendered_text: None,
        campaign_id: None,
        idempotency_key: a.idempotency_key.clone(),
        created_at: now,
        updated_at: now,
    };
    Ok(NewOutbound {
        message,
        request_hash: hex::encode(Sha256::digest(a.raw_body)),
        contact: contact_key(&req.recipient),
        payload,
        priority: priority::DIRECT,
        session: SessionSpec {
            kind: None,
            opened_by: a.opened_by.into(),
            expires_at: now + windows::CSW_MS,
        },
        open_fep_until: None,
        profile: a.profile.clone(),
        reach_wait: None,
        due_at: None,
    })
}

/// The store's key for a recipient.
pub fn contact_key(r: &Recipient) -> ContactKey {
    match r {
        Recipient::WaId(w) => ContactKey::WaId(w.clone()),
        Recipient::UserId(u) => ContactKey::UserId(u.clone()),
    }
}

/// Meta's refusal for a policy refusal.
pub fn refusal_error(r: Refusal) -> MetaError {
    match r {
        Refusal::WindowClosed { closed_at } => {
            let when = match closed_at {
                Some(t) => format!(
                    "the customer service window closed at {}",
                    openbsp_domain::clock::rfc3339(t)
                ),
                None => "the user has never written to this number".to_string(),
            };
            MetaError::new(
                codes::REENGAGEMENT,
                Some(format!(
                    "Message failed to send because more than 24 hours have passed since the customer last replied to this number ({when}). Send a template message instead."
                )),
            )
        }
        Refusal::MessagingLimit { limit, until } => MetaError::new(
            codes::SPAM_RATE_LIMIT,
            Some(format!(
                "The business portfolio has reached its messaging limit: {limit} unique users outside their customer service window in 24 hours. This user was not reached in the last 24 hours; the next place frees at {}.",
                openbsp_domain::clock::rfc3339(until)
            )),
        ),
        Refusal::OptedOut { since } => MetaError::new(
            codes::MARKETING_OPT_OUT,
            Some(format!(
                "The recipient opted out of marketing messages from this business at {}; marketing templates are not delivered to them.",
                openbsp_domain::clock::rfc3339(since)
            )),
        ),
    }
}

/// What the policy needs to know of a send: free-form or template (marketing when the
/// template is), and the kind of a session it would open; for a template, the template
/// checked against its stored definition (before Meta is called) and rendered.
async fn send_check(
    core: &Core,
    channel: &Channel,
    body: &MessageBody,
    opened_by: &str,
) -> CoreResult<(SendCheck, Option<TemplateUse>)> {
    let (kind, session_kind, template) = match body {
        MessageBody::Template(t) => {
            let used = super::templates::check_send(core, channel, t).await?;
            let marketing = used.category.as_deref() == Some("marketing");
            (
                SendKind::Template { marketing },
                used.category.clone(),
                Some(used),
            )
        }
        _ => (SendKind::FreeForm, Some("service".to_string()), None),
    };
    Ok((
        SendCheck {
            kind,
            session_kind,
            opened_by: opened_by.to_string(),
            reach: reach_of(channel),
        },
        template,
    ))
}

/// Marks an inbound message read (and shows the typing indicator when asked), through the
/// channel's Graph API at once: nothing to queue, Meta answers `{"success": true}`. The message
/// is named by `wamid` or by gateway id; a gateway id must be the tenant's inbound message on
/// this channel.
pub async fn mark_read(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    receipt: &openbsp_wire::send::ReadReceipt,
) -> CoreResult<()> {
    let names_nothing = || {
        CoreError::Refused(MetaError::invalid_value(format!(
            "Param message_id names no message received on this number: {}",
            receipt.message_id
        )))
    };
    let wamid = match MessageRef::parse(&receipt.message_id).map_err(|_| names_nothing())? {
        MessageRef::Wamid(w) => w,
        MessageRef::Id(id) => core
            .store
            .get_message(tenant_id, &id)
            .await?
            .filter(|m| {
                m.channel_id == channel.id && m.direction == openbsp_store::Direction::Inbound
            })
            .ok_or_else(names_nothing)?
            .wamid
            .ok_or_else(|| CoreError::NotSent(receipt.message_id.clone()))?,
    };
    let mut payload = serde_json::json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    });
    if receipt.typing_indicator {
        payload["typing_indicator"] = serde_json::json!({"type": "text"});
    }
    let token = core.access_token(channel)?;
    core.graph
        .mark_read(channel, &token, &payload)
        .await
        .map_err(CoreError::Refused)?;
    metrics::counter!("openbsp_marked_read_total", "typing" => if receipt.typing_indicator { "yes" } else { "no" }).increment(1);
    Ok(())
}

/// A tenant's message by gateway id or `wamid`, with its status history in the order a
/// message travels (Meta's timestamps have whole seconds).
pub async fn get(
    core: &Core,
    tenant_id: &str,
    r: &MessageRef,
) -> CoreResult<(Message, Vec<StatusEntry>)> {
    let m = core
        .store
        .get_message(tenant_id, r.as_str())
        .await?
        .ok_or_else(|| CoreError::not_found("message", r.as_str()))?;
    let mut history = core.store.message_history(&m.id).await?;
    history.sort_by_key(|e| (e.status.rank(), e.at));
    Ok((m, history))
}

/// A tenant's messages, newest first.
pub async fn list(
    core: &Core,
    tenant_id: &str,
    filter: &MessageFilter,
    page: &Page,
) -> CoreResult<Vec<Message>> {
    Ok(core.store.list_messages(tenant_id, filter, page).await?)
}

/// Longest key grouping direct sends (a campaign's name).
pub const GROUP_KEY_MAX: usize = 256;

/// Whether a send may be grouped under `key` (DESIGN §2.8, grouped sends): a template send
/// (a campaign is one template sent to many), a key of 1 to [`GROUP_KEY_MAX`] characters, and
/// not a Session Start (its contact is named in its own transaction).
fn check_group(key: &str, input: &SendInput<'_>) -> CoreResult<()> {
    if !matches!(input.req.body, openbsp_wire::MessageBody::Template(_)) {
        return Err(CoreError::invalid_field(
            "campaign",
            format!(
                "Only template messages are grouped as a campaign; this {} message names the campaign key {key:?}. Send it without the key.",
                input.req.body.type_name()
            ),
        ));
    }
    if key.trim().is_empty() || key.chars().count() > GROUP_KEY_MAX {
        return Err(CoreError::invalid_field(
            "campaign",
            format!("A campaign key is 1 to {GROUP_KEY_MAX} characters."),
        ));
    }
    if input.profile.is_some() {
        return Err(CoreError::invalid_field(
            "campaign",
            "A Session Start is not grouped as a campaign.",
        ));
    }
    Ok(())
}

/// The campaign a grouped send starts when its key names none yet on its channel: named by
/// the key, with the send's template, running from `now`, never fed by the runner (its
/// recipients are the grouped sends, each queued with its message).
fn grouped(
    input: &SendInput<'_>,
    key: &str,
    used: &TemplateUse,
    now: i64,
) -> openbsp_store::Campaign {
    let (name, language) = match &input.req.body {
        openbsp_wire::MessageBody::Template(t) => (
            t["name"].as_str().unwrap_or_default().to_string(),
            t["language"]["code"]
                .as_str()
                .or_else(|| t["language"].as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        _ => Default::default(),
    };
    openbsp_store::Campaign {
        id: new_id_at(prefix::CAMPAIGN, now),
        tenant_id: input.tenant_id.to_string(),
        channel_id: input.channel.id.clone(),
        name: key.to_string(),
        template_id: used.template_id.clone(),
        template_name: name,
        language,
        category: used.category.clone(),
        spec: serde_json::json!({"grouped": true}),
        columns: Vec::new(),
        status: openbsp_store::campaign_status::RUNNING.to_string(),
        pause_reason: None,
        start_at: None,
        rate_limit: None,
        created_at: now,
        updated_at: now,
        started_at: Some(now),
        completed_at: None,
        uploading: false,
        group_key: Some(key.to_string()),
    }
}

/// The store's refusal of a grouped send: its campaign paused or cancelled (`campaign_state`).
fn group_error(e: openbsp_store::StoreError) -> CoreError {
    match e {
        openbsp_store::StoreError::Conflict(m) => {
            CoreError::conflict("campaign_state", m.trim_start_matches("campaign.status: "))
        }
        other => other.into(),
    }
}
