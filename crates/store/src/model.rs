//! Rows of the store, as plain data. Times are Unix milliseconds.

use openbsp_domain::MessageStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A business using the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// `ten_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
}

/// An API key, stored as a hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `key_…`
    pub id: String,
    /// The tenant it acts for; `None` for an admin key.
    pub tenant_id: Option<String>,
    /// Label.
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// The first characters of the key, to recognise it in lists.
    pub key_prefix: String,
    /// Whether it may use the admin routes.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A Meta app: its secret signs Meta's webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    /// `app_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Label.
    pub name: String,
    /// Meta's app id, if known.
    pub meta_app_id: Option<String>,
    /// App secret, encrypted with the master key.
    pub app_secret_enc: String,
    /// Webhook verify token, encrypted with the master key.
    pub verify_token_enc: String,
    /// SHA-256 of the verify token, for the `GET` handshake.
    pub verify_token_hash: String,
    /// Creation time.
    pub created_at: i64,
    /// The secret that was current before the last rotation, encrypted with the master key:
    /// it still verifies Meta's signatures until [`App::previous_secret_expires_at`].
    pub previous_secret_enc: Option<String>,
    /// Until when (Unix ms) the previous secret verifies; `None` when no rotation overlaps.
    pub previous_secret_expires_at: Option<i64>,
}

/// One WhatsApp business phone number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// `chn_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The app whose secret signs this number's webhooks.
    pub app_id: String,
    /// Meta's phone number id (unique in the installation).
    pub phone_number_id: String,
    /// The WhatsApp Business Account.
    pub waba_id: String,
    /// Display number, digits.
    pub display_phone_number: String,
    /// Graph API access token, encrypted with the master key.
    pub access_token_enc: String,
    /// Graph API base URL (`https://graph.facebook.com` or the simulator's).
    pub graph_base_url: String,
    /// Graph API version used for sends (`v23.0`).
    pub graph_version: String,
    /// Messages per second Meta allows this number.
    pub throughput_mps: u32,
    /// Messaging-limit tier (`TIER_250`, …), when known: its business portfolio's, shared by
    /// the portfolio's numbers.
    pub messaging_tier: Option<String>,
    /// The business portfolio the number belongs to, when it is not known by its WABA alone
    /// (a portfolio may hold several WABAs): see [`Channel::portfolio`].
    #[serde(default)]
    pub business_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// Since when its sender is stopped (Meta rejected its credentials), if it is.
    #[serde(default)]
    pub paused_at: Option<i64>,
    /// Why: Meta's error object.
    #[serde(default)]
    pub pause_reason: Option<Value>,
}

impl Channel {
    /// The business portfolio whose messaging limit this number shares: `business_id`, or
    /// its WABA when that is not set.
    pub fn portfolio(&self) -> &str {
        self.business_id.as_deref().unwrap_or(&self.waba_id)
    }
}

/// A WhatsApp user as one tenant knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// `con_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Phone digits.
    pub wa_id: Option<String>,
    /// Business-scoped user id.
    pub user_id: Option<String>,
    /// `profile.name` from the last inbound message (or as given by the business).
    pub profile_name: Option<String>,
    /// `profile.username` (2026 usernames), when the user has one.
    pub username: Option<String>,
    /// The business's own attributes of this contact (a JSON object).
    pub attributes: Value,
    /// When the contact opted out of marketing messages, if they did (and have not resumed).
    pub marketing_opt_out_at: Option<i64>,
    /// Where the opt-out came from: `user_preferences` (Meta's webhook), `keyword` (a STOP
    /// message) or `api`.
    pub marketing_opt_out_source: Option<String>,
    /// Numbers this user had before a `user_changed_number`, oldest first.
    pub previous_wa_ids: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// The state of one (channel, contact) pair that decides what may be sent: WhatsApp's
