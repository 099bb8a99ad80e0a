//! `POST /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/messages`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_domain::MessageStatus;
use openbsp_domain::refs::MessageRef;
use openbsp_store::{Channel, Direction, MessageFilter};
use openbsp_wire::ids::WaId;
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use serde::Deserialize;
use serde_json::Value;

use super::error::from_meta;
use crate::core::Core;
use crate::core::messages::{self, SendInput};
use crate::http::auth::TenantAuth;
use crate::http::body::{idempotency_key, json_body};
use crate::http::error::ApiError;
use crate::http::{paging, time};
use crate::views::messages::{MessageOrReceipt, ReadReceiptView};
use crate::views::{ListPage, MessageView};

/// The message routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .route("/v1/messages", post(create).get(list))
        .route("/v1/messages/{id}", get(get_one))
}

/// The tenant's channel a request body names in `channel` (a phone number id or a channel
/// id); another tenant's is not found.
pub async fn required_channel(
    core: &Core,
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
    Ok(core.require_channel(tenant_id, channel_ref).await?)
}

/// `POST /v1/messages`: validate, queue durably, answer at once.
async fn create(
    State(core): State<Core>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<MessageOrReceipt>), ApiError> {
    let key = idempotency_key(&headers)?;
    let v = json_body(&body)?;
    let channel = required_channel(&core, &auth.tenant_id, &v).await?;
    let ctx = ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    let req = match parse_outgoing_in(&v, Surface::Native, &ctx).map_err(|e| from_meta(&e))? {
        Outgoing::Message(req) => req,
        Outgoing::Read(receipt) => {
            messages::mark_read(&core, &auth.tenant_id, &channel, &receipt).await?;
            return Ok((
                StatusCode::OK,
                Json(MessageOrReceipt::ReadReceipt(ReadReceiptView::new(
                    &receipt,
                ))),
            ));
        }
    };
    let a = messages::send(
        &core,
        SendInput::new(&auth.tenant_id, &channel, &req, &body, key),
    )
    .await?;
    let status = if a.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(MessageOrReceipt::Message(Box::new(MessageView::new(
            &a.message, None,
        )))),
    ))
}

/// `GET /v1/messages/{id}` (gateway id or `wamid`), with its status history.
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let r = MessageRef::parse(&id).map_err(|_| ApiError::not_found(&format!("message {id}")))?;
    let (m, history) = messages::get(&core, &auth.tenant_id, &r).await?;
    Ok(Json(MessageView::new(&m, Some(&history))))
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize)]
struct ListQuery {
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

/// `GET /v1/messages`: newest first, cursor-paged.
async fn list(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<MessageView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let channel_id = core
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
            .map(|t| WaId::parse(t).map_or_else(|_| t.to_string(), WaId::into_string)),
        created_from: time::parse_opt("created_after", q.created_after.as_deref())?,
        created_to: time::parse_opt("created_before", q.created_before.as_deref())?,
        session_id: q.session.clone(),
    };
    let rows = messages::list(
        &core,
        &auth.tenant_id,
        &filter,
        &paging::page(limit, q.after),
    )
    .await?;
    Ok(Json(paging::list_page(
        rows,
        limit,
        |m| m.id.clone(),
        |m| MessageView::new(m, None),
    )))
}
