//! `POST …/message_templates` (create, Meta's body: `name`, `language`, `category`,
//! `allow_category_change`, `components`, …) → 201 `{"id", "status", "category"}`, and
//! `POST …/{template_id}/template_update` (`{"components": […]}`) → `{"success": true}`,
//! through the core's template create and edit: validated as Meta validates, submitted to
//! Meta, reviewed. Template ids are Meta's (the gateway's `tpl_…` works too); a template of
//! another WABA, or of another tenant, is not found (404).

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::PingtochatChannel;
use super::error::{PingtochatError, body_json};
use crate::core::{Core, templates as service};

/// Creates a template on the number's WhatsApp Business Account.
pub async fn create(
    State(core): State<Core>,
    PingtochatChannel { tenant_id, channel }: PingtochatChannel,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), PingtochatError> {
    let (_, v) = body_json(body)?;
    let t = service::create(&core, &tenant_id, &channel, &v).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": t.meta_template_id.clone().unwrap_or_else(|| t.id.clone()),
            "status": t.status,
            "category": t.category,
        })),
    ))
}

/// Edits a template of the number's WhatsApp Business Account.
pub async fn update(
    State(core): State<Core>,
    PingtochatChannel { tenant_id, channel }: PingtochatChannel,
    Path((_, _, template_id)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, PingtochatError> {
    let t = service::get(&core, &tenant_id, &template_id, false).await?;
    if t.waba_id != channel.waba_id {
        return Err(PingtochatError::template_not_found(template_id));
    }
    let (_, v) = body_json(body)?;
    service::edit(&core, &tenant_id, &channel, &t, &v).await?;
    Ok(Json(json!({"success": true})))
}
