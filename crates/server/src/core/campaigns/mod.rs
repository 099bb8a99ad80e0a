//! Campaigns (DESIGN §2.8): one approved template sent to many recipients, each with variables
//! of their own. Created against the stored template, filled by streamed uploads whose every
//! row is checked as its send will be, started, paused, resumed and cancelled through the
//! store's state machine, and run by [`feed`], which the campaign runner calls on the leader:
//! it hands the next recipients to the sender at the bulk priority, each at most once (the
//! store's feed is the guarantee).

pub mod rows;
pub mod spec;

use std::io::Read;

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::campaign::{accepts_recipients, closed_to_recipients};
use openbsp_store::{
    Campaign, CampaignAction, CampaignCounts, CampaignCreated, CampaignFilter, CampaignRecipient,
    Channel, Fed, FeedItem, IdempotencyKey, NewRecipient, RecipientFilter, SendResult,
    campaign_status,
};
use openbsp_wire::SendRequest;
use openbsp_wire::ids::{Bsuid, LanguageCode, TemplateName, WaId};
use openbsp_wire::send::{ParseContext, Surface};
use openbsp_wire::template::{Definition, status_error};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::messages::{self, SendInput, priority};
use super::templates;
use super::{Core, CoreError, CoreResult};
use rows::{Format, KeyKind, Line};
use spec::Spec;

/// The first refused rows an upload reports.
pub const MAX_REPORTED_ERRORS: usize = 100;
/// Rows stored per transaction of an upload.
const STORE_BATCH: usize = 10_000;
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

/// A new campaign, as a surface parsed it.
#[derive(Debug, Clone)]
pub struct CampaignInput {
    /// The business's name for it.
    pub name: String,
    /// The channel: phone number id or channel id.
    pub channel: String,
    /// The template part (see [`Spec::parse`]).
    pub template: Value,
    /// When it starts, if not when started (ms).
    pub start_at: Option<i64>,
    /// Its own rate, under the channel's (msg/s).
    pub rate_limit: Option<u32>,
}

/// Creates a campaign in `draft`: its channel the tenant's, its template stored, approved and
/// filled by its placeholders (a placeholder too many or too few is Meta's 132000). Under an
/// idempotency key already used, the first campaign (`false`: not created by this call), or
/// [`CoreError::KeyReused`] when the key came with another request.
pub async fn create(
    core: &Core,
    tenant_id: &str,
    input: CampaignInput,
    key: Option<IdempotencyKey>,
) -> CoreResult<(Campaign, bool)> {
    if let Some(k) = &key
        && let Some(found) = replay(core, tenant_id, k).await?
    {
        return Ok((found, false));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(CoreError::invalid_field(
            "name",
            "name is required: 1 to 256 characters",
        ));
    }
    let channel = core.require_channel(tenant_id, &input.channel).await?;
    let spec = Spec::parse(&input.template)?;
    if let Some(rate) = input.rate_limit
        && (rate == 0 || rate > channel.throughput_mps)
    {
        return Err(CoreError::invalid_field(
            "rate_limit",
            format!(
                "rate_limit must be between 1 and the channel's throughput ({} msg/s)",
                channel.throughput_mps
            ),
        ));
    }
    let (template, def) = approved(core, &channel, &spec).await?;
    let columns = spec.columns();
    // The placeholders must fill the template's parameters: checked with a sample row (the
    // values' formats are checked row by row at upload).
    let sample: Map<String, Value> = columns
        .iter()
        .map(|c| (c.clone(), json!("sample")))
        .collect();
    if let Err(e) = spec.fill(&def, &sample)
        && e.code == openbsp_wire::error::codes::TEMPLATE_PARAM_COUNT
    {
        return Err(CoreError::TemplateRule(e));
    }
    let now = core.now();
    let c = Campaign {
        id: new_id_at(prefix::CAMPAIGN, now),
        tenant_id: tenant_id.to_string(),
        channel_id: channel.id.clone(),
        name: name.to_string(),
        template_id: template.id.clone(),
        template_name: template.name.clone(),
        language: template.language.clone(),
        category: template.category.as_ref().map(|c| c.to_ascii_lowercase()),
        spec: spec.to_value(),
        columns,
        status: campaign_status::DRAFT.to_string(),
        pause_reason: None,
        start_at: input.start_at,
        rate_limit: input.rate_limit,
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
    };
    match core.store.create_campaign(&c, key.as_ref()).await? {
        CampaignCreated::Created(c) => Ok((c, true)),
        CampaignCreated::Existing(c) => Ok((c, false)),
        CampaignCreated::KeyReused(first) => Err(CoreError::KeyReused { first: first.id }),
    }
}

