//! `/v1/events`: what happened in the tenant's conversations, as its webhook endpoints
//! receive it (native format), newest first.

use axum::Json;
use axum::extract::{Path, State};
use openbsp_store::EventFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{BadRequest, NotFound, TenantKey};
use crate::core::{Core, events};
use crate::http::auth::TenantAuth;
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::{paging, time};
use crate::views::{EventView, ListPage};

/// The event routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
    /// Comma-separated types or patterns (`message.*,session.opened`).
    types: Option<String>,
    /// Created at or after (RFC 3339 or Unix seconds). With `since` or `until` the page is
    /// newest first by creation time, then in delivery order (the order of the index that
    /// serves a window), rather than in delivery order alone.
    since: Option<String>,
    /// Created before (RFC 3339 or Unix seconds).
    until: Option<String>,
}

/// List events, newest first.
#[utoipa::path(get, path = "/v1/events",
    tag = "events",
    operation_id = "list_events",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of events.", body = ListPage<EventView>),
        BadRequest, TenantKey,
    )
)]
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

/// Get an event.
#[utoipa::path(get, path = "/v1/events/{id}",
    tag = "events",
    operation_id = "get_event",
    params(("id" = String, Path, description = "The event (`evt_…`).")),
    responses(
        (status = 200, description = "The event.", body = EventView),
        NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(EventView::new(
        &events::get(&core, &auth.tenant_id, &id).await?,
    )))
}
