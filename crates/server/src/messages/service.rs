//! Accepting an outbound message: validated request in, durably queued message out.

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::{self, Refusal, SendKind};
use openbsp_store::policy::SendCheck;
use openbsp_store::{
    Channel, ContactKey, Conversation, EnqueueOutcome, Message, NewOutbound, SessionSpec,
};
use openbsp_wire::error::codes;
use openbsp_wire::{MessageBody, MetaError, Recipient, SendRequest};
use sha2::{Digest, Sha256};

use crate::state::AppState;
use crate::templates::service::{TemplateUse, TplError};

/// Priority of a send in its channel's queue (lower first): replies in a session, then
/// transactional sends, then campaign traffic.
pub mod priority {
    /// A direct send through the API.
    pub const DIRECT: i32 = 10;
}

/// Why a send was not queued.
#[derive(Debug)]
pub enum AcceptError {
    /// Meta would refuse it (including the window and opt-out refusals, 131047 and 131050).
    Meta(MetaError),
    /// `context.message_id` names a message the gateway has but that has no `wamid` yet.
    ContextNotSent(String),
    /// The template is unusable or its parameters do not fit it.
    Template(TplError),
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
    let a = Accept {
        id: new_id_at(prefix::MESSAGE, now),
        tenant_id,
        channel,
        req,
        raw_body,
        idempotency_key,
        now,
    };
    accept_with_id(state, a).await
}

/// One send to accept: who, what, and under which id.
pub struct Accept<'a> {
    /// The message id (chosen first, so a waiter can be registered).
    pub id: String,
    /// The tenant.
    pub tenant_id: &'a str,
    /// The channel it goes out on.
    pub channel: &'a Channel,
    /// The validated request.
    pub req: &'a SendRequest,
    /// The request body as received (its hash tells a retry from a reuse of the key).
    pub raw_body: &'a [u8],
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// Now.
    pub now: i64,
}

/// [`accept`] with a chosen message id (so a waiter can be registered first). The policy
/// (windows, opt-out) is applied by the store in the same transaction as the enqueue.
pub async fn accept_with_id(
    state: &AppState,
    a: Accept<'_>,
) -> Result<EnqueueOutcome, AcceptError> {
    let (check, template) = if is_replay(
        state,
        a.tenant_id,
        &a.req.body,
        a.idempotency_key.as_deref(),
    )
    .await?
    {
        // Answered by the store with the first message, before any check.
        (replay_check("message"), None)
    } else {
        send_check(state, a.channel, &a.req.body, "message").await?
    };
    let mut new = outbound(state, a).await?;
    with_template(&mut new, template);
    let outcome = state
        .store
        .enqueue_checked(new, &check)
        .await?
        .map_err(|r| AcceptError::Meta(refusal_error(r)))?;
    queued(state, &outcome);
    Ok(outcome)
}

/// Queues a send that already passed the policy ([`plan_send`]) into its planned session.
pub async fn accept_planned(
    state: &AppState,
    a: Accept<'_>,
    plan: SendPlan,
    template: Option<TemplateUse>,
) -> Result<EnqueueOutcome, AcceptError> {
    let mut new = outbound(state, a).await?;
    with_template(&mut new, template);
    new.session = plan.session;
    new.open_fep_until = plan.open_fep_until;
    let outcome = state.store.enqueue_outbound(new).await?;
    queued(state, &outcome);
    Ok(outcome)
}

/// Whether a template send replays an earlier one under the same `Idempotency-Key`: the
/// store answers a replay with the first message before any check, so a template paused or
/// deleted since does not change the answer to a retry.
pub async fn is_replay(
    state: &AppState,
    tenant_id: &str,
    body: &MessageBody,
    key: Option<&str>,
) -> Result<bool, AcceptError> {
    match (body, key) {
        (MessageBody::Template(_), Some(k)) => Ok(state
            .store
            .find_message_by_idempotency_key(tenant_id, k)
            .await?
            .is_some()),
        _ => Ok(false),
    }
}

/// The check of a replay (never applied: the store answers a replay first).
pub fn replay_check(opened_by: &str) -> SendCheck {
    SendCheck {
        kind: SendKind::Template { marketing: false },
        session_kind: None,
        opened_by: opened_by.to_string(),
    }
}

/// The message keeps the template it uses and the text the contact sees.
fn with_template(new: &mut NewOutbound, template: Option<TemplateUse>) {
    if let Some(t) = template {
        new.message.template_id = Some(t.template_id);
        new.message.rendered_text = t.rendered.map(|r| r.text);
    }
}

fn queued(state: &AppState, outcome: &EnqueueOutcome) {
    if matches!(outcome, EnqueueOutcome::Created(_)) {
        metrics::counter!("openbsp_messages_accepted_total").increment(1);
        state.sender_wake.notify_one();
    }
}