/// customer service window (CSW, 24 h from the user's last message) and free entry point
/// window (FEP, 72 h from a reply to an ad or page-button entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactWindow {
    /// The business number.
    pub channel_id: String,
    /// The user.
    pub contact_id: String,
    /// Owner.
    pub tenant_id: String,
    /// The user's last message to this number (Meta's timestamp, ms): the CSW runs 24 h
    /// from it.
    pub last_inbound_at: Option<i64>,
    /// The user's last message that came from a Click-to-WhatsApp ad or a page button (it
    /// carried a `referral`).
    pub entry_point_at: Option<i64>,
    /// When the business's reply opened the current FEP window.
    pub fep_opened_at: Option<i64>,
    /// When that FEP window ends.
    pub fep_expires_at: Option<i64>,
}

/// One conversation between a channel and a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `ses_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The business number.
    pub channel_id: String,
    /// The user.
    pub contact_id: String,
    /// `marketing`, `utility`, `authentication` or `service`: the category of what opened
    /// it; `None` until known (a passed-through template's category is learnt from Meta's
    /// pricing).
    pub kind: Option<String>,
    /// `inbound` (the user wrote), `session_start`, or `message` (a business send when no
    /// session was open).
    pub opened_by: String,
    /// When it opened.
    pub opened_at: i64,
    /// When it closes unless renewed: 24 h after the last inbound message, or after opening
    /// for a business-initiated session nobody answered.
    pub expires_at: i64,
    /// When it closed.
    pub closed_at: Option<i64>,
    /// `expired`, `closed` (on request) or `merged` (its contact was merged into another).
    pub close_reason: Option<String>,
    /// The user's last message in it.
    pub last_inbound_at: Option<i64>,
    /// Last change.
    pub updated_at: i64,
}

/// How a new message finds its session: the open session of its channel and contact, or,
/// when there is none, a new one opened with these properties.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSpec {
    /// Kind of a session opened for it.
    pub kind: Option<String>,
    /// `opened_by` of a session opened for it.
    pub opened_by: String,
    /// `expires_at` of a session opened for it.
    pub expires_at: i64,
}

/// What the gateway knows of a (channel, user) pair before it sends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// The contact, if the user is known.
    pub contact: Option<Contact>,
    /// Its windows on this channel, if the user ever wrote to it.
    pub window: Option<ContactWindow>,
    /// Its open session on this channel.
    pub open_session: Option<Session>,
}

/// Filters for listing contacts.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Exactly this `wa_id`.
    pub wa_id: Option<String>,
    /// Exactly this BSUID.
    pub user_id: Option<String>,
    /// Profile name containing this (case-insensitive, ASCII). Served by a trigram index
    /// from [`NAME_SEARCH_MIN`] characters; a shorter term is checked on the tenant's rows
    /// (the API refuses it).
    pub name: Option<String>,
    /// Only contacts who opted out of marketing (`true`) or did not (`false`).
    pub opted_out: Option<bool>,
}

/// The fewest characters of a contact name search ([`ContactFilter::name`]): a trigram index
/// serves terms of three characters or more; a shorter one would walk the tenant's contacts.
pub const NAME_SEARCH_MIN: usize = 3;

/// How many of the tenant's newest contacts (below the cursor) a name search walks, the name
/// checked on each, before it looks the term up in the trigram index: ten pages' worth, within
/// bounds. A term one name in ten holds fills its page in the walk; the look-up, which reads
/// every name that holds the term to sort them, is left the rarer terms, below the walk.
pub(crate) fn name_walk_budget(limit: u32) -> u32 {
    limit.saturating_mul(10).clamp(100, 5_000)
}

/// The page a name search takes below its walk ([`name_walk_budget`]), whose lowest contact is
/// `floor`, once the walk found `found` of `page`: `None` when the walk filled the page.
pub(crate) fn below_the_walk(page: &Page, found: usize, floor: String) -> Option<Page> {
    let left = page
        .limit
        .saturating_sub(u32::try_from(found).unwrap_or(u32::MAX));
    (left > 0).then_some(Page {
        limit: left,
        after: Some(floor),
    })
}

/// Above every contact id (`con_` and a ULID), in the byte order both backends compare ids in:
/// the cursor of a first page.
pub(crate) const ABOVE_EVERY_ID: &str = "\u{10FFFF}";

