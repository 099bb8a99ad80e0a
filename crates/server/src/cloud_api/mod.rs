//! The Cloud-API-compatible surface: the Graph API paths a Cloud API client calls, with Meta's
//! request bodies, answers and error objects, so that existing client libraries work by
//! changing their base URL. Authorization is the tenant's API key as the bearer token.
//! Core errors become Meta's error object once, in [`error`]. Never imports another surface.

pub mod error;
pub mod messages;
pub mod templates;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use openbsp_wire::MetaError;

use crate::core::Core;
use crate::core::admin::is_graph_version;
use crate::http::auth;
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
            "/{version}/{phone_number_id}",
            get(templates::get_one).post(templates::edit),
        )
}

/// The tenant of a Graph request: its API key as the bearer token (else Meta's 190). Called
/// after the path's version is checked, as the Graph API does.
pub async fn tenant(core: &Core, headers: &HeaderMap) -> Result<String, GraphError> {
    let token = auth::bearer(headers).ok_or_else(MetaError::access_token)?;
    let key = auth::lookup(core, token)
        .await
        .map_err(|e| GraphError {
            error: MetaError::new(openbsp_wire::error::codes::UNKNOWN, None),
            cause: Some(Box::new(e)),
        })?
        .ok_or_else(MetaError::access_token)?;
    key.tenant_id
        .ok_or_else(|| MetaError::access_token().into())
}

/// Checks the `{version}` path segment like the Graph API.
pub fn check_version(version: &str) -> Result<(), GraphError> {
    if is_graph_version(version) {
        Ok(())
    } else {
        Err(MetaError::invalid_parameter(format!("Unknown path components: /{version}")).into())
    }
}
