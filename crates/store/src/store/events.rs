//! Events and their delivery: events read by the API and by delivery, the signal delivery
//! waits on, each endpoint's schedule and log of attempts, replays, and pruning.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Events and their delivery to webhook endpoints.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Wakes when a transaction that may have written events commits (the value counts
    /// commits): what delivery waits on instead of polling. Another replica's events are not
    /// signalled: readers also look on a timer.
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64>;

    /// A tenant's native events matching `filter`, newest first.
    async fn list_events(&self, tenant_id: &str, filter: &EventFilter) -> StoreResult<Vec<Event>>;

    /// A tenant's event by id (either format).
    async fn get_event(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Event>>;

    /// A tenant's events in `format` after `cursor` in delivery order, at most `limit`; with no
    /// cursor, those made at or after `since`. Only events that no running transaction can
    /// precede are returned, so a reader that moves its cursor past what it read never skips
    /// one that commits later.
    async fn events_after(
        &self,
        tenant_id: &str,
        format: &str,
        cursor: Option<EventCursor>,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;

    /// Deliveries of an endpoint waiting for an attempt due at or before `now`, earliest first,
    /// at most `limit`.
    async fn due_deliveries(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>>;

    /// When the endpoint's next waiting delivery is due.
    async fn next_delivery_due(&self, endpoint_id: &str) -> StoreResult<Option<i64>>;

    /// Records a batch of attempts to one endpoint in one transaction: the attempts logged,
    /// the cursor moved forward, retries scheduled (replacing what was pending), finished
    /// deliveries removed, `failing_since` set or cleared, and the endpoint disabled with its
    /// event when asked. Nothing is written if the endpoint no longer exists.
    async fn record_deliveries(&self, record: &DeliveryRecord) -> StoreResult<()>;

    /// An endpoint's delivery attempts matching `filter`, newest first; empty when the tenant
    /// has no such endpoint.
    async fn list_delivery_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>>;

    /// Queues events for another delivery to a tenant's endpoint, due at `now` (the attempt
    /// number continuing from the last one logged). Returns how many; 0 when the tenant has no
    /// such endpoint or event.
    async fn replay_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64>;

    /// Forgets what is older than `before` (ms): events (except those still waiting for a
    /// delivery attempt) and delivery attempts, at most `limit` rows of each. Returns how many
    /// rows went.
    async fn prune_events(&self, before: i64, limit: u32) -> StoreResult<u64>;
}
