//! Events on PostgreSQL: written by the change's own transaction (set-based, `UNNEST`), read in
//! the order of their writing transaction's id, then `seq` (see migration 0007): a reader only
//! takes rows whose transaction id is below that of every transaction still running (the
//! snapshot's `xmin`, refined to this database's transactions: [`VISIBLE_BOUND_CTE`]), so a row
//! that becomes visible later always sorts after what it read. And the bookkeeping of their
//! delivery to webhook endpoints.

use std::sync::LazyLock;

use serde_json::Value;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::rows::get;
use super::{DbResult, PgStore, chunks, text_bytes};
use crate::error::{StoreError, StoreResult};
use crate::model::*;

/// An event's columns, its cursor last: (`xid` as a `bigint`, `seq`). The converted `xid` has
/// a name of its own: unnamed, it would be called `xid` too, and an `ORDER BY xid` would sort
/// the converted values (every row, no index) instead of walking the index on `events.xid`.
const EVENT_COLS: &str =
    "id, tenant_id, type, format, created_at, data, xid::text::bigint AS xid_n, seq";

/// [`EVENT_COLS`] of the events aliased `e`.
const E_EVENT_COLS: &str = "e.id, e.tenant_id, e.type, e.format, e.created_at, e.data, e.xid::text::bigint AS xid_n, e.seq";

/// Number of columns in [`EVENT_COLS`].
const EVENT_N: usize = 8;

/// An event from [`EVENT_COLS`]; data that does not parse reads as `null`, as on SQLite.
fn event(r: &PgRow) -> StoreResult<Event> {
    let data: String = get(r, 5)?;
    Ok(Event {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        kind: get(r, 2)?,
        format: get(r, 3)?,
        created_at: get(r, 4)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        cursor: EventCursor {
            xid: get(r, 6)?,
            seq: get(r, 7)?,
        },
    })
}

/// Events to write, as the columns of an `UNNEST`: the data is serialised once.
#[derive(Default)]
pub(super) struct Columns {
    pub ids: Vec<String>,
    pub tenants: Vec<String>,
    pub kinds: Vec<String>,
    pub formats: Vec<String>,
    pub at: Vec<i64>,
    pub data: Vec<String>,
}

impl Columns {
    /// Adds `e`.
    pub fn push(&mut self, e: NewEvent) {
        self.ids.push(e.id);
        self.tenants.push(e.tenant_id);
        self.kinds.push(e.kind);
        self.formats.push(e.format);
        self.at.push(e.created_at);
        self.data.push(e.data.to_string());
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Estimated bytes the `i`th event adds to a statement's bound arrays.
    pub fn bytes(&self, i: usize) -> usize {
        text_bytes(Some(&self.ids[i]))
            + text_bytes(Some(&self.tenants[i]))
            + text_bytes(Some(&self.kinds[i]))
            + text_bytes(Some(&self.formats[i]))
            + text_bytes(Some(&self.data[i]))
            + 12
    }
}

/// Writes events in their order (`seq` follows the arrays). `$1`…`$6`: id, tenant, type,
/// format, time, data.
const INSERT_SQL: &str = "INSERT INTO events (id, tenant_id, type, format, created_at, data)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])";

/// Writes `events` in the caller's transaction, in their order, in as few statements as
/// [`super::STATEMENT_BYTES`] allows.
pub(super) async fn insert(c: &mut PgConnection, events: Vec<NewEvent>) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut cols = Columns::default();
    for e in events {
        cols.push(e);
    }
    insert_columns(c, &cols).await
}

