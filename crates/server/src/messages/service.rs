//! Accepting an outbound message: validated request in, durably queued message out.

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{Channel, ContactKey, EnqueueOutcome, Message, NewOutbound};
use openbsp_wire::{MessageBody, MetaError, Recipient, SendRequest};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Priority of a send in its channel's queue (lower first): replies in a session, then
/// transactional sends, then campaign traffic.
pub mod priority {
    /// A direct send through the API.
    pub const DIRECT: i32 = 10;
}

/// Why a send was not queued.
#[derive(Debug)]
pub enum AcceptError {
    /// Meta would refuse it.
    Meta(MetaError),
    /// `context.message_id` names a message the gateway has but that has no `wamid` yet.
    ContextNotSent(String),
    /// The store failed.
    Store(openbsp_store::StoreError),
}

impl From<openbsp_store::StoreError> for AcceptError {
    fn from(e: openbsp_store::StoreError) -> Self {
        AcceptError::Store(e)
    }
}

/// Meta's `wamid` for a message reference: a gateway id is looked up (within the tenant), a
/// `wamid` is passed through.
async fn resolve_wamid(
    state: &AppState,
    tenant_id: &str,
    reference: &str,
    field: &str,
) -> Result<String, AcceptError> {
    if !reference.starts_with("msg_") {
        return Ok(reference.to_string());
    }
    let m = state
        .store
        .get_message(tenant_id, reference)
        .await?
        .ok_or_else(|| {
            AcceptError::Meta(MetaError::invalid_value(format!(
                "Param {field} names no message: {reference}"
            )))
        })?;
    m.wamid
        .ok_or_else(|| AcceptError::ContextNotSent(reference.to_string()))
}

/// Validates nothing more (the request is already parsed), resolves the reply context, and
/// queues the message with its outbox row in one durable transaction.
pub async fn accept(
    state: &AppState,
    tenant_id: &str,
    channel: &Channel,
    req: &SendRequest,
    raw_body: &[u8],
    idempotency_key: Option<String>,
) -> Result<EnqueueOutcome, AcceptError> {
    let now = state.now();
    let id = new_id_at(prefix::MESSAGE, now);
    accept_with_id(
        state,
        id,
        tenant_id,
        channel,
        req,
        raw_body,
        idempotency_key,
        now,
    )
    .await
}

/// [`accept`] with a chosen message id (so a waiter can be registered first).
#[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
pub async fn accept_with_id(
    state: &AppState,
    id: String,
    tenant_id: &str,
    channel: &Channel,
    req: &SendRequest,
    raw_body: &[u8],
    idempotency_key: Option<String>,
    now: i64,
) -> Result<EnqueueOutcome, AcceptError> {
    let context_wamid = match &req.context_message_id {
        None => None,
        Some(ctx) => Some(resolve_wamid(state, tenant_id, ctx, "context['message_id']").await?),
    };
    // A reaction names its message like a reply does: a gateway id becomes Meta's wamid.
    let resolved;
    let req = match &req.body {
        MessageBody::Reaction { message_id, emoji } if message_id.starts_with("msg_") => {
            let mut r = req.clone();
            r.body = MessageBody::Reaction {
                message_id: resolve_wamid(state, tenant_id, message_id, "reaction['message_id']")
                    .await?,
                emoji: emoji.clone(),
            };
            resolved = r;
            &resolved
        }
        _ => req,
    };
    let payload = req.to_graph_body(context_wamid.as_deref(), Some(&id));
    let contact = match &req.recipient {
        Recipient::WaId(w) => ContactKey::WaId(w.clone()),
        Recipient::UserId(u) => ContactKey::UserId(u.clone()),
    };
    let message = Message {
        id,
        tenant_id: tenant_id.to_string(),
        channel_id: channel.id.clone(),
        contact_id: None,
        direction: openbsp_store::Direction::Outbound,
        recipient: req.recipient.as_str().to_string(),
        msg_type: req.body.type_name().to_string(),
        content: req.content_json(),
        wamid: None,
        status: MessageStatus::Queued,
        error: None,
        biz_opaque_callback_data: req.biz_opaque_callback_data.clone(),
        context_message_id: req.context_message_id.clone(),
        idempotency_key,
        created_at: now,
        updated_at: now,
    };
    let outcome = state
        .store
        .enqueue_outbound(NewOutbound {
            message,
            request_hash: hex::encode(Sha256::digest(raw_body)),
            contact,
            payload,
            priority: priority::DIRECT,
        })
        .await?;
    if matches!(outcome, EnqueueOutcome::Created(_)) {
        metrics::counter!("openbsp_messages_accepted_total").increment(1);
        state.sender_wake.notify_one();
    }
    Ok(outcome)
}
