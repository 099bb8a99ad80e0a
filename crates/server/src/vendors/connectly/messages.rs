//! `POST /v1/businesses/{businessId}/send/messages` (session messages) and
//! `POST /v1/businesses/{businessId}/send/whatsapp_templated_messages` (templates).
//!
//! Each translates Connectly's body into a Cloud API send body, parses it with Meta's rules
//! (`openbsp_wire`) and sends it through the same core call as `/v1` and the
//! Cloud-API-compatible surface (windows, opt-outs, the template's state and parameters, the
//! sender), waiting (bounded) for Meta's acceptance so that WhatsApp's refusals come back in
//! the answer. The answer is Connectly's `{"id": …}`: the gateway's message id (`msg_…`), the
//! id its statuses and `GET /v1/messages/{id}` carry.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use openbsp_store::Channel;
use openbsp_wire::SendRequest;
use openbsp_wire::ids::{Bsuid, WaId};
use openbsp_wire::json::Unreadable;
use openbsp_wire::send::{ParseContext, Surface};
use serde_json::{Map, Value, json};

use super::auth::{Business, sender_channel};
use super::error::{ConnectlyError, code};
use crate::core::messages::{self, Awaited, SendInput};
use crate::core::{Core, templates};

/// Connectly's limit on `callbackData`, in bytes.
pub const CALLBACK_DATA_MAX_BYTES: usize = messages::MAX_CALLBACK_DATA_BYTES;
/// Longest `campaignName` taken.
pub const CAMPAIGN_NAME_MAX: usize = 128;
/// Most body variables a Connectly template send names (`body_1` … `body_15`).
pub const BODY_PARAMETERS_MAX: usize = 15;

/// The message kinds of a session message, as Connectly names them (old snake_case names
/// too); exactly one per message.
const KINDS: [(&str, &str); 6] = [
    ("text", "text"),
    ("attachments", "attachments"),
    ("location", "location"),
    ("listMessage", "list_message"),
    ("replyButtonMessage", "reply_button_message"),
    ("singleProductMessage", "single_product_message"),
];
const MULTI_PRODUCT: (&str, &str) = ("multiProductMessage", "multi_product_message");

/// The request body as a JSON object, or 400.
pub fn body_object(body: Result<Bytes, BytesRejection>) -> Result<(Bytes, Value), ConnectlyError> {
    let body = body.map_err(|e| {
        ConnectlyError::unreadable(
            e.status(),
            format!("the request body could not be read: {e}"),
        )
    })?;
    let v = openbsp_wire::json::read(&body).map_err(|e| {
        ConnectlyError::invalid(match e {
            Unreadable::Syntax(_) => "the request body could not be parsed as JSON",
            Unreadable::Nul => "the request body's strings must not contain NUL (\\u0000)",
        })
    })?;
    if !v.is_object() {
        return Err(ConnectlyError::invalid(
            "the request body must be a JSON object",
        ));
    }
    Ok((body, v))
}

/// The first of `names` present (and not null) in `obj`.
fn field<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| obj.get(*n).filter(|v| !v.is_null()))
}

/// A string field (among `names`), or `None`; another type is a 400 naming it.
fn string_field(obj: &Value, names: &[&str]) -> Result<Option<String>, ConnectlyError> {
    match field(obj, names) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => {
            Err(ConnectlyError::invalid(format!("{} must be a string", names[0])).at(names[0]))
        }
    }
}

/// `number`: E.164 (`+16502223333`), or a BSUID as `bsuid:US.…` (bare, too). As Cloud API
/// fields: `("to", "+…")` or `("recipient", "US.…")`.
fn recipient(number: &str, channel: &Channel) -> Result<(&'static str, String), ConnectlyError> {
    let n = number.trim();
    let bad = |e| ConnectlyError::meta_as(e, Some(code::PHONE_NUMBER_BAD_FORMAT)).at("number");
    if let Some(b) = n.strip_prefix("bsuid:") {
        return Bsuid::parse(b.trim())
            .map(|u| ("recipient", u.into_string()))
            .map_err(bad);
    }
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
    match WaId::parse_in(n, &ctx) {
        Ok(w) => Ok(("to", format!("+{}", w.as_str()))),
        Err(e) => match Bsuid::parse(n) {
            Ok(u) => Ok(("recipient", u.into_string())),
            Err(_) => Err(bad(e)),
        },
    }
}