/// A creation retried under its idempotency key: the first answer stands (even when the
/// template has changed since), without any check.
async fn replay(
    core: &Core,
    tenant_id: &str,
    key: &IdempotencyKey,
) -> CoreResult<Option<Campaign>> {
    match core.store.find_campaign_by_key(tenant_id, &key.key).await? {
        Some((first, hash)) if hash.as_deref() == Some(key.request_hash.as_str()) => {
            Ok(Some(first))
        }
        Some((first, _)) => Err(CoreError::KeyReused { first: first.id }),
        None => Ok(None),
    }
}

/// The stored template a spec names, approved, and its definition.
async fn approved(
    core: &Core,
    channel: &Channel,
    spec: &Spec,
) -> CoreResult<(std::sync::Arc<openbsp_store::Template>, Definition)> {
    let (Ok(name), Ok(language)) = (
        TemplateName::parse(&spec.name),
        LanguageCode::parse(&spec.language),
    ) else {
        return Err(templates::no_such_name(&spec.name));
    };
    let t = templates::find_for_send(core, channel, &name, &language)
        .await?
        .ok_or_else(|| templates::no_such_name(&format!("{} ({})", spec.name, spec.language)))?;
    if let Some(e) = status_error(&t.status, &t.name, &t.language) {
        return Err(CoreError::TemplateRefused(e));
    }
    let def = templates::definition(&t)?;
    Ok((t, def))
}

/// A tenant's campaign.
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Campaign> {
    core.store
        .get_campaign(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("campaign", id))
}

/// A campaign's progress: its counts, the rate it goes at and when it should end.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Its counts.
    pub counts: CampaignCounts,
    /// The rate it is sent at while running (msg/s): the campaign's, else its channel's.
    pub rate: u32,
    /// Seconds until its last pending recipient is sent, at that rate (while running).
    pub eta_seconds: Option<u64>,
}

/// A campaign's progress.
pub async fn progress(core: &Core, c: &Campaign) -> CoreResult<Progress> {
    let counts = core.store.campaign_counts(&c.id).await?;
    let throughput = core
        .stored_channel(&c.channel_id)
        .await?
        .map_or(80, |ch| ch.throughput_mps);
    let rate = c.rate_limit.unwrap_or(throughput).min(throughput).max(1);
    let eta_seconds =
        (c.status == campaign_status::RUNNING).then(|| counts.pending.div_ceil(u64::from(rate)));
    Ok(Progress {
        counts,
        rate,
        eta_seconds,
    })
}

/// A tenant's campaigns, newest first.
pub async fn list(core: &Core, filter: &CampaignFilter) -> CoreResult<Vec<Campaign>> {
    if let Some(s) = &filter.status
        && !campaign_status::ALL.contains(&s.as_str())
    {
        return Err(CoreError::invalid_field(
            "status",
            format!("status must be one of {}", campaign_status::ALL.join(", ")),
        ));
    }
    Ok(core.store.list_campaigns(filter).await?)
}

/// The statuses a recipient list filters by.
pub const RECIPIENT_STATUSES: &[&str] = &[
    "pending",
    "sent",
    "delivered",
    "read",
    "replied",
    "failed",
    "skipped",
];

