//! The PostgreSQL backend: for scale-out, several gateway replicas sharing one database.
//!
//! Reads and the colder writes run on a connection pool, each write in its own transaction.
//! The two hot writes — [`crate::MessageStore::enqueue_outbound`] and
//! [`crate::InboxStore::insert_inbox`] — go through group commit ([`batch`]): a few workers
//! each take whatever requests have queued, store them with set-based statements in one
//! transaction, and answer every caller once that transaction is durable. Work that replicas compete for is claimed with
//! `FOR UPDATE SKIP LOCKED`; rows whose update depends on their current value are locked with
//! `FOR UPDATE` first, so concurrent writers never move a status backwards.
//!
//! Events are written by the transaction of the change they report ([`emit`]), and every
//! commit of a transaction that may have written some bumps [`Signal`].

// The areas: one file per area trait of [`crate::store`].
mod admin;
mod campaigns;
mod contacts;
mod endpoints;
mod events;
mod inbox;
mod leases;
mod media;
mod messages;
mod notices;
mod outbox;
mod reach;
mod sessions;
mod templates;

// What the areas share, below them: none of these imports an area.
mod batch;
mod conn;
mod deliveries;
mod emit;
mod filtered;
#[cfg(test)]
mod plans;
mod reads;
mod resolve;
mod results;
mod rows;
mod tx;
mod windows;

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::watch;

use crate::error::{StoreError, StoreResult};
use batch::Batcher;
use conn::{DbResult, Signal};
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
    (8, include_str!("../../migrations/postgres_0008_leases.sql")),
    (
        9,
        include_str!("../../migrations/postgres_0009_channel_pause.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres_0010_messaging_limit.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres_0011_inbox_claims.sql"),
    ),
    (
        12,
        include_str!("../../migrations/postgres_0012_orphans_wait_for_the_inbox.sql"),
    ),
    (
        13,
        include_str!("../../migrations/postgres_0013_campaigns.sql"),
    ),
    (
        14,
        include_str!("../../migrations/postgres_0014_held_sends_and_uploads.sql"),
    ),
    (15, include_str!("../../migrations/postgres_0015_media.sql")),
    (
        16,
        include_str!("../../migrations/postgres_0016_media_downloads.sql"),
    ),
    (
        17,
        include_str!("../../migrations/postgres_0017_grouped_sends.sql"),
    ),
    (
        18,
        include_str!("../../migrations/postgres_0018_endpoint_options.sql"),
    ),
    (
        19,
        include_str!("../../migrations/postgres_0019_app_secret_rotation.sql"),
    ),
    (
        20,
        include_str!("../../migrations/postgres_0020_inbox_retention.sql"),
    ),
    (
        21,
        include_str!("../../migrations/postgres_0021_event_type_index.sql"),
    ),
    (
        22,
        include_str!("../../migrations/postgres_0022_list_windows_names_statuses.sql"),
    ),
];

/// Key of the advisory lock that serialises migrations between replicas starting together.
const MIGRATION_LOCK: i64 = 0x6f70_656e_6273_7001; // "openbsp" + 1

/// Most connections the pool opens.
const MAX_CONNECTIONS: u32 = 16;

/// Workers answering conversation reads in batches ([`reads`]), each on a connection of its
/// own (see [`conn::HotConn`]).
const READ_WORKERS: usize = 2;

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
    /// Kept so that [`crate::EventStore::event_signal`] hands out clones of a live receiver.
    signal_rx: watch::Receiver<u64>,
    /// `LISTEN/NOTIFY` between replicas.
    notices: notices::Notices,
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
            .map_err(|e| StoreError::database_while("connecting to PostgreSQL", e))?;
        let _ = sqlx::Connection::close(probe).await;
        // Plan every statement for the tables as they are now. A generic plan cached while a
        // table was small (a fresh install) scans it, and stays cached until the next ANALYZE:
        // a join against a growing table then costs milliseconds where planning afresh costs
        // microseconds.
        let pool = open_pool(
            url,
            MAX_CONNECTIONS,
            "SET plan_cache_mode = force_custom_plan",
        )
        .await?;
        migrate(&pool).await?;
        // The hot connections' plans, see [`conn::HotConn`].
        let hot = open_pool(
            url,
            (BATCH_WORKERS + READ_WORKERS + 2) as u32,
            "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off",
        )
        .await?;
        let (signal, signal_rx) = Signal::new();
        let batcher = Batcher::spawn(hot.clone(), BATCH_WORKERS, signal.clone());
        let reader = Reader::spawn(hot, READ_WORKERS);
        let notices = notices::Notices::spawn(pool.clone(), signal.clone(), signal.dirty());
        Ok(PgStore {
            pool,
            batcher,
            reader,
            signal,
            signal_rx,
            notices,
        })
    }

    /// The connection pool, for what is PostgreSQL-only (e.g. `LISTEN`/`NOTIFY`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A pool of at most `max` connections to `url`, each set up with `setup` when it opens.
async fn open_pool(url: &str, max: u32, setup: &'static str) -> StoreResult<PgPool> {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                sqlx::raw_sql(setup).execute(conn).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|e| StoreError::database_while("connecting to PostgreSQL", e))
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
