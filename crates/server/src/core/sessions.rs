//! Sessions (conversations): Session Start (contact, session and first message in one call),
//! replies inside a session, closing one, and reading them.

use openbsp_store::{
    Channel, Contact, ContactKey, ContactProfile, Message, MessageFilter, Page, Session,
    SessionFilter,
};
use openbsp_wire::SendRequest;

use super::contacts::{self, WithWindows};
use super::messages::{self, SendInput, opened_by};
use super::{Core, CoreError, CoreResult};

/// Whether a session is open at `now`.
pub use openbsp_store::views::session_is_open as is_open;

/// A Session Start: whom, on which channel, with what first message.
#[derive(Debug, Clone)]
pub struct StartInput<'a> {
    /// The tenant.
    pub tenant_id: &'a str,
    /// The channel.
    pub channel: &'a Channel,
    /// The user the first message goes to.
    pub contact: ContactKey,
    /// The user's other identifier (a BSUID beside a number), linked to the contact.
    pub also: Option<ContactKey>,
    /// The name the business gives the contact.
    pub name: Option<String>,
    /// The first message, addressed to `contact`.
    pub message: &'a SendRequest,
    /// The request body as received.
    pub raw_body: &'a [u8],
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

/// What a Session Start did.
#[derive(Debug, Clone)]
pub struct Started {
    /// The contact as it is now, with its windows.
    pub contact: WithWindows,
    /// The session the first message is in.
    pub session: Session,
    /// Whether that session was already open (or this is a retry of an earlier start).
    pub reused: bool,
    /// The first message.
    pub message: Message,
}

/// A tenant's session.
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Session> {
    core.store
        .get_session(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("session", id))
}

/// A tenant's sessions, newest first.
pub async fn list(
    core: &Core,
    tenant_id: &str,
    filter: &SessionFilter,
    page: &Page,
) -> CoreResult<Vec<Session>> {
    Ok(core.store.list_sessions(tenant_id, filter, page).await?)
}

/// A session's messages, newest first.
pub async fn messages(
    core: &Core,
    tenant_id: &str,
    session: &Session,
    page: &Page,
) -> CoreResult<Vec<Message>> {
    let filter = MessageFilter {
        session_id: Some(session.id.clone()),
        ..Default::default()
    };
    Ok(core.store.list_messages(tenant_id, &filter, page).await?)
}

/// Closes a session on request (a closed one is answered as it is).
pub async fn close(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Session> {
    let s = core
        .store
        .close_session(tenant_id, id, core.now())
        .await?
        .ok_or_else(|| CoreError::not_found("session", id))?;
    metrics::counter!("openbsp_sessions_closed_total", "reason" => "closed").increment(1);
    Ok(s)
}

/// Where a reply inside a session goes: the open session, its channel and its contact's
/// key (its `wa_id`, else its BSUID).
#[derive(Debug, Clone)]
pub struct ReplyTarget {
    /// The session, open.
    pub session: Session,
    /// Its channel.
    pub channel: Channel,
    /// The key the reply is addressed to.
    pub recipient: ContactKey,
}

/// The target of a reply in session `id`; [`CoreError::Conflict`] `session_closed` when the
/// session is closed.
pub async fn reply_target(core: &Core, tenant_id: &str, id: &str) -> CoreResult<ReplyTarget> {
    let s = get(core, tenant_id, id).await?;
    if !is_open(&s, core.now()) {
        return Err(CoreError::conflict(
            "session_closed",
            format!(
                "session {id} is closed; start a new one with POST /v1/sessions or send a template"
            ),
        ));
    }
    let channel = core
        .stored_channel(&s.channel_id)
        .await?
        .filter(|c| c.tenant_id == tenant_id)
        .ok_or_else(|| CoreError::not_found("channel", &s.channel_id))?;
    let contact = contacts::stored(core, tenant_id, &s.contact_id).await?;
    Ok(ReplyTarget {
        recipient: recipient_of(&contact)?,
        session: s,
        channel,
    })
}

/// The key a message to `c` is addressed to: its `wa_id`, else its BSUID.
pub fn recipient_of(c: &Contact) -> CoreResult<ContactKey> {
    match (&c.wa_id, &c.user_id) {
        (Some(w), _) => Ok(ContactKey::WaId(w.clone())),
        (None, Some(u)) => Ok(ContactKey::UserId(u.clone())),
        (None, None) => Err(CoreError::internal(format!(
            "contact {} has neither wa_id nor user_id",
            c.id
        ))),
    }
}

/// Session Start: opens (or joins) the contact's session on the channel with the first
/// message, the contact found or created, linked and named — all in the enqueue's one
/// transaction, behind the same send policy as any send (a template when the customer service
/// window is closed; anything when it is open). A refused start stores nothing. Idempotent
/// under the `Idempotency-Key`: a retry answers the first start and changes nothing.
pub async fn start(core: &Core, input: StartInput<'_>) -> CoreResult<Started> {
    let send = SendInput {
        tenant_id: input.tenant_id,
        channel: input.channel,
        req: input.message,
        raw_body: input.raw_body,
        idempotency_key: input.idempotency_key,
        opened_by: opened_by::SESSION_START,
        profile: Some(ContactProfile {
            also: input.also,
            name: input.name,
        }),
        campaign: None,
        callback_data: None,
    };
    let accepted = messages::send(core, send).await?;
    let message = accepted.message;
    let session_id = message
        .session_id
        .clone()
        .ok_or_else(|| CoreError::internal(format!("message {} has no session", message.id)))?;
    let session = get(core, input.tenant_id, &session_id).await?;
    let reused = !accepted.opened_session;
    if !reused {
        core.session_wake.notify_one();
        metrics::counter!("openbsp_sessions_opened_total", "by" => "session_start").increment(1);
    }
    // The contact as it is now (a retry may find it renamed or merged).
    let contact_id = message
        .contact_id
        .clone()
        .ok_or_else(|| CoreError::internal(format!("message {} has no contact", message.id)))?;
    let contact = contacts::stored(core, input.tenant_id, &contact_id).await?;
    Ok(Started {
        contact: contacts::with_windows(core, contact).await?,
        session,
        reused,
        message,
    })
}
