//! Campaigns as the store keeps them: the campaign, its recipients, their counts, and the
//! rules of its state machine (DESIGN §2.8), decided once here in pure code that both backends
//! call inside the transaction that changes a campaign.
//!
//! A recipient is handed to the sender at most once: its row goes from `pending` to `queued`
//! in the transaction that stores its message and outbox row, and only while the campaign is
//! running; from then on its message's status is its status.

use openbsp_domain::MessageStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{StoreError, StoreResult};
use crate::model::{NewEvent, NewOutbound};
use crate::policy::SendCheck;

/// A campaign's status (DESIGN §2.8).
pub mod campaign_status {
    /// Being filled; nothing sent.
    pub const DRAFT: &str = "draft";
    /// Started, waiting for its `start_at`.
    pub const SCHEDULED: &str = "scheduled";
    /// Sending.
    pub const RUNNING: &str = "running";
    /// Stopped on request or by the gateway (`pause_reason`); resumes where it stopped.
    pub const PAUSED: &str = "paused";
    /// Every recipient handed to the sender has been sent or has failed.
    pub const COMPLETED: &str = "completed";
    /// Stopped for good.
    pub const CANCELLED: &str = "cancelled";
    /// Every status.
    pub const ALL: &[&str] = &[DRAFT, SCHEDULED, RUNNING, PAUSED, COMPLETED, CANCELLED];
}

/// The gateway's part of a recipient's state (`campaign_recipients.state`).
pub mod recipient_state {
    /// Not handed to the sender yet.
    pub const PENDING: &str = "pending";
    /// Its message is queued: the message's status tells the rest.
    pub const QUEUED: &str = "queued";
    /// Not sent, by rule (the user opted out of marketing; the campaign was cancelled first).
    pub const SKIPPED: &str = "skipped";
    /// Refused before Meta was asked (its send did not pass the checks).
    pub const FAILED: &str = "failed";
}

/// A campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// `cmp_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The channel it sends on.
    pub channel_id: String,
    /// The business's name for it.
    pub name: String,
    /// The gateway's id of its template.
    pub template_id: String,
    /// The template's name.
    pub template_name: String,
    /// The template's language.
    pub language: String,
    /// The template's category, lower case, when known (`marketing`: opted-out users are
    /// skipped).
    pub category: Option<String>,
    /// The template part as created: `{"components": […]}` with `{{column}}` placeholders, or
    /// `{"variables": […]}`.
    pub spec: Value,
    /// The columns its placeholders name: every upload must carry them.
    pub columns: Vec<String>,
    /// [`campaign_status`].
    pub status: String,
    /// Why it is paused (on request: `{"by": "request"}`; by the gateway: the cause).
    pub pause_reason: Option<Value>,
    /// When it starts, if not at once (ms).
    pub start_at: Option<i64>,
    /// Its own rate (msg/s), under the channel's.
    pub rate_limit: Option<u32>,
    /// Created (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
    /// When it first ran (ms).
    pub started_at: Option<i64>,
    /// When it completed or was cancelled (ms).
    pub completed_at: Option<i64>,
    /// An upload of recipients is under way (one at a time): the campaign does not run until
    /// it ends, so that an upload is added whole or not at all.
    #[serde(default)]
    pub uploading: bool,
    /// The client's key of a campaign of grouped direct sends (see [`GroupStep`]): such a
    /// campaign is created by its first send, runs from then on, and is never fed by the
    /// runner; `None` for a campaign of uploaded recipients.
    #[serde(default)]
    pub group_key: Option<String>,
}

/// A client's `Idempotency-Key` for a creation, and the hash of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key.
    pub key: String,
    /// The request's hash: a retry has the same.
    pub request_hash: String,
}

/// What [`crate::CampaignStore::create_campaign`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignCreated {
    /// Stored.
    Created(Campaign),
    /// The key was seen with the same request: the campaign it created.
    Existing(Campaign),
    /// The key was seen with another request: the campaign it created.
    KeyReused(Campaign),
}

