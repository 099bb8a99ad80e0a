//! `POST /{version}/{phone_number_id}/messages`: Meta's request, Meta's answer, Meta's errors.
//! The send is queued like any other, then the call waits (bounded) for Meta's acceptance so
//! the client gets Meta's own `wamid`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::EnqueueOutcome;
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use openbsp_wire::{MetaError, Recipient, SendRequest};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::native::idempotency_key;
use super::service::{self, AcceptError};
use crate::auth;
use crate::error::{GraphError, unknown_object};
use crate::provision::is_graph_version;
use crate::state::{AppState, SendOutcome};

/// Authenticates a Graph-surface request: a tenant's API key as the bearer token, else 190.
pub async fn graph_tenant(state: &AppState, headers: &HeaderMap) -> Result<String, GraphError> {
    let token = auth::bearer(headers).ok_or_else(MetaError::access_token)?;
    let key = auth::lookup(state, token)
        .await
        .map_err(|_| MetaError::new(openbsp_wire::error::codes::UNKNOWN, None))?
        .ok_or_else(MetaError::access_token)?;
    key.tenant_id
        .ok_or_else(|| MetaError::access_token().into())
}

/// Checks the `{version}` path segment like the Graph API.
pub fn check_version(version: &str) -> Result<(), GraphError> {
    if is_graph_version(version) {
        Ok(())
    } else {
        Err(MetaError::invalid_parameter(format!("Unknown path components: /{version}")).into())
    }
}

/// The send.
pub async fn send(
    State(state): State<AppState>,
    Path((version, pnid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    check_version(&version)?;
    let tenant_id = graph_tenant(&state, &headers).await?;
    let channel = state
        .tenant_channel(&tenant_id, &pnid)
        .await
        .map_err(|_| MetaError::new(openbsp_wire::error::codes::UNKNOWN, None))?
        .ok_or_else(|| unknown_object(&pnid))?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| {
        MetaError::invalid_parameter("The request body could not be parsed as JSON.")
    })?;
    let ctx = ParseContext {
        business_phone: Some(channel.display_phone_number.clone()),
    };
    let req = match parse_outgoing_in(&v, Surface::Graph, &ctx)? {
        Outgoing::Message(req) => req,
        Outgoing::Read(receipt) => {
            service::mark_read(&state, &tenant_id, &channel, &receipt)
                .await
                .map_err(graph_accept_error)?;
            return Ok(Json(json!({ "success": true })));
        }
    };
    let key = idempotency_key(&headers).map_err(|e| MetaError::invalid_parameter(e.message))?;

    let now = state.now();
    let id = new_id_at(prefix::MESSAGE, now);
    let (tx, rx) = oneshot::channel();
    state.waiters.lock().insert(id.clone(), tx);
    let outcome = service::accept_with_id(
        &state,
        service::Accept {
            id: id.clone(),
            tenant_id: &tenant_id,
            channel: &channel,
            req: &req,
            raw_body: &body,
            idempotency_key: key,
            now,
        },
    )
    .await;
    let message = match outcome {
        Ok(EnqueueOutcome::Created(m)) => m,
        Ok(EnqueueOutcome::Existing(m)) => {
            state.waiters.lock().remove(&id);
            return Ok(Json(answer(
                &req,
                m.wamid.as_deref().unwrap_or(&m.id),
                m.wamid.is_none(),
            )));
        }
        Ok(EnqueueOutcome::KeyReused(_)) => {
            state.waiters.lock().remove(&id);
            return Err(MetaError::invalid_parameter(
                "This Idempotency-Key was already used for a different request.",
            )
            .into());
        }
        Err(e) => {
            state.waiters.lock().remove(&id);
            return Err(graph_accept_error(e));
        }
    };
    match tokio::time::timeout(state.config.cloud_api_wait, rx).await {
        Ok(Ok(SendOutcome::Accepted(wamid))) => Ok(Json(answer(&req, &wamid, false))),
        Ok(Ok(SendOutcome::Failed(err))) => Err(serde_json::from_value::<MetaError>(err)
            .unwrap_or_else(|_| MetaError::new(openbsp_wire::error::codes::SEND_FAILURE, None))
            .into()),
        _ => {
            state.waiters.lock().remove(&message.id);
            Ok(Json(answer(&req, &message.id, true)))
        }
    }
}

/// Meta's error for a send that was not queued.
fn graph_accept_error(e: AcceptError) -> GraphError {
    match e {
        AcceptError::Meta(m) => m.into(),
        AcceptError::ContextNotSent(c) => MetaError::invalid_value(format!(
            "Param message_id refers to {c}, which has no wamid yet."
        ))
        .into(),
        AcceptError::Template(t) => t.to_graph(),
        AcceptError::Store(s) => s.into(),
    }
}

/// Meta's answer to a send.
fn answer(req: &SendRequest, id: &str, queued: bool) -> Value {
    let contact = match &req.recipient {
        Recipient::WaId(w) => json!({"input": req.input, "wa_id": w}),
        Recipient::UserId(u) => json!({"input": req.input, "user_id": u}),
    };
    let mut msg = json!({ "id": id });
    if queued {
        msg["message_status"] = json!("queued");
    }
    json!({ "messaging_product": "whatsapp", "contacts": [contact], "messages": [msg] })
}
