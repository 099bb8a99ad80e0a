//! Sessions (conversations): `/v1/sessions` list, get (with its messages), close, reply, and
//! Session Start (`POST /v1/sessions`: contact + session + first message in one call).

pub mod closer;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{
    Channel, Contact, ContactKey, EnqueueOutcome, Message, Page, Session, SessionFilter,
};
use openbsp_wire::SendRequest;
use openbsp_wire::send::{Surface, parse_bsuid};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::TenantAuth;
use crate::contacts;
use crate::error::ApiError;
use crate::messages::native::{
    accept_error, idempotency_key, json_body, parse_time, required_channel,
};
use crate::messages::service;
use crate::messages::view::message_json;
use crate::state::AppState;

/// The session routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(start).get(list))
        .route("/v1/sessions/{id}", get(get_one))
        .route("/v1/sessions/{id}/close", post(close))
        .route("/v1/sessions/{id}/messages", post(reply).get(messages))
}

pub use openbsp_store::views::{session_is_open as is_open, session_json};

async fn find_session(state: &AppState, tenant: &str, id: &str) -> Result<Session, ApiError> {
    state
        .store
        .get_session(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("session {id}")))
}

/// Query of `GET /v1/sessions`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    channel: Option<String>,
    contact: Option<String>,
    status: Option<String>,
    opened_after: Option<String>,
    opened_before: Option<String>,
}

/// `GET /v1/sessions`: newest first; filters `channel`, `contact`, `status=open|closed`,
/// `opened_after`, `opened_before`.
async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let channel_id = state
        .channel_filter(&auth.tenant_id, q.channel.as_deref())
        .await?;
    let contact_id = match &q.contact {
        Some(c) => Some(contacts::find(&state, &auth.tenant_id, c).await?.id),
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
        opened_from: q
            .opened_after
            .as_deref()
            .map(|s| parse_time("opened_after", s))
            .transpose()?,
        opened_to: q
            .opened_before
            .as_deref()
            .map(|s| parse_time("opened_before", s))
            .transpose()?,
    };
    let rows = state
        .store
        .list_sessions(
            &auth.tenant_id,
            &filter,
            &Page {
                limit: limit + 1,
                after: q.after,
            },
        )
        .await?;
    let now = state.now();
    Ok(Json(crate::paging::list_json(
        rows,
        limit,
        |s| s.id.clone(),
        |s| session_json(s, now),
    )))
}

/// Query of a session's messages.
#[derive(Debug, Deserialize)]
struct MessagesQuery {
    limit: Option<u32>,
    after: Option<String>,
}

async fn messages_page(
    state: &AppState,
    tenant: &str,
    session: &Session,
    q: &MessagesQuery,
) -> Result<Value, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let rows = state
        .store
        .list_messages(
            tenant,
            &openbsp_store::MessageFilter {
                session_id: Some(session.id.clone()),
                ..Default::default()
            },
            &Page {
                limit: limit + 1,
                after: q.after.clone(),
            },
        )
        .await?;
    Ok(crate::paging::list_json(
        rows,
        limit,
        |m| m.id.clone(),
        |m| message_json(m, None),
    ))
}

