//! Admin routes (admin API key): tenants, API keys, apps, channels. They call the same
//! [`crate::core::admin`] and [`crate::core::credentials`] functions as the CLI; a change of
//! credentials is forgotten from this replica's caches at once and from the others' by a
//! notice ([`Core::invalidate`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{AdminKey, BadRequest, Conflict, NotFound, PayloadTooLarge};
use crate::core::Core;
use crate::core::admin::{self, AppInput, ChannelInput};
use crate::core::credentials::{self, AppSecretRotation, AppUpdate};
use crate::http::auth::AdminAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::views::ListPage;
use crate::views::admin::{ApiKeyView, AppView, ChannelView, TenantView};

/// The admin routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(get_tenant))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(create_app, list_apps))
        .routes(routes!(get_app, update_app))
        .routes(routes!(rotate_app_secret))
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(get_channel, update_channel))
}

/// Every row at once, as one page.
fn list<V>(data: Vec<V>) -> Json<ListPage<V>> {
    Json(ListPage::complete(data))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_value(json_body(body)?).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[schema(as = TenantCreate, example = json!({"name": "Acme"}))]
struct TenantBody {
    /// Display name.
    name: String,
}

/// Create a tenant.
///
/// Admin key only. A tenant then needs an API key, an app and a channel.
#[utoipa::path(post, path = "/v1/tenants",
    tag = "admin",
    operation_id = "create_tenant",
    request_body = TenantBody,
    responses(
        (status = 201, description = "Created.", body = TenantView),
        BadRequest, PayloadTooLarge, AdminKey,
    )
)]
async fn create_tenant(
    State(core): State<Core>,
    _: AdminAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let b: TenantBody = parse(&body)?;
    let t = admin::create_tenant(core.store.as_ref(), &b.name, core.now()).await?;
    Ok((StatusCode::CREATED, Json(TenantView::new(&t))))
}

/// List tenants.
///
/// Admin key only. Every tenant, in one page.
#[utoipa::path(get, path = "/v1/tenants",
    tag = "admin",
    operation_id = "list_tenants",
    responses(
        (status = 200, description = "Every tenant.", body = ListPage<TenantView>),
        AdminKey,
    )
)]
async fn list_tenants(
    State(core): State<Core>,
    _: AdminAuth,
) -> Result<Json<ListPage<TenantView>>, ApiError> {
    let ts = core
        .store
        .list_tenants()
        .await
        .map_err(ApiError::internal)?;
    Ok(list(ts.iter().map(TenantView::new).collect()))
}

/// Get a tenant.
///
/// Admin key only.
#[utoipa::path(get, path = "/v1/tenants/{id}",
    tag = "admin",
    operation_id = "get_tenant",
    params(("id" = String, Path, description = "The tenant (`ten_…`).")),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        NotFound, AdminKey,
    )
)]
async fn get_tenant(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let t = admin::get_tenant(core.store.as_ref(), &id).await?;
    Ok(Json(TenantView::new(&t)))
}

/// A new API key: a tenant's, or an admin key.
#[derive(Deserialize, ToSchema)]
#[schema(as = ApiKeyCreate, example = json!({"tenant_id": "ten_01k2f6z8q4m3v6w9x2y5a7b3c4", "name": "crm"}))]
struct KeyBody {
    /// The tenant it acts for (required unless `admin`).
    tenant_id: Option<String>,
    /// Label.
    #[serde(default)]
    name: String,
    /// An admin key (the admin routes, no tenant's).
    #[serde(default)]
    admin: bool,
}

/// Create an API key.
///
/// Admin key only. The answer has the key itself (`key`), shown this once.
#[utoipa::path(post, path = "/v1/api-keys",
    tag = "admin",
    operation_id = "create_api_key",
    request_body = KeyBody,
    responses(
        (status = 201, description = "Created, with its `key`.", body = ApiKeyView),
        BadRequest, NotFound, PayloadTooLarge, AdminKey,
    )
)]
async fn create_api_key(
    State(core): State<Core>,
    _: AdminAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    let b: KeyBody = parse(&body)?;
    let (k, secret) = admin::create_api_key(
        core.store.as_ref(),
        b.tenant_id.as_deref(),
        &b.name,
        b.admin,
        core.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyView::new(&k, Some(&secret))),
    ))
}