/// Which campaigns of a tenant a list shows: newest first.
#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    /// The tenant.
    pub tenant_id: String,
    /// Only this status.
    pub status: Option<String>,
    /// Only this channel.
    pub channel_id: Option<String>,
    /// Campaigns older than this one (the last id of the previous page).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// One row of an upload, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecipient {
    /// The recipient's `wa_id` or BSUID.
    pub recipient: String,
    /// The line of the upload it came from.
    pub line: u64,
    /// Its variables, by column.
    pub variables: Value,
    /// Stored `skipped` with this reason (an opted-out user of a marketing campaign), not
    /// `pending`.
    pub skipped: Option<Value>,
}

/// What an upload's rows did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecipientsAdded {
    /// Stored.
    pub accepted: u64,
    /// Already in the campaign (from this upload or an earlier one): kept once.
    pub duplicates: u64,
    /// Of the stored, stored `skipped` ([`NewRecipient::skipped`]).
    pub skipped: u64,
}

/// A recipient as listed: its row, and its message as the sender left it.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecipient {
    /// Its place in the campaign (upload order).
    pub seq: i64,
    /// The campaign.
    pub campaign_id: String,
    /// The recipient's `wa_id` or BSUID.
    pub recipient: String,
    /// The upload line it came from.
    pub line: u64,
    /// Its variables.
    pub variables: Value,
    /// [`recipient_state`].
    pub state: String,
    /// Why it was skipped or failed before Meta (an error object).
    pub reason: Option<Value>,
    /// Its message, once queued.
    pub message_id: Option<String>,
    /// The message's status.
    pub message_status: Option<MessageStatus>,
    /// Meta's id of its message.
    pub wamid: Option<String>,
    /// Meta's error, when its message failed.
    pub error: Option<Value>,
    /// When it was added (ms).
    pub created_at: i64,
    /// Its last change, or its message's (ms).
    pub updated_at: i64,
    /// When the recipient answered (ms).
    pub replied_at: Option<i64>,
    /// Meta's `message_status` in its answer to the send, when it gave one.
    pub meta_message_status: Option<String>,
}

/// Meta's `message_status` for a paced template's send it holds (reference §2.4).
pub const HELD_FOR_QUALITY_ASSESSMENT: &str = "held_for_quality_assessment";

impl CampaignRecipient {
    /// Whether Meta holds its message for the template's quality assessment: accepted with
    /// `held_for_quality_assessment`, and no status since (Meta's release delivers it; a pause
    /// fails it with 132015).
    pub fn held(&self) -> bool {
        self.meta_message_status.as_deref() == Some(HELD_FOR_QUALITY_ASSESSMENT)
            && self.message_status == Some(MessageStatus::Accepted)
    }

    /// Its status as the API shows it: `pending` until its message is sent, then the
    /// message's status (`sent`, `delivered`, `read`, `failed`), `replied` once it answered;
    /// `skipped` or `failed` when the gateway stopped it.
    pub fn status(&self) -> &'static str {
        match self.state.as_str() {
            recipient_state::SKIPPED => "skipped",
            recipient_state::FAILED => "failed",
            _ if self.replied_at.is_some() => "replied",
            _ => match self.message_status {
                Some(MessageStatus::Accepted | MessageStatus::Sent) => "sent",
                Some(MessageStatus::Delivered) => "delivered",
                Some(MessageStatus::Read) => "read",
                Some(MessageStatus::Failed) => "failed",
                _ => "pending",
            },
        }
    }
}