/// [`insert`] for events already in columns.
pub(super) async fn insert_columns(
    c: &mut PgConnection,
    cols: &Columns,
) -> Result<(), sqlx::Error> {
    for r in chunks((0..cols.len()).map(|i| cols.bytes(i))) {
        sqlx::query(INSERT_SQL)
            .bind(&cols.ids[r.clone()])
            .bind(&cols.tenants[r.clone()])
            .bind(&cols.kinds[r.clone()])
            .bind(&cols.formats[r.clone()])
            .bind(&cols.at[r.clone()])
            .bind(&cols.data[r])
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// A tenant's native events, newest first (in delivery order, reversed), with the optional
/// filters; the type patterns are narrowed in SQL (`$6`: no type filter; `$7` exact types;
/// `$8` group prefixes, a superset of what the patterns select) and decided by
/// [`openbsp_domain::events::matches`].
static LIST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = $1 AND format = 'native'
           AND ($2::bigint IS NULL OR (xid, seq) < ($2::bigint::text::xid8, $3::bigint))
           AND ($4::bigint IS NULL OR created_at >= $4)
           AND ($5::bigint IS NULL OR created_at < $5)
           AND ($6::boolean OR type = ANY($7::text[])
                OR EXISTS (SELECT 1 FROM UNNEST($8::text[]) AS p(prefix) WHERE starts_with(type, p.prefix)))
         ORDER BY events.xid DESC, events.seq DESC LIMIT $9"
    )
});
static GET_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLS} FROM events WHERE id = $1 AND tenant_id = $2"));
/// The transaction id below which every transaction that can still write events has ended:
/// the oldest transaction the statement's snapshot sees running (`pg_snapshot_xmin`), leaving
/// out those known to belong to another database (they cannot write our events; transaction
/// ids are cluster-wide, so without this one busy database would hold back the readers of
/// every other). A running transaction whose database is not known (it ended since the
/// snapshot, it is prepared, or its backend is not visible to this user) still counts. With
/// none left: `pg_snapshot_xmax`, where transactions yet to begin will start.
const VISIBLE_BOUND_CTE: &str = "snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
elsewhere AS MATERIALIZED (
    SELECT a.backend_xid::text::bigint AS x FROM pg_stat_get_activity(NULL) AS a
    WHERE a.backend_xid IS NOT NULL
      AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
),
bound AS MATERIALIZED (
    SELECT COALESCE(
        (SELECT r.x FROM pg_snapshot_xip((SELECT s FROM snap)) AS r(x)
         WHERE r.x::text::bigint % 4294967296 NOT IN (SELECT x FROM elsewhere)
         ORDER BY r.x LIMIT 1),
        pg_snapshot_xmax((SELECT s FROM snap))) AS b
)";

/// Only events whose transaction ended before every running one that could precede them
/// began ([`VISIBLE_BOUND_CTE`]; see the module).
static AFTER_CURSOR_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {VISIBLE_BOUND_CTE}
         SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = $1 AND format = $2
           AND (xid, seq) > ($3::bigint::text::xid8, $4::bigint)
           AND xid < (SELECT b FROM bound)
         ORDER BY events.xid, events.seq LIMIT $5"
    )
});
static AFTER_TIME_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {VISIBLE_BOUND_CTE}
         SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = $1 AND format = $2 AND created_at >= $3
           AND xid < (SELECT b FROM bound)
         ORDER BY events.xid, events.seq LIMIT $4"
    )
});
static DUE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {E_EVENT_COLS}, r.attempt, r.due_at
         FROM webhook_retries r JOIN events e ON e.id = r.event_id
         WHERE r.endpoint_id = $1 AND r.due_at <= $2
         ORDER BY r.due_at, e.xid, e.seq LIMIT $3"
    )
});

const ATTEMPT_COLS: &str = "seq, endpoint_id, tenant_id, event_id, event_type, attempt, at, succeeded, status_code, latency_ms, error, response, next_attempt_at";

static ATTEMPTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ATTEMPT_COLS} FROM webhook_attempts
         WHERE endpoint_id = $1 AND tenant_id = $2 AND ($3::text IS NULL OR event_id = $3)
           AND ($4::boolean IS NULL OR succeeded = $4) AND ($5::bigint IS NULL OR seq < $5)
         ORDER BY seq DESC LIMIT $6"
    )
});

