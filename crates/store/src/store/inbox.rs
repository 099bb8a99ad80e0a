//! Meta's webhooks: the verified payloads kept until processed, and what processing applies to
//! the store (status updates and inbound messages).

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Meta's webhook payloads and their effects.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores a verified webhook payload (batched with concurrent calls); `false`, and nothing
    /// stored, when the app already has a payload of the same bytes (Meta's retry of a webhook
    /// it thinks failed, or a replay): known by the SHA-256 of the body, until the first copy
    /// is pruned. Another payload with the same id is a conflict.
    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<bool>;

    /// Forgets payloads processed and received before `before` (ms), with their bodies, at
    /// most `limit`, oldest first; a payload never processed stays, whatever its age. Returns
    /// how many went. Bounded by an id range (ids are time-ordered): a payload whose id was made
    /// for a later time than it was received (the clock stepped back) waits for that time.
    async fn prune_inbox(&self, before: i64, limit: u32) -> StoreResult<u64>;

    /// Payloads not yet processed, oldest first.
    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>>;

    /// Claims up to `limit` payloads not yet processed for `holder` until `until`, oldest
    /// first: payloads nobody claimed, whose claim lapsed by `now` (its holder died), or that
    /// `holder` itself claimed before and did not finish (their effects could not be stored:
    /// tried again on its next pass). Two holders never get the same payload while a claim is
    /// live.
    async fn claim_inbox(
        &self,
        holder: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> StoreResult<Vec<InboxItem>>;

    /// Marks payloads processed, each with its events (Meta's envelopes for the tenants whose
    /// endpoints want Meta's format), in one transaction. A payload already marked (another
    /// holder took it after this one's claim lapsed, and finished first) keeps its mark, and its
    /// events here are dropped: each payload's events are written once.
    async fn mark_inbox_processed(
        &self,
        done: &[(String, Vec<NewEvent>)],
        at: i64,
    ) -> StoreResult<()>;

    /// Applies a status: history row (deduplicated on message and status), status only
    /// forward, `wamid` learnt from the callback data if the send's answer was lost, and the
    /// outbox row of a reconciled send removed. A `pricing_category` sets the kind of the
    /// message's session if that is still unknown.
    async fn apply_status(&self, update: &StatusUpdate) -> StoreResult<StatusOutcome>;

    /// [`InboxStore::apply_status`] for each of `updates`, in one transaction, answered in
    /// their order: the same outcomes, and the same rows, as applying them one by one in that
    /// order (a message named twice is judged the second time as the first left it). All or
    /// nothing: if it fails, none is applied.
    async fn apply_statuses(&self, updates: &[StatusUpdate]) -> StoreResult<Vec<StatusOutcome>>;

    /// Stores an inbound message with its effects, in one transaction; `false` (and nothing
    /// changed) if that `wamid` was already stored. Effects:
    /// - the contact is found by `new.contact` or `new.also`, or created; a missing identifier
    ///   is filled in; when the two identifiers belong to two contacts, they are merged into
    ///   the older one (messages, sessions and windows move; a second open session on the same
    ///   channel is closed with reason `merged`; the newer contact is deleted);
    /// - the profile name and username are updated when given;
    /// - `changed_number` moves the contact to the new `wa_id` (the old one goes to
    ///   `previous_wa_ids`; a contact that already had the new number is merged into it);
    /// - `opt_out` sets or clears the marketing opt-out;
    /// - `opens_window`: the window's `last_inbound_at` becomes the message's time (if later),
    ///   `entry_point_at` too when `entry_point`; the message joins the open session (renewing
    ///   `expires_at` to 24 h after it and `last_inbound_at`), or opens one (`kind` service,
    ///   `opened_by` inbound). Without `opens_window` it joins the open session if there is one;
    /// - `context_wamid` is resolved to the gateway's message id when the gateway has it.
    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool>;

    /// [`InboxStore::insert_inbound`] for many messages in one transaction, in order: whether
    /// each was stored (`false`: a duplicate of a `wamid` already stored, or of one earlier in
    /// `news`). All or nothing: on an error none is stored, and the caller may store them one
    /// by one to find the one at fault.
    async fn insert_inbounds(&self, news: &[NewInbound]) -> StoreResult<Vec<bool>>;
}
