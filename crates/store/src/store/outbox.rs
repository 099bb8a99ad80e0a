//! The sender's queue: the sends that are due, claimed by a channel's sender under its lease,
//! their results recorded by that holding only, and those a lost holding left in flight put
//! back.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// The outbox, as the sender works it.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Channels that have sends due at `now` (a paused channel has none).
    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>>;

    /// Claims up to `limit` due sends of a channel, by priority then age, marking them in
    /// flight at `now` under `term` of the channel's sender lease — only while that holding is
    /// live (none otherwise).
    async fn claim_sends(
        &self,
        channel_id: &str,
        term: i64,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// Records the outcomes of send attempts (message status, history, outbox) in one
    /// transaction — each only as far as its claim allows: a retry reschedules the send only if
    /// it is still in flight under the result's term; an answer from Meta (accepted or failed)
    /// is recorded unless the send is in flight under another term (another holding is posting
    /// it), for Meta's answer settles a send the sweep put back as well as a status webhook
    /// would.
    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()>;

    /// Forgets the users reached for the messaging limit more than 24 hours before `now`
    /// (they count no more); how many.
    async fn prune_reach(&self, now: i64) -> StoreResult<u64>;

    /// Sends in flight under a term that is no longer a live holding of their channel's sender
    /// lease (its holder died or lost it) — of one channel, or of all: their outcome is
    /// unknown, so they wait until `retry_at` for a status webhook to reconcile them before they
    /// are sent again. Returns how many.
    async fn requeue_orphaned_sends(
        &self,
        channel_id: Option<&str>,
        now: i64,
        retry_at: i64,
    ) -> StoreResult<u64>;

    /// Sends waiting in the outbox (for metrics).
    async fn outbox_depth(&self) -> StoreResult<i64>;
}
