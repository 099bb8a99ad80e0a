//! `/v1/campaigns`: create, list, get (with counts, rate and ETA), delete a draft, upload
//! recipients (streamed CSV or JSON lines), start, pause, resume, cancel, the recipients and
//! their report as CSV (the rules are [`crate::core::campaigns`]').

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::TryStreamExt;
use openbsp_store::{CampaignAction, CampaignFilter, RecipientFilter};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::messages::IdempotencyKey;
use super::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, StringOrNumber, TenantKey,
    UnsupportedMediaType,
};
use crate::core::Core;
use crate::core::campaigns::{self, CampaignInput, UploadReport, rows::Format};
use crate::http::auth::TenantAuth;
use crate::http::body::{idempotency_key, json_body};
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::{paging, time};
use crate::views::ListPage;
use crate::views::campaigns::{CampaignRetryView, CampaignView, RecipientView, report};
use sha2::Digest;

/// The campaign routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, remove))
        .routes(routes!(upload, recipients))
        .routes(routes!(report))
        .routes(routes!(start))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(retry))
}

/// A new campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CampaignCreate, example = json!({"name": "Spring offer", "channel": "100200300", "template": {"name": "spring_offer", "language": "en_US", "variables": ["{{first_name}}"]}, "rate_limit": 20}))]
struct CreateBody {
    /// Its name.
    name: String,
    /// The business number it sends from: phone number id or channel id.
    channel: String,
    /// The approved template it sends: `{"name", "language", "components"?}` with
    /// `{{column}}` placeholders filled from each recipient's columns, or `{"name",
    /// "language", "variables": [...]}` for the body's variables.
    #[schema(value_type = Object)]
    template: Value,
    /// When it starts once started (RFC 3339 or Unix seconds); absent: at once.
    start_at: Option<String>,
    /// Its own rate (messages per second), under the channel's throughput.
    rate_limit: Option<u32>,
}

/// Create a campaign, in `draft`.
///
/// Its recipients are uploaded next, then it is started. A retry under the same
/// `Idempotency-Key` answers 200 with the first campaign as it is now.
#[utoipa::path(post, path = "/v1/campaigns",
    tag = "campaigns",
    operation_id = "create_campaign",
    params(IdempotencyKey),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created, in `draft`.", body = CampaignView),
        (status = 200, description = "A retry under the same `Idempotency-Key`: the first campaign.", body = CampaignView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
    /// `draft`, `scheduled`, `running`, `paused`, `completed` or `cancelled`.
    status: Option<String>,
    /// A business number: phone number id or channel id.
    channel: Option<String>,
}

/// List campaigns, newest first.
#[utoipa::path(get, path = "/v1/campaigns",
    tag = "campaigns",
    operation_id = "list_campaigns",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of campaigns (without counts).", body = ListPage<CampaignView>),
        BadRequest, NotFound, TenantKey,
    )
)]
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

/// Get a campaign, with its counts, failures by code, rate and ETA.
#[utoipa::path(get, path = "/v1/campaigns/{id}",
    tag = "campaigns",
    operation_id = "get_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = campaigns::get(&core, &auth.tenant_id, &id).await?;
    let progress = campaigns::progress(&core, &c).await?;
    Ok(Json(CampaignView::new(&c, Some(&progress))))
}

