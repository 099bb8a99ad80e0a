//! `/v1/campaigns`: create, list, get (with counts, rate and ETA), delete a draft, upload
//! recipients (streamed CSV or JSON lines), start, pause, resume, cancel, the recipients and
//! their report as CSV (the rules are [`crate::core::campaigns`]').

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::TryStreamExt;
use openbsp_store::{CampaignAction, CampaignFilter, CampaignRecipient, RecipientFilter};
use serde::Deserialize;
use serde_json::Value;

use crate::core::Core;
use crate::core::campaigns::{self, CampaignInput, UploadReport, rows::Format};
use crate::http::auth::TenantAuth;
use crate::http::body::{idempotency_key, json_body};
use crate::http::error::ApiError;
use crate::http::{paging, time};
use crate::views::ListPage;
use crate::views::campaigns::{CampaignView, RecipientView};
use sha2::Digest;

/// The campaign routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/v1/campaigns", post(create).get(list))
        .route("/v1/campaigns/{id}", get(get_one).delete(remove))
        .route(
            "/v1/campaigns/{id}/recipients",
            post(upload).get(recipients),
        )
        .route("/v1/campaigns/{id}/report", get(report))
        .route("/v1/campaigns/{id}/start", post(start))
        .route("/v1/campaigns/{id}/pause", post(pause))
        .route("/v1/campaigns/{id}/resume", post(resume))
        .route("/v1/campaigns/{id}/cancel", post(cancel))
        .route("/v1/campaigns/{id}/retry", post(retry))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    channel: String,
    template: Value,
    start_at: Option<String>,
    rate_limit: Option<u32>,
}

/// `POST /v1/campaigns` `{name, channel, template, start_at?, rate_limit?}` → 201 with the
/// campaign in `draft`.
async fn create(
    State(core): State<Core>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    let key = idempotency_key(&headers)?.map(|key| openbsp_store::IdempotencyKey {
        key,
        request_hash: hex::encode(sha2::Sha256::digest(&body)),
    });
    let b: CreateBody = serde_json::from_value(json_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid campaign: {e}")))?;
    let input = CampaignInput {
        name: b.name,
        channel: b.channel,
        template: b.template,
        start_at: time::parse_opt("start_at", b.start_at.as_deref())?,
        rate_limit: b.rate_limit,
    };
    let (c, created) = campaigns::create(&core, &auth.tenant_id, input, key).await?;
    let progress = campaigns::progress(&core, &c).await?;
    // A retry under the same key answers the first campaign as it is now.
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(CampaignView::new(&c, Some(&progress))),
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    status: Option<String>,
    channel: Option<String>,
}

/// `GET /v1/campaigns?status=&channel=`: newest first.
async fn list(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<CampaignView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let filter = CampaignFilter {
        tenant_id: auth.tenant_id.clone(),
        status: q.status,
        channel_id: core
            .channel_filter(&auth.tenant_id, q.channel.as_deref())
            .await?,
        after: q.after,
        limit: limit + 1,
    };
    let rows = campaigns::list(&core, &filter).await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |c| c.id.clone(),
        |c| CampaignView::new(c, None),
    )))
}

/// `GET /v1/campaigns/{id}`: with its counts, failures by code, rate and ETA.
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = campaigns::get(&core, &auth.tenant_id, &id).await?;
    let progress = campaigns::progress(&core, &c).await?;
    Ok(Json(CampaignView::new(&c, Some(&progress))))
}

