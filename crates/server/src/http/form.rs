//! Reading a media upload sent as a `multipart/form-data` form (the Graph surface's shape, which
//! the native API takes too): its `file` part streamed into the core, its other fields kept.

use std::collections::HashMap;

use axum::extract::multipart::{Multipart, MultipartError};
use futures::TryStreamExt;
use openbsp_store::Media;

use crate::core::{Core, CoreError, media};

/// Why a form could not be read.
pub enum FormError {
    /// It is not a readable multipart form.
    Form(MultipartError),
    /// The core refused its file.
    Core(CoreError),
}

impl From<CoreError> for FormError {
    fn from(e: CoreError) -> FormError {
        FormError::Core(e)
    }
}

/// The form's first `file` part stored as a tenant's media (its type the `type` field if it
/// came before the file, else the part's `Content-Type`; its name `filename`, else the
/// part's), and the form's other text fields. A form that breaks after its file keeps
/// nothing: the media stored from it is removed before the error is answered.
pub async fn media_form(
    core: &Core,
    tenant_id: &str,
    form: &mut Multipart,
    filename: Option<String>,
) -> Result<(Option<Media>, HashMap<String, String>), FormError> {
    let mut stored = None;
    match read_form(core, tenant_id, form, filename, &mut stored).await {
        Ok(fields) => Ok((stored, fields)),
        Err(e) => {
            if let Some(m) = stored {
                media::delete(core, tenant_id, &m.id).await?;
            }
            Err(e)
        }
    }
}

/// Reads `form` into `stored` (its first file, once stored) and its text fields.
async fn read_form(
    core: &Core,
    tenant_id: &str,
    form: &mut Multipart,
    filename: Option<String>,
    stored: &mut Option<Media>,
) -> Result<HashMap<String, String>, FormError> {
    let mut fields = HashMap::new();
    while let Some(field) = form.next_field().await.map_err(FormError::Form)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if stored.is_some() {
                continue;
            }
            let mime = fields
                .get("type")
                .cloned()
                .or_else(|| field.content_type().map(str::to_string))
                .unwrap_or_default();
            let filename = filename
                .clone()
                .or_else(|| field.file_name().map(str::to_string));
            let bytes = Box::pin(field.map_err(std::io::Error::other));
            *stored = Some(media::upload(core, tenant_id, &mime, filename, bytes).await?);
        } else {
            let value = field.text().await.map_err(FormError::Form)?;
            fields.insert(name, value);
        }
    }
    Ok(fields)
}