/// `callbackData` as the gateway keeps it: a string as is, any other JSON compact, up to
/// Connectly's 1024 bytes. Kept on the message (never given to Meta) and echoed in the
/// `delivery_status` topic and in replies quoting the message.
pub fn callback_data(v: &Value) -> Result<Option<String>, ConnectlyError> {
    let data = match v.get("callbackData") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if data.len() > CALLBACK_DATA_MAX_BYTES {
        return Err(ConnectlyError::invalid(format!(
            "callbackData is at most {CALLBACK_DATA_MAX_BYTES} bytes; got {}",
            data.len()
        ))
        .at("callbackData"));
    }
    Ok(Some(data))
}

/// `campaignName`, checked. Accepted and logged; grouping sends into a campaign is pending.
fn campaign_name(v: &Value) -> Result<Option<String>, ConnectlyError> {
    let Some(name) = string_field(v, &["campaignName"])? else {
        return Ok(None);
    };
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > CAMPAIGN_NAME_MAX {
        return Err(ConnectlyError::invalid(format!(
            "campaignName must be 1 to {CAMPAIGN_NAME_MAX} characters"
        ))
        .at("campaignName"));
    }
    Ok(Some(name))
}

/// What a send carries besides its body: Connectly's `message.id` (its idempotency key), its
/// `campaignName` and its `callbackData`.
#[derive(Default)]
struct Extras {
    idempotency_key: Option<String>,
    campaign: Option<String>,
    callback: Option<String>,
}

/// Parses the Cloud API body with Meta's rules and sends it, in the tenant's campaign of
/// `extras.campaign` when one is named (DESIGN §2.8, grouped sends), keeping its callback data;
/// the gateway's message id.
async fn send(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    cloud: &Value,
    raw: &[u8],
    extras: Extras,
) -> Result<String, ConnectlyError> {
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
    let req = SendRequest::parse_in(cloud, Surface::Native, &ctx)?;
    let mut input = SendInput::new(tenant_id, channel, &req, raw, extras.idempotency_key);
    input.campaign = extras.campaign;
    input.callback_data = extras.callback;
    Ok(
        match messages::send_awaiting(core, input, core.config.cloud_api_wait).await? {
            Awaited::Sent { id, .. } => id,
            Awaited::Queued(m) | Awaited::Replayed(m) => m.id,
        },
    )
}

/// Addresses a Cloud API message body and adds what every send carries.
fn address(mut cloud: Value, to: (&str, String)) -> Value {
    cloud["messaging_product"] = json!("whatsapp");
    cloud[to.0] = json!(to.1);
    cloud
}

/// `POST …/send/messages`: one session message; `{"id"}`.
///
/// Two ways of writing it are taken: Connectly's documented `{"sender": {"id"},
/// "recipient": {"id"}, "message": {<one kind>}}`, and the flat `{"number", "sender"?,
/// <one kind>}` of their templated sends. `message.id` (Connectly's own message id) makes a
/// retry safe: the same id answers with the first message, nothing is sent twice.
pub async fn send_message(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (raw, v) = body_object(body)?;
    let number = match string_field(&v, &["number"])? {
        Some(n) => n,
        None => match v.get("recipient") {
            Some(r) => string_field(r, &["id", "userId"])
                .map_err(|e| e.at("recipient.id"))?
                .ok_or_else(|| {
                    ConnectlyError::invalid("recipient.id is required").at("recipient.id")
                })?,
            None => {
                return Err(
                    ConnectlyError::invalid("number (or recipient.id) is required").at("number"),
                );
            }
        },
    };
    let sender = match v.get("sender") {
        Some(Value::Object(_)) => string_field(&v["sender"], &["id"])?,
        _ => string_field(&v, &["sender"])?,
    };
    let message = match v.get("message") {
        None | Some(Value::Null) => &v,
        Some(m @ Value::Object(_)) => {
            if let Some(k) = kinds_in(&v).first() {
                return Err(ConnectlyError::invalid(format!(
                    "give the message's content in message, not beside it (found {k} at the top level)"
                ))
                .at(*k));
            }
            m
        }
        Some(_) => return Err(ConnectlyError::invalid("message must be an object").at("message")),
    };
    let kinds = kinds_in(message);
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return Err(ConnectlyError::invalid(
                "a message needs exactly one of text, attachments, location, listMessage, \
                 replyButtonMessage, singleProductMessage, multiProductMessage; got none",
            ));
        }
        many => {
            return Err(ConnectlyError::invalid(format!(
                "a message needs exactly one of text, attachments, location, listMessage, \
                 replyButtonMessage, singleProductMessage, multiProductMessage; got {}",
                many.join(", ")
            )));
        }
    };
    let message_id = string_field(message, &["id"])?.filter(|s| !s.trim().is_empty());
    let channel = sender_channel(&core, &tenant_id, sender.as_deref()).await?;
    let to = recipient(&number, &channel)?;
    let callback = callback_data(&v)?;
    let campaign = campaign_name(&v)?;
    let content = content(kind, message)?;
    let cloud = address(content, to);
    // Connectly groups templated messages by campaignName; a session message is no campaign's.
    let _ = campaign;
    let extras = Extras {
        idempotency_key: message_id,
        campaign: None,
        callback,
    };
    let id = send(&core, &tenant_id, &channel, &cloud, &raw, extras).await?;
    Ok(Json(json!({"id": id})))
}

