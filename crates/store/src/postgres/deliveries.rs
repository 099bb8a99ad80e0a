//! The delivery of events to webhook endpoints on PostgreSQL: each endpoint's due deliveries,
//! the log of attempts, retries scheduled and cleared, the cursor moved and the endpoint
//! disabled — in one transaction per record, the endpoint's row locked so that a concurrent
//! delete waits and then removes what was written — and replays.

use std::sync::LazyLock;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::conn::{DbResult, chunks, text_bytes};
use super::rows::{EVENT_COLS, EVENT_N, event, get, get_u32};
use super::{PgStore, emit};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{ATTEMPT_COLS, prefixed};

static DUE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, r.attempt, r.due_at
         FROM webhook_retries r JOIN events e ON e.id = r.event_id
         WHERE r.endpoint_id = $1 AND r.due_at <= $2
         ORDER BY r.due_at, e.xid, e.seq LIMIT $3",
        prefixed("e", EVENT_COLS)
    )
});

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

fn to_i32(v: u32) -> StoreResult<i32> {
    i32::try_from(v).map_err(|_| StoreError::database(format!("{v} does not fit an INTEGER")))
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
                    u16::try_from(s).map_err(|_| StoreError::corrupt(format!("status code {s}")))
                })
                .transpose()?,
            latency_ms: get(r, 9)?,
            error: get(r, 10)?,
            response: get(r, 11)?,
            next_attempt_at: get(r, 12)?,
        },
    })
}

/// [`crate::EventStore::due_deliveries`].
pub(super) async fn due(
    store: &PgStore,
    endpoint_id: &str,
    now: i64,
    limit: u32,
) -> StoreResult<Vec<PendingDelivery>> {
    let found = sqlx::query(DUE_SQL.as_str())
        .bind(endpoint_id)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(store.pool())
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

/// [`crate::EventStore::next_delivery_due`].
pub(super) async fn next_due(store: &PgStore, endpoint_id: &str) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT MIN(due_at) FROM webhook_retries WHERE endpoint_id = $1")
        .bind(endpoint_id)
        .fetch_one(store.pool())
        .await
        .db()
}

/// [`crate::EventStore::record_deliveries`].
pub(super) async fn record(store: &PgStore, d: &DeliveryRecord) -> StoreResult<()> {
    let mut tx = store.pool().begin().await.db()?;
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
            emit::insert(c, vec![event.clone()]).await.db()?;
        }
    }
    tx.commit().await.db()?;
    store.signal.bump();
    Ok(())
}

/// [`crate::EventStore::list_delivery_attempts`].
pub(super) async fn attempts(
    store: &PgStore,
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
        .fetch_all(store.pool())
        .await
        .db()?;
    found.iter().map(logged_attempt).collect()
}

/// [`crate::EventStore::replay_deliveries`].
pub(super) async fn replay(
    store: &PgStore,
    tenant_id: &str,
    endpoint_id: &str,
    selection: &ReplaySelection,
    now: i64,
) -> StoreResult<u64> {
    let mut tx = store.pool().begin().await.db()?;
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
    store.signal.bump();
    Ok(done.rows_affected())
}
