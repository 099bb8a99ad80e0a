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
    /// Messaging-limit tier (`TIER_250`, …), when known.
    pub messaging_tier: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
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
    /// `profile.name` from the last inbound message.
    pub profile_name: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The message this one replies to (as the client gave it).
    pub context_message_id: Option<String>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
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
}

/// What [`crate::Store::enqueue_outbound`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum EnqueueOutcome {
    /// Stored and queued.
    Created(Message),
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
}

/// The outcome of one send attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// Meta answered with a `wamid`.
    Accepted {
        /// Message.
        message_id: String,
        /// Meta's id.
        wamid: String,
        /// When.
        at: i64,
    },
    /// Meta refused it for good.
    Failed {
        /// Message.
        message_id: String,
        /// Meta's error object (code, message, details).
        error: Value,
        /// When.
        at: i64,
    },
    /// Try again at `next_at`.
    Retry {
        /// Message.
        message_id: String,
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
}

/// What applying a status did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// The message moved to the new status.
    Advanced {
        /// Message.
        message_id: String,
    },
    /// Recorded in history, but the message already had a later status (or it was a
    /// duplicate).
    Kept {
        /// Message.
        message_id: String,
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
    /// Created at or after (ms).
    pub created_from: Option<i64>,
    /// Created before (ms).
    pub created_to: Option<i64>,
}

/// A page request: newest first, `after` is the last id of the previous page.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items per page.
    pub limit: u32,
    /// Cursor: return items older than this id.
    pub after: Option<String>,
}
