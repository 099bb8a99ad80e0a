//! `/v1/webhook-endpoints`: where a tenant's events go. Each endpoint has a URL (checked
//! against private networks), the event types it wants (`message.*`, `session.opened`, `*`),
//! its format (`native` events, or Meta's raw envelope re-signed for handlers written for
//! Meta), an optional description, enabled or not, and a signing secret in the Standard
//! Webhooks form (`whsec_…`), shown when created or rotated and never again; a rotation keeps
//! the previous secret signing for an overlap period.

use std::net::SocketAddr;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_domain::clock::rfc3339;
use openbsp_domain::events;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::netguard::{self, NetworkPolicy};
use openbsp_store::{AttemptFilter, LoggedAttempt, Page, ReplaySelection, WebhookEndpoint};
use openbsp_wire::standard_webhooks::Secret;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::TenantAuth;
use crate::error::ApiError;
use crate::messages::native::json_body;
use crate::state::AppState;

/// The endpoint routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhook-endpoints", post(create).get(list))
        .route(
            "/v1/webhook-endpoints/{id}",
            get(get_one).patch(update).delete(remove),
        )
        .route("/v1/webhook-endpoints/{id}/rotate-secret", post(rotate))
        .route("/v1/webhook-endpoints/{id}/deliveries", get(deliveries))
        .route("/v1/webhook-endpoints/{id}/replay", post(replay))
}

/// Formats an endpoint may ask for.
pub const FORMATS: &[&str] = &["native", "meta"];
/// The default overlap of a rotation, during which the previous secret still signs.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

fn time(t: Option<i64>) -> Value {
    t.map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
}

/// An endpoint as JSON; `secret` only when it was just made.
pub fn endpoint_json(e: &WebhookEndpoint, secret: Option<&Secret>, now: i64) -> Value {
    let overlapping = e
        .previous_secret_expires_at
        .filter(|at| *at > now && e.previous_secret_enc.is_some());
    let mut v = json!({
        "id": e.id,
        "object": "webhook_endpoint",
        "url": e.url,
        "description": e.description,
        "events": e.events,
        "format": e.format,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "failing_since": time(e.failing_since),
        "previous_secret_expires_at": time(overlapping),
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
    });
    if let Some(s) = secret {
        v["secret"] = json!(s.expose());
    }
    v
}

/// A fresh signing secret: 32 bytes from the operating system's generator.
fn new_secret() -> Secret {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    Secret::from_bytes(&key)
}

/// Where a URL may be delivered to under `policy`: an `http(s)` URL without credentials,
/// whose host resolves only to addresses the policy allows. Returns those addresses.
pub async fn check_destination(
    url: &str,
    policy: NetworkPolicy,
) -> Result<Vec<SocketAddr>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("url must be http:// or https://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "url must not carry credentials: endpoints verify the signature instead".into(),
        );
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "url has no host".to_string())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| "url has no port".to_string())?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("{host} cannot be resolved: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    for a in &addrs {
        if let Some(why) = netguard::refusal(a.ip(), policy) {
            return Err(format!(
                "{host} resolves to {}, a {why} address; endpoints must be reachable on the public internet (an installation may allow private networks with OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS)",
                a.ip()
            ));
        }
    }
    Ok(addrs)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointInput {
    url: Option<String>,
    events: Option<Vec<String>>,
    format: Option<String>,
    /// Absent: unchanged; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    enabled: Option<bool>,
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

fn parse_input(body: &Bytes) -> Result<EndpointInput, ApiError> {
    let v = json_body(body)?;
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid endpoint: {e}")))
}

async fn check_input(state: &AppState, i: &EndpointInput) -> Result<(), ApiError> {
    if let Some(url) = &i.url {
        check_destination(url, state.config.webhook_network)
            .await
            .map_err(|m| ApiError::bad_request(m).in_field("url"))?;
    }
    if let Some(list) = &i.events {
        if list.is_empty() {
            return Err(ApiError::bad_request(
                "events must name at least one event type (or * for every one)",
            ));
        }
        for p in list {
            events::validate_pattern(p).map_err(|m| ApiError::bad_request(m).in_field("events"))?;
        }
    }
    if let Some(f) = &i.format
        && !FORMATS.contains(&f.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "format must be native or meta, not \"{f}\""
        )));
    }
    if let Some(Some(d)) = &i.description
        && d.chars().count() > 500
    {
        return Err(ApiError::bad_request(
            "description is at most 500 characters",
        ));
    }
    Ok(())
}

