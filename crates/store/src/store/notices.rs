//! Notices between the replicas sharing a database: a send queued on one replica wakes the
//! channel's sender on another, Meta's answer recorded by one reaches a Cloud API caller
//! waiting on another, a payload stored or an event written on one wakes the worker that
//! handles it on another. PostgreSQL's `LISTEN/NOTIFY`; nothing on SQLite (one process). A
//! notice may be lost (a dropped connection): every worker also polls, and the receivers hear
//! [`MISSED_NOTICES`] when the listening connection is back, so that they take every notice
//! they may have missed as heard (forget cached copies, wake the workers) at once rather than
//! when their caches expire.

use async_trait::async_trait;

use crate::error::StoreResult;

/// What [`NoticeStore::notices`] hands its receivers, beside the replicas' notices, each time
/// the listening connection is (re)established: notices published while it was down are gone.
/// Never published: a replica's own notices cannot be mistaken for it (theirs have a kind
/// before a `:`; this one names no kind any replica publishes).
pub const MISSED_NOTICES: &str = "notices-missed";

/// Publishing and hearing notices.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Sends `notices` (short texts, under 8,000 bytes each) to every replica, this one
    /// included, in one round trip.
    async fn publish(&self, notices: &[String]) -> StoreResult<()>;

    /// The notices every replica publishes, as they arrive; `None` where there is no other
    /// replica to hear from (SQLite).
    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<String>>;
}
