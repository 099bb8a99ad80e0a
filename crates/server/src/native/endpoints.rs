//! `/v1/webhook-endpoints`: create, list, get, change, delete, rotate the secret, the
//! delivery log and replays (the rules are [`crate::core::endpoints`]'s).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_store::{AttemptFilter, ReplaySelection};
use serde::Deserialize;

use crate::core::Core;
use crate::core::endpoints::{self, EndpointInput};
use crate::http::auth::TenantAuth;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::{paging, time};
use crate::views::ListPage;
use crate::views::endpoints::{AttemptView, EndpointView, ReplayView};

/// The endpoint routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/v1/webhook-endpoints", post(create).get(list))
        .route(
            "/v1/webhook-endpoints/{id}",
            get(get_one).patch(update).delete(remove),
        )
        .route("/v1/webhook-endpoints/{id}/rotate-secret", post(rotate))
        .route("/v1/webhook-endpoints/{id}/deliveries", get(deliveries))
        .route("/v1/webhook-endpoints/{id}/replay", post(replay))
}

fn parse_input(body: &Bytes) -> Result<EndpointInput, ApiError> {
    let v = json_body(body)?;
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid endpoint: {e}")))
}

/// `POST /v1/webhook-endpoints`: `{url, events, format?, description?, enabled?}`; answers
/// the endpoint with its `secret`, shown this once.
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

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

/// `GET /v1/webhook-endpoints`.
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

/// `GET /v1/webhook-endpoints/{id}` (never the secret).
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let e = endpoints::get(&core, &auth.tenant_id, &id).await?;
    Ok(Json(EndpointView::new(&e, None, core.now())))
}

/// `PATCH /v1/webhook-endpoints/{id}`: any of url, events, format, description, enabled.
async fn update(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EndpointView>, ApiError> {
    let e = endpoints::update(&core, &auth.tenant_id, &id, parse_input(&body)?).await?;
    Ok(Json(EndpointView::new(&e, None, core.now())))
}

/// `DELETE /v1/webhook-endpoints/{id}`.
async fn remove(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    endpoints::delete(&core, &auth.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateInput {
    overlap_seconds: Option<i64>,
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret` `{overlap_seconds?}`: a new secret, shown
/// this once; the previous one keeps signing beside it until the overlap ends.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    limit: Option<u32>,
    after: Option<String>,
    event_id: Option<String>,
    /// `succeeded` or `failed`.
    status: Option<String>,
}

/// `GET /v1/webhook-endpoints/{id}/deliveries?event_id=&status=succeeded|failed&limit=&after=`:
/// every attempt, newest first.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    event_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `POST /v1/webhook-endpoints/{id}/replay`: `{"event_id": "evt_…"}` sends one event again,
/// `{"since": …, "until": …}` every event of that period whose delivery to the endpoint
/// failed. Answers 202 with how many were queued.
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
