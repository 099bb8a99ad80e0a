//! Parsers for the non-text message types: media, location, reaction, contacts, and the
//! structural part of templates (checks against stored templates come with template
//! management). Each returns Meta's code and a message naming the field.

use serde_json::{Map, Value};

use super::{MessageBody, check_len};
use crate::error::MetaError;
use crate::limits;

/// Kinds of media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `image`: JPEG or PNG, with a caption.
    Image,
    /// `video`: MP4 or 3GPP, with a caption.
    Video,
    /// `audio`: no caption.
    Audio,
    /// `document`: with a caption and a file name.
    Document,
    /// `sticker`: WebP, no caption.
    Sticker,
}

impl MediaKind {
    /// Meta's name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// Parses Meta's name.
    pub fn parse(s: &str) -> Option<MediaKind> {
        [
            MediaKind::Image,
            MediaKind::Video,
            MediaKind::Audio,
            MediaKind::Document,
            MediaKind::Sticker,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    fn allows_caption(self) -> bool {
        matches!(
            self,
            MediaKind::Image | MediaKind::Video | MediaKind::Document
        )
    }
}

/// The object named `key`, or Meta's 131008 when it is missing.
pub(super) fn type_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, MetaError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(MetaError::missing(key)),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {key} must be a JSON object."
        ))),
    }
}

fn reject_unknown(o: &Map<String, Value>, param: &str, allowed: &[&str]) -> Result<(), MetaError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(MetaError::invalid_parameter(format!(
            "Unexpected key \"{k}\" on param \"{param}\"."
        ))),
        None => Ok(()),
    }
}

fn field_str<'a>(
    o: &'a Map<String, Value>,
    param: &str,
    key: &str,
) -> Result<Option<&'a str>, MetaError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {param}['{key}'] must be a string."
        ))),
    }
}

fn required_str<'a>(
    o: &'a Map<String, Value>,
    param: &str,
    key: &str,
) -> Result<&'a str, MetaError> {
    match field_str(o, param, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(MetaError::invalid_parameter(format!(
            "The parameter {param}['{key}'] is required."
        ))),
    }
}

/// Whether `s` is an absolute http(s) URL with a host and no whitespace.
pub(super) fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace))
}

/// `image`, `video`, `audio`, `document`, `sticker`: exactly one of `id` and `link`.
pub(super) fn parse_media(
    obj: &Map<String, Value>,
    kind: MediaKind,
) -> Result<MessageBody, MetaError> {
    let name = kind.as_str();
    let o = type_object(obj, name)?;
    let allowed: &[&str] = match kind {
        MediaKind::Document => &["id", "link", "caption", "filename"],
        k if k.allows_caption() => &["id", "link", "caption"],
        _ => &["id", "link"],
    };
    reject_unknown(o, name, allowed)?;
    let id = field_str(o, name, "id")?.filter(|s| !s.is_empty());
    let link = field_str(o, name, "link")?.filter(|s| !s.is_empty());
    match (id, link) {
        (None, None) => {
            return Err(MetaError::new(
                crate::error::codes::REQUIRED_PARAMETER_MISSING,
                Some(format!(
                    "Param {name} must contain either {name}['id'] or {name}['link']."
                )),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param {name} must contain either {name}['id'] or {name}['link'], not both."
            )));
        }
        (Some(id), None) if id.len() > limits::MEDIA_ID_MAX => {
            return Err(MetaError::invalid_parameter(format!(
                "Param {name}['id'] must be at most {} characters long.",
                limits::MEDIA_ID_MAX
            )));
        }
        (None, Some(link)) if !is_http_url(link) => {
            return Err(MetaError::invalid_parameter(format!(
                "Param {name}['link'] must be an http or https URL."
            )));
        }
        _ => {}
    }
    if let Some(caption) = field_str(o, name, "caption")? {
        check_len(
            caption,
            limits::MEDIA_CAPTION_MAX,
            &format!("{name}['caption']"),
        )?;
    }
    if let Some(filename) = field_str(o, name, "filename")? {
        check_len(
            filename,
            limits::FILENAME_MAX,
            &format!("{name}['filename']"),
        )?;
    }
    Ok(MessageBody::Media {
        kind,
        object: Value::Object(o.clone()),
    })
}

