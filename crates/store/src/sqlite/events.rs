//! Events on SQLite: written by the change's own closure on the writer connection (so in its
//! transaction), read in `seq` order, which is commit order with one writer.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::rows::{self, MESSAGE_COLS, SESSION_COLS};
use crate::error::{StoreError, StoreResult};
use crate::events as build;
use crate::model::*;
use openbsp_domain::status::MessageStatus;

const EVENT_COLS: &str = "id, tenant_id, type, format, created_at, data, seq";

fn event(r: &Row) -> rusqlite::Result<Event> {
    let data: String = r.get(5)?;
    Ok(Event {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        kind: r.get(2)?,
        format: r.get(3)?,
        created_at: r.get(4)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        cursor: EventCursor {
            xid: 0,
            seq: r.get(6)?,
        },
    })
}

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

fn message(c: &Connection, id: &str) -> StoreResult<Message> {
    let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = ?1");
    c.prepare_cached(&sql)?
        .query_row([id], rows::message)
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("message {id} vanished")))
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
    let m = message(c, message_id)?;
    insert(c, &build::message_status(&m, status, at, error, pricing))
}

/// `message.received` for an inbound message just stored.
pub(super) fn message_received(c: &Connection, message_id: &str) -> StoreResult<()> {
    let m = message(c, message_id)?;
    let contact = match &m.contact_id {
        Some(id) => super::conversations::get_contact(c, &m.tenant_id, id)?,
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
        .ok_or_else(|| StoreError::Corrupt(format!("session {id} vanished")))?;
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
    let Some(after) = super::conversations::get_contact(c, tenant, id)? else {
        return Ok(());
    };
    let changes = build::contact_changes(before, &after);
    if changes.is_empty() {
        return Ok(());
    }
    insert(c, &build::contact_updated(&after, &changes, at))
}

/// [`crate::Store::list_events`].
pub(super) fn list(c: &Connection, tenant: &str, f: &EventFilter) -> StoreResult<Vec<Event>> {
    let before = match &f.after {
        Some(id) => Some(
            c.prepare_cached("SELECT seq FROM events WHERE id = ?1 AND tenant_id = ?2")?
                .query_row([id, tenant], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0),
        ),
        None => None,
    };
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = ?1 AND format = 'native'
           AND (?2 IS NULL OR seq < ?2) AND (?3 IS NULL OR created_at >= ?3)
           AND (?4 IS NULL OR created_at < ?4)
         ORDER BY seq DESC"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![tenant, before, f.since, f.until])?;
    let mut out = Vec::new();
    while out.len() < f.limit as usize
        && let Some(r) = rows.next()?
    {
        let e = event(r)?;
        if f.types.is_empty()
            || f.types
                .iter()
                .any(|p| openbsp_domain::events::matches(p, &e.kind))
        {
            out.push(e);
        }
    }
    Ok(out)
}

/// [`crate::Store::get_event`].
pub(super) fn get(c: &Connection, tenant: &str, id: &str) -> StoreResult<Option<Event>> {
    let sql = format!("SELECT {EVENT_COLS} FROM events WHERE id = ?1 AND tenant_id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([id, tenant], event)
        .optional()?)
}

/// [`crate::Store::events_after`].
pub(super) fn after(
    c: &Connection,
    tenant: &str,
    format: &str,
    cursor: Option<EventCursor>,
    since: i64,
    limit: u32,
) -> StoreResult<Vec<Event>> {
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = ?1 AND format = ?2 AND seq > ?3 AND created_at >= ?4
         ORDER BY seq LIMIT ?5"
    );
    let (after, since) = match cursor {
        Some(cur) => (cur.seq, i64::MIN),
        None => (0, since),
    };
    let mut stmt = c.prepare_cached(&sql)?;
    let found = stmt.query_map(params![tenant, format, after, since, limit], event)?;
    Ok(found.collect::<Result<Vec<_>, _>>()?)
}