/// Which recipients of a campaign a list shows: in upload order.
#[derive(Debug, Clone, Default)]
pub struct RecipientFilter {
    /// Only those with this API status ([`CampaignRecipient::status`]).
    pub status: Option<String>,
    /// After this place (the last `seq` of the previous page).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// A campaign's counts: every recipient is in exactly one of `pending`, `sent`, `delivered`,
/// `read`, `failed`, `skipped` (they add up to `total`); `replied` counts those that answered
/// (also counted where their message got to).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CampaignCounts {
    /// Every recipient.
    pub total: u64,
    /// Not sent yet (waiting, or queued at the sender).
    pub pending: u64,
    /// Of them, queued at the sender.
    pub queued: u64,
    /// Of the queued, waiting for a place in the portfolio's messaging limit (a moving 24
    /// hours).
    pub waiting: u64,
    /// Accepted by Meta (or sent, by its webhook).
    pub sent: u64,
    /// Delivered.
    pub delivered: u64,
    /// Read.
    pub read: u64,
    /// Answered.
    pub replied: u64,
    /// Of the sent, held by Meta for the template's quality assessment (template pacing).
    pub held: u64,
    /// Failed (at Meta, or before).
    pub failed: u64,
    /// Skipped (opted out, cancelled).
    pub skipped: u64,
    /// Failures by code (Meta's code, or the gateway's reason), most first.
    pub failures: Vec<(String, u64)>,
}

impl CampaignCounts {
    /// Adds `n` recipients whose message is at `status`.
    pub fn add_message(&mut self, status: MessageStatus, n: u64) {
        match status {
            MessageStatus::Accepted | MessageStatus::Sent => self.sent += n,
            MessageStatus::Delivered => self.delivered += n,
            MessageStatus::Read => self.read += n,
            MessageStatus::Failed => self.failed += n,
            _ => {
                self.pending += n;
                self.queued += n;
            }
        }
    }

    /// Adds `n` recipients the gateway holds in `state` (not queued).
    pub fn add_state(&mut self, state: &str, n: u64) {
        match state {
            recipient_state::PENDING => self.pending += n,
            recipient_state::SKIPPED => self.skipped += n,
            recipient_state::FAILED => self.failed += n,
            _ => {}
        }
    }

    /// Adds `n` failures with `code`, keeping the list ordered most first.
    pub fn add_failure(&mut self, code: String, n: u64) {
        match self.failures.iter_mut().find(|(c, _)| *c == code) {
            Some(f) => f.1 += n,
            None => self.failures.push((code, n)),
        }
        self.failures
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
}

/// A change of a campaign's status.
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignAction {
    /// Start: `running` now, or `scheduled` until its `start_at`.
    Start,
    /// A scheduled campaign's time came: `running`.
    Begin,
    /// Stop sending (its sends not yet claimed are held), on request or with a reason.
    Pause {
        /// Why (`None`: on request).
        reason: Option<Value>,
    },
    /// Send again (its held sends are released).
    Resume,
    /// Stop for good: its recipients not handed to the sender are skipped, its held sends are
    /// the caller's to fail.
    Cancel,
    /// Every recipient is sent or failed.
    Complete,
    /// Failed recipients were put back to be sent again: a completed campaign runs again.
    Retry,
}

impl CampaignAction {
    /// The action's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            CampaignAction::Start => "start",
            CampaignAction::Begin => "begin",
            CampaignAction::Pause { .. } => "pause",
            CampaignAction::Resume => "resume",
            CampaignAction::Cancel => "cancel",
            CampaignAction::Complete => "complete",
            CampaignAction::Retry => "retry",
        }
    }
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitioned {
    /// The campaign after it.
    pub campaign: Campaign,
    /// Messages of the campaign whose sends were held by it (a pause or a cancel): queued and
    /// not yet claimed by the sender. A cancel leaves them for its caller to fail.
    pub held: Vec<String>,
}

/// What the outbox does with the campaign's queued sends on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Nothing.
    Keep,
    /// Pending sends become held (the sender does not see them).
    Hold,
    /// Held sends become pending again.
    Release,
}

