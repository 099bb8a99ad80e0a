//! The kinds of inbound message of reference §3.3, checked the way Meta produces them: what
//! Meta always sends is required, what it sometimes sends is type-checked, and what Meta adds
//! on its own (the `errors` of an `unsupported` message, `interactive.type`) is filled in.
//! Types outside the list only need their object.

use serde_json::{Map, Value, json};

use super::{InboundError, invalid, is_wa_id};

/// A required non-empty string field.
pub(super) fn req_str<'a>(
    o: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a str, InboundError> {
    match o.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        None | Some(Value::Null) => Err(invalid(&format!("{path}.{key}"), "is required")),
        Some(_) => Err(invalid(
            &format!("{path}.{key}"),
            "must be a non-empty string",
        )),
    }
}

/// An optional string field.
pub(super) fn opt_str<'a>(
    o: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'a str>, InboundError> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(&format!("{path}.{key}"), "must be a string")),
    }
}

/// An optional boolean field.
pub(super) fn opt_bool(
    o: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<bool>, InboundError> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(&format!("{path}.{key}"), "must be a boolean")),
    }
}

fn object<'a>(
    o: &'a mut Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a mut Map<String, Value>, InboundError> {
    match o.get_mut(key) {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Err(invalid(
            &format!("{path}.{key}"),
            format!("an object is required for type '{key}'"),
        )),
        Some(_) => Err(invalid(&format!("{path}.{key}"), "must be a JSON object")),
    }
}

fn number_in(
    o: &Map<String, Value>,
    path: &str,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<(), InboundError> {
    match o.get(key).and_then(Value::as_f64) {
        Some(x) if range.contains(&x) => Ok(()),
        Some(_) => Err(invalid(
            &format!("{path}.{key}"),
            format!("must be between {} and {}", range.start(), range.end()),
        )),
        None if o.contains_key(key) => Err(invalid(&format!("{path}.{key}"), "must be a number")),
        None => Err(invalid(&format!("{path}.{key}"), "is required")),
    }
}

fn non_empty_array<'a>(
    o: &'a Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<&'a [Value], InboundError> {
    match o.get(key) {
        Some(Value::Array(a)) if !a.is_empty() => {
            if let Some(i) = a.iter().position(|x| !x.is_object()) {
                return Err(invalid(&format!("{field}[{i}]"), "must be a JSON object"));
            }
            Ok(a)
        }
        None | Some(Value::Null) => Err(invalid(field, "is required")),
        Some(_) => Err(invalid(field, "must be a non-empty array of objects")),
    }
}

/// Meta's `errors[]` on an `unsupported` message it does not pass on.
pub(crate) fn unsupported_errors() -> Value {
    json!([{
        "code": 131051,
        "title": "Message type unknown",
        "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."},
    }])
}

const REPLIES: [&str; 3] = ["button_reply", "list_reply", "nfm_reply"];