/// A change to a contact by the business.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    /// New profile name.
    pub profile_name: Option<String>,
    /// Attributes to merge in (a JSON object; a `null` value removes that key).
    pub attributes: Option<Value>,
    /// Opt out of marketing (`true`, source `api`) or back in (`false`).
    pub marketing_opt_out: Option<bool>,
}

/// A marketing opt-out or opt-in from the user.
#[derive(Debug, Clone, PartialEq)]
pub struct OptOutChange {
    /// `true`: stop marketing; `false`: resume.
    pub opted_out: bool,
    /// `user_preferences`, `keyword` or `api`.
    pub source: String,
    /// When (ms).
    pub at: i64,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this channel.
    pub channel_id: Option<String>,
    /// Only this contact.
    pub contact_id: Option<String>,
    /// Only open (`true`) or closed (`false`) sessions.
    pub open: Option<bool>,
    /// Opened at or after (ms). With either bound the page is in (`opened_at`, id) order,
    /// newest first, read through `sessions_opened`.
    pub opened_from: Option<i64>,
    /// Opened before (ms).
    pub opened_to: Option<i64>,
}

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the business to a user.
    Outbound,
    /// From a user to the business.
    Inbound,
}

impl Direction {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "outbound" => Some(Direction::Outbound),
            "inbound" => Some(Direction::Inbound),
            _ => None,
        }
    }
}

/// A message, either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `msg_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The business number.
    pub channel_id: String,
    /// The user.
    pub contact_id: Option<String>,
    /// Which way.
    pub direction: Direction,
    /// The user's `wa_id` or BSUID.
    pub recipient: String,
    /// Cloud API type (`text`, …).
    pub msg_type: String,
    /// Cloud API content (`{"type": "text", "text": {...}}` outbound; the whole inbound object
    /// inbound).
    pub content: Value,
    /// Meta's id, once known.
    pub wamid: Option<String>,
    /// Current status.
    pub status: MessageStatus,
    /// Meta's error, when failed.
    pub error: Option<Value>,
    /// The client's `biz_opaque_callback_data`.
    pub biz_opaque_callback_data: Option<String>,
    /// The message this one replies to: the gateway's id when it has that message, else
    /// the `wamid` as given.
    pub context_message_id: Option<String>,
    /// The session it belongs to (filled in by the store).
    pub session_id: Option<String>,
    /// The gateway's id (`tpl_…`) of the template it was sent from (outbound only).
    pub template_id: Option<String>,
    /// The template's text as the contact saw it, parameters filled in (outbound only).
    pub rendered_text: Option<String>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The campaign it was sent for (outbound only).
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// One entry of a message's status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEntry {
    /// The status reached.
    pub status: MessageStatus,
    /// When (Meta's timestamp for webhook statuses).
    pub at: i64,
    /// Meta's error, for `failed`.
    pub error: Option<Value>,
}

/// Who a new outbound message goes to, to find or create the contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContactKey {
    /// Phone digits.
    WaId(String),
    /// BSUID.
    UserId(String),
}

/// A new outbound message with its outbox row.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    /// The message, `status` = queued, `contact_id` filled in by the store.
    pub message: Message,
    /// Hash of the request, to tell a retry from a reuse of the idempotency key.
    pub request_hash: String,
    /// The recipient, for the contact row.
    pub contact: ContactKey,
    /// The exact Graph API body the sender will post (`biz_opaque_callback_data` = message id).
    pub payload: Value,
    /// Sender priority: lower goes first.
    pub priority: i32,
    /// The session it joins, or opens when its channel and contact have none open.
    pub session: SessionSpec,
    /// A free entry point window this send opens (its end), when it replies within 24 h to
    /// an entry from an ad or page button and no FEP window is open for that entry.
    pub open_fep_until: Option<i64>,
    /// What a Session Start says of the contact (another identifier to link, a name): applied
    /// in the enqueue's transaction, after the send policy allowed it, with its
    /// `contact.updated` event. `None` for every other send.
    pub profile: Option<ContactProfile>,
    /// Set by the store: a bulk send past its portfolio's messaging limit waits until then
    /// (and takes its place in the limit when it is claimed). `None` when building one.
    pub reach_wait: Option<i64>,
    /// Not sent before then (ms; a campaign's own pace): `None`, at once.
    pub due_at: Option<i64>,
}

