//! The storage interface both backends implement.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Everything the gateway keeps. Implementations must behave identically; the shared test
/// suite (`tests/`) checks it on both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    // --- tenants and keys -----------------------------------------------------------------

    /// Stores a new tenant.
    async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    /// A tenant by id.
    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>>;
    /// All tenants, oldest first.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    /// Stores a new API key (its hash).
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// The key with this hash, if not revoked.
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    /// Keys of a tenant (or all, for `None`).
    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;

    // --- apps and channels ----------------------------------------------------------------

    /// Stores a new app.
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    /// An app by id.
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>>;
    /// Apps of a tenant (or all).
    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>>;
    /// The app with this verify-token hash.
    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>>;
    /// Stores a new channel; `Conflict` if its phone number id is taken.
    async fn create_channel(&self, channel: &Channel) -> StoreResult<()>;
    /// Replaces a channel's mutable fields (token, base URL, throughput, tier…).
    async fn update_channel(&self, channel: &Channel) -> StoreResult<()>;
    /// A channel by id.
    async fn get_channel(&self, id: &str) -> StoreResult<Option<Channel>>;
    /// A channel by Meta's phone number id (installation-wide: for webhooks and routing).
    async fn find_channel_by_phone_number_id(&self, pnid: &str) -> StoreResult<Option<Channel>>;
    /// The first channel of a WABA.
    async fn find_channel_by_waba(&self, waba_id: &str) -> StoreResult<Option<Channel>>;
    /// Channels of a tenant (or all).
    async fn list_channels(&self, tenant_id: Option<&str>) -> StoreResult<Vec<Channel>>;

    // --- contacts ---------------------------------------------------------------------------

    /// A contact by id, within a tenant.
    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>>;

    // --- messages ---------------------------------------------------------------------------

    /// Stores an outbound message, its contact, its `queued` status and its outbox row in one
    /// transaction (batched with concurrent calls). Honours the idempotency key.
    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome>;
    /// A message of a tenant by gateway id or `wamid`.
    async fn get_message(&self, tenant_id: &str, id_or_wamid: &str)
    -> StoreResult<Option<Message>>;
    /// A message's status history, oldest first.
    async fn message_history(&self, message_id: &str) -> StoreResult<Vec<StatusEntry>>;
    /// Messages of a tenant, newest first.
    async fn list_messages(
        &self,
        tenant_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<Message>>;
    /// Number of messages per status, installation-wide (for metrics).
    async fn count_messages_by_status(&self) -> StoreResult<Vec<(String, i64)>>;
    /// Number of messages of a tenant.
    async fn count_messages(&self, tenant_id: &str) -> StoreResult<i64>;

    // --- the outbox (sender) ----------------------------------------------------------------

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

    // --- Meta's webhooks --------------------------------------------------------------------

    /// Stores a verified webhook payload (batched with concurrent calls).
    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<()>;
    /// Payloads not yet processed, oldest first.
    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>>;
    /// Marks payloads processed.
    async fn mark_inbox_processed(&self, ids: &[String], at: i64) -> StoreResult<()>;
    /// Applies a status: history row (deduplicated on message and status), status only
    /// forward, `wamid` learnt from the callback data if the send's answer was lost, and the
    /// outbox row of a reconciled send removed.
    async fn apply_status(&self, update: &StatusUpdate) -> StoreResult<StatusOutcome>;
    /// Stores an inbound message and creates or updates its contact; `false` if that `wamid`
    /// was already stored.
    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool>;
}
