//! The Graph-compatible template routes: `GET|POST|DELETE /{version}/{waba_id}/message_templates`
//! and `GET|POST /{version}/{template_id}`, with Meta's bodies, answers and errors. Template
//! ids on this surface are Meta's.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use openbsp_store::Template;
use openbsp_wire::MetaError;
use serde_json::{Value, json};

use openbsp_wire::ids::TemplateName;

use crate::core::{Core, templates as service};
use crate::http::auth::GraphTenant;
use crate::http::error::{GraphError, unknown_object};
use crate::views::graph;

async fn waba(
    state: &Core,
    tenant_id: &str,
    waba_id: &str,
) -> Result<openbsp_store::Channel, GraphError> {
    Ok(service::waba_channel(state, tenant_id, waba_id).await?)
}

fn body_json(body: &Bytes) -> Result<Value, GraphError> {
    super::messages::read_body(body)
}

/// `GET /{version}/{waba_id}/message_templates`: `name`, `status`, `category`, `language`,
/// `fields`, `limit`, `after`; Meta's cursor paging (`next` only when a page follows).
pub async fn list(
    State(state): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let channel = waba(&state, &tenant_id, &waba_id).await?;
    let page = service::list_page(&state, &tenant_id, &channel.waba_id, &q).await?;
    let path = format!("/{version}/{waba_id}/message_templates");
    let mut out = graph::template_page(&page, &headers, &path, &q);
    if let Some(asked) = q.get("summary") {
        let s = service::summary(&state, &tenant_id, &channel.waba_id, &q).await?;
        out["summary"] = graph::template_summary(&s, asked)?;
    }
    Ok(Json(out))
}

/// `POST /{version}/{waba_id}/message_templates`: `{id, status, category}`.
pub async fn create(
    State(state): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((_, waba_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    let channel = waba(&state, &tenant_id, &waba_id).await?;
    let v = body_json(&body)?;
    let t = service::create(&state, &tenant_id, &channel, &v).await?;
    Ok(Json(json!({
        "id": t.meta_template_id.clone().unwrap_or_else(|| t.id.clone()),
        "status": t.status,
        "category": t.category,
    })))
}

/// `DELETE /{version}/{waba_id}/message_templates?name=[&hsm_id=]`: `{"success": true}`.
pub async fn delete(
    State(state): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((_, waba_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let channel = waba(&state, &tenant_id, &waba_id).await?;
    let name = q
        .get("name")
        .ok_or_else(|| MetaError::invalid_parameter("The parameter name is required."))?;
    let one = match q.get("hsm_id") {
        None => None,
        Some(id) => Some(
            Some(service::get(&state, &tenant_id, id, false).await?)
                .filter(|t| &t.name == name && t.waba_id == channel.waba_id)
                .ok_or_else(|| GraphError::from(unknown_object(id)))?,
        ),
    };
    let name = TemplateName::parse(name).map_err(|_| service::no_such_name(name))?;
    service::delete(&state, &tenant_id, &channel, &name, one.as_ref()).await?;
    Ok(Json(json!({"success": true})))
}

async fn template(state: &Core, tenant_id: &str, id: &str) -> Result<Template, GraphError> {
    Ok(service::get(state, tenant_id, id, false).await?)
}

/// `GET /{version}/{template_id}`.
pub async fn get_one(state: &Core, tenant_id: &str, id: &str) -> Result<Json<Value>, GraphError> {
    Ok(Json(graph::template(
        &template(state, tenant_id, id).await?,
    )))
}

/// `POST /{version}/{template_id}`: an edit; `{"success": true}`.
pub async fn edit(
    State(state): State<Core>,
    GraphTenant { tenant_id }: GraphTenant,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    let t = template(&state, &tenant_id, &id).await?;
    let channel = waba(&state, &tenant_id, &t.waba_id).await?;
    let v = body_json(&body)?;
    service::edit(&state, &tenant_id, &channel, &t, &v).await?;
    Ok(Json(json!({"success": true})))
}
