//! The results of send attempts about distinct messages on PostgreSQL (the usual call, a batch
//! from the sender), in a handful of set-based statements: the messages locked in id order and
//! read, what each result does decided by [`crate::statuses`], then messages, history, outbox
//! and events written by one statement per chunk.
//!
//! Each new history entry (not a repeated one) writes its `message.status` event in the same
//! statement: the event is built beforehand from the locked row as the change leaves it, and
//! inserted only for the history rows the statement actually inserted.

use std::collections::HashMap;
use std::sync::LazyLock;

use openbsp_domain::MessageStatus;
use sqlx::PgConnection;

use super::conn::{DbResult, chunks, text_bytes};
use super::emit::Columns;
use super::rows;
use crate::error::StoreResult;
use crate::events as build;
use crate::model::*;
use crate::sql::MESSAGE_COLS;
use crate::statuses;

/// Messages, history, outbox and events: one statement for a chunk of results about distinct
/// messages. `$14`…`$20`: the event each history entry writes if it is new (message id, then
/// the event's columns), in the order of the results.
const RECORD_SQL: &str = "WITH m AS (
    UPDATE messages AS m SET
        wamid = COALESCE(u.wamid, m.wamid),
        meta_message_status = CASE WHEN u.wamid IS NULL THEN m.meta_message_status ELSE u.meta END,
        status = COALESCE(u.status, m.status),
        error = CASE WHEN u.status IS NULL THEN m.error ELSE COALESCE(u.error, m.error) END,
        updated_at = CASE WHEN u.status IS NULL THEN m.updated_at ELSE GREATEST(m.updated_at, u.at) END
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $21::text[])
        AS u(id, wamid, status, error, at, meta)
    WHERE m.id = u.id
), h AS (
    INSERT INTO message_statuses (message_id, status, at, error)
    SELECT * FROM UNNEST($6::text[], $7::text[], $8::bigint[], $9::text[])
    ON CONFLICT (message_id, status) DO NOTHING
    RETURNING message_id
), ev AS (
    INSERT INTO events (id, tenant_id, type, format, created_at, data)
    SELECT e.id, e.tenant_id, e.type, e.format, e.created_at, e.data
    FROM UNNEST($14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[],
        $20::text[]) WITH ORDINALITY AS e(message_id, id, tenant_id, type, format, created_at, data, n)
    JOIN h ON h.message_id = e.message_id
    ORDER BY e.n
), d AS (
    DELETE FROM outbox WHERE message_id = ANY($10::text[])
)
UPDATE outbox AS o SET state = 'pending', attempts = o.attempts + 1, next_attempt_at = u.next_at,
    claimed_at = NULL, claim_term = NULL, orphaned_at = NULL, last_error = u.error
FROM UNNEST($11::text[], $12::bigint[], $13::text[]) AS u(id, next_at, error)
WHERE o.message_id = u.id";

/// The messages named, locked, with their raw status first (a status this version does not
/// know is left alone, as SQLite does).
static LOCK_MESSAGES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT status, {MESSAGE_COLS} FROM messages WHERE id = ANY($1) ORDER BY id FOR UPDATE")
});

