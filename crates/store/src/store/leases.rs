//! Leases: one holder at a time for a name, for a while, renewed while it works. A channel's
//! sender holds `sender:<channel id>` (so exactly one replica sends for a channel, and pacing
//! stays exact); the jobs that must run once run on the holder of `leader`. Each new holding is
//! a new term: sends are claimed under a term, and only that term may record their outcome.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::Lease;

/// Leases, as replicas take, keep and give them up.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes `name` for `holder` until `now + ttl_ms`, if nobody holds it, its holding lapsed,
    /// or `holder` holds it (then the holding is renewed and keeps its term). A new holding
    /// gets the next term. `None` while another holder's holding is live.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<Lease>>;

    /// Renews `holder`'s holdings `held` (name and term) until `now + ttl_ms`, and returns
    /// them: a name missing from the answer is no longer that holding (another holder took it
    /// since). A holding that lapsed with nobody taking it in between is renewed: nobody else
    /// held it meanwhile.
    async fn renew_leases(
        &self,
        holder: &str,
        held: &[(String, i64)],
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<Lease>>;

    /// Gives up one holding at `now` (nothing if it is no longer that holding). The name keeps
    /// its last term, so the next holding's is higher.
    async fn release_lease(&self, name: &str, holder: &str, term: i64, now: i64)
    -> StoreResult<()>;
}
