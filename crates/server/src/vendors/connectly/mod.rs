//! The Connectly surface (DESIGN §2.7, `vendors.md` §4, `docs/migrating.md`): Connectly's
//! routes under `/v1/businesses/{businessId}/…` with `X-API-Key`, its request bodies (session
//! messages, templated messages with parameters by name, template create and list), its
//! answers (`{"id"}`, `{"entity"}`) and its errors (`ERROR_CODE_…`), so that a business
//! leaving Connectly changes its host and key and nothing else. `{businessId}` is the
//! tenant's id; `sender` is one of its numbers (absent: its only one).
//!
//! A thin adapter: it parses Connectly's shapes into Cloud API bodies, calls the same core as
//! `/v1` (Meta's validation, windows, templates, opt-outs, the sender), and maps the core's
//! error once, in [`error`]. It never writes a rule of WhatsApp's again, and never imports
//! another surface.
//!
//! Not served yet (they need core work; see `docs/migrating.md`): `send/campaigns`, the
//! webhooks CRUD and delivery in Connectly's topics, and the assets routes.

pub mod auth;
pub mod error;
pub mod messages;
pub mod templates;

use axum::Router;
use axum::routing::{get, post};

use crate::core::Core;

/// The Connectly routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/v1/businesses/{businessId}/send/messages",
            post(messages::send_message),
        )
        .route(
            "/v1/businesses/{businessId}/send/whatsapp_templated_messages",
            post(messages::send_template),
        )
        .route(
            "/v1/businesses/{businessId}/create/template",
            post(templates::create),
        )
        .route(
            "/v1/businesses/{businessId}/get/templates",
            get(templates::list).post(templates::list),
        )
}
