//! The SQLite backend: the embedded default.
//!
//! One writer thread owns the only write connection and commits whatever has queued up while
//! the previous commit ran in a single transaction (group commit), each request inside its own
//! savepoint so that one failure never spoils its neighbours. Callers get their answer only
//! after the commit is durable (`synchronous = FULL`). Reads go to a small pool of read-only
//! connections, which WAL lets run alongside the writer. WAL checkpoints run on a thread of
//! their own, so the writer never stops to copy pages into the database file. Neither thread
//! may die of a panic: a panicking write fails alone, a panicking checkpoint is one missed
//! ([`writer`]).

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
mod outbox;
mod reach;
mod sessions;
mod templates;

// What the areas share, below them: none of these imports an area.
mod emit;
mod filtered;
mod history;
mod resolve;
mod rows;
mod windows;
mod writer;

#[cfg(test)]
mod plans;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::error::{StoreError, StoreResult};
use writer::Writer;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite_0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite_0002_conversations.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite_0003_templates.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite_0004_sessionless_messages.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite_0005_template_management.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite_0006_webhook_endpoints.sql"),
    ),
    (7, include_str!("../../migrations/sqlite_0007_events.sql")),
    (8, include_str!("../../migrations/sqlite_0008_leases.sql")),
    (
        9,
        include_str!("../../migrations/sqlite_0009_channel_pause.sql"),
    ),
    (
        10,
        include_str!("../../migrations/sqlite_0010_messaging_limit.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite_0011_inbox_claims.sql"),
    ),
    (
        12,
        include_str!("../../migrations/sqlite_0012_orphans_wait_for_the_inbox.sql"),
    ),
    (
        13,
        include_str!("../../migrations/sqlite_0013_inbox_bodies_apart.sql"),
    ),
    (
        14,
        include_str!("../../migrations/sqlite_0014_campaigns.sql"),
    ),
    (
        15,
        include_str!("../../migrations/sqlite_0015_held_sends_and_uploads.sql"),
    ),
    (16, include_str!("../../migrations/sqlite_0016_media.sql")),
    (
        17,
        include_str!("../../migrations/sqlite_0017_media_downloads.sql"),
    ),
    (
        18,
        include_str!("../../migrations/sqlite_0018_grouped_sends.sql"),
    ),
    (
        19,
        include_str!("../../migrations/sqlite_0019_endpoint_options.sql"),
    ),
    (
        20,
        include_str!("../../migrations/sqlite_0020_app_secret_rotation.sql"),
    ),
    (
        21,
        include_str!("../../migrations/sqlite_0021_inbox_retention.sql"),
    ),
    (
        22,
        include_str!("../../migrations/sqlite_0022_event_type_index.sql"),
    ),
    (
        23,
        include_str!("../../migrations/sqlite_0023_list_windows_names_statuses.sql"),
    ),
    (
        24,
        include_str!("../../migrations/sqlite_0024_inbox_digest_backfill.sql"),
    ),
];
const READERS: usize = 8;
/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// How long a ping waits for the writer: a batch takes milliseconds, the longest (a large
/// upload's) well under a second.
const WRITER_PING: Duration = Duration::from_secs(2);

/// The SQLite store.
pub struct SqliteStore {
    writer: Writer,
    commits: tokio::sync::watch::Receiver<u64>,
    readers: Arc<ReaderPool>,
    stop_checkpoints: Arc<AtomicBool>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
    }
}

struct ReaderPool {
    path: String,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &str) -> StoreResult<SqliteStore> {
        if let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::database_while(format!("creating {}", dir.display()), e)
            })?;
        }
        let path_owned = path.to_string();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            let mut conn = Connection::open(&path_owned)?;
            configure(&conn)?;
            functions(&conn)?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(StoreError::database)??;
        let stop_checkpoints = Arc::new(AtomicBool::new(false));
        spawn_checkpointer(path.to_string(), stop_checkpoints.clone())?;
        let (signal, commits) = tokio::sync::watch::channel(0u64);
        Ok(SqliteStore {
            stop_checkpoints,
            commits,
            writer: Writer::spawn(conn, signal),
            readers: Arc::new(ReaderPool {
                path: path.to_string(),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
            }),
        })
    }

    /// Runs `f` on the writer, inside the current group-commit transaction. `f` may run twice
    /// when a neighbour in its batch fails; only the last run counts.
    pub(crate) async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Runs `f` on the writer, as any write of the store does: for tests that need a write
    /// to misbehave (panic, hold the writer). Not part of the store's interface.
    #[doc(hidden)]
    pub async fn write_for_tests<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Whether the writer answers (see [`WRITER_PING`]).
    pub(crate) async fn ping_writer(&self) -> StoreResult<()> {
        self.writer.ping(WRITER_PING).await
    }

    /// Counts the writer's commits: events are only written by writes.
    pub(crate) fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Runs `f` on a read connection.
    pub(crate) async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let out = f(&conn);
            pool.give_back(conn);
            out
        })
        .await
        .map_err(StoreError::database)?
    }
}

