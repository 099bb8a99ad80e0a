//! `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text), and the middleware that
//! counts and logs requests.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide metrics recorder (once; later calls do nothing).
pub fn install_metrics() {
    PROMETHEUS.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(h) => {
            register_series();
            Some(h)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            None
        }
    });
}

/// Makes the main series exist from the start, at zero, so dashboards and alerts see them.
pub fn register_series() {
    metrics::describe_counter!(
        "openbsp_http_requests_total",
        "HTTP requests by route and status"
    );
    metrics::describe_counter!(
        "openbsp_webhook_intake_total",
        "Meta webhook POSTs by result"
    );
    metrics::describe_counter!(
        "openbsp_messages_accepted_total",
        "outbound messages accepted and queued"
    );
    metrics::describe_counter!("openbsp_sends_total", "Graph API send attempts by result");
    metrics::describe_gauge!("openbsp_messages", "messages stored, by status");
    metrics::describe_gauge!("openbsp_sender_queue_depth", "sends waiting in the outbox");
    metrics::counter!("openbsp_webhook_intake_total", "result" => "accepted").increment(0);
    metrics::counter!("openbsp_messages_accepted_total").increment(0);
    metrics::gauge!("openbsp_sender_queue_depth").set(0.0);
}

/// The health routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    if let Ok(counts) = state.store.count_messages_by_status().await {
        for (status, n) in counts {
            metrics::gauge!("openbsp_messages", "status" => status).set(n as f64);
        }
    }
    if let Ok(depth) = state.store.outbox_depth().await {
        metrics::gauge!("openbsp_sender_queue_depth").set(depth as f64);
    }
    let body = PROMETHEUS
        .get()
        .and_then(|h| h.as_ref())
        .map(|h| h.render())
        .unwrap_or_default();
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
    if status >= 500 {
        tracing::warn!(%method, %route, status, ms = secs * 1000.0, "request failed");
    } else {
        tracing::debug!(%method, %route, status, ms = secs * 1000.0, "request");
    }
    resp
}
