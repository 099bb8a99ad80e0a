//! The PostgreSQL backend: for scale-out, several gateway replicas sharing one database.
//!
//! Reads and the colder writes run on a connection pool, each write in its own transaction.
//! The two hot writes — [`crate::Store::enqueue_outbound`] and [`crate::Store::insert_inbox`] —
//! go through group commit ([`batch`]): a few workers each take whatever requests have queued,
//! store them with set-based statements in one transaction, and answer every caller once that
//! transaction is durable. Work that replicas compete for is claimed with
//! `FOR UPDATE SKIP LOCKED`; rows whose update depends on their current value are locked with
//! `FOR UPDATE` first, so concurrent writers never move a status backwards.
//!
//! Events are written by the transaction of the change they report ([`events`]), and every
//! commit of a transaction that may have written some bumps [`Signal`].

mod batch;
mod conversations;
mod events;
mod outcomes;
mod profiled;
mod queries;
mod reads;
mod rows;
mod templates;
mod webhook_endpoints;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::error::{StoreError, StoreResult};
use batch::Batcher;
use reads::Reader;

/// Migrations, in order: (version, SQL). Same numbering as the SQLite backend's.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres_0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres_0002_conversations.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres_0003_templates.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres_0004_sessionless_messages.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres_0005_template_management.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres_0006_webhook_endpoints.sql"),
    ),
    (7, include_str!("../../migrations/postgres_0007_events.sql")),
];

/// Key of the advisory lock that serialises migrations between replicas starting together.
const MIGRATION_LOCK: i64 = 0x6f70_656e_6273_7001; // "openbsp" + 1

/// Most connections the pool opens.
const MAX_CONNECTIONS: u32 = 16;

/// Workers answering conversation reads in batches ([`reads`]), each on a connection of its
/// own (see [`HotConn`]).
const READ_WORKERS: usize = 2;

/// How long a hot connection ([`HotConn`]) keeps the plans it made.
const PLAN_TTL: Duration = Duration::from_secs(1);

/// Group-commit workers: while one waits for its commit to reach the disk, the next batch is
/// already being written. Two measured best on the 2-core bench machine (`BENCHMARKS.md`):
/// a third splits the queue into smaller batches and costs more than it overlaps.
const BATCH_WORKERS: usize = 2;

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
    batcher: Batcher,
    reader: Reader,
    /// Counts the commits of transactions that may have written events ([`Signal`]).
    signal: Signal,
    /// Kept so that [`crate::Store::event_signal`] hands out clones of a live receiver.
    signal_rx: watch::Receiver<u64>,
}

/// What [`crate::Store::event_signal`] watches: bumped after every commit of a transaction
/// that may have written events. Shared with the group-commit workers.
#[derive(Clone)]
pub(crate) struct Signal(Arc<watch::Sender<u64>>);

impl Signal {
    fn new() -> (Signal, watch::Receiver<u64>) {
        let (tx, rx) = watch::channel(0u64);
        (Signal(Arc::new(tx)), rx)
    }

