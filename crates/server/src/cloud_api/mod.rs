//! The Cloud-API-compatible surface: the Graph API paths a Cloud API client calls, with Meta's
//! request bodies, answers and error objects, so that existing client libraries work by
//! changing their base URL. Authorization is the tenant's API key as the bearer token.
//! Core errors become Meta's error object once, in [`error`]. Never imports another surface.

pub mod error;
pub mod media;
pub mod messages;
pub mod templates;

use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;

use crate::core::Core;
use crate::http::auth::GraphTenant;
use crate::http::error::GraphError;
use crate::http::rejection;

/// Every Graph route; axum's own refusals (a body over the limit, a form that is not one, a
/// query that does not parse) are answered in Meta's error object too.
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
            "/{version}/{phone_number_id}/uploads",
            post(media::start_upload),
        )
        .route(
            "/{version}/{phone_number_id}",
            get(get_object).post(post_object).delete(media::delete),
        )
        .layer(rejection::envelope(rejection::graph))
}

/// `POST /{version}/{id}`: a resumable upload's bytes (`upload:…`), or a template's edit.
async fn post_object(
    State(state): State<Core>,
    tenant: GraphTenant,
    Path(path): Path<(String, String)>,
    request: Request,
) -> Result<Json<Value>, GraphError> {
    if media::is_upload_id(&path.1) {
        let (parts, body) = request.into_parts();
        return media::upload_bytes(&state, &tenant.tenant_id, &path.1, &parts.headers, body).await;
    }
    // Read as any body is, under the gateway's limit: one over it is answered 413.
    let bytes = Bytes::from_request(request, &state)
        .await
        .map_err(|e| rejection::graph(e.status(), e.body_text()))?;
    templates::edit(State(state), tenant, Path(path), bytes).await
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
    } else if media::is_upload_id(&id) {
        media::upload_status(&state, &tenant_id, &id).await
    } else {
        templates::get_one(&state, &tenant_id, &id).await
    }
}
