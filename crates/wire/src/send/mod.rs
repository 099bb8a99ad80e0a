//! The send request (`POST /{version}/{phone_number_id}/messages`), parsed the way Meta parses it.
//!
//! Parsing works on a `serde_json::Value` rather than a derived struct so that every failure
//! can name the offending field exactly as Meta does (`text['body']`) and carry Meta's code:
//! 100 for a missing or wrong-typed parameter inside an object and for over-long values,
//! 131008 when the object a message type needs is missing altogether, 131009 for values that
//! are well-typed but not acceptable (a phone number with letters in it).

mod interactive;
mod kinds;
mod phone;
mod read;

use serde_json::{Map, Value, json};

use crate::error::MetaError;
use crate::limits;
pub use kinds::MediaKind;
pub use phone::{ParseContext, load_phone_metadata, normalize_phone_in};
pub use read::{Outgoing, ReadReceipt, parse_outgoing, parse_outgoing_in};

/// Whether the request arrived on the Graph-compatible surface (where Meta's envelope fields
/// are mandatory) or on the native API (where they are implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `POST /{version}/{phone_number_id}/messages`.
    Graph,
    /// `POST /v1/messages` and the other native routes.
    Native,
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A phone number, normalised to its digits (Meta's `wa_id`).
    WaId(String),
    /// A business-scoped user id (BSUID), e.g. `US.13491208655302741918`.
    UserId(String),
}

impl Recipient {
    /// The identifier as a string (digits or BSUID).
    pub fn as_str(&self) -> &str {
        match self {
            Recipient::WaId(s) | Recipient::UserId(s) => s,
        }
    }
}

/// The content of a message, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageBody {
    /// `type: "text"`.
    Text {
        /// The text, 1 to 4096 characters.
        body: String,
        /// Whether WhatsApp should render a link preview.
        preview_url: bool,
    },
    /// `image`, `video`, `audio`, `document`, `sticker`: the validated media object.
    Media {
        /// Which kind.
        kind: MediaKind,
        /// `{id | link, caption?, filename?}`.
        object: Value,
    },
    /// `location`: the validated location object.
    Location(Value),
    /// `reaction`.
    Reaction {
        /// The message reacted to (a `wamid`, or a gateway id the gateway resolves).
        message_id: String,
        /// The emoji; `None` removes the reaction.
        emoji: Option<String>,
    },
    /// `contacts`: the validated contact cards.
    Contacts(Value),
    /// `template`: name, language and components, checked for structure only.
    Template(Value),
    /// `interactive`: the validated interactive object.
    Interactive(Value),
}

impl MessageBody {
    /// Meta's name for the message type.
    pub fn type_name(&self) -> &'static str {
        match self {
            MessageBody::Text { .. } => "text",
            MessageBody::Media { kind, .. } => kind.as_str(),
            MessageBody::Location(_) => "location",
            MessageBody::Reaction { .. } => "reaction",
            MessageBody::Contacts(_) => "contacts",
            MessageBody::Template(_) => "template",
            MessageBody::Interactive(_) => "interactive",
        }
    }

    /// The type's object as Meta wants it (`{"body": …}` for text, the card array for
    /// contacts, …).
    pub fn object_json(&self) -> Value {
        match self {
            MessageBody::Text { body, preview_url } => {
                json!({ "body": body, "preview_url": preview_url })
            }
            MessageBody::Media { object, .. }
            | MessageBody::Location(object)
            | MessageBody::Contacts(object)
            | MessageBody::Template(object)
            | MessageBody::Interactive(object) => object.clone(),
            MessageBody::Reaction { message_id, emoji } => {
                json!({ "message_id": message_id, "emoji": emoji.as_deref().unwrap_or("") })
            }
        }
    }
}

/// A validated send request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// The recipient, normalised.
    pub recipient: Recipient,
    /// What the client wrote in `to` (or `recipient`), echoed as `contacts[].input`.
    pub input: String,
    /// `context.message_id`: the message this one replies to (a `wamid` or a gateway id).
    pub context_message_id: Option<String>,
    /// The client's own `biz_opaque_callback_data`, at most 512 characters.
    pub biz_opaque_callback_data: Option<String>,
    /// The content.
    pub body: MessageBody,
}

const KNOWN_TYPES: &str = "{AUDIO, BUTTON, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, ORDER, REACTION, STICKER, TEMPLATE, TEXT, VIDEO}";

