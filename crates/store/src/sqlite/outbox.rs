//! [`OutboxStore`] on SQLite: the sender's queue. Claims and results are jobs on the writer, so
//! two senders never claim the same row; a result moves its message's status by the rules of
//! [`crate::statuses`].

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::collect;
use super::{SqliteStore, history};
use crate::error::StoreResult;
use crate::model::*;
use crate::sql::OUTBOX_DEPTH_SQL;
use crate::statuses;
use crate::store::OutboxStore;

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            collect(
                c,
                "SELECT c.id FROM channels c WHERE c.paused_at IS NULL AND EXISTS (SELECT 1 FROM outbox o
                 WHERE o.channel_id = c.id AND o.state = 'pending' AND o.next_attempt_at <= ?1)",
                [now],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn claim_sends(
        &self,
        channel_id: &str,
        term: i64,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        let ch = channel_id.to_string();
        let lease = sender_lease(channel_id);
        self.write(move |c| {
            super::reach::admit_waiting(c, &ch, now, limit)?;
            let mut items = collect(
                c,
                "UPDATE outbox SET state = 'inflight', claimed_at = ?2, claim_term = ?4
                 WHERE message_id IN (
                    SELECT message_id FROM outbox AS o
                    WHERE channel_id = ?1 AND state = 'pending' AND next_attempt_at <= ?2 AND NOT awaits_reach
                    AND (orphaned_at IS NULL OR ?2 >= 2 * next_attempt_at - orphaned_at
                         OR NOT EXISTS (SELECT 1 FROM webhook_inbox AS i WHERE i.processed_at IS NULL
                                        AND i.received_at <= o.next_attempt_at))
                    ORDER BY priority, next_attempt_at, message_id LIMIT ?3)
                 AND EXISTS (SELECT 1 FROM leases WHERE name = ?5 AND term = ?4 AND expires_at > ?2)
                 RETURNING message_id, tenant_id, channel_id, attempts, payload, priority, next_attempt_at",
                params![ch, now, limit, term, lease],
                |r| {
                    let payload: String = r.get(4)?;
                    Ok((
                        r.get::<_, i32>(5)?,
                        r.get::<_, i64>(6)?,
                        OutboxItem {
                            message_id: r.get(0)?,
                            tenant_id: r.get(1)?,
                            channel_id: r.get(2)?,
                            attempts: r.get(3)?,
                            payload: serde_json::from_str(&payload).unwrap_or_default(),
                            term,
                        },
                    ))
                },
            )?;
            items.sort_by(|a, b| (a.0, a.1, &a.2.message_id).cmp(&(b.0, b.1, &b.2.message_id)));
            Ok(items.into_iter().map(|(_, _, i)| i).collect())
        })
        .await
    }

    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()> {
        let results = results.to_vec();
        self.write(move |c| {
            for r in &results {
                record_result(c, r)?;
            }
            Ok(())
        })
        .await
    }

    async fn prune_reach(&self, now: i64) -> StoreResult<u64> {
        self.write(move |c| super::reach::prune(c, now)).await
    }

    async fn requeue_orphaned_sends(
        &self,
        channel_id: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> StoreResult<u64> {
        let channel_id = channel_id.map(str::to_string);
        self.write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, claimed_at = NULL,
                 claim_term = NULL, orphaned_at = ?1,
                 last_error = 'outcome unknown: its sender stopped while the send was in flight'
                 WHERE state = 'inflight' AND (?3 IS NULL OR channel_id = ?3)
                 AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = 'sender:' || outbox.channel_id
                                 AND l.term = outbox.claim_term AND l.expires_at > ?1)",
            )?
            .execute(params![now, retry_at, channel_id])? as u64)
        })
        .await
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        self.read(|c| Ok(c.query_row(OUTBOX_DEPTH_SQL, [], |r| r.get(0))?))
            .await
    }
}

/// One send result: the message moves (if its status is known) and its outbox row goes, or the
/// row is rescheduled for a retry.
fn record_result(c: &Connection, r: &SendResult) -> StoreResult<()> {
    let message_id = statuses::message_id(r);
    let row: Option<(String, Option<i64>)> = c
        .prepare_cached("SELECT state, claim_term FROM outbox WHERE message_id = ?1")?
        .query_row([message_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if !statuses::may_record(r, row.as_ref().map(|(s, t)| (s.as_str(), *t))) {
        tracing::warn!(message.id = %message_id, term = statuses::term(r), "a send's outcome from a claim that is no longer its own is not recorded");
        return Ok(());
    }
    let Some(o) = statuses::send_outcome(r) else {
        if let SendResult::Defer { next_at, .. } = r {
            c.prepare_cached(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, claimed_at = NULL,
                 claim_term = NULL WHERE message_id = ?1",
            )?
            .execute(params![message_id, next_at])?;
        }
        if let SendResult::Retry { next_at, error, .. } = r {
            c.prepare_cached(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
                 claimed_at = NULL, claim_term = NULL, orphaned_at = NULL, last_error = ?3
                 WHERE message_id = ?1",
            )?
            .execute(params![message_id, next_at, error.to_string()])?;
        }
        return Ok(());
    };
    if let Some(current) = history::current_status(c, message_id)? {
        if let Some(wamid) = o.wamid {
            c.prepare_cached(
                "UPDATE messages SET wamid = ?2, meta_message_status = ?3 WHERE id = ?1",
            )?
            .execute(params![message_id, wamid, o.message_status])?;
        }
        let forward = current.advance(o.status).is_some();
        history::advance(c, message_id, forward, o.status, o.at, o.error, None)?;
    }
    history::delete_outbox(c, message_id)
}