fn coordinate(o: &Map<String, Value>, key: &str, bound: f64) -> Result<f64, MetaError> {
    let v = match o.get(key) {
        None | Some(Value::Null) => {
            return Err(MetaError::invalid_parameter(format!(
                "The parameter location['{key}'] is required."
            )));
        }
        Some(Value::Number(n)) => n.as_f64(),
        // Meta's own schema types coordinates as strings; clients send both.
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match v {
        Some(x) if x.is_finite() && x.abs() <= bound => Ok(x),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param location['{key}'] must be between -{bound} and {bound}."
        ))),
        None => Err(MetaError::invalid_parameter(format!(
            "Param location['{key}'] must be a number."
        ))),
    }
}

/// `location`: latitude and longitude (numbers or numeric strings), optional name and address.
pub(super) fn parse_location(obj: &Map<String, Value>) -> Result<MessageBody, MetaError> {
    let o = type_object(obj, "location")?;
    reject_unknown(o, "location", &["latitude", "longitude", "name", "address"])?;
    coordinate(o, "latitude", 90.0)?;
    coordinate(o, "longitude", 180.0)?;
    for key in ["name", "address"] {
        if let Some(s) = field_str(o, "location", key)? {
            check_len(s, limits::LOCATION_TEXT_MAX, &format!("location['{key}']"))?;
        }
    }
    Ok(MessageBody::Location(Value::Object(o.clone())))
}

/// `reaction`: `message_id` and `emoji`; an empty `emoji` removes the reaction.
pub(super) fn parse_reaction(obj: &Map<String, Value>) -> Result<MessageBody, MetaError> {
    let o = type_object(obj, "reaction")?;
    reject_unknown(o, "reaction", &["message_id", "emoji"])?;
    let message_id = required_str(o, "reaction", "message_id")?.to_string();
    let emoji = match o.get("emoji") {
        None | Some(Value::Null) => {
            return Err(MetaError::invalid_parameter(
                "The parameter reaction['emoji'] is required (an empty string removes the reaction).",
            ));
        }
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            // One emoji, possibly a sequence (skin tones, ZWJ, flags): no letters or digits.
            if s.chars().count() > limits::EMOJI_CHARS_MAX
                || s.chars().any(|c| c.is_ascii_alphanumeric())
            {
                return Err(MetaError::invalid_value(format!(
                    "Param reaction['emoji'] must be a single emoji; got \"{s}\"."
                )));
            }
            Some(s.clone())
        }
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param reaction['emoji'] must be a string.",
            ));
        }
    };
    Ok(MessageBody::Reaction { message_id, emoji })
}

/// `contacts`: a non-empty array of contact cards, each with `name.formatted_name`.
pub(super) fn parse_contacts(obj: &Map<String, Value>) -> Result<MessageBody, MetaError> {
    let cards = match obj.get("contacts") {
        None | Some(Value::Null) => return Err(MetaError::missing("contacts")),
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(MetaError::invalid_parameter(
                "Param contacts must not be empty.",
            ));
        }
        Some(_) => {
            return Err(MetaError::invalid_parameter(
                "Param contacts must be an array.",
            ));
        }
    };
    for (i, card) in cards.iter().enumerate() {
        let c = card.as_object().ok_or_else(|| {
            MetaError::invalid_parameter(format!("Param contacts[{i}] must be a JSON object."))
        })?;
        let name = match c.get("name") {
            Some(Value::Object(n)) => n,
            _ => {
                return Err(MetaError::invalid_parameter(format!(
                    "The parameter contacts[{i}]['name'] is required."
                )));
            }
        };
        required_str(name, &format!("contacts[{i}]['name']"), "formatted_name")?;
        for list in ["phones", "emails", "urls", "addresses"] {
            if let Some(v) = c.get(list)
                && !v.is_array()
            {
                return Err(MetaError::invalid_parameter(format!(
                    "Param contacts[{i}]['{list}'] must be an array."
                )));
            }
        }
    }
    Ok(MessageBody::Contacts(Value::Array(cards.clone())))
}

