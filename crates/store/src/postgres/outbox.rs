//! [`OutboxStore`] on PostgreSQL: the sender's queue. Replicas claim with `FOR UPDATE SKIP
//! LOCKED`, so two senders never claim the same row; results move their messages' statuses by
//! the rules of [`crate::statuses`], each message's row locked first so that concurrent writers
//! (the sender, the webhook processor, other replicas) never move a status backwards. Results
//! about distinct messages are written set-based ([`super::results`]).

use std::collections::HashSet;
use std::sync::LazyLock;

use async_trait::async_trait;
use openbsp_domain::MessageStatus;
use serde_json::Value;
use sqlx::PgConnection;

use super::conn::DbResult;
use super::{PgStore, emit, results, rows};
use crate::error::StoreResult;
use crate::events as build;
use crate::model::*;
use crate::sql::{MESSAGE_COLS, OUTBOX_DEPTH_SQL};
use crate::statuses;
use crate::store::OutboxStore;

#[async_trait]
impl OutboxStore for PgStore {
    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            // A scalar sub-query with LIMIT 1 is one index probe per channel; written as EXISTS,
            // the planner turns it into a semi-join that hashes every pending row.
            "SELECT c.id FROM channels c WHERE c.paused_at IS NULL AND (SELECT 1 FROM outbox o
             WHERE o.channel_id = c.id AND o.state = 'pending' AND o.next_attempt_at <= $1 LIMIT 1) IS NOT NULL
             ORDER BY c.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .db()
    }

    async fn claim_sends(
        &self,
        channel_id: &str,
        term: i64,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        // Bulk sends that waited for a place in the messaging limit (rare: a probe on a
        // partial index answers the usual "none").
        let waiting: bool = sqlx::query_scalar(WAITING_PROBE_SQL)
            .bind(channel_id)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .db()?;
        if waiting {
            let mut tx = self.pool.begin().await.db()?;
            super::reach::admit_waiting(&mut tx, channel_id, now, limit).await?;
            tx.commit().await.db()?;
        }
        let found = sqlx::query(
            "UPDATE outbox SET state = 'inflight', claimed_at = $2, claim_term = $4
             WHERE message_id IN (
                SELECT message_id FROM outbox AS o
                WHERE channel_id = $1 AND state = 'pending' AND next_attempt_at <= $2 AND NOT awaits_reach
                AND (orphaned_at IS NULL OR $2 >= 2 * next_attempt_at - orphaned_at
                     OR NOT EXISTS (SELECT 1 FROM webhook_inbox AS i WHERE i.processed_at IS NULL
                                    AND i.received_at <= o.next_attempt_at))
                ORDER BY priority, next_attempt_at, message_id LIMIT $3
                FOR UPDATE SKIP LOCKED)
             AND EXISTS (SELECT 1 FROM leases WHERE name = $5 AND term = $4 AND expires_at > $2)
             RETURNING message_id, tenant_id, channel_id, attempts, payload, priority, next_attempt_at, claim_term",
        )
        .bind(channel_id)
        .bind(now)
        .bind(i64::from(limit))
        .bind(term)
        .bind(sender_lease(channel_id))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut items = found
            .iter()
            .map(|r| {
                let priority: i32 = rows::get(r, 5)?;
                let due: i64 = rows::get(r, 6)?;
                Ok((priority, due, rows::outbox_item(r)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by(|a, b| (a.0, a.1, &a.2.message_id).cmp(&(b.0, b.1, &b.2.message_id)));
        Ok(items.into_iter().map(|(_, _, i)| i).collect())
    }

    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.db()?;
        record_send_results(&mut tx, results).await?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(())
    }

    async fn prune_reach(&self, now: i64) -> StoreResult<u64> {
        let mut c = self.pool.acquire().await.db()?;
        super::reach::prune(&mut c, now).await
    }

    async fn requeue_orphaned_sends(
        &self,
        channel_id: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, claimed_at = NULL,
             claim_term = NULL, orphaned_at = $1,
             last_error = 'outcome unknown: its sender stopped while the send was in flight'
             WHERE state = 'inflight' AND ($3::text IS NULL OR channel_id = $3)
             AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = 'sender:' || outbox.channel_id
                             AND l.term = outbox.claim_term AND l.expires_at > $1)",
        )
        .bind(now)
        .bind(retry_at)
        .bind(channel_id)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        sqlx::query_scalar(OUTBOX_DEPTH_SQL)
            .fetch_one(&self.pool)
            .await
            .db()
    }
}