/// `POST /v1/webhook-endpoints`: `{url, events, format?, description?, enabled?}`; answers
/// the endpoint with its `secret`, shown this once.
async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let i = parse_input(&body)?;
    let url = i
        .url
        .clone()
        .ok_or_else(|| ApiError::bad_request("url is required"))?;
    let events = i
        .events
        .clone()
        .ok_or_else(|| ApiError::bad_request("events is required, e.g. [\"message.*\"]"))?;
    check_input(&state, &i).await?;
    let now = state.now();
    let secret = new_secret();
    let e = WebhookEndpoint {
        id: new_id_at(prefix::WEBHOOK_ENDPOINT, now),
        tenant_id: auth.tenant_id.clone(),
        url,
        description: i.description.flatten(),
        events,
        format: i.format.unwrap_or_else(|| "native".into()),
        enabled: i.enabled.unwrap_or(true),
        disabled_reason: None,
        secret_enc: state.config.master_key.encrypt(&secret.expose()),
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failing_since: None,
        cursor: None,
        created_at: now,
        updated_at: now,
    };
    let e = state.store.create_webhook_endpoint(&e).await?;
    state.delivery_wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(endpoint_json(&e, Some(&secret), now)),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

/// `GET /v1/webhook-endpoints`.
async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let rows = state
        .store
        .list_webhook_endpoints(
            &auth.tenant_id,
            &Page {
                limit: limit + 1,
                after: q.after,
            },
        )
        .await?;
    let now = state.now();
    Ok(Json(crate::paging::list_json(
        rows,
        limit,
        |e| e.id.clone(),
        |e| endpoint_json(e, None, now),
    )))
}

async fn find(state: &AppState, tenant_id: &str, id: &str) -> Result<WebhookEndpoint, ApiError> {
    state
        .store
        .get_webhook_endpoint(tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("webhook endpoint {id}")))
}

/// `GET /v1/webhook-endpoints/{id}` (never the secret).
async fn get_one(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = find(&state, &auth.tenant_id, &id).await?;
    Ok(Json(endpoint_json(&e, None, state.now())))
}

/// `PATCH /v1/webhook-endpoints/{id}`: any of url, events, format, description, enabled.
/// Enabling an endpoint clears why it was disabled and its run of failures.
async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let i = parse_input(&body)?;
    check_input(&state, &i).await?;
    let mut e = find(&state, &auth.tenant_id, &id).await?;
    if let Some(u) = i.url {
        e.url = u;
    }
    if let Some(ev) = i.events {
        e.events = ev;
    }
    if let Some(f) = i.format {
        e.format = f;
    }
    if let Some(d) = i.description {
        e.description = d;
    }
    if let Some(en) = i.enabled {
        if en && !e.enabled {
            e.disabled_reason = None;
            e.failing_since = None;
        }
        if !en && e.enabled {
            e.disabled_reason = Some("disabled by the tenant".into());
        }
        e.enabled = en;
    }
    let now = state.now();
    e.updated_at = now;
    let e = state
        .store
        .update_webhook_endpoint(&e)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("webhook endpoint {id}")))?;
    state.delivery_wake.notify_one();
    Ok(Json(endpoint_json(&e, None, now)))
}

