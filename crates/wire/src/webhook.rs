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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// The business number, digits.
    #[serde(default)]
    pub display_phone_number: String,
    /// The business number's id.
    pub phone_number_id: String,
}

/// `contacts[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
}
