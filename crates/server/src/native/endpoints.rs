//! `/v1/webhook-endpoints`: create, list, get, change, delete, rotate the secret, the
//! delivery log and replays (the rules are [`crate::core::endpoints`]'s).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use openbsp_store::{AttemptFilter, ReplaySelection};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{BadRequest, Conflict, NotFound, PayloadTooLarge, TenantKey};
use crate::core::Core;
use crate::core::endpoints::{self, EndpointInput};
use crate::http::auth::TenantAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::{paging, time};
use crate::views::ListPage;
use crate::views::endpoints::{AttemptView, EndpointView, ReplayView};

/// The endpoint routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, remove))
        .routes(routes!(rotate))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}

fn parse_input(body: &Bytes) -> Result<EndpointInput, ApiError> {
    let v = json_body(body)?;
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid endpoint: {e}")))
}

/// Create a webhook endpoint.
///
/// `url` and `events` are required. The answer has its signing `secret`, shown this once.
/// A tenant has a limited number of endpoints (409 `endpoint_limit` past it). A private or
/// internal address is refused.
#[utoipa::path(post, path = "/v1/webhook-endpoints",
    tag = "webhook-endpoints",
    operation_id = "create_webhook_endpoint",
    request_body(content = EndpointInput, example = json!({"url": "https://example.com/hooks/whatsapp", "events": ["message.*", "session.opened"], "description": "CRM"})),
    responses(
        (status = 201, description = "Created, with its `secret`.", body = EndpointView),
        BadRequest, Conflict, PayloadTooLarge, TenantKey,
    )
)]
async fn create(
    State(core): State<Core>,
    auth: TenantAuth,
    body: Bytes,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let (e, secret) = endpoints::create(&core, &auth.tenant_id, parse_input(&body)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointView::new(&e, Some(&secret), core.now())),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
}

/// List webhook endpoints.
#[utoipa::path(get, path = "/v1/webhook-endpoints",
    tag = "webhook-endpoints",
    operation_id = "list_webhook_endpoints",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of endpoints (never their secrets).", body = ListPage<EndpointView>),
        BadRequest, TenantKey,
    )
)]
async fn list(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<EndpointView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let rows = endpoints::list(&core, &auth.tenant_id, &paging::page(limit, q.after)).await?;
    let now = core.now();
    Ok(Json(paging::list_page(
        rows,
        limit,
        |e| e.id.clone(),
        |e| EndpointView::new(e, None, now),
    )))
}

/// Get a webhook endpoint (never its secret).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}",
    tag = "webhook-endpoints",
    operation_id = "get_webhook_endpoint",
    params(("id" = String, Path, description = "The endpoint (`whe_…`).")),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointView),
        NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let e = endpoints::get(&core, &auth.tenant_id, &id).await?;
    Ok(Json(EndpointView::new(&e, None, core.now())))
}

