//! How webhook endpoints, their delivery attempts and replays look on the native API.

use openbsp_domain::clock::rfc3339;
use openbsp_store::{LoggedAttempt, WebhookEndpoint};
use openbsp_wire::standard_webhooks::Secret;
use serde::Serialize;

/// A webhook endpoint (`"object": "webhook_endpoint"`): where the tenant's events go.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// Creation time.
    pub created_at: String,
    /// What the tenant wrote about it, `null` when nothing.
    pub description: Option<String>,
    /// Why it was disabled (by the tenant, or by the gateway after failing too long), `null`
    /// while enabled.
    pub disabled_reason: Option<String>,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// The event types it subscribes to, in the tenant's order: an exact type
    /// (`session.opened`), a family (`message.*`) or everything (`*`).
    pub events: Vec<String>,
    /// The first failure of its current run of failed deliveries, `null` once a delivery
    /// succeeds.
    pub failing_since: Option<String>,
    /// Payload format: `native` (the gateway's events), `meta` (Meta's webhooks as Meta sent
    /// them), `chakra` or `connectly` (the message events in that vendor's webhook shape).
    pub format: String,
    /// Whether the endpoint has a verification token (Pingtochat's handshake, done whenever
    /// its URL is set); the token itself is never shown.
    pub has_verify_token: bool,
    /// The gateway's id (`whe_…`).
    pub id: String,
    /// Always `"webhook_endpoint"`.
    pub object: &'static str,
    /// After a rotation: until when the previous secret still signs beside the new one;
    /// `null` when no previous secret is in use.
    pub previous_secret_expires_at: Option<String>,
    /// The signing secret (`whsec_…`): only in the answer that made it (creation, rotation),
    /// shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Last change.
    pub updated_at: String,
    /// Where events are posted.
    pub url: String,
}

impl EndpointView {
    /// The view of an endpoint as it stands at `now`; `secret` only when it was just made.
    pub fn new(e: &WebhookEndpoint, secret: Option<&Secret>, now: i64) -> EndpointView {
        let overlapping = e
            .previous_secret_expires_at
            .filter(|at| *at > now && e.previous_secret_enc.is_some());
        EndpointView {
            created_at: rfc3339(e.created_at),
            description: e.description.clone(),
            disabled_reason: e.disabled_reason.clone(),
            enabled: e.enabled,
            events: e.events.clone(),
            failing_since: e.failing_since.map(rfc3339),
            format: e.format.clone(),
            has_verify_token: e
                .options
                .as_ref()
                .is_some_and(|o| o.get("verify_token_enc").is_some()),
            id: e.id.clone(),
            object: "webhook_endpoint",
            previous_secret_expires_at: overlapping.map(rfc3339),
            secret: secret.map(Secret::expose),
            updated_at: rfc3339(e.updated_at),
            url: e.url.clone(),
        }
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The endpoint answered 2xx.
    Succeeded,
    /// Any other answer, or none.
    Failed,
}

/// One attempt in an endpoint's delivery log (`"object": "delivery_attempt"`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// When it was made.
    pub at: String,
    /// Which attempt of the event's delivery it was (1 for the first).
    pub attempt: u32,
    /// The endpoint (`whe_…`).
    pub endpoint_id: String,
    /// Why there was no answer (timeout, connection refused…), `null` when there was one.
    pub error: Option<String>,
    /// The event delivered (`evt_…`).
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The attempt's id in the log (`att_` and a number), the cursor of the log.
    pub id: String,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: i64,
    /// When it will be tried again; `null` when it succeeded or was the last attempt.
    pub next_attempt_at: Option<String>,
    /// Always `"delivery_attempt"`.
    pub object: &'static str,
    /// The first bytes of the endpoint's answer, `null` when there was none.
    pub response: Option<String>,
    /// `succeeded` or `failed`.
    pub status: AttemptStatus,
    /// The HTTP status the endpoint answered, `null` when it did not answer.
    pub status_code: Option<u16>,
}

impl AttemptView {
    /// The view of a logged attempt.
    pub fn new(a: &LoggedAttempt) -> AttemptView {
        let d = &a.attempt;
        AttemptView {
            at: rfc3339(d.at),
            attempt: d.attempt,
            endpoint_id: d.endpoint_id.clone(),
            error: d.error.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            id: format!("att_{}", a.seq),
            latency_ms: d.latency_ms,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            object: "delivery_attempt",
            response: d.response.clone(),
            status: if d.succeeded {
                AttemptStatus::Succeeded
            } else {
                AttemptStatus::Failed
            },
            status_code: d.status_code,
        }
    }
}

/// What a replay queued (`"object": "replay"`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplayView {
    /// Whether the endpoint is enabled (deliveries are made only to an enabled endpoint).
    pub enabled: bool,
    /// The endpoint (`whe_…`).
    pub endpoint_id: String,
    /// Always `"replay"`.
    pub object: &'static str,
    /// How many deliveries were queued.
    pub queued: u64,
}

impl ReplayView {
    /// The view of a replay to `e` that queued `queued` deliveries.
    pub fn new(e: &WebhookEndpoint, queued: u64) -> ReplayView {
        ReplayView {
            enabled: e.enabled,
            endpoint_id: e.id.clone(),
            object: "replay",
            queued,
        }
    }
}
