//! Meta's webhook envelope (reference `cloud-api.md` §3): the shapes the gateway's receiver
//! reads and the simulator writes.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{object: "whatsapp_business_account", entry: [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Always `whatsapp_business_account`.
    pub object: String,
    /// One entry per WABA.
    pub entry: Vec<Entry>,
}

/// One WABA's changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The WABA id.
    pub id: String,
    /// Unix seconds, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// The changes.
    pub changes: Vec<Change>,
}

/// The fields of Meta's webhooks an app may subscribe to (reference §3.5).
pub const FIELDS: &[&str] = &[
    "account_alerts",
    "account_review_update",
    "account_update",
    "automatic_events",
    "business_capability_update",
    "business_username_updates",
    "history",
    "message_template_components_update",
    "message_template_quality_update",
    "message_template_status_update",
    "messages",
    "partner_solutions",
    "payment_configuration_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "security",
    "smb_app_state_sync",
    "smb_message_echoes",
    "template_category_update",
    "user_preferences",
];

/// `field` as a metric label: one of [`FIELDS`], or `other`. A payload's text must never
/// become a label as it is: each new value would open a series of its own.
pub fn field_label(field: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|f| **f == field)
        .copied()
        .unwrap_or("other")
}

/// One change: a field name and its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// `messages`, `message_template_status_update`, …
    pub field: String,
    /// The field's payload; parse `messages` values with [`MessagesValue`].
    pub value: Value,
}

/// The value of a `messages` change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessagesValue {
    /// Always `whatsapp`.
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// Which business number this is about.
    pub metadata: Metadata,
    /// Profiles of the users in `messages` (and, with BSUIDs, in `statuses`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<WebhookContact>,
    /// Inbound messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<InboundMessage>,
    /// Status updates of outbound messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<Status>,
    /// Errors not tied to one message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Value>,
}

/// `metadata` of a `messages` change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The business number, digits.
    #[serde(default)]
    pub display_phone_number: String,
    /// The business number's id.
    pub phone_number_id: String,
}

/// `contacts[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookContact {
    /// Profile (name, username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Phone digits, absent for users who hide their number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Business-scoped user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Parent BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
}

