//! [`EventStore`] on SQLite: events read in `seq` order, which is commit order with one writer
//! (they are written by each change's own job: [`super::emit`]), and the bookkeeping of their
//! delivery to webhook endpoints, written on the writer.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::rows::collect;
use super::{SqliteStore, emit};
use crate::error::StoreResult;
use crate::model::*;
use crate::sql::ATTEMPT_COLS;
use crate::store::EventStore;

const EVENT_COLS: &str = "id, tenant_id, type, format, created_at, data, seq";

#[async_trait]
impl EventStore for SqliteStore {
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits()
    }

    async fn list_events(&self, tenant_id: &str, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        let (t, f) = (tenant_id.to_string(), filter.clone());
        self.read(move |c| list(c, &t, &f)).await
    }

    async fn get_event(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Event>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| get(c, &t, &id)).await
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        format: &str,
        cursor: Option<EventCursor>,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let (t, format) = (tenant_id.to_string(), format.to_string());
        self.read(move |c| after(c, &t, &format, cursor, since, limit))
            .await
    }

    async fn due_deliveries(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>> {
        let id = endpoint_id.to_string();
        self.read(move |c| due(c, &id, now, limit)).await
    }

    async fn next_delivery_due(&self, endpoint_id: &str) -> StoreResult<Option<i64>> {
        let id = endpoint_id.to_string();
        self.read(move |c| next_due(c, &id)).await
    }

    async fn record_deliveries(&self, record: &DeliveryRecord) -> StoreResult<()> {
        let record = record.clone();
        self.write(move |c| log_deliveries(c, &record)).await
    }

    async fn list_delivery_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>> {
        let (t, id, f) = (
            tenant_id.to_string(),
            endpoint_id.to_string(),
            filter.clone(),
        );
        self.read(move |c| attempts(c, &t, &id, &f)).await
    }

    async fn replay_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64> {
        let (t, id, sel) = (
            tenant_id.to_string(),
            endpoint_id.to_string(),
            selection.clone(),
        );
        self.write(move |c| replay(c, &t, &id, &sel, now)).await
    }

    async fn prune_events(&self, before: i64, limit: u32) -> StoreResult<u64> {
        self.write(move |c| prune(c, before, limit)).await
    }
}

/// An event from [`EVENT_COLS`]; data that does not parse reads as `null`.
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

/// [`EventStore::list_events`]: newest first. Without a type filter the rows are read through
/// `events_tenant_seq`; with one, the newest rows of each selected type through `events_type`
/// (migration 22), each an ordered index range that stops at the limit, merged here. Either way
/// what is read is bounded by the page (times the number of types), not by the tenant's events.
/// With `since` or `until`, the window's range in time order instead ([`list_window`]).
fn list(c: &Connection, tenant: &str, f: &EventFilter) -> StoreResult<Vec<Event>> {
    if f.since.is_some() || f.until.is_some() {
        return list_window(c, tenant, f);
    }
    let before = match &f.after {
        Some(id) => {
            let found = c
                .prepare_cached("SELECT seq FROM events WHERE id = ?1 AND tenant_id = ?2")?
                .query_row([id, tenant], |r| r.get::<_, i64>(0))
                .optional()?;
            match found {
                Some(seq) => seq,
                None => return Ok(Vec::new()), // an unknown cursor: nothing older than it
            }
        }
        None => i64::MAX,
    };
    let Some(types) = openbsp_domain::events::selected_types(&f.types) else {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events
             WHERE tenant_id = ?1 AND format = 'native' AND seq < ?2
               AND (?3 IS NULL OR created_at >= ?3) AND (?4 IS NULL OR created_at < ?4)
             ORDER BY seq DESC LIMIT ?5"
        );
        return collect(
            c,
            &sql,
            params![tenant, before, f.since, f.until, f.limit],
            event,
        );
    };
    let mut newest = c.prepare_cached(
        "SELECT seq FROM events
         WHERE tenant_id = ?1 AND format = 'native' AND type = ?2 AND seq < ?3
           AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at < ?5)
         ORDER BY seq DESC LIMIT ?6",
    )?;
    let mut seqs = Vec::new();
    for kind in &types {
        let found = newest.query_map(
            params![tenant, kind, before, f.since, f.until, f.limit],
            |r| r.get::<_, i64>(0),
        )?;
        for seq in found {
            seqs.push(seq?);
        }
    }
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    seqs.truncate(f.limit as usize);
    let mut one = c.prepare_cached(&format!("SELECT {EVENT_COLS} FROM events WHERE seq = ?1"))?;
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        out.push(one.query_row([seq], event)?);
    }
    Ok(out)
}

/// A tenant's native events made in `[since, until)` (either bound optional), newest first in
/// (`created_at`, seq) order, through `events_created` (migration 23): a window far in the
/// past is a range of its own. `created_at` is the change's time, not the commit order `seq`
/// follows (a clock stepping back, a time from Meta), so the page is ordered by the range.
/// The cursor continues after its event's (`created_at`, seq). Types are checked on the
/// window's rows.
const LIST_WINDOW_SQL: &str = "SELECT id, tenant_id, type, format, created_at, data, seq
    FROM events
    WHERE tenant_id = ?1 AND format = 'native' AND created_at >= ?2 AND created_at < ?3
      AND created_at <= ?4 AND (created_at < ?4 OR seq < ?5)";

