//! The Pingtochat surface (DESIGN §2.7, `vendors.md` §2, `docs/migrating-pingtochat.md`):
//! Pingtochat's routes under `/api/v1.0/{phone_number_id}/{key}/…`, with its request bodies
//! (Cloud API bodies, plus `bulk_id`), its answers (`status_id`, `message_status`) and its
//! error codes in a documented envelope, so that a business leaving Pingtochat changes its
//! host and key and nothing else.
//!
//! A thin adapter: it parses Pingtochat's shapes, calls the same core as `/v1` and the
//! Cloud-API-compatible routes (Meta's validation, windows, templates, opt-outs, idempotency,
//! the sender), and maps the core's error once, in [`error`]. It never writes a rule of
//! WhatsApp's again, and never imports another surface.

pub mod auth;
pub mod error;
pub mod messages;
pub mod templates;

use axum::Router;
use axum::routing::post;

use crate::core::Core;

/// The Pingtochat routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/api/v1.0/{phone_number_id}/{key}/simpleMessages",
            post(messages::send),
        )
        .route(
            "/api/v1.0/{phone_number_id}/{key}/messages",
            post(messages::send),
        )
        .route(
            "/api/v1.0/{phone_number_id}/{key}/message_templates",
            post(templates::create),
        )
        .route(
            "/api/v1.0/{phone_number_id}/{key}/{template_id}/template_update",
            post(templates::update),
        )
}