/// What a Session Start says of its contact besides the key it is sent to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactProfile {
    /// The user's other identifier (a BSUID beside a number), linked to the contact.
    pub also: Option<ContactKey>,
    /// The name the business gives the contact.
    pub name: Option<String>,
}

/// What [`crate::MessageStore::enqueue_outbound`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum EnqueueOutcome {
    /// Stored and queued.
    Created {
        /// The message.
        message: Message,
        /// Its enqueue opened its session (no session of its channel and contact was open):
        /// decided in the enqueue's transaction, so of two concurrent first sends exactly one
        /// opened it.
        opened_session: bool,
    },
    /// The idempotency key was seen with the same request: the first message.
    Existing(Message),
    /// The idempotency key was seen with a different request.
    KeyReused(Message),
}

/// A queued send, claimed by a sender.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// The message.
    pub message_id: String,
    /// Owner.
    pub tenant_id: String,
    /// Channel.
    pub channel_id: String,
    /// Attempts made so far (before this one).
    pub attempts: u32,
    /// Graph API body.
    pub payload: Value,
    /// The term of the channel's sender lease it was claimed under.
    pub term: i64,
}

/// Priorities of sends in a channel's queue (lower first).
pub mod priority {
    /// A reply: a one-to-one send while the user's customer service window is open.
    pub const REPLY: i32 = 0;
    /// A one-to-one send (the API, Session Start, a template) outside the window.
    pub const DIRECT: i32 = 10;
    /// Campaign traffic: after everything else on the channel.
    pub const BULK: i32 = 20;
}

/// The name of a channel's sender lease.
pub fn sender_lease(channel_id: &str) -> String {
    format!("sender:{channel_id}")
}

/// The name of the lease of the jobs that must run once across replicas.
pub const LEADER_LEASE: &str = "leader";

/// One holding of a lease (see [`crate::LeaseStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `sender:<channel id>` or `leader`.
    pub name: String,
    /// Who holds it (a replica's id).
    pub holder: String,
    /// The holding's number: each new holding of the name is one more than the last.
    pub term: i64,
    /// It lapses then unless renewed (ms).
    pub expires_at: i64,
}

/// The outcome of one send attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// Meta answered with a `wamid`.
    Accepted {
        /// Message.
        message_id: String,
        /// The term of the sender lease the send was claimed under ([`OutboxItem::term`]).
        term: i64,
        /// Meta's id.
        wamid: String,
        /// Meta's `message_status` in its answer, when it gave one (`held_for_quality_assessment`
        /// for a paced template's held send).
        message_status: Option<String>,
        /// When.
        at: i64,
    },
    /// Meta refused it for good.
    Failed {
        /// Message.
        message_id: String,
        /// The term of the sender lease the send was claimed under ([`OutboxItem::term`]).
        term: i64,
        /// Meta's error object (code, message, details).
        error: Value,
        /// When.
        at: i64,
    },
    /// Not posted (the pair rate limit holds it): due again at `next_at`, not an attempt.
    Defer {
        /// Message.
        message_id: String,
        /// The term of the sender lease the send was claimed under ([`OutboxItem::term`]).
        term: i64,
        /// When it may go.
        next_at: i64,
    },
    /// Try again at `next_at`.
    Retry {
        /// Message.
        message_id: String,
        /// The term of the sender lease the send was claimed under ([`OutboxItem::term`]).
        term: i64,
        /// When to try again.
        next_at: i64,
        /// Why it failed this time.
        error: Value,
    },
}

/// A webhook payload from Meta, stored before it is processed.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    /// `whk_…`
    pub id: String,
    /// The app whose secret verified it.
    pub app_id: String,
    /// When it arrived.
    pub received_at: i64,
    /// The raw body.
    pub body: Vec<u8>,
}