/// [`EventStore::list_events`] under a time window ([`LIST_WINDOW_SQL`]).
fn list_window(c: &Connection, tenant: &str, f: &EventFilter) -> StoreResult<Vec<Event>> {
    match list_window_query(c, tenant, f)? {
        Some((sql, args)) => collect(c, &sql, rusqlite::params_from_iter(args), event),
        None => Ok(Vec::new()),
    }
}

/// The statement of [`list_window`] and its values; `None` when nothing can match: a cursor
/// that names no event of the tenant (nothing is older than it), or patterns no type matches.
pub(super) fn list_window_query(
    c: &Connection,
    tenant: &str,
    f: &EventFilter,
) -> StoreResult<Option<(String, Vec<rusqlite::types::Value>)>> {
    use rusqlite::types::Value as V;
    let (at, seq) = match &f.after {
        Some(id) => {
            let found = c
                .prepare_cached(
                    "SELECT created_at, seq FROM events WHERE id = ?1 AND tenant_id = ?2",
                )?
                .query_row([id, tenant], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()?;
            match found {
                Some(at) => at,
                None => return Ok(None),
            }
        }
        None => (i64::MAX, i64::MAX),
    };
    let mut sql = LIST_WINDOW_SQL.to_string();
    let mut args = vec![
        V::Text(tenant.to_string()),
        V::Integer(f.since.unwrap_or(i64::MIN)),
        V::Integer(f.until.unwrap_or(i64::MAX)),
        V::Integer(at),
        V::Integer(seq),
    ];
    if let Some(types) = openbsp_domain::events::selected_types(&f.types) {
        if types.is_empty() {
            return Ok(None);
        }
        let marks: Vec<String> = types
            .iter()
            .map(|t| {
                args.push(V::Text(t.to_string()));
                format!("?{}", args.len())
            })
            .collect();
        // `+type`: checked on the window's rows, events_type not being in time order.
        sql.push_str(&format!(" AND +type IN ({})", marks.join(", ")));
    }
    args.push(V::Integer(i64::from(f.limit)));
    sql.push_str(&format!(
        " ORDER BY created_at DESC, seq DESC LIMIT ?{}",
        args.len()
    ));
    Ok(Some((sql, args)))
}

/// [`EventStore::get_event`].
fn get(c: &Connection, tenant: &str, id: &str) -> StoreResult<Option<Event>> {
    let sql = format!("SELECT {EVENT_COLS} FROM events WHERE id = ?1 AND tenant_id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([id, tenant], event)
        .optional()?)
}

/// [`EventStore::events_after`].
fn after(
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
    collect(c, &sql, params![tenant, format, after, since, limit], event)
}

/// [`EventStore::due_deliveries`].
fn due(c: &Connection, endpoint: &str, now: i64, limit: u32) -> StoreResult<Vec<PendingDelivery>> {
    let sql = "SELECT e.id, e.tenant_id, e.type, e.format, e.created_at, e.data, e.seq, r.attempt, r.due_at
         FROM webhook_retries r JOIN events e ON e.id = r.event_id
         WHERE r.endpoint_id = ?1 AND r.due_at <= ?2
         ORDER BY r.due_at, e.seq LIMIT ?3";
    collect(c, sql, params![endpoint, now, limit], |r| {
        Ok(PendingDelivery {
            event: event(r)?,
            attempt: r.get(7)?,
            due_at: r.get(8)?,
        })
    })
}

/// [`EventStore::next_delivery_due`].
fn next_due(c: &Connection, endpoint: &str) -> StoreResult<Option<i64>> {
    Ok(
        c.prepare_cached("SELECT MIN(due_at) FROM webhook_retries WHERE endpoint_id = ?1")?
            .query_row([endpoint], |r| r.get(0))?,
    )
}

/// [`EventStore::record_deliveries`].
fn log_deliveries(c: &Connection, d: &DeliveryRecord) -> StoreResult<()> {
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
            emit::insert(c, event)?;
        }
    }
    Ok(())
}

/// [`EventStore::list_delivery_attempts`]: newest first, through `webhook_attempts_event` for
/// one event, `webhook_attempts_failed` for failures (migration 22), else
/// `webhook_attempts_endpoint`; only the filters given become conditions (an optional one
/// could use no index).
fn attempts(
    c: &Connection,
    tenant: &str,
    endpoint: &str,
    f: &AttemptFilter,
) -> StoreResult<Vec<LoggedAttempt>> {
    let mut sql = format!(
        "SELECT {ATTEMPT_COLS} FROM webhook_attempts WHERE endpoint_id = ?1 AND tenant_id = ?2
         AND seq < ?3"
    );
    if f.event_id.is_some() {
        sql.push_str(" AND event_id = ?5");
    } else {
        sql.push_str(" AND ?5 IS NULL");
    }
    match f.succeeded {
        Some(true) => sql.push_str(" AND succeeded"),
        Some(false) => sql.push_str(" AND NOT succeeded"),
        None => {}
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?4");
    collect(
        c,
        &sql,
        params![
            endpoint,
            tenant,
            f.before_seq.unwrap_or(i64::MAX),
            f.limit,
            f.event_id
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
    )
}

/// [`EventStore::prune_events`].
fn prune(c: &Connection, before: i64, limit: u32) -> StoreResult<u64> {
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

/// [`EventStore::replay_deliveries`].
fn replay(
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
