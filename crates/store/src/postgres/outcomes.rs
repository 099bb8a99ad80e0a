//! The writes that move a message's status: outcomes of send attempts and Meta's status
//! webhooks. Same rules as the SQLite backend; each message's row is locked (`FOR UPDATE`)
//! before its status is read, so concurrent writers (the sender, the webhook processor, other
//! replicas) never move a status backwards.
//!
//! Each new history entry (not a repeated one) writes its `message.status` event in the same
//! statement: the event is built beforehand from the locked row as the change leaves it, and
//! inserted only for the history rows the statement actually inserted.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use openbsp_domain::MessageStatus;
use sqlx::PgConnection;

use super::events::{self, Columns};
use super::rows::{self, MESSAGE_COLS};
use super::{DbResult, chunks, text_bytes};
use crate::error::StoreResult;
use crate::events as build;
use crate::model::*;

/// Records the outcomes of send attempts on `c` (inside the caller's transaction). Results
/// naming distinct messages — the usual case, a batch from the sender — are written with a
/// handful of set-based statements; a call naming a message twice is applied one result at a
/// time, in order, as SQLite does.
pub(super) async fn record_send_results(
    c: &mut PgConnection,
    results: &[SendResult],
) -> StoreResult<()> {
    let mut seen = HashSet::with_capacity(results.len());
    if results.iter().all(|r| seen.insert(message_id(r))) {
        return record_set(c, results).await;
    }
    for r in results {
        record_one(c, r).await?;
    }
    Ok(())
}

fn message_id(r: &SendResult) -> &str {
    match r {
        SendResult::Accepted { message_id, .. }
        | SendResult::Failed { message_id, .. }
        | SendResult::Retry { message_id, .. } => message_id,
    }
}

/// Messages, history, outbox and events: one statement for a chunk of results about distinct
/// messages. `$14`…`$20`: the event each history entry writes if it is new (message id, then
/// the event's columns), in the order of the results.
const RECORD_SQL: &str = "WITH m AS (
    UPDATE messages AS m SET
        wamid = COALESCE(u.wamid, m.wamid),
        status = COALESCE(u.status, m.status),
        error = CASE WHEN u.status IS NULL THEN m.error ELSE COALESCE(u.error, m.error) END,
        updated_at = CASE WHEN u.status IS NULL THEN m.updated_at ELSE GREATEST(m.updated_at, u.at) END
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
        AS u(id, wamid, status, error, at)
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
    claimed_at = NULL, last_error = u.error
FROM UNNEST($11::text[], $12::bigint[], $13::text[]) AS u(id, next_at, error)
WHERE o.message_id = u.id";

/// The messages named, locked, with their raw status first (a status this version does not
/// know is left alone, as SQLite does).
static LOCK_MESSAGES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT status, {MESSAGE_COLS} FROM messages WHERE id = ANY($1) ORDER BY id FOR UPDATE")
});

/// What a send outcome does to its message: the status, the `wamid` learnt, the time and the
/// error.
fn outcome(
    r: &SendResult,
) -> Option<(MessageStatus, Option<&str>, i64, Option<&serde_json::Value>)> {
    match r {
        SendResult::Retry { .. } => None,
        SendResult::Accepted { wamid, at, .. } => {
            Some((MessageStatus::Accepted, Some(wamid.as_str()), *at, None))
        }
        SendResult::Failed { error, at, .. } => {
            Some((MessageStatus::Failed, None, *at, Some(error)))
        }
    }
}

/// A message as a status change leaves it: the `wamid` learnt, and, if the status moves
/// forward, the status, the error (if one is given) and `updated_at`.
pub(super) fn changed(
    m: &Message,
    status: MessageStatus,
    wamid: Option<&str>,
    at: i64,
    error: Option<&serde_json::Value>,
) -> Message {
    let mut after = m.clone();
    if let Some(w) = wamid {
        after.wamid = Some(w.to_string());
    }
    if m.status.advance(status).is_some() {
        after.status = status;
        if let Some(e) = error {
            after.error = Some(e.clone());
        }
        after.updated_at = after.updated_at.max(at);
    }
    after
}

