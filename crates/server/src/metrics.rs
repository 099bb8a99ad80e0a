//! The process-wide metrics recorder (Prometheus) and the series that exist from the start.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide metrics recorder (once; later calls do nothing).
pub fn install() {
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
    for result in ["accepted", "duplicate"] {
        metrics::counter!("openbsp_webhook_intake_total", "result" => result).increment(0);
    }
    metrics::counter!("openbsp_messages_accepted_total").increment(0);
    metrics::gauge!("openbsp_sender_queue_depth").set(0.0);
}

/// The metrics as Prometheus text (empty when no recorder could be installed).
pub fn render() -> String {
    PROMETHEUS
        .get()
        .and_then(|h| h.as_ref())
        .map(|h| h.render())
        .unwrap_or_default()
}
