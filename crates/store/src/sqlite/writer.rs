//! The single writer thread and its group commit.
//!
//! Requests queue on a channel; the writer takes everything queued, runs it in one
//! transaction and commits once, then answers every caller. The fast path runs the requests
//! back to back with no savepoints (a savepoint copies every page it touches into a
//! sub-journal). If any request fails, the whole transaction is rolled back and the batch runs
//! again with one savepoint per request, so that a failing request never takes its neighbours
//! down with it. That is why a request is a re-runnable closure (`FnMut`).
//!
//! The writer must never be lost: a request that panics fails alone (its caller gets an
//! error and its effects are rolled back; the batch runs again, one savepoint per request, as
//! after any failure), and a panic outside a request fails that batch's callers and the writer
//! goes on with the next. Before each batch the connection is brought back out of any
//! transaction a failure left open.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{StoreError, StoreResult};

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 2048;

/// One queued request.
trait Job: Send {
    /// Runs the request (or records that it could not run); returns whether it succeeded.
    fn run(&mut self, conn: Option<&Connection>) -> bool;
    /// Answers the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, commit_error: Option<&Arc<StoreError>>);
}

struct Request<R, F> {
    f: F,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<R, F> Job for Request<R, F>
where
    R: Send + 'static,
    F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
{
    fn run(&mut self, conn: Option<&Connection>) -> bool {
        let result = match conn {
            // Unwind safe: a panicking request's result is an error and its effects are rolled
            // back with its transaction or savepoint; what it captured is only read again if
            // the batch runs again, as after any failure.
            Some(c) => catch_unwind(AssertUnwindSafe(|| (self.f)(c))).unwrap_or_else(|panic| {
                let panic = panic_message(&*panic);
                tracing::error!(panic = %panic, "a SQLite write panicked; it fails alone");
                Err(StoreError::database(format!("the write panicked: {panic}")))
            }),
            None => Err(StoreError::database("could not begin a transaction")),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit_error: Option<&Arc<StoreError>>) {
        let out = match (self.result, commit_error) {
            (Some(Ok(_)), Some(e)) => Err(StoreError::database_while("commit failed", e.clone())),
            (Some(r), _) => r,
            (None, _) => Err(StoreError::database("request was not run")),
        };
        let _ = self.reply.send(out);
    }
}

/// Handle to the writer thread.
pub(super) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`. It stops when the last handle is dropped.
    /// `commits` counts the transactions committed (readers of events wait on it).
    pub(super) fn spawn(conn: Connection, commits: watch::Sender<u64>) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(MAX_BATCH * 4);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx, commits))
            .expect("the OS can start one thread at start-up");
        Writer { tx }
    }

    /// Runs `f` in the next transaction and answers once it is committed. `f` may run twice
    /// (see the module doc); only the last run's effects and result count.
    pub(super) async fn run<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Request {
            f,
            result: None,
            reply,
        });
        self.tx.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether the writer answers within `within`: an empty request through the queue, so a
    /// writer that is stuck (or gone) is told from one that is merely busy for a moment.
    pub(super) async fn ping(&self, within: Duration) -> StoreResult<()> {
        match tokio::time::timeout(within, self.run(|_| Ok(()))).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::database(format!(
                "the SQLite writer did not answer within {} ms",
                within.as_millis()
            ))),
        }
    }
}

/// The writer thread: serves batches until every handle is gone. A panic outside a request
/// (which [`Request::run`] already contains) fails the batch it happened in, and the writer
/// carries on with the same connection.
fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, commits: watch::Sender<u64>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    loop {
        let served = catch_unwind(AssertUnwindSafe(|| {
            serve(&conn, &mut rx, &commits, &mut batch)
        }));
        match served {
            Ok(()) => return,
            Err(panic) => {
                let panic = panic_message(&*panic);
                tracing::error!(panic = %panic, jobs = batch.len(), "the SQLite writer panicked; it goes on");
                end_transaction(&conn);
                let error = Arc::new(StoreError::database(format!(
                    "the SQLite writer panicked: {panic}"
                )));
                for job in batch.drain(..) {
                    job.finish(Some(&error));
                }
            }
        }
    }
}

fn serve(
    conn: &Connection,
    rx: &mut mpsc::Receiver<Box<dyn Job>>,
    commits: &watch::Sender<u64>,
    batch: &mut Vec<Box<dyn Job>>,
) {
    while rx.blocking_recv_many(batch, MAX_BATCH) > 0 {
        // Shared: every job of the batch answers with the commit's failure as its cause.
        let commit = commit_batch(conn, batch).map_err(Arc::new);
        match &commit {
            Ok(()) => commits.send_modify(|n| *n = n.wrapping_add(1)),
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "SQLite group commit failed");
                end_transaction(conn);
            }
        }
        for job in batch.drain(..) {
            job.finish(commit.as_ref().err());
        }
    }
}

/// Rolls back whatever transaction is still open on the writer's connection (a failed commit,
/// a panic), so that the next batch can begin its own.
fn end_transaction(conn: &Connection) {
    if conn.is_autocommit() {
        return;
    }
    if let Err(e) = conn.execute_batch("ROLLBACK") {
        // The next batch's BEGIN fails and rolls back again.
        tracing::error!(error = %e, "the SQLite writer could not roll its transaction back");
    }
}

/// What a panic said (its payload is a `&str` or a `String` when it said anything).
fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> StoreResult<()> {
    // A transaction left open (a rollback that failed last time) is ended first.
    end_transaction(conn);
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        for job in batch.iter_mut() {
            job.run(None);
        }
        return Err(e.into());
    }
    let all_ok = batch.iter_mut().all(|job| job.run(Some(conn)));
    if !all_ok {
        // One request failed: start over, each request in its own savepoint.
        conn.execute_batch("ROLLBACK; BEGIN IMMEDIATE")?;
        let mut savepoint = conn.prepare_cached("SAVEPOINT job")?;
        let mut rollback = conn.prepare_cached("ROLLBACK TO job")?;
        let mut release = conn.prepare_cached("RELEASE job")?;
        for job in batch.iter_mut() {
            savepoint.execute([])?;
            if !job.run(Some(conn)) {
                rollback.execute([])?;
            }
            release.execute([])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}
