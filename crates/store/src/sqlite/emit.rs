//! The events a change writes on SQLite, inside the change's own transaction (the writer's
//! closure), built from the rows as the change left them. Reads rows; never changes one.

use openbsp_domain::status::MessageStatus;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::rows;
use crate::error::{StoreError, StoreResult};
use crate::events as build;
use crate::model::*;
use crate::sql::SESSION_COLS;

/// Writes an event in the current transaction.
pub(super) fn insert(c: &Connection, e: &NewEvent) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO events (id, tenant_id, type, format, created_at, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        e.id,
        e.tenant_id,
        e.kind,
        e.format,
        e.created_at,
        e.data.to_string()
    ])?;
    Ok(())
}

/// `message.status` for a status history entry just written.
pub(super) fn message_status(
    c: &Connection,
    message_id: &str,
    status: MessageStatus,
    at: i64,
    error: Option<&Value>,
    pricing: Option<&str>,
) -> StoreResult<()> {
    let m = rows::message_by_id(c, message_id)?;
    insert(c, &build::message_status(&m, status, at, error, pricing))
}

/// `message.received` for an inbound message just stored.
pub(super) fn message_received(c: &Connection, message_id: &str) -> StoreResult<()> {
    let m = rows::message_by_id(c, message_id)?;
    let contact = match &m.contact_id {
        Some(id) => rows::contact_by_id(c, &m.tenant_id, id)?,
        None => None,
    };
    insert(c, &build::message_received(&m, contact.as_ref()))
}

/// `session.opened` / `session.closed` for the session `id` as it is now.
pub(super) fn session(c: &Connection, kind: &str, id: &str, at: i64) -> StoreResult<()> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1");
    let s = c
        .prepare_cached(&sql)?
        .query_row([id], rows::session)
        .optional()?
        .ok_or_else(|| StoreError::corrupt(format!("session {id} vanished")))?;
    insert(c, &build::session(kind, &s, at))
}

/// `contact.updated` when the contact `id` differs from `before` (`None`: it was created).
pub(super) fn contact(
    c: &Connection,
    tenant: &str,
    id: &str,
    before: Option<&Contact>,
    at: i64,
) -> StoreResult<()> {
    let Some(after) = rows::contact_by_id(c, tenant, id)? else {
        return Ok(());
    };
    let changes = build::contact_changes(before, &after);
    if changes.is_empty() {
        return Ok(());
    }
    insert(c, &build::contact_updated(&after, &changes, at))
}