/// A tenant's campaign's recipients, in upload order.
pub async fn recipients(
    core: &Core,
    tenant_id: &str,
    id: &str,
    filter: &RecipientFilter,
) -> CoreResult<Vec<CampaignRecipient>> {
    if let Some(s) = &filter.status
        && !RECIPIENT_STATUSES.contains(&s.as_str())
    {
        return Err(CoreError::invalid_field(
            "status",
            format!("status must be one of {}", RECIPIENT_STATUSES.join(", ")),
        ));
    }
    let c = get(core, tenant_id, id).await?;
    Ok(core.store.list_recipients(&c.id, filter).await?)
}

/// Deletes a draft campaign.
pub async fn delete(core: &Core, tenant_id: &str, id: &str) -> CoreResult<()> {
    if core.store.delete_campaign(tenant_id, id).await? {
        Ok(())
    } else {
        Err(CoreError::not_found("campaign", id))
    }
}

/// Starts, pauses, resumes or cancels a campaign. A cancel fails the sends it held (queued,
/// not yet claimed: they never reach Meta).
pub async fn act(
    core: &Core,
    tenant_id: &str,
    id: &str,
    action: CampaignAction,
) -> CoreResult<Campaign> {
    let cancel = action == CampaignAction::Cancel;
    let done = core
        .store
        .transition_campaign(tenant_id, id, action, core.now())
        .await
        .map_err(|e| match e {
            openbsp_store::StoreError::NotFound(_) => CoreError::not_found("campaign", id),
            openbsp_store::StoreError::Conflict(m) => {
                CoreError::conflict("campaign_state", m.trim_start_matches("campaign.status: "))
            }
            other => other.into(),
        })?;
    if cancel {
        fail_cancelled(core, &done.held).await?;
    }
    core.campaign_wake.notify_one();
    Ok(done.campaign)
}

/// Puts the recipients whose send failed with one of `codes` back to be sent again (a
/// completed campaign runs again); how many. Nothing is retried that was not asked for.
pub async fn retry(
    core: &Core,
    tenant_id: &str,
    id: &str,
    codes: Vec<String>,
) -> CoreResult<(Campaign, u64)> {
    if codes.is_empty() || codes.iter().any(|c| c.trim().is_empty()) {
        return Err(CoreError::invalid_field(
            "codes",
            "codes is required: the failure codes to retry, e.g. [\"131026\"]",
        ));
    }
    let (c, n) = core
        .store
        .retry_recipients(tenant_id, id, &codes, core.now())
        .await
        .map_err(|e| match e {
            openbsp_store::StoreError::NotFound(_) => CoreError::not_found("campaign", id),
            openbsp_store::StoreError::Conflict(m) => {
                CoreError::conflict("campaign_state", m.trim_start_matches("campaign.status: "))
            }
            other => other.into(),
        })?;
    core.campaign_wake.notify_one();
    Ok((c, n))
}

/// Fails a cancelled campaign's held sends.
async fn fail_cancelled(core: &Core, held: &[String]) -> CoreResult<()> {
    let now = core.now();
    let results: Vec<SendResult> = held
        .iter()
        .map(|m| SendResult::Failed {
            message_id: m.clone(),
            term: 0,
            error: json!({"code": "campaign_cancelled",
                          "title": "The campaign was cancelled before this message was sent"}),
            at: now,
        })
        .collect();
    for part in results.chunks(500) {
        core.store.record_send_results(part).await?;
    }
    Ok(())
}

/// What an upload did (DESIGN §2.8).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadReport {
    /// Rows stored.
    pub accepted: u64,
    /// Rows whose recipient was already in the campaign.
    pub duplicates: u64,
    /// Rows refused.
    pub rejected: u64,
    /// The first refused rows, with why.
    pub errors: Vec<RowError>,
}