/// `DELETE /v1/webhook-endpoints/{id}`.
async fn remove(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_webhook_endpoint(&auth.tenant_id, &id)
        .await?
    {
        state.delivery_wake.notify_one();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(&format!("webhook endpoint {id}")))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateInput {
    overlap_seconds: Option<i64>,
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret` `{overlap_seconds?}` (default a day, at
/// most 7 days, 0 to retire the old secret at once): a new secret, shown this once; the
/// previous one keeps signing beside it until the overlap ends.
async fn rotate(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: RotateInput = if body.is_empty() {
        RotateInput::default()
    } else {
        serde_json::from_value(json_body(&body)?)
            .map_err(|e| ApiError::bad_request(format!("invalid rotation: {e}")))?
    };
    let overlap = input.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(ApiError::bad_request(format!(
            "overlap_seconds must be from 0 to {MAX_OVERLAP_SECONDS}"
        )));
    }
    let mut e = find(&state, &auth.tenant_id, &id).await?;
    let now = state.now();
    let secret = new_secret();
    e.previous_secret_enc = (overlap > 0).then(|| e.secret_enc.clone());
    e.previous_secret_expires_at = (overlap > 0).then_some(now + overlap * 1000);
    e.secret_enc = state.config.master_key.encrypt(&secret.expose());
    e.updated_at = now;
    let e = state
        .store
        .update_webhook_endpoint(&e)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("webhook endpoint {id}")))?;
    state.delivery_wake.notify_one();
    Ok(Json(endpoint_json(&e, Some(&secret), now)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    limit: Option<u32>,
    after: Option<String>,
    event_id: Option<String>,
    /// `succeeded` or `failed`.
    status: Option<String>,
}

/// An attempt in the delivery log.
fn attempt_json(a: &LoggedAttempt) -> Value {
    let d = &a.attempt;
    json!({
        "id": format!("att_{}", a.seq),
        "object": "delivery_attempt",
        "endpoint_id": d.endpoint_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "attempt": d.attempt,
        "at": rfc3339(d.at),
        "status": if d.succeeded { "succeeded" } else { "failed" },
        "status_code": d.status_code,
        "latency_ms": d.latency_ms,
        "error": d.error,
        "response": d.response,
        "next_attempt_at": time(d.next_attempt_at),
    })
}

/// `GET /v1/webhook-endpoints/{id}/deliveries?event_id=&status=succeeded|failed&limit=&after=`:
/// every attempt, newest first (time, status code, latency, the first bytes of the answer,
/// when it is tried again).
async fn deliveries(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    find(&state, &auth.tenant_id, &id).await?;
    let succeeded = match q.status.as_deref() {
        None => None,
        Some("succeeded") => Some(true),
        Some("failed") => Some(false),
        Some(_) => return Err(ApiError::bad_request("status must be succeeded or failed")),
    };
    let before_seq = match q.after.as_deref() {
        None => None,
        Some(c) => Some(
            c.strip_prefix("att_")
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("after must be an attempt id (att_…)"))?,
        ),
    };
    let filter = AttemptFilter {
        event_id: q.event_id,
        succeeded,
        before_seq,
        limit: limit + 1,
    };
    let rows = state
        .store
        .list_delivery_attempts(&auth.tenant_id, &id, &filter)
        .await?;
    Ok(Json(crate::paging::list_json(
        rows,
        limit,
        |a| format!("att_{}", a.seq),
        attempt_json,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    event_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `POST /v1/webhook-endpoints/{id}/replay`: `{"event_id": "evt_…"}` sends one event again
/// (whatever became of it), `{"since": …, "until": …}` every event of that period whose
/// delivery to the endpoint failed. Answers 202 with how many were queued.
async fn replay(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: ReplayInput = serde_json::from_value(json_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid replay: {e}")))?;
    let e = find(&state, &auth.tenant_id, &id).await?;
    let parse = crate::messages::native::parse_time;
    let selection = match (input.event_id, input.since, input.until) {
        (Some(ev), None, None) => ReplaySelection::Event(ev),
        (None, Some(since), until) => {
            let since = parse("since", &since)?;
            let until = match until {
                Some(u) => parse("until", &u)?,
                None => state.now() + 1,
            };
            if until <= since {
                return Err(ApiError::bad_request("until must be after since"));
            }
            ReplaySelection::Failed { since, until }
        }
        _ => {
            return Err(ApiError::bad_request(
                "give event_id, or since (and optionally until) to replay the failed deliveries of a period",
            ));
        }
    };
    let now = state.now();
    let queued = state
        .store
        .replay_deliveries(&auth.tenant_id, &id, &selection, now)
        .await?;
    if let ReplaySelection::Event(ev) = &selection
        && queued == 0
    {
        return Err(ApiError::not_found(&format!("event {ev}")));
    }
    state.delivery_wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "object": "replay",
            "endpoint_id": e.id,
            "queued": queued,
            "enabled": e.enabled,
        })),
    ))
}

/// The secrets that sign a delivery to `e` at `now`: the current one, and the previous one
/// while a rotation overlaps.
pub fn signing_secrets(
    state: &AppState,
    e: &WebhookEndpoint,
    now: i64,
) -> Result<Vec<Secret>, String> {
    let mut out = Vec::with_capacity(2);
    let current = state
        .config
        .master_key
        .decrypt(&e.secret_enc)
        .map_err(|e| e.to_string())?;
    out.push(Secret::parse(&current).map_err(|e| e.to_string())?);
    if let (Some(prev), Some(until)) = (&e.previous_secret_enc, e.previous_secret_expires_at)
        && until > now
    {
        let prev = state
            .config
            .master_key
            .decrypt(prev)
            .map_err(|e| e.to_string())?;
        out.push(Secret::parse(&prev).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn destinations_are_checked_after_resolution() {
        let strict = NetworkPolicy::default();
        for (url, why) in [
            ("http://127.0.0.1:8080/hooks", "loopback"),
            ("http://localhost:8080/hooks", "loopback"),
            ("http://[::1]/hooks", "loopback"),
            ("http://10.1.2.3/hooks", "private"),
            ("https://169.254.169.254/latest", "link-local"),
            ("http://[fd00::1]/hooks", "unique-local"),
            ("http://0.0.0.0/hooks", "unspecified"),
        ] {
            let e = check_destination(url, strict).await.unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
        }
        // Address literals need no resolver; public ones go.
        let ok = check_destination("https://93.184.216.34/hooks", strict)
            .await
            .unwrap();
        assert_eq!(ok[0].port(), 443);
        let sandbox = NetworkPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        check_destination("http://127.0.0.1:8080/hooks", sandbox)
            .await
            .unwrap();
        assert!(
            check_destination("http://10.1.2.3/", sandbox)
                .await
                .is_err()
        );
        let open = NetworkPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        check_destination("http://10.1.2.3/", open).await.unwrap();
        for bad in ["ftp://93.184.216.34/", "http://u:p@93.184.216.34/", "nope"] {
            assert!(check_destination(bad, strict).await.is_err(), "{bad}");
        }
    }
}