/// Applies `action` to `c` at `now` (in the caller's transaction): the campaign as it becomes,
/// what happens to its queued sends, and the event it writes. A transition its status does not
/// allow is a conflict naming both.
pub fn transition(
    c: &Campaign,
    action: &CampaignAction,
    now: i64,
) -> StoreResult<(Campaign, Hold, Option<NewEvent>)> {
    use campaign_status::*;
    let refuse = || {
        StoreError::Conflict(format!(
            "campaign.status: a {} campaign cannot {}",
            c.status,
            action.name()
        ))
    };
    let mut next = c.clone();
    next.updated_at = now;
    let (hold, event) = match (action, c.status.as_str()) {
        (CampaignAction::Start, DRAFT) => match c.start_at {
            Some(at) if at > now => {
                next.status = SCHEDULED.to_string();
                (Hold::Keep, None)
            }
            _ => {
                next.status = RUNNING.to_string();
                next.started_at = Some(now);
                (Hold::Keep, Some("campaign.started"))
            }
        },
        (CampaignAction::Begin, SCHEDULED) => {
            next.status = RUNNING.to_string();
            next.started_at = Some(now);
            (Hold::Keep, Some("campaign.started"))
        }
        (CampaignAction::Pause { reason }, RUNNING | SCHEDULED) => {
            next.status = PAUSED.to_string();
            next.pause_reason = Some(reason.clone().unwrap_or_else(|| json!({"by": "request"})));
            (Hold::Hold, Some("campaign.paused"))
        }
        // Paused again with another reason: the newer reason stands.
        (CampaignAction::Pause { reason: Some(r) }, PAUSED) => {
            next.pause_reason = Some(r.clone());
            (Hold::Hold, None)
        }
        (CampaignAction::Resume, PAUSED) => {
            next.status = RUNNING.to_string();
            next.pause_reason = None;
            next.started_at = next.started_at.or(Some(now));
            (Hold::Release, Some("campaign.resumed"))
        }
        (CampaignAction::Cancel, DRAFT | SCHEDULED | RUNNING | PAUSED) => {
            next.status = CANCELLED.to_string();
            next.completed_at = Some(now);
            (Hold::Hold, Some("campaign.cancelled"))
        }
        (CampaignAction::Retry, COMPLETED) => {
            next.status = RUNNING.to_string();
            next.completed_at = None;
            (Hold::Keep, Some("campaign.resumed"))
        }
        (CampaignAction::Retry, RUNNING | PAUSED) => (Hold::Keep, None),
        (CampaignAction::Complete, RUNNING) => {
            next.status = COMPLETED.to_string();
            next.completed_at = Some(now);
            (Hold::Keep, Some("campaign.completed"))
        }
        _ => return Err(refuse()),
    };
    // A campaign runs only when no upload is under way (an upload is added whole or not at
    // all: none of its rows may be sent before it ends).
    if c.uploading && next.status == RUNNING && c.status != RUNNING {
        return Err(StoreError::Conflict(format!(
            "{UPLOAD_UNDER_WAY}: an upload of recipients is under way; the campaign can {} when it ends",
            action.name()
        )));
    }
    let event = event.map(|kind| campaign_event(&next, kind));
    Ok((next, hold, event))
}

/// What a grouped direct send does to the campaign of its key (DESIGN §2.8, "grouped
/// sends"), decided in the transaction that stores the send.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupStep {
    /// The key names no campaign yet: this one (running from now) is stored with the send,
    /// with its `campaign.started`.
    Create(Campaign, NewEvent),
    /// The campaign runs: the send joins it.
    Join(Campaign),
    /// The campaign had completed (everything sent before had Meta's answer): it runs again,
    /// with its `campaign.resumed`, and the send joins it.
    Reopen(Campaign, NewEvent),
}

impl GroupStep {
    /// The campaign the send joins.
    pub fn campaign(&self) -> &Campaign {
        match self {
            GroupStep::Create(c, _) | GroupStep::Join(c) | GroupStep::Reopen(c, _) => c,
        }
    }
}

