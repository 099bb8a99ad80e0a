//! Everything that talks with Meta: the Graph API client (sends, read receipts, template
//! management), and Meta's webhooks — the receiver (`GET|POST /webhooks/whatsapp`) that
//! verifies and stores payloads, the processor that applies them, and their retention.

pub mod graph;
pub mod processor;
pub mod receiver;
pub mod retention;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::core::Core;

/// The receiver's routes (with Meta's 3 MB body limit).
pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(receiver::verify).post(receiver::receive),
        )
        .layer(DefaultBodyLimit::max(
            openbsp_wire::limits::WEBHOOK_MAX_BYTES,
        ))
}