/// [`record_send_results`] for results about distinct messages.
async fn record_set(c: &mut PgConnection, results: &[SendResult]) -> StoreResult<()> {
    // Lock the messages whose status may move, in id order (so concurrent callers queue instead
    // of deadlocking), and read them.
    let mut ids: Vec<&str> = results
        .iter()
        .filter(|r| !matches!(r, SendResult::Retry { .. }))
        .map(message_id)
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
            let (status, wamid, at, error) = outcome(r)?;
            let m = current.get(message_id(r))?;
            let after = changed(m, status, wamid, at, error);
            evs.push(build::message_status(&after, status, at, error, None));
            Some(evs.len() - 1)
        })
        .collect();

    let errors: Vec<Option<String>> = results
        .iter()
        .map(|r| match r {
            SendResult::Accepted { .. } => None,
            SendResult::Failed { error, .. } | SendResult::Retry { error, .. } => {
                Some(error.to_string())
            }
        })
        .collect();
    let sizes = results.iter().enumerate().map(|(i, r)| {
        let wamid = match r {
            SendResult::Accepted { wamid, .. } => wamid.len(),
            _ => 0,
        };
        let event = event_of[i].map_or(0, |k| evs.bytes(k) + text_bytes(Some(message_id(r))));
        // Each value may appear in two of the statement's parts.
        2 * (text_bytes(Some(message_id(r))) + wamid + text_bytes(errors[i].as_deref()))
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
            let id = message_id(r);
            let Some((status, wamid, at, _)) = outcome(r) else {
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
                msg.push(id, wamid, forward.then_some(status), error.as_deref(), at);
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
}

impl<'a> Updates<'a> {
    fn push(
        &mut self,
        id: &'a str,
        wamid: Option<&'a str>,
        status: Option<MessageStatus>,
        error: Option<&'a str>,
        at: i64,
    ) {
        self.ids.push(id);
        self.wamids.push(wamid);
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

/// One send outcome, the SQLite way (for calls that name a message more than once).
async fn record_one(c: &mut PgConnection, r: &SendResult) -> StoreResult<()> {
    match r {
        SendResult::Accepted {
            message_id,
            wamid,
            at,
        } => {
            if let Some(current) = lock_status(c, message_id).await? {
                sqlx::query("UPDATE messages SET wamid = $2 WHERE id = $1")
                    .bind(message_id)
                    .bind(wamid)
                    .execute(&mut *c)
                    .await
                    .db()?;
                advance(c, message_id, current, MessageStatus::Accepted, *at, None).await?;
            }
            delete_outbox(c, message_id).await
        }
        SendResult::Failed {
            message_id,
            error,
            at,
        } => {
            if let Some(current) = lock_status(c, message_id).await? {
                advance(
                    c,
                    message_id,
                    current,
                    MessageStatus::Failed,
                    *at,
                    Some(error),
                )
                .await?;
            }
            delete_outbox(c, message_id).await
        }
        SendResult::Retry {
            message_id,
            next_at,
            error,
        } => {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_attempt_at = $2,
                 claimed_at = NULL, last_error = $3 WHERE message_id = $1",
            )
            .bind(message_id)
            .bind(next_at)
            .bind(error.to_string())
            .execute(&mut *c)
            .await
            .db()?;
            Ok(())
        }
    }
}

/// Adds a history entry; a second entry for the same status is ignored. Whether it was added.
async fn add_history(
    c: &mut PgConnection,
    message_id: &str,
    status: MessageStatus,
    at: i64,
    error: Option<&serde_json::Value>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO message_statuses (message_id, status, at, error) VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id, status) DO NOTHING",
    )
    .bind(message_id)
    .bind(status.as_str())
    .bind(at)
    .bind(error.map(|e| e.to_string()))
    .execute(&mut *c)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

static GET_MESSAGE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = $1"));

/// Moves a message to `status` if that is forward; records history either way, and the
/// history entry's event if it is new (with the message as it now is). The caller holds the
/// message's row lock, so `current` is still current.
async fn advance(
    c: &mut PgConnection,
    id: &str,
    current: MessageStatus,
    status: MessageStatus,
    at: i64,
    error: Option<&serde_json::Value>,
) -> StoreResult<bool> {
    let added = add_history(c, id, status, at, error).await?;
    let moved = current.advance(status).is_some();
    if moved {
        sqlx::query(
            "UPDATE messages SET status = $2, error = COALESCE($3, error), updated_at = GREATEST(updated_at, $4)
             WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error.map(|e| e.to_string()))
        .bind(at)
        .execute(&mut *c)
        .await
        .db()?;
    }
    if added && status != MessageStatus::Received {
        let row = sqlx::query(GET_MESSAGE_SQL.as_str())
            .bind(id)
            .fetch_one(&mut *c)
            .await
            .db()?;
        let m = rows::message_at(&row, 0, Some(current))?;
        events::insert(c, vec![build::message_status(&m, status, at, error, None)])
            .await
            .db()?;
    }
    Ok(moved)
}

/// A message's status, its row locked until the transaction ends (`None`: no such message, or a
/// status this version does not know).
async fn lock_status(c: &mut PgConnection, id: &str) -> StoreResult<Option<MessageStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM messages WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *c)
            .await
            .db()?;
    Ok(status.and_then(|s| MessageStatus::parse(&s)))
}

