//! Connectly's Assets API (`vendors.md` §4.6): `POST /v1/businesses/{businessId}/assets`
//! (an asset from a public source URL), `GET …/assets/{assetId}` (its `cdnUri`), and the
//! keyless link those answer, `GET …/assets/{assetId}/content?expires=&signature=`.
//!
//! An asset is a media of the tenant's (`med_…`, the same id `/v1/media` and every send
//! take). The gateway fetches the source itself: `http` or `https` only, its host resolved
//! and refused when it is a private, loopback or link-local address (unless the installation
//! allows them, `OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS`, as for webhook endpoints), the
//! connection pinned to the addresses checked, no redirect followed, within
//! [`FETCH_TIMEOUT`]. What it gets is stored by the core as any upload: the `Content-Type` the
//! source answers must be a type WhatsApp takes, the bytes of that type, within its size.
//!
//! Connectly's `uri` is a CDN address that lasts; the gateway's is a link signed by the core
//! for public links only, lasting 5 minutes (as Meta's media URLs): fetched without a key
//! while it lasts, not found after (or altered, or under another business). `GET` of the
//! asset gives a fresh one. `metadata.accessControlType` is checked and echoed; every link
//! is signed whatever it says. A client's own `id` is not kept: the asset's id is the gateway's.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Business;
use super::error::{ConnectlyError, code};
use super::messages::body_object;
use crate::core::endpoints::check_destination;
use crate::core::{Core, media};
use crate::http::base_url;

/// How long fetching a source may take, its bytes included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to a source may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connectly's access control types.
const ACCESS_CONTROL_TYPES: [&str; 3] = [
    "ASSET_ACCESS_CONTROL_TYPE_PUBLIC",
    "ASSET_ACCESS_CONTROL_TYPE_PRIVATE",
    "ASSET_ACCESS_CONTROL_TYPE_CDN_PRIVATE",
];

/// The public link of media `media_id` of business `business_id` on the gateway at `base`,
/// and when it expires (Unix ms): signed by the core for public links only, served without a
/// key by [`content`] for 5 minutes.
pub fn asset_link(core: &Core, base: &str, business_id: &str, media_id: &str) -> (String, i64) {
    let (query, expires) = media::public_query(core, media_id);
    (
        format!("{base}/v1/businesses/{business_id}/assets/{media_id}/content?{query}"),
        expires,
    )
}

/// A source that could not be fetched: 400 naming it.
fn unreachable(uri: &str, why: impl std::fmt::Display) -> ConnectlyError {
    ConnectlyError::bad(
        code::ASSET_SOURCE_UNREACHABLE,
        format!("the asset's source {uri} could not be fetched: {why}"),
    )
    .at("uri")
}

/// `metadata`, checked: an object whose `accessControlType`, when given, is Connectly's.
fn metadata(v: &Value) -> Result<Value, ConnectlyError> {
    let m = match v.get("metadata") {
        None | Some(Value::Null) => return Ok(Value::Object(Map::new())),
        Some(m @ Value::Object(_)) => m,
        Some(_) => return Err(ConnectlyError::invalid("metadata must be an object").at("metadata")),
    };
    match m.get("accessControlType") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if ACCESS_CONTROL_TYPES.contains(&t.as_str()) => {}
        Some(other) => {
            return Err(ConnectlyError::invalid(format!(
                "metadata.accessControlType is one of {}; got {other}",
                ACCESS_CONTROL_TYPES.join(", ")
            ))
            .at("metadata.accessControlType"));
        }
    }
    Ok(m.clone())
}

