//! Meta's webhooks: the receiver (`GET|POST /webhooks/whatsapp`) that verifies and stores
//! payloads, and the processor that applies them to messages and contacts.

pub mod processor;
pub mod receiver;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::state::AppState;

/// The receiver's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(receiver::verify).post(receiver::receive),
        )
        .layer(DefaultBodyLimit::max(
            openbsp_wire::limits::WEBHOOK_MAX_BYTES,
        ))
}
