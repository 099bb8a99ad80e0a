//! The ChakraHQ surface (DESIGN §2.7, `vendors.md` §3, `docs/migrating.md`): ChakraHQ's
//! WhatsApp routes under `/v1/ext/plugin/whatsapp/…`, with its request bodies (Cloud API
//! bodies passed through; its `mapping` / `headerMapping` / `buttonMapping` template sends),
//! its answers in `{"_data", "_meta", "_errors"}`, and `Authorization: Bearer <API key>`, so
//! that a business leaving ChakraHQ changes its host, key and plugin id and nothing else.
//! `{pluginId}` is the gateway's app id (`app_…`), `{phoneNumberId}` one of that app's numbers.
//!
//! A thin adapter: it parses ChakraHQ's shapes, calls the same core as `/v1` and the
//! Cloud-API-compatible routes (Meta's validation, windows, templates, opt-outs, idempotency,
//! the sender), and maps the core's error once, in [`error`]. It never writes a rule of
//! WhatsApp's again, and never imports another surface.
//!
//! Media: `upload-public-media` answers a public link that is signed and lasts 5 minutes,
//! served without a key by `…/{pluginId}/public-media/{id}`; `GET /v1/whatsapp/{version}/media/{id}`
//! the media object ([`media`]). Not yet served: `format: "chakra"` webhook events
//! (`docs/migrating.md`).

pub mod auth;
pub mod error;
pub mod events;
pub mod media;
pub mod messages;
pub mod template_message;
pub mod templates;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::core::Core;

/// ChakraHQ's success envelope: `{"_data": data, "_meta": {"requestId"}, "_errors": []}`.
pub fn ok(data: Value) -> Json<Value> {
    let meta = serde_json::to_value(error::Meta::current()).unwrap_or_else(|_| json!({}));
    Json(json!({"_data": data, "_meta": meta, "_errors": []}))
}

/// The ChakraHQ routes.
pub fn routes() -> Router<Core> {
    let plugin = "/v1/ext/plugin/whatsapp/{pluginId}";
    Router::new()
        .route(
            &format!("{plugin}/api/{{version}}/{{phoneNumberId}}/messages"),
            post(messages::send),
        )
        // ChakraHQ's own example leaves the number empty (`…/api/v19.0//messages`): the
        // router matches no empty parameter, so that path is a route of its own.
        .route(
            &format!("{plugin}/api/{{version}}//messages"),
            post(messages::send),
        )
        .route(
            &format!("{plugin}/phoneNumber/{{phone}}/send-template-message"),
            post(template_message::send),
        )
        .route(
            &format!("{plugin}/process/phoneNumber/{{phone}}/send-template-message"),
            post(template_message::send),
        )
        .route(
            "/v1/ext/plugin/whatsapp/api/{version}/{wabaId}/message_templates",
            post(templates::create).get(templates::list),
        )
        .route(
            "/v1/ext/plugin/whatsapp/api/{version}/{templateId}",
            post(templates::update),
        )
        .route(
            &format!("{plugin}/upload-public-media"),
            post(media::upload).layer(DefaultBodyLimit::max(media::UPLOAD_LIMIT)),
        )
        .route(
            &format!("{plugin}/public-media/{{id}}"),
            get(media::public_content),
        )
        .route("/v1/whatsapp/{version}/media/{id}", get(media::fetch))
}