/// [`crate::Store::due_deliveries`].
pub(super) fn due(
    c: &Connection,
    endpoint: &str,
    now: i64,
    limit: u32,
) -> StoreResult<Vec<PendingDelivery>> {
    let sql = "SELECT e.id, e.tenant_id, e.type, e.format, e.created_at, e.data, e.seq, r.attempt, r.due_at
         FROM webhook_retries r JOIN events e ON e.id = r.event_id
         WHERE r.endpoint_id = ?1 AND r.due_at <= ?2
         ORDER BY r.due_at, e.seq LIMIT ?3";
    let mut stmt = c.prepare_cached(sql)?;
    let found = stmt.query_map(params![endpoint, now, limit], |r| {
        Ok(PendingDelivery {
            event: event(r)?,
            attempt: r.get(7)?,
            due_at: r.get(8)?,
        })
    })?;
    Ok(found.collect::<Result<Vec<_>, _>>()?)
}

/// [`crate::Store::next_delivery_due`].
pub(super) fn next_due(c: &Connection, endpoint: &str) -> StoreResult<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT MIN(due_at) FROM webhook_retries WHERE endpoint_id = ?1")?
            .query_row([endpoint], |r| r.get(0))?,
    )
}

/// [`crate::Store::record_deliveries`].
pub(super) fn record(c: &Connection, d: &DeliveryRecord) -> StoreResult<()> {
    let exists: bool = c
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM webhook_endpoints WHERE id = ?1)")?
        .query_row([&d.endpoint_id], |r| r.get(0))?;
    if !exists {
        return Ok(());
    }
    let mut log = c.prepare_cached(
        "INSERT INTO webhook_attempts (endpoint_id, tenant_id, event_id, event_type, attempt, at,
           succeeded, status_code, latency_ms, error, response, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for a in &d.attempts {
        log.execute(params![
            a.endpoint_id,
            a.tenant_id,
            a.event_id,
            a.event_type,
            a.attempt,
            a.at,
            a.succeeded,
            a.status_code,
            a.latency_ms,
            a.error,
            a.response,
            a.next_attempt_at
        ])?;
    }
    let mut retry = c.prepare_cached(
        "INSERT INTO webhook_retries (endpoint_id, event_id, attempt, due_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (endpoint_id, event_id) DO UPDATE SET attempt = excluded.attempt, due_at = excluded.due_at",
    )?;
    for (event_id, attempt, due_at) in &d.retries {
        retry.execute(params![d.endpoint_id, event_id, attempt, due_at])?;
    }
    let mut done =
        c.prepare_cached("DELETE FROM webhook_retries WHERE endpoint_id = ?1 AND event_id = ?2")?;
    for event_id in &d.done {
        done.execute(params![d.endpoint_id, event_id])?;
    }
    if let Some(cursor) = d.cursor {
        c.prepare_cached(
            "UPDATE webhook_endpoints SET cursor_seq = MAX(COALESCE(cursor_seq, 0), ?2) WHERE id = ?1",
        )?
        .execute(params![d.endpoint_id, cursor.seq])?;
    }
    if let Some(since) = d.failing_since {
        c.prepare_cached("UPDATE webhook_endpoints SET failing_since = ?2 WHERE id = ?1")?
            .execute(params![d.endpoint_id, since])?;
    }
    if let Some((reason, event)) = &d.disable {
        let n = c
            .prepare_cached(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2, updated_at = ?3
                 WHERE id = ?1 AND enabled",
            )?
            .execute(params![d.endpoint_id, reason, d.at])?;
        if n > 0 {
            insert(c, event)?;
        }
    }
    Ok(())
}

const ATTEMPT_COLS: &str = "seq, endpoint_id, tenant_id, event_id, event_type, attempt, at, succeeded, status_code, latency_ms, error, response, next_attempt_at";

