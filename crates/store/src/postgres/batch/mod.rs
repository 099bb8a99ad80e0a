//! Group commit for the hot writes: `enqueue_outbound` and `insert_inbox`.
//!
//! Callers put their request and a oneshot reply on one queue. A few workers take turns at the
//! queue: each takes everything waiting (up to [`MAX_BATCH`]), stores the whole batch in one
//! transaction with set-based statements (`INSERT … SELECT FROM UNNEST(…)`), commits, and
//! answers every caller. While one worker waits for its commit to be durable, the next one is
//! already writing its batch. If a batch fails as a whole, its requests are retried one per
//! transaction, so one bad request never fails its neighbours; each request then gets exactly
//! the answer it would have got alone.
//!
//! Per-request semantics are the SQLite backend's: the idempotency key is looked up first, a
//! repeat of a key *within* one batch is answered relative to its first occurrence, contacts
//! are found or created, each message joins the open session of its channel and contact (or
//! opens one: messages of a batch to the same new pair share it), a free entry point window is
//! opened when asked, and the message, its `queued` history entry and its outbox row are
//! written together, with their events (`contact.updated` for a contact created,
//! `session.closed` / `session.opened`, `message.status` queued: built from what the batch
//! wrote and inserted in the order a one-by-one run writes them, one `UNNEST` per chunk).
//! Concurrent transactions (other workers, other replicas) storing the same
//! new key collide on its unique constraint: the later one fails, its requests are redone one
//! by one, and the redone look-up finds the committed message (see [`enqueue_one`]).
//!
//! The workers and their transactions are here; what one batch writes is in the submodules:
//! [`enqueue`] (the requests in order), then [`contacts`], [`sessions`] and [`outbound`] (the
//! rows, set-based).

mod contacts;
mod enqueue;
mod outbound;
mod sessions;

use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

use openbsp_domain::windows::Refusal;

use super::conn::{DbResult, HotConn, Signal, chunks, text_bytes};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::policy::SendCheck;

pub(super) use enqueue::{LOOKUP_KEYS_SQL, enqueue_set};

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 512;

/// What an enqueue answers: stored (or found by its idempotency key), or refused by the send
/// policy (only for [`Batcher::enqueue_checked`]).
pub(super) type Checked = Result<EnqueueOutcome, Refusal>;

/// A request waiting for the next batch.
enum Job {
    Enqueue(
        Box<NewOutbound>,
        Option<SendCheck>,
        oneshot::Sender<StoreResult<Checked>>,
    ),
    /// A payload, the SHA-256 of its body, and whether it was stored (not a copy).
    Inbox(InboxItem, [u8; 32], oneshot::Sender<StoreResult<bool>>),
}

/// Handle to the group-commit workers; they stop once it is dropped and the queue is drained.
pub(super) struct Batcher {
    tx: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts `workers` workers writing through `pool`, bumping `signal` after each commit
    /// that wrote events.
    pub(super) fn spawn(pool: PgPool, workers: usize, signal: Signal) -> Batcher {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            tokio::spawn(worker(pool.clone(), rx.clone(), signal.clone()));
        }
        Batcher { tx }
    }

    /// Stores an outbound message in the next batch; answers once it is committed.
    pub(super) async fn enqueue(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome> {
        match self.send(new, None).await? {
            Ok(outcome) => Ok(outcome),
            Err(_) => Err(StoreError::database(
                "an enqueue without a send check was refused",
            )),
        }
    }

    /// Stores an outbound message in the next batch if the send policy allows it (see
    /// [`crate::MessageStore::enqueue_checked`]): the policy reads the conversation inside the batch's
    /// own transaction, after the idempotency key has been looked up.
    pub(super) async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: SendCheck,
    ) -> StoreResult<Checked> {
        self.send(new, Some(check)).await
    }

    async fn send(&self, new: NewOutbound, check: Option<SendCheck>) -> StoreResult<Checked> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Enqueue(Box::new(new), check, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores a webhook payload (whose body has the SHA-256 `digest`) in the next batch;
    /// answers once it is committed: `false` if the app already had the same bytes.
    pub(super) async fn insert_inbox(
        &self,
        item: InboxItem,
        digest: [u8; 32],
    ) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Inbox(item, digest, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// One worker: take what is queued, commit it, answer, repeat.
async fn worker(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Job>>>, signal: Signal) {
    let mut conn = HotConn::new(pool);
    // Connect now rather than on the first request.
    if let Err(e) = conn.get().await {
        tracing::warn!(error = %e, "group-commit worker could not connect yet");
    }
    let conn = &mut Committer {
        conn: &mut conn,
        signal,
    };
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        // The lock is held only while waiting for and draining the queue, not while writing.
        let n = rx.lock().await.recv_many(&mut jobs, MAX_BATCH).await;
        if n == 0 {
            return; // every sender is gone: the store was dropped
        }
        run_batch(conn, &mut jobs).await;
    }
}

/// Commits one batch and answers its callers. A batch that fails as a whole (or a lone
/// request) is done one request per transaction, so each gets the answer it would get alone.
async fn run_batch(conn: &mut Committer<'_>, jobs: &mut Vec<Job>) {
    let mut news = Vec::new();
    let mut checks = Vec::new();
    let mut news_replies = Vec::new();
    let mut inbox = Vec::new();
    let mut inbox_replies = Vec::new();
    for job in jobs.drain(..) {
        match job {
            Job::Enqueue(new, check, reply) => {
                news.push(*new);
                checks.push(check);
                news_replies.push(reply);
            }
            Job::Inbox(item, digest, reply) => {
                inbox.push((item, digest));
                inbox_replies.push(reply);
            }
        }
    }
    let size = news.len() + inbox.len();
    if size > 1 {
        match commit(conn, &mut news, &checks, &inbox).await {
            Ok((outcomes, stored)) => {
                for (reply, outcome) in news_replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                for (reply, stored) in inbox_replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(stored));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size, "PostgreSQL group commit failed; retrying its requests one by one");
            }
        }
    }
    for ((new, check), reply) in news.iter_mut().zip(&checks).zip(news_replies) {
        let _ = reply.send(enqueue_one(conn, new, check).await);
    }
    for (item, reply) in inbox.iter().zip(inbox_replies) {
        let out = commit(conn, &mut [], &[], std::slice::from_ref(item))
            .await
            .map(|(_, stored)| stored.first().copied().unwrap_or(false));
        let _ = reply.send(out);
    }
}

