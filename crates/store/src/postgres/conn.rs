//! What every part of the PostgreSQL backend shares, below all of them: driver errors as store
//! errors ([`DbResult`]), the hot connections the group-commit and group-read workers keep
//! ([`HotConn`]), the size budget of one statement ([`chunks`]), and the [`Signal`] of commits
//! that may have written events.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::error::{StoreError, StoreResult};

/// How long a hot connection ([`HotConn`]) keeps the plans it made.
const PLAN_TTL: Duration = Duration::from_secs(1);

/// What [`crate::EventStore::event_signal`] watches: bumped after every commit of a transaction
/// that may have written events. Shared with the group-commit workers.
#[derive(Clone)]
pub(crate) struct Signal(Arc<watch::Sender<u64>>, Arc<tokio::sync::Notify>);

impl Signal {
    /// A signal, and the receiver that watches it.
    pub(crate) fn new() -> (Signal, watch::Receiver<u64>) {
        let (tx, rx) = watch::channel(0u64);
        (
            Signal(Arc::new(tx), Arc::new(tokio::sync::Notify::new())),
            rx,
        )
    }

    /// Wakes the readers of events, this replica's and (by a notice) the others': a
    /// transaction that may have written some has committed.
    pub(crate) fn bump(&self) {
        self.bump_local();
        self.1.notify_one();
    }

    /// Wakes this replica's readers of events only.
    pub(crate) fn bump_local(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What [`Signal::bump`] notifies for the other replicas' sake.
    pub(crate) fn dirty(&self) -> Arc<tokio::sync::Notify> {
        self.1.clone()
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
        _ => StoreError::database(e),
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
