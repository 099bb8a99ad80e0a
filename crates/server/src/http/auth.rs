//! API-key authentication, as extractors (a request that is not authorized never reaches a
//! handler): [`TenantAuth`] for native tenant routes, [`AdminAuth`] for admin routes, and
//! for the Graph-shaped routes [`GraphTenant`] (the path's version, then the key, as Meta
//! checks them) and [`GraphChannel`] (that, and the tenant's number in the path). Keys are looked up by their SHA-256 (cached briefly); the key itself is never
//! stored or logged.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use openbsp_domain::crypto::hash_secret;
use openbsp_domain::refs::ChannelRef;
use openbsp_store::{ApiKey, Channel};
use openbsp_wire::MetaError;

use super::error::{ApiError, GraphError, unknown_object};
use crate::core::admin::is_graph_version;
use crate::core::limits::Client;
use crate::core::{Core, CoreError};

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

/// Who a request comes from, as the authentication limits count it ([`Client::of`]): the TCP
/// peer, or behind the proxies the installation trusts (`OPENBSP_TRUSTED_PROXIES`) the
/// right-most address of `X-Forwarded-For` that is none of them. A router called in-process
/// (the fuzzing harness) has no peer: [`Client::UNKNOWN`].
pub fn client(parts: &Parts, core: &Core) -> Client {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Client::of(peer, forwarded, &core.config.trusted_proxies)
}

/// [`client`] as an extractor, for handlers that count their own attempts (the webhook
/// handshake).
#[derive(Debug, Clone, Copy)]
pub struct RequestClient(pub Client);

impl FromRequestParts<Core> for RequestClient {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, Self::Rejection> {
        Ok(RequestClient(client(parts, core)))
    }
}

/// The key behind a token, if it is a live key; refused (Meta's 4, HTTP 429) past the key's
/// request rate, or when too many unknown tokens are being looked up by the request's client
/// or by all ([`crate::core::limits`]). Known keys come from a cache of their own: a flood of
/// unknown tokens cannot evict them. A key read while a change is heard
/// ([`Core::forget_cached`]) is used for this request but not cached: it may be the revoked one.
pub async fn lookup(state: &Core, parts: &Parts, token: &str) -> Result<Option<ApiKey>, CoreError> {
    let hash = hash_secret(token);
    let key = match state.keys.get(&hash) {
        Some(k) => k,
        None => {
            if state.unknown_keys.get(&hash).is_some() {
                return Ok(None);
            }
            state.auth_limits.admit_lookup(client(parts, state))?;
            let generation = state.cache_generation();
            match state.store.find_api_key(&hash).await? {
                Some(k) => {
                    state.cache_if_unchanged(generation, || state.keys.insert(hash, k.clone()));
                    k
                }
                None => {
                    state.cache_if_unchanged(generation, || state.unknown_keys.insert(hash, ()));
                    return Ok(None);
                }
            }
        }
    };
    state.auth_limits.admit_key(&key.id)?;
    Ok(Some(key))
}

/// The live key a request's bearer token is, or 401.
async fn live_key(parts: &Parts, state: &Core) -> Result<ApiKey, ApiError> {
    let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
    lookup(state, parts, token)
        .await?
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

/// A Graph-shaped request's tenant: the `{version}` path segment is checked first (Meta's 100
/// for an unknown one), then the bearer token must be a live tenant key (else Meta's 190).
#[derive(Debug, Clone)]
pub struct GraphTenant {
    /// The tenant the key belongs to.
    pub tenant_id: String,
}

/// A Graph-shaped request on one of the tenant's numbers: [`GraphTenant`], and the
/// `{phone_number_id}` path segment names a channel of that tenant (phone number id or
/// channel id); another tenant's number, or none, is Meta's unknown object (100/33).
#[derive(Debug, Clone)]
pub struct GraphChannel {
    /// The tenant the key belongs to.
    pub tenant_id: String,
    /// The channel the path names.
    pub channel: Channel,
}

/// The value of one of a request's path parameters.
async fn path_param(parts: &mut Parts, core: &Core, name: &str) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, core).await.ok()?;
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Checks a `{version}` path segment like the Graph API.
pub fn check_version(version: &str) -> Result<(), GraphError> {
    if is_graph_version(version) {
        Ok(())
    } else {
        Err(MetaError::invalid_parameter(format!("Unknown path components: /{version}")).into())
    }
}

/// The tenant whose live key is the request's bearer token, else Meta's 190.
async fn graph_tenant(core: &Core, parts: &Parts) -> Result<String, GraphError> {
    let headers = &parts.headers;
    // The Graph API takes `OAuth <token>` as well (Meta's resumable upload documents it).
    let token = bearer(headers)
        .or_else(|| {
            let v = headers
                .get(axum::http::header::AUTHORIZATION)?
                .to_str()
                .ok()?;
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("oauth").then(|| token.trim())
        })
        .ok_or_else(MetaError::access_token)?;
    let key = lookup(core, parts, token)
        .await?
        .ok_or_else(MetaError::access_token)?;
    key.tenant_id
        .ok_or_else(|| MetaError::access_token().into())
}

impl FromRequestParts<Core> for GraphTenant {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, GraphError> {
        if let Some(version) = path_param(parts, core, "version").await {
            check_version(&version)?;
        }
        Ok(GraphTenant {
            tenant_id: graph_tenant(core, parts).await?,
        })
    }
}

impl FromRequestParts<Core> for GraphChannel {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, GraphError> {
        let GraphTenant { tenant_id } = GraphTenant::from_request_parts(parts, core).await?;
        let given = path_param(parts, core, "phone_number_id")
            .await
            .unwrap_or_default();
        let channel = match ChannelRef::parse(&given) {
            Some(r) => core.tenant_channel(&tenant_id, &r).await?,
            None => None,
        }
        .ok_or_else(|| unknown_object(&given))?;
        Ok(GraphChannel { tenant_id, channel })
    }
}
