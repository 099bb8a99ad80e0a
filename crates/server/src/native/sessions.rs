//! Sessions on the native API: `GET /v1/sessions`, `GET /v1/sessions/{id}` (with its
//! messages), `POST /v1/sessions/{id}/close`, `POST|GET /v1/sessions/{id}/messages`, and
//! Session Start (`POST /v1/sessions`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use openbsp_store::{Channel, ContactKey, Session, SessionFilter};
use openbsp_wire::SendRequest;
use openbsp_wire::ids::{Bsuid, WaId};
use openbsp_wire::send::Surface;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::from_meta;
use super::messages::{IdempotencyKey, required_channel};
use super::openapi::{
    BadRequest, Conflict, JsonObject, NotFound, PayloadTooLarge, StringOrNumber, TenantKey,
};
use super::templates::variables;
use crate::core::messages::{self, SendInput};
use crate::core::sessions::{self, StartInput};
use crate::core::{Core, contacts, templates};
use crate::http::auth::TenantAuth;
use crate::http::body::{idempotency_key, json_body};
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::{paging, time};
use crate::views::sessions::SessionStartView;
use crate::views::{ListPage, MessageView, SessionView};

/// The session routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(get_one))
        .routes(routes!(close))
        .routes(routes!(reply, messages))
}

/// Query of `GET /v1/sessions`.
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
    /// A contact: `con_…` id, `wa_id` or BSUID.
    contact: Option<String>,
    /// `open` or `closed`.
    status: Option<String>,
    /// Opened at or after (RFC 3339 or Unix seconds). With `opened_after` or
    /// `opened_before` the page is newest first by opening time, then by id (the order of
    /// the index that serves a window), rather than by id alone.
    opened_after: Option<String>,
    /// Opened before (RFC 3339 or Unix seconds).
    opened_before: Option<String>,
}

/// List sessions, newest first.
#[utoipa::path(get, path = "/v1/sessions",
    tag = "sessions",
    operation_id = "list_sessions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of sessions.", body = ListPage<SessionView>),
        BadRequest, NotFound, TenantKey,
    )
)]
async fn list(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage<SessionView>>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let channel_id = core
        .channel_filter(&auth.tenant_id, q.channel.as_deref())
        .await?;
    let contact_id = match &q.contact {
        Some(c) => Some(contacts::require(&core, &auth.tenant_id, c).await?.id),
        None => None,
    };
    let open = match q.status.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(_) => return Err(ApiError::bad_request("status must be open or closed")),
    };
    let filter = SessionFilter {
        channel_id,
        contact_id,
        open,
        opened_from: time::parse_opt("opened_after", q.opened_after.as_deref())?,
        opened_to: time::parse_opt("opened_before", q.opened_before.as_deref())?,
    };
    let rows = sessions::list(
        &core,
        &auth.tenant_id,
        &filter,
        &paging::page(limit, q.after),
    )
    .await?;
    let now = core.now();
    Ok(Json(paging::list_page(
        rows,
        limit,
        |s| s.id.clone(),
        |s| SessionView::new(s, now),
    )))
}

/// Query of a session's messages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// Page size (of the messages).
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the page of messages before.
    after: Option<String>,
}

async fn messages_page(
    core: &Core,
    tenant: &str,
    session: &Session,
    q: MessagesQuery,
) -> Result<ListPage<MessageView>, ApiError> {
    let limit = paging::limit(q.limit)?;
    let rows = sessions::messages(core, tenant, session, &paging::page(limit, q.after)).await?;
    Ok(paging::list_page(
        rows,
        limit,
        |m| m.id.clone(),
        |m| MessageView::new(m, None),
    ))
}

/// Get a session, with a page of its messages.
///
/// Its messages are newest first, paged with `?limit=&after=`.
#[utoipa::path(get, path = "/v1/sessions/{id}",
    tag = "sessions",
    operation_id = "get_session",
    params(("id" = String, Path, description = "The session (`ses_…`)."), MessagesQuery),
    responses(
        (status = 200, description = "The session, with `messages`.", body = SessionView),
        BadRequest, NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<SessionView>, ApiError> {
    let s = sessions::get(&core, &auth.tenant_id, &id).await?;
    let mut v = SessionView::new(&s, core.now());
    v.messages = Some(messages_page(&core, &auth.tenant_id, &s, q).await?);
    Ok(Json(v))
}

/// List a session's messages, newest first.
#[utoipa::path(get, path = "/v1/sessions/{id}/messages",
    tag = "sessions",
    operation_id = "list_session_messages",
    params(("id" = String, Path, description = "The session (`ses_…`)."), MessagesQuery),
    responses(
        (status = 200, description = "A page of the session's messages.", body = ListPage<MessageView>),
        BadRequest, NotFound, TenantKey,
    )
)]
async fn messages(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<ListPage<MessageView>>, ApiError> {
    let s = sessions::get(&core, &auth.tenant_id, &id).await?;
    Ok(Json(messages_page(&core, &auth.tenant_id, &s, q).await?))
}

/// Close a session.
///
/// The next message to the contact (or from them) opens a new one.
#[utoipa::path(post, path = "/v1/sessions/{id}/close",
    tag = "sessions",
    operation_id = "close_session",
    params(("id" = String, Path, description = "The session (`ses_…`).")),
    responses(
        (status = 200, description = "The session, closed.", body = SessionView),
        NotFound, TenantKey,
    )
)]
async fn close(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let s = sessions::close(&core, &auth.tenant_id, &id).await?;
    Ok(Json(SessionView::new(&s, core.now())))
}

