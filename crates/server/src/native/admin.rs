//! Admin routes (admin API key): tenants, API keys, apps, channels. They call the same
//! [`crate::core::admin`] and [`crate::core::credentials`] functions as the CLI; a change of
//! credentials is forgotten from this replica's caches at once and from the others' by a
//! notice ([`Core::invalidate`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;

use crate::core::Core;
use crate::core::admin::{self, AppInput, ChannelInput};
use crate::core::credentials::{self, AppSecretRotation, AppUpdate};
use crate::http::auth::AdminAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::views::ListPage;
use crate::views::admin::{ApiKeyView, AppView, ChannelView, TenantView};

/// The admin routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/v1/tenants/{id}", get(get_tenant))
        .route("/v1/api-keys", post(create_api_key).get(list_api_keys))
        .route("/v1/api-keys/{id}", delete(revoke_api_key))
        .route("/v1/apps", post(create_app).get(list_apps))
        .route("/v1/apps/{id}", get(get_app).patch(update_app))
        .route("/v1/apps/{id}/rotate-secret", post(rotate_app_secret))
        .route("/v1/channels", post(create_channel).get(list_channels))
        .route("/v1/channels/{id}", get(get_channel).patch(update_channel))
}

/// Every row at once, as one page.
fn list<V>(data: Vec<V>) -> Json<ListPage<V>> {
    Json(ListPage::complete(data))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_value(json_body(body)?).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[derive(Deserialize)]
struct TenantBody {
    name: String,
}

async fn create_tenant(
    State(core): State<Core>,
    _: AdminAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let b: TenantBody = parse(&body)?;
    let t = admin::create_tenant(core.store.as_ref(), &b.name, core.now()).await?;
    Ok((StatusCode::CREATED, Json(TenantView::new(&t))))
}

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

async fn get_tenant(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let t = admin::get_tenant(core.store.as_ref(), &id).await?;
    Ok(Json(TenantView::new(&t)))
}

#[derive(Deserialize)]
struct KeyBody {
    tenant_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    admin: bool,
}

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

/// `DELETE /v1/api-keys/{id}`: the key stops working at once on every replica; answers the
/// key with its `revoked_at` (the first one, when it was revoked already). The last live
/// admin key is refused (409 `last_admin_key`).
async fn revoke_api_key(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let k = credentials::revoke_api_key(core.store.as_ref(), &id, core.now()).await?;
    core.invalidate();
    Ok(Json(ApiKeyView::new(&k, None)))
}

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

async fn get_app(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    let a = credentials::get_app(core.store.as_ref(), &id).await?;
    Ok(Json(AppView::new(&a, core.now())))
}

/// `PATCH /v1/apps/{id}` `{name?, meta_app_id?, verify_token?}`: a new verify token is the
/// only one Meta's handshake answers to from now on.
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

/// `POST /v1/apps/{id}/rotate-secret` `{app_secret, overlap_seconds?}`: the new secret
/// verifies Meta's signatures from now on, the previous one beside it until the overlap ends
/// (`previous_secret_expires_at`).
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

/// `PATCH /v1/channels/{id}`: a new access token (resuming a paused channel), throughput or
/// Graph URL.
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

async fn get_channel(
    State(core): State<Core>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    let c = admin::get_channel(core.store.as_ref(), &id).await?;
    Ok(Json(ChannelView::new(&c)))
}
