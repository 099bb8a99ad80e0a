//! The Cloud-API-compatible surface: the Graph API paths a Cloud API client calls, with Meta's
//! request bodies, answers and error objects, so that existing client libraries work by
//! changing their base URL. Authorization is the tenant's API key as the bearer token.
//! Core errors become Meta's error object once, in [`error`]. Never imports another surface.

pub mod error;
pub mod media;
pub mod messages;
pub mod templates;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::core::Core;
use crate::http::auth::GraphTenant;
use crate::http::error::GraphError;

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
            get(get_object).post(templates::edit).delete(media::delete),
        )
}

/// `GET /{version}/{id}`: a media (`med_…`) or a template, as the id says.
async fn get_object(
    State(state): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    if media::is_media_id(&id) {
        media::get_one(&state, &tenant_id, &headers, &id).await
    } else {
        templates::get_one(&state, &tenant_id, &id).await
    }
}
