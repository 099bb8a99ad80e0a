//! `POST /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/messages`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use openbsp_domain::MessageStatus;
use openbsp_domain::refs::MessageRef;
use openbsp_store::{Channel, Direction, MessageFilter};
use openbsp_wire::ids::WaId;
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::from_meta;
use super::openapi::{BadRequest, Conflict, JsonObject, NotFound, PayloadTooLarge, TenantKey};
use crate::core::Core;
use crate::core::messages::{self, SendInput};
use crate::http::auth::TenantAuth;
use crate::http::body::{idempotency_key, json_body};
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::{paging, time};
use crate::views::messages::{MessageOrReceipt, ReadReceiptView};
use crate::views::{ListPage, MessageView};

/// The message routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one))
}

/// A message to send: the body of Meta's `POST /{phone_number_id}/messages`, read with the
/// Cloud API's rules, with `channel` naming the business number. Each `type` has its object
/// under the type's name, exactly as Meta takes it (`{"type": "text", "text": {"body":
/// "Hi"}}`). Or a mark-as-read: `{"channel", "status": "read", "message_id",
/// "typing_indicator"?}`.
#[derive(ToSchema)]
#[schema(example = json!({"channel": "100200300", "to": "+15551230001", "type": "text", "text": {"body": "Your order shipped"}}))]
pub struct SendMessage {
    /// The business number: its phone number id or its channel id (`chn_…`).
    pub channel: String,
    /// The user, by phone number (`+` and the international number; without `+`, the
    /// business number's country is assumed when the digits are a national number). One of
    /// `to` and `recipient`.
    pub to: Option<String>,
    /// The user, by business-scoped user id (BSUID). One of `to` and `recipient`.
    pub recipient: Option<String>,
    /// `individual` (the default).
    pub recipient_type: Option<String>,
    /// `whatsapp` (optional).
    pub messaging_product: Option<String>,
    /// The message type: `text`, `image`, `video`, `audio`, `document`, `sticker`,
    /// `location`, `contacts`, `reaction`, `interactive` or `template` (default `text`).
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// `{"body", "preview_url"?}`.
    pub text: Option<JsonObject>,
    /// `{"id" | "link", "caption"?}`.
    pub image: Option<JsonObject>,
    /// `{"id" | "link", "caption"?}`.
    pub video: Option<JsonObject>,
    /// `{"id" | "link"}`.
    pub audio: Option<JsonObject>,
    /// `{"id" | "link", "caption"?, "filename"?}`.
    pub document: Option<JsonObject>,
    /// `{"id" | "link"}`.
    pub sticker: Option<JsonObject>,
    /// `{"latitude", "longitude", "name"?, "address"?}`.
    pub location: Option<JsonObject>,
    /// Contact cards, as Meta takes them.
    pub contacts: Option<Vec<JsonObject>>,
    /// `{"message_id", "emoji"}` (an empty emoji removes the reaction).
    pub reaction: Option<JsonObject>,
    /// Buttons, lists, CTA URLs, flows, products, location requests, order details, as Meta
    /// takes them.
    pub interactive: Option<JsonObject>,
    /// `{"name", "language": {"code"}, "components"?}`, checked against the stored template.
    pub template: Option<JsonObject>,
    /// `{"message_id"}`: the message this one replies to (a `wamid` or the gateway's id).
    pub context: Option<JsonObject>,
    /// The caller's own value, echoed on the message and in its events.
    pub biz_opaque_callback_data: Option<String>,
    /// `read`: mark `message_id` read instead of sending.
    #[schema(nullable = false)]
    pub status: Option<String>,
    /// With `status: read`: the inbound message to mark read (its `wamid` or gateway id).
    pub message_id: Option<String>,
    /// With `status: read`: `{"type": "text"}` shows the user the business typing.
    pub typing_indicator: Option<JsonObject>,
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

/// Send a message, or mark one read.
///
/// Validated with Meta's rules and the gateway's (the customer service window, the marketing
/// opt-out, the messaging limit, the stored template), queued durably, and answered at once:
/// 202 with the queued message, which the channel's sender then posts to Meta at the
/// number's pace (its `status` moves with Meta's webhooks, and `message.status` events
/// follow). A retry under the same `Idempotency-Key` answers 200 with the first message. A
/// mark-as-read is sent to Meta before the answer: 200 with the receipt.
#[utoipa::path(post, path = "/v1/messages",
    tag = "messages",
    operation_id = "send_message",
    params(IdempotencyKey),
    request_body = SendMessage,
    responses(
        (status = 202, description = "Queued: the message as stored.", body = MessageView),
        (status = 200, description = "A retry under the same `Idempotency-Key` (the first message, as it is now), or a mark-as-read Meta took (the receipt).", body = MessageOrReceipt),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
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

/// Get a message, with its status history.
///
/// By the gateway's id (`msg_…`) or Meta's `wamid`.
#[utoipa::path(get, path = "/v1/messages/{id}",
    tag = "messages",
    operation_id = "get_message",
    params(("id" = String, Path, description = "The gateway's id (`msg_…`) or Meta's `wamid`.")),
    responses(
        (status = 200, description = "The message, with `statuses`.", body = MessageView),
        NotFound, TenantKey,
    )
)]
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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
    /// A business number: phone number id or channel id.
    channel: Option<String>,
    /// A status: `queued`, `accepted`, `sent`, `delivered`, `read`, `played`, `failed`,
    /// `received`.
    status: Option<String>,
    /// `inbound` or `outbound`.
    direction: Option<String>,
    /// The user (a phone number or a BSUID), either way.
    to: Option<String>,
    /// Created at or after (RFC 3339 or Unix seconds). With `created_after` or
    /// `created_before` the page is newest first by creation time, then by id (the order of
    /// the index that serves a window), rather than by id alone.
    created_after: Option<String>,
    /// Created before (RFC 3339 or Unix seconds).
    created_before: Option<String>,
    /// A session (`ses_…`).
    session: Option<String>,
}

/// The `Idempotency-Key` header of a create: a retry under the same key is answered with
/// the first result instead of doing it again.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// The client's key for this request (1 to 255 printable ASCII characters). The same
    /// key with a different body is refused (409 `idempotency_key_reused`).
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255)]
    pub key: Option<String>,
}

/// List messages, newest first.
///
/// Cursor-paged, with filters.
#[utoipa::path(get, path = "/v1/messages",
    tag = "messages",
    operation_id = "list_messages",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of messages.", body = ListPage<MessageView>),
        BadRequest, NotFound, TenantKey,
    )
)]
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
