//! `POST …/simpleMessages` (session messages) and `POST …/messages` (templates, and any other
//! Cloud API message: Pingtochat's own example posts a text there). Both take a Cloud API send
//! body verbatim (plus `bulk_id` on either: template sends with one `bulk_id` are grouped as
//! one campaign, DESIGN §2.8; any other kind with a `bulk_id` is refused), parse it with Meta's
//! rules (`openbsp_wire`) and
//! send it through the same core call as the Cloud-API-compatible surface, waiting (bounded)
//! for Meta's acceptance so that WhatsApp's refusals come back in the answer. The answer is
//! Pingtochat's (`vendors.md` §2.2):
//! `{"messaging_product", "contacts": [{"input", "wa_id", "status_id"}], "messages": [{"id",
//! "message_status"}]}`, where `id` is the gateway's message id (`msg_…`) and `status_id` is
//! that id in base64, the handle of the message's status record as Pingtochat's is of theirs.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use base64::Engine as _;
use bytes::Bytes;
use openbsp_wire::send::{ParseContext, Surface};
use openbsp_wire::{Recipient, SendRequest};
use serde_json::{Value, json};

use super::auth::PingtochatChannel;
use super::error::{PingtochatError, body_json};
use crate::core::Core;
use crate::core::messages::{self, Awaited, SendInput};
use crate::http::body::idempotency_key;

/// Longest `bulk_id` taken.
pub const BULK_ID_MAX: usize = 128;

/// Meta's `message_status` for a send it accepted and delivers as usual.
pub const ACCEPTED: &str = "accepted";

/// Sends one message; answers in Pingtochat's shape.
pub async fn send(
    State(core): State<Core>,
    PingtochatChannel { tenant_id, channel }: PingtochatChannel,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, PingtochatError> {
    let (body, v) = body_json(body)?;
    let bulk_id = bulk_id(&v)?;
    if !names_recipient(&v) {
        return Err(PingtochatError::recipient_required());
    }
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
    let req = SendRequest::parse_in(&v, Surface::Graph, &ctx)?;
    let key = idempotency_key(&headers).map_err(|e| PingtochatError::invalid(e.message))?;
    let mut input = SendInput::new(&tenant_id, &channel, &req, &body, key);
    // Sends with one `bulk_id` are one campaign (named by it) in `/v1/campaigns`; only
    // template sends are grouped (the core refuses any other kind with a `bulk_id`).
    input.campaign = bulk_id;
    let (id, status) =
        match messages::send_awaiting(&core, input, core.config.cloud_api_wait).await? {
            Awaited::Sent {
                id, message_status, ..
            } => (id, message_status),
            Awaited::Queued(m) | Awaited::Replayed(m) => (m.id, None),
        };
    Ok(Json(answer(
        &req,
        &id,
        status.as_deref().unwrap_or(ACCEPTED),
    )))
}

/// The optional `bulk_id`: a string or a number, 1 to [`BULK_ID_MAX`] characters.
pub fn bulk_id(v: &Value) -> Result<Option<String>, PingtochatError> {
    let id = match v.get("bulk_id") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(PingtochatError::invalid(
                "Param bulk_id must be a string or a number.",
            ));
        }
    };
    if id.is_empty() || id.chars().count() > BULK_ID_MAX {
        return Err(PingtochatError::invalid(format!(
            "Param bulk_id must be 1 to {BULK_ID_MAX} characters."
        )));
    }
    Ok(Some(id))
}

/// Whether the body names a recipient (`to`, or a BSUID in `recipient`).
fn names_recipient(v: &Value) -> bool {
    ["to", "recipient"].iter().any(|k| match v.get(*k) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    })
}

/// `status_id`: the message's gateway id in standard base64 (Pingtochat's look like
/// `ODIxMTE=`). Decoded, it is the id `GET /v1/messages/{id}` shows with its statuses.
pub fn status_id(message_id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(message_id)
}

/// Pingtochat's answer to a send.
fn answer(req: &SendRequest, id: &str, message_status: &str) -> Value {
    let mut contact = json!({"input": req.input, "status_id": status_id(id)});
    match &req.recipient {
        Recipient::WaId(w) => contact["wa_id"] = json!(w),
        Recipient::UserId(u) => contact["user_id"] = json!(u),
    }
    json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": id, "message_status": message_status}],
    })
}