/// What a grouped send does to `found`, the campaign of its key (`None`: none yet; `new` is
/// then created), at `now`. A paused campaign takes no sends until resumed, a cancelled one
/// none ever: a conflict naming it.
pub fn join_group(found: Option<&Campaign>, new: &Campaign, now: i64) -> StoreResult<GroupStep> {
    use campaign_status::*;
    let Some(c) = found else {
        let mut c = new.clone();
        c.status = RUNNING.to_string();
        c.started_at = Some(c.started_at.unwrap_or(now));
        let event = campaign_event(&c, "campaign.started");
        return Ok(GroupStep::Create(c, event));
    };
    match c.status.as_str() {
        RUNNING => Ok(GroupStep::Join(c.clone())),
        COMPLETED => {
            let mut next = c.clone();
            next.status = RUNNING.to_string();
            next.completed_at = None;
            next.updated_at = now;
            let event = campaign_event(&next, "campaign.resumed");
            Ok(GroupStep::Reopen(next, event))
        }
        PAUSED => Err(StoreError::Conflict(format!(
            "campaign.status: the campaign {} of these grouped sends is paused; resume it to send in it",
            c.id
        ))),
        status => Err(StoreError::Conflict(format!(
            "campaign.status: the campaign {} of these grouped sends is {status}; group new sends under another key",
            c.id
        ))),
    }
}

/// The event of a campaign's change: the campaign as it became.
pub fn campaign_event(c: &Campaign, kind: &str) -> NewEvent {
    let mut data = json!({
        "campaign_id": c.id,
        "name": c.name,
        "channel_id": c.channel_id,
        "status": c.status,
    });
    if let Some(r) = &c.pause_reason {
        data["reason"] = r.clone();
    }
    NewEvent::native(&c.tenant_id, kind, data)
}

/// The reason of the recipients a cancel skips (never handed to the sender).
pub const CANCELLED_REASON: &str = r#"{"code":"campaign_cancelled","message":"the campaign was cancelled before this recipient's turn"}"#;

/// Whether recipients may be added to a campaign in `status`.
pub fn accepts_recipients(status: &str) -> bool {
    use campaign_status::*;
    matches!(status, DRAFT | SCHEDULED | PAUSED)
}

/// The conflict of an upload to a campaign that no longer takes recipients.
pub fn closed_to_recipients(status: &str) -> StoreError {
    StoreError::Conflict(format!(
        "campaign.status: recipients are added to a draft, scheduled or paused campaign, not a {status} one"
    ))
}

/// Removes the rows of an upload (`?1` campaign, `?2` its first row; `$` on PostgreSQL): an
/// upload's rows are its campaign's from its first on, and are pending or skipped (the
/// campaign did not run while it was under way).
pub(crate) fn drop_upload_sql(mark: char) -> String {
    format!(
        "DELETE FROM campaign_recipients WHERE campaign_id = {mark}1
         AND state IN ('pending', 'skipped') AND id >= {mark}2"
    )
}

/// What a conflict about a campaign's upload names (the API answers it as its own code).
pub const UPLOAD_UNDER_WAY: &str = "campaign.uploading";

/// The upload under way on a campaign, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadUnderWay {
    /// The upload's id (`upl_…`).
    pub id: String,
    /// The first recipient id it can store: its rows are the campaign's from there on.
    pub from: i64,
    /// When it lapses unless renewed (ms).
    pub until: i64,
}

impl UploadUnderWay {
    /// From a campaign's `upload_id`, `upload_from` and `upload_until` columns.
    pub(crate) fn from_columns(
        id: Option<String>,
        from: Option<i64>,
        until: Option<i64>,
    ) -> Option<UploadUnderWay> {
        Some(UploadUnderWay {
            id: id?,
            from: from?,
            until: until.unwrap_or(0),
        })
    }
}

/// Whether an upload may begin on a campaign in `status` with `under_way` at `now`: a
/// conflict when the status takes no recipients or another upload is under way; else the
/// first row of a lapsed upload, whose rows go first.
pub(crate) fn may_begin_upload(
    status: &str,
    under_way: Option<&UploadUnderWay>,
    now: i64,
) -> StoreResult<Option<i64>> {
    if !accepts_recipients(status) {
        return Err(closed_to_recipients(status));
    }
    match under_way {
        Some(u) if u.until > now => Err(StoreError::Conflict(format!(
            "{UPLOAD_UNDER_WAY}: another upload of recipients to this campaign is under way; send this one when it ends"
        ))),
        Some(u) => Ok(Some(u.from)),
        None => Ok(None),
    }
}