/// A status from Meta's webhook, to apply to an outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// The business number it came for.
    pub channel_id: String,
    /// Meta's id of the message.
    pub wamid: String,
    /// The new status.
    pub status: MessageStatus,
    /// Meta's timestamp, ms.
    pub at: i64,
    /// Echoed `biz_opaque_callback_data` (the gateway's message id).
    pub callback_data: Option<String>,
    /// Meta's errors, for `failed`.
    pub error: Option<Value>,
    /// `pricing.category` (`marketing`, `utility`, `authentication`, `service`, …): tells
    /// the kind of a session a passed-through template opened.
    pub pricing_category: Option<String>,
}

/// What applying a status did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// The message moved to the new status.
    Advanced {
        /// Message.
        message_id: String,
        /// The message learned its `wamid` from this status (found by its callback data: the
        /// answer to its send was lost).
        learned_wamid: bool,
    },
    /// Recorded in history, but the message already had a later status (or it was a
    /// duplicate).
    Kept {
        /// Message.
        message_id: String,
        /// As for [`StatusOutcome::Advanced`].
        learned_wamid: bool,
    },
    /// No message of this gateway has that `wamid`.
    UnknownMessage,
}

/// An inbound message from a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInbound {
    /// The message (`direction` inbound, `status` received, `contact_id` filled in by the
    /// store).
    pub message: Message,
    /// The sender.
    pub contact: ContactKey,
    /// The other identifier of the sender, when the webhook carried both.
    pub also: Option<ContactKey>,
    /// `profile.name`.
    pub profile_name: Option<String>,
    /// `profile.username`.
    pub username: Option<String>,
    /// Whether it opens or renews the customer service window (and so opens or renews a
    /// session): every user message does, a `system` notice does not.
    pub opens_window: bool,
    /// It came from a Click-to-WhatsApp ad or a page button (it carries a `referral`).
    pub entry_point: bool,
    /// A STOP (or START) keyword: the contact's marketing opt-out changes.
    pub opt_out: Option<OptOutChange>,
    /// `user_changed_number`: the sender's new `wa_id`; the contact moves to it.
    pub changed_number: Option<String>,
    /// `context.id` of a reply: the store resolves it to the gateway's own message id.
    pub context_wamid: Option<String>,
    /// It answers the user's latest campaign message on the channel sent since then (ms):
    /// stored, it marks that campaign recipient replied, in the same transaction.
    pub replies_since: Option<i64>,
    /// The message's media, to download from Meta: stored with the message, as a pending
    /// download job, in the same transaction (and not when the message was already stored).
    pub media: Option<crate::media::NewDownload>,
}

/// Filters for listing messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only this channel.
    pub channel_id: Option<String>,
    /// Only this status.
    pub status: Option<MessageStatus>,
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only to or from this `wa_id` / BSUID.
    pub recipient: Option<String>,
    /// Created at or after (ms). With either bound the page is in (`created_at`, id) order,
    /// newest first, read through `messages_created`.
    pub created_from: Option<i64>,
    /// Created before (ms).
    pub created_to: Option<i64>,
    /// Only this session's messages.
    pub session_id: Option<String>,
}

/// A page request: newest first (webhook endpoints: oldest first), `after` is the last id of
/// the previous page.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items per page.
    pub limit: u32,
    /// Cursor: return items older than this id (newer, for a list in oldest-first order).
    pub after: Option<String>,
}

/// A message template of a WABA, as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// `tpl_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The WhatsApp Business Account it belongs to.
    pub waba_id: String,
    /// Template name.
    pub name: String,
    /// Language code (`en_US`).
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`, when known.
    pub category: Option<String>,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, … (`UNKNOWN` until told).
    pub status: String,
    /// Meta's template id.
    pub meta_template_id: Option<String>,
    /// Components (a JSON array), when known.
    pub components: Value,
    /// Quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    pub quality_score: Option<String>,
    /// Why Meta rejected, paused or disabled it.
    pub reason: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`) parameters, when known.
    pub parameter_format: Option<String>,
    /// The category it had before Meta re-categorised it, when Meta did.
    pub previous_category: Option<String>,
    /// How long Meta keeps trying to deliver a message of it (`message_send_ttl_seconds`).
    pub message_send_ttl_seconds: Option<i64>,
    /// When it was deleted: set while `status` is `DELETED`, `None` otherwise.
    pub deleted_at: Option<i64>,
}

