//! The webhook bodies the simulator sends, field for field in Meta's order:
//! `{"object":"whatsapp_business_account","entry":[{"id":<WABA>,"changes":[{"value":{...},
//! "field":"messages"}]}]}` with `statuses[]` or `contacts[]` + `messages[]` in the value,
//! or `"field":"user_preferences"` with `contacts[]` + `user_preferences[]`. Serialised with
//! [`crate::meta_json`], so the bytes are what Meta would sign.

use serde::Serialize;
use serde_json::Value;

use openbsp_wire::MetaError;
use openbsp_wire::webhook::{InboundMessage, Metadata, Profile, WebhookContact};

use crate::config::PhoneNumberConfig;

#[derive(Serialize)]
struct Envelope<'a, V> {
    object: &'static str,
    entry: [Entry<'a, V>; 1],
}

#[derive(Serialize)]
struct Entry<'a, V> {
    id: &'a str,
    /// Meta sets it on WABA-level changes (templates), not on `messages`.
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<i64>,
    changes: [Change<V>; 1],
}

#[derive(Serialize)]
struct Change<V> {
    value: V,
    field: &'static str,
}

#[derive(Serialize)]
struct MessagesValue<'a> {
    messaging_product: &'static str,
    metadata: Metadata,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    contacts: &'a [WebhookContact],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    messages: &'a [InboundMessage],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    statuses: &'a [StatusOut],
}

/// One `statuses[]` entry, in Meta's field order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusOut {
    pub id: String,
    pub status: &'static str,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Conversation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Value>,
}

/// `statuses[].conversation`: since v24 only sent while a free entry point window is open
/// (reference §3.4); `expiration_timestamp` only on `sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Conversation {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
    pub origin: Origin,
}

/// `statuses[].conversation.origin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Origin {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `statuses[].pricing` (per-message pricing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Pricing {
    pub billable: bool,
    pub pricing_model: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub category: &'static str,
}

impl Pricing {
    /// A free non-template message inside the customer service window.
    pub(crate) fn free_service() -> Pricing {
        Pricing::free_customer_service("service")
    }

    /// Free inside the customer service window: non-template messages (`service`) and
    /// utility templates (`utility`).
    pub(crate) fn free_customer_service(category: &'static str) -> Pricing {
        Pricing {
            billable: false,
            pricing_model: "PMP",
            kind: "free_customer_service",
            category,
        }
    }

    /// Free inside a free entry point window.
    pub(crate) fn free_entry_point() -> Pricing {
        Pricing {
            billable: false,
            pricing_model: "PMP",
            kind: "free_entry_point",
            category: "referral_conversion",
        }
    }

    /// A charged template message.
    pub(crate) fn regular(category: &'static str) -> Pricing {
        Pricing {
            billable: true,
            pricing_model: "PMP",
            kind: "regular",
            category,
        }
    }
}

/// A `user_preferences[]` entry, in Meta's field order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PreferenceOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub detail: String,
    pub category: String,
    pub value: &'static str,
    pub timestamp: i64,
}

/// A `contacts[]` entry of a `user_preferences` change.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PreferenceContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub profile: Profile,
}

#[derive(Serialize)]
struct PreferencesValue<'a> {
    messaging_product: &'static str,
    metadata: Metadata,
    contacts: &'a [PreferenceContact],
    user_preferences: &'a [PreferenceOut],
}

/// A status's `errors[]` entry for `e`.
pub(crate) fn status_error(e: &MetaError) -> Value {
    e.to_webhook_json()
}

fn metadata(p: &PhoneNumberConfig) -> Metadata {
    Metadata {
        display_phone_number: p.display_phone_number.clone(),
        phone_number_id: p.phone_number_id.clone(),
    }
}

fn to_bytes(p: &PhoneNumberConfig, value: MessagesValue<'_>) -> Vec<u8> {
    change_bytes(p, "messages", value)
}

