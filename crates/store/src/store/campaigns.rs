//! Campaigns: created and filled by the API, run by the campaign runner (which hands pending
//! recipients to the sender at most once each), counted from their recipients and messages.

use async_trait::async_trait;

use openbsp_domain::windows::Refusal;

use crate::campaign::*;
use crate::error::StoreResult;
use crate::model::{EnqueueOutcome, NewOutbound};
use crate::policy::SendCheck;

/// Campaigns and their recipients.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Stores a new campaign; with an idempotency key already used by the tenant, stores
    /// nothing and answers the campaign that key created (the same request, or another).
    async fn create_campaign(
        &self,
        c: &Campaign,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<CampaignCreated>;

    /// The campaign a tenant's idempotency key created, and the hash of its request.
    async fn find_campaign_by_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<(Campaign, Option<String>)>>;

    /// A tenant's campaign.
    async fn get_campaign(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Campaign>>;

    /// A tenant's campaigns, newest first.
    async fn list_campaigns(&self, f: &CampaignFilter) -> StoreResult<Vec<Campaign>>;

    /// Deletes a draft campaign and its recipients; `false` if the tenant has no such
    /// campaign; a conflict if it is not a draft.
    async fn delete_campaign(&self, tenant_id: &str, id: &str) -> StoreResult<bool>;

    /// Begins the upload `upload` (`upl_…`) of recipients to a campaign whose status takes
    /// them (else a conflict): one at a time (a conflict while another is under way; a lapsed
    /// one's rows are removed first). Until it ends the campaign does not run; it lapses at
    /// `until` unless renewed. Not found: `NotFound`.
    async fn begin_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<()>;

    /// Adds checked rows of the upload `upload` to a campaign in one transaction, while its
    /// status takes recipients and the upload is still its own (else a conflict, nothing
    /// added); a recipient already in the campaign is counted as a duplicate and kept once.
    /// Not found: `NotFound`.
    async fn add_recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        rows: Vec<NewRecipient>,
        now: i64,
    ) -> StoreResult<RecipientsAdded>;

    /// Keeps the upload under way until `until`; `false` if it is no longer (it lapsed and
    /// was removed).
    async fn renew_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        until: i64,
    ) -> StoreResult<bool>;

    /// Ends the upload: `keep`, its rows stay (a conflict if it is no longer under way: it
    /// lapsed, and its rows are gone); else its rows are removed (if still its campaign's).
    /// Returns how many rows were removed.
    async fn end_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        keep: bool,
    ) -> StoreResult<u64>;

    /// Removes the uploads whose lease lapsed by `now` (their gateway died mid-upload) with
    /// their rows, each checked still lapsed in the transaction that removes it (a renewal
    /// that came first keeps its upload): each one's campaign, upload and rows removed.
    async fn remove_lapsed_uploads(&self, now: i64) -> StoreResult<Vec<(String, String, u64)>>;

    /// Changes a campaign's status ([`crate::campaign::transition`]) in one transaction with
    /// its event and what it does to the campaign's queued sends (held or released).
    async fn transition_campaign(
        &self,
        tenant_id: &str,
        id: &str,
        action: CampaignAction,
        now: i64,
    ) -> StoreResult<Transitioned>;

    /// Puts the recipients of a campaign whose send failed with one of `codes` (Meta's code,
    /// or the gateway's reason: see [`crate::campaign::failure_code`]) back to pending, in one
    /// transaction with the campaign's [`CampaignAction::Retry`] (a completed campaign runs
    /// again); their failed messages leave the campaign (they stay messages of the tenant).
    /// Returns the campaign and how many recipients go again.
    async fn retry_recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        codes: &[String],
        now: i64,
    ) -> StoreResult<(Campaign, u64)>;

    /// A campaign's counts.
    async fn campaign_counts(&self, campaign_id: &str) -> StoreResult<CampaignCounts>;

    /// A campaign's recipients, in upload order.
    async fn list_recipients(
        &self,
        campaign_id: &str,
        f: &RecipientFilter,
    ) -> StoreResult<Vec<CampaignRecipient>>;

    /// Campaigns the runner works on at `now`: running ones, and scheduled ones whose start
    /// came (of every tenant).
    async fn active_campaigns(&self, now: i64) -> StoreResult<Vec<Campaign>>;

    /// The next `limit` recipients of a campaign not yet handed to the sender.
    async fn pending_recipients(
        &self,
        campaign_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<CampaignRecipient>>;

    /// Hands recipients to the sender in one transaction: each still pending gets its message
    /// and outbox row behind the send policy (opted out: skipped) or its failure; one no
    /// longer pending is left alone (`taken`). Nothing is done unless the campaign is running.
    async fn feed_campaign(
        &self,
        campaign_id: &str,
        items: Vec<FeedItem>,
        now: i64,
    ) -> StoreResult<Fed>;

    /// How many of a campaign's messages are queued at the sender (not yet answered by Meta; held ones too).
    async fn campaign_queued(&self, campaign_id: &str) -> StoreResult<u64>;

    /// Stores a grouped direct send as [`crate::MessageStore::enqueue_checked`] does, in the
    /// campaign of its key, all in one transaction: the campaign of `group`'s tenant, channel
    /// and [`Campaign::group_key`] is found, or `group` is created (running), or a completed
    /// one runs again ([`join_group`]; a paused or cancelled one is a conflict, and nothing is
    /// stored); the message carries its id and the recipient's row is born `queued` with the
    /// message (the next `line`, no variables). A refusal by the send policy stores nothing,
    /// the campaign neither; a replay under the message's idempotency key answers the first
    /// message and changes nothing. A recipient is in a campaign once: a second send to them
    /// under the same key goes out on its own (not in the campaign). Two first sends of one
    /// key at once make one campaign.
    async fn enqueue_grouped(
        &self,
        group: &Campaign,
        new: NewOutbound,
        check: &SendCheck,
        now: i64,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>>;
}
