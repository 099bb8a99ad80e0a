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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

use openbsp_domain::windows::Refusal;

use super::rows::{self, CONTACT_COLS, MESSAGE_COLS, SESSION_COLS};
use super::{DbResult, HotConn, Signal, chunks, events, reads, text_bytes};
use crate::error::{StoreError, StoreResult};
use crate::events::{self as build, kind as ev};
use crate::model::*;
use crate::policy::SendCheck;
use openbsp_domain::MessageStatus;

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
    Inbox(InboxItem, oneshot::Sender<StoreResult<()>>),
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
            Err(_) => Err(StoreError::Database(
                "an enqueue without a send check was refused".into(),
            )),
        }
    }

    /// Stores an outbound message in the next batch if the send policy allows it (see
    /// [`crate::Store::enqueue_checked`]): the policy reads the conversation inside the batch's
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

    /// Stores a webhook payload in the next batch; answers once it is committed.
    pub(super) async fn insert_inbox(&self, item: InboxItem) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Inbox(item, reply))
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
            Job::Inbox(item, reply) => {
                inbox.push(item);
                inbox_replies.push(reply);
            }
        }
    }
    let size = news.len() + inbox.len();
    if size > 1 {
        match commit(conn, &mut news, &checks, &inbox).await {
            Ok(outcomes) => {
                for (reply, outcome) in news_replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                for reply in inbox_replies {
                    let _ = reply.send(Ok(()));
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
            .map(|_| ());
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
            Ok(mut outcomes) => {
                return outcomes
                    .pop()
                    .ok_or_else(|| StoreError::Database("enqueue gave no outcome".into()));
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

/// Stores `news` (each behind its send check, if it has one) and `inbox` in one transaction;
/// the outcomes are in the order of `news`. Wakes the readers of events once a transaction
/// that wrote some has committed.
async fn commit(
    conn: &mut Committer<'_>,
    news: &mut [NewOutbound],
    checks: &[Option<SendCheck>],
    inbox: &[InboxItem],
) -> StoreResult<Vec<Checked>> {
    let result = commit_on(conn.conn.get().await?, news, checks, inbox).await;
    match &result {
        Err(StoreError::Database(_) | StoreError::Closed) => {
            // Not a rejected request: the connection itself may be at fault.
            conn.conn.discard();
        }
        Ok(outcomes)
            if outcomes
                .iter()
                .any(|o| matches!(o, Ok(EnqueueOutcome::Created(_)))) =>
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
    inbox: &[InboxItem],
) -> StoreResult<Vec<Checked>> {
    let mut tx = c.begin().await.db()?;
    let outcomes = if news.is_empty() {
        Vec::new()
    } else {
        enqueue_set(&mut tx, news, checks).await?
    };
    if !inbox.is_empty() {
        insert_inbox_set(&mut tx, inbox).await?;
    }
    tx.commit().await.db()?;
    Ok(outcomes)
}

/// What a request of the batch turns into.
enum Plan {
    /// A new message to store.
    Insert,
    /// Its idempotency key is already stored: that message and its request hash.
    Found(Box<Message>, Option<String>),
    /// Its idempotency key is that of the message this earlier request of the batch stores.
    Follow(usize),
    /// The send policy refused it: nothing is stored.
    Refused(Refusal),
}

pub(super) static LOOKUP_KEYS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT m.* FROM UNNEST($1::text[], $2::text[]) AS u(t, k)
         CROSS JOIN LATERAL (SELECT {MESSAGE_COLS}, request_hash FROM messages
             WHERE tenant_id = u.t AND idempotency_key = u.k LIMIT 1) m"
    )
});

/// Messages, their first history entry and their outbox rows, in one statement. Each message
/// joins the open session of its channel and contact if it is live at the message's time: an
/// index probe (`LATERAL … LIMIT 1` on the partial unique index `sessions_open`; the `LIMIT`
/// keeps the planner from flattening it into a join that, before the table has statistics, may
/// scan the channel's whole index). Returns each message's session, `NULL` where there was none
/// to join (the caller opens those, see [`join_sessions`]).
const INSERT_OUTBOUND_SQL: &str = "WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::bigint[], $16::bigint[], $17::text[], $18::int[], $19::text[],
        $20::text[], $21::text[])
    AS u(id, tenant_id, channel_id, contact_id, direction, recipient, msg_type, content, wamid,
        status, error, biz_opaque_callback_data, context_message_id, idempotency_key, created_at,
        updated_at, request_hash, priority, payload, template_id, rendered_text)
), m AS (
    INSERT INTO messages (id, tenant_id, channel_id, contact_id, direction, recipient, msg_type,
        content, wamid, status, error, biz_opaque_callback_data, context_message_id,
        idempotency_key, created_at, updated_at, request_hash, session_id, template_id,
        rendered_text)
    SELECT i.id, i.tenant_id, i.channel_id, i.contact_id, i.direction, i.recipient, i.msg_type,
        i.content, i.wamid, i.status, i.error, i.biz_opaque_callback_data, i.context_message_id,
        i.idempotency_key, i.created_at, i.updated_at, i.request_hash, s.id, i.template_id,
        i.rendered_text
    FROM input i
    LEFT JOIN LATERAL (SELECT id FROM sessions
        WHERE sessions.channel_id = i.channel_id AND sessions.contact_id = i.contact_id
            AND sessions.closed_at IS NULL AND sessions.expires_at > i.created_at
            AND sessions.tenant_id = i.tenant_id LIMIT 1) s ON true
    RETURNING id, session_id
), h AS (
    INSERT INTO message_statuses (message_id, status, at)
    SELECT id, status, created_at FROM input
    ON CONFLICT (message_id, status) DO NOTHING
), o AS (
    INSERT INTO outbox (message_id, tenant_id, channel_id, state, priority, attempts,
        next_attempt_at, payload)
    SELECT id, tenant_id, channel_id, 'pending', priority, 0, created_at, payload FROM input
)
SELECT id, session_id FROM m";

/// Gives messages just inserted the sessions opened for them.
const SET_SESSIONS_SQL: &str = "UPDATE messages AS m SET session_id = u.session_id
FROM UNNEST($1::text[], $2::text[]) AS u(id, session_id)
WHERE m.id = u.id";

/// Stores a batch of outbound messages on `c` (inside the caller's transaction), in the
/// order a one-by-one run would: a request whose idempotency key is already stored (or stored
/// by an earlier request of the batch) is answered with that message; any other request with a
/// send check is judged by the policy on its conversation, read in this transaction (a refusal
/// stores nothing, and the policy's plan replaces the request's session and FEP window).
pub(super) async fn enqueue_set(
    c: &mut PgConnection,
    items: &mut [NewOutbound],
    checks: &[Option<SendCheck>],
) -> StoreResult<Vec<Checked>> {
    // The keys already stored, with their messages and request hashes.
    let mut distinct: Vec<(&str, &str)> = items
        .iter()
        .filter_map(|n| {
            let m = &n.message;
            m.idempotency_key
                .as_deref()
                .map(|k| (m.tenant_id.as_str(), k))
        })
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut stored: HashMap<(String, String), (Message, Option<String>)> = HashMap::new();
    if !distinct.is_empty() {
        let (tenants, keys): (Vec<&str>, Vec<&str>) = distinct.iter().copied().unzip();
        let ranges = chunks(
            distinct
                .iter()
                .map(|(t, k)| text_bytes(Some(t)) + text_bytes(Some(k))),
        );
        for r in &ranges {
            let found = sqlx::query(LOOKUP_KEYS_SQL.as_str())
                .bind(&tenants[r.clone()])
                .bind(&keys[r.clone()])
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &found {
                let msg = rows::message(row)?;
                let hash: Option<String> = rows::get(row, rows::MESSAGE_N)?;
                let key = msg.idempotency_key.clone().unwrap_or_default();
                stored.insert((msg.tenant_id.clone(), key), (msg, hash));
            }
        }
    }
    let key_of = |n: &NewOutbound| {
        n.message
            .idempotency_key
            .as_ref()
            .map(|k| (n.message.tenant_id.clone(), k.clone()))
    };

    // The conversations the policy will judge, read at once.
    let judged: Vec<usize> = (0..items.len())
        .filter(|&i| {
            checks.get(i).is_some_and(Option::is_some)
                && !key_of(&items[i]).is_some_and(|k| stored.contains_key(&k))
        })
        .collect();
    let mut conversations: HashMap<usize, Conversation> = HashMap::with_capacity(judged.len());
    if !judged.is_empty() {
        let wanted: Vec<(&str, &str, &ContactKey)> = judged
            .iter()
            .map(|&i| {
                let n = &items[i];
                (
                    n.message.tenant_id.as_str(),
                    n.message.channel_id.as_str(),
                    &n.contact,
                )
            })
            .collect();
        let read = reads::read_conversations(c, &wanted).await?;
        conversations.extend(judged.iter().copied().zip(read));
    }

    // Each request in order, as if alone.
    let mut leaders: HashMap<(String, String), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(items.len());
    for (i, new) in items.iter_mut().enumerate() {
        let key = key_of(new);
        if let Some(k) = &key {
            if let Some((msg, hash)) = stored.get(k) {
                plans.push(Plan::Found(Box::new(msg.clone()), hash.clone()));
                continue;
            }
            if let Some(&j) = leaders.get(k) {
                plans.push(Plan::Follow(j));
                continue;
            }
        }
        if let Some(Some(check)) = checks.get(i) {
            let conversation = conversations.remove(&i).unwrap_or_default();
            match crate::policy::plan(&conversation, check, new.message.created_at) {
                Ok(plan) => {
                    new.session = plan.session;
                    new.open_fep_until = plan.open_fep_until;
                }
                Err(refusal) => {
                    plans.push(Plan::Refused(refusal));
                    continue;
                }
            }
        }
        if let Some(k) = key {
            leaders.insert(k, i);
        }
        plans.push(Plan::Insert);
    }
    let items: &[NewOutbound] = items;

    // The messages to create, with their contacts.
    let inserts: Vec<usize> = (0..items.len())
        .filter(|&i| matches!(plans[i], Plan::Insert))
        .collect();
    let wanted: Vec<(&str, &ContactKey, i64)> = inserts
        .iter()
        .map(|&i| {
            let m = &items[i].message;
            (m.tenant_id.as_str(), &items[i].contact, m.created_at)
        })
        .collect();
    let (contacts, mut new_contacts) = resolve_contacts(c, &wanted).await?;
    let mut created: Vec<Option<Message>> = vec![None; items.len()];
    for &i in &inserts {
        let mut m = items[i].message.clone();
        let (col, value) = rows::contact_key(&items[i].contact);
        let id = contacts.get(&(m.tenant_id.clone(), col, value.to_string()));
        m.contact_id = Some(
            id.cloned()
                .ok_or_else(|| StoreError::Database("contact not resolved".into()))?,
        );
        created[i] = Some(m);
    }
    // Sessions opened or closed, by the message whose enqueue did it (for its events).
    let mut session_events: HashMap<usize, Vec<SessionChange>> = HashMap::new();
    if !inserts.is_empty() {
        open_fep_windows(c, items, &created).await?;
        insert_outbound(c, items, &mut created).await?;
        // Messages with no open session to join (the first to someone on a channel, or the
        // first after a session lapsed): sessions are opened for them, and given to them.
        if created.iter().flatten().any(|m| m.session_id.is_none()) {
            let opened = join_sessions(c, items, &mut created, &mut session_events).await?;
            let (ids, sessions): (Vec<&str>, Vec<&str>) = opened
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_str()))
                .unzip();
            for r in chunks(ids.iter().map(|id| 2 * text_bytes(Some(id)))) {
                sqlx::query(SET_SESSIONS_SQL)
                    .bind(&ids[r.clone()])
                    .bind(&sessions[r])
                    .execute(&mut *c)
                    .await
                    .db()?;
            }
        }
        // The events, each message's in the order a one-by-one run writes them: its contact
        // created, its session closed (lapsed) and opened, its `queued` status.
        let mut new_events = Vec::with_capacity(inserts.len() + session_events.len());
        for &i in &inserts {
            let Some(m) = &created[i] else { continue };
            let (col, value) = rows::contact_key(&items[i].contact);
            if let Some(contact) =
                new_contacts.remove(&(m.tenant_id.clone(), col, value.to_string()))
            {
                new_events.push(build::contact_updated(&contact, &["created"], m.created_at));
            }
            for (kind, s, at) in session_events.remove(&i).unwrap_or_default() {
                new_events.push(build::session(kind, &s, at));
            }
            if m.status != MessageStatus::Received {
                new_events.push(build::message_status(m, m.status, m.created_at, None, None));
            }
        }
        events::insert(c, new_events).await.db()?;
    }

    let mut outcomes = Vec::with_capacity(items.len());
    for (i, new) in items.iter().enumerate() {
        let outcome = match &plans[i] {
            Plan::Insert => Ok(EnqueueOutcome::Created(
                created[i].clone().unwrap_or_else(|| new.message.clone()),
            )),
            Plan::Found(msg, hash) => Ok(by_hash(new, msg, hash.as_deref())),
            Plan::Follow(p) => match &created[*p] {
                Some(msg) => Ok(by_hash(new, msg, Some(&items[*p].request_hash))),
                None => {
                    return Err(StoreError::Database("idempotency key not resolved".into()));
                }
            },
            Plan::Refused(refusal) => Err(*refusal),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The answer to a request whose idempotency key names `existing`.
fn by_hash(new: &NewOutbound, existing: &Message, hash: Option<&str>) -> EnqueueOutcome {
    if hash == Some(new.request_hash.as_str()) {
        EnqueueOutcome::Existing(existing.clone())
    } else {
        EnqueueOutcome::KeyReused(existing.clone())
    }
}

/// A session a message's enqueue opened or closed (its event's kind, the session as it left
/// it, when): its event is built with the message's other events, in their order (an event's
/// time is when it is built).
type SessionChange = (&'static str, Session, i64);

/// The open session of each (channel, contact) pair, or a new one, in one statement: each pair's
/// open session is an index probe (`LATERAL` on the partial unique index `sessions_open`; the
/// `LIMIT 1` keeps the planner from flattening it into a join that, before the table has
/// statistics, may scan the channel's whole index with the contact as a filter); the
/// pairs without one get a session inserted (`ON CONFLICT … DO NOTHING`: a concurrent
/// transaction may open the same one) and returned. Returns (id, channel, contact, expires_at,
/// opened here).
const JOIN_SESSIONS_SQL: &str = "WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::bigint[], $8::bigint[])
    AS u(id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at, expires_at)
), existing AS (
    SELECT s.id, s.channel_id, s.contact_id, s.expires_at FROM input i
    CROSS JOIN LATERAL (SELECT id, channel_id, contact_id, expires_at FROM sessions
        WHERE sessions.channel_id = i.channel_id AND sessions.contact_id = i.contact_id
            AND sessions.closed_at IS NULL AND sessions.tenant_id = i.tenant_id LIMIT 1) s
), ins AS (
    INSERT INTO sessions (id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at,
        expires_at, updated_at)
    SELECT i.id, i.tenant_id, i.channel_id, i.contact_id, i.kind, i.opened_by, i.opened_at,
        i.expires_at, i.opened_at FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM existing e
        WHERE e.channel_id = i.channel_id AND e.contact_id = i.contact_id)
    ON CONFLICT (channel_id, contact_id) WHERE closed_at IS NULL DO NOTHING
    RETURNING id, channel_id, contact_id, expires_at
)
SELECT id, channel_id, contact_id, expires_at, true FROM ins
UNION ALL
SELECT id, channel_id, contact_id, expires_at, false FROM existing";

/// Closes open sessions whose window lapsed before the message that would have joined them
/// (the closer has not reached them yet): at their expiry, reason `expired`, as it would have.
/// Returns them as closed.
static CLOSE_LAPSED_SQL: LazyLock<String> = LazyLock::new(|| {
    let cols = SESSION_COLS
        .split(',')
        .map(|c| format!("s.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE sessions AS s SET closed_at = s.expires_at,
             close_reason = 'expired', updated_at = u.at
         FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at)
         WHERE s.id = u.id AND s.closed_at IS NULL AND s.expires_at <= u.at
         RETURNING {cols}"
    )
});

/// Fills in the session of every message `created` holds that has none yet: the open session
/// of its channel and contact, or one opened from its [`SessionSpec`] at its creation time.
/// Messages of one batch to the same pair share one session, opened from the first of them. An
/// open session that lapsed at that time is closed first. A few set-based statements per batch,
/// whatever its size; one more only when a lapsed session or a concurrent opening is met.
/// Returns the (message, session) pairs it filled in; the events of the sessions it opened
/// and closed go to `session_events`, by the index of the message they were opened (closed)
/// for.
async fn join_sessions(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &mut [Option<Message>],
    session_events: &mut HashMap<usize, Vec<SessionChange>>,
) -> StoreResult<Vec<(String, String)>> {
    // Each pair's first message; pairs in a fixed order, so that concurrent batches opening
    // the same sessions wait for each other instead of deadlocking.
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, m) in created.iter().enumerate() {
        if let Some(m) = m
            && m.session_id.is_none()
            && let Some(contact) = &m.contact_id
        {
            pairs
                .entry((m.channel_id.clone(), contact.clone()))
                .or_insert(i);
        }
    }
    let mut found: HashMap<(String, String), String> = HashMap::with_capacity(pairs.len());
    let mut attempts = 0;
    loop {
        let todo: Vec<(&(String, String), usize)> = pairs
            .iter()
            .filter(|(k, _)| !found.contains_key(*k))
            .map(|(k, i)| (k, *i))
            .collect();
        if todo.is_empty() {
            break;
        }
        if attempts == 3 {
            // Each round finds or opens every pair's session, unless it met a lapsed one (closed
            // for the next round) or a concurrent opening (found by the next round).
            return Err(StoreError::Database(
                "sessions could not be found or opened".into(),
            ));
        }
        attempts += 1;
        let ids: Vec<String> = todo
            .iter()
            .map(|(_, i)| {
                openbsp_domain::ids::new_id_at(
                    openbsp_domain::ids::prefix::SESSION,
                    items[*i].message.created_at,
                )
            })
            .collect();
        let sizes = todo.iter().map(|((ch, co), i)| {
            let new = &items[*i];
            text_bytes(Some(&new.message.tenant_id))
                + text_bytes(Some(ch))
                + text_bytes(Some(co))
                + text_bytes(new.session.kind.as_deref())
                + text_bytes(Some(&new.session.opened_by))
                + 30
                + 24
        });
        let mut lapsed: Vec<(String, i64, usize)> = Vec::new();
        for r in chunks(sizes) {
            let part = &todo[r.clone()];
            let found_rows = sqlx::query(JOIN_SESSIONS_SQL)
                .bind(&ids[r])
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].message.tenant_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(part.iter().map(|(k, _)| k.0.as_str()).collect::<Vec<_>>())
                .bind(part.iter().map(|(k, _)| k.1.as_str()).collect::<Vec<_>>())
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].session.kind.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].session.opened_by.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].message.created_at)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].session.expires_at)
                        .collect::<Vec<_>>(),
                )
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &found_rows {
                let (id, channel, contact, expires_at, fresh): (String, String, String, i64, bool) = (
                    rows::get(row, 0)?,
                    rows::get(row, 1)?,
                    rows::get(row, 2)?,
                    rows::get(row, 3)?,
                    rows::get(row, 4)?,
                );
                let key = (channel, contact);
                let Some(&i) = pairs.get(&key) else {
                    continue; // not asked for (cannot happen: the statement returns its input's pairs)
                };
                let new = &items[i];
                let at = new.message.created_at;
                if fresh {
                    // Opened here, with these values.
                    let s = Session {
                        id: id.clone(),
                        tenant_id: new.message.tenant_id.clone(),
                        channel_id: key.0.clone(),
                        contact_id: key.1.clone(),
                        kind: new.session.kind.clone(),
                        opened_by: new.session.opened_by.clone(),
                        opened_at: at,
                        expires_at,
                        closed_at: None,
                        close_reason: None,
                        last_inbound_at: None,
                        updated_at: at,
                    };
                    session_events
                        .entry(i)
                        .or_default()
                        .push((ev::SESSION_OPENED, s, at));
                }
                if fresh || expires_at > at {
                    found.insert(key, id);
                } else {
                    lapsed.push((id, at, i));
                }
            }
        }
        if !lapsed.is_empty() {
            let ids: Vec<&str> = lapsed.iter().map(|l| l.0.as_str()).collect();
            let ats: Vec<i64> = lapsed.iter().map(|l| l.1).collect();
            let closed = sqlx::query(CLOSE_LAPSED_SQL.as_str())
                .bind(ids)
                .bind(ats)
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &closed {
                let s = rows::session(row)?;
                if let Some((_, at, i)) = lapsed.iter().find(|l| l.0 == s.id) {
                    session_events
                        .entry(*i)
                        .or_default()
                        .push((ev::SESSION_CLOSED, s, *at));
                }
            }
        }
        // A pair whose insert met a session a concurrent transaction opened (and committed
        // since this statement began), or whose session had lapsed, is done by the next round.
    }
    let mut filled = Vec::new();
    for m in created.iter_mut().flatten() {
        if m.session_id.is_none()
            && let Some(contact) = &m.contact_id
        {
            m.session_id = found.get(&(m.channel_id.clone(), contact.clone())).cloned();
            if let Some(s) = &m.session_id {
                filled.push((m.id.clone(), s.clone()));
            }
        }
    }
    Ok(filled)
}

