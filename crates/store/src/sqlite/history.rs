//! A message's row and its status history on SQLite: a message stored with its first history
//! entry, and a status moved forward with its entry (the rules are [`crate::statuses`]'), each
//! new entry with its `message.status` event. Every function runs inside the caller's
//! transaction on the writer.

use openbsp_domain::MessageStatus;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::emit;
use crate::error::StoreResult;
use crate::model::*;
use crate::sql::message_cols;
use crate::statuses;

/// `INSERT INTO messages`: the columns a message is read from, and the request hash.
const INSERT_MESSAGE: &str = concat!(
    "INSERT INTO messages (",
    message_cols!(),
    ", request_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
);

/// Stores a message (`content` is its content, serialised) and its first history entry.
pub(super) fn insert_message(
    c: &Connection,
    m: &Message,
    content: &str,
    request_hash: Option<&str>,
) -> StoreResult<()> {
    // What template a message was sent from is the business's: an inbound message has none.
    let outbound = m.direction == Direction::Outbound;
    let template_id = m.template_id.as_deref().filter(|_| outbound);
    let rendered_text = m.rendered_text.as_deref().filter(|_| outbound);
    c.prepare_cached(INSERT_MESSAGE)?.execute(params![
        m.id,
        m.tenant_id,
        m.channel_id,
        m.contact_id,
        m.direction.as_str(),
        m.recipient,
        m.msg_type,
        content,
        m.wamid,
        m.status.as_str(),
        m.error.as_ref().map(|e| e.to_string()),
        m.biz_opaque_callback_data,
        m.context_message_id,
        m.idempotency_key,
        m.created_at,
        m.updated_at,
        m.session_id,
        template_id,
        rendered_text,
        m.campaign_id.as_deref().filter(|_| outbound),
        request_hash,
    ])?;
    add_history(c, m, m.status, m.created_at, None, None)
}

/// Adds a status history entry, unless the message already reached that status, and its
/// `message.status` event (inbound messages get `message.received` from their caller).
fn add_history<'a>(
    c: &Connection,
    message: impl Into<Subject<'a>>,
    status: MessageStatus,
    at: i64,
    error: Option<&Value>,
    pricing: Option<&str>,
) -> StoreResult<()> {
    let message = message.into();
    let message_id = match &message {
        Subject::Id(id) => *id,
        Subject::Message(m) => m.id.as_str(),
    };
    let added = c
        .prepare_cached(
            "INSERT INTO message_statuses (message_id, status, at, error) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (message_id, status) DO NOTHING",
        )?
        .execute(params![
            message_id,
            status.as_str(),
            at,
            error.map(|e| e.to_string())
        ])?;
    if added > 0 && statuses::writes_event(status) {
        match message {
            // Just inserted: the event is built from it, without reading it back.
            Subject::Message(m) => emit::insert(
                c,
                &crate::events::message_status(m, status, at, error, pricing),
            )?,
            Subject::Id(id) => emit::message_status(c, id, status, at, error, pricing)?,
        }
    }
    Ok(())
}

/// The message a history entry is for: by id, or the message itself when the caller has it.
enum Subject<'a> {
    Id(&'a str),
    Message(&'a Message),
}

impl<'a> From<&'a str> for Subject<'a> {
    fn from(id: &'a str) -> Self {
        Subject::Id(id)
    }
}

impl<'a> From<&'a Message> for Subject<'a> {
    fn from(m: &'a Message) -> Self {
        Subject::Message(m)
    }
}

/// Moves a message to `status` if that is forward of `current` (`forward`, as
/// [`crate::statuses`] decided); records history either way (the event is written after the
/// move, so it shows the message as it now is).
pub(super) fn advance(
    c: &Connection,
    id: &str,
    forward: bool,
    status: MessageStatus,
    at: i64,
    error: Option<&Value>,
    pricing: Option<&str>,
) -> StoreResult<()> {
    if forward {
        c.prepare_cached(
            "UPDATE messages SET status = ?2, error = COALESCE(?3, error), updated_at = MAX(updated_at, ?4) WHERE id = ?1",
        )?
        .execute(params![id, status.as_str(), error.map(|e| e.to_string()), at])?;
    }
    add_history(c, id, status, at, error, pricing)
}

/// A message's status (`None`: no such message, or a status this version does not know).
pub(super) fn current_status(c: &Connection, id: &str) -> StoreResult<Option<MessageStatus>> {
    let status: Option<String> = c
        .prepare_cached("SELECT status FROM messages WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(status.and_then(|s| MessageStatus::parse(&s)))
}

/// Removes a message's outbox row.
pub(super) fn delete_outbox(c: &Connection, message_id: &str) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?
        .execute([message_id])?;
    Ok(())
}
