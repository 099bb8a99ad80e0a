//! Notices between the replicas sharing a database: a send queued on one replica wakes the
//! channel's sender on another, Meta's answer recorded by one reaches a Cloud API caller
//! waiting on another, a payload stored or an event written on one wakes the worker that
//! handles it on another. PostgreSQL's `LISTEN/NOTIFY`; nothing on SQLite (one process). A
//! notice may be lost (a dropped connection): every worker also polls.

use async_trait::async_trait;

use crate::error::StoreResult;

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