/// A refused row.
#[derive(Debug, Clone, Serialize)]
pub struct RowError {
    /// Its line in the file.
    pub line: u64,
    /// Why.
    pub reason: String,
}

impl UploadReport {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowError { line, reason });
        }
    }
}

/// One checked line, as the reading thread hands it on.
enum Checked {
    Ok(NewRecipient),
    Refused(u64, String),
}

/// Adds an upload's rows to a campaign, streamed: `body` is read on a blocking thread, each
/// row checked as its send will be (the recipient read as Meta would from the channel's
/// number, the template filled with its variables and checked against the stored
/// definition), and stored in batches as they come. The whole file is refused before any row
/// is stored when its header is wrong.
pub async fn upload(
    core: &Core,
    tenant_id: &str,
    id: &str,
    format: Format,
    body: Box<dyn Read + Send>,
) -> CoreResult<UploadReport> {
    let c = get(core, tenant_id, id).await?;
    if !accepts_recipients(&c.status) {
        return Err(CoreError::from(closed_to_recipients(&c.status)));
    }
    let channel = core
        .stored_channel(&c.channel_id)
        .await?
        .ok_or_else(|| CoreError::not_found("channel", &c.channel_id))?;
    let spec = Spec::from_stored(&c.template_name, &c.language, &c.spec)?;
    let (_, def) = approved(core, &channel, &spec).await?;
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
    let columns = c.columns.clone();

    // Two stages on two threads, so that a machine's second core does half the work: the
    // reader parses the file and checks each row's template; the next stage reads each row's
    // number (libphonenumber's metadata: most of an upload's work, and behind one lock, so one
    // thread does it). Both hand on batches in file order through bounded channels: rows are
    // stored, and later sent, in the order they were written, and the upload is streamed
    // whatever its size.
    let (tx, mut templated) = tokio::sync::mpsc::channel::<Vec<Templated>>(2);
    let (checked_tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Checked>>(2);
    let reader = tokio::task::spawn_blocking(move || {
        rows::read(body, format, &columns, |lines| {
            let batch = lines
                .into_iter()
                .map(|l| check_template(l, &spec, &def))
                .collect();
            tx.blocking_send(batch).is_ok()
        })
    });
    let numbers = tokio::task::spawn_blocking(move || {
        while let Some(batch) = templated.blocking_recv() {
            let batch = batch.into_iter().map(|t| check_number(t, &ctx)).collect();
            if checked_tx.blocking_send(batch).is_err() {
                return;
            }
        }
    });

    // The third stage stores the checked rows, a batch per transaction, one batch after
    // the other, while the next ones are checked: a commit's wait for the disk does not stop
    // the checking.
    let (batches, mut to_store) = tokio::sync::mpsc::channel::<Vec<NewRecipient>>(1);
    let storing = {
        let (core, tenant_id, id) = (core.clone(), tenant_id.to_string(), c.id.clone());
        let now = core.now();
        tokio::spawn(async move {
            let mut added = openbsp_store::RecipientsAdded::default();
            while let Some(rows) = to_store.recv().await {
                let a = core
                    .store
                    .add_recipients(&tenant_id, &id, rows, now)
                    .await?;
                added.accepted += a.accepted;
                added.duplicates += a.duplicates;
            }
            Ok::<_, CoreError>(added)
        })
    };

    let mut report = UploadReport::default();
    let mut ready: Vec<NewRecipient> = Vec::with_capacity(STORE_BATCH);
    while let Some(batch) = rx.recv().await {
        for item in batch {
            match item {
                Checked::Ok(r) => ready.push(r),
                Checked::Refused(line, reason) => report.reject(line, reason),
            }
        }
        if ready.len() >= STORE_BATCH {
            let rows = std::mem::replace(&mut ready, Vec::with_capacity(STORE_BATCH));
            if batches.send(rows).await.is_err() {
                break; // the store failed: its error is the answer
            }
        }
    }
    if !ready.is_empty() {
        let _ = batches.send(ready).await;
    }
    drop(batches);
    drop(rx);
    let read = reader
        .await
        .map_err(|e| CoreError::internal(format!("the upload's reader stopped: {e}")))?;
    numbers
        .await
        .map_err(|e| CoreError::internal(format!("the upload's number check stopped: {e}")))?;
    let added = storing
        .await
        .map_err(|e| CoreError::internal(format!("the upload's store stopped: {e}")))??;
    report.accepted = added.accepted;
    report.duplicates = added.duplicates;
    if let Err(e) = read {
        // The rows before the failure are stored (a retry of the upload finds them
        // duplicates); the answer says how far it went.
        let stored = report.accepted + report.duplicates;
        if stored > 0 {
            tracing::warn!(campaign.id = %c.id, error = %e, stored, "an upload stopped part way");
            return Err(CoreError::invalid_field(
                "file",
                format!(
                    "{e} ({stored} rows before it were stored; upload the file again to add the rest: rows already stored are kept once)"
                ),
            ));
        }
        return Err(e);
    }
    Ok(report)
}

/// A line of an upload whose template part is checked; its number is not read yet.
enum Templated {
    /// Refused already.
    Refused(u64, String),
    /// A row, and what its variables make of the template (`Err`: why Meta would refuse it).
    Row {
        line: u64,
        kind: KeyKind,
        key: String,
        variables: Map<String, Value>,
        template: Result<(), String>,
    },
}

/// The first check of a line: the template filled with its variables, against the stored
/// definition (132000/132005/132012/132018 as Meta would answer).
fn check_template(line: Line, spec: &Spec, def: &Definition) -> Templated {
    match line {
        Line::Bad { line, reason } => Templated::Refused(line, reason),
        Line::Row {
            line,
            kind,
            key,
            variables,
        } => {
            let template = spec
                .fill(def, &variables)
                .map(|_| ())
                .map_err(|e| format!("({}) {}: {}", e.code, e.field, e.message));
            Templated::Row {
                line,
                kind,
                key,
                variables,
                template,
            }
        }
    }
}

/// The second check of a line: its recipient, read as Meta would from the channel's number
/// (a number refused is the line's reason before its template is).
fn check_number(t: Templated, ctx: &ParseContext) -> Checked {
    let (line, kind, key, variables, template) = match t {
        Templated::Refused(line, reason) => return Checked::Refused(line, reason),
        Templated::Row {
            line,
            kind,
            key,
            variables,
            template,
        } => (line, kind, key, variables, template),
    };
    let recipient = match kind {
        KeyKind::Phone | KeyKind::WaId => WaId::parse_in(&key, ctx).map(|w| w.as_str().to_string()),
        KeyKind::UserId => Bsuid::parse(&key).map(|b| b.as_str().to_string()),
    };
    let recipient = match recipient {
        Ok(r) => r,
        Err(e) => return Checked::Refused(line, format!("{}: {}", kind.name(), e.message)),
    };
    if let Err(reason) = template {
        return Checked::Refused(line, reason);
    }
    Checked::Ok(NewRecipient {
        recipient,
        line,
        variables: Value::Object(variables),
    })
}

/// One step of the runner for a campaign: a scheduled one whose time came starts; a running
/// one whose template Meta paused or disabled, or whose channel's credentials were rejected,
/// pauses with that reason; otherwise the next recipients are handed to the sender, enough to
/// keep [`LOOKAHEAD_SECS`] of its rate queued; a running one with nothing left completes.
/// Returns what the feed did (`None` when it fed nothing).
pub async fn feed(core: &Core, c: &Campaign, next_due: &mut i64) -> CoreResult<Option<Fed>> {
    let now = core.now();
    let mut c = c.clone();
    if c.status == campaign_status::SCHEDULED {
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
        Ok(Some(c)) if c.status == campaign_status::RUNNING => {
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
