//! The Cloud-API-compatible surface: the Graph API paths a Cloud API client calls, with Meta's
//! request bodies, answers and error objects, so that existing client libraries work by
//! changing their base URL. Authorization is the tenant's API key as the bearer token.
//! Core errors become Meta's error object once, in [`error`]. Never imports another surface.

pub mod error;
pub mod media;
pub mod messages;
pub mod templates;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::core::Core;

/// Every Graph route.
pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/{version}/{phone_number_id}/messages",
            post(messages::send),
        )
        .route(
            "/{version}/{phone_number_id}/message_templates",
            get(templates::list)
                .post(templates::create)
                .delete(templates::delete),
        )
        .route(
            "/{version}/{phone_number_id}/media",
            // The largest media Meta takes (a document), and the form around it.
            post(media::upload).layer(DefaultBodyLimit::max(
                openbsp_wire::media::INBOUND_MAX_BYTES as usize + 64 * 1024,
            )),
        )
        .route(
            "/{version}/{phone_number_id}",
            get(templates::get_one)
                .post(templates::edit)
                .delete(media::delete),
        )
}