/// `GET /v1/sessions/{id}`: the session, its contact and its messages (newest first,
/// paginated with `?limit=&after=`).
async fn get_one(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<Value>, ApiError> {
    let s = find_session(&state, &auth.tenant_id, &id).await?;
    let mut v = session_json(&s, state.now());
    v["messages"] = messages_page(&state, &auth.tenant_id, &s, &q).await?;
    Ok(Json(v))
}

/// `GET /v1/sessions/{id}/messages`.
async fn messages(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<Value>, ApiError> {
    let s = find_session(&state, &auth.tenant_id, &id).await?;
    Ok(Json(messages_page(&state, &auth.tenant_id, &s, &q).await?))
}

/// `POST /v1/sessions/{id}/close`.
async fn close(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let s = state
        .store
        .close_session(&auth.tenant_id, &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("session {id}")))?;
    metrics::counter!("openbsp_sessions_closed_total", "reason" => "closed").increment(1);
    Ok(Json(session_json(&s, now)))
}

/// The recipient fields for a contact: its `wa_id`, else its BSUID.
fn recipient_fields(c: &Contact) -> Result<(&'static str, String), ApiError> {
    match (&c.wa_id, &c.user_id) {
        (Some(w), _) => Ok(key_fields(&ContactKey::WaId(w.clone()))),
        (None, Some(u)) => Ok(key_fields(&ContactKey::UserId(u.clone()))),
        (None, None) => Err(ApiError::internal(format!(
            "contact {} has neither wa_id nor user_id",
            c.id
        ))),
    }
}

/// The Cloud API recipient field and value for a user: `to` for a number, `recipient` for a
/// BSUID.
fn key_fields(k: &ContactKey) -> (&'static str, String) {
    match k {
        ContactKey::WaId(w) => ("to", format!("+{w}")),
        ContactKey::UserId(u) => ("recipient", u.clone()),
    }
}

/// Parses a message body that names no recipient, addressed to `recipient` (a field and its
/// value, from [`key_fields`]).
fn message_for(
    message: &Value,
    recipient: (&'static str, String),
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
    let (field, value) = recipient;
    obj.insert(field.to_string(), json!(value));
    let ctx = openbsp_wire::send::ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    SendRequest::parse_in(&Value::Object(obj), Surface::Native, &ctx)
        .map_err(|e| ApiError::from_meta(&e).in_field("message"))
}

/// `POST /v1/sessions/{id}/messages`: a reply inside the session; refused when the session
/// is closed (`session_closed`) or its customer service window is (`window_closed`).
async fn reply(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?;
    let v = json_body(&body)?;
    let s = find_session(&state, &auth.tenant_id, &id).await?;
    let now = state.now();
    if !is_open(&s, now) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "session_closed",
            format!(
                "session {id} is closed; start a new one with POST /v1/sessions or send a template"
            ),
        ));
    }
    let channel = state
        .tenant_channel(&auth.tenant_id, &s.channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("channel {}", s.channel_id)))?;
    let contact = state
        .store
        .get_contact(&auth.tenant_id, &s.contact_id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("contact {}", s.contact_id)))?;
    let req = message_for(&v, recipient_fields(&contact)?, &channel)?;
    let outcome = service::accept(&state, &auth.tenant_id, &channel, &req, &body, key)
        .await
        .map_err(accept_error)?;
    match outcome {
        EnqueueOutcome::Created(m) => Ok((StatusCode::ACCEPTED, Json(message_json(&m, None)))),
        EnqueueOutcome::Existing(m) => Ok((StatusCode::OK, Json(message_json(&m, None)))),
        EnqueueOutcome::KeyReused(m) => Err(key_reused(&m)),
    }
}

fn key_reused(m: &Message) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        format!(
            "this Idempotency-Key was used for a different request (message {})",
            m.id
        ),
    )
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
        (Some(p), None) | (None, Some(p)) => Some(
            openbsp_wire::send::normalize_phone_in(p, &ctx)
                .map_err(|e| ApiError::from_meta(&e).in_field("contact"))?,
        ),
        (None, None) => None,
    };
    let user = field("user_id")?
        .map(|u| parse_bsuid(u).map_err(|e| ApiError::from_meta(&e).in_field("contact")))
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
        (Some(w), u) => Ok((ContactKey::WaId(w), u.map(ContactKey::UserId), name)),
        (None, Some(u)) => Ok((ContactKey::UserId(u), None, name)),
        (None, None) => Err(ApiError::bad_request(
            "contact needs one of wa_id, phone or user_id",
        )),
    }
}

