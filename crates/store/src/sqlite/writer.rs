//! The single writer thread and its group commit.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::{StoreError, StoreResult};

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 2048;

type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// A request: run on the connection (or told there is none: the transaction could not begin).
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;

/// Handle to the writer thread.
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`. It stops when the last handle is dropped.
    pub(super) fn spawn(conn: Connection) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .expect("the OS can start one thread at start-up");
        Writer { tx }
    }

    /// Runs `f` in the next transaction and answers once it is committed.
    pub(super) async fn run<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Database("could not begin a transaction".into())),
            };
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit_error| {
                let out = match commit_error {
                    Some(e) if ok => Err(StoreError::Database(format!("commit failed: {e}"))),
                    _ => result,
                };
                let _ = reply.send(out);
            });
            (ok, finish)
        });
        self.tx.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut finishes: Vec<Finish> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = commit_batch(&conn, &mut batch, &mut finishes);
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = finishes.len(), "SQLite group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishes.drain(..) {
            finish(commit.as_ref().err());
        }
    }
}

fn commit_batch(
    conn: &Connection,
    batch: &mut Vec<Job>,
    finishes: &mut Vec<Finish>,
) -> StoreResult<()> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        for job in batch.drain(..) {
            finishes.push(job(None).1);
        }
        return Err(e.into());
    }
    for job in batch.drain(..) {
        conn.execute_batch("SAVEPOINT job")?;
        let (ok, finish) = job(Some(conn));
        if !ok {
            conn.execute_batch("ROLLBACK TO job")?;
        }
        conn.execute_batch("RELEASE job")?;
        finishes.push(finish);
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}