/// `contacts[].profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Username (2026).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `messages[]`: an inbound message. Kind-specific fields are kept in `rest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundMessage {
    /// Sender's phone digits (may be absent with BSUIDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Sender's BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    /// The `wamid`.
    pub id: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// Message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Everything else (`text`, `image`, `context`, `referral`, …).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl InboundMessage {
    /// `text.body` for text messages.
    pub fn text_body(&self) -> Option<&str> {
        self.rest.get("text")?.get("body")?.as_str()
    }

    /// The object named after the message's type (`text`, `image`, `interactive`, …).
    pub fn payload(&self) -> Option<&Map<String, Value>> {
        self.rest.get(&self.kind)?.as_object()
    }

    /// `context.id`: the message this one replies to, quotes or was tapped on.
    pub fn context_id(&self) -> Option<&str> {
        self.rest.get("context")?.get("id")?.as_str()
    }

    /// `context.from`: who sent the message in [`InboundMessage::context_id`] (the business
    /// number, for replies to the business).
    pub fn context_from(&self) -> Option<&str> {
        self.rest.get("context")?.get("from")?.as_str()
    }

    /// `context.forwarded` or `context.frequently_forwarded` (forwarded more than 5 times).
    pub fn forwarded(&self) -> bool {
        let ctx = self.rest.get("context");
        ["forwarded", "frequently_forwarded"]
            .iter()
            .any(|k| ctx.and_then(|c| c.get(*k)).and_then(Value::as_bool) == Some(true))
    }

    /// The entry point the user came from, when the message started at a Click-to-WhatsApp
    /// ad or a Facebook page button (`referral`). Such a message opens a free entry point
    /// window when the business answers within 24 hours (reference §5.1).
    pub fn referral(&self) -> Option<Referral> {
        let r = self.rest.get("referral")?;
        if !r.is_object() {
            return None;
        }
        serde_json::from_value(r.clone()).ok()
    }

    /// A reaction: the message reacted to and the emoji; `None` as the emoji (absent or empty)
    /// removes an earlier reaction.
    pub fn reaction(&self) -> Option<(&str, Option<&str>)> {
        if self.kind != "reaction" {
            return None;
        }
        let r = self.rest.get("reaction")?;
        let message_id = r.get("message_id")?.as_str()?;
        let emoji = r
            .get("emoji")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty());
        Some((message_id, emoji))
    }

    /// For `type: "system"` with `system.type: "user_changed_number"`: the user's new
    /// `wa_id` (`system.wa_id`, or `system.new_wa_id` in older payloads). The message's
    /// `from` is the old number.
    pub fn system_change(&self) -> Option<&str> {
        if self.kind != "system" {
            return None;
        }
        let sys = self.rest.get("system")?;
        if sys.get("type")?.as_str()? != "user_changed_number" {
            return None;
        }
        ["wa_id", "new_wa_id"]
            .iter()
            .find_map(|k| sys.get(*k).and_then(Value::as_str))
            .filter(|w| !w.is_empty())
    }

    /// The message's `errors[]` (Meta sets them on `unsupported` messages: 131051 "Message
    /// type unknown", 131060, …); empty when there are none.
    pub fn errors(&self) -> &[Value] {
        self.rest
            .get("errors")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The kind of message, by the list of reference §3.3.
    pub fn inbound_kind(&self) -> InboundKind {
        InboundKind::classify(&self.kind, self.payload())
    }

    /// A short human-readable text for any kind of message, for lists and notifications:
    /// the text itself, a caption, the tapped button or row, the place's name, or the kind
    /// in brackets (`[sticker]`). At most [`PREVIEW_MAX_CHARS`] characters.
    pub fn preview_text(&self) -> String {
        let full = self.full_preview();
        if full.chars().count() <= PREVIEW_MAX_CHARS {
            return full;
        }
        let mut cut: String = full.chars().take(PREVIEW_MAX_CHARS - 1).collect();
        cut.push('…');
        cut
    }

    fn full_preview(&self) -> String {
        let p = self.payload();
        let field = |name: &str| -> Option<String> {
            p.and_then(|o| o.get(name))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let bracket = |s: &str| format!("[{s}]");
        match self.inbound_kind() {
            InboundKind::Text => field("body").unwrap_or_else(|| bracket("text")),
            InboundKind::Image | InboundKind::Video => {
                field("caption").unwrap_or_else(|| bracket(&self.kind))
            }
            InboundKind::Document => field("caption")
                .or_else(|| field("filename"))
                .unwrap_or_else(|| bracket("document")),
            InboundKind::Audio { voice: true } => bracket("voice message"),
            InboundKind::Audio { voice: false } => bracket("audio"),
            InboundKind::Sticker => bracket("sticker"),
            InboundKind::Interactive(reply) => {
                let inner = |name: &str, key: &str| {
                    p.and_then(|o| o.get(name))
                        .and_then(|r| r.get(key))
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                };
                match reply {
                    InteractiveReply::ButtonReply => inner("button_reply", "title"),
                    InteractiveReply::ListReply => inner("list_reply", "title"),
                    InteractiveReply::NfmReply => {
                        inner("nfm_reply", "body").or_else(|| inner("nfm_reply", "name"))
                    }
                    InteractiveReply::Other(_) => None,
                }
                .unwrap_or_else(|| bracket("interactive"))
            }
            InboundKind::Button => field("text")
                .or_else(|| field("payload"))
                .unwrap_or_else(|| bracket("button")),
            InboundKind::Reaction => match self.reaction() {
                Some((_, Some(emoji))) => format!("Reacted {emoji}"),
                _ => bracket("reaction removed"),
            },
            InboundKind::Location => match (field("name"), field("address")) {
                (Some(n), _) => format!("[location] {n}"),
                (None, Some(a)) => format!("[location] {a}"),
                (None, None) => bracket("location"),
            },
            InboundKind::Contacts => {
                let cards = self.rest.get("contacts").and_then(Value::as_array);
                let name = cards
                    .and_then(|c| c.first())
                    .and_then(|c| c.pointer("/name/formatted_name"))
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                match (name, cards.map_or(0, Vec::len)) {
                    (Some(n), 0 | 1) => format!("[contact] {n}"),
                    (Some(n), k) => format!("[contact] {n} and {} more", k - 1),
                    (None, _) => bracket("contact"),
                }
            }
            InboundKind::Order => {
                let items = p
                    .and_then(|o| o.get("product_items"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let plural = if items == 1 { "" } else { "s" };
                match field("text") {
                    Some(t) => format!("[order] {items} item{plural}: {t}"),
                    None => format!("[order] {items} item{plural}"),
                }
            }
            InboundKind::System => field("body").unwrap_or_else(|| bracket("system")),
            InboundKind::Unsupported => match field("type") {
                Some(t) => format!("[unsupported: {t}]"),
                None => bracket("unsupported"),
            },
            InboundKind::RequestWelcome => bracket("request_welcome"),
            InboundKind::Other(kind) => bracket(&kind),
        }
    }
}

/// Longest [`InboundMessage::preview_text`], in characters.
pub const PREVIEW_MAX_CHARS: usize = 200;

/// The kinds of inbound message of reference §3.3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InboundKind {
    /// `text`.
    Text,
    /// `image`.
    Image,
    /// `video`.
    Video,
    /// `audio`; `voice` for a voice note recorded in WhatsApp.
    Audio {
        /// `audio.voice`.
        voice: bool,
    },
    /// `document`.
    Document,
    /// `sticker`.
    Sticker,
    /// `interactive`: a reply to an interactive message, or a Flow's answer.
    Interactive(InteractiveReply),
    /// `button`: a template's quick-reply button was tapped.
    Button,
    /// `reaction`: added, or removed (no emoji).
    Reaction,
    /// `location`.
    Location,
    /// `contacts`: shared contact cards.
    Contacts,
    /// `order`: a cart sent from a catalog.
    Order,
    /// `system`: e.g. the user changed number.
    System,
    /// `unsupported`: a kind Meta does not pass on (polls, …); see `errors[]`.
    Unsupported,
    /// `request_welcome`: the user opened the chat for the first time (no content).
    RequestWelcome,
    /// A type this list does not know.
    Other(String),
}

/// What kind of answer an `interactive` inbound message carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InteractiveReply {
    /// `button_reply {id, title}`: a reply button was tapped.
    ButtonReply,
    /// `list_reply {id, title, description}`: a list row was chosen.
    ListReply,
    /// `nfm_reply {response_json, body, name}`: a Flow (or address message) was completed.
    NfmReply,
    /// Another `interactive.type`.
    Other(String),
}

impl InboundKind {
    /// Classifies Meta's `type` and the object named after it.
    pub fn classify(kind: &str, payload: Option<&Map<String, Value>>) -> InboundKind {
        match kind {
            "text" => InboundKind::Text,
            "image" => InboundKind::Image,
            "video" => InboundKind::Video,
            "audio" => InboundKind::Audio {
                voice: payload
                    .and_then(|p| p.get("voice"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            "document" => InboundKind::Document,
            "sticker" => InboundKind::Sticker,
            "interactive" => {
                let sub = payload
                    .and_then(|p| p.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                InboundKind::Interactive(match sub {
                    "button_reply" => InteractiveReply::ButtonReply,
                    "list_reply" => InteractiveReply::ListReply,
                    "nfm_reply" => InteractiveReply::NfmReply,
                    other => InteractiveReply::Other(other.to_string()),
                })
            }
            "button" => InboundKind::Button,
            "reaction" => InboundKind::Reaction,
            "location" => InboundKind::Location,
            "contacts" => InboundKind::Contacts,
            "order" => InboundKind::Order,
            "system" => InboundKind::System,
            "unsupported" => InboundKind::Unsupported,
            "request_welcome" => InboundKind::RequestWelcome,
            other => InboundKind::Other(other.to_string()),
        }
    }

    /// Meta's `type` for this kind.
    pub fn type_name(&self) -> &str {
        match self {
            InboundKind::Other(k) => k,
            known => known.known_name().unwrap_or_default(),
        }
    }

    /// The kind as a metric label: Meta's `type` for the kinds of the list, `other` for any
    /// other. A payload's text must never become a label as it is: each new value would open
    /// a series of its own.
    pub fn metric_label(&self) -> &'static str {
        self.known_name().unwrap_or("other")
    }

    /// Meta's `type` for the kinds of the list; `None` for [`InboundKind::Other`].
    fn known_name(&self) -> Option<&'static str> {
        Some(match self {
            InboundKind::Text => "text",
            InboundKind::Image => "image",
            InboundKind::Video => "video",
            InboundKind::Audio { .. } => "audio",
            InboundKind::Document => "document",
            InboundKind::Sticker => "sticker",
            InboundKind::Interactive(_) => "interactive",
            InboundKind::Button => "button",
            InboundKind::Reaction => "reaction",
            InboundKind::Location => "location",
            InboundKind::Contacts => "contacts",
            InboundKind::Order => "order",
            InboundKind::System => "system",
            InboundKind::Unsupported => "unsupported",
            InboundKind::RequestWelcome => "request_welcome",
            InboundKind::Other(_) => return None,
        })
    }

    /// Whether the message carries media to download (`id`, `mime_type`, `sha256`).
    pub fn has_media(&self) -> bool {
        matches!(
            self,
            InboundKind::Image
                | InboundKind::Video
                | InboundKind::Audio { .. }
                | InboundKind::Document
                | InboundKind::Sticker
        )
    }
}

/// `messages[].referral`: the Click-to-WhatsApp ad or Facebook post the user came from
/// (reference §3.3). Fields Meta adds later are kept in `rest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    /// The ad's or post's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// The ad's or post's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// `ad` or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// The ad's body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The ad's headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// `image` or `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The ad's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// The ad's video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// The video's thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Click id for conversion reporting (absent for ads in Status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctwa_clid: Option<String>,
    /// Everything else (`welcome_message`, …).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Referral {
    /// `welcome_message.text`: the greeting the ad showed.
    pub fn welcome_text(&self) -> Option<&str> {
        self.rest.get("welcome_message")?.get("text")?.as_str()
    }
}

/// The value of a `user_preferences` change: users stopping or resuming marketing messages
/// (reference §3.5, §5.5). Sending marketing templates to a user who stopped fails with
/// 131050.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserPreferencesValue {
    /// Always `whatsapp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    /// Which business number this is about.
    pub metadata: Metadata,
    /// Profiles of the users concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<WebhookContact>,
    /// The preference changes.
    #[serde(default)]
    pub user_preferences: Vec<UserPreference>,
}

/// One `user_preferences[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPreference {
    /// The user's phone digits (may be absent with BSUIDs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The user's BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Meta's description (`User requested to stop marketing messages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What the preference is about: `marketing_messages`.
    pub category: String,
    /// `stop` or `resume`.
    pub value: PreferenceValue,
    /// When, in Unix seconds (Meta sends a number; a string is accepted too).
    #[serde(deserialize_with = "unix_seconds")]
    pub timestamp: i64,
}