/// Name of the unique index on `(tenant_id, idempotency_key)` (see the migration).
pub(super) const IDEMPOTENCY_CONSTRAINT: &str = "messages_idempotency_key";

/// Enqueues one message in its own transaction. Idempotency keys are looked up without locks:
/// if a concurrent transaction stored the same key after our look-up, our insert waits for it
/// and then breaks the key's unique constraint. Looking again then finds that (now committed)
/// message, which is the answer the request would have got had it come second.
async fn enqueue_one(
    conn: &mut Committer<'_>,
    new: &mut NewOutbound,
    check: &Option<SendCheck>,
) -> StoreResult<Checked> {
    let mut attempts = 0;
    loop {
        let has_key = new.message.idempotency_key.is_some();
        match commit(
            conn,
            std::slice::from_mut(new),
            std::slice::from_ref(check),
            &[],
        )
        .await
        {
            Ok((mut outcomes, _)) => {
                return outcomes
                    .pop()
                    .ok_or_else(|| StoreError::database("enqueue gave no outcome"));
            }
            Err(StoreError::Conflict(what))
                if attempts < 3 && has_key && what.starts_with(IDEMPOTENCY_CONSTRAINT) =>
            {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A worker's connection and the signal its commits bump.
struct Committer<'a> {
    conn: &'a mut HotConn,
    signal: Signal,
}

/// Stores `news` (each behind its send check, if it has one) and `inbox` (each payload with
/// the SHA-256 of its body) in one transaction; the outcomes are in the order of `news`, and
/// whether each payload was stored (not a copy) in the order of `inbox`. Wakes the readers of
/// events once a transaction that wrote some has committed.
async fn commit(
    conn: &mut Committer<'_>,
    news: &mut [NewOutbound],
    checks: &[Option<SendCheck>],
    inbox: &[(InboxItem, [u8; 32])],
) -> StoreResult<(Vec<Checked>, Vec<bool>)> {
    let result = commit_on(conn.conn.get().await?, news, checks, inbox).await;
    match &result {
        Err(StoreError::Database(_) | StoreError::Closed) => {
            // Not a rejected request: the connection itself may be at fault.
            conn.conn.discard();
        }
        Ok((outcomes, _))
            if outcomes
                .iter()
                .any(|o| matches!(o, Ok(EnqueueOutcome::Created { .. }))) =>
        {
            conn.signal.bump();
        }
        _ => {}
    }
    result
}

async fn commit_on(
    c: &mut PgConnection,
    news: &mut [NewOutbound],
    checks: &[Option<SendCheck>],
    inbox: &[(InboxItem, [u8; 32])],
) -> StoreResult<(Vec<Checked>, Vec<bool>)> {
    let mut tx = c.begin().await.db()?;
    let outcomes = if news.is_empty() {
        Vec::new()
    } else {
        enqueue_set(&mut tx, news, checks).await?
    };
    let stored = if inbox.is_empty() {
        Vec::new()
    } else {
        insert_inbox_set(&mut tx, inbox).await?
    };
    tx.commit().await.db()?;
    Ok((outcomes, stored))
}

/// Stores a batch of webhook payloads on `c`, in as few statements as
/// [`super::conn::STATEMENT_BYTES`] allows; whether each was stored, in order. A payload whose
/// app already has the same bytes (its digest), stored before or earlier in the batch, is
/// not.
async fn insert_inbox_set(
    c: &mut PgConnection,
    items: &[(InboxItem, [u8; 32])],
) -> StoreResult<Vec<bool>> {
    let sizes = items.iter().map(|(i, _)| {
        text_bytes(Some(&i.id)) + text_bytes(Some(&i.app_id)) + 12 + 4 + i.body.len() + 4 + 32
    });
    let mut stored = std::collections::HashSet::new();
    for range in chunks(sizes) {
        let part = &items[range];
        let ids: Vec<String> = sqlx::query_scalar(
            "INSERT INTO webhook_inbox (id, app_id, received_at, body, digest)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[])
             ON CONFLICT (app_id, digest) WHERE digest IS NOT NULL DO NOTHING
             RETURNING id",
        )
        .bind(part.iter().map(|(i, _)| i.id.as_str()).collect::<Vec<_>>())
        .bind(
            part.iter()
                .map(|(i, _)| i.app_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(part.iter().map(|(i, _)| i.received_at).collect::<Vec<_>>())
        .bind(
            part.iter()
                .map(|(i, _)| i.body.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind(part.iter().map(|(_, d)| d.as_slice()).collect::<Vec<_>>())
        .fetch_all(&mut *c)
        .await
        .db()?;
        stored.extend(ids);
    }
    Ok(items.iter().map(|(i, _)| stored.contains(&i.id)).collect())
}
