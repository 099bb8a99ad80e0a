//! Connectly's webhooks API (`vendors.md` §4.7): `POST …/create/webhooks`, `GET …/webhooks`,
//! `PUT …/update/webhooks/{webhookId}`, `DELETE …/delete/webhooks/{webhookId}`, on the core's
//! webhook endpoints: a Connectly webhook is an endpoint in the `connectly` format subscribed to
//! its topic's events (`messages`: `message.received`; `delivery_status`: `message.status`),
//! delivered as [`super::events`] shapes them, signed `x-connectly-hmac-sha256`.
//!
//! One address per topic: a second webhook for a topic is a 409, as Connectly's. The HMAC
//! secret is the endpoint's signing secret, given once in the creation's answer (`secret`;
//! Connectly shows its secret in its dashboard) and rotated with `POST
//! /v1/webhooks/{id}/rotate-secret` on the native API. `type` may be `custom` (the default),
//! `zapier` or `integromat_make` (plain addresses); `configuration` takes `channelTypes`
//! (`whatsapp` only) and `filters` on `campaign_name` (`*`/`?` wildcards); `echo` (the
//! business's own sends in `messages`), `webengage` and the `report` topic are refused as not
//! supported. The URL is checked as every endpoint's (public addresses only, unless the
//! installation allows private ones).

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use bytes::Bytes;
use openbsp_store::{Page, WebhookEndpoint, event_format};
use serde_json::{Value, json};

use super::auth::Business;
use super::error::{ConnectlyError, code};
use super::messages::body_object;
use crate::core::{Core, endpoints};

/// Connectly's topics and the event type each carries.
const TOPICS: &[(&str, &str)] = &[
    ("messages", "message.received"),
    ("delivery_status", "message.status"),
];
/// `type`s taken: plain addresses.
const TYPES: &[&str] = &["custom", "zapier", "integromat_make"];
/// Endpoints read per page when listing.
const PAGE: u32 = 200;

/// The endpoint's Connectly settings (`topic`, `type`, `configuration`).
fn settings(e: &WebhookEndpoint) -> &Value {
    e.options
        .as_ref()
        .map(|o| &o["connectly"])
        .unwrap_or(&Value::Null)
}

/// A webhook as Connectly lists it.
fn view(business_id: &str, e: &WebhookEndpoint) -> Value {
    let s = settings(e);
    json!({
        "id": e.id,
        "businessId": business_id,
        "topic": s["topic"],
        "address": e.url,
        "type": s["type"],
        "configuration": s["configuration"],
        "enabled": e.enabled,
    })
}

/// Checks `configuration` and returns it as kept.
fn configuration(v: Option<&Value>) -> Result<Value, ConnectlyError> {
    let Some(c) = v.filter(|c| !c.is_null()) else {
        return Ok(json!({}));
    };
    let bad = |m: String| ConnectlyError::invalid(m).at("configuration");
    let obj = c
        .as_object()
        .ok_or_else(|| bad("configuration must be an object".into()))?;
    let mut kept = serde_json::Map::new();
    for (k, val) in obj {
        match k.as_str() {
            "echo" => {
                if val.as_bool() == Some(true) {
                    return Err(ConnectlyError::bad(
                        code::INVALID_REQUEST,
                        "configuration.echo is not supported: the gateway does not deliver the \
                         business's own sends in the messages topic (read them with GET \
                         /v1/messages)",
                    )
                    .at("configuration.echo"));
                }
            }
            "channelTypes" => {
                let list = val
                    .as_array()
                    .ok_or_else(|| bad("configuration.channelTypes must be a list".into()))?;
                if list.iter().any(|t| t != "whatsapp") {
                    return Err(bad(
                        "configuration.channelTypes: this gateway serves the whatsapp channel only"
                            .into(),
                    ));
                }
                kept.insert(k.clone(), val.clone());
            }
            "filters" => {
                let list = val
                    .as_array()
                    .ok_or_else(|| bad("configuration.filters must be a list".into()))?;
                for f in list {
                    if f["field"] != "campaign_name" || !f["expression"].is_string() {
                        return Err(bad(format!(
                            "configuration.filters: each is {{\"field\": \"campaign_name\", \
                             \"expression\": \"<pattern>\"}}; got {f}"
                        )));
                    }
                    let e = f["expression"].as_str().unwrap_or_default();
                    if e.is_empty() || e.chars().count() > 200 {
                        return Err(bad(
                            "configuration.filters: an expression is 1 to 200 characters".into(),
                        ));
                    }
                }
                kept.insert(k.clone(), val.clone());
            }
            "webengageConfiguration" => {
                return Err(bad(
                    "configuration.webengageConfiguration is not supported".into()
                ));
            }
            other => return Err(bad(format!("configuration.{other} is not a setting"))),
        }
    }
    Ok(Value::Object(kept))
}

/// A string field of the body, if present.
fn text<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, ConnectlyError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ConnectlyError::invalid(format!("{name} must be a string")).at(name)),
    }
}