/// [`crate::Store::list_delivery_attempts`].
pub(super) fn attempts(
    c: &Connection,
    tenant: &str,
    endpoint: &str,
    f: &AttemptFilter,
) -> StoreResult<Vec<LoggedAttempt>> {
    let sql = format!(
        "SELECT {ATTEMPT_COLS} FROM webhook_attempts
         WHERE endpoint_id = ?1 AND tenant_id = ?2 AND (?3 IS NULL OR event_id = ?3)
           AND (?4 IS NULL OR succeeded = ?4) AND (?5 IS NULL OR seq < ?5)
         ORDER BY seq DESC LIMIT ?6"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let found = stmt.query_map(
        params![
            endpoint,
            tenant,
            f.event_id,
            f.succeeded,
            f.before_seq,
            f.limit
        ],
        |r| {
            Ok(LoggedAttempt {
                seq: r.get(0)?,
                attempt: DeliveryAttempt {
                    endpoint_id: r.get(1)?,
                    tenant_id: r.get(2)?,
                    event_id: r.get(3)?,
                    event_type: r.get(4)?,
                    attempt: r.get(5)?,
                    at: r.get(6)?,
                    succeeded: r.get(7)?,
                    status_code: r.get(8)?,
                    latency_ms: r.get(9)?,
                    error: r.get(10)?,
                    response: r.get(11)?,
                    next_attempt_at: r.get(12)?,
                },
            })
        },
    )?;
    Ok(found.collect::<Result<Vec<_>, _>>()?)
}

/// [`crate::Store::prune_events`].
pub(super) fn prune(c: &Connection, before: i64, limit: u32) -> StoreResult<u64> {
    let events = c
        .prepare_cached(
            "DELETE FROM events WHERE seq IN (
               SELECT seq FROM events e WHERE e.created_at < ?1
                 AND NOT EXISTS (SELECT 1 FROM webhook_retries r WHERE r.event_id = e.id)
               ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![before, limit])?;
    let attempts = c
        .prepare_cached(
            "DELETE FROM webhook_attempts WHERE seq IN (
               SELECT seq FROM webhook_attempts WHERE at < ?1 ORDER BY seq LIMIT ?2)",
        )?
        .execute(params![before, limit])?;
    Ok((events + attempts) as u64)
}

/// [`crate::Store::replay_deliveries`].
pub(super) fn replay(
    c: &Connection,
    tenant: &str,
    endpoint: &str,
    selection: &ReplaySelection,
    now: i64,
) -> StoreResult<u64> {
    let owned: bool = c
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM webhook_endpoints WHERE id = ?1 AND tenant_id = ?2)",
        )?
        .query_row([endpoint, tenant], |r| r.get(0))?;
    if !owned {
        return Ok(0);
    }
    // The next attempt continues the numbering of the log.
    let upsert = "INSERT INTO webhook_retries (endpoint_id, event_id, attempt, due_at)
         SELECT ?1, e.id,
           COALESCE((SELECT MAX(attempt) FROM webhook_attempts a WHERE a.endpoint_id = ?1 AND a.event_id = e.id), 0) + 1,
           ?2
         FROM events e WHERE e.tenant_id = ?3 AND {which}
           AND e.format = (SELECT format FROM webhook_endpoints WHERE id = ?1)
         ON CONFLICT (endpoint_id, event_id) DO UPDATE SET due_at = excluded.due_at";
    let n = match selection {
        ReplaySelection::Event(id) => c
            .prepare_cached(&upsert.replace("{which}", "e.id = ?4"))?
            .execute(params![endpoint, now, tenant, id])?,
        ReplaySelection::Failed { since, until } => c
            .prepare_cached(&upsert.replace(
                "{which}",
                "e.created_at >= ?4 AND e.created_at < ?5
                 AND EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.endpoint_id = ?1 AND a.event_id = e.id)
                 AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.endpoint_id = ?1 AND a.event_id = e.id AND a.succeeded)",
            ))?
            .execute(params![endpoint, now, tenant, since, until])?,
    };
    Ok(n as u64)
}