/// The kinds a message object holds (their first-listed names).
fn kinds_in(m: &Value) -> Vec<&'static str> {
    KINDS
        .iter()
        .chain(std::iter::once(&MULTI_PRODUCT))
        .filter(|(camel, snake)| field(m, &[camel, snake]).is_some())
        .map(|(camel, _)| *camel)
        .collect()
}

/// The Cloud API content of one session message kind.
fn content(kind: &str, m: &Value) -> Result<Value, ConnectlyError> {
    match kind {
        "text" => {
            let text = match &m["text"] {
                Value::String(s) => s.clone(),
                Value::Object(_) => {
                    string_field(&m["text"], &["body", "text"])?.unwrap_or_default()
                }
                _ => return Err(ConnectlyError::invalid("text must be a string").at("text")),
            };
            if text.trim().is_empty() {
                return Err(ConnectlyError::bad(code::TEXT_EMPTY, "text is empty").at("text"));
            }
            Ok(json!({"type": "text", "text": {"body": text}}))
        }
        "attachments" => {
            let Some(list) = m["attachments"].as_array() else {
                return Err(
                    ConnectlyError::invalid("attachments must be an array").at("attachments")
                );
            };
            if list.len() != 1 {
                return Err(ConnectlyError::bad(
                    code::ATTACHMENTS_NUMBER_INVALID,
                    format!("a message takes exactly one attachment; got {}", list.len()),
                )
                .at("attachments"));
            }
            media(&list[0], true).map_err(|e| e.at("attachments[0]"))
        }
        "location" => {
            let l = &m["location"];
            let mut out = Map::new();
            for (from, to) in [
                ("latitude", "latitude"),
                ("longitude", "longitude"),
                ("name", "name"),
                ("address", "address"),
            ] {
                if let Some(x) = l.get(from).filter(|x| !x.is_null()) {
                    out.insert(to.into(), x.clone());
                }
            }
            Ok(json!({"type": "location", "location": Value::Object(out)}))
        }
        "listMessage" => {
            list_message(field(m, &["listMessage", "list_message"]).unwrap_or(&Value::Null))
        }
        "replyButtonMessage" => reply_buttons(
            field(m, &["replyButtonMessage", "reply_button_message"]).unwrap_or(&Value::Null),
        ),
        "singleProductMessage" => single_product(
            field(m, &["singleProductMessage", "single_product_message"]).unwrap_or(&Value::Null),
        ),
        _ => multi_product(
            field(m, &["multiProductMessage", "multi_product_message"]).unwrap_or(&Value::Null),
        ),
    }
}

