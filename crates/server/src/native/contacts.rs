//! `/v1/contacts`: the tenant's WhatsApp users, with their windows on each channel.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use openbsp_store::{ContactFilter, ContactPatch};
use openbsp_wire::ids::WaId;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{BadRequest, JsonObject, NotFound, PayloadTooLarge, TenantKey};
use crate::core::{Core, contacts};
use crate::http::auth::TenantAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::paging;
use crate::http::query::Query;
use crate::views::contacts::ContactWithWindows;
use crate::views::{ContactView, ListPage};

/// The contact routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one, update))
}

/// Get a contact, with its windows on each channel.
///
/// By its `con_…` id, its `wa_id` or its BSUID.
#[utoipa::path(get, path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "get_contact",
    params(("id" = String, Path, description = "The contact: `con_…` id, `wa_id` or BSUID.")),
    responses(
        (status = 200, description = "The contact.", body = ContactWithWindows),
        NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<ContactWithWindows>, ApiError> {
    let c = contacts::get(&core, &auth.tenant_id, &id).await?;
    Ok(Json(ContactWithWindows::new(&c, core.now())))
}

/// Query of `GET /v1/contacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
    /// A phone number.
    wa_id: Option<String>,
    /// A business-scoped user id (BSUID).
    user_id: Option<String>,
    /// A name, or part of one (at least 3 characters: a shorter term is refused with 400,
    /// the search being served by a trigram index); ASCII letters match either case.
    #[param(min_length = 3)]
    name: Option<String>,
    /// Only those who opted out of marketing (`true`) or those who did not (`false`).
    opted_out: Option<bool>,
}

/// List contacts, newest first.
///
/// Searched by `wa_id`, `user_id` (BSUID) or `name`.
#[utoipa::path(get, path = "/v1/contacts",
    tag = "contacts",
    operation_id = "list_contacts",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of contacts (without their windows).", body = ListPage<ContactView>),
        BadRequest, TenantKey,
    )
)]
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
    if let Some(name) = &q.name
        && name.chars().count() < openbsp_store::NAME_SEARCH_MIN
    {
        return Err(ApiError::bad_request(format!(
            "name must be at least {} characters",
            openbsp_store::NAME_SEARCH_MIN
        )));
    }
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

/// A change of a contact: each field left out stays.
#[derive(ToSchema)]
#[schema(example = json!({"name": "Ana Souza", "attributes": {"plan": "gold", "old_key": null}, "marketing_opt_out": false}))]
#[allow(dead_code)] // a description only: the handler reads it field by field
struct ContactChange {
    /// The profile name (1 to 256 characters).
    #[schema(nullable = false)]
    name: Option<String>,
    /// Attributes to set, merged into the contact's (at most 16 KiB of JSON); a key set to
    /// `null` is removed.
    #[schema(nullable = false)]
    attributes: Option<JsonObject>,
    /// Opt the contact out of marketing templates (`true`), or back in.
    #[schema(nullable = false)]
    marketing_opt_out: Option<bool>,
}

/// Change a contact's name, attributes or marketing opt-out.
#[utoipa::path(patch, path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "update_contact",
    params(("id" = String, Path, description = "The contact: `con_…` id, `wa_id` or BSUID.")),
    request_body = ContactChange,
    responses(
        (status = 200, description = "The contact as it is now.", body = ContactWithWindows),
        BadRequest, NotFound, PayloadTooLarge, TenantKey,
    )
)]
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
