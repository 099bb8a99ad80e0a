//! Message templates on the native API: create, list, get, edit, delete, sync, preview,
//! history (the rules are [`crate::core::templates`]'s).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use openbsp_store::views::to_value;
use openbsp_store::{Channel, TemplateFilter};
use openbsp_wire::ids::TemplateName;
use openbsp_wire::template::{check_send as render, components_from_values};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::rule_error;
use super::openapi::{
    BadRequest, Conflict, JsonObject, NotFound, PayloadTooLarge, StringOrNumber, TenantKey,
};
use crate::core::{Core, templates};
use crate::http::auth::TenantAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::paging;
use crate::http::query::Query;
use crate::views::templates::{
    DeletedTemplatesView, TemplateHistoryView, TemplatePreviewView, TemplateSendView,
    TemplateSyncView,
};
use crate::views::{ListPage, TemplateView};

/// The template routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(create, list, delete_by_name))
        .routes(routes!(sync))
        .routes(routes!(get_one, edit, delete_one))
        .routes(routes!(preview))
        .routes(routes!(history))
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

/// A template definition, as Meta's `POST /{waba_id}/message_templates` takes it, with the
/// business number it is for.
#[derive(ToSchema)]
#[schema(example = json!({"channel": "100200300", "name": "order_update", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped and is on its way.", "example": {"body_text": [["Ana", "A-1001"]]}}]}))]
#[allow(dead_code)] // a description only: the core reads it with Meta's rules
struct TemplateDefinition {
    /// The business number whose WABA it belongs to: phone number id or channel id (or give
    /// `waba_id`).
    #[schema(nullable = false)]
    channel: Option<String>,
    /// The WABA, instead of `channel`.
    waba_id: Option<String>,
    /// Lower case letters, digits and underscores, at most 512 characters.
    name: String,
    /// Language code (`en_US`).
    language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    category: String,
    /// `POSITIONAL` (`{{1}}`, the default) or `NAMED` (`{{first_name}}`).
    parameter_format: Option<String>,
    /// `HEADER`, `BODY` (required), `FOOTER`, `BUTTONS` and `CAROUSEL` components, as Meta
    /// takes them, with an example for each variable.
    components: Vec<JsonObject>,
    /// How long Meta keeps trying to deliver a message of it.
    message_send_ttl_seconds: Option<i64>,
}

/// Create a template.
///
/// Validated like Meta (each refusal names the rule and the field, with Meta's code and
/// subcode), submitted to the WABA, and stored `PENDING` (201); Meta's webhooks then move
/// it. Repeating the same definition answers the template (200); a different one under the
/// same name and language is 409 `template_exists`.
#[utoipa::path(post, path = "/v1/templates",
    tag = "templates",
    operation_id = "create_template",
    request_body = TemplateDefinition,
    responses(
        (status = 201, description = "Submitted, `PENDING`.", body = TemplateView),
        (status = 200, description = "The same definition again: the template.", body = TemplateView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A business number: phone number id or channel id (its WABA's templates).
    channel: Option<String>,
    /// A WABA, instead of `channel`.
    waba_id: Option<String>,
    /// A template name.
    name: Option<String>,
    /// A status (`APPROVED`, `PENDING`, `REJECTED`, …).
    status: Option<String>,
    /// A category (`MARKETING`, `UTILITY`, `AUTHENTICATION`).
    category: Option<String>,
    /// A language code.
    language: Option<String>,
    /// Whether deleted templates are listed too.
    include_deleted: Option<bool>,
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
}

/// List templates.
///
/// Filtered by WABA (`channel` or `waba_id`), `name`, `status`, `category`, `language`;
/// cursor-paged.
#[utoipa::path(get, path = "/v1/templates",
    tag = "templates",
    operation_id = "list_templates",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of templates.", body = ListPage<TemplateView>),
        BadRequest, NotFound, TenantKey,
    )
)]
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

/// Get a template.
///
/// By the gateway's id (`tpl_…`) or Meta's template id.
#[utoipa::path(get, path = "/v1/templates/{id}",
    tag = "templates",
    operation_id = "get_template",
    params(("id" = String, Path, description = "The template: `tpl_…` or Meta's id.")),
    responses(
        (status = 200, description = "The template.", body = TemplateView),
        NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    Ok(Json(TemplateView::new(
        &templates::get(&core, &auth.tenant_id, &id, true).await?,
    )))
}

/// A template edit: each field left out stays (`name` and `language`, if given, must be
/// the template's).
#[derive(ToSchema)]
#[schema(example = json!({"components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.", "example": {"body_text": [["Ana", "A-1001"]]}}]}))]
#[allow(dead_code)] // a description only: the core reads it with Meta's rules
struct TemplateEdit {
    /// The new components, as in a definition.
    #[schema(nullable = false)]
    components: Option<Vec<JsonObject>>,
    /// The new category (not once approved).
    category: Option<String>,
    /// How long Meta keeps trying to deliver a message of it.
    message_send_ttl_seconds: Option<i64>,
}

