//! User messages injected by a test or a person (`POST /_simulator/inbound`, or
//! [`SimState::inject_inbound`]): checked kind by kind as Meta produces them (reference
//! §3.3), given a `wamid` and a timestamp, recorded (for mark-as-read, the 24-hour window,
//! free entry points and number changes) and delivered as a signed `messages` webhook.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use openbsp_wire::send::parse_bsuid;
use openbsp_wire::webhook::{InboundMessage, Profile, WebhookContact};

use crate::clock::unix_seconds_string;
use crate::envelope;
use crate::ids::{self, Direction};
use crate::records::{InboundRecord, WebhookKind};
use crate::state::SimState;
use crate::webhooks;

mod kinds;

/// A message from a WhatsApp user to a business number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundRequest {
    /// The business number it is sent to.
    pub phone_number_id: String,
    /// The user's phone number (`wa_id`, digits). At least one of `from` and `from_user_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The user's business-scoped user id (BSUID, `US.123…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
    /// The user's profile name (`contacts[].profile.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A Meta inbound message object without `from`, `id` and `timestamp`, e.g.
    /// `{"type": "text", "text": {"body": "hi"}}`. A media message (image, video, audio,
    /// document, sticker) may give `"file": {"data_base64" | "generate": {"size", "seed"?},
    /// "mime_type"?}` instead of `id`: the simulator stores it as an inbound media of the
    /// number and the webhook carries its `id`, `mime_type`, `sha256` (base64) and `url`.
    pub message: Value,
}

/// Why an inbound message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The simulator does not serve this phone number.
    #[error("unknown phone_number_id '{0}'")]
    UnknownPhoneNumber(String),
    /// A field is missing or wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field (`from`, `message.text.body`, ...).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> InboundError {
    InboundError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

