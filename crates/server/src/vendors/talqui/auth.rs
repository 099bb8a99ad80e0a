//! Talqui's credential: `Authorization: PluginConnection <token>`, where the token is the
//! tenant's gateway API key, looked up like every key (its SHA-256, cached; never stored or
//! logged). The key's tenant must be the path's `{tenantID}`.

use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::error::TalquiError;
use crate::core::Core;
use crate::http::auth::lookup;

/// A Talqui request authenticated for the tenant its path names.
#[derive(Debug, Clone)]
pub struct PluginConnection {
    /// The tenant: the key's, and the path's `{tenantID}`.
    pub tenant_id: String,
}

/// The token of `Authorization: PluginConnection <token>` (a `Bearer` token is taken too,
/// so a client may use the gateway's usual scheme).
fn token(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    let known =
        scheme.eq_ignore_ascii_case("pluginconnection") || scheme.eq_ignore_ascii_case("bearer");
    let token = token.trim();
    (known && !token.is_empty()).then_some(token)
}

impl FromRequestParts<Core> for PluginConnection {
    type Rejection = TalquiError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, TalquiError> {
        let token = token(&parts.headers).ok_or_else(TalquiError::unauthorized)?;
        let key = lookup(core, parts, token)
            .await
            .map_err(TalquiError::from)?
            .ok_or_else(TalquiError::unauthorized)?;
        let Some(tenant_id) = key.tenant_id else {
            return Err(TalquiError::forbidden(
                "admin keys manage the installation; use the tenant's API key as the \
                 PluginConnection token",
            ));
        };
        let Path(path_tenant) = Path::<String>::from_request_parts(parts, core)
            .await
            .map_err(|e| TalquiError::invalid("tenantID", e.body_text()))?;
        if path_tenant != tenant_id {
            // The same answer whether that tenant exists or not: nothing leaks.
            return Err(TalquiError::forbidden(format!(
                "this PluginConnection token does not belong to tenant {path_tenant}"
            ))
            .at("tenantID"));
        }
        Ok(PluginConnection { tenant_id })
    }
}
