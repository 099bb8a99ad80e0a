//! The Graph-compatible media routes: `POST /{version}/{phone_number_id}/media` (multipart
//! `messaging_product`, `file`, `type`) → `{"id"}`; `GET /{version}/{media_id}` →
//! `{messaging_product, url, mime_type, sha256, file_size, id}` with a gateway URL that lasts
//! 5 minutes and needs the bearer key, as Meta's; `DELETE /{version}/{media_id}` →
//! `{"success": true}`. Media ids on this surface are the gateway's (`med_…`).
//!
//! Meta's resumable upload, for template header samples: `POST /{version}/{app_id}/uploads?
//! file_name=&file_length=&file_type=` → `{"id": "upload:…"}`; `POST /{version}/upload:…` with
//! `file_offset: 0` and the bytes → `{"h": "med_…"}`, the handle a template's
//! `example.header_handle` takes (the gateway uploads it to Meta when the template is
//! created); `GET /{version}/upload:…` → `{"id", "file_offset"}`. The file may come in chunks,
//! each from where the last ended (an interrupted upload resumes from `GET`'s offset).

use axum::Json;
use axum::extract::multipart::Multipart;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use openbsp_store::Media;
use openbsp_wire::MetaError;
use serde_json::{Value, json};

use crate::core::{Core, media};
use crate::http::auth::GraphTenant;
use crate::http::error::GraphError;
use crate::http::form::{FormError, media_form};

/// Whether a Graph object id names a media of the gateway.
pub fn is_media_id(id: &str) -> bool {
    id.starts_with("med_")
}

/// A media as `GET /{media_id}` answers it.
pub fn media_json(core: &Core, headers: &HeaderMap, m: &Media) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "url": media::download_url(core, &crate::http::base_url(headers), m),
        "mime_type": m.mime_type,
        "sha256": m.sha256,
        "file_size": m.file_size.to_string(),
        "id": m.id,
    })
}

/// `POST /{version}/{phone_number_id}/media`: the file streamed into the gateway's store.
pub async fn upload(
    State(core): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((_, phone_number_id)): Path<(String, String)>,
    mut form: Multipart,
) -> Result<Json<Value>, GraphError> {
    core.require_channel(&tenant_id, &phone_number_id).await?;
    let (stored, fields) = match media_form(&core, &tenant_id, &mut form, None).await {
        Ok(read) => read,
        Err(FormError::Core(e)) => return Err(e.into()),
        Err(FormError::Form(e)) => {
            return Err(MetaError::invalid_parameter(format!(
                "The request is not a readable multipart form: {e}"
            ))
            .into());
        }
    };
    let product = fields.get("messaging_product");
    let refuse = |message: &str| -> Result<Json<Value>, GraphError> {
        Err(MetaError::invalid_parameter(message).into())
    };
    match (product.map(|p| p.trim()), stored) {
        (Some("whatsapp"), Some(m)) => Ok(Json(json!({"id": m.id}))),
        (_, None) => refuse("The parameter file is required."),
        (_, Some(m)) => {
            media::delete(&core, &tenant_id, &m.id).await?;
            refuse("The parameter messaging_product is required and must be whatsapp.")
        }
    }
}

/// Whether a Graph object id names a resumable upload session.
pub fn is_upload_id(id: &str) -> bool {
    id.starts_with("upload:")
}

/// `POST /{version}/{app_id}/uploads?file_name=&file_length=&file_type=`: a session's id.
pub async fn start_upload(
    State(core): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let length = q.get("file_length").and_then(|l| l.trim().parse().ok());
    let id = media::start_sample_upload(
        &core,
        &tenant_id,
        q.get("file_name").map(String::as_str).unwrap_or(""),
        length,
        q.get("file_type").map(String::as_str).unwrap_or(""),
    )?;
    Ok(Json(json!({ "id": id })))
}

/// `GET /{version}/upload:…`: `{"id", "file_offset"}`, the bytes received so far (where
/// the next chunk starts).
pub async fn upload_status(
    core: &Core,
    tenant_id: &str,
    id: &str,
) -> Result<Json<Value>, GraphError> {
    let session = media::sample_upload(core, tenant_id, id)?;
    let offset = media::sample_offset(core, id, &session).await?;
    Ok(Json(json!({ "id": id, "file_offset": offset })))
}

/// `POST /{version}/upload:…` with `file_offset` and a chunk of the bytes: `{"h": <handle>}`
/// once the file is whole, else `{"id", "file_offset"}` (where the next chunk starts).
pub async fn upload_bytes(
    core: &Core,
    tenant_id: &str,
    id: &str,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, GraphError> {
    let session = media::sample_upload(core, tenant_id, id)?;
    let number = |name: &str| -> Result<Option<u64>, GraphError> {
        match headers
            .get(name)
            .map(|v| v.to_str().map(|v| v.trim().parse::<u64>()))
        {
            None => Ok(None),
            Some(Ok(Ok(n))) => Ok(Some(n)),
            Some(_) => Err(MetaError::invalid_parameter(format!(
                "The header {name} must be a number of bytes."
            ))
            .into()),
        }
    };
    let offset = number("file_offset")?.unwrap_or(0);
    let length = number("content-length")?;
    let stream = futures::TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other);
    match media::take_sample_chunk(core, id, &session, offset, length, stream).await? {
        media::SampleProgress::Done(m) => Ok(Json(json!({ "h": m.id }))),
        media::SampleProgress::Received(n) => Ok(Json(json!({ "id": id, "file_offset": n }))),
    }
}

/// `GET /{version}/{media_id}`.
pub async fn get_one(
    core: &Core,
    tenant_id: &str,
    headers: &HeaderMap,
    id: &str,
) -> Result<Json<Value>, GraphError> {
    let m = media::get(core, tenant_id, id).await?;
    Ok(Json(media_json(core, headers, &m)))
}

/// `DELETE /{version}/{media_id}`: `{"success": true}`.
pub async fn delete(
    State(core): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    if !is_media_id(&id) {
        return Err(crate::http::error::unknown_object(&id).into());
    }
    media::delete(&core, &tenant_id, &id).await?;
    Ok(Json(json!({"success": true})))
}
