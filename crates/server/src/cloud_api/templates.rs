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
use crate::http::paging;

/// A template as the Graph API shows it.
pub fn template_json(t: &Template) -> Value {
    let mut v = json!({
        "id": t.meta_template_id.clone().unwrap_or_else(|| t.id.clone()),
        "name": t.name,
        "language": t.language,
        "status": t.status,
        "category": t.category,
        "components": t.components,
        "parameter_format": t.parameter_format,
    });
    if let Some(q) = &t.quality_score {
        v["quality_score"] = json!({"score": q});
    }
    if let Some(r) = &t.reason {
        v["rejected_reason"] = json!(r);
    }
    if let Some(p) = &t.previous_category {
        v["previous_category"] = json!(p);
    }
    if let Some(ttl) = t.message_send_ttl_seconds {
        v["message_send_ttl_seconds"] = json!(ttl);
    }
    v
}

async fn waba(
    state: &Core,
    tenant_id: &str,
    waba_id: &str,
) -> Result<openbsp_store::Channel, GraphError> {
    Ok(service::waba_channel(state, tenant_id, waba_id).await?)
}

fn body_json(body: &Bytes) -> Result<Value, GraphError> {
    let v = serde_json::from_slice(body).map_err(|_| {
        GraphError::from(MetaError::invalid_parameter(
            "The request body could not be parsed as JSON.",
        ))
    })?;
    if crate::http::body::has_nul(&v) {
        return Err(MetaError::invalid_parameter(super::messages::NUL_REFUSED).into());
    }
    Ok(v)
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
    let service::TemplatePage {
        rows,
        limit,
        more,
        previous,
    } = service::list_page(&state, &tenant_id, &channel.waba_id, &q).await?;
    let rows = rows.as_slice();
    let fields: Option<Vec<&str>> = q.get("fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect()
    });
    let data: Vec<Value> = rows
        .iter()
        .map(|t| {
            let full = template_json(t);
            match &fields {
                None => full,
                Some(fields) => {
                    let mut v = json!({"id": full["id"]});
                    for f in fields {
                        if let Some(x) = full.get(*f) {
                            v[*f] = x.clone();
                        }
                    }
                    v
                }
            }
        })
        .collect();
    let mut out = json!({"data": data});
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        out["paging"] = paging::graph_paging(
            &headers,
            &format!("/{version}/{waba_id}/message_templates"),
            (&first.id, &last.id),
            limit,
            paging::Sides {
                previous,
                next: more,
            },
            &q,
            &[
                "name", "status", "category", "language", "fields", "summary",
            ],
        );
    }
    if let Some(asked) = q.get("summary") {
        out["summary"] = summary(&state, &tenant_id, &channel.waba_id, &q, asked).await?;
    }
    Ok(Json(out))
}

/// The list's `summary` (reference §2.3): the fields `asked` names (comma-separated; `true`
/// or `1` for all of them).
async fn summary(
    core: &Core,
    tenant_id: &str,
    waba_id: &str,
    q: &HashMap<String, String>,
    asked: &str,
) -> Result<Value, GraphError> {
    const FIELDS: [&str; 4] = [
        "total_count",
        "message_template_count",
        "message_template_limit",
        "are_translations_complete",
    ];
    let s = service::summary(core, tenant_id, waba_id, q).await?;
    let all = json!({
        "total_count": s.total_count,
        "message_template_count": s.message_template_count,
        "message_template_limit": s.message_template_limit,
        "are_translations_complete": s.are_translations_complete,
    });
    let wanted: Vec<&str> = match asked.trim() {
        "true" | "1" => FIELDS.to_vec(),
        list => list
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect(),
    };
    let mut out = json!({});
    for f in wanted {
        if !FIELDS.contains(&f) {
            return Err(MetaError::invalid_parameter(format!(
                "summary: {f} is not a summary field of message_templates ({})",
                FIELDS.join(", ")
            ))
            .into());
        }
        out[f] = all[f].clone();
    }
    Ok(out)
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
    Ok(Json(template_json(&template(state, tenant_id, id).await?)))
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
