//! Media: metadata of the bytes a tenant keeps (the bytes are the object store's), their
//! retention, and Meta's copies of them per channel.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::media::*;

/// Media and Meta's copies of them.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores a media's metadata (its bytes are already in the object store).
    async fn insert_media(&self, media: &Media) -> StoreResult<()>;

    /// A tenant's media (another tenant's id: `None`).
    async fn get_media(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Media>>;

    /// Marks a tenant's media used at `at` (a send, a download): retention counts from its last
    /// use. `false` if the tenant has no such media.
    async fn touch_media(&self, tenant_id: &str, id: &str, at: i64) -> StoreResult<bool>;

    /// Deletes a tenant's media and Meta's copies of it, in one transaction; whether another
    /// media of the tenant still has the same bytes. `None` if the tenant has no such media.
    async fn delete_media(&self, tenant_id: &str, id: &str) -> StoreResult<Option<MediaDeleted>>;

    /// Whether a media of the tenant has these bytes.
    async fn media_object_used(&self, tenant_id: &str, sha256: &str) -> StoreResult<bool>;

    /// Media last used before `before`, oldest first, at most `limit` (of every tenant): what
    /// retention prunes.
    async fn stale_media(&self, before: i64, limit: u32) -> StoreResult<Vec<Media>>;

    /// Meta's copy of a media for a channel, if one was recorded.
    async fn meta_copy(&self, media_id: &str, channel_id: &str) -> StoreResult<Option<MetaCopy>>;

    /// Records Meta's copy of a media for a channel (replacing an older one).
    async fn set_meta_copy(
        &self,
        media_id: &str,
        channel_id: &str,
        copy: &MetaCopy,
    ) -> StoreResult<()>;

    /// Forgets Meta's copy of a media for a channel (Meta said it no longer knows it).
    async fn forget_meta_copy(&self, media_id: &str, channel_id: &str) -> StoreResult<()>;

    // Download jobs: an inbound message's media, fetched from Meta. A job is written with its
    // message ([`crate::NewInbound::media`]); a worker claims it, fetches the bytes into the
    // object store, then finishes, retries or fails it.

    /// Claims, across tenants, at most `limit` pending download jobs due at `now` (`next_at <=
    /// now`) whose claim is absent or lapsed (`claimed_until <= now`), oldest `next_at` first:
    /// each is claimed until `now + lease_ms` and counts one more attempt, and is returned
    /// so. Two workers (or replicas) claiming at once never get the same job.
    async fn claim_downloads(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Download>>;

    /// A fetched download, in one transaction: `media` (its id the job's `media_id`, origin
    /// inbound) is stored, the job becomes stored (its claim and error cleared) and a
    /// `media.stored` event is written for the tenant. `false`, changing nothing, if the job
    /// is not pending (already stored or failed) or there is no such job.
    async fn finish_download(&self, message_id: &str, media: &Media, at: i64) -> StoreResult<bool>;

    /// A download that failed for now: while the job is pending, its claim is released, it is
    /// due again at `next_at` and `error` says why. Nothing otherwise.
    async fn retry_download(
        &self,
        message_id: &str,
        next_at: i64,
        error: &serde_json::Value,
        at: i64,
    ) -> StoreResult<()>;

    /// A download given up, in one transaction: the job becomes failed with `error` (its
    /// claim released), its message's `error` becomes `[error]` (an inbound message keeps
    /// Meta's errors array there), and a `media.failed` event is written for the tenant.
    /// `false`, changing nothing, if the job is not pending or there is no such job.
    async fn fail_download(
        &self,
        message_id: &str,
        error: &serde_json::Value,
        at: i64,
    ) -> StoreResult<bool>;

    /// A tenant's download job, by the id its media has (or will have); another tenant's:
    /// `None`.
    async fn get_download(&self, tenant_id: &str, media_id: &str) -> StoreResult<Option<Download>>;

    /// A tenant's download job, by its inbound message; another tenant's: `None`.
    async fn download_of(&self, tenant_id: &str, message_id: &str)
    -> StoreResult<Option<Download>>;
}
