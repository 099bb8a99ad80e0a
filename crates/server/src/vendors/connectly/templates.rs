//! `POST /v1/businesses/{businessId}/create/template` and `…/get/templates` (GET, or POST
//! without a body as Connectly documents it), in Connectly's shapes (`vendors.md` §4.5),
//! through the core's template create and list: validated as Meta validates, submitted to
//! Meta, reviewed.
//!
//! A template group is one name on one WhatsApp Business Account; its `id` is
//! `<waba_id>:<name>`. A translation's `id` is Meta's template id (the gateway's `tpl_…` while
//! Meta has given none). Statuses are `MESSAGE_TEMPLATE_STATUS_<Meta's status>`, categories
//! `MESSAGE_TEMPLATE_GROUP_CATEGORY_<Meta's category>`; Meta's own template is beside, in
//! `externalTemplate.whatsapp`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use openbsp_store::{Template, TemplateFilter};
use serde_json::{Value, json};

use super::auth::{Business, sender_channel};
use super::error::ConnectlyError;
use super::messages::body_object;
use crate::core::{Core, templates as service};

const CATEGORY_PREFIX: &str = "MESSAGE_TEMPLATE_GROUP_CATEGORY_";
const STATUS_PREFIX: &str = "MESSAGE_TEMPLATE_STATUS_";
/// Templates read per page when listing.
const PAGE: u32 = 500;