impl SendRequest {
    /// Parses and validates a send request body, knowing nothing of the sending business
    /// (so a `to` without `+` is kept as written; see [`normalize_phone_in`]).
    pub fn parse(v: &Value, surface: Surface) -> Result<SendRequest, MetaError> {
        SendRequest::parse_in(v, surface, &ParseContext::default())
    }

    /// Parses and validates a send request body sent from the business `ctx` describes: a
    /// `to` written without `+` in the business's national format gets the business's country
    /// code, as Meta does (the whole rule is on [`normalize_phone_in`]).
    pub fn parse_in(
        v: &Value,
        surface: Surface,
        ctx: &ParseContext,
    ) -> Result<SendRequest, MetaError> {
        let obj = v.as_object().ok_or_else(|| {
            MetaError::invalid_parameter("The request body must be a JSON object.")
        })?;

        check_messaging_product(obj, surface)?;

        match opt_str(obj, "recipient_type", "recipient_type")? {
            None | Some("individual") => {}
            Some(other) => {
                return Err(MetaError::invalid_value(format!(
                    "Param recipient_type must be one of {{INDIVIDUAL}} - got \"{other}\"."
                )));
            }
        }

        let (recipient, input) = parse_recipient(obj, ctx)?;

        let context_message_id = match obj.get("context") {
            None | Some(Value::Null) => None,
            Some(Value::Object(ctx)) => match ctx.get("message_id") {
                Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
                Some(Value::String(_)) => {
                    return Err(MetaError::invalid_value(
                        "Param context['message_id'] must be a non-empty message id.",
                    ));
                }
                Some(Value::Null) | None => {
                    return Err(MetaError::invalid_parameter(
                        "The parameter context['message_id'] is required.",
                    ));
                }
                Some(_) => {
                    return Err(MetaError::invalid_parameter(
                        "Param context['message_id'] must be a string.",
                    ));
                }
            },
            Some(_) => {
                return Err(MetaError::invalid_parameter(
                    "Param context must be a JSON object.",
                ));
            }
        };

        let biz_opaque_callback_data =
            match opt_str(obj, "biz_opaque_callback_data", "biz_opaque_callback_data")? {
                None => None,
                Some(s) => {
                    check_len(
                        s,
                        limits::BIZ_OPAQUE_CALLBACK_DATA_MAX,
                        "biz_opaque_callback_data",
                    )?;
                    Some(s.to_string())
                }
            };

        let ty = match obj.get("type") {
            None | Some(Value::Null) => "text",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(MetaError::invalid_parameter("Param type must be a string.")),
        };

        let body = match (ty, MediaKind::parse(ty)) {
            (_, Some(kind)) => kinds::parse_media(obj, kind)?,
            ("text", _) => parse_text(obj)?,
            ("location", _) => kinds::parse_location(obj)?,
            ("reaction", _) => kinds::parse_reaction(obj)?,
            ("contacts", _) => kinds::parse_contacts(obj)?,
            ("template", _) => kinds::parse_template(obj)?,
            ("interactive", _) => interactive::parse_interactive(obj)?,
            ("button" | "order", _) => {
                return Err(MetaError::new(
                    crate::error::codes::UNSUPPORTED_MESSAGE_TYPE,
                    Some(format!(
                        "Message type {ty} is not supported by this gateway yet."
                    )),
                ));
            }
            (other, _) => {
                return Err(MetaError::invalid_parameter(format!(
                    "Param type must be one of {KNOWN_TYPES} - got \"{other}\"."
                )));
            }
        };

        Ok(SendRequest {
            recipient,
            input,
            context_message_id,
            biz_opaque_callback_data,
            body,
        })
    }

    /// The Cloud API request body for this message, as the gateway sends it to Meta, with
    /// `context.message_id` resolved to `context_wamid` and `biz_opaque_callback_data` set to
    /// `callback_data`.
    pub fn to_graph_body(&self, context_wamid: Option<&str>, callback_data: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert("messaging_product".into(), json!("whatsapp"));
        body.insert("recipient_type".into(), json!("individual"));
        match &self.recipient {
            Recipient::WaId(w) => body.insert("to".into(), json!(w)),
            Recipient::UserId(u) => body.insert("recipient".into(), json!(u)),
        };
        if let Some(ctx) = context_wamid {
            body.insert("context".into(), json!({ "message_id": ctx }));
        }
        if let Some(cb) = callback_data {
            body.insert("biz_opaque_callback_data".into(), json!(cb));
        }
        let ty = self.body.type_name();
        body.insert("type".into(), json!(ty));
        body.insert(ty.into(), self.body.object_json());
        Value::Object(body)
    }