/// The store's row for a send: its references resolved (a gateway id in a reply context or
/// a reaction becomes Meta's wamid), the Graph body the sender will post, and a placeholder
/// session the policy replaces.
async fn outbound(state: &AppState, a: Accept<'_>) -> Result<NewOutbound, AcceptError> {
    let (tenant_id, req) = (a.tenant_id, a.req);
    let context_wamid = match &req.context_message_id {
        None => None,
        Some(ctx) => Some(resolve_wamid(state, tenant_id, ctx, "context['message_id']").await?),
    };
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
    let payload = req.to_graph_body(context_wamid.as_deref(), Some(&a.id));
    let message = Message {
        id: a.id,
        tenant_id: tenant_id.to_string(),
        channel_id: a.channel.id.clone(),
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
        session_id: None,
        template_id: None,
        rendered_text: None,
        idempotency_key: a.idempotency_key,
        created_at: a.now,
        updated_at: a.now,
    };
    Ok(NewOutbound {
        message,
        request_hash: hex::encode(Sha256::digest(a.raw_body)),
        contact: contact_key(&req.recipient),
        payload,
        priority: priority::DIRECT,
        session: SessionSpec {
            kind: None,
            opened_by: "message".into(),
            expires_at: a.now + windows::CSW_MS,
        },
        open_fep_until: None,
    })
}

/// The store's key for a recipient.
pub fn contact_key(r: &Recipient) -> ContactKey {
    match r {
        Recipient::WaId(w) => ContactKey::WaId(w.clone()),
        Recipient::UserId(u) => ContactKey::UserId(u.clone()),
    }
}

pub use openbsp_store::policy::SendPlan;

/// Meta's refusal for a policy refusal.
pub fn refusal_error(r: Refusal) -> MetaError {
    match r {
        Refusal::WindowClosed { closed_at } => {
            let when = match closed_at {
                Some(t) => format!(
                    "the customer service window closed at {}",
                    openbsp_domain::clock::rfc3339(t)
                ),
                None => "the user has never written to this number".to_string(),
            };
            MetaError::new(
                codes::REENGAGEMENT,
                Some(format!(
                    "Message failed to send because more than 24 hours have passed since the customer last replied to this number ({when}). Send a template message instead."
                )),
            )
        }
        Refusal::OptedOut { since } => MetaError::new(
            codes::MARKETING_OPT_OUT,
            Some(format!(
                "The recipient opted out of marketing messages from this business at {}; marketing templates are not delivered to them.",
                openbsp_domain::clock::rfc3339(since)
            )),
        ),
    }
}

/// What the policy needs to know of a send: free-form or template (marketing when the
/// template is), and the kind of a session it would open; for a template, the template
/// checked against its stored definition (before Meta is called) and rendered.
pub async fn send_check(
    state: &AppState,
    channel: &Channel,
    body: &MessageBody,
    opened_by: &str,
) -> Result<(SendCheck, Option<TemplateUse>), AcceptError> {
    let (kind, session_kind, template) = match body {
        MessageBody::Template(t) => {
            let used = crate::templates::service::check_send(state, channel, t)
                .await
                .map_err(AcceptError::Template)?;
            let marketing = used.category.as_deref() == Some("marketing");
            (
                SendKind::Template { marketing },
                used.category.clone(),
                Some(used),
            )
        }
        _ => (SendKind::FreeForm, Some("service".to_string()), None),
    };
    Ok((
        SendCheck {
            kind,
            session_kind,
            opened_by: opened_by.to_string(),
        },
        template,
    ))
}

/// Checks a send against the windows and the opt-out (before Meta is ever called) and
/// decides its session, from a conversation the caller read.
pub async fn plan_send(
    state: &AppState,
    channel: &Channel,
    conversation: &Conversation,
    body: &MessageBody,
    opened_by: &str,
    now: i64,
) -> Result<(SendPlan, Option<TemplateUse>), AcceptError> {
    let (check, template) = send_check(state, channel, body, opened_by).await?;
    let plan = openbsp_store::policy::plan(conversation, &check, now)
        .map_err(|r| AcceptError::Meta(refusal_error(r)))?;
    Ok((plan, template))
}

/// Marks an inbound message read (and shows the typing indicator when asked), through the
/// channel's Graph API at once: nothing to queue, Meta answers `{"success": true}`. The message
/// is named by `wamid` or by gateway id; a gateway id must be the tenant's inbound message on
/// this channel.
pub async fn mark_read(
    state: &AppState,
    tenant_id: &str,
    channel: &Channel,
    receipt: &openbsp_wire::send::ReadReceipt,
) -> Result<(), AcceptError> {
    let wamid = if receipt.message_id.starts_with("msg_") {
        let m = state
            .store
            .get_message(tenant_id, &receipt.message_id)
            .await?
            .filter(|m| {
                m.channel_id == channel.id && m.direction == openbsp_store::Direction::Inbound
            })
            .ok_or_else(|| {
                AcceptError::Meta(MetaError::invalid_value(format!(
                    "Param message_id names no message received on this number: {}",
                    receipt.message_id
                )))
            })?;
        m.wamid
            .ok_or_else(|| AcceptError::ContextNotSent(receipt.message_id.clone()))?
    } else {
        receipt.message_id.clone()
    };
    let mut payload = serde_json::json!({
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    });
    if receipt.typing_indicator {
        payload["typing_indicator"] = serde_json::json!({"type": "text"});
    }
    let token = state
        .config
        .master_key
        .decrypt(&channel.access_token_enc)
        .map_err(|e| {
            tracing::error!(channel.id = %channel.id, error = %e, "cannot decrypt the channel's access token");
            AcceptError::Meta(MetaError::new(codes::UNKNOWN, None))
        })?;
    state
        .graph
        .mark_read(channel, &token, &payload)
        .await
        .map_err(AcceptError::Meta)?;
    metrics::counter!("openbsp_marked_read_total", "typing" => if receipt.typing_indicator { "yes" } else { "no" }).increment(1);
    Ok(())
}