impl ReaderPool {
    fn take(&self) -> StoreResult<Connection> {
        if let Some(c) = self.idle.lock().map_err(|_| StoreError::Closed)?.pop() {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

/// WAL size past which the checkpointer makes room by force (see [`spawn_checkpointer`]).
const WAL_RESET_BYTES: u64 = 64 * 1024 * 1024;

/// Checkpoints the WAL from a connection of its own. PASSIVE never blocks the writer; once a
/// checkpoint has caught up, the writer's next transaction starts the WAL over.
///
/// With readers always running (API reads beside a stream of writes), a PASSIVE checkpoint
/// never quite catches up: it may not copy frames newer than the oldest reader's snapshot, so
/// the WAL would never start over and would grow without bound, and every read would get
/// slower as it searched a longer WAL. So when the WAL passes [`WAL_RESET_BYTES`], a TRUNCATE
/// checkpoint waits (briefly) for the readers of old frames to finish, copies everything and
/// empties the file. It holds the writer back for that wait only; if the readers take longer
/// than its short busy timeout, it gives up and tries again on the next round.
fn spawn_checkpointer(path: String, stop: Arc<AtomicBool>) -> StoreResult<()> {
    let conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_millis(200))?;
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                // A round that panics is one checkpoint missed, not the last: without this
                // thread the WAL would grow without bound. (Unwind safe: a round keeps nothing.)
                let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    checkpoint(&conn, &wal)
                }));
                if round.is_err() {
                    tracing::error!("a SQLite WAL checkpoint panicked; the checkpointer goes on");
                }
            }
        })
        .map_err(|e| StoreError::database_while("cannot start the checkpoint thread", e))?;
    Ok(())
}

/// One round of the checkpointer (see [`spawn_checkpointer`]).
fn checkpoint(conn: &Connection, wal: &Path) {
    let big = std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_RESET_BYTES);
    let mode = if big { "TRUNCATE" } else { "PASSIVE" };
    // (busy, frames in the WAL, frames checkpointed)
    let done = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match done {
        Ok((1, frames, copied)) if big => {
            tracing::debug!(frames, copied, "SQLite WAL reset postponed: readers busy");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "SQLite WAL checkpoint failed; will retry"),
    }
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Turning a new file to WAL takes an exclusive lock without waiting for it (no busy
    // handler): retry while another process opening the same file holds it.
    let mut tries = 0;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy && tries < 500 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => {
                other?;
                break;
            }
        }
    }
    // FULL: a commit is on disk before its callers are answered.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The checkpoint thread does this work, off the writer's path.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 16 MiB of pages a connection (the operating system caches the file as well): 64 MiB
    // made no difference to the accept or inbound benchmarks, and held a million-row campaign
    // upload's memory above 150 MB (BENCHMARKS.md, issue 13).
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// The functions of the store's own that SQL run on the writer calls: `openbsp_inbox_digest(id,
/// body)`, the digest a payload of Meta's is stored under ([`crate::inbox::digest`]; SQLite has
/// no SHA-256 of its own), which migration 24 gives payloads stored before digests existed.
/// NULL for a missing body.
fn functions(conn: &Connection) -> StoreResult<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "openbsp_inbox_digest",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let id: String = ctx.get(0)?;
            let body: Option<Vec<u8>> = ctx.get(1)?;
            Ok(body.map(|b| crate::inbox::digest_of(&id, &b).to_vec()))
        },
    )?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        // IMMEDIATE: hold the write lock while looking, so that processes opening the same new
        // file at once wait for each other instead of failing ("database is locked") or
        // applying the migration twice.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, chrono::Utc::now().timestamp_millis()],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}
