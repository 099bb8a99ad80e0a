//! Plain records the simulator keeps and shows: the messages it accepted, the user
//! messages injected, free entry point windows, what a webhook carried and each attempt to
//! deliver one, and a template's pricing category. They hold no state and use nothing of
//! the simulator, so the state, the template store and webhook delivery all share them
//! without depending on each other.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use openbsp_wire::template::Category;

/// A message the simulator accepted on `POST /{version}/{phone_number_id}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    /// The `wamid` the simulator gave it.
    pub wamid: String,
    /// The business number it was sent from.
    pub phone_number_id: String,
    /// The recipient, normalised: the `wa_id` digits, or the BSUID of a `recipient` send.
    pub to: String,
    /// The request body exactly as received (parsed as JSON).
    pub body: Value,
    /// When it was accepted, by the simulator's clock (Unix ms).
    pub received_at_ms: i64,
}

/// A user message injected through the control API and delivered as a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// The `wamid` the simulator gave it.
    pub wamid: String,
    /// The business number it was sent to.
    pub phone_number_id: String,
    /// The user's phone digits, if given.
    pub from: Option<String>,
    /// The user's BSUID, if given.
    pub from_user_id: Option<String>,
    /// The `messages[]` object as delivered.
    pub message: Value,
    /// When the user sent it, by the simulator's clock (Unix ms).
    pub sent_at_ms: i64,
    /// When the business marked it read (`status: "read"`), if it did.
    pub read_at_ms: Option<i64>,
    /// Whether the mark-as-read asked for a typing indicator.
    pub typing_indicator: bool,
}

/// What a webhook carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// A `statuses[]` update.
    Status,
    /// A user message (`messages[]`).
    Inbound,
    /// A `user_preferences` change (marketing stop or resume).
    UserPreferences,
    /// A `message_template_status_update` (review outcome, pause, disable, ...).
    TemplateStatus,
    /// A `message_template_quality_update`.
    TemplateQuality,
    /// A `template_category_update` (the review re-categorised a template).
    TemplateCategory,
    /// A `phone_number_quality_update` (a throughput upgrade).
    PhoneQuality,
    /// A `business_capability_update` (the portfolio's messaging limit changed).
    BusinessCapability,
}

/// A free entry point (FEP) window: opened when the business answers, within 24 hours, a
/// user who came from a Click-to-WhatsApp ad or a page button (the message carried a
/// `referral`); for 72 hours every message to that user is free (reference §5.1, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPointWindow {
    /// `statuses[].conversation.id` of the messages inside it.
    pub conversation_id: String,
    /// When the business's first answer opened it (Unix ms, simulator clock).
    pub opened_at_ms: i64,
    /// When it closes (Unix ms): 72 hours after it opened.
    pub expires_at_ms: i64,
}

/// A template's category, which decides how its messages are priced (reference §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    /// Marketing (the default for templates the simulator was told nothing about).
    #[default]
    Marketing,
    /// Utility: free inside the customer service window.
    Utility,
    /// Authentication.
    Authentication,
    /// Authentication to a number of another country.
    AuthenticationInternational,
}

impl TemplateCategory {
    /// Meta's `pricing.category`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
            TemplateCategory::AuthenticationInternational => "authentication_international",
        }
    }
}

impl From<Category> for TemplateCategory {
    fn from(c: Category) -> TemplateCategory {
        match c {
            Category::Marketing => TemplateCategory::Marketing,
            Category::Utility => TemplateCategory::Utility,
            Category::Authentication => TemplateCategory::Authentication,
        }
    }
}

/// One attempt to deliver one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// Identifies the delivery; its retries (and an injected duplicate's) share nothing else.
    pub delivery_id: u64,
    /// 1 for the first attempt, then 2, 3, ...
    pub attempt: u32,
    /// Status or inbound message.
    pub kind: WebhookKind,
    /// The business number the webhook is about.
    pub phone_number_id: String,
    /// Where it was posted (empty when the number had no `webhook_url`).
    pub url: String,
    /// The HTTP status the receiver answered, if it answered.
    pub status: Option<u16>,
    /// What went wrong, when it did not answer 2xx.
    pub error: Option<String>,
    /// The exact body posted.
    pub body: String,
    /// When the attempt started, by the simulator's clock (Unix ms).
    pub at_ms: i64,
    /// How long the attempt took, in ms.
    pub duration_ms: u64,
}

impl WebhookAttempt {
    /// Whether the receiver accepted this attempt (2xx).
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }
}