/// Opens the free entry point windows the batch's messages ask for: the window row of the
/// pair gets `fep_opened_at` = the message's time and `fep_expires_at` = its end, unless an FEP
/// window was already opened for the pair's last entry point (the row is created if missing).
const OPEN_FEP_SQL: &str = "INSERT INTO contact_windows AS w (channel_id, contact_id, tenant_id,
    fep_opened_at, fep_expires_at)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
ON CONFLICT (channel_id, contact_id) DO UPDATE SET
    fep_opened_at = EXCLUDED.fep_opened_at, fep_expires_at = EXCLUDED.fep_expires_at
WHERE NOT COALESCE(w.fep_opened_at >= w.entry_point_at, false)";

/// Applies the `open_fep_until` of the messages `created` holds (rare: only replies to an ad or
/// page-button entry); the first message of the batch to a pair opens it.
async fn open_fep_windows(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &[Option<Message>],
) -> StoreResult<()> {
    let mut pairs: BTreeMap<(&str, &str), (&str, i64, i64)> = BTreeMap::new();
    for (new, m) in items.iter().zip(created) {
        if let (Some(m), Some(until)) = (m, new.open_fep_until)
            && let Some(contact) = &m.contact_id
        {
            pairs
                .entry((m.channel_id.as_str(), contact.as_str()))
                .or_insert((m.tenant_id.as_str(), m.created_at, until));
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let all: Vec<_> = pairs.into_iter().collect();
    let sizes = all.iter().map(|((ch, co), (t, _, _))| {
        text_bytes(Some(ch)) + text_bytes(Some(co)) + text_bytes(Some(t)) + 24
    });
    for r in chunks(sizes) {
        let part = &all[r];
        sqlx::query(OPEN_FEP_SQL)
            .bind(part.iter().map(|((ch, _), _)| *ch).collect::<Vec<_>>())
            .bind(part.iter().map(|((_, co), _)| *co).collect::<Vec<_>>())
            .bind(part.iter().map(|(_, (t, _, _))| *t).collect::<Vec<_>>())
            .bind(part.iter().map(|(_, (_, at, _))| *at).collect::<Vec<_>>())
            .bind(
                part.iter()
                    .map(|(_, (_, _, until))| *until)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *c)
            .await
            .db()?;
    }
    Ok(())
}

/// Inserts the messages `created` holds (with their contacts filled in), in as few statements
/// as [`super::STATEMENT_BYTES`] allows, and fills in the sessions they joined.
async fn insert_outbound(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &mut [Option<Message>],
) -> StoreResult<()> {
    let joined = insert_outbound_rows(c, items, created).await?;
    for m in created.iter_mut().flatten() {
        m.session_id = joined.get(&m.id).cloned().flatten();
    }
    Ok(())
}

/// [`insert_outbound`]'s statements; the session each message joined, by message id.
async fn insert_outbound_rows(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &[Option<Message>],
) -> StoreResult<HashMap<String, Option<String>>> {
    struct Row<'a> {
        new: &'a NewOutbound,
        m: &'a Message,
        content: String,
        error: Option<String>,
        payload: String,
    }
    let mut rows: Vec<Row<'_>> = items
        .iter()
        .zip(created)
        .filter_map(|(new, m)| {
            m.as_ref().map(|m| Row {
                new,
                m,
                content: m.content.to_string(),
                error: m.error.as_ref().map(|e| e.to_string()),
                payload: new.payload.to_string(),
            })
        })
        .collect();
    // Keyed rows in key order: concurrent batches sharing new keys wait for each other in one
    // order instead of deadlocking.
    rows.sort_by(|a, b| {
        let (a, b) = (a.m, b.m);
        (
            a.idempotency_key.is_none(),
            &a.tenant_id,
            &a.idempotency_key,
        )
            .cmp(&(
                b.idempotency_key.is_none(),
                &b.tenant_id,
                &b.idempotency_key,
            ))
    });
    let sizes = rows.iter().map(|r| {
        let m = r.m;
        [
            Some(m.id.as_str()),
            Some(&m.tenant_id),
            Some(&m.channel_id),
            m.contact_id.as_deref(),
            Some(m.direction.as_str()),
            Some(&m.recipient),
            Some(&m.msg_type),
            Some(&r.content),
            m.wamid.as_deref(),
            Some(m.status.as_str()),
            r.error.as_deref(),
            m.biz_opaque_callback_data.as_deref(),
            m.context_message_id.as_deref(),
            m.idempotency_key.as_deref(),
            Some(&r.new.request_hash),
            Some(&r.payload),
            m.template_id.as_deref(),
            m.rendered_text.as_deref(),
        ]
        .into_iter()
        .map(text_bytes)
        .sum::<usize>()
            + 3 * 12
    });
    let mut joined = HashMap::with_capacity(rows.len());
    for range in chunks(sizes) {
        let part = &rows[range];
        let col =
            |f: for<'r> fn(&'r Row<'_>) -> Option<&'r str>| part.iter().map(f).collect::<Vec<_>>();
        let text = |f: for<'r> fn(&'r Row<'_>) -> &'r str| part.iter().map(f).collect::<Vec<_>>();
        let found = sqlx::query(INSERT_OUTBOUND_SQL)
            .bind(text(|r| &r.m.id))
            .bind(text(|r| &r.m.tenant_id))
            .bind(text(|r| &r.m.channel_id))
            .bind(col(|r| r.m.contact_id.as_deref()))
            .bind(text(|r| r.m.direction.as_str()))
            .bind(text(|r| &r.m.recipient))
            .bind(text(|r| &r.m.msg_type))
            .bind(text(|r| &r.content))
            .bind(col(|r| r.m.wamid.as_deref()))
            .bind(text(|r| r.m.status.as_str()))
            .bind(col(|r| r.error.as_deref()))
            .bind(col(|r| r.m.biz_opaque_callback_data.as_deref()))
            .bind(col(|r| r.m.context_message_id.as_deref()))
            .bind(col(|r| r.m.idempotency_key.as_deref()))
            .bind(part.iter().map(|r| r.m.created_at).collect::<Vec<_>>())
            .bind(part.iter().map(|r| r.m.updated_at).collect::<Vec<_>>())
            .bind(text(|r| &r.new.request_hash))
            .bind(part.iter().map(|r| r.new.priority).collect::<Vec<_>>())
            .bind(text(|r| &r.payload))
            .bind(col(|r| r.m.template_id.as_deref()))
            .bind(col(|r| r.m.rendered_text.as_deref()))
            .fetch_all(&mut *c)
            .await
            .db()?;
        for row in &found {
            let (id, session): (String, Option<String>) = (rows::get(row, 0)?, rows::get(row, 1)?);
            joined.insert(id, session);
        }
    }
    Ok(joined)
}

/// Stores a batch of webhook payloads on `c`, in as few statements as [`super::STATEMENT_BYTES`]
/// allows.
async fn insert_inbox_set(c: &mut PgConnection, items: &[InboxItem]) -> StoreResult<()> {
    let sizes = items
        .iter()
        .map(|i| text_bytes(Some(&i.id)) + text_bytes(Some(&i.app_id)) + 12 + 4 + i.body.len());
    for range in chunks(sizes) {
        let part = &items[range];
        sqlx::query(
            "INSERT INTO webhook_inbox (id, app_id, received_at, body)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bytea[])",
        )
        .bind(part.iter().map(|i| i.id.as_str()).collect::<Vec<_>>())
        .bind(part.iter().map(|i| i.app_id.as_str()).collect::<Vec<_>>())
        .bind(part.iter().map(|i| i.received_at).collect::<Vec<_>>())
        .bind(part.iter().map(|i| i.body.as_slice()).collect::<Vec<_>>())
        .execute(&mut *c)
        .await
        .db()?;
    }
    Ok(())
}

/// Contact ids by (tenant, key column, key value).
pub(super) type ContactIds = HashMap<(String, &'static str, String), String>;

/// The contacts created, as stored, by (tenant, key column, key value).
pub(super) type NewContacts = HashMap<(String, &'static str, String), Contact>;

/// Finds or creates the contacts `wanted` names — (tenant, key, time of the request) — and
/// returns their ids, and the contacts it created. A contact created here gets the time of the
/// first request naming it. Contacts are only ever inserted (`ON CONFLICT DO NOTHING`), never
/// locked, so concurrent batches sending to the same people do not wait for each other.
pub(super) async fn resolve_contacts(
    c: &mut PgConnection,
    wanted: &[(&str, &ContactKey, i64)],
) -> StoreResult<(ContactIds, NewContacts)> {
    // Sorted and deduplicated: a fixed insertion order keeps concurrent batches from deadlocking.
    let mut distinct: BTreeMap<(&'static str, &str, &str), i64> = BTreeMap::new();
    for (tenant, key, at) in wanted {
        let (col, value) = rows::contact_key(key);
        distinct.entry((col, tenant, value)).or_insert(*at);
    }
    let mut out = ContactIds::with_capacity(distinct.len());
    let mut made = NewContacts::new();
    for col in ["wa_id", "user_id"] {
        let group: Vec<(&str, &str, i64)> = distinct
            .iter()
            .filter(|((c, _, _), _)| *c == col)
            .map(|((_, t, v), at)| (*t, *v, *at))
            .collect();
        if group.is_empty() {
            continue;
        }
        let ids: Vec<String> = group
            .iter()
            .map(|(_, _, at)| {
                openbsp_domain::ids::new_id_at(openbsp_domain::ids::prefix::CONTACT, *at)
            })
            .collect();
        let tenants: Vec<&str> = group.iter().map(|g| g.0).collect();
        let values: Vec<&str> = group.iter().map(|g| g.1).collect();
        let ats: Vec<i64> = group.iter().map(|g| g.2).collect();
        // The key in its column of CONTACT_COLS, the others NULL, for the rows found.
        let key_cols = if col == "wa_id" {
            "e.v, NULL"
        } else {
            "NULL, e.v"
        };
        // The look-ups are LATERAL so that each is an index probe: joined plainly, the planner
        // (which guesses 100 rows for UNNEST) hashes the tenant's whole contacts table instead.
        // The LIMIT 1 (a key matches one contact) keeps the planner from flattening the
        // LATERAL back into such a join: once the table has statistics it did, and every batch
        // scanned all contacts (10,000 rows, 70 times a second, in the accept benchmark).
        let sql = format!(
            "WITH input AS (
                SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(id, tenant_id, v, at)
             ), existing AS (
                SELECT c.id, c.tenant_id, c.v FROM input i
                CROSS JOIN LATERAL (
                    SELECT id, tenant_id, {col} AS v FROM contacts
                    WHERE contacts.tenant_id = i.tenant_id AND contacts.{col} = i.v
                    LIMIT 1
                ) c
             ), ins AS (
                INSERT INTO contacts (id, tenant_id, {col}, created_at, updated_at)
                SELECT i.id, i.tenant_id, i.v, i.at, i.at FROM input i
                WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.tenant_id = i.tenant_id AND e.v = i.v)
                ON CONFLICT DO NOTHING
                RETURNING {CONTACT_COLS}
             )
             SELECT {CONTACT_COLS}, true FROM ins
             UNION ALL
             SELECT e.id, e.tenant_id, {key_cols}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                 false
             FROM existing e"
        );
        let value_at = if col == "wa_id" { 2 } else { 3 };
        let sizes = group.iter().zip(&ids).map(|((t, v, _), id)| {
            text_bytes(Some(t)) + text_bytes(Some(v)) + text_bytes(Some(id)) + 12
        });
        for r in chunks(sizes) {
            let found = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&ids[r.clone()])
                .bind(&tenants[r.clone()])
                .bind(&values[r.clone()])
                .bind(&ats[r])
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &found {
                let (id, tenant, value): (String, String, String) = (
                    rows::get(row, 0)?,
                    rows::get(row, 1)?,
                    rows::get(row, value_at)?,
                );
                let fresh: bool = rows::get(row, rows::CONTACT_N)?;
                if fresh {
                    made.insert((tenant.clone(), col, value.clone()), rows::contact(row)?);
                }
                out.insert((tenant, col, value), id);
            }
        }
        // Skipped by a concurrent transaction's insert, committed since that statement began:
        // a new statement sees it. (Rare, and few: one statement.)
        let (missing_t, missing_v): (Vec<&str>, Vec<&str>) = group
            .iter()
            .filter(|(t, v, _)| !out.contains_key(&(t.to_string(), col, v.to_string())))
            .map(|(t, v, _)| (*t, *v))
            .unzip();
        if missing_t.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT c.id, c.tenant_id, c.{col} FROM UNNEST($1::text[], $2::text[]) AS u(t, v)
             CROSS JOIN LATERAL (SELECT id, tenant_id, {col} FROM contacts
                 WHERE contacts.tenant_id = u.t AND contacts.{col} = u.v LIMIT 1) c"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&missing_t)
            .bind(&missing_v)
            .fetch_all(&mut *c)
            .await
            .db()?;
        for row in &found {
            let (id, tenant, value): (String, String, String) =
                (rows::get(row, 0)?, rows::get(row, 1)?, rows::get(row, 2)?);
            out.insert((tenant, col, value), id);
        }
        if group
            .iter()
            .any(|(t, v, _)| !out.contains_key(&(t.to_string(), col, v.to_string())))
        {
            // Only reachable if contacts were deleted under us, which nothing does.
            return Err(StoreError::Database(
                "a contact could not be found or created".into(),
            ));
        }
    }
    Ok((out, made))
}