impl InboundRequest {
    /// Reads a request from JSON, naming the field that is wrong.
    pub fn from_json(v: &Value) -> Result<InboundRequest, InboundError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("body", "must be a JSON object"))?;
        let opt_str = |name: &str| -> Result<Option<String>, InboundError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(name, "must be a string")),
            }
        };
        Ok(InboundRequest {
            phone_number_id: opt_str("phone_number_id")?
                .ok_or_else(|| invalid("phone_number_id", "is required"))?,
            from: opt_str("from")?,
            from_user_id: opt_str("from_user_id")?,
            name: opt_str("name")?,
            message: obj
                .get("message")
                .cloned()
                .ok_or_else(|| invalid("message", "is required"))?,
        })
    }

    /// Checks the sender and the message; returns the type and the message object without
    /// `type`, completed as Meta would send it.
    fn check(&self) -> Result<(String, Map<String, Value>), InboundError> {
        if self.from.is_none() && self.from_user_id.is_none() {
            return Err(invalid("from", "one of from and from_user_id is required"));
        }
        if let Some(from) = &self.from
            && !is_wa_id(from)
        {
            return Err(invalid("from", "must be a wa_id: 7 to 15 digits, no '+'"));
        }
        if let Some(user_id) = &self.from_user_id {
            parse_bsuid(user_id).map_err(|_| {
                invalid(
                    "from_user_id",
                    "must be a BSUID like US.13491208655302741918",
                )
            })?;
        }
        let mut msg = match &self.message {
            Value::Object(m) => m.clone(),
            _ => return Err(invalid("message", "must be a JSON object")),
        };
        for key in ["from", "from_user_id", "id", "timestamp"] {
            if msg.contains_key(key) {
                return Err(invalid(
                    &format!("message.{key}"),
                    "is set by the simulator; leave it out",
                ));
            }
        }
        let kind = match msg.remove("type") {
            Some(Value::String(t)) if !t.is_empty() => t,
            Some(_) => return Err(invalid("message.type", "must be a non-empty string")),
            None => return Err(invalid("message.type", "is required")),
        };
        check_context(&msg)?;
        check_referral(&msg)?;
        kinds::check(&kind, &mut msg)?;
        if kind == "system"
            && let Some(new) = kinds::changed_number(&msg)
        {
            match &self.from {
                None => {
                    return Err(invalid(
                        "from",
                        "a user_changed_number message comes from the old number",
                    ));
                }
                Some(old) if old == new => {
                    return Err(invalid(
                        "message.system.wa_id",
                        "the new number must differ from the old one (from)",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok((kind, msg))
    }
}

/// A `wa_id`: 7 to 15 digits.
pub(crate) fn is_wa_id(s: &str) -> bool {
    (7..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `context`, on any kind: `{from?, id, forwarded?, frequently_forwarded?, referred_product?}`.
fn check_context(msg: &Map<String, Value>) -> Result<(), InboundError> {
    let Some(ctx) = msg.get("context") else {
        return Ok(());
    };
    let ctx = ctx
        .as_object()
        .ok_or_else(|| invalid("message.context", "must be a JSON object"))?;
    let path = "message.context";
    let forwarded = ["forwarded", "frequently_forwarded"]
        .iter()
        .any(|k| ctx.get(*k) == Some(&Value::Bool(true)));
    // A forwarded message's context carries only the flags.
    if !forwarded || ctx.contains_key("id") {
        kinds::req_str(ctx, path, "id")?;
    }
    kinds::opt_str(ctx, path, "from")?;
    kinds::opt_bool(ctx, path, "forwarded")?;
    kinds::opt_bool(ctx, path, "frequently_forwarded")?;
    if let Some(p) = ctx.get("referred_product") {
        let p = p
            .as_object()
            .ok_or_else(|| invalid("message.context.referred_product", "must be a JSON object"))?;
        kinds::req_str(p, "message.context.referred_product", "catalog_id")?;
        kinds::req_str(p, "message.context.referred_product", "product_retailer_id")?;
    }
    Ok(())
}

/// `referral`, on any kind: the Click-to-WhatsApp ad or page post the user came from.
fn check_referral(msg: &Map<String, Value>) -> Result<(), InboundError> {
    let Some(r) = msg.get("referral") else {
        return Ok(());
    };
    let path = "message.referral";
    let r = r
        .as_object()
        .ok_or_else(|| invalid(path, "must be a JSON object"))?;
    kinds::req_str(r, path, "source_id")?;
    kinds::req_str(r, path, "source_type")?;
    for key in [
        "source_url",
        "body",
        "headline",
        "media_type",
        "image_url",
        "video_url",
        "thumbnail_url",
        "ctwa_clid",
    ] {
        kinds::opt_str(r, path, key)?;
    }
    Ok(())
}

impl SimState {
    /// Delivers a user message to the business as a signed webhook (retried until the
    /// receiver accepts it); returns the `wamid` it was given.
    pub fn inject_inbound(self: &Arc<Self>, req: InboundRequest) -> Result<String, InboundError> {
        let (kind, mut rest) = req.check()?;
        let phone = self
            .phone_number(&req.phone_number_id)
            .ok_or_else(|| InboundError::UnknownPhoneNumber(req.phone_number_id.clone()))?;
        if matches!(
            kind.as_str(),
            "image" | "video" | "audio" | "document" | "sticker"
        ) && let Some(Value::Object(obj)) = rest.get_mut(&kind)
        {
            self.materialize_inbound_media(&phone.phone_number_id, &kind, obj)?;
        }
        let user = req
            .from
            .as_deref()
            .or(req.from_user_id.as_deref())
            .unwrap_or_default();
        let wamid = ids::wamid(user, Direction::Inbound);
        let now = self.now_ms();
        let message = InboundMessage {
            from: req.from.clone(),
            from_user_id: req.from_user_id.clone(),
            id: wamid.clone(),
            timestamp: unix_seconds_string(now),
            kind: kind.clone(),
            rest,
        };
        // System messages (a user changed number) come without `contacts[]`.
        let contacts = if kind == "system" {
            vec![]
        } else {
            vec![WebhookContact {
                profile: Some(Profile {
                    name: Some(
                        req.name
                            .clone()
                            .unwrap_or_else(|| "WhatsApp User".to_string()),
                    ),
                    username: None,
                }),
                wa_id: req.from.clone(),
                user_id: req.from_user_id.clone(),
                parent_user_id: None,
            }]
        };
        let body = envelope::inbound_body(&phone, &contacts, &message);
        let changed_to = kinds::changed_number(&message.rest).map(str::to_string);
        let referral = message.rest.contains_key("referral");
        self.record_inbound(
            InboundRecord {
                wamid: wamid.clone(),
                phone_number_id: phone.phone_number_id.clone(),
                from: req.from.clone(),
                from_user_id: req.from_user_id,
                message: serde_json::to_value(&message).unwrap_or(Value::Null),
                sent_at_ms: now,
                read_at_ms: None,
                typing_indicator: false,
            },
            // A system message is Meta's notice, not the user writing: no window.
            kind != "system",
            referral,
        );
        if let (Some(old), Some(new)) = (req.from.as_deref(), changed_to.as_deref()) {
            self.change_number(&phone.phone_number_id, old, new);
        }
        webhooks::enqueue(self, &phone.phone_number_id, WebhookKind::Inbound, body);
        Ok(wamid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: Value) -> String {
        let req = InboundRequest::from_json(&v).and_then(|r| r.check().map(|_| r));
        match req {
            Err(InboundError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_input_names_the_field() {
        let ok = json!({"phone_number_id": "P", "from": "15551234567", "message": {"type": "text", "text": {"body": "hi"}}});
        assert!(InboundRequest::from_json(&ok).unwrap().check().is_ok());
        let cases = [
            (json!([]), "body"),
            (
                json!({"from": "15551234567", "message": {}}),
                "phone_number_id",
            ),
            (
                json!({"phone_number_id": 5, "message": {}}),
                "phone_number_id",
            ),
            (
                json!({"phone_number_id": "P", "from": "15551234567"}),
                "message",
            ),
            (
                json!({"phone_number_id": "P", "message": {"type": "text", "text": {"body": "x"}}}),
                "from",
            ),
            (
                json!({"phone_number_id": "P", "from": "+15551234567", "message": {"type": "text", "text": {"body": "x"}}}),
                "from",
            ),
            (
                json!({"phone_number_id": "P", "from_user_id": "nope", "message": {"type": "text", "text": {"body": "x"}}}),
                "from_user_id",
            ),
            (
                json!({"phone_number_id": "P", "from": "15551234567", "message": {"text": {"body": "x"}}}),
                "message.type",
            ),
            (
                json!({"phone_number_id": "P", "from": "15551234567", "message": {"type": "image"}}),
                "message.image",
            ),
            (
                json!({"phone_number_id": "P", "from": "15551234567", "message": {"type": "text", "text": {}}}),
                "message.text.body",
            ),
            (
                json!({"phone_number_id": "P", "from": "15551234567", "message": {"type": "text", "id": "x", "text": {"body": "x"}}}),
                "message.id",
            ),
        ];
        for (v, field) in cases {
            assert_eq!(field_of(v.clone()), field, "{v}");
        }
    }

    fn msg(message: Value) -> InboundRequest {
        InboundRequest {
            phone_number_id: "P".into(),
            from: Some("16505551234".into()),
            message,
            ..InboundRequest::default()
        }
    }

    /// The message of every kind, checked and completed.
    fn checked(message: Value) -> Result<(String, Map<String, Value>), InboundError> {
        msg(message).check()
    }

    fn field(message: Value) -> String {
        match checked(message.clone()) {
            Err(InboundError::Invalid { field, .. }) => field,
            other => panic!("{message}: {other:?}"),
        }
    }

    #[test]
    fn every_kind_of_the_reference_is_accepted_as_meta_sends_it() {
        let ok = [
            json!({"type": "text", "text": {"body": "hi"}, "context": {"from": "15550783881", "id": "wamid.Q"}}),
            json!({"type": "text", "text": {"body": "fwd"}, "context": {"forwarded": true}}),
            json!({"type": "text", "text": {"body": "about this"}, "context": {"from": "15550783881", "id": "wamid.Q", "referred_product": {"catalog_id": "1", "product_retailer_id": "sku"}}}),
            json!({"type": "text", "text": {"body": "from an ad"}, "referral": {"source_url": "https://fb.me/x", "source_id": "120", "source_type": "ad", "ctwa_clid": "Aff", "welcome_message": {"text": "Hi"}}}),
            json!({"type": "image", "image": {"id": "1", "mime_type": "image/jpeg", "sha256": "abc=", "caption": "c"}}),
            json!({"type": "video", "video": {"id": "1", "mime_type": "video/mp4"}}),
            json!({"type": "audio", "audio": {"id": "1", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
            json!({"type": "document", "document": {"id": "1", "mime_type": "application/pdf", "filename": "a.pdf", "caption": "c"}}),
            json!({"type": "sticker", "sticker": {"id": "1", "mime_type": "image/webp", "animated": true}}),
            json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}}}),
            json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "r1", "title": "Row", "description": "d"}}}),
            json!({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{\"flow_token\": \"t\"}", "body": "Sent", "name": "flow"}}}),
            json!({"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}}),
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "\u{1F44D}"}}),
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X"}}),
            json!({"type": "location", "location": {"latitude": -23.5, "longitude": -46.6, "name": "Paulista"}}),
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana"}, "phones": [{"phone": "+1 555", "wa_id": "1555"}]}]}),
            json!({"type": "order", "order": {"catalog_id": "1", "text": "", "product_items": [{"product_retailer_id": "sku", "quantity": 2, "item_price": 3.5, "currency": "USD"}]}}),
            json!({"type": "system", "system": {"body": "User A changed from 16505551234 to 12195555358", "type": "user_changed_number", "wa_id": "12195555358"}}),
            json!({"type": "system", "system": {"body": "changed", "type": "user_changed_number", "new_wa_id": "12195555358"}}),
            json!({"type": "system", "system": {"body": "identity", "type": "customer_identity_changed"}}),
            json!({"type": "unsupported", "unsupported": {"type": "poll_update"}}),
            json!({"type": "unsupported", "errors": [{"code": 131060, "title": "x"}]}),
            json!({"type": "request_welcome", "request_welcome": {}}),
        ];
        for m in ok {
            assert!(checked(m.clone()).is_ok(), "{m}: {:?}", checked(m.clone()));
        }
    }

    #[test]
    fn the_simulator_completes_what_meta_adds() {
        // `unsupported` gets Meta's errors.
        let (_, m) = checked(json!({"type": "unsupported"})).unwrap();
        assert_eq!(m["errors"][0]["code"], 131051);
        assert_eq!(m["errors"][0]["title"], "Message type unknown");
        // Errors given are kept.
        let (_, m) = checked(json!({"type": "unsupported", "errors": [{"code": 131060}]})).unwrap();
        assert_eq!(m["errors"], json!([{"code": 131060}]));
        // `interactive.type` is the reply's kind.
        let (_, m) = checked(json!({"type": "interactive", "interactive": {"list_reply": {"id": "r", "title": "t"}}})).unwrap();
        assert_eq!(m["interactive"]["type"], "list_reply");
        // An empty emoji is a removal: Meta leaves it out.
        let (_, m) = checked(
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}}),
        )
        .unwrap();
        assert_eq!(m["reaction"], json!({"message_id": "wamid.X"}));
    }

    #[test]
    fn each_kind_names_the_wrong_field() {
        let cases = [
            (
                json!({"type": "text", "text": {"body": ""}}),
                "message.text.body",
            ),
            (json!({"type": "text", "text": "hi"}), "message.text"),
            (
                json!({"type": "image", "image": {"mime_type": "image/jpeg"}}),
                "message.image.id",
            ),
            (
                json!({"type": "image", "image": {"id": "1"}}),
                "message.image.mime_type",
            ),
            (
                json!({"type": "video", "video": {"id": 1, "mime_type": "video/mp4"}}),
                "message.video.id",
            ),
            (
                json!({"type": "document", "document": {"id": "1", "mime_type": "a/b", "sha256": 5}}),
                "message.document.sha256",
            ),
            (
                json!({"type": "audio", "audio": {"id": "1", "mime_type": "audio/ogg", "voice": "yes"}}),
                "message.audio.voice",
            ),
            (
                json!({"type": "audio", "audio": {"id": "1", "mime_type": "audio/ogg", "caption": "c"}}),
                "message.audio.caption",
            ),
            (
                json!({"type": "sticker", "sticker": {"id": "1", "mime_type": "image/webp", "voice": true}}),
                "message.sticker.voice",
            ),
            (
                json!({"type": "image", "image": {"id": "1", "mime_type": "image/png", "filename": "a.png"}}),
                "message.image.filename",
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "button_reply"}}),
                "message.interactive",
            ),
            (
                json!({"type": "interactive", "interactive": {"button_reply": {"id": "1", "title": "t"}, "list_reply": {"id": "1", "title": "t"}}}),
                "message.interactive",
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "list_reply", "button_reply": {"id": "1", "title": "t"}}}),
                "message.interactive.type",
            ),
            (
                json!({"type": "interactive", "interactive": {"button_reply": {"title": "t"}}}),
                "message.interactive.button_reply.id",
            ),
            (
                json!({"type": "interactive", "interactive": {"list_reply": {"id": "1"}}}),
                "message.interactive.list_reply.title",
            ),
            (
                json!({"type": "interactive", "interactive": {"list_reply": {"id": "1", "title": "t", "description": 2}}}),
                "message.interactive.list_reply.description",
            ),
            (
                json!({"type": "interactive", "interactive": {"nfm_reply": {"body": "Sent"}}}),
                "message.interactive.nfm_reply.response_json",
            ),
            (
                json!({"type": "interactive", "interactive": {"nfm_reply": {"response_json": "{not json"}}}),
                "message.interactive.nfm_reply.response_json",
            ),
            (
                json!({"type": "interactive", "interactive": {"button_reply": []}}),
                "message.interactive.button_reply",
            ),
            (
                json!({"type": "button", "button": {"text": "Stop"}}),
                "message.button.payload",
            ),
            (
                json!({"type": "button", "button": {"payload": "STOP"}}),
                "message.button.text",
            ),
            (
                json!({"type": "reaction", "reaction": {"emoji": "x"}}),
                "message.reaction.message_id",
            ),
            (
                json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": 1}}),
                "message.reaction.emoji",
            ),
            (
                json!({"type": "location", "location": {"longitude": 1.0}}),
                "message.location.latitude",
            ),
            (
                json!({"type": "location", "location": {"latitude": 1.0, "longitude": "2"}}),
                "message.location.longitude",
            ),
            (
                json!({"type": "location", "location": {"latitude": 91.0, "longitude": 0.0}}),
                "message.location.latitude",
            ),
            (
                json!({"type": "location", "location": {"latitude": 0.0, "longitude": 180.5}}),
                "message.location.longitude",
            ),
            (
                json!({"type": "location", "location": {"latitude": 0.0, "longitude": 0.0, "name": 3}}),
                "message.location.name",
            ),
            (
                json!({"type": "contacts", "contacts": []}),
                "message.contacts",
            ),
            (json!({"type": "contacts"}), "message.contacts"),
            (
                json!({"type": "contacts", "contacts": ["Ana"]}),
                "message.contacts[0]",
            ),
            (
                json!({"type": "order", "order": {"catalog_id": "1"}}),
                "message.order.product_items",
            ),
            (
                json!({"type": "order", "order": {"product_items": []}}),
                "message.order.product_items",
            ),
            (
                json!({"type": "order", "order": {"product_items": [{"quantity": 1}]}}),
                "message.order.product_items[0].product_retailer_id",
            ),
            (
                json!({"type": "order", "order": {"product_items": [{"product_retailer_id": "s", "quantity": -1}]}}),
                "message.order.product_items[0].quantity",
            ),
            (
                json!({"type": "system", "system": {"type": "user_changed_number", "wa_id": "12195555358"}}),
                "message.system.body",
            ),
            (
                json!({"type": "system", "system": {"body": "x"}}),
                "message.system.type",
            ),
            (
                json!({"type": "system", "system": {"body": "x", "type": "user_changed_number"}}),
                "message.system.wa_id",
            ),
            (
                json!({"type": "system", "system": {"body": "x", "type": "user_changed_number", "wa_id": "+1 219"}}),
                "message.system.wa_id",
            ),
            (
                json!({"type": "system", "system": {"body": "x", "type": "user_changed_number", "new_wa_id": "12"}}),
                "message.system.new_wa_id",
            ),
            (
                json!({"type": "system", "system": {"body": "x", "type": "user_changed_number", "wa_id": "16505551234"}}),
                "message.system.wa_id",
            ),
            (
                json!({"type": "unsupported", "unsupported": "poll"}),
                "message.unsupported",
            ),
            (
                json!({"type": "unsupported", "errors": []}),
                "message.errors",
            ),
            (
                json!({"type": "unsupported", "errors": [{"title": "x"}]}),
                "message.errors[0].code",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "context": "wamid.Q"}),
                "message.context",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "context": {"from": "1"}}),
                "message.context.id",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "context": {"id": "wamid.Q", "forwarded": "yes"}}),
                "message.context.forwarded",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "context": {"id": "wamid.Q", "referred_product": {"catalog_id": "1"}}}),
                "message.context.referred_product.product_retailer_id",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "referral": {"source_id": "1"}}),
                "message.referral.source_type",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "referral": {"source_type": "ad"}}),
                "message.referral.source_id",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "referral": {"source_type": "ad", "source_id": "1", "headline": 1}}),
                "message.referral.headline",
            ),
            (
                json!({"type": "text", "text": {"body": "x"}, "referral": []}),
                "message.referral",
            ),
            (json!({"type": "fax"}), "message.fax"),
        ];
        for (m, want) in cases {
            assert_eq!(field(m.clone()), want, "{m}");
        }
        // A number change comes from the old number, not from a BSUID alone.
        let mut r = msg(
            json!({"type": "system", "system": {"body": "x", "type": "user_changed_number", "wa_id": "12195555358"}}),
        );
        r.from = None;
        r.from_user_id = Some("US.13491208655302741918".into());
        assert!(matches!(r.check(), Err(InboundError::Invalid { field, .. }) if field == "from"));
    }
}
