//! Message templates on the native API: create, list, get, edit, delete, sync, preview,
//! history (the rules are [`crate::core::templates`]'s).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_store::views::to_value;
use openbsp_store::{Channel, TemplateFilter};
use openbsp_wire::ids::TemplateName;
use openbsp_wire::template::{check_send as render, components_from_values};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::rule_error;
use crate::core::{Core, templates};
use crate::http::auth::TenantAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::paging;
use crate::views::templates::{
    DeletedTemplatesView, TemplateHistoryView, TemplatePreviewView, TemplateSendView,
    TemplateSyncView,
};
use crate::views::{ListPage, TemplateView};

/// The template routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/v1/templates",
            post(create).get(list).delete(delete_by_name),
        )
        .route("/v1/templates/sync", post(sync))
        .route(
            "/v1/templates/{id}",
            get(get_one).patch(edit).delete(delete_one),
        )
        .route("/v1/templates/{id}/preview", post(preview))
        .route("/v1/templates/{id}/history", get(history))
}

/// The channel of a native request's `channel` (or `waba_id`) field.
async fn channel_of(core: &Core, tenant_id: &str, v: &Value) -> Result<Channel, ApiError> {
    let id = v
        .get("channel")
        .or_else(|| v.get("waba_id"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request(
                "channel is required: the phone number id or channel id (or waba_id)",
            )
        })?;
    Ok(templates::waba_channel(core, tenant_id, id).await?)
}

/// `POST /v1/templates`: `{channel, name, language, category, parameter_format?,
/// components, message_send_ttl_seconds?}`. Validated like Meta, submitted, stored PENDING
/// (201). Repeating the same definition answers the template (200); a different one under
/// the same name and language is 409 `template_exists`.
async fn create(
    State(core): State<Core>,
    auth: TenantAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    let v = json_body(&body)?;
    let channel = channel_of(&core, &auth.tenant_id, &v).await?;
    let mut def = v.clone();
    if let Some(o) = def.as_object_mut() {
        o.remove("channel");
        o.remove("waba_id");
    }
    if let Some(t) = templates::find_same(&core, &auth.tenant_id, &channel, &def).await? {
        return Ok((StatusCode::OK, Json(TemplateView::new(&t))));
    }
    let t = templates::create(&core, &auth.tenant_id, &channel, &def).await?;
    Ok((StatusCode::CREATED, Json(TemplateView::new(&t))))
}

#[derive(Deserialize)]
struct ListQuery {
    channel: Option<String>,
    waba_id: Option<String>,
    name: Option<String>,
    status: Option<String>,
    category: Option<String>,
    language: Option<String>,
    include_deleted: Option<bool>,
    limit: Option<u32>,
    after: Option<String>,
}

/// `GET /v1/templates`: filters `channel` (or `waba_id`), `name`, `status`, `category`,
/// `language`, `include_deleted`; cursor paging.
async fn list(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<TemplateView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let waba_id = match q.channel.as_deref().or(q.waba_id.as_deref()) {
        Some(c) => Some(
            templates::waba_channel(&core, &auth.tenant_id, c)
                .await?
                .waba_id,
        ),
        None => None,
    };
    let rows = templates::list(
        &core,
        &TemplateFilter {
            tenant_id: auth.tenant_id.clone(),
            waba_id,
            name: q.name,
            status: q.status.map(|s| s.to_ascii_uppercase()),
            category: q.category.map(|s| s.to_ascii_uppercase()),
            language: q.language,
            include_deleted: q.include_deleted.unwrap_or(false),
            after: q.after,
            limit: limit + 1,
            before: None,
        },
    )
    .await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |t| t.id.clone(),
        TemplateView::new,
    )))
}

/// `GET /v1/templates/{id}` (gateway id or Meta id).
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    Ok(Json(TemplateView::new(
        &templates::get(&core, &auth.tenant_id, &id, true).await?,
    )))
}

