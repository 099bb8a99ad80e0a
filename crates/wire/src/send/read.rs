//! Mark-as-read (and the typing indicator) on the send route: `POST /{version}/
//! {phone_number_id}/messages` with `{"messaging_product": "whatsapp", "status": "read",
//! "message_id": "wamid…", "typing_indicator"?: {"type": "text"}}`, answered
//! `{"success": true}` (reference `cloud-api.md` §1.4). Every error is Meta's 100 naming the
//! field.

use serde_json::{Map, Value, json};

use super::{ParseContext, SendRequest, Surface, check_messaging_product};
use crate::error::MetaError;

/// A validated mark-as-read request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    /// The inbound message marked read (a `wamid`, or a gateway id the gateway resolves).
    pub message_id: String,
    /// Whether the user should see the business typing (cleared by the reply, or after 25 s).
    pub typing_indicator: bool,
}

impl ReadReceipt {
    /// Parses and validates a mark-as-read body. `messaging_product` is required on the Graph
    /// surface and implied on the native one, as for sends; other keys are ignored.
    pub fn parse(v: &Value, surface: Surface) -> Result<ReadReceipt, MetaError> {
        let obj = v.as_object().ok_or_else(|| {
            MetaError::invalid_parameter("The request body must be a JSON object.")
        })?;
        check_messaging_product(obj, surface)?;
        match obj.get("status") {
            Some(Value::String(s)) if s == "read" => {}
            None | Some(Value::Null) => {
                return Err(MetaError::invalid_parameter(
                    "The parameter status is required.",
                ));
            }
            Some(Value::String(s)) => {
                return Err(MetaError::invalid_parameter(format!(
                    "Param status must be one of {{READ}} - got \"{s}\"."
                )));
            }
            Some(_) => {
                return Err(MetaError::invalid_parameter(
                    "Param status must be a string.",
                ));
            }
        }
        let message_id = match obj.get("message_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            None | Some(Value::Null) => {
                return Err(MetaError::invalid_parameter(
                    "The parameter message_id is required.",
                ));
            }
            Some(Value::String(_)) => {
                return Err(MetaError::invalid_parameter(
                    "Param message_id must be a non-empty string.",
                ));
            }
            Some(_) => {
                return Err(MetaError::invalid_parameter(
                    "Param message_id must be a string.",
                ));
            }
        };
        let typing_indicator = match obj.get("typing_indicator") {
            None | Some(Value::Null) => false,
            Some(Value::Object(t)) => {
                typing_type(t)?;
                true
            }
            Some(_) => {
                return Err(MetaError::invalid_parameter(
                    "Param typing_indicator must be a JSON object.",
                ));
            }
        };
        Ok(ReadReceipt {
            message_id,
            typing_indicator,
        })
    }

    /// The Cloud API body for this request, as the gateway sends it to Meta, with
    /// `message_id` replaced by `wamid` (the gateway's id resolved to Meta's).
    pub fn to_graph_body(&self, wamid: &str) -> Value {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        });
        if self.typing_indicator {
            body["typing_indicator"] = json!({"type": "text"});
        }
        body
    }
}

fn typing_type(t: &Map<String, Value>) -> Result<(), MetaError> {
    match t.get("type") {
        Some(Value::String(s)) if s == "text" => Ok(()),
        None | Some(Value::Null) => Err(MetaError::invalid_parameter(
            "The parameter typing_indicator['type'] is required.",
        )),
        Some(Value::String(s)) => Err(MetaError::invalid_parameter(format!(
            "Param typing_indicator['type'] must be one of {{TEXT}} - got \"{s}\"."
        ))),
        Some(_) => Err(MetaError::invalid_parameter(
            "Param typing_indicator['type'] must be a string.",
        )),
    }
}

/// What a body posted to the send route asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message to send.
    Message(SendRequest),
    /// A mark-as-read, with or without the typing indicator.
    Read(ReadReceipt),
}

/// Parses a body posted to the send route: a mark-as-read if it has a `status` key (as Meta
/// decides), a message otherwise. The business is unknown (see [`parse_outgoing_in`]).
pub fn parse_outgoing(v: &Value, surface: Surface) -> Result<Outgoing, MetaError> {
    parse_outgoing_in(v, surface, &ParseContext::default())
}