fn change_bytes<V: Serialize>(p: &PhoneNumberConfig, field: &'static str, value: V) -> Vec<u8> {
    envelope_bytes(&p.waba_id, None, field, value)
}

fn envelope_bytes<V: Serialize>(
    waba_id: &str,
    time: Option<i64>,
    field: &'static str,
    value: V,
) -> Vec<u8> {
    let env = Envelope {
        object: "whatsapp_business_account",
        entry: [Entry {
            id: waba_id,
            time,
            changes: [Change { value, field }],
        }],
    };
    // Plain structs of strings, numbers and JSON values: serialising to memory cannot fail.
    crate::meta_json::to_vec(&env).unwrap_or_default()
}

/// A WABA-level webhook body (`message_template_status_update`,
/// `message_template_quality_update`, `template_category_update`): `entry[0].id` is the
/// WABA, `entry[0].time` when it happened (Unix seconds).
pub(crate) fn waba_change_body<V: Serialize>(
    waba_id: &str,
    time: i64,
    field: &'static str,
    value: V,
) -> Vec<u8> {
    envelope_bytes(waba_id, Some(time), field, value)
}

/// A status webhook body. `contacts` is set for BSUID recipients (Meta adds them there).
pub(crate) fn status_body(
    p: &PhoneNumberConfig,
    contacts: &[WebhookContact],
    status: &StatusOut,
) -> Vec<u8> {
    to_bytes(
        p,
        MessagesValue {
            messaging_product: "whatsapp",
            metadata: metadata(p),
            contacts,
            messages: &[],
            statuses: std::slice::from_ref(status),
        },
    )
}

/// An inbound message webhook body.
pub(crate) fn inbound_body(
    p: &PhoneNumberConfig,
    contacts: &[WebhookContact],
    message: &InboundMessage,
) -> Vec<u8> {
    to_bytes(
        p,
        MessagesValue {
            messaging_product: "whatsapp",
            metadata: metadata(p),
            contacts,
            messages: std::slice::from_ref(message),
            statuses: &[],
        },
    )
}

/// A `user_preferences` webhook body.
pub(crate) fn user_preferences_body(
    p: &PhoneNumberConfig,
    contacts: &[PreferenceContact],
    preferences: &[PreferenceOut],
) -> Vec<u8> {
    change_bytes(
        p,
        "user_preferences",
        PreferencesValue {
            messaging_product: "whatsapp",
            metadata: metadata(p),
            contacts,
            user_preferences: preferences,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_wire::webhook::{Envelope as WireEnvelope, MessagesValue as WireValue};

    fn phone() -> PhoneNumberConfig {
        PhoneNumberConfig {
            phone_number_id: "106540352242922".into(),
            display_phone_number: "15550783881".into(),
            waba_id: "102290129340398".into(),
            access_token: "t".into(),
            app_secret: "s".into(),
            webhook_url: None,
            throughput_mps: None,
        }
    }

    #[test]
    fn status_body_is_metas_shape_and_order() {
        let s = StatusOut {
            id: "wamid.X".into(),
            status: "sent",
            timestamp: "1750030073".into(),
            recipient_id: Some("16505551234".into()),
            recipient_user_id: None,
            biz_opaque_callback_data: Some("cb".into()),
            conversation: None,
            pricing: Some(Pricing::free_service()),
            errors: vec![],
        };
        let body = String::from_utf8(status_body(&phone(), &[], &s)).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":"#,
                r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"#,
                r#""statuses":[{"id":"wamid.X","status":"sent","timestamp":"1750030073","recipient_id":"16505551234","#,
                r#""biz_opaque_callback_data":"cb","pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"}}]},"#,
                r#""field":"messages"}]}]}"#
            )
        );
        // The gateway's parser (the wire crate) reads it.
        let env: WireEnvelope = serde_json::from_str(&body).unwrap();
        let v: WireValue = serde_json::from_value(env.entry[0].changes[0].value.clone()).unwrap();
        assert_eq!(
            v.statuses[0].biz_opaque_callback_data.as_deref(),
            Some("cb")
        );
    }
}
