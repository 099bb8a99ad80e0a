//! `/v1/events`: what happened in the tenant's conversations, as its webhook endpoints
//! receive it (native format), newest first.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use openbsp_store::EventFilter;
use serde::Deserialize;

use crate::core::{Core, events};
use crate::http::auth::TenantAuth;
use crate::http::error::ApiError;
use crate::http::{paging, time};
use crate::views::{EventView, ListPage};

/// The event routes.
pub fn routes() -> Router<Core> {
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
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<EventView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let types: Vec<String> = q
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let filter = EventFilter {
        types,
        since: time::parse_opt("since", q.since.as_deref())?,
        until: time::parse_opt("until", q.until.as_deref())?,
        after: q.after,
        limit: limit + 1,
    };
    let rows = events::list(&core, &auth.tenant_id, &filter).await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |e| e.id.clone(),
        EventView::new,
    )))
}

/// `GET /v1/events/{id}`.
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(EventView::new(
        &events::get(&core, &auth.tenant_id, &id).await?,
    )))
}
