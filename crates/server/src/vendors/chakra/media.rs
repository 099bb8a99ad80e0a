//! ChakraHQ's media routes (`vendors.md` §3.2): `upload-public-media`, its public link, and the
//! media fetch. The rules (WhatsApp's types, sizes and content checks, the signed URLs) are
//! [`crate::core::media`]'s.
//!
//! ChakraHQ's public media URL is readable by anyone who has it. The gateway's is too, but it
//! is unguessable and short-lived: it carries the core's signature of the media and an expiry
//! ([`media::URL_LIFETIME_MS`], 5 minutes, as Meta's media URLs), checked by
//! [`public_content`] before anything is read. Past it, or altered, the link is not found; to
//! send the media later, send it by its `mediaId` (the link is for Meta or a client to fetch
//! now, not to keep). The signature is the one of the gateway's other media URLs (the Graph
//! media object's `url`, this fetch's), so any of them, given to the key holder, reads without
//! the key through the public route for its remaining minutes; only with the app id of the
//! media's own tenant.

use axum::extract::multipart::Multipart;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::TryStreamExt;
use openbsp_store::Media;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{ChakraTenant, check_version};
use super::error::ChakraError;
use super::ok;
use crate::core::{Core, media};
use crate::http::base_url;

/// The largest body `upload-public-media` reads: the largest media Meta takes (a document),
/// and a form around it.
pub const UPLOAD_LIMIT: usize = openbsp_wire::media::INBOUND_MAX_BYTES as usize + 64 * 1024;

/// The public link of `m` of plugin `plugin_id` on the gateway at `base`, and when it expires
/// (Unix ms): signed by the core for public links only (a download URL is not one), served by
/// [`public_content`] without a key.
fn public_link(core: &Core, base: &str, plugin_id: &str, m: &Media) -> (String, Option<i64>) {
    let (query, expires) = media::public_query(core, &m.id);
    (
        format!(
            "{base}/v1/ext/plugin/whatsapp/{plugin_id}/public-media/{}?{query}",
            m.id
        ),
        Some(expires),
    )
}

/// The plugin (app) `plugin_id` of the key's tenant, else not found.
async fn check_plugin(core: &Core, tenant_id: &str, plugin_id: &str) -> Result<(), ChakraError> {
    core.store
        .get_app(plugin_id)
        .await
        .map_err(ChakraError::internal)?
        .filter(|a| a.tenant_id == tenant_id)
        .map(|_| ())
        .ok_or_else(|| {
            ChakraError::not_found(format!(
                "pluginId {plugin_id} is not a WhatsApp plugin (app) of this API key's account"
            ))
            .details("pluginId")
        })
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    filename: Option<String>,
}

/// `POST /v1/ext/plugin/whatsapp/{pluginId}/upload-public-media`: ChakraHQ's multipart form
/// (its `file` part; `filename` and `type` fields taken when they come before it), or the raw
/// file with its `Content-Type` (`?filename=`). Stored as a media of the tenant;
/// `_data` is `{"publicMediaUrl", "mediaId", "expiresAt"}`.
pub async fn upload(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    Path(plugin_id): Path<String>,
    Query(q): Query<UploadQuery>,
    request: Request,
) -> Result<Json, ChakraError> {
    check_plugin(&core, &tenant_id, &plugin_id).await?;
    let base = base_url(request.headers());
    let ct = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let m = if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &core)
            .await
            .map_err(|e| ChakraError::bad_request(e.body_text()))?;
        let (mut filename, mut mime, mut stored) = (q.filename, None::<String>, None);
        let read: Result<(), ChakraError> = async {
            while let Some(field) = form
                .next_field()
                .await
                .map_err(|e| ChakraError::bad_request(e.body_text()))?
            {
                match field.name().unwrap_or_default() {
                    "file" if stored.is_none() => {
                        let mime = mime
                            .clone()
                            .or_else(|| field.content_type().map(str::to_string))
                            .unwrap_or_default();
                        let name = filename
                            .clone()
                            .or_else(|| field.file_name().map(str::to_string));
                        let bytes = Box::pin(field.map_err(std::io::Error::other));
                        stored = Some(media::upload(&core, &tenant_id, &mime, name, bytes).await?);
                    }
                    "filename" => {
                        let v = field
                            .text()
                            .await
                            .map_err(|e| ChakraError::bad_request(e.body_text()))?;
                        filename = Some(v).filter(|v| !v.trim().is_empty()).or(filename);
                    }
                    "type" => {
                        let v = field
                            .text()
                            .await
                            .map_err(|e| ChakraError::bad_request(e.body_text()))?;
                        mime = Some(v);
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = read {
            // A form that breaks after its file keeps nothing of it.
            if let Some(m) = stored {
                media::delete(&core, &tenant_id, &m.id).await?;
            }
            return Err(e);
        }
        stored.ok_or_else(|| ChakraError::from(media::no_file()).details("file"))?
    } else {
        let stream = request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        media::upload(&core, &tenant_id, &ct, q.filename, stream).await?
    };
    let (url, expires) = public_link(&core, &base, &plugin_id, &m);
    Ok(ok(json!({
        "publicMediaUrl": url,
        "mediaId": m.id,
        "expiresAt": expires,
        "mimeType": m.mime_type,
        "fileSize": m.file_size,
    })))
}

type Json = axum::Json<Value>;

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

/// `GET /v1/ext/plugin/whatsapp/{pluginId}/public-media/{id}?expires=&signature=`: the bytes
/// of a public link, with no key. Only a link the gateway signed, for this media, not expired;
/// else not found (nothing is read before the signature is checked).
pub async fn public_content(
    State(core): State<Core>,
    Path((plugin_id, id)): Path<(String, String)>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, ChakraError> {
    // One answer for every link that does not lead to a media: an unknown plugin, another
    // tenant's, a wrong signature, a media of another tenant (else the answer would tell
    // which plugin ids exist).
    let not_found = || ChakraError::not_found(format!("media {id} not found"));
    let (Some(expires), Some(signature)) = (q.expires, q.signature.as_deref()) else {
        return Err(not_found());
    };
    media::check_public(&core, &id, expires, signature).map_err(|_| not_found())?;
    let app = core
        .store
        .get_app(&plugin_id)
        .await
        .map_err(ChakraError::internal)?
        .ok_or_else(not_found)?;
    let m = match media::get(&core, &app.tenant_id, &id).await {
        Err(crate::core::CoreError::NotFound { .. }) => return Err(not_found()),
        other => other?,
    };
    let bytes = media::content(&core, &m, None).await?;
    Ok(crate::http::download::whole(&m, bytes))
}

/// `GET /v1/whatsapp/{version}/media/{id}`: the media object of a media of the key's tenant
/// (an upload, or an inbound message's), as Meta's: `{"messaging_product", "url", "mime_type",
/// "sha256", "file_size", "id"}` plus `filename`; `url` lasts 5 minutes and needs the bearer
/// key, as Meta's. Another tenant's media is not found.
pub async fn fetch(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json, ChakraError> {
    check_version(&version)?;
    let m = media::get(&core, &tenant_id, &id).await?;
    Ok(ok(json!({
        "messaging_product": "whatsapp",
        "url": media::download_url(&core, &base_url(&headers), &m),
        "mime_type": m.mime_type,
        "sha256": m.sha256,
        "file_size": m.file_size.to_string(),
        "id": m.id,
        "filename": m.filename,
    })))
}
