//! Admin routes (admin API key): tenants, API keys, apps, channels. They call the same
//! [`crate::provision`] functions as the CLI.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AdminAuth;
use crate::error::ApiError;
use crate::messages::native::json_body;
use crate::provision::{self, AppInput, ChannelInput};
use crate::state::AppState;

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/v1/tenants/{id}", get(get_tenant))
        .route("/v1/api-keys", post(create_api_key).get(list_api_keys))
        .route("/v1/apps", post(create_app).get(list_apps))
        .route("/v1/channels", post(create_channel).get(list_channels))
        .route("/v1/channels/{id}", get(get_channel))
}

fn list(data: Vec<Value>) -> Json<Value> {
    Json(json!({"object": "list", "data": data, "has_more": false, "next_cursor": null}))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_value(json_body(body)?).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[derive(Deserialize)]
struct TenantBody {
    name: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    _: AdminAuth,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: TenantBody = parse(&body)?;
    let t = provision::create_tenant(state.store.as_ref(), &b.name, state.now()).await?;
    Ok((StatusCode::CREATED, Json(provision::tenant_json(&t))))
}

async fn list_tenants(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Value>, ApiError> {
    let ts = state.store.list_tenants().await?;
    Ok(list(ts.iter().map(provision::tenant_json).collect()))
}

async fn get_tenant(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = state
        .store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("tenant {id}")))?;
    Ok(Json(provision::tenant_json(&t)))
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
    State(state): State<AppState>,
    _: AdminAuth,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: KeyBody = parse(&body)?;
    let (k, secret) = provision::create_api_key(
        state.store.as_ref(),
        b.tenant_id.as_deref(),
        &b.name,
        b.admin,
        state.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(provision::api_key_json(&k, Some(&secret))),
    ))
}

async fn list_api_keys(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Value>, ApiError> {
    let ks = state.store.list_api_keys(None).await?;
    Ok(list(
        ks.iter()
            .map(|k| provision::api_key_json(k, None))
            .collect(),
    ))
}

async fn create_app(
    State(state): State<AppState>,
    _: AdminAuth,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: AppInput = parse(&body)?;
    let a = provision::add_app(
        state.store.as_ref(),
        &state.config.master_key,
        input,
        state.now(),
    )
    .await?;
    state.invalidate();
    Ok((StatusCode::CREATED, Json(provision::app_json(&a))))
}

async fn list_apps(State(state): State<AppState>, _: AdminAuth) -> Result<Json<Value>, ApiError> {
    let apps = state.store.list_apps(None).await?;
    Ok(list(apps.iter().map(provision::app_json).collect()))
}

async fn create_channel(
    State(state): State<AppState>,
    _: AdminAuth,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: ChannelInput = parse(&body)?;
    let c = provision::add_channel(
        state.store.as_ref(),
        &state.config.master_key,
        input,
        state.now(),
    )
    .await?;
    state.invalidate();
    Ok((StatusCode::CREATED, Json(provision::channel_json(&c))))
}

async fn list_channels(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Value>, ApiError> {
    let cs = state.store.list_channels(None).await?;
    Ok(list(cs.iter().map(provision::channel_json).collect()))
}

async fn get_channel(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .store
        .get_channel(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("channel {id}")))?;
    Ok(Json(provision::channel_json(&c)))
}
