//! User messages injected by a test or a person (`POST /_simulator/inbound`, or
//! [`SimState::inject_inbound`]): checked, given a `wamid` and a timestamp, recorded (for
//! mark-as-read and the 24-hour window) and delivered as a signed `messages` webhook.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use openbsp_wire::send::parse_bsuid;
use openbsp_wire::webhook::{InboundMessage, Profile, WebhookContact};

use crate::clock::unix_seconds_string;
use crate::envelope;
use crate::ids::{self, Direction};
use crate::state::{InboundRecord, SimState, WebhookKind};
use crate::webhooks;

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
    /// `{"type": "text", "text": {"body": "hi"}}`.
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

fn invalid(field: &str, message: impl Into<String>) -> InboundError {
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

    /// Checks the sender and the message; returns the message object without `type`.
    fn check(&self) -> Result<(String, Map<String, Value>), InboundError> {
        if self.from.is_none() && self.from_user_id.is_none() {
            return Err(invalid("from", "one of from and from_user_id is required"));
        }
        if let Some(from) = &self.from {
            let ok = (7..=15).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(invalid("from", "must be a wa_id: 7 to 15 digits, no '+'"));
            }
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
        // Every type carries an object named after it, except `unsupported` (Meta sends
        // only `errors[]` with it).
        if kind != "unsupported" {
            match msg.get(&kind) {
                Some(Value::Object(_)) => {}
                _ => {
                    return Err(invalid(
                        &format!("message.{kind}"),
                        format!("an object is required for type '{kind}'"),
                    ));
                }
            }
        }
        if kind == "text" {
            match msg.get("text").and_then(|t| t.get("body")) {
                Some(Value::String(b)) if !b.is_empty() => {}
                _ => return Err(invalid("message.text.body", "must be a non-empty string")),
            }
        }
        Ok((kind, msg))
    }
}

impl SimState {
    /// Delivers a user message to the business as a signed webhook (retried until the
    /// receiver accepts it); returns the `wamid` it was given.
    pub fn inject_inbound(self: &Arc<Self>, req: InboundRequest) -> Result<String, InboundError> {
        let (kind, rest) = req.check()?;
        let phone = self
            .phone_number(&req.phone_number_id)
            .ok_or_else(|| InboundError::UnknownPhoneNumber(req.phone_number_id.clone()))?;
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
        self.record_inbound(InboundRecord {
            wamid: wamid.clone(),
            phone_number_id: phone.phone_number_id.clone(),
            from: req.from,
            from_user_id: req.from_user_id,
            message: serde_json::to_value(&message).unwrap_or(Value::Null),
            sent_at_ms: now,
            read_at_ms: None,
            typing_indicator: false,
        });
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
}