/// An attachment `{type, url, caption?, filename?}` as a Cloud API media message (or, when
/// `message` is false, as an interactive header).
fn media(a: &Value, message: bool) -> Result<Value, ConnectlyError> {
    let kind = string_field(a, &["type"])?
        .unwrap_or_default()
        .to_ascii_lowercase();
    let kind = kind.strip_prefix("type_").unwrap_or(&kind).to_string();
    if !["image", "video", "audio", "document"].contains(&kind.as_str()) {
        return Err(ConnectlyError::bad(
            code::ATTACHMENT_INVALID,
            format!("an attachment's type is image, video, audio or document; got \"{kind}\""),
        ));
    }
    let url = match string_field(a, &["url"])? {
        Some(u) => Some(u),
        None => match a.get("asset") {
            Some(asset) => string_field(asset, &["url"])?,
            None => None,
        },
    };
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        return Err(ConnectlyError::bad(
            code::ATTACHMENT_EMPTY,
            "an attachment needs the url of its file",
        ));
    };
    let mut object = json!({"link": url});
    if message {
        if let Some(c) = string_field(a, &["caption"])? {
            object["caption"] = json!(c);
        }
        if let Some(f) = string_field(a, &["filename"])? {
            object["filename"] = json!(f);
        }
    }
    Ok(json!({"type": kind, kind.clone(): object}))
}

/// The body text of an interactive message: `text`, or `body` (a string or `{text}`).
fn body_text(m: &Value) -> Result<Option<String>, ConnectlyError> {
    if let Some(t) = string_field(m, &["text"])? {
        return Ok(Some(t));
    }
    match m.get("body") {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(b @ Value::Object(_)) => string_field(b, &["text"]),
        _ => Ok(None),
    }
}

/// `{text}` (a string, or `{text}`) of a header or a footer.
fn text_of(v: &Value) -> Result<Option<String>, ConnectlyError> {
    match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(_) => string_field(v, &["text"]),
        _ => Ok(None),
    }
}

/// Adds `header`, `body` and `footer` of a Connectly interactive message to `out`.
fn frame(m: &Value, out: &mut Value) -> Result<(), ConnectlyError> {
    if let Some(h) = m.get("header").filter(|h| !h.is_null()) {
        if let Some(a) = h.get("attachment").filter(|a| !a.is_null()) {
            out["header"] = media(a, false).map_err(|e| e.at("header.attachment"))?;
        } else if let Some(t) = text_of(h)? {
            out["header"] = json!({"type": "text", "text": t});
        }
    }
    if let Some(t) = body_text(m)? {
        out["body"] = json!({"text": t});
    }
    if let Some(f) = m.get("footer").filter(|f| !f.is_null())
        && let Some(t) = text_of(f)?
    {
        out["footer"] = json!({"text": t});
    }
    Ok(())
}

