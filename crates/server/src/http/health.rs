//! `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text), and the middleware that
//! counts and logs requests (a 5xx whose cause the error envelope logged is not logged again).
//!
//! The metrics are the installation's (every tenant's counts) and a scrape reads the database:
//! on the API's address they need `OPENBSP_METRICS_TOKEN` as a bearer token (without it they
//! are not served there), or they are served without credentials on an address of their own
//! (`OPENBSP_METRICS_LISTEN`, [`metrics_routes`]). The gauges read from the database (messages
//! by status, the sender's queue) are refreshed at most every [`GAUGE_REFRESH`], by one scrape
//! at a time: scrapes in between answer the last values.

use std::time::{Duration, Instant};

use super::error::Logged;
use crate::core::Core;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// How often the gauges read from the database are refreshed at most.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(15);

/// When the gauges were last refreshed; held by the scrape refreshing them.
static GAUGES: tokio::sync::Mutex<Option<Instant>> = tokio::sync::Mutex::const_new(None);

/// The health routes (and `/metrics`, behind its token).
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(guarded_metrics))
}

/// The routes of the metrics' own address: `/metrics` without credentials.
pub fn metrics_routes() -> Router<Core> {
    Router::new().route("/metrics", get(metrics_text))
}

/// Ready when the database answers (on SQLite, its writer too) and every background worker
/// runs; otherwise 503 naming what is not: `not ready: database unreachable; workers down:
/// sender, closer`. Cheap: a ping and a look at the workers, no query over the data.
async fn readyz(State(state): State<Core>) -> Response {
    let mut problems = Vec::new();
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check: the database does not answer");
        problems.push("database unreachable".to_string());
    }
    let down = state.workers.down();
    if !down.is_empty() {
        problems.push(format!("workers down: {}", down.join(", ")));
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready").into_response()
    } else {
        let body = format!("not ready: {}", problems.join("; "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// `/metrics` on the API's address: only with the configured token (compared in constant
/// time); not served at all without one. Both refusals are the same 404, as an unknown route.
async fn guarded_metrics(State(state): State<Core>, headers: HeaderMap) -> Response {
    let allowed = match (&state.config.metrics.token, super::auth::bearer(&headers)) {
        (Some(token), Some(given)) => openbsp_domain::crypto::same_secret(token, given),
        _ => false,
    };
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    metrics_text(State(state)).await
}

async fn metrics_text(State(state): State<Core>) -> Response {
    // One scrape refreshes the gauges at a time; the others answer the last values.
    if let Ok(mut last) = GAUGES.try_lock()
        && last.is_none_or(|t| t.elapsed() >= GAUGE_REFRESH)
    {
        if let Ok(counts) = state.store.count_messages_by_status().await {
            for (status, n) in counts {
                metrics::gauge!("openbsp_messages", "status" => status).set(n as f64);
            }
        }
        if let Ok(depth) = state.store.outbox_depth().await {
            metrics::gauge!("openbsp_sender_queue_depth").set(depth as f64);
        }
        *last = Some(Instant::now());
    }
    let body = crate::metrics::render();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

/// Counts requests by route and status, and logs each at debug level (5xx at warn).
pub async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    metrics::counter!("openbsp_http_requests_total", "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("openbsp_http_request_seconds", "route" => route.clone()).record(secs);
    if status >= 500 && resp.extensions().get::<Logged>().is_none() {
        tracing::warn!(%method, %route, status, ms = secs * 1000.0, "request failed");
    } else {
        tracing::debug!(%method, %route, status, ms = secs * 1000.0, "request");
    }
    resp
}
