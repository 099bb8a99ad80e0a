//! Sending and reading messages: the native `/v1/messages` routes, the Cloud-API-compatible
//! `POST /{version}/{phone_number_id}/messages`, and the service both share.

pub mod graph;
pub mod native;
pub mod service;
pub mod view;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The message routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(native::create).get(native::list))
        .route("/v1/messages/{id}", get(native::get_one))
        .route("/{version}/{phone_number_id}/messages", post(graph::send))
}