/// `PATCH /v1/templates/{id}`: `{components?, category?, message_send_ttl_seconds?}`.
async fn edit(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TemplateView>, ApiError> {
    let v = json_body(&body)?;
    let t = templates::get(&core, &auth.tenant_id, &id, false).await?;
    let channel = templates::waba_channel(&core, &auth.tenant_id, &t.waba_id).await?;
    let edited = templates::edit(&core, &auth.tenant_id, &channel, &t, &v).await?;
    Ok(Json(TemplateView::new(&edited)))
}

/// `DELETE /v1/templates/{id}`: this language only.
async fn delete_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<DeletedTemplatesView>, ApiError> {
    let t = templates::get(&core, &auth.tenant_id, &id, false).await?;
    let channel = templates::waba_channel(&core, &auth.tenant_id, &t.waba_id).await?;
    let name = TemplateName::from_stored(&t.name);
    let deleted = templates::delete(&core, &auth.tenant_id, &channel, &name, Some(&t)).await?;
    Ok(Json(DeletedTemplatesView::new(&deleted)))
}

#[derive(Deserialize)]
struct DeleteQuery {
    channel: Option<String>,
    waba_id: Option<String>,
    name: Option<String>,
}

/// `DELETE /v1/templates?channel=&name=`: every language of the name.
async fn delete_by_name(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<DeletedTemplatesView>, ApiError> {
    let name = q.name.ok_or_else(|| {
        ApiError::bad_request("name is required: the template to delete in every language")
    })?;
    let c = q
        .channel
        .or(q.waba_id)
        .ok_or_else(|| ApiError::bad_request("channel is required"))?;
    let channel = templates::waba_channel(&core, &auth.tenant_id, &c).await?;
    let name = TemplateName::parse(&name).map_err(|_| templates::no_such_name(&name))?;
    let deleted = templates::delete(&core, &auth.tenant_id, &channel, &name, None).await?;
    Ok(Json(DeletedTemplatesView::new(&deleted)))
}

/// `POST /v1/templates/sync` `{channel, name?}`: imports the WABA's templates from Meta.
async fn sync(
    State(core): State<Core>,
    auth: TenantAuth,
    body: Bytes,
) -> Result<Json<TemplateSyncView>, ApiError> {
    let v = json_body(&body)?;
    let channel = channel_of(&core, &auth.tenant_id, &v).await?;
    let name = v.get("name").and_then(Value::as_str);
    let report = templates::sync(&core, &auth.tenant_id, &channel, name).await?;
    Ok(Json(TemplateSyncView::new(&report, &channel.waba_id)))
}

/// `POST /v1/templates/{id}/preview` `{components?}` or `{variables: [...]}`: the template
/// rendered with those parameters, or exactly what is wrong with them.
async fn preview(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TemplatePreviewView>, ApiError> {
    let v = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let t = templates::get(&core, &auth.tenant_id, &id, false).await?;
    let def = templates::definition(&t)?;
    let components = match (v.get("components"), v.get("variables")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give components or variables, not both",
            ));
        }
        (Some(c), None) => c.clone(),
        (None, Some(vars)) => {
            let values = variables(vars)?;
            components_from_values(&def, &values).map_err(|e| rule_error(&e))?
        }
        (None, None) => json!([]),
    };
    let send = TemplateSendView::new(&t, components);
    let rendered = render(&def, &to_value(&send)).map_err(|e| rule_error(&e))?;
    let sendable = openbsp_wire::template::status_error(&t.status, &t.name, &t.language).is_none();
    Ok(Json(TemplatePreviewView::new(&t, send, rendered, sendable)))
}

/// A plain list of variable values (strings or numbers).
pub fn variables(v: &Value) -> Result<Vec<String>, ApiError> {
    let list = v
        .as_array()
        .ok_or_else(|| ApiError::bad_request("variables must be an array of values"))?;
    list.iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(ApiError::bad_request(format!(
                "variables[{i}] must be a string or a number"
            ))),
        })
        .collect()
}

/// `GET /v1/templates/{id}/history`: every change, oldest first.
async fn history(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<TemplateHistoryView>, ApiError> {
    let t = templates::get(&core, &auth.tenant_id, &id, true).await?;
    let events = templates::history(&core, &auth.tenant_id, &t).await?;
    Ok(Json(TemplateHistoryView::new(&t, &events)))
}