/// Every Connectly webhook of the tenant.
async fn all(core: &Core, tenant_id: &str) -> Result<Vec<WebhookEndpoint>, ConnectlyError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = Page {
            after: after.clone(),
            limit: PAGE,
        };
        let found = endpoints::list(core, tenant_id, &page).await?;
        let n = found.len();
        after = found.last().map(|e| e.id.clone());
        out.extend(
            found
                .into_iter()
                .filter(|e| e.format == event_format::CONNECTLY),
        );
        if n < PAGE as usize {
            return Ok(out);
        }
    }
}

/// The tenant's Connectly webhook `id`, else Connectly's not found.
async fn one(core: &Core, tenant_id: &str, id: &str) -> Result<WebhookEndpoint, ConnectlyError> {
    let e = endpoints::get(core, tenant_id, id).await?;
    if e.format != event_format::CONNECTLY {
        return Err(endpoints_not_found(id));
    }
    Ok(e)
}

fn endpoints_not_found(id: &str) -> ConnectlyError {
    crate::core::CoreError::not_found("webhook", id).into()
}

/// `POST /v1/businesses/{businessId}/create/webhooks`.
pub async fn create(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (_, v) = body_object(body)?;
    let topic = text(&v, "topic")?
        .ok_or_else(|| ConnectlyError::invalid("topic is required").at("topic"))?;
    let kind = TOPICS
        .iter()
        .find(|(t, _)| *t == topic)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            ConnectlyError::invalid(format!(
                "topic must be messages or delivery_status (report is not supported); got {topic}"
            ))
            .at("topic")
        })?;
    let address = text(&v, "address")?
        .ok_or_else(|| ConnectlyError::invalid("address is required").at("address"))?;
    let kind_of = text(&v, "type")?.unwrap_or("custom");
    if !TYPES.contains(&kind_of) {
        return Err(ConnectlyError::invalid(format!(
            "type must be one of {}; got {kind_of}",
            TYPES.join(", ")
        ))
        .at("type"));
    }
    let configuration = configuration(v.get("configuration"))?;
    if all(&core, &tenant_id)
        .await?
        .iter()
        .any(|e| settings(e)["topic"] == topic)
    {
        return Err(ConnectlyError::new(
            axum::http::StatusCode::CONFLICT,
            code::CONFLICT,
            format!("a webhook for topic {topic} already exists: update or delete it"),
        )
        .at("topic"));
    }
    let input = endpoints::EndpointInput {
        url: Some(address.to_string()),
        events: Some(vec![kind.to_string()]),
        format: Some(event_format::CONNECTLY.to_string()),
        description: Some(Some(format!("Connectly webhook, topic {topic}"))),
        vendor: Some(json!({ "topic": topic, "type": kind_of, "configuration": configuration })),
        ..Default::default()
    };
    let (e, secret) = endpoints::create(&core, &tenant_id, input).await?;
    let mut out = view(&tenant_id, &e);
    out["secret"] = json!(secret.expose());
    Ok(Json(json!({ "entity": out })))
}

/// `GET /v1/businesses/{businessId}/webhooks`.
pub async fn list(
    State(core): State<Core>,
    Business { tenant_id }: Business,
) -> Result<Json<Value>, ConnectlyError> {
    let hooks: Vec<Value> = all(&core, &tenant_id)
        .await?
        .iter()
        .map(|e| view(&tenant_id, e))
        .collect();
    Ok(Json(
        json!({ "entity": { "businessId": tenant_id, "webhooks": hooks } }),
    ))
}

/// `PUT /v1/businesses/{businessId}/update/webhooks/{webhookId}`: a partial change of
/// `address`, `type` and `configuration`; the topic cannot change.
pub async fn update(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    Path((_, id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (_, v) = body_object(body)?;
    let e = one(&core, &tenant_id, &id).await?;
    let mut s = settings(&e).clone();
    if let Some(t) = text(&v, "topic")?
        && t != s["topic"]
    {
        return Err(ConnectlyError::invalid(
            "a webhook's topic cannot change: create a webhook for the other topic",
        )
        .at("topic"));
    }
    if let Some(t) = text(&v, "type")? {
        if !TYPES.contains(&t) {
            return Err(ConnectlyError::invalid(format!(
                "type must be one of {}; got {t}",
                TYPES.join(", ")
            ))
            .at("type"));
        }
        s["type"] = json!(t);
    }
    if v.get("configuration").is_some_and(|c| !c.is_null()) {
        s["configuration"] = configuration(v.get("configuration"))?;
    }
    let input = endpoints::EndpointInput {
        url: text(&v, "address")?.map(str::to_string),
        vendor: Some(s),
        ..Default::default()
    };
    let e = endpoints::update(&core, &tenant_id, &id, input).await?;
    Ok(Json(json!({ "entity": view(&tenant_id, &e) })))
}

/// `DELETE /v1/businesses/{businessId}/delete/webhooks/{webhookId}`: `{}`.
pub async fn delete(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ConnectlyError> {
    one(&core, &tenant_id, &id).await?;
    endpoints::delete(&core, &tenant_id, &id).await?;
    Ok(Json(json!({})))
}