/// The Cloud API recipient field and value for a user: `to` for a number, `recipient` for a
/// BSUID.
fn key_fields(k: &ContactKey) -> (&'static str, String) {
    match k {
        ContactKey::WaId(w) => ("to", format!("+{w}")),
        ContactKey::UserId(u) => ("recipient", u.clone()),
    }
}

/// Parses a message body that names no recipient, addressed to `recipient`.
fn message_for(
    message: &Value,
    recipient: &ContactKey,
    channel: &Channel,
) -> Result<SendRequest, ApiError> {
    let mut obj: Map<String, Value> = match message {
        Value::Object(m) => m.clone(),
        _ => return Err(ApiError::bad_request("message must be a JSON object")),
    };
    for field in ["to", "recipient"] {
        if obj.contains_key(field) {
            return Err(ApiError::bad_request(format!(
                "message must not have {field}: it goes to the session's contact"
            )));
        }
    }
    let (field, value) = key_fields(recipient);
    obj.insert(field.to_string(), json!(value));
    let ctx = openbsp_wire::send::ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    SendRequest::parse_in(&Value::Object(obj), Surface::Native, &ctx)
        .map_err(|e| from_meta(&e).in_field("message"))
}

/// A message inside a session: a Cloud API message body without `to` or `recipient`.
#[derive(ToSchema)]
#[schema(example = json!({"type": "text", "text": {"body": "It ships today"}}))]
#[allow(dead_code)] // a description only: the handler reads it with the Cloud API's rules
struct SessionMessage {
    /// The message type (`text`, `image`, …, `template`; default `text`), its object under
    /// the type's name, as in `POST /v1/messages`.
    #[serde(rename = "type")]
    message_type: Option<String>,
    /// `{"body", "preview_url"?}` (and so on for each type: `image`, `template`, …).
    text: Option<JsonObject>,
    /// `{"name", "language": {"code"}, "components"?}`.
    template: Option<JsonObject>,
    /// `{"message_id"}`: the message this one replies to.
    context: Option<JsonObject>,
    /// The caller's own value, echoed on the message and in its events.
    biz_opaque_callback_data: Option<String>,
}

/// Reply inside a session.
///
/// The message goes to the session's contact on its channel. Refused when the session is
/// closed (409 `session_closed`) or its customer service window is (400 `window_closed`:
/// send a template).
#[utoipa::path(post, path = "/v1/sessions/{id}/messages",
    tag = "sessions",
    operation_id = "reply_in_session",
    params(("id" = String, Path, description = "The session (`ses_…`)."), IdempotencyKey),
    request_body = SessionMessage,
    responses(
        (status = 202, description = "Queued: the message as stored.", body = MessageView),
        (status = 200, description = "A retry under the same `Idempotency-Key`: the first message.", body = MessageView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
async fn reply(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let v = json_body(&body)?;
    let target = sessions::reply_target(&core, &auth.tenant_id, &id).await?;
    let req = message_for(&v, &target.recipient, &target.channel)?;
    let a = messages::send(
        &core,
        SendInput::new(&auth.tenant_id, &target.channel, &req, &body, key),
    )
    .await?;
    let status = if a.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(MessageView::new(&a.message, None))))
}