/// Delete a campaign: a draft only.
#[utoipa::path(delete, path = "/v1/campaigns/{id}",
    tag = "campaigns",
    operation_id = "delete_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 204, description = "Deleted."),
        NotFound, Conflict, TenantKey,
    )
)]
async fn remove(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    campaigns::delete(&core, &auth.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload a campaign's recipients.
///
/// The body, `text/csv` (a header row naming `phone` or `wa_id` or `user_id`, and the
/// columns the template's placeholders name) or `application/x-ndjson` (one JSON object per
/// line, the same keys), is read as it arrives. Rows refused are counted and the first of
/// them listed with why; the others are stored.
#[utoipa::path(post, path = "/v1/campaigns/{id}/recipients",
    tag = "campaigns",
    operation_id = "upload_campaign_recipients",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    request_body(
        description = "The recipients, as CSV or JSON lines.",
        content(
            (String = "text/csv", example = "phone,first_name\n+15551230001,Ana\n"),
            (String = "application/x-ndjson", example = "{\"phone\": \"+15551230001\", \"first_name\": \"Ana\"}\n"),
        )
    ),
    responses(
        (status = 200, description = "What the upload did.", body = UploadReport),
        BadRequest, NotFound, Conflict, UnsupportedMediaType, TenantKey,
    )
)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RecipientsQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before (a recipient's `seq`).
    after: Option<i64>,
    /// `pending`, `sent`, `delivered`, `read`, `replied`, `failed` or `skipped`.
    status: Option<String>,
}

/// List a campaign's recipients, in upload order.
#[utoipa::path(get, path = "/v1/campaigns/{id}/recipients",
    tag = "campaigns",
    operation_id = "list_campaign_recipients",
    params(("id" = String, Path, description = "The campaign (`cmp_…`)."), RecipientsQuery),
    responses(
        (status = 200, description = "A page of recipients, paged by `seq`.", body = ListPage<RecipientView>),
        BadRequest, NotFound, TenantKey,
    )
)]
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

/// A campaign's report: every recipient as CSV.
///
/// Streamed page by page; one row per recipient, in upload order: `line, recipient, status,
/// message_id, wamid, error_code, error, created_at, updated_at, replied_at,
/// held_for_quality_assessment`.
#[utoipa::path(get, path = "/v1/campaigns/{id}/report",
    tag = "campaigns",
    operation_id = "campaign_report",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 200, description = "The report, as an attachment `{id}.csv`.", content_type = "text/csv", body = String),
        NotFound, TenantKey,
    )
)]
async fn report(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = campaigns::get(&core, &auth.tenant_id, &id).await?;
    let header_row = Bytes::from_static(report::HEADER.as_bytes());
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
            Ok(Some((report::rows(&rows)?, next.flatten())))
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

/// Start a campaign: `running` now, or `scheduled` until its `start_at`.
#[utoipa::path(post, path = "/v1/campaigns/{id}/start",
    tag = "campaigns",
    operation_id = "start_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 200, description = "The campaign as it is now.", body = CampaignView),
        NotFound, Conflict, TenantKey,
    )
)]
async fn start(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Start).await
}

/// Pause a campaign: no more sends until it is resumed.
#[utoipa::path(post, path = "/v1/campaigns/{id}/pause",
    tag = "campaigns",
    operation_id = "pause_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 200, description = "The campaign as it is now.", body = CampaignView),
        NotFound, Conflict, TenantKey,
    )
)]
async fn pause(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Pause { reason: None }).await
}

/// Resume a paused campaign.
#[utoipa::path(post, path = "/v1/campaigns/{id}/resume",
    tag = "campaigns",
    operation_id = "resume_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 200, description = "The campaign as it is now.", body = CampaignView),
        NotFound, Conflict, TenantKey,
    )
)]
async fn resume(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Resume).await
}

/// Cancel a campaign: its pending recipients are never sent.
#[utoipa::path(post, path = "/v1/campaigns/{id}/cancel",
    tag = "campaigns",
    operation_id = "cancel_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    responses(
        (status = 200, description = "The campaign as it is now.", body = CampaignView),
        NotFound, Conflict, TenantKey,
    )
)]
async fn cancel(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    act(core, auth, id, CampaignAction::Cancel).await
}

/// Which failed recipients of a campaign go again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CampaignRetry, example = json!({"codes": ["131026", 131049]}))]
struct RetryBody {
    /// The failure codes (Meta's codes, or the gateway's reasons), as strings or numbers.
    #[schema(value_type = Vec<StringOrNumber>)]
    codes: Vec<Value>,
}

/// Retry a campaign's failed recipients.
///
/// The recipients whose send failed with one of the codes go again.
#[utoipa::path(post, path = "/v1/campaigns/{id}/retry",
    tag = "campaigns",
    operation_id = "retry_campaign",
    params(("id" = String, Path, description = "The campaign (`cmp_…`).")),
    request_body = RetryBody,
    responses(
        (status = 200, description = "How many go again, and the campaign as it is now.", body = CampaignRetryView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
async fn retry(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CampaignRetryView>, ApiError> {
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
    Ok(Json(CampaignRetryView {
        campaign: CampaignView::new(&c, Some(&progress)),
        retried: n,
    }))
}