/// `DELETE /v1/campaigns/{id}`: a draft only.
async fn remove(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    campaigns::delete(&core, &auth.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/campaigns/{id}/recipients`: the body, `text/csv` or `application/x-ndjson`, is
/// read as it arrives; answers `{accepted, duplicates, rejected, errors}`.
async fn upload(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UploadReport>, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = Format::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "recipients are uploaded as text/csv or application/x-ndjson, not {}",
                if ct.is_empty() {
                    "a body without Content-Type"
                } else {
                    ct
                }
            ),
        )
    })?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let report = campaigns::upload(&core, &auth.tenant_id, &id, format, Box::new(reader)).await?;
    Ok(Json(report))
}

#[derive(Deserialize)]
struct RecipientsQuery {
    limit: Option<u32>,
    after: Option<i64>,
    status: Option<String>,
}

/// `GET /v1/campaigns/{id}/recipients?status=`: in upload order, paged by `seq`.
async fn recipients(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<RecipientsQuery>,
) -> Result<Json<ListPage<RecipientView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let filter = RecipientFilter {
        status: q.status,
        after: q.after,
        limit: limit + 1,
    };
    let rows = campaigns::recipients(&core, &auth.tenant_id, &id, &filter).await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |r| r.seq.to_string(),
        RecipientView::new,
    )))
}

/// Recipients per page of the report.
const REPORT_PAGE: u32 = 1_000;

/// `GET /v1/campaigns/{id}/report`: every recipient as CSV, streamed page by page.
async fn report(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = campaigns::get(&core, &auth.tenant_id, &id).await?;
    let header_row = Bytes::from_static(
        b"line,recipient,status,message_id,wamid,error_code,error,created_at,updated_at,replied_at,held_for_quality_assessment\n",
    );
    let pages = futures::stream::try_unfold(Some(0i64), move |after| {
        let (core, campaign) = (core.clone(), c.id.clone());
        async move {
            let Some(after) = after else {
                return Ok::<_, std::io::Error>(None);
            };
            let rows = core
                .store
                .list_recipients(
                    &campaign,
                    &RecipientFilter {
                        status: None,
                        after: Some(after),
                        limit: REPORT_PAGE,
                    },
                )
                .await
                .map_err(std::io::Error::other)?;
            let next = (rows.len() == REPORT_PAGE as usize).then(|| rows.last().map(|r| r.seq));
            Ok(Some((report_rows(&rows)?, next.flatten())))
        }
    });
    let body = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<_, std::io::Error>(header_row) }),
        pages,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.csv\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

fn report_rows(rows: &[CampaignRecipient]) -> std::io::Result<Bytes> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(rows.len() * 96));
    for r in rows {
        let error = r.error.as_ref().or(r.reason.as_ref());
        let code = error.map(openbsp_store::campaign::failure_code);
        let message = error.and_then(|e| {
            e.get("message")
                .or_else(|| e.get("title"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let time = |ms: Option<i64>| ms.map(openbsp_domain::clock::rfc3339).unwrap_or_default();
        w.write_record([
            r.line.to_string(),
            r.recipient.clone(),
            r.status().to_string(),
            r.message_id.clone().unwrap_or_default(),
            r.wamid.clone().unwrap_or_default(),
            code.unwrap_or_default(),
            message.unwrap_or_default(),
            time(Some(r.created_at)),
            time(Some(r.updated_at)),
            time(r.replied_at),
            r.held().to_string(),
        ])?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

async fn act(
    core: Core,
    auth: TenantAuth,
    id: String,
    action: CampaignAction,
) -> Result<Json<CampaignView>, ApiError> {
    let c = campaigns::act(&core, &auth.tenant_id, &id, action).await?;
    let progress = campaigns::progress(&core, &c).await?;
    Ok(Json(CampaignView::new(&c, Some(&progress))))
}

/// `POST /v1/campaigns/{id}/start`: `running` now, or `scheduled` until its `start_at`.
async fn start(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Start).await
}

/// `POST /v1/campaigns/{id}/pause`.
async fn pause(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Pause { reason: None }).await
}

/// `POST /v1/campaigns/{id}/resume`.
async fn resume(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Resume).await
}

/// `POST /v1/campaigns/{id}/cancel`.
async fn cancel(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Cancel).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryBody {
    codes: Vec<Value>,
}

/// `POST /v1/campaigns/{id}/retry` `{"codes": ["131026", …]}`: the recipients whose send
/// failed with one of these codes go again; answers `{"retried", "campaign"}`.
async fn retry(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: RetryBody = serde_json::from_value(json_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid retry: {e}")))?;
    let codes = b
        .codes
        .iter()
        .map(|c| match c {
            Value::String(s) => Ok(s.trim().to_string()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(ApiError::bad_request("codes must be strings or numbers")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (c, n) = campaigns::retry(&core, &auth.tenant_id, &id, codes).await?;
    let progress = campaigns::progress(&core, &c).await?;
    Ok(Json(serde_json::json!({
        "campaign": CampaignView::new(&c, Some(&progress)),
        "retried": n,
    })))
}