/// The contact a Session Start names: `{"wa_id" | "phone" | "user_id": …, "name"?}`.
fn contact_keys(
    v: &Value,
    channel: &Channel,
) -> Result<(ContactKey, Option<ContactKey>, Option<String>), ApiError> {
    let obj = v.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "contact is required: {\"wa_id\" | \"phone\" | \"user_id\": …, \"name\"?}",
        )
    })?;
    let field = |k: &str| -> Result<Option<&str>, ApiError> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::bad_request(format!(
                "contact.{k} must be a non-empty string"
            ))),
        }
    };
    for k in obj.keys() {
        if !["wa_id", "phone", "user_id", "name"].contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "contact.{k} is not a field: use wa_id, phone, user_id and name"
            )));
        }
    }
    let ctx = openbsp_wire::send::ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    let phone = match (field("wa_id")?, field("phone")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "contact: give wa_id or phone, not both",
            ));
        }
        (Some(p), None) | (None, Some(p)) => {
            Some(WaId::parse_in(p, &ctx).map_err(|e| from_meta(&e).in_field("contact"))?)
        }
        (None, None) => None,
    };
    let user = field("user_id")?
        .map(|u| Bsuid::parse(u).map_err(|e| from_meta(&e).in_field("contact")))
        .transpose()?;
    let name = match field("name")? {
        Some(n) if n.chars().count() > 256 => {
            return Err(ApiError::bad_request(
                "contact.name must be at most 256 characters",
            ));
        }
        n => n.map(|n| n.trim().to_string()),
    };
    match (phone, user) {
        (Some(w), u) => Ok((
            ContactKey::WaId(w.into_string()),
            u.map(|u| ContactKey::UserId(u.into_string())),
            name,
        )),
        (None, Some(u)) => Ok((ContactKey::UserId(u.into_string()), None, name)),
        (None, None) => Err(ApiError::bad_request(
            "contact needs one of wa_id, phone or user_id",
        )),
    }
}

/// Who a Session Start is with: one of `wa_id`, `phone` and `user_id` (a `wa_id` or `phone`
/// may come with the `user_id`).
#[derive(ToSchema)]
#[allow(dead_code)] // a description only: the handler reads it field by field
struct SessionContact {
    /// The user's WhatsApp number (digits, or with `+`).
    wa_id: Option<String>,
    /// The same, as a phone number (read as Meta reads `to`).
    phone: Option<String>,
    /// The user's business-scoped user id (BSUID).
    user_id: Option<String>,
    /// A name for a new contact (at most 256 characters).
    name: Option<String>,
}

/// A Session Start.
#[derive(ToSchema)]
#[schema(example = json!({"channel": "100200300", "contact": {"phone": "+15551230001", "name": "Ana"}, "message": {"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}}}, "variables": ["Ana", "A-1001"]}))]
#[allow(dead_code)] // a description only: the handler reads it field by field
struct SessionStart {
    /// The business number: phone number id or channel id.
    channel: String,
    /// Who with.
    contact: SessionContact,
    /// The first message: a Cloud API message body without `to` (a template when the
    /// contact's window is closed).
    message: SessionMessage,
    /// The template's body variables as a plain ordered list, filled into `message`.
    #[schema(nullable = false)]
    variables: Option<Vec<StringOrNumber>>,
}

/// Start a session (Session Start).
///
/// Resolves or creates the contact, opens a session (or joins the open one) and sends the
/// first message, all or nothing: 201 when this call opened the session, 200 when it joined
/// an open one (or is a retry under the same `Idempotency-Key`).
#[utoipa::path(post, path = "/v1/sessions",
    tag = "sessions",
    operation_id = "start_session",
    params(IdempotencyKey),
    request_body = SessionStart,
    responses(
        (status = 201, description = "The session was opened: the contact, the session and the first message.", body = SessionStartView),
        (status = 200, description = "An open session was joined (`session.reused`), or a retry.", body = SessionStartView),
        BadRequest, NotFound, Conflict, PayloadTooLarge, TenantKey,
    )
)]
async fn start(
    State(core): State<Core>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SessionStartView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let v = json_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    for k in obj.keys() {
        if !["channel", "contact", "message", "variables"].contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "{k} is not a field: Session Start takes channel, contact, message and variables"
            )));
        }
    }
    let channel = required_channel(&core, &auth.tenant_id, &v).await?;
    let (contact, also, name) = contact_keys(obj.get("contact").unwrap_or(&Value::Null), &channel)?;
    let message = obj.get("message").ok_or_else(|| {
        ApiError::bad_request("message is required: a Cloud API message body without to")
    })?;
    let filled;
    let message = match obj.get("variables") {
        None => message,
        Some(vars) => {
            let values = variables(vars).map_err(|e| e.in_field("variables"))?;
            filled = templates::fill_variables(&core, &channel, message, &values).await?;
            &filled
        }
    };
    // Validated before anything is stored.
    let req = message_for(message, &contact, &channel)?;
    let started = sessions::start(
        &core,
        StartInput {
            tenant_id: &auth.tenant_id,
            channel: &channel,
            contact,
            also,
            name,
            message: &req,
            raw_body: &body,
            idempotency_key: key,
        },
    )
    .await?;
    let status = if started.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(SessionStartView::new(&started, core.now()))))
}