/// The endpoint's cursor moved forward (never back) with `$2` (`$3`, `$4`: the cursor) and its
/// `failing_since` set with `$5` (to `$6`). Returns nothing when the endpoint is gone; locks
/// its row otherwise, so a concurrent delete waits and then removes what this wrote.
const RECORD_ENDPOINT_SQL: &str = "UPDATE webhook_endpoints SET
    cursor_xid = CASE WHEN $2 AND (cursor_xid IS NULL
            OR (cursor_xid, cursor_seq) < ($3::bigint::text::xid8, $4::bigint))
        THEN $3::bigint::text::xid8 ELSE cursor_xid END,
    cursor_seq = CASE WHEN $2 AND (cursor_xid IS NULL
            OR (cursor_xid, cursor_seq) < ($3::bigint::text::xid8, $4::bigint))
        THEN $4::bigint ELSE cursor_seq END,
    failing_since = CASE WHEN $5 THEN $6::bigint ELSE failing_since END
WHERE id = $1
RETURNING id";

const LOG_ATTEMPTS_SQL: &str = "INSERT INTO webhook_attempts (endpoint_id, tenant_id, event_id,
    event_type, attempt, at, succeeded, status_code, latency_ms, error, response, next_attempt_at)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[],
    $7::boolean[], $8::int[], $9::bigint[], $10::text[], $11::text[], $12::bigint[])";

const SCHEDULE_RETRIES_SQL: &str = "INSERT INTO webhook_retries (endpoint_id, event_id, attempt, due_at)
SELECT $1, u.event_id, u.attempt, u.due_at
FROM UNNEST($2::text[], $3::int[], $4::bigint[]) AS u(event_id, attempt, due_at)
ON CONFLICT (endpoint_id, event_id) DO UPDATE SET attempt = EXCLUDED.attempt, due_at = EXCLUDED.due_at";

const DONE_SQL: &str =
    "DELETE FROM webhook_retries WHERE endpoint_id = $1 AND event_id = ANY($2::text[])";

const DISABLE_SQL: &str = "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2,
    updated_at = $3
WHERE id = $1 AND enabled
RETURNING id";

/// Queues events of the endpoint's tenant and format for another delivery, due at `$2`, the
/// attempt number continuing from the last one logged. `{which}` selects the events.
const REPLAY_SQL: &str = "INSERT INTO webhook_retries (endpoint_id, event_id, attempt, due_at)
SELECT $1, e.id,
    COALESCE((SELECT MAX(a.attempt) FROM webhook_attempts a
              WHERE a.endpoint_id = $1 AND a.event_id = e.id), 0) + 1,
    $2
FROM events e
WHERE e.tenant_id = $3 AND {which}
  AND e.format = (SELECT format FROM webhook_endpoints WHERE id = $1)
ON CONFLICT (endpoint_id, event_id) DO UPDATE SET due_at = EXCLUDED.due_at";

static REPLAY_ONE_SQL: LazyLock<String> =
    LazyLock::new(|| REPLAY_SQL.replace("{which}", "e.id = $4"));
static REPLAY_FAILED_SQL: LazyLock<String> = LazyLock::new(|| {
    REPLAY_SQL.replace(
        "{which}",
        "e.created_at >= $4 AND e.created_at < $5
  AND EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.endpoint_id = $1 AND a.event_id = e.id)
  AND NOT EXISTS (SELECT 1 FROM webhook_attempts a
                  WHERE a.endpoint_id = $1 AND a.event_id = e.id AND a.succeeded)",
    )
});

/// A stored `INTEGER` that must fit a `u32`.
fn get_u32(r: &PgRow, i: usize) -> StoreResult<u32> {
    let v: i32 = get(r, i)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {i}: {v} is negative")))
}

fn to_i32(v: u32) -> StoreResult<i32> {
    i32::try_from(v).map_err(|_| StoreError::Database(format!("{v} does not fit an INTEGER")))
}

