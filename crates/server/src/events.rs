//! `/v1/events`: what happened in the tenant's conversations, as its webhook endpoints
//! receive it (native format), newest first.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use openbsp_store::EventFilter;
use openbsp_store::views::event_json;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::TenantAuth;
use crate::error::ApiError;
use crate::messages::native::parse_time;
use crate::state::AppState;

/// The event routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(get_one))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    /// Comma-separated types or patterns (`message.*,session.opened`).
    types: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/events?types=&since=&until=&limit=&after=`.
async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let types: Vec<String> = q
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    for t in &types {
        openbsp_domain::events::validate_pattern(t).map_err(ApiError::bad_request)?;
    }
    let filter = EventFilter {
        types,
        since: q
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()?,
        after: q.after,
        limit: limit + 1,
    };
    let rows = state.store.list_events(&auth.tenant_id, &filter).await?;
    Ok(Json(crate::paging::list_json(
        rows,
        limit,
        |e| e.id.clone(),
        event_json,
    )))
}

/// `GET /v1/events/{id}`.
async fn get_one(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = state
        .store
        .get_event(&auth.tenant_id, &id)
        .await?
        .filter(|e| e.format == openbsp_store::event_format::NATIVE)
        .ok_or_else(|| ApiError::not_found(&format!("event {id}")))?;
    Ok(Json(event_json(&e)))
}