async fn delete_outbox(c: &mut PgConnection, message_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM outbox WHERE message_id = $1")
        .bind(message_id)
        .execute(&mut *c)
        .await
        .db()?;
    Ok(())
}

/// The outbox row goes (Meta has the message), the history entry is added (and, if it is
/// new and `$15`, its event `$9`…`$14`), the message learns its `wamid` and moves forward, and
/// its session (`$8`) learns its kind from the pricing category (`$7`) if it did not know it —
/// one statement.
const APPLY_STATUS_SQL: &str = "WITH d AS (
    DELETE FROM outbox WHERE message_id = $1
), k AS (
    UPDATE sessions SET kind = $7 WHERE id = $8 AND kind IS NULL AND $7 IS NOT NULL
), h AS (
    INSERT INTO message_statuses (message_id, status, at, error) VALUES ($1, $2, $3, $4)
    ON CONFLICT (message_id, status) DO NOTHING
    RETURNING message_id
), ev AS (
    INSERT INTO events (id, tenant_id, type, format, created_at, data)
    SELECT $9::text, $10::text, $11::text, $12::text, $13::bigint, $14::text FROM h WHERE $15
)
UPDATE messages SET
    wamid = COALESCE(wamid, $5),
    status = CASE WHEN $6 THEN $2 ELSE status END,
    error = CASE WHEN $6 THEN COALESCE($4, error) ELSE error END,
    updated_at = CASE WHEN $6 THEN GREATEST(updated_at, $3) ELSE updated_at END
WHERE id = $1 AND ($6 OR wamid IS NULL)";

/// The message a status names, locked: by `wamid`, or (the send's answer was lost) by the
/// gateway id the callback data carries.
static BY_WAMID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE wamid = $1 AND channel_id = $2 FOR UPDATE")
});
static BY_CALLBACK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLS} FROM messages
         WHERE id = $1 AND channel_id = $2 AND direction = 'outbound' FOR UPDATE"
    )
});

/// Applies a status webhook on `c` (inside the caller's transaction).
pub(super) async fn apply_status(
    c: &mut PgConnection,
    u: &StatusUpdate,
) -> StoreResult<StatusOutcome> {
    let by_wamid = sqlx::query(BY_WAMID_SQL.as_str())
        .bind(&u.wamid)
        .bind(&u.channel_id)
        .fetch_optional(&mut *c)
        .await
        .db()?;
    let found = match by_wamid {
        Some(row) => Some(row),
        // The send's answer was lost (a crash): the callback data carries our id.
        None => match &u.callback_data {
            Some(id) if id.starts_with("msg_") => sqlx::query(BY_CALLBACK_SQL.as_str())
                .bind(id)
                .bind(&u.channel_id)
                .fetch_optional(&mut *c)
                .await
                .db()?,
            _ => None,
        },
    };
    let Some(row) = found else {
        return Ok(StatusOutcome::UnknownMessage);
    };
    // A status this version does not know counts as `queued`.
    let m = rows::message_at(&row, 0, Some(MessageStatus::Queued))?;
    let forward = m.status.advance(u.status).is_some();
    // The message as this leaves it: the wamid learnt if it had none.
    let wamid = m.wamid.is_none().then_some(u.wamid.as_str());
    let after = changed(&m, u.status, wamid, u.at, u.error.as_ref());
    let event = build::message_status(
        &after,
        u.status,
        u.at,
        u.error.as_ref(),
        u.pricing_category.as_deref(),
    );
    sqlx::query(APPLY_STATUS_SQL)
        .bind(&m.id)
        .bind(u.status.as_str())
        .bind(u.at)
        .bind(u.error.as_ref().map(|e| e.to_string()))
        .bind(&u.wamid)
        .bind(forward)
        .bind(&u.pricing_category)
        .bind(&m.session_id)
        .bind(&event.id)
        .bind(&event.tenant_id)
        .bind(&event.kind)
        .bind(&event.format)
        .bind(event.created_at)
        .bind(event.data.to_string())
        .bind(u.status != MessageStatus::Received)
        .execute(&mut *c)
        .await
        .db()?;
    let id = m.id;
    Ok(if forward {
        StatusOutcome::Advanced { message_id: id }
    } else {
        StatusOutcome::Kept { message_id: id }
    })
}