/// Examples as Meta's flat list of strings (Connectly's `example` is a list, a list of lists,
/// or one string).
fn examples(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) => a
            .iter()
            .flat_map(|x| match x {
                Value::Array(inner) => inner.clone(),
                other => vec![other.clone()],
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One of Connectly's `template_components` as Meta's component (a component already in
/// Meta's shape, with a `type`, is taken as is).
fn meta_component(c: &Value) -> Result<Value, ConnectlyError> {
    if c.get("type").is_some() {
        return Ok(c.clone());
    }
    let bad = || {
        ConnectlyError::invalid(format!(
            "a template component is one of header, body, footer, buttons; got {c}"
        ))
        .at("template_components")
    };
    if let Some(h) = c.get("header") {
        if let Some(t) = h.get("text") {
            let mut out = json!({"type": "HEADER", "format": "TEXT", "text": t["text"]});
            let ex = examples(t.get("example"));
            if !ex.is_empty() {
                out["example"] = json!({"header_text": ex});
            }
            return Ok(out);
        }
        if let Some(m) = h.get("media") {
            let kind = m["type"].as_str().unwrap_or("").to_ascii_uppercase();
            let format = kind.strip_prefix("TYPE_").unwrap_or(&kind).to_string();
            let mut out = json!({"type": "HEADER", "format": format});
            let ex = examples(m.get("example"));
            if !ex.is_empty() {
                out["example"] = json!({"header_handle": ex});
            }
            return Ok(out);
        }
        return Err(bad());
    }
    if let Some(b) = c.get("body") {
        let t = &b["text"];
        let mut out = json!({"type": "BODY", "text": t["text"]});
        let ex = examples(t.get("example"));
        if !ex.is_empty() {
            out["example"] = json!({"body_text": [ex]});
        }
        return Ok(out);
    }
    if let Some(f) = c.get("footer") {
        return Ok(json!({"type": "FOOTER", "text": f["text"]["text"]}));
    }
    if let Some(b) = c.get("buttons") {
        let list = b.get("buttons").unwrap_or(b);
        let mut buttons = Vec::new();
        for x in list.as_array().into_iter().flatten() {
            buttons.push(if let Some(u) = x.get("url") {
                let mut out = json!({"type": "URL", "text": u["text"], "url": u["url"]});
                let ex = examples(u.get("example"));
                if !ex.is_empty() {
                    out["example"] = json!(ex);
                }
                out
            } else if let Some(q) = x.get("quickReply").or_else(|| x.get("quick_reply")) {
                json!({"type": "QUICK_REPLY", "text": q["text"]})
            } else if let Some(p) = x.get("phoneNumber").or_else(|| x.get("phone_number")) {
                json!({"type": "PHONE_NUMBER", "text": p["text"],
                       "phone_number": p.get("phoneNumber").or_else(|| p.get("phone_number"))})
            } else {
                x.clone()
            });
        }
        return Ok(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    Err(bad())
}

/// Meta's component as Connectly shows it.
fn connectly_component(c: &Value) -> Value {
    let kind = c["type"].as_str().unwrap_or("").to_ascii_uppercase();
    match kind.as_str() {
        "HEADER" => {
            let format = c["format"].as_str().unwrap_or("TEXT").to_ascii_uppercase();
            if format == "TEXT" {
                json!({"header": {"text": {"text": c["text"],
                    "example": c.pointer("/example/header_text").cloned().unwrap_or(json!([]))}}})
            } else {
                json!({"header": {"media": {"type": format!("TYPE_{format}"),
                    "example": c.pointer("/example/header_handle").cloned().unwrap_or(json!([]))}}})
            }
        }
        "BODY" => json!({"body": {"text": {"text": c["text"],
            "example": c.pointer("/example/body_text/0").cloned().unwrap_or(json!([]))}}}),
        "FOOTER" => json!({"footer": {"text": {"text": c["text"]}}}),
        "BUTTONS" => {
            let buttons: Vec<Value> = c["buttons"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| match b["type"].as_str().unwrap_or("") {
                    "URL" => json!({"url": {"text": b["text"], "url": b["url"],
                        "example": b.get("example").cloned().unwrap_or(json!([]))}}),
                    "QUICK_REPLY" => json!({"quickReply": {"text": b["text"]}}),
                    "PHONE_NUMBER" => json!({"phoneNumber": {"text": b["text"],
                        "phoneNumber": b["phone_number"]}}),
                    _ => b.clone(),
                })
                .collect();
            json!({"buttons": {"buttons": buttons}})
        }
        _ => c.clone(),
    }
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// One translation (a language) of a template group.
fn translation(t: &Template) -> Value {
    let meta_id = t.meta_template_id.clone().unwrap_or_else(|| t.id.clone());
    let components: Vec<Value> = t
        .components
        .as_array()
        .into_iter()
        .flatten()
        .map(connectly_component)
        .collect();
    json!({
        "id": meta_id,
        "language": {"code": t.language},
        "status": format!("{STATUS_PREFIX}{}", t.status),
        "createdAt": rfc3339(t.created_at),
        "updatedAt": rfc3339(t.updated_at),
        "templateComponents": components,
        "rejectionReason": t.reason.clone().unwrap_or_default(),
        "externalTemplate": {"whatsapp": {
            "id": meta_id, "name": t.name, "language": t.language, "status": t.status,
            "category": t.category, "components": t.components,
            "parameter_format": t.parameter_format,
        }},
    })
}

/// A template group: one name on one WABA, with its translations.
fn group(ts: &[&Template]) -> Value {
    let first = ts[0];
    json!({
        "id": format!("{}:{}", first.waba_id, first.name),
        "name": first.name,
        "category": first.category.as_ref().map(|c| format!("{CATEGORY_PREFIX}{c}")),
        "templates": ts.iter().map(|t| translation(t)).collect::<Vec<_>>(),
    })
}

/// `POST …/create/template`: `{name, language: {code} | "en_US", category:
/// MESSAGE_TEMPLATE_GROUP_CATEGORY_…, template_components: […], sender?}` →
/// `{"entity": <group with the new translation>}`. `sender` (not Connectly's; optional) picks
/// the number whose WhatsApp Business Account gets it, else the business's only number.
pub async fn create(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (_, v) = body_object(body)?;
    let sender = v.get("sender").and_then(Value::as_str);
    let channel = sender_channel(&core, &tenant_id, sender).await?;
    let language = match &v["language"] {
        Value::Object(_) => v["language"]["code"].clone(),
        other => other.clone(),
    };
    let category = match v["category"].as_str() {
        Some(c) => json!(
            c.strip_prefix(CATEGORY_PREFIX)
                .unwrap_or(c)
                .to_ascii_uppercase()
        ),
        None => v["category"].clone(),
    };
    let components = v
        .get("template_components")
        .or_else(|| v.get("templateComponents"))
        .or_else(|| v.get("components"));
    let components: Vec<Value> = match components {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(meta_component).collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(
                ConnectlyError::invalid("template_components must be an array")
                    .at("template_components"),
            );
        }
    };
    let mut meta = json!({"name": v["name"], "language": language, "category": category,
        "components": components});
    if let Some(f) = v
        .get("parameter_format")
        .or_else(|| v.get("parameterFormat"))
    {
        meta["parameter_format"] = f.clone();
    }
    let t = service::create(&core, &tenant_id, &channel, &meta).await?;
    Ok(Json(json!({"entity": group(&[&t])})))
}

/// `GET|POST …/get/templates` → `{"entity": {"templateGroups": […]}}`: every template of the
/// business (all its numbers' WhatsApp Business Accounts), grouped by name across languages.
pub async fn list(
    State(core): State<Core>,
    Business { tenant_id }: Business,
) -> Result<Json<Value>, ConnectlyError> {
    let mut all: Vec<Template> = Vec::new();
    let mut after = None;
    loop {
        let page = service::list(
            &core,
            &TemplateFilter {
                tenant_id: tenant_id.clone(),
                include_deleted: false,
                after: after.clone(),
                limit: PAGE,
                ..Default::default()
            },
        )
        .await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|t| t.id.clone());
        all.extend(page);
        if !full {
            break;
        }
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for t in &all {
        let k = (t.waba_id.clone(), t.name.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort();
    let groups: Vec<Value> = keys
        .iter()
        .map(|(waba, name)| {
            let mut ts: Vec<&Template> = all
                .iter()
                .filter(|t| &t.waba_id == waba && &t.name == name)
                .collect();
            ts.sort_by(|a, b| a.language.cmp(&b.language));
            group(&ts)
        })
        .collect();
    Ok(Json(json!({"entity": {"templateGroups": groups}})))
}
