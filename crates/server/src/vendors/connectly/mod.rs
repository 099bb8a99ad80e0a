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
//! Campaign sendouts ([`campaigns`]) are campaigns of the gateway copied from the one named
//! `campaignName`; assets ([`assets`]) are media the gateway fetches from their source URL and
//! serves by signed, short-lived links.
//! Webhooks ([`webhooks`]) are the core's webhook endpoints in the `connectly` format, whose
//! deliveries [`events`] shapes as Connectly's topics.

pub mod assets;
pub mod auth;
pub mod campaigns;
pub mod error;
pub mod events;
pub mod messages;
pub mod templates;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

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
        .route(
            "/v1/businesses/{businessId}/send/campaigns",
            post(campaigns::send).layer(DefaultBodyLimit::max(campaigns::BODY_LIMIT)),
        )
        .route("/v1/businesses/{businessId}/assets", post(assets::create))
        .route(
            "/v1/businesses/{businessId}/assets/{assetId}",
            get(assets::get),
        )
        .route(
            "/v1/businesses/{businessId}/assets/{assetId}/content",
            get(assets::content),
        )
        .route(
            "/v1/businesses/{businessId}/create/webhooks",
            post(webhooks::create),
        )
        .route("/v1/businesses/{businessId}/webhooks", get(webhooks::list))
        .route(
            "/v1/businesses/{businessId}/update/webhooks/{webhookId}",
            put(webhooks::update),
        )
        .route(
            "/v1/businesses/{businessId}/delete/webhooks/{webhookId}",
            delete(webhooks::delete),
        )
}