/// A template the gateway submitted to Meta (status `PENDING`), or recreates after a
/// deletion (see [`crate::TemplateStore::create_template`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTemplate {
    /// Owner.
    pub tenant_id: String,
    /// The WABA it belongs to.
    pub waba_id: String,
    /// Template name.
    pub name: String,
    /// Language code (`en_US`).
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// Components (a JSON array).
    pub components: Value,
    /// Status Meta answered with (`PENDING`, `APPROVED`, `REJECTED`).
    pub status: String,
    /// Meta's template id, when Meta gave one.
    pub meta_template_id: Option<String>,
    /// `message_send_ttl_seconds`, when set.
    pub message_send_ttl_seconds: Option<i64>,
    /// When (ms).
    pub at: i64,
}

/// An edit of a template's definition (`POST /{template_id}`): the fields that are `Some`
/// replace the stored ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateEdit {
    /// Owner.
    pub tenant_id: String,
    /// The gateway's id (`tpl_…`) or Meta's template id.
    pub id: String,
    /// New components.
    pub components: Option<Value>,
    /// New category.
    pub category: Option<String>,
    /// New `message_send_ttl_seconds`.
    pub message_send_ttl_seconds: Option<i64>,
    /// The status Meta answered the edit with (an edit of an approved template goes back to
    /// review).
    pub status: Option<String>,
    /// When (ms).
    pub at: i64,
}

/// A template as Meta lists it (a sync): replaces what the gateway knows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncedTemplate {
    /// Owner (the tenant of the WABA).
    pub tenant_id: String,
    /// The WABA.
    pub waba_id: String,
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Meta's template id.
    pub meta_template_id: String,
    /// Category.
    pub category: Option<String>,
    /// Status.
    pub status: String,
    /// Components (a JSON array).
    pub components: Value,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: Option<String>,
    /// Quality score.
    pub quality_score: Option<String>,
    /// Rejection reason.
    pub reason: Option<String>,
    /// The category before Meta re-categorised it.
    pub previous_category: Option<String>,
    /// `message_send_ttl_seconds`.
    pub message_send_ttl_seconds: Option<i64>,
    /// When (ms).
    pub at: i64,
}

/// What [`crate::TemplateStore::sync_template`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncOutcome {
    /// The template as it is now.
    pub template: Template,
    /// The gateway did not know it before.
    pub created: bool,
    /// It was created, or something Meta lists of it differed from what the gateway knew.
    pub changed: bool,
}

/// Filters and page for listing templates: exact matches, in id order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TemplateFilter {
    /// Owner.
    pub tenant_id: String,
    /// Only this WABA.
    pub waba_id: Option<String>,
    /// Only this name.
    pub name: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this language.
    pub language: Option<String>,
    /// Deleted templates too.
    pub include_deleted: bool,
    /// Cursor: only templates whose id is greater than this one.
    pub after: Option<String>,
    /// Cursor backwards: only templates whose id is less than this one, the `limit` nearest
    /// to it (still returned in id order).
    pub before: Option<String>,
    /// Most templates returned.
    pub limit: u32,
}

/// One entry of a template's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateEvent {
    /// The template (`tpl_…`).
    pub template_id: String,
    /// `created`, `status`, `quality`, `category`, `edited`, `synced` or `deleted`.
    pub kind: String,
    /// The new status, quality score or category, when the entry has one.
    pub value: Option<String>,
    /// The value before.
    pub previous: Option<String>,
    /// Meta's reason (of a rejection, pause, …).
    pub reason: Option<String>,
    /// More: the webhook's `value`, what an edit or a sync changed (a JSON object).
    pub detail: Value,
    /// When (ms).
    pub at: i64,
}