impl UserPreference {
    /// For `marketing_messages`: `Some(true)` when the user stopped them, `Some(false)` when
    /// the user resumed them; `None` for other categories and values.
    pub fn marketing_opt_out(&self) -> Option<bool> {
        if self.category != "marketing_messages" {
            return None;
        }
        match self.value {
            PreferenceValue::Stop => Some(true),
            PreferenceValue::Resume => Some(false),
            PreferenceValue::Other(_) => None,
        }
    }
}

/// `user_preferences[].value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PreferenceValue {
    /// `stop`.
    Stop,
    /// `resume`.
    Resume,
    /// Anything else, kept as sent.
    Other(String),
}

impl From<String> for PreferenceValue {
    fn from(s: String) -> Self {
        match s.as_str() {
            "stop" => PreferenceValue::Stop,
            "resume" => PreferenceValue::Resume,
            _ => PreferenceValue::Other(s),
        }
    }
}

impl From<PreferenceValue> for String {
    fn from(v: PreferenceValue) -> Self {
        match v {
            PreferenceValue::Stop => "stop".to_string(),
            PreferenceValue::Resume => "resume".to_string(),
            PreferenceValue::Other(s) => s,
        }
    }
}

/// Unix seconds written as a JSON number or as a decimal string.
fn unix_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom(format!("timestamp {n} is not whole seconds"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("timestamp \"{s}\" is not Unix seconds"))),
        other => Err(D::Error::custom(format!(
            "timestamp must be a number or a string, got {other}"
        ))),
    }
}

