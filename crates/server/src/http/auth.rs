//! API-key authentication, as extractors (a request that is not authorized never reaches a
//! handler): [`TenantAuth`] for tenant routes, [`AdminAuth`] for
//! admin routes. Keys are looked up by their SHA-256 (cached briefly); the key itself is never
//! stored or logged.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use openbsp_domain::crypto::hash_secret;
use openbsp_store::ApiKey;

use super::error::ApiError;
use crate::core::Core;

/// A request authenticated with a tenant's API key.
#[derive(Debug, Clone)]
pub struct TenantAuth {
    /// The tenant the key belongs to.
    pub tenant_id: String,
    /// The key's id.
    pub key_id: String,
}

/// A request authenticated with an admin key.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The key's id.
    pub key_id: String,
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The key behind a bearer token, if it is a live key.
pub async fn lookup(
    state: &Core,
    token: &str,
) -> Result<Option<ApiKey>, openbsp_store::StoreError> {
    let hash = hash_secret(token);
    if let Some(k) = state.keys.get(&hash) {
        return Ok(k);
    }
    let found = state.store.find_api_key(&hash).await?;
    state.keys.insert(hash, found.clone());
    Ok(found)
}

/// The live key a request's bearer token is, or 401.
async fn live_key(parts: &Parts, state: &Core) -> Result<ApiKey, ApiError> {
    let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
    lookup(state, token)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::unauthorized)
}

impl FromRequestParts<Core> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Core) -> Result<Self, ApiError> {
        let key = live_key(parts, state).await?;
        match key.tenant_id {
            Some(tenant_id) => Ok(TenantAuth {
                tenant_id,
                key_id: key.id,
            }),
            None => Err(ApiError::forbidden(
                "admin keys manage the installation; use a tenant's API key for this route",
            )),
        }
    }
}

impl FromRequestParts<Core> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Core) -> Result<Self, ApiError> {
        let key = live_key(parts, state).await?;
        if key.is_admin {
            Ok(AdminAuth { key_id: key.id })
        } else {
            Err(ApiError::forbidden("this route needs an admin key"))
        }
    }
}
