//! `POST /v1/ext/plugin/whatsapp/{pluginId}/api/{version}/{phoneNumberId}/messages`: ChakraHQ's
//! WhatsApp Messages API, a pass-through of a Cloud API send body (session messages, Meta-format
//! templates, and a mark-as-read). The body is parsed with Meta's rules (`openbsp_wire`) and
//! sent through the same core call as the Cloud-API-compatible surface, waiting (bounded) for
//! Meta's acceptance so that WhatsApp's refusals come back in the answer. The answer is
//! ChakraHQ's: `{"_data": {"whatsappMessageId": "wamid.…"}, "_meta", "_errors": []}`; when
//! the wait runs out with the message still queued (pacing, retries), `whatsappMessageId` is
//! the gateway's id of it (`msg_…`), which `GET /v1/messages/{id}` follows to its `wamid`.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawPathParams, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use openbsp_store::Channel;
use openbsp_wire::SendRequest;
use openbsp_wire::json::Unreadable;
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use serde_json::{Value, json};

use super::auth::{ChakraTenant, check_version, plugin_channel};
use super::error::ChakraError;
use super::ok;
use crate::core::Core;
use crate::core::messages::{self, Awaited, SendInput};
use crate::http::body::idempotency_key;

/// A path parameter's value; empty when the route has none of that name (the route for an
/// empty `phoneNumberId`).
pub fn param(params: &RawPathParams, name: &str) -> String {
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// The body as JSON, or Meta's 100 (nothing is sent).
pub fn body_json(body: Result<Bytes, BytesRejection>) -> Result<(Bytes, Value), ChakraError> {
    let body = body.map_err(|e| {
        ChakraError::unreadable(
            e.status(),
            format!("The request body could not be read: {e}"),
        )
    })?;
    let v = openbsp_wire::json::read(&body).map_err(|e| {
        ChakraError::invalid(match e {
            Unreadable::Syntax(_) => "The request body could not be parsed as JSON.",
            Unreadable::Nul => "The request body's strings must not contain NUL (\\u0000).",
        })
    })?;
    Ok((body, v))
}

/// Sends one message (or marks one read).
pub async fn send(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    params: RawPathParams,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ChakraError> {
    check_version(&param(&params, "version"))?;
    let channel = plugin_channel(
        &core,
        &tenant_id,
        &param(&params, "pluginId"),
        &param(&params, "phoneNumberId"),
    )
    .await?;
    let (raw, v) = body_json(body)?;
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
    let req = match parse_outgoing_in(&v, Surface::Graph, &ctx)? {
        Outgoing::Message(req) => req,
        Outgoing::Read(receipt) => {
            messages::mark_read(&core, &tenant_id, &channel, &receipt).await?;
            return Ok(ok(json!({"success": true})));
        }
    };
    let id = deliver(&core, &tenant_id, &channel, &req, &raw, &headers).await?;
    Ok(ok(json!({ "whatsappMessageId": id })))
}

/// Sends a parsed Cloud API request through the core; the `whatsappMessageId` to answer:
/// Meta's `wamid`, or the gateway's id while the message is still queued.
pub async fn deliver(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    req: &SendRequest,
    raw: &[u8],
    headers: &HeaderMap,
) -> Result<String, ChakraError> {
    let key = idempotency_key(headers).map_err(|e| ChakraError::invalid(e.message))?;
    let input = SendInput::new(tenant_id, channel, req, raw, key);
    Ok(
        match messages::send_awaiting(core, input, core.config.cloud_api_wait).await? {
            Awaited::Sent { wamid, .. } => wamid,
            Awaited::Queued(m) => m.id,
            Awaited::Replayed(m) => m.wamid.unwrap_or(m.id),
        },
    )
}
