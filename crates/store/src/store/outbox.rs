//! The sender's queue: the sends that are due, claimed by a sender, their results recorded,
//! and those a crashed sender left in flight put back.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// The outbox, as the sender works it.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Channels that have sends due at `now`.
    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>>;

    /// Claims up to `limit` due sends of a channel, by priority then age, marking them in
    /// flight at `now`.
    async fn claim_sends(
        &self,
        channel_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// Records the outcomes of send attempts (message status, history, outbox) in one
    /// transaction.
    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()>;

    /// Sends in flight since before `claimed_before` lost their sender (a crash): their outcome
    /// is unknown, so they wait until `retry_at` for a status webhook to reconcile them before
    /// they are sent again. Returns how many.
    async fn requeue_stale_sends(&self, claimed_before: i64, retry_at: i64) -> StoreResult<u64>;

    /// Sends waiting in the outbox (for metrics).
    async fn outbox_depth(&self) -> StoreResult<i64>;
}