/// List API keys (never the keys themselves).
///
/// Admin key only. Every key, revoked ones too, in one page.
#[utoipa::path(get, path = "/v1/api-keys",
    tag = "admin",
    operation_id = "list_api_keys",
    responses(
        (status = 200, description = "Every key.", body = ListPage<ApiKeyView>),
        AdminKey,
    )
)]
async fn list_api_keys(
    State(core): State<Core>,
    _: AdminAuth,
) -> Result<Json<ListPage<ApiKeyView>>, ApiError> {
    let ks = core
        .store
        .list_api_keys(None)
        .await
        .map_err(ApiError::internal)?;
    Ok(list(ks.iter().map(|k| ApiKeyView::new(k, None)).collect()))
}

/// Revoke an API key.
///
/// Admin key only. The key stops working at once on every replica; answers the key with its
/// `revoked_at` (the first one, when it was revoked already). The last live admin key is
/// refused (409 `last_admin_key`).
#[utoipa::path(delete, path = "/v1/api-keys/{id}",
    tag = "admin",
    operation_id = "revoke_api_key",
    params(("id" = String, Path, description = "The key (`key_…`).")),
    responses(
        (status = 200, description = "The key, revoked.", body = ApiKeyView),
        NotFound, Conflict, AdminKey,
    )
)]
async fn revoke_api_key(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let k = credentials::revoke_api_key(core.store.as_ref(), &id, core.now()).await?;
    core.invalidate();
    Ok(Json(ApiKeyView::new(&k, None)))
}

/// Add a Meta app.
///
/// Admin key only. Its secret verifies the signatures of Meta's webhooks for its channels;
/// the verify token answers Meta's handshake. Neither is ever shown again.
#[utoipa::path(post, path = "/v1/apps",
    tag = "admin",
    operation_id = "create_app",
    request_body = AppInput,
    responses(
        (status = 201, description = "Added.", body = AppView),
        BadRequest, NotFound, PayloadTooLarge, AdminKey,
    )
)]
async fn create_app(
    State(core): State<Core>,
    _: AdminAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    let input: AppInput = parse(&body)?;
    let a = admin::add_app(
        core.store.as_ref(),
        &core.config.master_key,
        input,
        core.now(),
    )
    .await?;
    core.invalidate();
    Ok((StatusCode::CREATED, Json(AppView::new(&a, core.now()))))
}

/// List Meta apps (never their secrets).
///
/// Admin key only. Every app, in one page.
#[utoipa::path(get, path = "/v1/apps",
    tag = "admin",
    operation_id = "list_apps",
    responses(
        (status = 200, description = "Every app.", body = ListPage<AppView>),
        AdminKey,
    )
)]
async fn list_apps(
    State(core): State<Core>,
    _: AdminAuth,
) -> Result<Json<ListPage<AppView>>, ApiError> {
    let apps = core
        .store
        .list_apps(None)
        .await
        .map_err(ApiError::internal)?;
    let now = core.now();
    Ok(list(apps.iter().map(|a| AppView::new(a, now)).collect()))
}

/// Get a Meta app.
///
/// Admin key only.
#[utoipa::path(get, path = "/v1/apps/{id}",
    tag = "admin",
    operation_id = "get_app",
    params(("id" = String, Path, description = "The app (`app_…`).")),
    responses(
        (status = 200, description = "The app.", body = AppView),
        NotFound, AdminKey,
    )
)]
async fn get_app(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    let a = credentials::get_app(core.store.as_ref(), &id).await?;
    Ok(Json(AppView::new(&a, core.now())))
}

