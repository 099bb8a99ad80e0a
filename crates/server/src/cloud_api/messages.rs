//! `POST /{version}/{phone_number_id}/messages`: Meta's request, Meta's answer, Meta's errors.
//! The send is queued like any other, then the call waits (bounded) for Meta's acceptance so
//! the client gets Meta's own `wamid`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use bytes::Bytes;
use openbsp_wire::json::Unreadable;
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use openbsp_wire::{MetaError, Recipient, SendRequest};
use serde_json::{Value, json};

use crate::core::Core;
use crate::core::messages::{self, Awaited, SendInput};
use crate::http::auth::GraphChannel;
use crate::http::body::idempotency_key;
use crate::http::error::GraphError;

/// A request body, read as Meta reads one: not JSON is Meta's 100 "could not be parsed";
/// NUL in a string too ([`openbsp_wire::json`]: no text the gateway keeps has one).
pub fn read_body(body: &[u8]) -> Result<Value, GraphError> {
    openbsp_wire::json::read(body).map_err(|e| {
        GraphError::from(MetaError::invalid_parameter(match e {
            Unreadable::Syntax(_) => "The request body could not be parsed as JSON.",
            Unreadable::Nul => "The request body's strings must not contain NUL (\\u0000).",
        }))
    })
}

/// The send (or a mark-as-read).
pub async fn send(
    State(core): State<Core>,
    GraphChannel { tenant_id, channel }: GraphChannel,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    let v = read_body(&body)?;
    let ctx = ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    let req = match parse_outgoing_in(&v, Surface::Graph, &ctx)? {
        Outgoing::Message(req) => req,
        Outgoing::Read(receipt) => {
            messages::mark_read(&core, &tenant_id, &channel, &receipt).await?;
            return Ok(Json(json!({ "success": true })));
        }
    };
    let key = idempotency_key(&headers).map_err(|e| MetaError::invalid_parameter(e.message))?;
    let input = SendInput::new(&tenant_id, &channel, &req, &body, key);
    let answer_of = match messages::send_awaiting(&core, input, core.config.cloud_api_wait).await? {
        Awaited::Sent {
            wamid,
            message_status,
            ..
        } => answer(&req, &wamid, message_status.as_deref()),
        Awaited::Queued(m) => answer(&req, &m.id, Some("queued")),
        Awaited::Replayed(m) => answer(
            &req,
            m.wamid.as_deref().unwrap_or(&m.id),
            m.wamid.is_none().then_some("queued"),
        ),
    };
    Ok(Json(answer_of))
}

/// Meta's answer to a send: `message_status` as Meta's (`held_for_quality_assessment` for a
/// paced template's held send), or `queued` while the gateway still holds it.
fn answer(req: &SendRequest, id: &str, message_status: Option<&str>) -> Value {
    let contact = match &req.recipient {
        Recipient::WaId(w) => json!({"input": req.input, "wa_id": w}),
        Recipient::UserId(u) => json!({"input": req.input, "user_id": u}),
    };
    let mut msg = json!({ "id": id });
    if let Some(status) = message_status {
        msg["message_status"] = json!(status);
    }
    json!({ "messaging_product": "whatsapp", "contacts": [contact], "messages": [msg] })
}
