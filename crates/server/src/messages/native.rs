//! `POST /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/messages`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use openbsp_domain::MessageStatus;
use openbsp_store::{Channel, Direction, EnqueueOutcome, MessageFilter, Page};
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use serde::Deserialize;
use serde_json::{Value, json};

use super::service::{self, AcceptError};
use super::view::message_json;
use crate::auth::TenantAuth;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest accepted `Idempotency-Key`.
const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Reads the `Idempotency-Key` header.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be printable ASCII"))?
        .trim();
    if s.is_empty() || s.len() > IDEMPOTENCY_KEY_MAX {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )));
    }
    Ok(Some(s.to_string()))
}

/// Parses a JSON body, with a clear error.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

/// The tenant's channel a request body names in `channel` (a phone number id or a channel
/// id); another tenant's is not found.
pub async fn required_channel(
    state: &AppState,
    tenant_id: &str,
    body: &Value,
) -> Result<Channel, ApiError> {
    let channel_ref = match body.get("channel") {
        Some(Value::String(c)) if !c.is_empty() => c.as_str(),
        Some(_) => return Err(ApiError::bad_request("channel must be a string")),
        None => {
            return Err(ApiError::bad_request(
                "channel is required: a phone_number_id or a channel id",
            ));
        }
    };
    state
        .tenant_channel(tenant_id, channel_ref)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("channel {channel_ref}")))
}

/// `POST /v1/messages`: validate, queue durably, answer at once.
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?;
    let v = json_body(&body)?;
    let channel = required_channel(&state, &auth.tenant_id, &v).await?;
    let ctx = ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    let req =
        match parse_outgoing_in(&v, Surface::Native, &ctx).map_err(|e| ApiError::from_meta(&e))? {
            Outgoing::Message(req) => req,
            Outgoing::Read(receipt) => {
                service::mark_read(&state, &auth.tenant_id, &channel, &receipt)
                    .await
                    .map_err(accept_error)?;
                return Ok((
                    StatusCode::OK,
                    Json(json!({
                        "object": "read_receipt",
                        "message_id": receipt.message_id,
                        "typing_indicator": receipt.typing_indicator,
                        "success": true,
                    })),
                ));
            }
        };
    match service::accept(&state, &auth.tenant_id, &channel, &req, &body, key).await {
        Ok(EnqueueOutcome::Created(m)) => Ok((StatusCode::ACCEPTED, Json(message_json(&m, None)))),
        Ok(EnqueueOutcome::Existing(m)) => Ok((StatusCode::OK, Json(message_json(&m, None)))),
        Ok(EnqueueOutcome::KeyReused(m)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            format!(
                "this Idempotency-Key was used for a different request (message {})",
                m.id
            ),
        )),
        Err(e) => Err(accept_error(e)),
    }
}

/// Maps an [`AcceptError`] to the native envelope.
pub fn accept_error(e: AcceptError) -> ApiError {
    match e {
        AcceptError::Meta(m) => ApiError::from_meta(&m),
        AcceptError::ContextNotSent(id) => ApiError::new(
            StatusCode::CONFLICT,
            "context_not_sent",
            format!("message {id} has no wamid yet, so it cannot be replied to"),
        ),
        AcceptError::Template(t) => t.to_api(),
        AcceptError::Store(s) => s.into(),
    }
}

/// `GET /v1/messages/{id}` (gateway id or `wamid`), with its status history.
pub async fn get_one(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let m = state
        .store
        .get_message(&auth.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("message {id}")))?;
    let mut history = state.store.message_history(&m.id).await?;
    // Meta's timestamps have whole seconds: order by the way a message travels instead.
    history.sort_by_key(|e| (e.status.rank(), e.at));
    Ok(Json(message_json(&m, Some(&history))))
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    channel: Option<String>,
    status: Option<String>,
    direction: Option<String>,
    to: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    session: Option<String>,
}

/// Parses a time filter: RFC 3339 or Unix seconds.
pub fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs * 1000);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| ApiError::bad_request(format!("{field} must be RFC 3339 or Unix seconds")))
}

/// `GET /v1/messages`: newest first, cursor-paged.
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let channel_id = state
        .channel_filter(&auth.tenant_id, q.channel.as_deref())
        .await?;
    let filter = MessageFilter {
        channel_id,
        status: q
            .status
            .as_deref()
            .map(|s| {
                MessageStatus::parse(s)
                    .ok_or_else(|| ApiError::bad_request(format!("unknown status {s}")))
            })
            .transpose()?,
        direction: q
            .direction
            .as_deref()
            .map(|d| {
                Direction::parse(d)
                    .ok_or_else(|| ApiError::bad_request("direction must be inbound or outbound"))
            })
            .transpose()?,
        recipient: q
            .to
            .as_deref()
            .map(|t| openbsp_wire::send::normalize_phone(t).unwrap_or_else(|_| t.to_string())),
        created_from: q
            .created_after
            .as_deref()
            .map(|s| parse_time("created_after", s))
            .transpose()?,
        created_to: q
            .created_before
            .as_deref()
            .map(|s| parse_time("created_before", s))
            .transpose()?,
        session_id: q.session.clone(),
    };
    let rows = state
        .store
        .list_messages(
            &auth.tenant_id,
            &filter,
            &Page {
                limit: limit + 1,
                after: q.after,
            },
        )
        .await?;
    Ok(Json(crate::paging::list_json(
        rows,
        limit,
        |m| m.id.clone(),
        |m| message_json(m, None),
    )))
}
