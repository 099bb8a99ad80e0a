//! `/v1/contacts`: the tenant's WhatsApp users, with their windows on each channel.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_store::{ContactFilter, ContactPatch};
use openbsp_wire::ids::WaId;
use serde::Deserialize;
use serde_json::Value;

use crate::core::{Core, contacts};
use crate::http::auth::TenantAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::paging;
use crate::views::contacts::ContactWithWindows;
use crate::views::{ContactView, ListPage};

/// The contact routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/v1/contacts", get(list))
        .route("/v1/contacts/{id}", get(get_one).patch(update))
}

/// `GET /v1/contacts/{id}` (`con_…` id, `wa_id` or BSUID).
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<ContactWithWindows>, ApiError> {
    let c = contacts::get(&core, &auth.tenant_id, &id).await?;
    Ok(Json(ContactWithWindows::new(&c, core.now())))
}

/// Query of `GET /v1/contacts`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    wa_id: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    opted_out: Option<bool>,
}

/// `GET /v1/contacts`: newest first; search by `wa_id`, `user_id` (BSUID), `name`.
async fn list(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<ContactView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let wa_id = q
        .wa_id
        .as_deref()
        .map(|w| {
            WaId::parse(w)
                .map(WaId::into_string)
                .map_err(|_| ApiError::bad_request("wa_id must be a phone number"))
        })
        .transpose()?;
    let filter = ContactFilter {
        wa_id,
        user_id: q.user_id,
        name: q.name,
        opted_out: q.opted_out,
    };
    let rows = contacts::list(
        &core,
        &auth.tenant_id,
        &filter,
        &paging::page(limit, q.after),
    )
    .await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |c| c.id.clone(),
        ContactView::new,
    )))
}

/// The change a `PATCH /v1/contacts/{id}` body asks for.
fn parse_patch(v: &Value) -> Result<ContactPatch, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let mut patch = ContactPatch::default();
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("name", Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= 256 => {
                patch.profile_name = Some(n.trim().to_string());
            }
            ("name", _) => {
                return Err(ApiError::bad_request(
                    "name must be a non-empty string of at most 256 characters",
                ));
            }
            ("attributes", Value::Object(_)) => {
                if val.to_string().len() > 16 * 1024 {
                    return Err(ApiError::bad_request(
                        "attributes must be at most 16 KiB of JSON",
                    ));
                }
                patch.attributes = Some(val.clone());
            }
            ("attributes", _) => {
                return Err(ApiError::bad_request("attributes must be a JSON object"));
            }
            ("marketing_opt_out", Value::Bool(b)) => patch.marketing_opt_out = Some(*b),
            ("marketing_opt_out", _) => {
                return Err(ApiError::bad_request(
                    "marketing_opt_out must be true or false",
                ));
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown field {other}: a contact's name, attributes and marketing_opt_out can be changed"
                )));
            }
        }
    }
    Ok(patch)
}

/// `PATCH /v1/contacts/{id}`: `{"name"?, "attributes"?: {…, "key": null removes}, "marketing_opt_out"?: bool}`.
async fn update(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ContactWithWindows>, ApiError> {
    let patch = parse_patch(&json_body(&body)?)?;
    let c = contacts::update(&core, &auth.tenant_id, &id, &patch).await?;
    Ok(Json(ContactWithWindows::new(&c, core.now())))
}