/// A change to a template learnt from Meta (a template webhook): the fields that are `Some`
/// replace the stored ones; the template is created if the gateway did not know it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateUpdate {
    /// Owner (the tenant of the WABA's channel).
    pub tenant_id: String,
    /// The WABA.
    pub waba_id: String,
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// New category.
    pub category: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// Meta's template id.
    pub meta_template_id: Option<String>,
    /// Reason of a rejection, pause or disabling.
    pub reason: Option<String>,
    /// New quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    pub quality_score: Option<String>,
    /// The category before Meta re-categorised it.
    pub previous_category: Option<String>,
    /// The history entry it makes: `status`, `quality` or `category`.
    pub event: String,
    /// The webhook's `value`, kept in the history.
    pub detail: Value,
    /// When (ms).
    pub at: i64,
}

/// Where the gateway delivers a tenant's events: an HTTPS endpoint of the business, with what
/// it subscribes to and how the requests are signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `whe_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Where events are delivered.
    pub url: String,
    /// What the tenant wrote about it.
    pub description: Option<String>,
    /// Event-type patterns it subscribes to, in the tenant's order: an exact type
    /// (`session.opened`), a family (`message.*`) or everything (`*`).
    pub events: Vec<String>,
    /// Payload format: `native` (the gateway's events), `meta` (Meta's webhooks as Meta sent
    /// them), or a vendor's own (`chakra`, `connectly`: its events in that vendor's shape).
    pub format: String,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// Why it was disabled (by the tenant or by the gateway after failing too long).
    pub disabled_reason: Option<String>,
    /// The current signing secret, encrypted by the caller.
    pub secret_enc: String,
    /// The secret before the last rotation (encrypted), still signing alongside the current one
    /// until `previous_secret_expires_at`.
    pub previous_secret_enc: Option<String>,
    /// When the previous secret stops signing (ms).
    pub previous_secret_expires_at: Option<i64>,
    /// First failure of the current run of failed deliveries (ms); `None` once a delivery
    /// succeeds.
    pub failing_since: Option<i64>,
    /// Where its delivery has got to (every event before it was attempted); `None` before
    /// the first delivery. Kept by the store ([`crate::EventStore::record_deliveries`]):
    /// [`crate::EndpointStore::update_webhook_endpoint`] leaves it as it is.
    #[serde(default)]
    pub cursor: Option<EventCursor>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// What the endpoint was set up with beyond the above (a JSON object, kept as given by the
    /// server: a vendor format's settings, an encrypted verification token); `None` for most.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
}

/// Where a reader of the events has got to. On SQLite `seq` alone orders the events (one
/// writer: commit order); on PostgreSQL events are ordered by the writing transaction's id,
/// then `seq` (see migration 0007), and `xid` is that id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct EventCursor {
    /// The writing transaction (PostgreSQL); 0 on SQLite.
    pub xid: i64,
    /// The event's sequence number.
    pub seq: i64,
}

/// An event's payload format.
pub mod event_format {
    /// The gateway's own events (`{"id", "type", "created_at", "data"}`).
    pub const NATIVE: &str = "native";
    /// Meta's webhook envelope as Meta sent it (for endpoints in Meta's format).
    pub const META: &str = "meta";
    /// ChakraHQ's webhook (`deliveryStatus` events), made from the native events at delivery.
    pub const CHAKRA: &str = "chakra";
    /// Connectly's topics (`messages`, `delivery_status`), made from the native events at
    /// delivery.
    pub const CONNECTLY: &str = "connectly";

    /// The stored events an endpoint of `format` is made from: Meta's envelopes for `meta`,
    /// the native events for every other format.
    pub fn source(format: &str) -> &'static str {
        if format == META { META } else { NATIVE }
    }
}

/// Something that happened, for the tenant's systems: written in the transaction of the
/// change it reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_…`: the `webhook-id` of every delivery of it.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Its type (`message.status`, …; see `openbsp_domain::events::CATALOGUE`).
    pub kind: String,
    /// [`event_format::NATIVE`] or [`event_format::META`].
    pub format: String,
    /// When (ms).
    pub created_at: i64,
    /// The data (native) or Meta's envelope (meta).
    pub data: Value,
    /// Its place in the order of events.
    pub cursor: EventCursor,
}