/// The last segment of a URL's path, as the file's name.
fn file_name(url: &url::Url) -> Option<String> {
    url.path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Fetches `uri` under the installation's network policy: the host checked, then connected
/// to only at the checked addresses, no redirect followed.
async fn fetch(core: &Core, uri: &str) -> Result<reqwest::Response, ConnectlyError> {
    let addrs = check_destination(uri, core.config.webhook_network)
        .await
        .map_err(|m| {
            ConnectlyError::invalid(format!(
                "uri: {}",
                m.trim_start_matches("url ")
                    .replace("endpoints must be", "an asset's source must be")
            ))
            .at("uri")
        })?;
    let parsed = url::Url::parse(uri).map_err(|e| unreachable(uri, e))?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&host, &addrs)
        .no_proxy()
        .user_agent(concat!("openbsp-assets/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ConnectlyError::internal)?;
    let resp = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| unreachable(uri, without_url(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(unreachable(
            uri,
            format!(
                "it answered {status}, a redirect; give the file's own URL (redirects are not followed)"
            ),
        ));
    }
    if !status.is_success() {
        return Err(unreachable(uri, format!("it answered {status}")));
    }
    Ok(resp)
}

/// A fetch error's cause, without the URL again.
fn without_url(e: &reqwest::Error) -> String {
    let mut why = if e.is_timeout() {
        "it did not answer in time".to_string()
    } else if e.is_connect() {
        "no connection could be made".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    why
}

/// `POST …/assets` `{"uri", "id"?, "metadata"?: {"accessControlType"?}}` → `{"asset": {"id",
/// "ownerId", "uri", "source": {"uri"}, "metadata"}}`.
pub async fn create(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ConnectlyError> {
    let (_, v) = body_object(body)?;
    let uri = match v.get("uri") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        None | Some(Value::Null) => {
            return Err(
                ConnectlyError::invalid("uri is required: the asset's public source URL").at("uri"),
            );
        }
        Some(_) => return Err(ConnectlyError::invalid("uri must be a URL string").at("uri")),
    };
    if !matches!(
        v.get("id"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) {
        return Err(ConnectlyError::invalid("id must be a string").at("id"));
    }
    let metadata = metadata(&v)?;
    let resp = fetch(&core, &uri).await?;
    let mime = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let name = file_name(resp.url());
    let bytes = Box::pin(resp.bytes_stream().map_err(std::io::Error::other));
    let m = media::upload(&core, &tenant_id, &mime, name, bytes)
        .await
        .map_err(|e| {
            let e = ConnectlyError::from(e);
            if e.status.is_client_error() {
                let message = format!("the asset's source {uri}: {}", e.message);
                ConnectlyError::new(e.status, e.code, message).at("uri")
            } else {
                e
            }
        })?;
    let (link, _) = asset_link(&core, &base_url(&headers), &tenant_id, &m.id);
    Ok(Json(json!({"asset": {
        "id": m.id,
        "ownerId": tenant_id,
        "uri": link,
        "source": {"uri": uri},
        "metadata": metadata,
    }})))
}

/// `GET …/assets/{assetId}` → `{"cdnUri"}`: a fresh public link. Another business's asset, or
/// none, is 404.
pub async fn get(
    State(core): State<Core>,
    Business { tenant_id }: Business,
    Path((_, asset_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ConnectlyError> {
    let m = media::get(&core, &tenant_id, &asset_id).await?;
    let (link, _) = asset_link(&core, &base_url(&headers), &tenant_id, &m.id);
    Ok(Json(json!({"cdnUri": link})))
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

/// `GET …/assets/{assetId}/content?expires=&signature=`: the bytes of a public link, with no
/// key. Only a link the gateway signed, for this asset, not expired, under the business that
/// owns it; else 404 (nothing is read before the signature is checked).
pub async fn content(
    State(core): State<Core>,
    Path((business_id, asset_id)): Path<(String, String)>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, ConnectlyError> {
    let not_found = || {
        ConnectlyError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("asset {asset_id} not found (or its link expired: get a fresh one)"),
        )
    };
    let (Some(expires), Some(signature)) = (q.expires, q.signature.as_deref()) else {
        return Err(not_found());
    };
    media::check_public(&core, &asset_id, expires, signature).map_err(|_| not_found())?;
    let m = media::get(&core, &business_id, &asset_id)
        .await
        .map_err(|_| not_found())?;
    let bytes = media::content(&core, &m, None).await?;
    Ok(crate::http::download::whole(&m, bytes))
}