/// Whether a channel has sends waiting for a place in the messaging limit that are due. Only
/// the partial index `outbox_awaits_reach` can answer it: a waiting send is always pending, so
/// the probe does not say `state = 'pending'`, which would let the planner take `outbox_due`
/// (whose predicate that is) and filter every pending send of the channel — 15 ms per claim
/// at 16,000 queued, measured, on a table whose statistics had not caught up with its growth.
pub(super) const WAITING_PROBE_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM outbox WHERE channel_id = $1 AND awaits_reach
     AND next_attempt_at <= $2)";

/// Records the outcomes of send attempts on `c` (inside the caller's transaction). Results
/// naming distinct messages — the usual case, a batch from the sender — are written with a
/// handful of set-based statements; a call naming a message twice is applied one result at a
/// time, in order, as SQLite does.
async fn record_send_results(c: &mut PgConnection, results: &[SendResult]) -> StoreResult<()> {
    let allowed = claimed(c, results).await?;
    // Deferred sends only go back to the queue, due later (not an attempt).
    let (deferred, allowed): (Vec<SendResult>, Vec<SendResult>) = allowed
        .into_iter()
        .partition(|r| matches!(r, SendResult::Defer { .. }));
    if !deferred.is_empty() {
        let (ids, at): (Vec<&str>, Vec<i64>) = deferred
            .iter()
            .filter_map(|r| match r {
                SendResult::Defer {
                    message_id,
                    next_at,
                    ..
                } => Some((message_id.as_str(), *next_at)),
                _ => None,
            })
            .unzip();
        sqlx::query(
            "UPDATE outbox AS o SET state = 'pending', next_attempt_at = u.next_at,
             claimed_at = NULL, claim_term = NULL
             FROM UNNEST($1::text[], $2::bigint[]) AS u(id, next_at) WHERE o.message_id = u.id",
        )
        .bind(&ids)
        .bind(&at)
        .execute(&mut *c)
        .await
        .db()?;
    }
    let results = &allowed[..];
    if results.is_empty() {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(results.len());
    if results.iter().all(|r| seen.insert(statuses::message_id(r))) {
        return results::record_set(c, results).await;
    }
    for r in results {
        record_one(c, r).await?;
    }
    Ok(())
}

/// The results whose claim allows them to be recorded ([`statuses::may_record`]), their
/// messages and then their outbox rows locked (in id order, the order the status webhook's
/// processor takes them too) so that no claim or status moves under the decision.
async fn claimed(c: &mut PgConnection, results: &[SendResult]) -> StoreResult<Vec<SendResult>> {
    let mut ids: Vec<&str> = results.iter().map(statuses::message_id).collect();
    ids.sort_unstable();
    ids.dedup();
    sqlx::query("SELECT 1 FROM messages WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *c)
        .await
        .db()?;
    let rows = sqlx::query(
        "SELECT message_id, state, claim_term FROM outbox WHERE message_id = ANY($1)
         ORDER BY message_id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *c)
    .await
    .db()?;
    let mut outbox = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: String = rows::get(r, 0)?;
        let state: String = rows::get(r, 1)?;
        let term: Option<i64> = rows::get(r, 2)?;
        outbox.insert(id, (state, term));
    }
    // Results in order; a retry rescheduling a send makes the next result about it see a
    // pending row.
    let mut allowed = Vec::with_capacity(results.len());
    for r in results {
        let id = statuses::message_id(r);
        let row = outbox.get(id).map(|(s, t)| (s.as_str(), *t));
        if statuses::may_record(r, row) {
            match r {
                SendResult::Retry { .. } | SendResult::Defer { .. } => {
                    outbox.insert(id.to_string(), ("pending".into(), None));
                }
                _ => {
                    outbox.remove(id);
                }
            }
            allowed.push(r.clone());
        } else {
            tracing::warn!(message.id = %id, term = statuses::term(r), "a send's outcome from a claim that is no longer its own is not recorded");
        }
    }
    Ok(allowed)
}

/// One send result, the SQLite way (for calls that name a message more than once): the message
/// moves (if its status is known) and its outbox row goes, or the row is rescheduled for a retry.
async fn record_one(c: &mut PgConnection, r: &SendResult) -> StoreResult<()> {
    let message_id = statuses::message_id(r);
    let Some(o) = statuses::send_outcome(r) else {
        if let SendResult::Retry { next_at, error, .. } = r {
            sqlx::query(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_attempt_at = $2,
                 claimed_at = NULL, claim_term = NULL, orphaned_at = NULL, last_error = $3
                 WHERE message_id = $1",
            )
            .bind(message_id)
            .bind(next_at)
            .bind(error.to_string())
            .execute(&mut *c)
            .await
            .db()?;
        }
        return Ok(());
    };
    if let Some(current) = lock_status(c, message_id).await? {
        if let Some(wamid) = o.wamid {
            sqlx::query("UPDATE messages SET wamid = $2, meta_message_status = $3 WHERE id = $1")
                .bind(message_id)
                .bind(wamid)
                .bind(o.message_status)
                .execute(&mut *c)
                .await
                .db()?;
        }
        advance(c, message_id, current, o.status, o.at, o.error).await?;
    }
    delete_outbox(c, message_id).await
}

/// Adds a history entry; a second entry for the same status is ignored. Whether it was added.
async fn add_history(
    c: &mut PgConnection,
    message_id: &str,
    status: MessageStatus,
    at: i64,
    error: Option<&Value>,
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

/// Moves a message to `status` if that is forward of `current`; records history either way, and the
/// history entry's event if it is new (with the message as it now is). The caller holds the
/// message's row lock, so `current` is still current.
async fn advance(
    c: &mut PgConnection,
    id: &str,
    current: MessageStatus,
    status: MessageStatus,
    at: i64,
    error: Option<&Value>,
) -> StoreResult<()> {
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
    if added && statuses::writes_event(status) {
        let row = sqlx::query(GET_MESSAGE_SQL.as_str())
            .bind(id)
            .fetch_one(&mut *c)
            .await
            .db()?;
        let m = rows::message_at(&row, 0, Some(current))?;
        emit::insert(c, vec![build::message_status(&m, status, at, error, None)])
            .await
            .db()?;
    }
    Ok(())
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

/// Removes a message's outbox row.
async fn delete_outbox(c: &mut PgConnection, message_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM outbox WHERE message_id = $1")
        .bind(message_id)
        .execute(&mut *c)
        .await
        .db()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_testkit::{Backend, TestDb};

    /// The claim's probe for waiting sends stays on its partial index however many sends are
    /// queued, before any statistics exist (a table that grew from nothing in seconds).
    #[tokio::test]
    async fn the_waiting_probe_reads_only_waiting_sends() {
        let db = TestDb::new(Backend::Postgres).await;
        let store = PgStore::connect(&db.url).await.expect("open store");
        sqlx::query(
            "INSERT INTO outbox (message_id, tenant_id, channel_id, state, priority, attempts,
                 next_attempt_at, payload)
             SELECT 'msg_' || n, 'ten_1', 'chn_1', 'pending', 1, 0, n, '{}'
             FROM generate_series(1, 20000) AS n",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let mut c = store.pool.acquire().await.unwrap();
        sqlx::raw_sql("SET plan_cache_mode = force_custom_plan")
            .execute(&mut *c)
            .await
            .unwrap();
        let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) {}",
            WAITING_PROBE_SQL
                .replace("$1", "'chn_1'")
                .replace("$2", "99999")
        )))
        .fetch_one(&mut *c)
        .await
        .unwrap();
        let text = plan.to_string();
        assert!(text.contains("outbox_awaits_reach"), "{text}");
        assert!(!text.contains("outbox_due"), "{text}");
    }
}