/// Change a webhook endpoint: any of its settings; each left out stays.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}",
    tag = "webhook-endpoints",
    operation_id = "update_webhook_endpoint",
    params(("id" = String, Path, description = "The endpoint (`whe_…`).")),
    request_body(content = EndpointInput, example = json!({"enabled": false})),
    responses(
        (status = 200, description = "The endpoint as it is now.", body = EndpointView),
        BadRequest, NotFound, PayloadTooLarge, TenantKey,
    )
)]
async fn update(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EndpointView>, ApiError> {
    let e = endpoints::update(&core, &auth.tenant_id, &id, parse_input(&body)?).await?;
    Ok(Json(EndpointView::new(&e, None, core.now())))
}

/// Delete a webhook endpoint: no more deliveries to it.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}",
    tag = "webhook-endpoints",
    operation_id = "delete_webhook_endpoint",
    params(("id" = String, Path, description = "The endpoint (`whe_…`).")),
    responses(
        (status = 204, description = "Deleted."),
        NotFound, TenantKey,
    )
)]
async fn remove(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    endpoints::delete(&core, &auth.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rotation of an endpoint's signing secret (the body may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SecretRotation, example = json!({"overlap_seconds": 3600}))]
struct RotateInput {
    /// How long the previous secret keeps signing beside the new one (default a day, at
    /// most 7 days, 0 to retire it at once).
    overlap_seconds: Option<i64>,
}

/// Rotate a webhook endpoint's signing secret.
///
/// The answer has the new secret, shown this once; the previous one keeps signing beside it
/// (deliveries carry both signatures) until the overlap ends.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret",
    tag = "webhook-endpoints",
    operation_id = "rotate_webhook_endpoint_secret",
    params(("id" = String, Path, description = "The endpoint (`whe_…`).")),
    request_body(content = Option<RotateInput>, description = "Optional."),
    responses(
        (status = 200, description = "The endpoint, with its new `secret`.", body = EndpointView),
        BadRequest, NotFound, PayloadTooLarge, TenantKey,
    )
)]
async fn rotate(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EndpointView>, ApiError> {
    let input: RotateInput = if body.is_empty() {
        RotateInput::default()
    } else {
        serde_json::from_value(json_body(&body)?)
            .map_err(|e| ApiError::bad_request(format!("invalid rotation: {e}")))?
    };
    let (e, secret) = endpoints::rotate(&core, &auth.tenant_id, &id, input.overlap_seconds).await?;
    Ok(Json(EndpointView::new(&e, Some(&secret), core.now())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before (an attempt id, `att_…`).
    after: Option<String>,
    /// One event's attempts (`evt_…`).
    event_id: Option<String>,
    /// `succeeded` or `failed`.
    status: Option<String>,
}

/// A webhook endpoint's delivery log: every attempt, newest first.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries",
    tag = "webhook-endpoints",
    operation_id = "list_webhook_endpoint_deliveries",
    params(("id" = String, Path, description = "The endpoint (`whe_…`)."), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of attempts.", body = ListPage<AttemptView>),
        BadRequest, NotFound, TenantKey,
    )
)]
async fn deliveries(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<ListPage<AttemptView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let succeeded = match q.status.as_deref() {
        None => None,
        Some("succeeded") => Some(true),
        Some("failed") => Some(false),
        Some(_) => return Err(ApiError::bad_request("status must be succeeded or failed")),
    };
    let before_seq = match q.after.as_deref() {
        None => None,
        Some(c) => Some(
            c.strip_prefix("att_")
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("after must be an attempt id (att_…)"))?,
        ),
    };
    let filter = AttemptFilter {
        event_id: q.event_id,
        succeeded,
        before_seq,
        limit: limit + 1,
    };
    let rows = endpoints::deliveries(&core, &auth.tenant_id, &id, &filter).await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |a| format!("att_{}", a.seq),
        AttemptView::new,
    )))
}

/// What a replay sends again: `event_id`, or `since` (and optionally `until`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplayInput, example = json!({"since": "2025-06-01T00:00:00Z"}))]
struct ReplayInput {
    /// One event, sent again (`evt_…`).
    event_id: Option<String>,
    /// The start of a period whose failed deliveries are sent again (RFC 3339 or Unix
    /// seconds).
    since: Option<String>,
    /// Its end (default now).
    until: Option<String>,
}

/// Replay events to a webhook endpoint.
///
/// `{"event_id": "evt_…"}` sends one event again; `{"since": …, "until": …}` every event of
/// that period whose delivery to the endpoint failed. Answers 202 with how many were queued.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/replay",
    tag = "webhook-endpoints",
    operation_id = "replay_webhook_endpoint",
    params(("id" = String, Path, description = "The endpoint (`whe_…`).")),
    request_body = ReplayInput,
    responses(
        (status = 202, description = "Queued.", body = ReplayView),
        BadRequest, NotFound, PayloadTooLarge, TenantKey,
    )
)]
async fn replay(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ReplayView>), ApiError> {
    let input: ReplayInput = serde_json::from_value(json_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid replay: {e}")))?;
    let selection = match (input.event_id, input.since, input.until) {
        (Some(ev), None, None) => ReplaySelection::Event(ev),
        (None, Some(since), until) => ReplaySelection::Failed {
            since: time::parse_time("since", &since)?,
            until: match until {
                Some(u) => time::parse_time("until", &u)?,
                None => core.now() + 1,
            },
        },
        _ => {
            return Err(ApiError::bad_request(
                "give event_id, or since (and optionally until) to replay the failed deliveries of a period",
            ));
        }
    };
    let (e, queued) = endpoints::replay(&core, &auth.tenant_id, &id, &selection).await?;
    Ok((StatusCode::ACCEPTED, Json(ReplayView::new(&e, queued))))
}