/// [`parse_outgoing`] for a message sent from the business `ctx` describes.
pub fn parse_outgoing_in(
    v: &Value,
    surface: Surface,
    ctx: &ParseContext,
) -> Result<Outgoing, MetaError> {
    if v.as_object().is_some_and(|o| o.contains_key("status")) {
        ReadReceipt::parse(v, surface).map(Outgoing::Read)
    } else {
        SendRequest::parse_in(v, surface, ctx).map(Outgoing::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAMID: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";

    fn read(v: Value) -> Result<ReadReceipt, MetaError> {
        ReadReceipt::parse(&v, Surface::Graph)
    }

    #[test]
    fn accepts_metas_bodies() {
        let r =
            read(json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID}))
                .unwrap();
        assert_eq!(
            r,
            ReadReceipt {
                message_id: WAMID.into(),
                typing_indicator: false
            }
        );
        let r = read(json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID, "typing_indicator": {"type": "text"}}))
            .unwrap();
        assert!(r.typing_indicator);
        let r = read(json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID, "typing_indicator": null}))
            .unwrap();
        assert!(!r.typing_indicator);
    }

    #[test]
    fn every_field_is_checked_with_code_100_naming_it() {
        let ok = json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID, "typing_indicator": {"type": "text"}});
        let with = |key: &str, value: Value| {
            let mut v = ok.clone();
            v[key] = value;
            v
        };
        let without = |key: &str| {
            let mut v = ok.clone();
            v.as_object_mut().map(|o| o.remove(key));
            v
        };
        let cases: Vec<(Value, &str)> = vec![
            (json!("read"), "body"),
            (without("messaging_product"), "messaging_product"),
            (with("messaging_product", json!("sms")), "messaging_product"),
            (with("messaging_product", json!(1)), "messaging_product"),
            (with("status", json!("delivered")), "status"),
            (with("status", json!("READ ")), "status"),
            (with("status", json!(null)), "status"),
            (with("status", json!(true)), "status"),
            (without("message_id"), "message_id"),
            (with("message_id", json!("")), "message_id"),
            (with("message_id", json!("  ")), "message_id"),
            (with("message_id", json!(42)), "message_id"),
            (with("typing_indicator", json!(true)), "typing_indicator"),
            (with("typing_indicator", json!("text")), "typing_indicator"),
            (
                with("typing_indicator", json!({})),
                "typing_indicator['type']",
            ),
            (
                with("typing_indicator", json!({"type": "audio"})),
                "typing_indicator['type']",
            ),
            (
                with("typing_indicator", json!({"type": 1})),
                "typing_indicator['type']",
            ),
        ];
        for (body, field) in cases {
            let e = read(body.clone()).expect_err(&body.to_string());
            assert_eq!(e.code, 100, "{body}: {e}");
            let details = e.details.as_deref().unwrap_or("");
            let named = if field == "body" {
                details.contains("JSON object")
            } else {
                details.contains(field)
            };
            assert!(named, "{body}: {e}");
        }
    }

    #[test]
    fn native_surface_implies_messaging_product() {
        let v = json!({"status": "read", "message_id": "msg_01H"});
        assert!(ReadReceipt::parse(&v, Surface::Native).is_ok());
        assert_eq!(
            ReadReceipt::parse(&v, Surface::Graph).unwrap_err().code,
            100
        );
    }

    #[test]
    fn graph_body_round_trips() {
        for typing in [false, true] {
            let r = ReadReceipt {
                message_id: "msg_1".into(),
                typing_indicator: typing,
            };
            let body = r.to_graph_body(WAMID);
            assert_eq!(body["message_id"], WAMID);
            let back = ReadReceipt::parse(&body, Surface::Graph).unwrap();
            assert_eq!(back.message_id, WAMID);
            assert_eq!(back.typing_indicator, typing);
            assert_eq!(body.get("typing_indicator").is_some(), typing);
        }
    }

    #[test]
    fn outgoing_is_chosen_by_the_status_key() {
        let msg =
            json!({"messaging_product": "whatsapp", "to": "07911 123456", "text": {"body": "hi"}});
        let ctx = ParseContext::for_business("442071838750");
        match parse_outgoing_in(&msg, Surface::Graph, &ctx).unwrap() {
            Outgoing::Message(m) => {
                assert_eq!(m.recipient.as_str(), "447911123456");
            }
            other => panic!("{other:?}"),
        }
        match parse_outgoing(&msg, Surface::Graph).unwrap() {
            Outgoing::Message(m) => assert_eq!(m.recipient.as_str(), "07911123456"),
            other => panic!("{other:?}"),
        }
        let r = json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID});
        assert!(matches!(
            parse_outgoing(&r, Surface::Graph),
            Ok(Outgoing::Read(ReadReceipt {
                typing_indicator: false,
                ..
            }))
        ));
        // A `status` key makes it a mark-as-read, even with message fields beside it.
        let mixed = json!({"messaging_product": "whatsapp", "status": "sent", "to": "15550101234", "text": {"body": "x"}});
        let e = parse_outgoing(&mixed, Surface::Graph).unwrap_err();
        assert!(e.details.unwrap_or_default().contains("status"));
        // No `status`: a message, with the message errors.
        let e = parse_outgoing(
            &json!({"messaging_product": "whatsapp", "message_id": WAMID}),
            Surface::Graph,
        )
        .unwrap_err();
        assert!(e.details.unwrap_or_default().contains("to"));
        assert_eq!(
            parse_outgoing(&json!([]), Surface::Graph).unwrap_err().code,
            100
        );
    }
}
