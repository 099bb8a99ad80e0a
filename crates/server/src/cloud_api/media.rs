//! The Graph-compatible media routes: `POST /{version}/{phone_number_id}/media` (multipart
//! `messaging_product`, `file`, `type`) → `{"id"}`; `GET /{version}/{media_id}` →
//! `{messaging_product, url, mime_type, sha256, file_size, id}` with a gateway URL that lasts
//! 5 minutes and needs the bearer key, as Meta's; `DELETE /{version}/{media_id}` →
//! `{"success": true}`. Media ids on this surface are the gateway's (`med_…`).

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