/// `listMessage{header?, text|body, footer?, button{text}|buttonText, sections[{title,
/// rows[{id, text, description?}]}]}` → an interactive list.
fn list_message(m: &Value) -> Result<Value, ConnectlyError> {
    let mut out = json!({"type": "list"});
    frame(m, &mut out)?;
    let button = match string_field(m, &["buttonText", "button_text"])? {
        Some(b) => Some(b),
        None => m.get("button").map(text_of).transpose()?.flatten(),
    };
    let sections: Vec<Value> = m
        .get("sections")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .map(|section| {
                    let rows: Vec<Value> = section
                        .get("rows")
                        .and_then(Value::as_array)
                        .map(|r| {
                            r.iter()
                                .map(|row| {
                                    let mut out = json!({"id": row["id"],
                                        "title": field(row, &["text", "title"]).cloned().unwrap_or(Value::Null)});
                                    if let Some(d) = row.get("description").filter(|d| !d.is_null()) {
                                        out["description"] = d.clone();
                                    }
                                    out
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut out = json!({"rows": rows});
                    if let Some(t) = section.get("title").filter(|t| !t.is_null()) {
                        out["title"] = t.clone();
                    }
                    out
                })
                .collect()
        })
        .unwrap_or_default();
    out["action"] = json!({"button": button, "sections": sections});
    Ok(json!({"type": "interactive", "interactive": out}))
}

/// `replyButtonMessage{header?, text|body, footer?, buttons[{id, text}]}` → interactive
/// reply buttons.
fn reply_buttons(m: &Value) -> Result<Value, ConnectlyError> {
    let mut out = json!({"type": "button"});
    frame(m, &mut out)?;
    let buttons: Vec<Value> = m
        .get("buttons")
        .and_then(Value::as_array)
        .map(|b| {
            b.iter()
                .map(|b| {
                    json!({"type": "reply", "reply": {"id": b["id"],
                        "title": field(b, &["text", "title"]).cloned().unwrap_or(Value::Null)}})
                })
                .collect()
        })
        .unwrap_or_default();
    out["action"] = json!({"buttons": buttons});
    Ok(json!({"type": "interactive", "interactive": out}))
}

/// The catalog id of a product message.
fn catalog_id(m: &Value) -> Result<Option<String>, ConnectlyError> {
    string_field(m, &["catalogId", "catalog_id"])
}

/// `singleProductMessage{text?, footer?, catalogId, productRetailerId}` → interactive product.
fn single_product(m: &Value) -> Result<Value, ConnectlyError> {
    let mut out = json!({"type": "product"});
    frame(m, &mut out)?;
    out["action"] = json!({
        "catalog_id": catalog_id(m)?,
        "product_retailer_id": string_field(m, &["productRetailerId", "product_retailer_id", "productId"])?,
    });
    Ok(json!({"type": "interactive", "interactive": out}))
}

/// `multiProductMessage{header, text, footer?, catalogId, sections[{title, productItems[{
/// productRetailerId}]}]}` → interactive product list.
fn multi_product(m: &Value) -> Result<Value, ConnectlyError> {
    let mut out = json!({"type": "product_list"});
    frame(m, &mut out)?;
    let mut sections = Vec::new();
    for s in m
        .get("sections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut items = Vec::new();
        for i in field(s, &["productItems", "product_items"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            items.push(json!({"product_retailer_id":
                string_field(i, &["productRetailerId", "product_retailer_id", "productId"])?}));
        }
        let mut out = json!({"product_items": items});
        if let Some(t) = s.get("title").filter(|t| !t.is_null()) {
            out["title"] = t.clone();
        }
        sections.push(out);
    }
    out["action"] = json!({"catalog_id": catalog_id(m)?, "sections": sections});
    Ok(json!({"type": "interactive", "interactive": out}))
}

/// The parameters of a templated send, sorted by what they fill.
#[derive(Debug, Default)]
struct Parameters {
    /// `header_text`, or `header_image` / `header_video` / `header_document` as a Cloud API
    /// header parameter.
    header: Option<Value>,
    /// `body_1` … `body_N`, in order.
    body: Vec<String>,
    /// `button_N_url`: the button's position (0-based) and its URL variable.
    buttons: Vec<(usize, String)>,
}

/// Reads Connectly's `parameters: [{"name", "value"}]` (an object `{name: value}` too).
fn parameters(v: &Value) -> Result<Parameters, ConnectlyError> {
    let pairs: Vec<(String, Value)> = match v.get("parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| {
                let name = p.get("name").and_then(Value::as_str).ok_or_else(|| {
                    ConnectlyError::template_input("each parameter needs a name and a value")
                })?;
                Ok((
                    name.to_string(),
                    p.get("value").cloned().unwrap_or(Value::Null),
                ))
            })
            .collect::<Result<_, ConnectlyError>>()?,
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            return Err(ConnectlyError::template_input(
                "parameters must be an array of {name, value}",
            ));
        }
    };
    let mut out = Parameters::default();
    let mut body: Vec<Option<String>> = vec![None; BODY_PARAMETERS_MAX];
    let mut seen = std::collections::HashSet::new();
    for (name, value) in pairs {
        if !seen.insert(name.clone()) {
            return Err(ConnectlyError::template_input(format!(
                "parameter {name} is given twice"
            )));
        }
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(ConnectlyError::template_input(format!(
                    "parameter {name} needs a string value"
                )));
            }
        };
        let header = |kind: &str| {
            if kind == "text" {
                json!({"type": "text", "text": value})
            } else {
                json!({"type": kind, kind: {"link": value}})
            }
        };
        match name.as_str() {
            "header_text" | "header_image" | "header_video" | "header_document" => {
                if out.header.is_some() {
                    return Err(ConnectlyError::template_input(
                        "give at most one of header_text, header_image, header_video, header_document",
                    ));
                }
                out.header = Some(header(&name["header_".len()..]));
            }
            _ => {
                let body_n = name
                    .strip_prefix("body_")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| (1..=BODY_PARAMETERS_MAX).contains(n));
                let button_n = name
                    .strip_prefix("button_")
                    .and_then(|r| r.strip_suffix("_url"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| (1..=10).contains(n));
                match (body_n, button_n) {
                    (Some(n), _) => body[n - 1] = Some(value),
                    (_, Some(n)) => out.buttons.push((n - 1, value)),
                    _ => {
                        return Err(ConnectlyError::template_input(format!(
                            "unknown parameter {name}: the names are header_text, header_image, \
                             header_video, header_document, body_1 … body_{BODY_PARAMETERS_MAX} \
                             and button_N_url"
                        )));
                    }
                }
            }
        }
    }
    let given = body.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    for (i, b) in body.into_iter().take(given).enumerate() {
        match b {
            Some(b) => out.body.push(b),
            None => {
                return Err(ConnectlyError::template_input(format!(
                    "body_{} is missing: body parameters go from body_1 to body_{given} without gaps",
                    i + 1
                )));
            }
        }
    }
    out.buttons.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// `POST …/send/whatsapp_templated_messages`: one template message; `{"id"}`.
