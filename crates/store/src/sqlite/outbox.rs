//! [`OutboxStore`] on SQLite: the sender's queue. Claims and results are jobs on the writer, so
//! two senders never claim the same row; a result moves its message's status by the rules of
//! [`crate::statuses`].

use async_trait::async_trait;
use rusqlite::{Connection, params};

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
                "SELECT c.id FROM channels c WHERE EXISTS (SELECT 1 FROM outbox o
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
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        let ch = channel_id.to_string();
        self.write(move |c| {
            let mut items = collect(
                c,
                "UPDATE outbox SET state = 'inflight', claimed_at = ?2
                 WHERE message_id IN (
                    SELECT message_id FROM outbox
                    WHERE channel_id = ?1 AND state = 'pending' AND next_attempt_at <= ?2
                    ORDER BY priority, next_attempt_at, message_id LIMIT ?3)
                 RETURNING message_id, tenant_id, channel_id, attempts, payload, priority, next_attempt_at",
                params![ch, now, limit],
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

    async fn requeue_stale_sends(&self, claimed_before: i64, retry_at: i64) -> StoreResult<u64> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, claimed_at = NULL,
                 last_error = 'outcome unknown: sender stopped while the send was in flight'
                 WHERE state = 'inflight' AND claimed_at < ?1",
                params![claimed_before, retry_at],
            )? as u64)
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
    let Some(o) = statuses::send_outcome(r) else {
        if let SendResult::Retry { next_at, error, .. } = r {
            c.prepare_cached(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
                 claimed_at = NULL, last_error = ?3 WHERE message_id = ?1",
            )?
            .execute(params![message_id, next_at, error.to_string()])?;
        }
        return Ok(());
    };
    if let Some(current) = history::current_status(c, message_id)? {
        if let Some(wamid) = o.wamid {
            c.prepare_cached("UPDATE messages SET wamid = ?2 WHERE id = ?1")?
                .execute(params![message_id, wamid])?;
        }
        let forward = current.advance(o.status).is_some();
        history::advance(c, message_id, forward, o.status, o.at, o.error, None)?;
    }
    history::delete_outbox(c, message_id)
}
