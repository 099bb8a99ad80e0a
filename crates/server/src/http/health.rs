//! `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text), and the middleware that
//! counts and logs requests (a 5xx whose cause the error envelope logged is not logged again).

use std::time::Instant;

use super::error::Logged;
use crate::core::Core;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The health routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

async fn readyz(State(state): State<Core>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics_text(State(state): State<Core>) -> Response {
    if let Ok(counts) = state.store.count_messages_by_status().await {
        for (status, n) in counts {
            metrics::gauge!("openbsp_messages", "status" => status).set(n as f64);
        }
    }
    if let Ok(depth) = state.store.outbox_depth().await {
        metrics::gauge!("openbsp_sender_queue_depth").set(depth as f64);
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