/// An event to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// `evt_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Its type.
    pub kind: String,
    /// [`event_format::NATIVE`] or [`event_format::META`].
    pub format: String,
    /// When (ms).
    pub created_at: i64,
    /// The data.
    pub data: Value,
}

impl NewEvent {
    /// A native event of `kind` with `data`, made now. An event's time is when the gateway
    /// recorded the change (what `since`/`until` and delivery's lag measure); the time of the
    /// change itself (Meta's timestamp, for one) is in its data.
    pub fn native(tenant_id: &str, kind: &str, data: Value) -> NewEvent {
        let at = chrono::Utc::now().timestamp_millis();
        NewEvent {
            id: openbsp_domain::ids::new_id_at(openbsp_domain::ids::prefix::EVENT, at),
            tenant_id: tenant_id.to_string(),
            kind: kind.to_string(),
            format: event_format::NATIVE.to_string(),
            created_at: at,
            data,
        }
    }
}

/// Which of a tenant's events `GET /v1/events` lists: newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only these types (exact types, `group.*` or `*`); all when empty.
    pub types: Vec<String>,
    /// Only events made at or after (ms). With either bound the page is in (`created_at`,
    /// seq) order, newest first, read through `events_created`.
    pub since: Option<i64>,
    /// Only events made before (ms).
    pub until: Option<i64>,
    /// Events older than this event (the last id of the previous page).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// The endpoint.
    pub endpoint_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The event.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it was made (ms).
    pub at: i64,
    /// Whether the endpoint answered 2xx.
    pub succeeded: bool,
    /// The answer's status code, if there was an answer.
    pub status_code: Option<u16>,
    /// How long it took.
    pub latency_ms: i64,
    /// Why there was no answer (timeout, connection refused…).
    pub error: Option<String>,
    /// The first bytes of the answer.
    pub response: Option<String>,
    /// When it will be tried again; `None` when it succeeded or was the last attempt.
    pub next_attempt_at: Option<i64>,
}

/// A delivery waiting for its next attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    /// The event.
    pub event: Event,
    /// The number the attempt will have.
    pub attempt: u32,
    /// When it is due (ms).
    pub due_at: i64,
}

/// What a batch of delivery attempts to one endpoint changes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryRecord {
    /// The endpoint.
    pub endpoint_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The endpoint's cursor moves here (never back), when the batch read new events.
    pub cursor: Option<EventCursor>,
    /// The attempts made, for the log.
    pub attempts: Vec<DeliveryAttempt>,
    /// Deliveries to try again: event id, attempt number and due time (replacing what was
    /// pending for that event).
    pub retries: Vec<(String, u32, i64)>,
    /// Pending deliveries now done (succeeded or given up): event ids.
    pub done: Vec<String>,
    /// The endpoint's `failing_since` becomes this (`Some(None)` clears it; `None` leaves it).
    pub failing_since: Option<Option<i64>>,
    /// Disables the endpoint with this reason and writes the event (`endpoint.disabled`).
    pub disable: Option<(String, NewEvent)>,
    /// When (ms): the endpoint's `updated_at` if it is disabled.
    pub at: i64,
}

/// Which of an endpoint's attempts `GET /v1/webhook-endpoints/{id}/deliveries` lists: newest
/// first.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    /// Only attempts at this event.
    pub event_id: Option<String>,
    /// Only successes (`Some(true)`) or failures (`Some(false)`).
    pub succeeded: Option<bool>,
    /// Attempts older than the one with this `seq` (the cursor of the previous page).
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// An attempt as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAttempt {
    /// Its place in the log (the page cursor).
    pub seq: i64,
    /// The attempt.
    pub attempt: DeliveryAttempt,
}

/// What a manual replay sends again to an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplaySelection {
    /// One event of the endpoint's tenant (its id), whatever became of its delivery.
    Event(String),
    /// Every event made in `[since, until)` whose delivery to the endpoint has failed (no
    /// attempt succeeded).
    Failed {
        /// From (ms).
        since: i64,
        /// Until (ms).
        until: i64,
    },
}
