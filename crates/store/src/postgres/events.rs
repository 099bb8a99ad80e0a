//! [`EventStore`] on PostgreSQL: events are written by the change's own transaction
//! ([`super::emit`]) and read in the order of their writing transaction's id, then `seq` (see
//! migration 0007): a reader only takes rows whose transaction id is below that of every
//! transaction still running (the snapshot's `xmin`, refined to this database's transactions:
//! [`VISIBLE_BOUND_CTE`]), so a row that becomes visible later always sorts after what it read.
//! Their delivery to webhook endpoints is kept by [`super::deliveries`].

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::conn::DbResult;
use super::rows::{EVENT_COLS, event};
use super::{PgStore, deliveries};
use crate::error::StoreResult;
use crate::model::*;
use crate::store::EventStore;

/// A tenant's native events, newest first (in delivery order, reversed) through
/// `events_tenant_xid_seq`, with the optional filters: `$2`/`$3` the cursor's `(xid, seq)`,
/// `$4`/`$5` the time bounds (NULL here: a window is read by [`LIST_WINDOW_SQL`]), `$6` the
/// limit.
static LIST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = $1 AND format = 'native'
           AND ($2::bigint IS NULL OR (xid, seq) < ($2::bigint::text::xid8, $3::bigint))
           AND ($4::bigint IS NULL OR created_at >= $4)
           AND ($5::bigint IS NULL OR created_at < $5)
         ORDER BY events.xid DESC, events.seq DESC LIMIT $6"
    )
});
/// [`LIST_SQL`] for the types in `$7`: the newest rows of each through `events_type`
/// (migration 21), each an ordered index range that stops at the limit, merged in that order.
/// What is read is bounded by the page times the number of types, not by the tenant's events.
static LIST_TYPES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT e.* FROM UNNEST($7::text[]) AS t(type) CROSS JOIN LATERAL (
           SELECT {EVENT_COLS} FROM events
           WHERE tenant_id = $1 AND format = 'native' AND type = t.type
             AND ($2::bigint IS NULL OR (xid, seq) < ($2::bigint::text::xid8, $3::bigint))
             AND ($4::bigint IS NULL OR created_at >= $4)
             AND ($5::bigint IS NULL OR created_at < $5)
           ORDER BY events.xid DESC, events.seq DESC LIMIT $6
         ) AS e
         ORDER BY e.xid_n DESC, e.seq DESC LIMIT $6"
    )
});
/// A tenant's native events made in `[$2, $3)`, newest first in (`created_at`, seq) order
/// through `events_created` (migration 22): a window far in the past is a range of its own.
/// `created_at` is the change's time, not the delivery order (a clock stepping back, a time
/// from Meta), so the page is ordered by the range; `$4`/`$5` the cursor's (`created_at`,
/// seq), `$6` the limit, `$7` the types (checked on the window's rows) or NULL.
pub(super) static LIST_WINDOW_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLS} FROM events
         WHERE tenant_id = $1 AND format = 'native' AND created_at >= $2 AND created_at < $3
           AND (created_at, seq) < ($4, $5)
           AND ($7::text[] IS NULL OR type = ANY($7))
         ORDER BY created_at DESC, seq DESC LIMIT $6"
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

#[async_trait]
impl EventStore for PgStore {
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.signal_rx.clone()
    }

    async fn list_events(&self, tenant_id: &str, f: &EventFilter) -> StoreResult<Vec<Event>> {
        if f.since.is_some() || f.until.is_some() {
            return self.list_window(tenant_id, f).await;
        }
        let mut before: Option<(i64, i64)> = None;
        if let Some(id) = &f.after {
            match self.cursor("xid::text::bigint", tenant_id, id).await? {
                Some(at) => before = Some(at),
                None => return Ok(Vec::new()), // an unknown cursor: nothing older than it
            }
        }
        let types = openbsp_domain::events::selected_types(&f.types);
        let sql = match types {
            Some(_) => LIST_TYPES_SQL.as_str(),
            None => LIST_SQL.as_str(),
        };
        let mut q = sqlx::query(sql)
            .bind(tenant_id)
            .bind(before.map(|b| b.0))
            .bind(before.map(|b| b.1))
            .bind(f.since)
            .bind(f.until)
            .bind(i64::from(f.limit));
        if let Some(types) = types {
            q = q.bind(types);
        }
        let found = q.fetch_all(self.pool()).await.db()?;
        found.iter().map(event).collect()
    }

    async fn get_event(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Event>> {
        let row = sqlx::query(GET_SQL.as_str())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(event).transpose()
    }

    async fn events_after(
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

    async fn due_deliveries(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>> {
        deliveries::due(self, endpoint_id, now, limit).await
    }

    async fn next_delivery_due(&self, endpoint_id: &str) -> StoreResult<Option<i64>> {
        deliveries::next_due(self, endpoint_id).await
    }

    async fn record_deliveries(&self, record: &DeliveryRecord) -> StoreResult<()> {
        deliveries::record(self, record).await
    }

    async fn list_delivery_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>> {
        deliveries::attempts(self, tenant_id, endpoint_id, filter).await
    }

    async fn replay_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64> {
        deliveries::replay(self, tenant_id, endpoint_id, selection, now).await
    }

    async fn prune_events(&self, before: i64, limit: u32) -> StoreResult<u64> {
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
}

impl PgStore {
    /// Where a page after the tenant's event `id` starts: its `order` column (the delivery
    /// order's `xid`, or a window's `created_at`) and `seq`; `None` if the tenant has no such
    /// event.
    async fn cursor(
        &self,
        order: &'static str,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<(i64, i64)>> {
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {order}, seq FROM events WHERE id = $1 AND tenant_id = $2"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await
        .db()
    }

    /// [`EventStore::list_events`] under a time window ([`LIST_WINDOW_SQL`]).
    async fn list_window(&self, tenant_id: &str, f: &EventFilter) -> StoreResult<Vec<Event>> {
        let (at, seq) = match &f.after {
            Some(id) => match self.cursor("created_at", tenant_id, id).await? {
                Some(at) => at,
                None => return Ok(Vec::new()), // an unknown cursor: nothing older than it
            },
            None => (i64::MAX, i64::MAX),
        };
        let types = openbsp_domain::events::selected_types(&f.types);
        let found = sqlx::query(LIST_WINDOW_SQL.as_str())
            .bind(tenant_id)
            .bind(f.since.unwrap_or(i64::MIN))
            .bind(f.until.unwrap_or(i64::MAX))
            .bind(at)
            .bind(seq)
            .bind(i64::from(f.limit))
            .bind(types)
            .fetch_all(self.pool())
            .await
            .db()?;
        found.iter().map(event).collect()
    }
}
