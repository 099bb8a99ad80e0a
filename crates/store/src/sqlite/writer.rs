//! The single writer thread and its group commit.
//!
//! Requests queue on a channel; the writer takes everything queued, runs it in one
//! transaction and commits once, then answers every caller. The fast path runs the requests
//! back to back with no savepoints (a savepoint copies every page it touches into a
//! sub-journal). If any request fails, the whole transaction is rolled back and the batch runs
//! again with one savepoint per request, so that a failing request never takes its neighbours
//! down with it. That is why a request is a re-runnable closure (`FnMut`).

use std::sync::Arc;

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
            Some(c) => (self.f)(c),
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
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, commits: watch::Sender<u64>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        // Shared: every job of the batch answers with the commit's failure as its cause.
        let commit = commit_batch(&conn, &mut batch).map_err(Arc::new);
        match &commit {
            Ok(()) => commits.send_modify(|n| *n = n.wrapping_add(1)),
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "SQLite group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        for job in batch.drain(..) {
            job.finish(commit.as_ref().err());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> StoreResult<()> {
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