/// Edit a template.
///
/// As Meta allows: `APPROVED`, `REJECTED` or `PAUSED` templates only, no category change
/// once approved, once a day and ten times in 30 days. Submitted to Meta, then `PENDING`.
#[utoipa::path(patch, path = "/v1/templates/{id}",
    tag = "templates",
    operation_id = "edit_template",
    params(("id" = String, Path, description = "The template: `tpl_…` or Meta's id.")),
    request_body = TemplateEdit,
    responses(
        (status = 200, description = "The template as it is now.", body = TemplateView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
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

/// Delete a template, in this language only.
#[utoipa::path(delete, path = "/v1/templates/{id}",
    tag = "templates",
    operation_id = "delete_template",
    params(("id" = String, Path, description = "The template: `tpl_…` or Meta's id.")),
    responses(
        (status = 200, description = "The template deleted.", body = DeletedTemplatesView),
        BadRequest, NotFound, TenantKey,
    )
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// The business number whose WABA has the template: phone number id or channel id
    /// (required, or `waba_id`).
    channel: Option<String>,
    /// The WABA, instead of `channel`.
    waba_id: Option<String>,
    /// The template name (required).
    name: Option<String>,
}

/// Delete a template name, in every language.
///
/// Meta keeps the name for 30 days.
#[utoipa::path(delete, path = "/v1/templates",
    tag = "templates",
    operation_id = "delete_templates_by_name",
    params(DeleteQuery),
    responses(
        (status = 200, description = "The templates deleted.", body = DeletedTemplatesView),
        BadRequest, NotFound, TenantKey,
    )
)]
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

/// Which WABA a sync reads.
#[derive(ToSchema)]
#[schema(example = json!({"channel": "100200300"}))]
#[allow(dead_code)] // a description only: the handler reads it field by field
struct TemplateSyncInput {
    /// The business number whose WABA is synced: phone number id or channel id (or give
    /// `waba_id`).
    #[schema(nullable = false)]
    channel: Option<String>,
    /// The WABA, instead of `channel`.
    waba_id: Option<String>,
    /// Only this template name (else every template: those Meta no longer lists are marked
    /// `DELETED`).
    name: Option<String>,
}

/// Sync templates from Meta.
///
/// Imports the WABA's templates made elsewhere, and updates those the gateway knows.
#[utoipa::path(post, path = "/v1/templates/sync",
    tag = "templates",
    operation_id = "sync_templates",
    request_body = TemplateSyncInput,
    responses(
        (status = 200, description = "What the sync did.", body = TemplateSyncView),
        BadRequest, NotFound, PayloadTooLarge, TenantKey,
    )
)]
async fn sync(
    State(core): State<Core>,
    auth: TenantAuth,
    body: Bytes,
) -> Result<Json<TemplateSyncView>, ApiError> {
    let v = json_body(&body)?;
    let channel = channel_of(&core, &auth.tenant_id, &v).await?;
    // A name of another type is refused, not read as none (which would sync every template).
    let name = match v.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.as_str()),
        Some(_) => return Err(ApiError::bad_request("name must be a template's name")),
    };
    let report = templates::sync(&core, &auth.tenant_id, &channel, name).await?;
    Ok(Json(TemplateSyncView::new(&report, &channel.waba_id)))
}

/// A preview's parameters: `components` or `variables`, not both (neither: the template
/// as it is).
#[derive(ToSchema)]
#[schema(example = json!({"variables": ["Ana", "A-1001"]}))]
#[allow(dead_code)] // a description only: the handler reads it field by field
struct TemplatePreviewInput {
    /// Cloud API send components (`[{"type": "body", "parameters": [...]}]`).
    #[schema(nullable = false)]
    components: Option<Vec<JsonObject>>,
    /// The body's variables as a plain ordered list.
    #[schema(nullable = false)]
    variables: Option<Vec<StringOrNumber>>,
}

/// Preview a template with parameters.
///
/// The template rendered as the contact would see it, and the message body that sends it;
/// or exactly what is wrong with the parameters (400, with the rule and the field).
#[utoipa::path(post, path = "/v1/templates/{id}/preview",
    tag = "templates",
    operation_id = "preview_template",
    params(("id" = String, Path, description = "The template: `tpl_…` or Meta's id.")),
    request_body = TemplatePreviewInput,
    responses(
        (status = 200, description = "The rendering.", body = TemplatePreviewView),
        BadRequest, NotFound, PayloadTooLarge, TenantKey,
    )
)]
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

/// A template's history: every change, oldest first.
#[utoipa::path(get, path = "/v1/templates/{id}/history",
    tag = "templates",
    operation_id = "template_history",
    params(("id" = String, Path, description = "The template: `tpl_…` or Meta's id.")),
    responses(
        (status = 200, description = "Its history.", body = TemplateHistoryView),
        NotFound, TenantKey,
    )
)]
async fn history(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<TemplateHistoryView>, ApiError> {
    let t = templates::get(&core, &auth.tenant_id, &id, true).await?;
    let events = templates::history(&core, &auth.tenant_id, &t).await?;
    Ok(Json(TemplateHistoryView::new(&t, &events)))
}
