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
use openbsp_store::{Template, TemplateFilter};
use serde_json::{Value, json};

use super::auth::{ChakraTenant, check_version};
use super::error::ChakraError;
use super::messages::body_json;
use super::ok;
use crate::core::{Core, templates as service};

/// Meta's default and largest page sizes for template lists.
const DEFAULT_LIMIT: u32 = 25;
const MAX_LIMIT: u32 = 1000;

/// A template as Meta's Graph API shows it.
fn template_json(t: &Template) -> Value {
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
    v
}

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
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                ChakraError::invalid(format!(
                    "Param limit must be a number from 1 to {MAX_LIMIT}."
                ))
            })?,
    };
    let rows = service::list(
        &core,
        &TemplateFilter {
            tenant_id: tenant_id.clone(),
            waba_id: Some(channel.waba_id.clone()),
            name: q.get("name").cloned(),
            status: q.get("status").map(|s| s.to_ascii_uppercase()),
            category: q.get("category").map(|s| s.to_ascii_uppercase()),
            language: q.get("language").cloned(),
            include_deleted: false,
            after: q.get("after").cloned(),
            limit: limit + 1,
        },
    )
    .await?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    let mut out = json!({"data": rows.iter().map(template_json).collect::<Vec<_>>()});
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        out["paging"] = json!({"cursors": {"before": first.id, "after": last.id}});
        if more {
            let mut next = format!(
                "{}/v1/ext/plugin/whatsapp/api/{version}/{waba_id}/message_templates?limit={limit}&after={}",
                crate::http::base_url(&headers),
                last.id
            );
            for k in ["name", "status", "category", "language"] {
                if let Some(v) = q.get(k) {
                    next.push_str(&format!("&{k}={}", encode(v)));
                }
            }
            out["paging"]["next"] = json!(next);
        }
    }
    Ok(ok(out))
}

/// A query value, percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
