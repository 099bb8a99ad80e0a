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
}
