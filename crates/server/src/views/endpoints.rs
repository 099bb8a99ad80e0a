//! How webhook endpoints and their delivery attempts look on the native API.

use openbsp_domain::clock::rfc3339;
use openbsp_store::{LoggedAttempt, WebhookEndpoint};
use openbsp_wire::standard_webhooks::Secret;
use serde_json::{Value, json};

pub(crate) fn time(t: Option<i64>) -> Value {
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

/// An attempt in the delivery log.
pub fn attempt_json(a: &LoggedAttempt) -> Value {
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
