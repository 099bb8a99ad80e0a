//! Talqui's Session Start (DESIGN §2.7, `reference/vendors.md` §1, `docs/migrating.md`):
//! `POST /tenants/{tenantID}/sessions` with `Authorization: PluginConnection <API key>`, the
//! body exactly as Talqui's clients send it, answered `{contact, session, message}` in
//! Talqui's field style, errors in this surface's envelope (`error.rs`).
//!
//! It parses Talqui's shape into the core's Session Start (`core::sessions::start`, the same
//! call as `POST /v1/sessions`): the number from `pluginConnectionID`, the contact from
//! `contactExternalID` and `contactFullName`, the first message from `campaignModelID` (a
//! template, its body filled with `campaignVariables`, `messageValue` kept as its label in
//! `biz_opaque_callback_data`) or, without a model, `messageValue` as text. It must never
//! decide what WhatsApp allows: the window (131047), opt-outs, the template's state and
//! parameters are the core's, whose refusals are only re-worded here.

mod auth;
pub mod error;
mod model;
mod request;
mod view;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_store::{Channel, ContactKey};
use openbsp_wire::SendRequest;
use openbsp_wire::ids::{Bsuid, WaId};
use openbsp_wire::send::{ParseContext, Surface};
use serde_json::{Value, json};

use self::auth::PluginConnection;
use self::error::TalquiError;
use self::request::StartIn;
use self::view::StartOut;
use crate::core::sessions::{self, StartInput};
use crate::core::{Core, templates};
use crate::http::body::idempotency_key;

/// The Talqui routes.
pub fn routes() -> Router<Core> {
    Router::new().route("/tenants/{tenantID}/sessions", post(start))
}

/// The parse context of sends from `channel` (a number in its national notation).
fn context(channel: &Channel) -> ParseContext {
    ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    }
}

/// `contactExternalID`: a phone number (`55<DDD><NUMBER>`), or a BSUID.
fn contact_key(given: &str, channel: &Channel) -> Result<ContactKey, TalquiError> {
    match WaId::parse_in(given, &context(channel)) {
        Ok(w) => Ok(ContactKey::WaId(w.into_string())),
        Err(e) => match Bsuid::parse(given) {
            Ok(u) => Ok(ContactKey::UserId(u.into_string())),
            Err(_) => Err(TalquiError::meta_in("contactExternalID", &e)),
        },
    }
}

/// The first message as a Cloud API body (without its recipient): the model, or the text.
async fn first_message(
    core: &Core,
    channel: &Channel,
    req: &StartIn,
) -> Result<Value, TalquiError> {
    let Some(given) = &req.campaign_model_id else {
        let text = req.message_value.clone().unwrap_or_default();
        return Ok(json!({"type": "text", "text": {"body": text}}));
    };
    let t = model::resolve(core, channel, given).await?;
    let mut message = json!({"type": "template",
        "template": {"name": t.name, "language": {"code": t.language}}});
    if let Some(label) = &req.message_value {
        message["biz_opaque_callback_data"] = json!(label);
    }
    if req.campaign_variables.is_empty() {
        return Ok(message);
    }
    Ok(templates::fill_variables(core, channel, &message, &req.campaign_variables).await?)
}

/// Parses the first message, addressed to `to`, with the Cloud API's rules.
fn addressed(
    message: Value,
    to: &ContactKey,
    channel: &Channel,
) -> Result<SendRequest, TalquiError> {
    let mut message = message;
    match to {
        ContactKey::WaId(w) => message["to"] = json!(format!("+{w}")),
        ContactKey::UserId(u) => message["recipient"] = json!(u),
    }
    // The label is checked as Meta checks `biz_opaque_callback_data`; say which field it is.
    let field = if message.get("biz_opaque_callback_data").is_some() {
        "messageValue"
    } else {
        "message"
    };
    SendRequest::parse_in(&message, Surface::Native, &context(channel))
        .map_err(|e| TalquiError::meta_in(field, &e))
}

/// `POST /tenants/{tenantID}/sessions` — Talqui's Session Start: 201 when the call opened the
/// session, 200 when it joined the contact's open one (or is a retry under the same
/// `Idempotency-Key`).
async fn start(
    State(core): State<Core>,
    auth: PluginConnection,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<StartOut>), TalquiError> {
    let key = idempotency_key(&headers)
        .map_err(|e| TalquiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.message))?;
    let req = request::parse(&body)?;
    let channel = core
        .require_channel(&auth.tenant_id, &req.plugin_connection_id)
        .await?;
    let contact = contact_key(&req.contact_external_id, &channel)?;
    let message = first_message(&core, &channel, &req).await?;
    // Validated before anything is stored.
    let message = addressed(message, &contact, &channel)?;
    let started = sessions::start(
        &core,
        StartInput {
            tenant_id: &auth.tenant_id,
            channel: &channel,
            contact,
            also: None,
            name: req.contact_full_name.clone(),
            message: &message,
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
    Ok((status, Json(StartOut::new(&started, &req, core.now()))))
}
