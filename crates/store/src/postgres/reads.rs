//! Group reads for the hottest read: [`crate::ContactStore::conversation`], made before every
//! send.
//!
//! One query per read costs a pool checkout, a round trip and a statement on both sides, which
//! measured more than the index probes it runs (16,700 reads/s at most on the 2-core bench
//! machine). Callers instead put their read on a queue; a few workers each take whatever has
//! queued (up to [`MAX_BATCH`]) and answer all of it with one set-based statement, as the write
//! batches do. A lone read goes at once, so an idle gateway waits for nothing; a busy one
//! shares one statement among many reads. Each read sees what was committed when its statement
//! began, which is after the read was asked for: a caller reads its own writes.

use std::sync::{Arc, LazyLock};

use sqlx::postgres::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::conn::{DbResult, HotConn, chunks, text_bytes};
use super::rows;
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{CONTACT_COLS, CONTACT_N, SESSION_COLS, WINDOW_COLS, WINDOW_N, contact_key};

/// Most reads answered by one statement.
const MAX_BATCH: usize = 256;

/// A conversation read waiting for the next batch.
struct Read {
    tenant_id: String,
    channel_id: String,
    key: ContactKey,
    reply: oneshot::Sender<StoreResult<Conversation>>,
}

/// Handle to the read workers; they stop once it is dropped and the queue is drained.
pub(super) struct Reader {
    tx: mpsc::Sender<Read>,
}

impl Reader {
    /// Starts `workers` workers reading through `pool`.
    pub(super) fn spawn(pool: PgPool, workers: usize) -> Reader {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            tokio::spawn(worker(pool.clone(), rx.clone()));
        }
        Reader { tx }
    }

    /// What decides a send to `key` on `channel_id`, read in the next batch.
    pub(super) async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation> {
        let (reply, answer) = oneshot::channel();
        let read = Read {
            tenant_id: tenant_id.to_string(),
            channel_id: channel_id.to_string(),
            key: key.clone(),
            reply,
        };
        self.tx.send(read).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// One worker: take what is queued, read it, answer, repeat.
async fn worker(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Read>>>) {
    let mut conn = HotConn::new(pool);
    let mut reads = Vec::with_capacity(MAX_BATCH);
    loop {
        let n = rx.lock().await.recv_many(&mut reads, MAX_BATCH).await;
        if n == 0 {
            return; // every sender is gone: the store was dropped
        }
        let out = match conn.get().await {
            Ok(c) => {
                let wanted: Vec<(&str, &str, &ContactKey)> = reads
                    .iter()
                    .map(|r| (r.tenant_id.as_str(), r.channel_id.as_str(), &r.key))
                    .collect();
                read_conversations(c, &wanted).await
            }
            Err(e) => Err(e),
        };
        match out {
            Ok(found) => {
                for (read, conv) in reads.drain(..).zip(found) {
                    let _ = read.reply.send(Ok(conv));
                }
            }
            Err(e) => {
                // The connection may be at fault: the next batch takes another.
                conn.discard();
                let e = Arc::new(e);
                for read in reads.drain(..) {
                    let _ = read.reply.send(Err(StoreError::shared(&e)));
                }
            }
        }
    }
}

/// For each input row (`$1` tenant, `$2` channel, `$3` wa_id or `$4` BSUID), its contact,
/// the contact's window on that channel and its open session there; only rows whose contact
/// exists come back, numbered by their input position. Every look-up is a LATERAL sub-query
/// with LIMIT 1 (each matches at most one row): an index probe, which the LIMIT keeps the
/// planner from flattening into a join.
static CONVERSATIONS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT u.n, c.*, w.*, s.*
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
            WITH ORDINALITY AS u(tenant_id, channel_id, wa_id, user_id, n)
         CROSS JOIN LATERAL (
            (SELECT {CONTACT_COLS} FROM contacts
             WHERE u.wa_id IS NOT NULL AND tenant_id = u.tenant_id AND wa_id = u.wa_id)
            UNION ALL
            (SELECT {CONTACT_COLS} FROM contacts
             WHERE u.user_id IS NOT NULL AND tenant_id = u.tenant_id AND user_id = u.user_id)
            LIMIT 1) c
         LEFT JOIN LATERAL (SELECT {WINDOW_COLS} FROM contact_windows
            WHERE channel_id = u.channel_id AND contact_id = c.id AND tenant_id = u.tenant_id
            LIMIT 1) w ON true
         LEFT JOIN LATERAL (SELECT {SESSION_COLS} FROM sessions
            WHERE channel_id = u.channel_id AND contact_id = c.id AND closed_at IS NULL
            AND tenant_id = u.tenant_id LIMIT 1) s ON true"
    )
});

/// The conversations of (tenant, channel, recipient) triples, in order, in as few statements
/// as [`super::conn::STATEMENT_BYTES`] allows; also used by the group commit to judge sends inside
/// its own transaction.
pub(super) async fn read_conversations(
    c: &mut sqlx::PgConnection,
    wanted: &[(&str, &str, &ContactKey)],
) -> StoreResult<Vec<Conversation>> {
    let mut out = vec![Conversation::default(); wanted.len()];
    let sizes = wanted.iter().map(|(t, ch, key)| {
        let (_, v) = contact_key(key);
        text_bytes(Some(t)) + text_bytes(Some(ch)) + text_bytes(Some(v)) + 4
    });
    for range in chunks(sizes) {
        let part = &wanted[range.clone()];
        let key = |kind: &'static str| {
            part.iter()
                .map(|(_, _, k)| {
                    let (col, v) = contact_key(k);
                    (col == kind).then_some(v)
                })
                .collect::<Vec<_>>()
        };
        let found = sqlx::query(CONVERSATIONS_SQL.as_str())
            .bind(part.iter().map(|w| w.0).collect::<Vec<_>>())
            .bind(part.iter().map(|w| w.1).collect::<Vec<_>>())
            .bind(key("wa_id"))
            .bind(key("user_id"))
            .fetch_all(&mut *c)
            .await
            .db()?;
        for row in &found {
            let n: i64 = rows::get(row, 0)?;
            let i = usize::try_from(n - 1)
                .ok()
                .filter(|i| *i < part.len())
                .ok_or_else(|| StoreError::corrupt(format!("read {n} of {}", part.len())))?;
            out[range.start + i] = conversation(row)?;
        }
    }
    Ok(out)
}

/// A row of [`CONVERSATIONS_SQL`] (after its number).
fn conversation(row: &sqlx::postgres::PgRow) -> StoreResult<Conversation> {
    let c = 1;
    let w = c + CONTACT_N;
    let s = w + WINDOW_N;
    let has_window = rows::get::<Option<String>>(row, w)?.is_some();
    let has_session = rows::get::<Option<String>>(row, s)?.is_some();
    Ok(Conversation {
        contact: Some(rows::contact_at(row, c)?),
        window: if has_window {
            Some(rows::window_at(row, w)?)
        } else {
            None
        },
        open_session: if has_session {
            Some(rows::session_at(row, s)?)
        } else {
            None
        },
    })
}