/// A template message whose body variables come as a plain ordered list (the seeds'
/// `campaignVariables`): the stored template says how many and, for named templates, which.
async fn with_variables(
    state: &AppState,
    channel: &Channel,
    message: &Value,
    vars: &Value,
) -> Result<Value, ApiError> {
    let values = crate::templates::variables(vars).map_err(|e| e.in_field("variables"))?;
    let object = message
        .get("template")
        .filter(|_| message.get("type").and_then(Value::as_str) == Some("template"))
        .ok_or_else(|| {
            ApiError::bad_request("variables fill a template: message must be {\"type\": \"template\", \"template\": {\"name\", \"language\"}}")
        })?;
    if object
        .get("components")
        .is_some_and(|c| c.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(ApiError::bad_request(
            "give either variables or message.template.components, not both",
        ));
    }
    let name = object.get("name").and_then(Value::as_str).unwrap_or("");
    let language = object
        .pointer("/language/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let service = crate::templates::service::find_for_send(state, channel, name, language)
        .await
        .map_err(|e| e.to_api())?;
    let Some(t) = service else {
        // Unknown: the send check says so, in Meta's words.
        let e = crate::templates::service::check_send(state, channel, object)
            .await
            .err()
            .map(|e| e.to_api())
            .unwrap_or_else(|| ApiError::not_found(&format!("template {name}")));
        return Err(e);
    };
    let def = crate::templates::service::definition(&t).map_err(|e| e.to_api())?;
    let components = openbsp_wire::template::components_from_values(&def, &values)
        .map_err(|e| crate::templates::service::rule_error(&e))?;
    let mut message = message.clone();
    message["template"]["components"] = components;
    Ok(message)
}

/// `POST /v1/sessions` — Session Start: resolve or create the contact, open or reuse its
/// session on the channel, and send the first message (a template when the window is closed;
/// anything when it is open), answering `{contact, session, message}`. Idempotent under
/// `Idempotency-Key`: a retry returns the first answer and does nothing else.
async fn start(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let channel = required_channel(&state, &auth.tenant_id, &v).await?;
    let (ckey, also, name) = contact_keys(obj.get("contact").unwrap_or(&Value::Null), &channel)?;
    let message = obj.get("message").ok_or_else(|| {
        ApiError::bad_request("message is required: a Cloud API message body without to")
    })?;
    let filled;
    let message = match obj.get("variables") {
        None => message,
        Some(vars) => {
            filled = with_variables(&state, &channel, message, vars).await?;
            &filled
        }
    };
    // Validated before anything is stored.
    let req = message_for(message, key_fields(&ckey), &channel)?;
    let now = state.now();
    // The policy decides before anything is stored: a refused start creates nothing.
    let conversation = state
        .store
        .conversation(&auth.tenant_id, &channel.id, &ckey)
        .await?;
    let (plan, template) = if service::is_replay(&state, &auth.tenant_id, &req.body, key.as_deref())
        .await
        .map_err(accept_error)?
    {
        // A retry: the store answers with the first message before any check.
        let plan = openbsp_store::policy::SendPlan {
            session: openbsp_store::SessionSpec {
                kind: None,
                opened_by: "session_start".into(),
                expires_at: now + openbsp_domain::windows::CSW_MS,
            },
            open_fep_until: None,
        };
        (plan, None)
    } else {
        service::plan_send(
            &state,
            &channel,
            &conversation,
            &req.body,
            "session_start",
            now,
        )
        .await
        .map_err(accept_error)?
    };
    let (contact, _) = state
        .store
        .upsert_contact(&auth.tenant_id, &ckey, also.as_ref(), name.as_deref(), now)
        .await?;
    let id = new_id_at(prefix::MESSAGE, now);
    let outcome = service::accept_planned(
        &state,
        service::Accept {
            id,
            tenant_id: &auth.tenant_id,
            channel: &channel,
            req: &req,
            raw_body: &body,
            idempotency_key: key,
            now,
        },
        plan,
        template,
    )
    .await
    .map_err(accept_error)?;
    let (message, replay) = match outcome {
        EnqueueOutcome::Created(m) => (m, false),
        EnqueueOutcome::Existing(m) => (m, true),
        EnqueueOutcome::KeyReused(m) => return Err(key_reused(&m)),
    };
    let session_id = message
        .session_id
        .clone()
        .ok_or_else(|| ApiError::internal(format!("message {} has no session", message.id)))?;
    let session = find_session(&state, &auth.tenant_id, &session_id).await?;
    let reused = replay
        || conversation
            .open_session
            .as_ref()
            .is_some_and(|s| s.id == session.id);
    if !reused {
        state.session_wake.notify_one();
        metrics::counter!("openbsp_sessions_opened_total", "by" => "session_start").increment(1);
    }
    // The contact as it is now (a retry may find it renamed or merged).
    let contact = match &message.contact_id {
        Some(cid) => state
            .store
            .get_contact(&auth.tenant_id, cid)
            .await?
            .unwrap_or(contact),
        None => contact,
    };
    let mut session_v = session_json(&session, state.now());
    session_v["reused"] = json!(reused);
    // 201 when this call opened the session; 200 when it joined one (or is a replay).
    let status = if reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({
            "contact": contacts::with_windows(&state, &contact).await?,
            "session": session_v,
            "message": message_json(&message, None),
        })),
    ))
}
