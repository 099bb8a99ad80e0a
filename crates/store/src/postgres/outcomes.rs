//! The writes that move a message's status: outcomes of send attempts and Meta's status
//! webhooks. Same rules as the SQLite backend; each message's row is locked (`FOR UPDATE`)
//! before its status is read, so concurrent writers (the sender, the webhook processor, other
//! replicas) never move a status backwards.

use std::collections::{HashMap, HashSet};

use openbsp_domain::MessageStatus;
use sqlx::PgConnection;

use super::rows;
use super::{DbResult, chunks, text_bytes};
use crate::error::StoreResult;
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

/// Messages, history, outbox: one statement for a chunk of results about distinct messages.
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
), d AS (
    DELETE FROM outbox WHERE message_id = ANY($10::text[])
)
UPDATE outbox AS o SET state = 'pending', attempts = o.attempts + 1, next_attempt_at = u.next_at,
    claimed_at = NULL, last_error = u.error
FROM UNNEST($11::text[], $12::bigint[], $13::text[]) AS u(id, next_at, error)
WHERE o.message_id = u.id";

/// [`record_send_results`] for results about distinct messages.
async fn record_set(c: &mut PgConnection, results: &[SendResult]) -> StoreResult<()> {
    // Lock the messages whose status may move, in id order (so concurrent callers queue instead
    // of deadlocking), and read where they stand.
    let mut ids: Vec<&str> = results
        .iter()
        .filter(|r| !matches!(r, SendResult::Retry { .. }))
        .map(message_id)
        .collect();
    ids.sort_unstable();
    let mut current: HashMap<String, MessageStatus> = HashMap::with_capacity(ids.len());
    for r in chunks(ids.iter().map(|id| text_bytes(Some(id)))) {
        let found = sqlx::query(
            "SELECT id, status FROM messages WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&ids[r])
        .fetch_all(&mut *c)
        .await
        .db()?;
        for row in &found {
            let (id, status): (String, String) = (rows::get(row, 0)?, rows::get(row, 1)?);
            // A status this version does not know: left alone, as SQLite does.
            if let Some(status) = MessageStatus::parse(&status) {
                current.insert(id, status);
            }
        }
    }

    let errors: Vec<Option<String>> = results
        .iter()
        .map(|r| match r {
            SendResult::Accepted { .. } => None,
            SendResult::Failed { error, .. } | SendResult::Retry { error, .. } => {
                Some(error.to_string())
            }
        })
        .collect();
    let sizes = results.iter().zip(&errors).map(|(r, e)| {
        let wamid = match r {
            SendResult::Accepted { wamid, .. } => wamid.len(),
            _ => 0,
        };
        // Each value may appear in two of the statement's parts.
        2 * (text_bytes(Some(message_id(r))) + wamid + text_bytes(e.as_deref())) + 48
    });
    for range in chunks(sizes) {
        let mut msg = Updates::default();
        let mut history = History::default();
        let mut done: Vec<&str> = Vec::new();
        let mut retry_ids: Vec<&str> = Vec::new();
        let mut retry_at: Vec<i64> = Vec::new();
        let mut retry_errors: Vec<Option<&str>> = Vec::new();
        for (r, error) in results[range.clone()].iter().zip(&errors[range]) {
            let id = message_id(r);
            let (status, wamid, at) = match r {
                SendResult::Retry { next_at, .. } => {
                    retry_ids.push(id);
                    retry_at.push(*next_at);
                    retry_errors.push(error.as_deref());
                    continue;
                }
                SendResult::Accepted { wamid, at, .. } => {
                    (MessageStatus::Accepted, Some(wamid.as_str()), *at)
                }
                SendResult::Failed { at, .. } => (MessageStatus::Failed, None, *at),
            };
            done.push(id);
            let Some(now) = current.get(id) else {
                continue; // no such message: only its outbox row goes
            };
            history.push(id, status, at, error.as_deref());
            let forward = now.advance(status).is_some();
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
            .execute(&mut *c)
            .await
            .db()?;
    }
    Ok(())
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

/// Adds a history entry; a second entry for the same status is ignored.
async fn add_history(
    c: &mut PgConnection,
    message_id: &str,
    status: MessageStatus,
    at: i64,
    error: Option<&serde_json::Value>,
) -> StoreResult<()> {
    sqlx::query(
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
    Ok(())
}

/// Moves a message to `status` if that is forward; records history either way. The caller
/// holds the message's row lock, so `current` is still current.
async fn advance(
    c: &mut PgConnection,
    id: &str,
    current: MessageStatus,
    status: MessageStatus,
    at: i64,
    error: Option<&serde_json::Value>,
) -> StoreResult<bool> {
    add_history(c, id, status, at, error).await?;
    if current.advance(status).is_none() {
        return Ok(false);
    }
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
    Ok(true)
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

/// The outbox row goes (Meta has the message), the history entry is added, the message learns
/// its `wamid` and moves forward, and its session (`$8`) learns its kind from the pricing
/// category (`$7`) if it did not know it — one statement.
const APPLY_STATUS_SQL: &str = "WITH d AS (
    DELETE FROM outbox WHERE message_id = $1
), k AS (
    UPDATE sessions SET kind = $7 WHERE id = $8 AND kind IS NULL AND $7 IS NOT NULL
), h AS (
    INSERT INTO message_statuses (message_id, status, at, error) VALUES ($1, $2, $3, $4)
    ON CONFLICT (message_id, status) DO NOTHING
)
UPDATE messages SET
    wamid = COALESCE(wamid, $5),
    status = CASE WHEN $6 THEN $2 ELSE status END,
    error = CASE WHEN $6 THEN COALESCE($4, error) ELSE error END,
    updated_at = CASE WHEN $6 THEN GREATEST(updated_at, $3) ELSE updated_at END
WHERE id = $1 AND ($6 OR wamid IS NULL)";

/// Applies a status webhook on `c` (inside the caller's transaction).
pub(super) async fn apply_status(
    c: &mut PgConnection,
    u: &StatusUpdate,
) -> StoreResult<StatusOutcome> {
    type Found = (String, String, Option<String>);
    let by_wamid: Option<Found> = sqlx::query_as(
        "SELECT id, status, session_id FROM messages WHERE wamid = $1 AND channel_id = $2 FOR UPDATE",
    )
    .bind(&u.wamid)
    .bind(&u.channel_id)
    .fetch_optional(&mut *c)
    .await
    .db()?;
    let found = match by_wamid {
        Some(row) => Some(row),
        // The send's answer was lost (a crash): the callback data carries our id.
        None => match &u.callback_data {
            Some(id) if id.starts_with("msg_") => sqlx::query_as::<_, Found>(
                "SELECT id, status, session_id FROM messages
                 WHERE id = $1 AND channel_id = $2 AND direction = 'outbound' FOR UPDATE",
            )
            .bind(id)
            .bind(&u.channel_id)
            .fetch_optional(&mut *c)
            .await
            .db()?,
            _ => None,
        },
    };
    let Some((id, status, session_id)) = found else {
        return Ok(StatusOutcome::UnknownMessage);
    };
    let current = MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued);
    let forward = current.advance(u.status).is_some();
    sqlx::query(APPLY_STATUS_SQL)
        .bind(&id)
        .bind(u.status.as_str())
        .bind(u.at)
        .bind(u.error.as_ref().map(|e| e.to_string()))
        .bind(&u.wamid)
        .bind(forward)
        .bind(&u.pricing_category)
        .bind(&session_id)
        .execute(&mut *c)
        .await
        .db()?;
    Ok(if forward {
        StatusOutcome::Advanced { message_id: id }
    } else {
        StatusOutcome::Kept { message_id: id }
    })
}