/// Records the results of send attempts about distinct messages (see
/// [`crate::OutboxStore::record_send_results`]), on `c` inside the caller's transaction.
pub(super) async fn record_set(c: &mut PgConnection, results: &[SendResult]) -> StoreResult<()> {
    // Lock the messages whose status may move, in id order (so concurrent callers queue instead
    // of deadlocking), and read them.
    let mut ids: Vec<&str> = results
        .iter()
        .filter(|r| !matches!(r, SendResult::Retry { .. }))
        .map(statuses::message_id)
        .collect();
    ids.sort_unstable();
    let mut current: HashMap<String, Message> = HashMap::with_capacity(ids.len());
    for r in chunks(ids.iter().map(|id| text_bytes(Some(id)))) {
        let found = sqlx::query(LOCK_MESSAGES_SQL.as_str())
            .bind(&ids[r])
            .fetch_all(&mut *c)
            .await
            .db()?;
        for row in &found {
            let status: String = rows::get(row, 0)?;
            // A status this version does not know: left alone, as SQLite does.
            if MessageStatus::parse(&status).is_some() {
                let m = rows::message_at(row, 1, None)?;
                current.insert(m.id.clone(), m);
            }
        }
    }

    // The event each result's history entry writes if it is new, built from the message as
    // the result leaves it.
    let mut evs = Columns::default();
    let event_of: Vec<Option<usize>> = results
        .iter()
        .map(|r| {
            let o = statuses::send_outcome(r)?;
            let m = current.get(statuses::message_id(r))?;
            let after = statuses::changed(m, o.status, o.wamid, o.at, o.error);
            evs.push(build::message_status(&after, o.status, o.at, o.error, None));
            Some(evs.len() - 1)
        })
        .collect();

    let errors: Vec<Option<String>> = results
        .iter()
        .map(|r| match r {
            SendResult::Accepted { .. } | SendResult::Defer { .. } => None,
            SendResult::Failed { error, .. } | SendResult::Retry { error, .. } => {
                Some(error.to_string())
            }
        })
        .collect();
    let sizes = results.iter().enumerate().map(|(i, r)| {
        let wamid = match r {
            SendResult::Accepted {
                wamid,
                message_status,
                ..
            } => wamid.len() + text_bytes(message_status.as_deref()),
            _ => 0,
        };
        let event = event_of[i].map_or(0, |k| {
            evs.bytes(k) + text_bytes(Some(statuses::message_id(r)))
        });
        // Each value may appear in two of the statement's parts.
        2 * (text_bytes(Some(statuses::message_id(r))) + wamid + text_bytes(errors[i].as_deref()))
            + 48
            + event
    });
    for range in chunks(sizes) {
        let mut msg = Updates::default();
        let mut history = History::default();
        let mut done: Vec<&str> = Vec::new();
        let mut retry_ids: Vec<&str> = Vec::new();
        let mut retry_at: Vec<i64> = Vec::new();
        let mut retry_errors: Vec<Option<&str>> = Vec::new();
        let mut ev = EventRows::default();
        for i in range {
            let (r, error) = (&results[i], &errors[i]);
            let id = statuses::message_id(r);
            let Some(statuses::SendOutcome {
                status,
                wamid,
                message_status,
                at,
                ..
            }) = statuses::send_outcome(r)
            else {
                if let SendResult::Retry { next_at, .. } = r {
                    retry_ids.push(id);
                    retry_at.push(*next_at);
                    retry_errors.push(error.as_deref());
                }
                continue;
            };
            done.push(id);
            let Some(now) = current.get(id) else {
                continue; // no such message: only its outbox row goes
            };
            history.push(id, status, at, error.as_deref());
            if let Some(k) = event_of[i] {
                ev.push(id, &evs, k);
            }
            let forward = now.status.advance(status).is_some();
            if forward || wamid.is_some() {
                msg.push(
                    id,
                    (wamid, message_status),
                    forward.then_some(status),
                    error.as_deref(),
                    at,
                );
            }
        }
        sqlx::query(RECORD_SQL)
            .bind(msg.ids)
            .bind(msg.wamids)
            .bind(msg.statuses)
            .bind(msg.errors)
            .bind(msg.at)
            .bind(history.ids)
            .bind(history.statuses)
            .bind(history.at)
            .bind(history.errors)
            .bind(done)
            .bind(retry_ids)
            .bind(retry_at)
            .bind(retry_errors)
            .bind(ev.message_ids)
            .bind(ev.ids)
            .bind(ev.tenants)
            .bind(ev.kinds)
            .bind(ev.formats)
            .bind(ev.at)
            .bind(ev.data)
            .bind(msg.meta)
            .execute(&mut *c)
            .await
            .db()?;
    }
    Ok(())
}

/// Events of a chunk, each with the message whose new history entry writes it.
#[derive(Default)]
struct EventRows<'a> {
    message_ids: Vec<&'a str>,
    ids: Vec<&'a str>,
    tenants: Vec<&'a str>,
    kinds: Vec<&'a str>,
    formats: Vec<&'a str>,
    at: Vec<i64>,
    data: Vec<&'a str>,
}

impl<'a> EventRows<'a> {
    fn push(&mut self, message_id: &'a str, cols: &'a Columns, k: usize) {
        self.message_ids.push(message_id);
        self.ids.push(&cols.ids[k]);
        self.tenants.push(&cols.tenants[k]);
        self.kinds.push(&cols.kinds[k]);
        self.formats.push(&cols.formats[k]);
        self.at.push(cols.at[k]);
        self.data.push(&cols.data[k]);
    }
}

/// Changes to message rows: a new `wamid`, and a new status when it is forward.
#[derive(Default)]
struct Updates<'a> {
    ids: Vec<&'a str>,
    wamids: Vec<Option<&'a str>>,
    statuses: Vec<Option<&'static str>>,
    errors: Vec<Option<&'a str>>,
    at: Vec<i64>,
    meta: Vec<Option<&'a str>>,
}

impl<'a> Updates<'a> {
    fn push(
        &mut self,
        id: &'a str,
        (wamid, meta): (Option<&'a str>, Option<&'a str>),
        status: Option<MessageStatus>,
        error: Option<&'a str>,
        at: i64,
    ) {
        self.ids.push(id);
        self.wamids.push(wamid);
        self.meta.push(meta);
        self.statuses.push(status.map(MessageStatus::as_str));
        self.errors.push(error);
        self.at.push(at);
    }
}

/// History entries to add.
#[derive(Default)]
struct History<'a> {
    ids: Vec<&'a str>,
    statuses: Vec<&'static str>,
    at: Vec<i64>,
    errors: Vec<Option<&'a str>>,
}

impl<'a> History<'a> {
    fn push(&mut self, id: &'a str, status: MessageStatus, at: i64, error: Option<&'a str>) {
        self.ids.push(id);
        self.statuses.push(status.as_str());
        self.at.push(at);
        self.errors.push(error);
    }
}