/// Change a Meta app's name, Meta app id or verify token.
///
/// Admin key only. A new verify token is the only one Meta's handshake answers to from now
/// on. The secret changes by rotation only.
#[utoipa::path(patch, path = "/v1/apps/{id}",
    tag = "admin",
    operation_id = "update_app",
    params(("id" = String, Path, description = "The app (`app_…`).")),
    request_body = AppUpdate,
    responses(
        (status = 200, description = "The app as it is now.", body = AppView),
        BadRequest, NotFound, PayloadTooLarge, AdminKey,
    )
)]
async fn update_app(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AppView>, ApiError> {
    let input: AppUpdate = parse(&body)?;
    let a =
        credentials::update_app(core.store.as_ref(), &core.config.master_key, &id, input).await?;
    core.invalidate();
    Ok(Json(AppView::new(&a, core.now())))
}

/// Rotate a Meta app's secret.
///
/// Admin key only. The new secret verifies Meta's signatures from now on, the previous one
/// beside it until the overlap ends (`previous_secret_expires_at`).
#[utoipa::path(post, path = "/v1/apps/{id}/rotate-secret",
    tag = "admin",
    operation_id = "rotate_app_secret",
    params(("id" = String, Path, description = "The app (`app_…`).")),
    request_body = AppSecretRotation,
    responses(
        (status = 200, description = "The app as it is now.", body = AppView),
        BadRequest, NotFound, PayloadTooLarge, AdminKey,
    )
)]
async fn rotate_app_secret(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AppView>, ApiError> {
    let input: AppSecretRotation = parse(&body)?;
    let a = credentials::rotate_app_secret(
        core.store.as_ref(),
        &core.config.master_key,
        &id,
        input,
        core.now(),
    )
    .await?;
    core.invalidate();
    Ok(Json(AppView::new(&a, core.now())))
}

/// Add a channel (a business phone number).
///
/// Admin key only. Its access token is stored encrypted and never shown. A WABA belongs to
/// one tenant (409 `waba_taken`), a phone number id to one channel (409).
#[utoipa::path(post, path = "/v1/channels",
    tag = "admin",
    operation_id = "create_channel",
    request_body = ChannelInput,
    responses(
        (status = 201, description = "Added.", body = ChannelView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, AdminKey,
    )
)]
async fn create_channel(
    State(core): State<Core>,
    _: AdminAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let input: ChannelInput = parse(&body)?;
    let c = admin::add_channel(
        core.store.as_ref(),
        &core.config.master_key,
        input,
        core.now(),
    )
    .await?;
    core.invalidate();
    Ok((StatusCode::CREATED, Json(ChannelView::new(&c))))
}

/// List channels (never their access tokens).
///
/// Admin key only. Every channel, in one page.
#[utoipa::path(get, path = "/v1/channels",
    tag = "admin",
    operation_id = "list_channels",
    responses(
        (status = 200, description = "Every channel.", body = ListPage<ChannelView>),
        AdminKey,
    )
)]
async fn list_channels(
    State(core): State<Core>,
    _: AdminAuth,
) -> Result<Json<ListPage<ChannelView>>, ApiError> {
    let cs = core
        .store
        .list_channels(None)
        .await
        .map_err(ApiError::internal)?;
    Ok(list(cs.iter().map(ChannelView::new).collect()))
}

/// Change a channel.
///
/// Admin key only. A new access token (resuming a channel paused because Meta refused the
/// old one), throughput, Graph URL, messaging tier or business portfolio.
#[utoipa::path(patch, path = "/v1/channels/{id}",
    tag = "admin",
    operation_id = "update_channel",
    params(("id" = String, Path, description = "The channel (`chn_…`).")),
    request_body = admin::ChannelUpdate,
    responses(
        (status = 200, description = "The channel as it is now.", body = ChannelView),
        BadRequest, NotFound, PayloadTooLarge, AdminKey,
    )
)]
async fn update_channel(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ChannelView>, ApiError> {
    let input: admin::ChannelUpdate = parse(&body)?;
    let c = admin::update_channel(
        core.store.as_ref(),
        &core.config.master_key,
        &id,
        input,
        core.now(),
    )
    .await?;
    core.invalidate();
    core.wake_sender(&c.id);
    Ok(Json(ChannelView::new(&c)))
}

/// Get a channel.
///
/// Admin key only.
#[utoipa::path(get, path = "/v1/channels/{id}",
    tag = "admin",
    operation_id = "get_channel",
    params(("id" = String, Path, description = "The channel (`chn_…`).")),
    responses(
        (status = 200, description = "The channel.", body = ChannelView),
        NotFound, AdminKey,
    )
)]
async fn get_channel(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    let c = admin::get_channel(core.store.as_ref(), &id).await?;
    Ok(Json(ChannelView::new(&c)))
}
