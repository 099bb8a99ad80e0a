//! ChakraHQ's template pass-through: `POST|GET /v1/ext/plugin/whatsapp/api/{version}/{wabaId}/
//! message_templates` (create, list) and `POST …/api/{version}/{templateId}` (update), with
//! Meta's bodies, through the core's template create, list and edit (validated as Meta
//! validates, submitted to Meta, reviewed). Meta's answer is the `_data`. Template ids are
//! Meta's (the gateway's `tpl_…` works too); another tenant's WABA or template is not found.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::{ChakraTenant, check_version};
use super::error::ChakraError;
use super::messages::body_json;
use super::ok;
use crate::core::{Core, templates as service};
use crate::views::graph;

/// Creates a template on the WABA: `_data` is Meta's `{id, status, category}`.
pub async fn create(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    Path((version, waba_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ChakraError> {
    check_version(&version)?;
    let channel = service::waba_channel(&core, &tenant_id, &waba_id).await?;
    let (_, v) = body_json(body)?;
    let t = service::create(&core, &tenant_id, &channel, &v).await?;
    Ok(ok(json!({
        "id": t.meta_template_id.clone().unwrap_or_else(|| t.id.clone()),
        "status": t.status,
        "category": t.category,
    })))
}

/// Lists the WABA's templates (`name`, `status`, `category`, `language`, `limit`, `after`):
/// `_data` is Meta's `{data, paging}`.
pub async fn list(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChakraError> {
    check_version(&version)?;
    let channel = service::waba_channel(&core, &tenant_id, &waba_id).await?;
    let page = service::list_page(&core, &tenant_id, &channel.waba_id, &q).await?;
    let path = format!("/v1/ext/plugin/whatsapp/api/{version}/{waba_id}/message_templates");
    let mut out = graph::template_page(&page, &headers, &path, &q);
    if let Some(asked) = q.get("summary") {
        let s = service::summary(&core, &tenant_id, &channel.waba_id, &q).await?;
        out["summary"] = graph::template_summary(&s, asked)?;
    }
    Ok(ok(out))
}

/// Edits a template (Meta's body: `components`, `category`, …): `_data` is
/// `{"success": true}`.
pub async fn update(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    Path((version, template_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ChakraError> {
    check_version(&version)?;
    let t = service::get(&core, &tenant_id, &template_id, false).await?;
    let channel = service::waba_channel(&core, &tenant_id, &t.waba_id).await?;
    let (_, v) = body_json(body)?;
    service::edit(&core, &tenant_id, &channel, &t, &v).await?;
    Ok(ok(json!({"success": true})))
}
