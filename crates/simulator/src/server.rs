//! The HTTP server: the router (Graph routes and control API on one port) and the serve
//! loop with graceful shutdown, in the `run(listener, state, shutdown)` style of
//! tokio-rs/mini-redis.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::net::TcpListener;

use crate::control::{self, ControlError};
use crate::control_media;
use crate::graph;
use crate::graph_media::{self, MAX_UPLOAD_BODY};
use crate::graph_objects;
use crate::graph_templates;
use crate::state::SimState;

/// The simulator's routes, ready to serve or to mount (with `Router::nest`) inside another
/// application. Background work runs on the current Tokio runtime; call
/// [`SimState::stop_background`] when done with it.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        // One parameter name per position: `{id}` is a phone number, a WABA or a template.
        .route("/{version}/{id}/messages", post(graph::post_messages))
        .route(
            "/{version}/{id}/message_templates",
            get(graph_templates::list_templates)
                .post(graph_templates::create_template)
                .delete(graph_templates::delete_templates),
        )
        .route(
            "/{version}/{id}/media",
            post(graph_media::post_media).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route("/{version}/{id}/uploads", post(graph_media::post_uploads))
        // `{id}`: a phone number, a template, a media or an upload session (`upload:…`).
        .route(
            "/{version}/{id}",
            get(graph_objects::get_object)
                .post(graph_objects::post_object)
                .delete(graph_objects::delete_object)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route(
            "/whatsapp_business/attachments/",
            get(graph_media::download),
        )
        .route("/whatsapp_business/attachments", get(graph_media::download))
        .route("/_simulator/healthz", get(control::healthz))
        .route(
            "/_simulator/inbound",
            post(control::post_inbound)
                .get(control::get_inbound)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route(
            "/_simulator/media",
            get(control_media::get_media)
                .post(control_media::post_media)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route(
            "/_simulator/media/{id}/content",
            get(control_media::get_media_content),
        )
        .route(
            "/_simulator/user-preferences",
            post(control::post_user_preferences),
        )
        .route("/_simulator/users", get(control::get_user))
        .route(
            "/_simulator/template-categories",
            get(control::get_template_categories).post(control::post_template_categories),
        )
        .route(
            "/_simulator/templates",
            get(control::get_templates).post(control::post_templates),
        )
        .route(
            "/_simulator/templates/{id}/status",
            post(control::post_template_status),
        )
        .route(
            "/_simulator/templates/{id}/quality",
            post(control::post_template_quality),
        )
        .route(
            "/_simulator/template-review",
            get(control::get_template_review).post(control::post_template_review),
        )
        .route(
            "/_simulator/template-pacing",
            post(control::post_template_pacing),
        )
        .route("/_simulator/messages", get(control::get_messages))
        .route(
            "/_simulator/messages/count",
            get(control::get_messages_count),
        )
        .route(
            "/_simulator/messages/per-second",
            get(control::get_messages_per_second),
        )
        .route(
            "/_simulator/phone-numbers",
            get(control::get_phone_numbers).post(control::post_phone_number),
        )
        .route(
            "/_simulator/phone-numbers/{id}/throughput-upgrade",
            post(control::post_throughput_upgrade),
        )
        .route(
            "/_simulator/phone-numbers/{id}/business",
            put(control::put_business),
        )
        .route(
            "/_simulator/businesses/{id}/messaging-limit",
            get(control::get_messaging_limit).post(control::post_messaging_limit),
        )
        .route(
            "/_simulator/faults",
            get(control::get_faults).post(control::post_faults),
        )
        .route(
            "/_simulator/config",
            get(control::get_config).post(control::post_config),
        )
        .route(
            "/_simulator/clock",
            get(control::get_clock).post(control::post_clock),
        )
        .route("/_simulator/webhooks", get(control::get_webhooks))
        .fallback(fallback)
        .with_state(state)
}

/// Unknown control routes get a JSON 404; anything else is answered as the Graph API
/// answers a path it does not know.
async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/_simulator") {
        return ControlError::not_found(format!("no control route {path}")).into_response();
    }
    graph::unknown_path(path).into_response()
}

/// Serves the simulator on `listener` until `shutdown` completes, then finishes the requests
/// in flight, stops the background work (status timers, webhook retries) and returns.
pub async fn run(
    listener: TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    state.stop_background().await;
    served
}