fn logged_attempt(r: &PgRow) -> StoreResult<LoggedAttempt> {
    let status: Option<i32> = get(r, 8)?;
    Ok(LoggedAttempt {
        seq: get(r, 0)?,
        attempt: DeliveryAttempt {
            endpoint_id: get(r, 1)?,
            tenant_id: get(r, 2)?,
            event_id: get(r, 3)?,
            event_type: get(r, 4)?,
            attempt: get_u32(r, 5)?,
            at: get(r, 6)?,
            succeeded: get(r, 7)?,
            status_code: status
                .map(|s| {
                    u16::try_from(s).map_err(|_| StoreError::Corrupt(format!("status code {s}")))
                })
                .transpose()?,
            latency_ms: get(r, 9)?,
            error: get(r, 10)?,
            response: get(r, 11)?,
            next_attempt_at: get(r, 12)?,
        },
    })
}

/// The SQL narrowing of type patterns for [`LIST_SQL`]: (every type, exact types, prefixes).
fn type_filter(types: &[String]) -> (bool, Vec<&str>, Vec<&str>) {
    if types.is_empty() || types.iter().any(|p| p == "*") {
        return (true, Vec::new(), Vec::new());
    }
    let mut exact = Vec::new();
    let mut prefixes = Vec::new();
    for p in types {
        match p.strip_suffix(".*") {
            Some(group) => prefixes.push(group),
            None => exact.push(p.as_str()),
        }
    }
    (false, exact, prefixes)
}