    /// The message content alone (`{"type": "text", "text": {...}}`), for storage.
    pub fn content_json(&self) -> Value {
        let ty = self.body.type_name();
        json!({ "type": ty, ty: self.body.object_json() })
    }
}

/// `messaging_product`: required on the Graph surface, implied on the native one, and
/// `"whatsapp"` when present.
fn check_messaging_product(obj: &Map<String, Value>, surface: Surface) -> Result<(), MetaError> {
    match obj.get("messaging_product") {
        None | Some(Value::Null) if surface == Surface::Native => Ok(()),
        None | Some(Value::Null) => Err(MetaError::invalid_parameter(
            "The parameter messaging_product is required.",
        )),
        Some(Value::String(s)) if s == "whatsapp" => Ok(()),
        Some(other) => Err(MetaError::invalid_parameter(format!(
            "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
        ))),
    }
}

fn parse_recipient(
    obj: &Map<String, Value>,
    ctx: &ParseContext,
) -> Result<(Recipient, String), MetaError> {
    // `to` wins when both are present (reference §7).
    if let Some(to) = opt_str(obj, "to", "to")? {
        return Ok((
            Recipient::WaId(normalize_phone_in(to, ctx)?),
            to.to_string(),
        ));
    }
    if let Some(user_id) = opt_str(obj, "recipient", "recipient")? {
        return Ok((
            Recipient::UserId(parse_bsuid(user_id)?),
            user_id.to_string(),
        ));
    }
    Err(MetaError::invalid_parameter(
        "The parameter to is required.",
    ))
}

/// Normalises a phone number as written by a client (`+1 (555) 010-0000`) to Meta's `wa_id`,
/// knowing nothing of the sending business: [`normalize_phone_in`] with the default
/// [`ParseContext`], so digits written without `+` are kept as written.
pub fn normalize_phone(input: &str) -> Result<String, MetaError> {
    normalize_phone_in(input, &ParseContext::default())
}

/// Checks a business-scoped user id: `CC.` then up to 128 letters and digits (or a parent
/// BSUID, `CC.ENT.…`).
pub fn parse_bsuid(input: &str) -> Result<String, MetaError> {
    let bad = || {
        MetaError::invalid_value(format!(
            "Param recipient is not a valid user id: \"{input}\"."
        ))
    };
    let (cc, rest) = input.split_once('.').ok_or_else(bad)?;
    if cc.len() != 2 || !cc.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad());
    }
    let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
    if rest.is_empty() || rest.len() > 128 || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    Ok(input.to_string())
}

fn parse_text(obj: &Map<String, Value>) -> Result<MessageBody, MetaError> {
    let text = match obj.get("text") {
        None | Some(Value::Null) => return Err(MetaError::missing("text")),
        Some(Value::Object(t)) => t,
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param text must be a JSON object.",
            ));
        }
    };
    for key in text.keys() {
        if key != "body" && key != "preview_url" {
            return Err(MetaError::invalid_parameter(format!(
                "Unexpected key \"{key}\" on param \"text\"."
            )));
        }
    }
    let body = match text.get("body") {
        None | Some(Value::Null) => {
            return Err(MetaError::invalid_parameter(
                "The parameter text['body'] is required.",
            ));
        }
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param text['body'] must be a string.",
            ));
        }
    };
    if body.trim().is_empty() {
        return Err(MetaError::invalid_parameter(
            "Param text['body'] must be a non-empty string.",
        ));
    }
    check_len(body, limits::TEXT_BODY_MAX, "text['body']")?;
    let preview_url = match text.get("preview_url") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param text['preview_url'] must be a boolean.",
            ));
        }
    };
    Ok(MessageBody::Text {
        body: body.clone(),
        preview_url,
    })
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<Option<&'a str>, MetaError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {name} must be a string."
        ))),
    }
}