pub async fn send_template(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (raw, v) = body_object(body)?;
    let number = string_field(&v, &["number"])?
        .ok_or_else(|| ConnectlyError::invalid("number is required").at("number"))?;
    let name = string_field(&v, &["templateName"])?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ConnectlyError::invalid("templateName is required").at("templateName"))?;
    let language = match v.get("language") {
        Some(Value::Object(_)) => string_field(&v["language"], &["code"])?,
        _ => string_field(&v, &["language"])?,
    };
    let sender = string_field(&v, &["sender"])?;
    let params = parameters(&v)?;
    let channel = sender_channel(&core, &tenant_id, sender.as_deref()).await?;
    let to = recipient(&number, &channel)?;
    let callback = callback_data(&v)?;
    let campaign = campaign_name(&v)?;
    let language = match language.filter(|l| !l.trim().is_empty()) {
        Some(l) => l,
        None => only_language(&core, &channel, &name).await?,
    };
    let mut message = json!({"type": "template",
        "template": {"name": name, "language": {"code": language}}});
    if !params.body.is_empty() {
        // The stored template says whether its variables are positional or named.
        message = templates::fill_variables(&core, &channel, &message, &params.body).await?;
    }
    let mut components: Vec<Value> = message["template"]["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(h) = params.header {
        components.insert(0, json!({"type": "header", "parameters": [h]}));
    }
    for (index, value) in params.buttons {
        components.push(
            json!({"type": "button", "sub_type": "url", "index": index.to_string(),
            "parameters": [{"type": "text", "text": value}]}),
        );
    }
    if !components.is_empty() {
        message["template"]["components"] = json!(components);
    }
    let cloud = address(message, to);
    let extras = Extras {
        campaign,
        callback,
        ..Default::default()
    };
    let id = send(&core, &tenant_id, &channel, &cloud, &raw, extras).await?;
    Ok(Json(json!({"id": id})))
}

/// Without `language` (an old Connectly example leaves it out): the template's only language
/// on the number's WhatsApp Business Account; with several, the error names them.
async fn only_language(
    core: &Core,
    channel: &Channel,
    name: &str,
) -> Result<String, ConnectlyError> {
    let found = templates::list(
        core,
        &openbsp_store::TemplateFilter {
            tenant_id: channel.tenant_id.clone(),
            waba_id: Some(channel.waba_id.clone()),
            name: Some(name.to_string()),
            limit: 100,
            ..Default::default()
        },
    )
    .await?;
    let mut languages: Vec<String> = found.into_iter().map(|t| t.language).collect();
    languages.dedup();
    match languages.len() {
        1 => Ok(languages.remove(0)),
        0 => Err(ConnectlyError::template_not_found(format!(
            "template {name} does not exist on this business's WhatsApp account"
        ))
        .at("templateName")),
        _ => Err(ConnectlyError::invalid(format!(
            "template {name} exists in {}: name the one to send as language",
            languages.join(", ")
        ))
        .at("language")),
    }
}