impl PgStore {
    /// [`crate::Store::list_events`].
    pub(super) async fn list_events_pg(
        &self,
        tenant_id: &str,
        f: &EventFilter,
    ) -> StoreResult<Vec<Event>> {
        let mut before: Option<(i64, i64)> = None;
        if let Some(id) = &f.after {
            let found: Option<(i64, i64)> = sqlx::query_as(
                "SELECT xid::text::bigint, seq FROM events WHERE id = $1 AND tenant_id = $2",
            )
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
            match found {
                Some(at) => before = Some(at),
                None => return Ok(Vec::new()), // an unknown cursor: nothing older than it
            }
        }
        let (every, exact, prefixes) = type_filter(&f.types);
        let limit = f.limit as usize;
        let mut out = Vec::new();
        while out.len() < limit {
            let want = limit - out.len();
            let found = sqlx::query(LIST_SQL.as_str())
                .bind(tenant_id)
                .bind(before.map(|b| b.0))
                .bind(before.map(|b| b.1))
                .bind(f.since)
                .bind(f.until)
                .bind(every)
                .bind(&exact)
                .bind(&prefixes)
                .bind(want as i64)
                .fetch_all(self.pool())
                .await
                .db()?;
            let exhausted = found.len() < want;
            for row in &found {
                let e = event(row)?;
                before = Some((e.cursor.xid, e.cursor.seq));
                if f.types.is_empty()
                    || f.types
                        .iter()
                        .any(|p| openbsp_domain::events::matches(p, &e.kind))
                {
                    out.push(e);
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(out)
    }

    /// [`crate::Store::get_event`].
    pub(super) async fn get_event_pg(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<Event>> {
        let row = sqlx::query(GET_SQL.as_str())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(event).transpose()
    }

    /// [`crate::Store::events_after`].
    pub(super) async fn events_after_pg(
        &self,
        tenant_id: &str,
        format: &str,
        cursor: Option<EventCursor>,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let found = match cursor {
            Some(cur) => {
                sqlx::query(AFTER_CURSOR_SQL.as_str())
                    .bind(tenant_id)
                    .bind(format)
                    .bind(cur.xid)
                    .bind(cur.seq)
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await
            }
            None => {
                sqlx::query(AFTER_TIME_SQL.as_str())
                    .bind(tenant_id)
                    .bind(format)
                    .bind(since)
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await
            }
        }
        .db()?;
        found.iter().map(event).collect()
    }

    /// [`crate::Store::due_deliveries`].
    pub(super) async fn due_deliveries_pg(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>> {
        let found = sqlx::query(DUE_SQL.as_str())
            .bind(endpoint_id)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        found
            .iter()
            .map(|r| {
                Ok(PendingDelivery {
                    event: event(r)?,
                    attempt: get_u32(r, EVENT_N)?,
                    due_at: get(r, EVENT_N + 1)?,
                })
            })
            .collect()
    }

    /// [`crate::Store::next_delivery_due`].
    pub(super) async fn next_delivery_due_pg(&self, endpoint_id: &str) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(due_at) FROM webhook_retries WHERE endpoint_id = $1")
            .bind(endpoint_id)
            .fetch_one(self.pool())
            .await
            .db()
    }

    /// [`crate::Store::record_deliveries`].
    pub(super) async fn record_deliveries_pg(&self, d: &DeliveryRecord) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.db()?;
        let c: &mut PgConnection = &mut tx;
        let cursor = d.cursor.unwrap_or_default();
        let (set_failing, failing) = match d.failing_since {
            Some(v) => (true, v),
            None => (false, None),
        };
        let exists = sqlx::query(RECORD_ENDPOINT_SQL)
            .bind(&d.endpoint_id)
            .bind(d.cursor.is_some())
            .bind(cursor.xid)
            .bind(cursor.seq)
            .bind(set_failing)
            .bind(failing)
            .fetch_optional(&mut *c)
            .await
            .db()?
            .is_some();
        if !exists {
            return Ok(()); // the endpoint is gone: nothing is written (rolled back)
        }
        if !d.attempts.is_empty() {
            let a = &d.attempts;
            let sizes = a.iter().map(|a| {
                text_bytes(Some(&a.endpoint_id))
                    + text_bytes(Some(&a.tenant_id))
                    + text_bytes(Some(&a.event_id))
                    + text_bytes(Some(&a.event_type))
                    + text_bytes(a.error.as_deref())
                    + text_bytes(a.response.as_deref())
                    + 48
            });
            let attempts = a
                .iter()
                .map(|a| to_i32(a.attempt))
                .collect::<StoreResult<Vec<_>>>()?;
            for r in chunks(sizes) {
                let part = &a[r.clone()];
                sqlx::query(LOG_ATTEMPTS_SQL)
                    .bind(
                        part.iter()
                            .map(|a| a.endpoint_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(
                        part.iter()
                            .map(|a| a.tenant_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(part.iter().map(|a| a.event_id.as_str()).collect::<Vec<_>>())
                    .bind(
                        part.iter()
                            .map(|a| a.event_type.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(&attempts[r])
                    .bind(part.iter().map(|a| a.at).collect::<Vec<_>>())
                    .bind(part.iter().map(|a| a.succeeded).collect::<Vec<_>>())
                    .bind(
                        part.iter()
                            .map(|a| a.status_code.map(i32::from))
                            .collect::<Vec<_>>(),
                    )
                    .bind(part.iter().map(|a| a.latency_ms).collect::<Vec<_>>())
                    .bind(part.iter().map(|a| a.error.as_deref()).collect::<Vec<_>>())
                    .bind(
                        part.iter()
                            .map(|a| a.response.as_deref())
                            .collect::<Vec<_>>(),
                    )
                    .bind(part.iter().map(|a| a.next_attempt_at).collect::<Vec<_>>())
                    .execute(&mut *c)
                    .await
                    .db()?;
            }
        }
        if !d.retries.is_empty() {
            // One row per event (the last one given wins, as one upsert after another would):
            // a statement may not update a row twice.
            let mut retries: Vec<&(String, u32, i64)> = Vec::with_capacity(d.retries.len());
            for r in d.retries.iter().rev() {
                if !retries.iter().any(|k| k.0 == r.0) {
                    retries.push(r);
                }
            }
            retries.reverse();
            let attempts = retries
                .iter()
                .map(|r| to_i32(r.1))
                .collect::<StoreResult<Vec<_>>>()?;
            for r in chunks(retries.iter().map(|r| text_bytes(Some(&r.0)) + 16)) {
                let part = &retries[r.clone()];
                sqlx::query(SCHEDULE_RETRIES_SQL)
                    .bind(&d.endpoint_id)
                    .bind(part.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
                    .bind(&attempts[r])
                    .bind(part.iter().map(|r| r.2).collect::<Vec<_>>())
                    .execute(&mut *c)
                    .await
                    .db()?;
            }
        }
        if !d.done.is_empty() {
            for r in chunks(d.done.iter().map(|id| text_bytes(Some(id)))) {
                sqlx::query(DONE_SQL)
                    .bind(&d.endpoint_id)
                    .bind(&d.done[r])
                    .execute(&mut *c)
                    .await
                    .db()?;
            }
        }
        if let Some((reason, event)) = &d.disable {
            let disabled = sqlx::query(DISABLE_SQL)
                .bind(&d.endpoint_id)
                .bind(reason)
                .bind(d.at)
                .fetch_optional(&mut *c)
                .await
                .db()?
                .is_some();
            if disabled {
                insert(c, vec![event.clone()]).await.db()?;
            }
        }
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(())
    }

    /// [`crate::Store::list_delivery_attempts`].
    pub(super) async fn prune_events_pg(&self, before: i64, limit: u32) -> StoreResult<u64> {
        let events = sqlx::query(
            "DELETE FROM events WHERE seq IN (
               SELECT seq FROM events e WHERE e.created_at < $1
                 AND NOT EXISTS (SELECT 1 FROM webhook_retries r WHERE r.event_id = e.id)
               ORDER BY seq LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(self.pool())
        .await
        .db()?
        .rows_affected();
        let attempts = sqlx::query(
            "DELETE FROM webhook_attempts WHERE seq IN (
               SELECT seq FROM webhook_attempts WHERE at < $1 ORDER BY seq LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(self.pool())
        .await
        .db()?
        .rows_affected();
        Ok(events + attempts)
    }

    pub(super) async fn list_delivery_attempts_pg(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        f: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>> {
        let found = sqlx::query(ATTEMPTS_SQL.as_str())
            .bind(endpoint_id)
            .bind(tenant_id)
            .bind(&f.event_id)
            .bind(f.succeeded)
            .bind(f.before_seq)
            .bind(i64::from(f.limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        found.iter().map(logged_attempt).collect()
    }

    /// [`crate::Store::replay_deliveries`].
    pub(super) async fn replay_deliveries_pg(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.db()?;
        let c: &mut PgConnection = &mut tx;
        // Locked: a concurrent delete waits, then removes what this queued.
        let owned = sqlx::query(
            "SELECT 1 FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE",
        )
        .bind(endpoint_id)
        .bind(tenant_id)
        .fetch_optional(&mut *c)
        .await
        .db()?
        .is_some();
        if !owned {
            return Ok(0);
        }
        let done = match selection {
            ReplaySelection::Event(id) => {
                sqlx::query(REPLAY_ONE_SQL.as_str())
                    .bind(endpoint_id)
                    .bind(now)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *c)
                    .await
            }
            ReplaySelection::Failed { since, until } => {
                sqlx::query(REPLAY_FAILED_SQL.as_str())
                    .bind(endpoint_id)
                    .bind(now)
                    .bind(tenant_id)
                    .bind(since)
                    .bind(until)
                    .execute(&mut *c)
                    .await
            }
        }
        .db()?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_narrow_to_a_superset() {
        assert_eq!(type_filter(&[]), (true, vec![], vec![]));
        let ps = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(type_filter(&ps(&["a.b", "*"])), (true, vec![], vec![]));
        assert_eq!(
            type_filter(&ps(&["message.*", "session.opened"])),
            (false, vec!["session.opened"], vec!["message"])
        );
    }
}