/// The first row of the upload `id` if it is still its campaign's (`under_way`): else the
/// conflict that says it lapsed.
pub(crate) fn own_upload(under_way: Option<&UploadUnderWay>, id: &str) -> StoreResult<i64> {
    match under_way {
        Some(u) if u.id == id => Ok(u.from),
        _ => Err(StoreError::Conflict(format!(
            "{UPLOAD_UNDER_WAY}: the upload lapsed (the gateway heard nothing of it for too long) and its rows were removed; send the file again"
        ))),
    }
}

/// One recipient handed to the sender by the campaign runner.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// Its send, with the check the send policy applies.
    Send {
        /// The recipient's row ([`CampaignRecipient::seq`]).
        seq: i64,
        /// Its message (with `campaign_id` set) and outbox row.
        new: Box<NewOutbound>,
        /// The send policy's check.
        check: SendCheck,
    },
    /// Its send could not be built (the template no longer fits its variables): failed with
    /// this error object, never sent.
    Fail {
        /// The recipient's row.
        seq: i64,
        /// Why.
        reason: Value,
    },
}

impl FeedItem {
    /// The recipient's row.
    pub fn seq(&self) -> i64 {
        match self {
            FeedItem::Send { seq, .. } | FeedItem::Fail { seq, .. } => *seq,
        }
    }
}

/// What a feed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fed {
    /// Recipients whose message is now queued.
    pub queued: u64,
    /// Skipped by the send policy (opted out).
    pub skipped: u64,
    /// Failed before Meta.
    pub failed: u64,
    /// Not pending any more (another feed took them): nothing done.
    pub taken: u64,
    /// False when the campaign was no longer running: nothing was done.
    pub running: bool,
}

/// The reason stored for a recipient the send policy refused.
pub fn refusal_reason(r: &openbsp_domain::windows::Refusal) -> (&'static str, Value) {
    use openbsp_domain::windows::Refusal;
    match r {
        Refusal::OptedOut { since } => (
            recipient_state::SKIPPED,
            json!({"code": "opted_out", "meta_code": 131050, "since": since,
                   "message": "the user opted out of marketing messages"}),
        ),
        Refusal::WindowClosed { .. } => (
            recipient_state::FAILED,
            json!({"code": "window_closed", "meta_code": 131047,
                   "message": "the customer service window is closed"}),
        ),
        Refusal::MessagingLimit { limit, until } => (
            recipient_state::FAILED,
            json!({"code": "messaging_limit_reached", "meta_code": 131048, "limit": limit,
                   "until": until, "message": "the messaging limit is reached"}),
        ),
    }
}

/// The code a failure is counted under: Meta's `code` (of the first error, when a status
/// webhook gave several), else the gateway's.
pub fn failure_code(error: &Value) -> String {
    let error = match error {
        Value::Array(errors) => errors.first().unwrap_or(&Value::Null),
        e => e,
    };
    match error.get("meta_code").or_else(|| error.get("code")) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "unknown".to_string(),
    }
}

/// A campaign's counts from the rows of the backends' counting statement: `(kind, key, n)`
/// with kind `s` (recipients by state), `m` (messages by status), `f` (failed messages by
/// Meta's code), `r` (failed recipients by reason), `y` (replies) or `w` (sends waiting for
/// the messaging limit).
pub(crate) fn counts_from(rows: Vec<(String, Option<String>, i64)>) -> CampaignCounts {
    let mut counts = CampaignCounts::default();
    for (kind, key, n) in rows {
        let n = n.max(0) as u64;
        let key = key.unwrap_or_default();
        match kind.as_str() {
            "s" => {
                counts.total += n;
                counts.add_state(&key, n);
            }
            "m" => {
                if let Some(status) = MessageStatus::parse(&key) {
                    counts.add_message(status, n);
                }
            }
            "f" => counts.add_failure(
                if key.is_empty() {
                    "unknown".into()
                } else {
                    key
                },
                n,
            ),
            "r" => {
                let reason = serde_json::from_str(&key).unwrap_or_default();
                counts.add_failure(failure_code(&reason), n)
            }
            "y" => counts.replied += n,
            "h" => counts.held += n,
            "w" => counts.waiting += n,
            _ => {}
        }
    }
    counts
}
