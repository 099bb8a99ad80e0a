//! Sessions and windows on SQLite, as sends and inbound messages need them: the open session
//! of a channel and contact found or opened (a lapsed one closed first), a free entry point
//! window opened, and the conversation that the send policy judges. Every function runs inside
//! the caller's transaction (the writer's batch, or a reader).

use openbsp_domain::ids::{new_id_at, prefix};
use rusqlite::{Connection, OptionalExtension, params};

use super::{emit, rows};
use crate::error::StoreResult;
use crate::events::kind as ev;
use crate::model::*;
use crate::sql::WINDOW_COLS;

/// The open session of a channel and contact, or a new one from `spec`. A session whose
/// window lapsed before `now` but that the closer has not reached yet is closed first (with its
/// `session.closed`). The caller writes `session.opened` for a new one once it is complete.
pub(super) fn open_session(
    c: &Connection,
    tenant: &str,
    channel: &str,
    contact: &str,
    spec: &SessionSpec,
    now: i64,
) -> StoreResult<(Session, bool)> {
    if let Some(s) = rows::open_session(c, channel, contact)? {
        if s.expires_at > now {
            return Ok((s, false));
        }
        c.prepare_cached(
            "UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = ?2 WHERE id = ?1",
        )?
        .execute(params![s.id, now])?;
        emit::session(c, ev::SESSION_CLOSED, &s.id, now)?;
    }
    let s = Session {
        id: new_id_at(prefix::SESSION, now),
        tenant_id: tenant.to_string(),
        channel_id: channel.to_string(),
        contact_id: contact.to_string(),
        kind: spec.kind.clone(),
        opened_by: spec.opened_by.clone(),
        opened_at: now,
        expires_at: spec.expires_at,
        closed_at: None,
        close_reason: None,
        last_inbound_at: None,
        updated_at: now,
    };
    c.prepare_cached(
        "INSERT INTO sessions (id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at, expires_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
    )?
    .execute(params![
        s.id,
        s.tenant_id,
        s.channel_id,
        s.contact_id,
        s.kind,
        s.opened_by,
        s.opened_at,
        s.expires_at
    ])?;
    Ok((s, true))
}

/// Opens a FEP window until `until`, unless one is open for the current entry point.
pub(super) fn open_fep(
    c: &Connection,
    tenant: &str,
    channel: &str,
    contact: &str,
    now: i64,
    until: i64,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO contact_windows (channel_id, contact_id, tenant_id, fep_opened_at, fep_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (channel_id, contact_id) DO UPDATE SET
           fep_opened_at = excluded.fep_opened_at, fep_expires_at = excluded.fep_expires_at
         WHERE fep_opened_at IS NULL OR entry_point_at IS NULL OR fep_opened_at < entry_point_at",
    )?
    .execute(params![channel, contact, tenant, now, until])?;
    Ok(())
}

/// What decides a send to `key` on `channel` ([`crate::ContactStore::conversation`]).
pub(super) fn conversation(
    c: &Connection,
    tenant: &str,
    channel: &str,
    key: &ContactKey,
) -> StoreResult<Conversation> {
    let Some(contact) = rows::contact_by_key(c, tenant, key)? else {
        return Ok(Conversation::default());
    };
    let sql = format!(
        "SELECT {WINDOW_COLS} FROM contact_windows WHERE channel_id = ?1 AND contact_id = ?2"
    );
    let window = c
        .prepare_cached(&sql)?
        .query_row([channel, &contact.id], rows::window)
        .optional()?;
    let open_session = rows::open_session(c, channel, &contact.id)?;
    Ok(Conversation {
        contact: Some(contact),
        window,
        open_session,
    })
}