fn check_len(value: &str, max: usize, name: &str) -> Result<(), MetaError> {
    if value.chars().count() > max {
        return Err(MetaError::invalid_parameter(format!(
            "Param {name} must be at most {max} characters long."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(v: Value) -> Result<SendRequest, MetaError> {
        SendRequest::parse(&v, Surface::Graph)
    }

    fn text(body: &str) -> Value {
        json!({"messaging_product": "whatsapp", "to": "+1 (555) 010-1234", "type": "text", "text": {"body": body}})
    }

    #[test]
    fn accepts_a_plain_text() {
        let r = parse(text("hello")).unwrap();
        assert_eq!(r.recipient, Recipient::WaId("15550101234".into()));
        assert_eq!(r.input, "+1 (555) 010-1234");
        assert_eq!(
            r.body,
            MessageBody::Text {
                body: "hello".into(),
                preview_url: false
            }
        );
    }

    #[test]
    fn body_length_boundary() {
        assert!(parse(text(&"a".repeat(4096))).is_ok());
        // Characters, not bytes.
        assert!(parse(text(&"é".repeat(4096))).is_ok());
        let e = parse(text(&"a".repeat(4097))).unwrap_err();
        assert_eq!(e.code, 100);
        assert_eq!(
            e.details.as_deref(),
            Some("Param text['body'] must be at most 4096 characters long.")
        );
    }

    #[test]
    fn missing_and_wrong_fields_get_metas_codes() {
        let cases: Vec<(Value, i64, &str)> = vec![
            (
                json!({"to": "15550101234", "text": {"body": "x"}}),
                100,
                "messaging_product",
            ),
            (
                json!({"messaging_product": "sms", "to": "15550101234", "text": {"body": "x"}}),
                100,
                "messaging_product",
            ),
            (
                json!({"messaging_product": "whatsapp", "text": {"body": "x"}}),
                100,
                "to",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": 15550101234u64, "text": {"body": "x"}}),
                100,
                "to",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "1555abc1234", "text": {"body": "x"}}),
                131009,
                "to",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "123", "text": {"body": "x"}}),
                131009,
                "to",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "text"}),
                131008,
                "text",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {}}),
                100,
                "text['body']",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {"body": 5}}),
                100,
                "text['body']",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {"body": "x", "bodyy": 1}}),
                100,
                "bodyy",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {"body": "x", "preview_url": "yes"}}),
                100,
                "preview_url",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "fax", "text": {"body": "x"}}),
                100,
                "type",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {"body": "x"}, "context": {}}),
                100,
                "context['message_id']",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {"body": "x"}, "biz_opaque_callback_data": "a".repeat(513)}),
                100,
                "biz_opaque_callback_data",
            ),
            (
                json!({"messaging_product": "whatsapp", "to": "15550101234", "recipient_type": "group", "text": {"body": "x"}}),
                131009,
                "recipient_type",
            ),
        ];
        for (body, code, field) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.code, code, "{body}: {e}");
            assert!(
                e.details.as_deref().unwrap_or("").contains(field),
                "{body}: {e}"
            );
        }
    }

    #[test]
    fn callback_data_boundary() {
        let mut v = text("x");
        v["biz_opaque_callback_data"] = json!("a".repeat(512));
        assert!(parse(v).is_ok());
    }

    #[test]
    fn native_surface_implies_messaging_product_and_type() {
        let r = SendRequest::parse(
            &json!({"to": "15550101234", "text": {"body": "x"}}),
            Surface::Native,
        );
        assert!(r.is_ok());
    }

    #[test]
    fn recipient_bsuid_and_to_wins() {
        let r = parse(json!({"messaging_product": "whatsapp", "recipient": "US.13491208655302741918", "text": {"body": "x"}})).unwrap();
        assert_eq!(
            r.recipient,
            Recipient::UserId("US.13491208655302741918".into())
        );
        let r = parse(json!({"messaging_product": "whatsapp", "to": "15550101234", "recipient": "US.1", "text": {"body": "x"}})).unwrap();
        assert_eq!(r.recipient, Recipient::WaId("15550101234".into()));
        assert!(
            parse(
                json!({"messaging_product": "whatsapp", "recipient": "nope", "text": {"body": "x"}})
            )
            .is_err()
        );
    }

    #[test]
    fn graph_body_round_trips_through_the_parser() {
        let r = parse(text("round trip")).unwrap();
        let out = r.to_graph_body(Some("wamid.X"), Some("msg_1"));
        assert_eq!(out["biz_opaque_callback_data"], "msg_1");
        assert_eq!(out["context"]["message_id"], "wamid.X");
        let again = parse(out).unwrap();
        assert_eq!(again.body, r.body);
        assert_eq!(again.recipient, r.recipient);
    }

    /// Keys the parsers look at, so that generated bodies reach deep into them.
    const KEYS: &[&str] = &[
        "messaging_product",
        "recipient_type",
        "to",
        "recipient",
        "type",
        "context",
        "message_id",
        "biz_opaque_callback_data",
        "status",
        "typing_indicator",
        "text",
        "body",
        "preview_url",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "id",
        "link",
        "caption",
        "filename",
        "location",
        "latitude",
        "longitude",
        "name",
        "address",
        "reaction",
        "emoji",
        "contacts",
        "phones",
        "phone",
        "emails",
        "formatted_name",
        "template",
        "language",
        "code",
        "components",
        "parameters",
        "sub_type",
        "index",
        "payload",
        "interactive",
        "header",
        "footer",
        "action",
        "button",
        "buttons",
        "reply",
        "title",
        "sections",
        "rows",
        "description",
        "cta_url",
        "display_text",
        "url",
        "catalog_id",
        "product_retailer_id",
        "product_items",
        "flow_message_version",
        "flow_token",
        "flow_id",
        "flow_cta",
        "flow_action",
        "mode",
        "cards",
        "card_index",
    ];

    /// Any JSON value, biased towards objects whose keys the parsers know.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            prop_oneof![
                Just("whatsapp".to_string()),
                Just("text".to_string()),
                Just("read".to_string()),
                Just("interactive".to_string()),
                Just("button".to_string()),
                Just("list".to_string()),
                Just("template".to_string()),
                Just("+1 555 010 1234".to_string()),
                "\\PC{0,12}",
                "[0-9+ ()-]{0,16}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 0..8).prop_map(
                    |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                ),
                prop::collection::vec(("\\PC{0,8}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A body that looks like a send: the envelope right, the rest arbitrary.
    fn send_like() -> impl Strategy<Value = Value> {
        (json_value(), prop::sample::select(KEYS), json_value()).prop_map(|(extra, ty, obj)| {
            let mut v = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": ty});
            v[ty] = obj;
            if let Value::Object(m) = extra {
                for (k, x) in m {
                    v[k] = x;
                }
            }
            v
        })
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_json(v in json_value()) {
            let _ = SendRequest::parse(&v, Surface::Graph);
            let _ = SendRequest::parse(&v, Surface::Native);
            let _ = parse_outgoing(&v, Surface::Graph);
        }

        #[test]
        fn parsers_never_panic_on_send_like_json(v in send_like()) {
            let ctx = ParseContext::for_business("15550783881");
            if let Ok(req) = SendRequest::parse_in(&v, Surface::Graph, &ctx) {
                // What is accepted is sent on as a body that parses back to the same message.
                let again = SendRequest::parse(&req.to_graph_body(None, None), Surface::Graph);
                prop_assert_eq!(again.map(|r| r.body), Ok(req.body));
            }
            let _ = parse_outgoing_in(&v, Surface::Native, &ctx);
        }

        #[test]
        fn parser_never_panics(s in ".*", n in 0usize..5000) {
            let _ = parse(json!({"messaging_product": "whatsapp", "to": s, "text": {"body": "a".repeat(n)}}));
        }

        #[test]
        fn formatting_does_not_change_the_number(d in "[1-9][0-9]{6,14}") {
            let formatted = format!("+{} ({}) {}-{}", &d[..1], &d[1..3], &d[3..5], &d[5..]);
            prop_assert_eq!(normalize_phone(&formatted).ok(), normalize_phone(&format!("+{d}")).ok());
            let dotted = format!("{}.{} {}", &d[..3], &d[3..5], &d[5..]);
            prop_assert_eq!(normalize_phone(&dotted).unwrap(), d);
        }

        #[test]
        fn bodies_up_to_the_limit_are_kept_verbatim(body in "\\PC{1,300}") {
            prop_assume!(!body.trim().is_empty());
            let r = parse(text(&body)).unwrap();
            prop_assert_eq!(r.body, MessageBody::Text { body, preview_url: false });
        }
    }
}
