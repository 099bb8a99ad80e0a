//! Messages: an outbound message stored behind the send policy, messages and their status
//! history read, and counted.

use async_trait::async_trait;
use openbsp_domain::windows::Refusal;

use crate::error::StoreResult;
use crate::model::*;
use crate::policy::SendCheck;

/// Messages: the enqueue (with its contact, session and outbox row), look-ups, history and
/// counts.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores an outbound message, its contact, its `queued` status and its outbox row in one
    /// transaction (batched with concurrent calls). Honours the idempotency key. The message
    /// joins the open session of its channel and contact, or opens one from `new.session`;
    /// `new.open_fep_until` opens a free entry point window unless one is already open.
    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome>;

    /// [`MessageStore::enqueue_outbound`] behind the send policy: the conversation of the
    /// message's channel and recipient decides ([`crate::policy::plan`]) whether it may go,
    /// which session it joins or opens and which FEP window it opens (`new.session` and
    /// `new.open_fep_until` are replaced by the plan). `Err(refusal)` stores nothing.
    ///
    /// The policy and the enqueue are one transaction, and an idempotent retry is answered
    /// before the policy is asked (its first answer stands even after the window closed).
    async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: &SendCheck,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>>;

    /// A message of a tenant by gateway id or `wamid`.
    async fn get_message(&self, tenant_id: &str, id_or_wamid: &str)
    -> StoreResult<Option<Message>>;

    /// The message a tenant's `Idempotency-Key` created, if any.
    async fn find_message_by_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<Message>>;

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
}