impl Change {
    /// The value of a `messages` change; `None` for other fields.
    pub fn messages(&self) -> Option<Result<MessagesValue, serde_json::Error>> {
        (self.field == "messages").then(|| MessagesValue::deserialize(&self.value))
    }

    /// The value of a `user_preferences` change; `None` for other fields.
    pub fn user_preferences(&self) -> Option<Result<UserPreferencesValue, serde_json::Error>> {
        (self.field == "user_preferences").then(|| UserPreferencesValue::deserialize(&self.value))
    }
}

/// `statuses[]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The `wamid` of the outbound message.
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed`, `played`.
    pub status: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// Recipient digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// Recipient BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    /// Echo of the send's `biz_opaque_callback_data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// Conversation (FEP windows, older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Value>,
    /// Pricing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Value>,
    /// Errors, on `failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Value>,
}

/// What the receiver needs to find the app whose secret signed a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingKey {
    /// The first `metadata.phone_number_id` found.
    PhoneNumberId(String),
    /// No phone number in the payload: the first entry's WABA id.
    WabaId(String),
}

/// Finds the routing key of a webhook body without building the whole document.
pub fn routing_key(body: &[u8]) -> Option<RoutingKey> {
    #[derive(Deserialize)]
    struct Env {
        entry: Vec<E>,
    }
    #[derive(Deserialize)]
    struct E {
        id: Option<String>,
        #[serde(default)]
        changes: Vec<C>,
    }
    #[derive(Deserialize)]
    struct C {
        #[serde(default)]
        value: Option<V>,
    }
    #[derive(Deserialize)]
    struct V {
        #[serde(default)]
        metadata: Option<M>,
        #[serde(flatten)]
        _rest: std::collections::HashMap<String, IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct M {
        phone_number_id: Option<String>,
    }
    let env: Env = serde_json::from_slice(body).ok()?;
    for e in &env.entry {
        for c in &e.changes {
            if let Some(p) = c
                .value
                .as_ref()
                .and_then(|v| v.metadata.as_ref())
                .and_then(|m| m.phone_number_id.clone())
            {
                return Some(RoutingKey::PhoneNumberId(p));
            }
        }
    }
    env.entry
        .into_iter()
        .find_map(|e| e.id)
        .map(RoutingKey::WabaId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_phone_number_id() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PNID"},"statuses":[]}}]}]}"#;
        assert_eq!(
            routing_key(body),
            Some(RoutingKey::PhoneNumberId("PNID".into()))
        );
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}"#;
        assert_eq!(routing_key(body), Some(RoutingKey::WabaId("WABA".into())));
        assert_eq!(routing_key(b"not json"), None);
    }

    #[test]
    fn parses_statuses_and_messages() {
        let v: MessagesValue = serde_json::from_value(serde_json::json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "1555", "phone_number_id": "P"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15551234567"}],
            "messages": [{"from": "15551234567", "id": "wamid.A", "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}}],
            "statuses": [{"id": "wamid.B", "status": "read", "timestamp": "1700000001", "recipient_id": "1555", "biz_opaque_callback_data": "msg_1"}]
        })).unwrap();
        assert_eq!(v.messages[0].text_body(), Some("hi"));
        assert_eq!(
            v.statuses[0].biz_opaque_callback_data.as_deref(),
            Some("msg_1")
        );
        assert_eq!(
            v.contacts[0].profile.as_ref().unwrap().name.as_deref(),
            Some("Ana")
        );
    }

    fn msg(v: serde_json::Value) -> InboundMessage {
        let mut base =
            serde_json::json!({"from": "16505551234", "id": "wamid.A", "timestamp": "1750000000"});
        if let (Some(b), Some(extra)) = (base.as_object_mut(), v.as_object()) {
            b.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn reactions_and_their_removal() {
        let m = msg(
            serde_json::json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "\u{1F44D}"}}),
        );
        assert_eq!(m.reaction(), Some(("wamid.X", Some("\u{1F44D}"))));
        assert_eq!(m.preview_text(), "Reacted \u{1F44D}");
        for removal in [
            serde_json::json!({"message_id": "wamid.X"}),
            serde_json::json!({"message_id": "wamid.X", "emoji": ""}),
        ] {
            let m = msg(serde_json::json!({"type": "reaction", "reaction": removal}));
            assert_eq!(m.reaction(), Some(("wamid.X", None)));
            assert_eq!(m.preview_text(), "[reaction removed]");
        }
        let m = msg(serde_json::json!({"type": "reaction", "reaction": {"emoji": "x"}}));
        assert_eq!(m.reaction(), None, "no message id, no reaction");
        let m = msg(
            serde_json::json!({"type": "text", "text": {"body": "hi"}, "reaction": {"message_id": "wamid.X"}}),
        );
        assert_eq!(m.reaction(), None, "only reaction messages are reactions");
    }

    #[test]
    fn number_changes_read_both_spellings() {
        for key in ["wa_id", "new_wa_id"] {
            let m = msg(
                serde_json::json!({"type": "system", "system": {"body": "User A changed from 1 to 2", "type": "user_changed_number", key: "12195555358"}}),
            );
            assert_eq!(m.system_change(), Some("12195555358"), "{key}");
            assert_eq!(m.preview_text(), "User A changed from 1 to 2");
            assert_eq!(m.inbound_kind(), InboundKind::System);
        }
        let m = msg(
            serde_json::json!({"type": "system", "system": {"body": "x", "type": "customer_identity_changed", "wa_id": "1"}}),
        );
        assert_eq!(m.system_change(), None);
        let m = msg(
            serde_json::json!({"type": "text", "text": {"body": "x"}, "system": {"type": "user_changed_number", "wa_id": "1"}}),
        );
        assert_eq!(m.system_change(), None);
    }

    #[test]
    fn metric_labels_are_a_closed_set() {
        for kind in [
            "text",
            "image",
            "audio",
            "video",
            "document",
            "sticker",
            "location",
            "contacts",
            "interactive",
            "button",
            "reaction",
            "order",
            "system",
            "unsupported",
            "request_welcome",
        ] {
            let k = InboundKind::classify(kind, None);
            assert_eq!(k.metric_label(), kind);
            assert_eq!(k.type_name(), kind);
        }
        // Any other type is `other` as a label, and itself as a type.
        let odd = InboundKind::classify("x-1700000000-ffff", None);
        assert_eq!(odd.metric_label(), "other");
        assert_eq!(odd.type_name(), "x-1700000000-ffff");
        for field in FIELDS {
            assert_eq!(field_label(field), *field);
        }
        for field in ["", "Messages", "messages ", "made_up_field_42"] {
            assert_eq!(field_label(field), "other", "{field:?}");
        }
    }

    #[test]
    fn kinds_and_previews() {
        let cases = [
            (
                serde_json::json!({"type": "text", "text": {"body": "  hello  "}}),
                InboundKind::Text,
                "hello",
            ),
            (
                serde_json::json!({"type": "image", "image": {"id": "1", "mime_type": "image/jpeg"}}),
                InboundKind::Image,
                "[image]",
            ),
            (
                serde_json::json!({"type": "video", "video": {"id": "1", "mime_type": "video/mp4", "caption": "look"}}),
                InboundKind::Video,
                "look",
            ),
            (
                serde_json::json!({"type": "audio", "audio": {"id": "1", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
                InboundKind::Audio { voice: true },
                "[voice message]",
            ),
            (
                serde_json::json!({"type": "audio", "audio": {"id": "1", "mime_type": "audio/mpeg"}}),
                InboundKind::Audio { voice: false },
                "[audio]",
            ),
            (
                serde_json::json!({"type": "document", "document": {"id": "1", "mime_type": "application/pdf", "filename": "a.pdf"}}),
                InboundKind::Document,
                "a.pdf",
            ),
            (
                serde_json::json!({"type": "sticker", "sticker": {"id": "1", "mime_type": "image/webp", "animated": false}}),
                InboundKind::Sticker,
                "[sticker]",
            ),
            (
                serde_json::json!({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{}"}}}),
                InboundKind::Interactive(InteractiveReply::NfmReply),
                "Sent",
            ),
            (
                serde_json::json!({"type": "interactive", "interactive": {"type": "call_permission_reply", "call_permission_reply": {}}}),
                InboundKind::Interactive(InteractiveReply::Other("call_permission_reply".into())),
                "[interactive]",
            ),
            (
                serde_json::json!({"type": "button", "button": {"payload": "STOP"}}),
                InboundKind::Button,
                "STOP",
            ),
            (
                serde_json::json!({"type": "location", "location": {"latitude": 1.0, "longitude": 2.0}}),
                InboundKind::Location,
                "[location]",
            ),
            (
                serde_json::json!({"type": "location", "location": {"latitude": 1.0, "longitude": 2.0, "address": "1 Main St"}}),
                InboundKind::Location,
                "[location] 1 Main St",
            ),
            (
                serde_json::json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}}, {"name": {"formatted_name": "B"}}]}),
                InboundKind::Contacts,
                "[contact] A and 1 more",
            ),
            (
                serde_json::json!({"type": "order", "order": {"catalog_id": "1", "product_items": [{"product_retailer_id": "x"}]}}),
                InboundKind::Order,
                "[order] 1 item",
            ),
            (
                serde_json::json!({"type": "unsupported", "unsupported": {"type": "poll_update"}}),
                InboundKind::Unsupported,
                "[unsupported: poll_update]",
            ),
            (
                serde_json::json!({"type": "unsupported"}),
                InboundKind::Unsupported,
                "[unsupported]",
            ),
            (
                serde_json::json!({"type": "ephemeral"}),
                InboundKind::Other("ephemeral".into()),
                "[ephemeral]",
            ),
        ];
        for (v, kind, preview) in cases {
            let m = msg(v.clone());
            assert_eq!(m.inbound_kind(), kind, "{v}");
            assert_eq!(m.inbound_kind().type_name(), m.kind, "{v}");
            assert_eq!(m.preview_text(), preview, "{v}");
        }
        assert!(InboundKind::Sticker.has_media());
        assert!(!InboundKind::Location.has_media());
    }

    #[test]
    fn previews_are_cut_at_the_limit() {
        let exact = "é".repeat(PREVIEW_MAX_CHARS);
        let m = msg(serde_json::json!({"type": "text", "text": {"body": exact}}));
        assert_eq!(m.preview_text(), exact);
        let m = msg(
            serde_json::json!({"type": "text", "text": {"body": "é".repeat(PREVIEW_MAX_CHARS + 1)}}),
        );
        let p = m.preview_text();
        assert_eq!(p.chars().count(), PREVIEW_MAX_CHARS);
        assert!(p.ends_with('…'));
    }

    #[test]
    fn context_forwarding_and_errors() {
        let m = msg(
            serde_json::json!({"type": "text", "text": {"body": "x"}, "context": {"from": "15550783881", "id": "wamid.Q", "frequently_forwarded": true}}),
        );
        assert_eq!(m.context_id(), Some("wamid.Q"));
        assert_eq!(m.context_from(), Some("15550783881"));
        assert!(m.forwarded());
        assert!(m.errors().is_empty());
        assert!(m.referral().is_none());
        let m = msg(
            serde_json::json!({"type": "text", "text": {"body": "x"}, "referral": "not an object"}),
        );
        assert!(m.referral().is_none());
    }

    #[test]
    fn user_preferences_take_number_or_string_timestamps() {
        let value = serde_json::json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"wa_id": "16505551234", "user_id": "US.13491208655302741918", "profile": {"name": "Sheena"}}],
            "user_preferences": [
                {"wa_id": "16505551234", "user_id": "US.13491208655302741918", "detail": "User requested to stop marketing messages", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721},
                {"wa_id": "16505551234", "detail": "User requested to resume marketing messages", "category": "marketing_messages", "value": "resume", "timestamp": "1731705800"},
                {"user_id": "US.1", "category": "marketing_messages", "value": "pause", "timestamp": 1}
            ]
        });
        let change = Change {
            field: "user_preferences".into(),
            value: value.clone(),
        };
        assert!(change.messages().is_none());
        let v = change.user_preferences().unwrap().unwrap();
        assert_eq!(v.metadata.phone_number_id, "106540352242922");
        assert_eq!(
            v.contacts[0].user_id.as_deref(),
            Some("US.13491208655302741918")
        );
        let p = &v.user_preferences;
        assert_eq!(
            (p[0].timestamp, p[0].marketing_opt_out()),
            (1731705721, Some(true))
        );
        assert_eq!(
            (p[1].timestamp, p[1].marketing_opt_out()),
            (1731705800, Some(false))
        );
        assert_eq!(p[1].user_id, None);
        assert_eq!(p[2].value, PreferenceValue::Other("pause".into()));
        assert_eq!(p[2].marketing_opt_out(), None);
        // Serialises back to what was read (string timestamps become numbers).
        let back = serde_json::to_value(&v).unwrap();
        assert_eq!(back["user_preferences"][0], value["user_preferences"][0]);
        assert_eq!(back["user_preferences"][1]["timestamp"], 1731705800);
        for bad in [
            serde_json::json!("soon"),
            serde_json::json!(1.5),
            serde_json::json!(null),
        ] {
            let mut v = value.clone();
            v["user_preferences"][0]["timestamp"] = bad.clone();
            assert!(
                serde_json::from_value::<UserPreferencesValue>(v).is_err(),
                "{bad}"
            );
        }
    }
}
