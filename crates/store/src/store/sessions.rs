//! Sessions: a channel's conversations with a contact, opened by a message and closed on
//! request or when their window expires.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Sessions: opened, read, closed on request, and closed by the closer when they expire.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The open session of a channel and contact, or a new one opened with `spec` at `now`.
    /// Returns it and whether it was opened by this call.
    async fn open_session(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        spec: &SessionSpec,
        now: i64,
    ) -> StoreResult<(Session, bool)>;

    /// A session by id, within a tenant.
    async fn get_session(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Session>>;

    /// Sessions of a tenant, newest first.
    async fn list_sessions(
        &self,
        tenant_id: &str,
        filter: &SessionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Session>>;

    /// Closes an open session on request (`close_reason` = `closed`). Returns the session as it
    /// is now (unchanged if it was already closed); `None` if the tenant has no such session.
    async fn close_session(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<Session>>;

    /// Closes every open session whose `expires_at` is at or before `now` (`closed_at` =
    /// its `expires_at`, `close_reason` = `expired`), at most `limit`; returns them.
    async fn close_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<Vec<Session>>;

    /// The earliest `expires_at` of an open session: when the closer must next run.
    async fn next_session_expiry(&self) -> StoreResult<Option<i64>>;
}