    /// Wakes the readers of events: a transaction that may have written some has committed.
    pub(crate) fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`), applies pending migrations and starts
    /// the group-commit workers. Must be called inside a Tokio runtime; the workers stop when
    /// the store is dropped.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        // One plain connection first: the pool reports a refused or rejected connection only
        // as a time-out, and the person starting the gateway needs the real reason.
        let probe = <sqlx::PgConnection as sqlx::Connection>::connect(url)
            .await
            .map_err(|e| StoreError::Database(format!("connecting to PostgreSQL: {e}")))?;
        let _ = sqlx::Connection::close(probe).await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // Plan every statement for the tables as they are now. A generic plan
                    // cached while a table was small (a fresh install) scans it, and stays
                    // cached until the next ANALYZE: a join against a growing table then costs
                    // milliseconds where planning afresh costs microseconds.
                    sqlx::query("SET plan_cache_mode = force_custom_plan")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Database(format!("connecting to PostgreSQL: {e}")))?;
        migrate(&pool).await?;
        let hot = PgPoolOptions::new()
            .max_connections((BATCH_WORKERS + READ_WORKERS + 2) as u32)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Database(format!("connecting to PostgreSQL: {e}")))?;
        let (signal, signal_rx) = Signal::new();
        let batcher = Batcher::spawn(hot.clone(), BATCH_WORKERS, signal.clone());
        let reader = Reader::spawn(hot, READ_WORKERS);
        Ok(PgStore {
            pool,
            batcher,
            reader,
            signal,
            signal_rx,
        })
    }

    /// The connection pool, for what is PostgreSQL-only (e.g. `LISTEN`/`NOTIFY`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A connection of the hot pool, kept by one group-commit or group-read worker across its
/// batches (so that a batch never waits for the pool), replaced after an error.
///
/// The hot statements (a few set-based statements per batch, every look-up in them a unique-key
/// index probe) would cost as much to plan as to run if they were planned afresh each time,
/// as the main pool does. On these connections plans are generic and kept, and sequential
/// scans are disabled. A generic plan is only as good as the table sizes it was made for,
/// though: made while a table is nearly empty, it may probe another index of the same leading
/// column (the tenant's) and filter, which costs a scan of the tenant's rows once the table
/// has grown. So plans live at most [`PLAN_TTL`]: then the connection's statements are
/// dropped and planned again for the tables as they are.
pub(crate) struct HotConn {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    planned_at: Instant,
}

impl HotConn {
    /// A worker's slot on `pool` (connects on first use).
    pub(crate) fn new(pool: PgPool) -> HotConn {
        HotConn {
            pool,
            conn: None,
            planned_at: Instant::now(),
        }
    }

    /// The connection, with plans no older than [`PLAN_TTL`].
    pub(crate) async fn get(&mut self) -> StoreResult<&mut PgConnection> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                self.planned_at = Instant::now();
                self.pool.acquire().await.db()?
            }
        };
        if self.planned_at.elapsed() >= PLAN_TTL {
            if let Err(e) = conn.clear_cached_statements().await {
                conn.close_on_drop();
                return Err(db_err(e));
            }
            self.planned_at = Instant::now();
        }
        Ok(&mut **self.conn.insert(conn))
    }

    /// Closes the connection (it may be broken); the next batch opens another.
    pub(crate) fn discard(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.close_on_drop();
        }
    }
}

/// Applies the migrations not yet recorded in `schema_migrations`, all in one transaction
/// under an advisory lock: replicas starting at once wait for each other, and the later ones
/// find the work done.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await.db()?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .db()?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .db()?;
    for (version, sql) in MIGRATIONS {
        let done: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = $1)")
                .bind(version)
                .fetch_one(&mut *tx)
                .await
                .db()?;
        if done {
            continue;
        }
        sqlx::raw_sql(*sql).execute(&mut *tx).await.db()?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await
            .db()?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    tx.commit().await.db()?;
    Ok(())
}

/// Maps a driver error to a [`StoreError`] the way the SQLite backend does: any integrity
/// constraint violation (SQLSTATE class 23: unique, foreign key, not null, check) is a
/// `Conflict`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("23")) => {
            StoreError::Conflict(match d.constraint() {
                Some(c) => format!("{c}: {}", d.message()),
                None => d.message().to_string(),
            })
        }
        sqlx::Error::PoolClosed => StoreError::Closed,
        _ => StoreError::Database(e.to_string()),
    }
}

/// `.db()`: a driver result as a store result, through [`db_err`].
pub(crate) trait DbResult<T> {
    /// Converts the error.
    fn db(self) -> StoreResult<T>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(db_err)
    }
}

/// Most bound data (estimated bytes) sent in one statement; batches are written in as many
/// statements as it takes. sqlx 0.9.0 leaves Nagle's algorithm on for TCP
/// (launchbadge/sqlx#4335): a statement that does not leave in one piece waits for the server's
/// delayed ACK, some 40 ms. Statements this small fit a fresh connection's send buffer (16 KiB
/// on Linux) and one loopback segment. Measured on loopback: 12 KiB beat 4, 8, 14 and 32 KiB.
pub(crate) const STATEMENT_BYTES: usize = 12 * 1024;

/// Splits rows of the given estimated sizes into consecutive ranges of at most
/// [`STATEMENT_BYTES`] each (a row larger than that gets a range of its own).
pub(crate) fn chunks(sizes: impl IntoIterator<Item = usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes, mut end) = (0, 0, 0);
    for size in sizes {
        if end > start && bytes + size > STATEMENT_BYTES {
            out.push(start..end);
            start = end;
            bytes = 0;
        }
        bytes += size;
        end += 1;
    }
    if end > start {
        out.push(start..end);
    }
    out
}

/// Estimated bytes one text value adds to a statement's bound arrays.
pub(crate) fn text_bytes(s: Option<&str>) -> usize {
    4 + s.map_or(0, str::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_budget_and_cover_every_row() {
        assert!(chunks(Vec::<usize>::new()).is_empty());
        assert_eq!(chunks([10, 20, 30]), vec![0..3]);
        let half = STATEMENT_BYTES / 2;
        assert_eq!(chunks([half, half, 1, half]), vec![0..2, 2..4]);
        // An oversized row goes alone.
        assert_eq!(chunks([1, STATEMENT_BYTES * 2, 1]), vec![0..1, 1..2, 2..3]);
    }
}