/// Checks (and completes) the message of type `kind`; `msg` is the message without `type`.
pub(super) fn check(kind: &str, msg: &mut Map<String, Value>) -> Result<(), InboundError> {
    let path = "message";
    let at = format!("message.{kind}");
    match kind {
        "text" => {
            let t = object(msg, path, kind)?;
            req_str(t, &at, "body")?;
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            let m = object(msg, path, kind)?;
            // Either Meta's reference (`id`, `mime_type`), or a `file` the simulator stores
            // as a media and replaces with `id`, `mime_type`, `sha256` and `url`.
            if let Some(file) = m.get("file") {
                if !file.is_object() {
                    return Err(invalid(&format!("{at}.file"), "must be a JSON object"));
                }
                for key in ["id", "sha256", "url"] {
                    if m.contains_key(key) {
                        return Err(invalid(
                            &format!("{at}.{key}"),
                            "is set by the simulator from file; leave it out",
                        ));
                    }
                }
                opt_str(m, &at, "mime_type")?;
            } else {
                req_str(m, &at, "id")?;
                req_str(m, &at, "mime_type")?;
                opt_str(m, &at, "sha256")?;
                opt_str(m, &at, "url")?;
            }
            match kind {
                "audio" => {
                    opt_bool(m, &at, "voice")?;
                }
                "sticker" => {
                    opt_bool(m, &at, "animated")?;
                }
                _ => {
                    opt_str(m, &at, "caption")?;
                }
            }
            if kind == "document" {
                opt_str(m, &at, "filename")?;
            }
            for key in ["caption", "voice", "animated", "filename"] {
                let allowed = match key {
                    "caption" => matches!(kind, "image" | "video" | "document"),
                    "voice" => kind == "audio",
                    "animated" => kind == "sticker",
                    _ => kind == "document",
                };
                if !allowed && m.contains_key(key) {
                    return Err(invalid(
                        &format!("{at}.{key}"),
                        format!("Meta sends no {key} with {kind} messages"),
                    ));
                }
            }
        }
        "interactive" => {
            let i = object(msg, path, kind)?;
            let present: Vec<&str> = REPLIES
                .iter()
                .copied()
                .filter(|r| i.contains_key(*r))
                .collect();
            let reply = match present.as_slice() {
                [one] => *one,
                [] => {
                    return Err(invalid(
                        &at,
                        "needs one of button_reply, list_reply and nfm_reply",
                    ));
                }
                _ => {
                    return Err(invalid(
                        &at,
                        "needs exactly one of button_reply, list_reply and nfm_reply",
                    ));
                }
            };
            match opt_str(i, &at, "type")? {
                None => {
                    i.insert("type".into(), json!(reply));
                }
                Some(t) if t == reply => {}
                Some(t) => {
                    return Err(invalid(
                        &format!("{at}.type"),
                        format!("is '{t}' but the message carries {reply}"),
                    ));
                }
            }
            let r = object(i, &at, reply)?;
            let rpath = format!("{at}.{reply}");
            match reply {
                "button_reply" => {
                    req_str(r, &rpath, "id")?;
                    req_str(r, &rpath, "title")?;
                }
                "list_reply" => {
                    req_str(r, &rpath, "id")?;
                    req_str(r, &rpath, "title")?;
                    opt_str(r, &rpath, "description")?;
                }
                _ => {
                    let json = req_str(r, &rpath, "response_json")?;
                    if serde_json::from_str::<Value>(json).is_err() {
                        return Err(invalid(
                            &format!("{rpath}.response_json"),
                            "must be a string holding JSON, as Meta sends it",
                        ));
                    }
                    opt_str(r, &rpath, "body")?;
                    opt_str(r, &rpath, "name")?;
                }
            }
        }
        "button" => {
            let b = object(msg, path, kind)?;
            match b.get("payload") {
                Some(Value::String(_)) => {}
                None | Some(Value::Null) => {
                    return Err(invalid(&format!("{at}.payload"), "is required"));
                }
                Some(_) => return Err(invalid(&format!("{at}.payload"), "must be a string")),
            }
            req_str(b, &at, "text")?;
        }
        "reaction" => {
            let r = object(msg, path, kind)?;
            req_str(r, &at, "message_id")?;
            // Meta leaves `emoji` out when a reaction is removed.
            if opt_str(r, &at, "emoji")?.is_some_and(str::is_empty) {
                r.remove("emoji");
            }
        }
        "location" => {
            let l = object(msg, path, kind)?;
            number_in(l, &at, "latitude", -90.0..=90.0)?;
            number_in(l, &at, "longitude", -180.0..=180.0)?;
            for key in ["name", "address", "url"] {
                opt_str(l, &at, key)?;
            }
        }
        "contacts" => {
            non_empty_array(msg, "message.contacts", "contacts")?;
        }
        "order" => {
            let o = object(msg, path, kind)?;
            opt_str(o, &at, "catalog_id")?;
            opt_str(o, &at, "text")?;
            let items = non_empty_array(o, &format!("{at}.product_items"), "product_items")?;
            for (n, item) in items.iter().enumerate() {
                let ipath = format!("{at}.product_items[{n}]");
                if let Some(item) = item.as_object() {
                    req_str(item, &ipath, "product_retailer_id")?;
                    if !item.get("quantity").is_some_and(Value::is_u64) {
                        return Err(invalid(
                            &format!("{ipath}.quantity"),
                            "must be a whole number",
                        ));
                    }
                }
            }
        }
        "system" => {
            let s = object(msg, path, kind)?;
            req_str(s, &at, "body")?;
            let ty = req_str(s, &at, "type")?;
            if ty == "user_changed_number" {
                let key = if s.contains_key("wa_id") {
                    "wa_id"
                } else {
                    "new_wa_id"
                };
                let new = req_str(s, &at, key).map_err(|_| {
                    invalid(
                        &format!("{at}.wa_id"),
                        "the new number (wa_id) is required for user_changed_number",
                    )
                })?;
                if !is_wa_id(new) {
                    return Err(invalid(
                        &format!("{at}.{key}"),
                        "must be a wa_id: 7 to 15 digits, no '+'",
                    ));
                }
            }
        }
        "unsupported" => {
            if let Some(u) = msg.get("unsupported") {
                let u = u
                    .as_object()
                    .ok_or_else(|| invalid(&at, "must be a JSON object"))?;
                opt_str(u, &at, "type")?;
            }
            match msg.get("errors") {
                None | Some(Value::Null) => {
                    msg.insert("errors".into(), unsupported_errors());
                }
                Some(_) => {
                    let errors = non_empty_array(msg, "message.errors", "errors")?;
                    for (n, e) in errors.iter().enumerate() {
                        if !e.get("code").is_some_and(Value::is_i64) {
                            return Err(invalid(
                                &format!("message.errors[{n}].code"),
                                "must be Meta's error code (an integer)",
                            ));
                        }
                    }
                }
            }
        }
        // Kinds outside reference §3.3 carry an object named after them.
        other => {
            object(msg, path, other)?;
        }
    }
    Ok(())
}

/// The new number of a valid `user_changed_number` system message.
pub(super) fn changed_number(msg: &Map<String, Value>) -> Option<&str> {
    let s = msg.get("system")?;
    if s.get("type")?.as_str()? != "user_changed_number" {
        return None;
    }
    ["wa_id", "new_wa_id"]
        .iter()
        .find_map(|k| s.get(*k).and_then(Value::as_str))
}