/// `template`: `name` and `language.code`; `components`, if any, an array. The template's
/// own rules are checked against the stored template, not here.
pub(super) fn parse_template(obj: &Map<String, Value>) -> Result<MessageBody, MetaError> {
    let o = type_object(obj, "template")?;
    let name = required_str(o, "template", "name")?;
    check_len(name, limits::TEMPLATE_NAME_MAX, "template['name']")?;
    match o.get("language") {
        Some(Value::Object(l)) => {
            required_str(l, "template['language']", "code")?;
        }
        _ => {
            return Err(MetaError::invalid_parameter(
                "The parameter template['language'] is required.",
            ));
        }
    }
    if let Some(c) = o.get("components")
        && !c.is_array()
        && !c.is_null()
    {
        return Err(MetaError::invalid_parameter(
            "Param template['components'] must be an array.",
        ));
    }
    Ok(MessageBody::Template(Value::Object(o.clone())))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::send::{MessageBody, SendRequest, Surface};

    fn send(ty: &str, object: Value) -> Result<SendRequest, crate::MetaError> {
        let mut v = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": ty});
        v[ty] = object;
        SendRequest::parse(&v, Surface::Graph)
    }

    fn code(r: Result<SendRequest, crate::MetaError>) -> i64 {
        r.map(|_| 0).unwrap_or_else(|e| e.code)
    }

    #[test]
    fn media_needs_exactly_one_source() {
        for ty in ["image", "video", "audio", "document", "sticker"] {
            assert_eq!(code(send(ty, json!({"id": "1234"}))), 0, "{ty} by id");
            assert_eq!(
                code(send(ty, json!({"link": "https://example.com/f"}))),
                0,
                "{ty} by link"
            );
            assert_eq!(code(send(ty, json!({}))), 131008, "{ty} with no source");
            assert_eq!(
                code(send(
                    ty,
                    json!({"id": "1", "link": "https://example.com/f"})
                )),
                100,
                "{ty} with both"
            );
            assert_eq!(
                code(send(ty, json!({"link": "ftp://example.com/f"}))),
                100,
                "{ty} by ftp"
            );
            assert_eq!(
                code(send(ty, json!({"link": "https://"}))),
                100,
                "{ty} by an empty URL"
            );
        }
        let missing = SendRequest::parse(
            &json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "image"}),
            Surface::Graph,
        );
        assert_eq!(code(missing), 131008);
    }

    #[test]
    fn captions_only_where_meta_allows_them_and_up_to_1024() {
        for ty in ["image", "video", "document"] {
            assert_eq!(
                code(send(ty, json!({"id": "1", "caption": "c".repeat(1024)}))),
                0,
                "{ty}"
            );
            let e = send(ty, json!({"id": "1", "caption": "c".repeat(1025)})).unwrap_err();
            assert_eq!(e.code, 100);
            assert!(e.details.unwrap().contains(&format!("{ty}['caption']")));
        }
        for ty in ["audio", "sticker"] {
            let e = send(ty, json!({"id": "1", "caption": "no"})).unwrap_err();
            assert_eq!(e.code, 100, "{ty}");
            assert!(e.details.unwrap().contains("caption"));
        }
        assert_eq!(
            code(send(
                "document",
                json!({"id": "1", "filename": "invoice.pdf"})
            )),
            0
        );
        assert_eq!(
            code(send("image", json!({"id": "1", "filename": "x.png"}))),
            100
        );
        assert_eq!(
            code(send(
                "document",
                json!({"id": "1", "filename": "f".repeat(241)})
            )),
            100
        );
    }

    #[test]
    fn locations_are_in_range() {
        let ok = send(
            "location",
            json!({"latitude": 90, "longitude": -180, "name": "Pole", "address": "N"}),
        );
        assert_eq!(code(ok), 0);
        assert_eq!(
            code(send(
                "location",
                json!({"latitude": "37.48", "longitude": "-122.14"})
            )),
            0
        );
        assert_eq!(
            code(send(
                "location",
                json!({"latitude": 90.0001, "longitude": 0})
            )),
            100
        );
        assert_eq!(
            code(send("location", json!({"latitude": 0, "longitude": 180.5}))),
            100
        );
        assert_eq!(
            code(send(
                "location",
                json!({"latitude": "north", "longitude": 0})
            )),
            100
        );
        assert_eq!(code(send("location", json!({"longitude": 0}))), 100);
        assert_eq!(
            code(send(
                "location",
                json!({"latitude": 1, "longitude": 1, "zoom": 3})
            )),
            100
        );
    }

    #[test]
    fn reactions_and_their_removal() {
        let r = send("reaction", json!({"message_id": "wamid.X", "emoji": "👍🏽"})).unwrap();
        assert_eq!(
            r.body,
            MessageBody::Reaction {
                message_id: "wamid.X".into(),
                emoji: Some("👍🏽".into())
            }
        );
        let r = send("reaction", json!({"message_id": "wamid.X", "emoji": ""})).unwrap();
        assert_eq!(
            r.body,
            MessageBody::Reaction {
                message_id: "wamid.X".into(),
                emoji: None
            }
        );
        assert_eq!(r.to_graph_body(None, None)["reaction"]["emoji"], "");
        assert_eq!(code(send("reaction", json!({"emoji": "👍"}))), 100);
        assert_eq!(
            code(send("reaction", json!({"message_id": "wamid.X"}))),
            100
        );
        assert_eq!(
            code(send(
                "reaction",
                json!({"message_id": "wamid.X", "emoji": "ok"})
            )),
            131009
        );
    }

    #[test]
    fn contact_cards_need_a_formatted_name() {
        let card = json!([{"name": {"formatted_name": "Ana Lima", "first_name": "Ana"}, "phones": [{"phone": "+1 555 0100", "type": "WORK"}]}]);
        let mut v =
            json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "contacts"});
        v["contacts"] = card;
        assert!(SendRequest::parse(&v, Surface::Graph).is_ok());
        v["contacts"] = json!([{"name": {"first_name": "Ana"}}]);
        assert_eq!(code(SendRequest::parse(&v, Surface::Graph)), 100);
        v["contacts"] = json!([]);
        assert_eq!(code(SendRequest::parse(&v, Surface::Graph)), 100);
        v["contacts"] = json!([{"name": {"formatted_name": "A"}, "phones": "555"}]);
        assert_eq!(code(SendRequest::parse(&v, Surface::Graph)), 100);
    }

    #[test]
    fn templates_need_a_name_and_a_language() {
        assert_eq!(
            code(send(
                "template",
                json!({"name": "hello_world", "language": {"code": "en_US"}})
            )),
            0
        );
        assert_eq!(
            code(send("template", json!({"language": {"code": "en_US"}}))),
            100
        );
        assert_eq!(code(send("template", json!({"name": "hello_world"}))), 100);
        assert_eq!(
            code(send(
                "template",
                json!({"name": "x", "language": {"code": "en"}, "components": {}})
            )),
            100
        );
    }

    #[test]
    fn every_kind_round_trips_through_the_graph_body() {
        let cases = [
            (
                "image",
                json!({"link": "https://example.com/a.png", "caption": "hi"}),
            ),
            ("document", json!({"id": "42", "filename": "a.pdf"})),
            ("location", json!({"latitude": 1.5, "longitude": 2.5})),
            ("reaction", json!({"message_id": "wamid.Y", "emoji": "❤️"})),
            (
                "template",
                json!({"name": "t", "language": {"code": "pt_BR"}}),
            ),
        ];
        for (ty, object) in cases {
            let r = send(ty, object.clone()).unwrap();
            assert_eq!(r.body.type_name(), ty);
            let again =
                SendRequest::parse(&r.to_graph_body(None, Some("msg_1")), Surface::Graph).unwrap();
            assert_eq!(again.body, r.body, "{ty}");
            assert_eq!(r.content_json()[ty], r.body.object_json());
        }
    }
}
