//! The leader lease: the jobs that must run once among the replicas sharing a database (the
//! session closer, retention pruning, the installation-wide orphan sweep, and later the
//! campaign scheduler) run on the replica holding `leader`. It is taken when the gateway
//! starts (a lone replica leads at once), renewed every third of its term, and taken over by
//! another replica within one term of its holder's death.

use std::sync::atomic::Ordering;
use std::time::Duration;

use openbsp_store::LEADER_LEASE;
use tokio::sync::watch;

use crate::core::Core;

/// Takes or renews the leader lease once; whether this replica leads after it. A store error
/// gives leadership up (another replica may take it meanwhile).
pub async fn try_lead(state: &Core) -> bool {
    let ttl = state.config.sender.lease_ttl.as_millis() as i64;
    let held = match state
        .store
        .acquire_lease(LEADER_LEASE, &state.replica_id, state.now(), ttl)
        .await
    {
        Ok(Some(lease)) => {
            state.leadership.term.store(lease.term, Ordering::Release);
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "the leader lease could not be renewed; leading no more");
            false
        }
    };
    if state.leadership.set(held) {
        tracing::info!(replica = %state.replica_id, leads = held, "leadership changed");
        metrics::gauge!("openbsp_leader").set(if held { 1.0 } else { 0.0 });
    }
    held
}

/// Keeps trying and renewing until `shutdown`, then gives the lease up.
pub async fn run(state: Core, mut shutdown: watch::Receiver<bool>) {
    let every = (state.config.sender.lease_ttl / 3).max(Duration::from_millis(50));
    loop {
        try_lead(&state).await;
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    if state.leadership.is_leader() {
        state.leadership.set(false);
        // Best effort: another replica takes over at once instead of after the term.
        let term = state.leadership.term.load(Ordering::Acquire);
        let _ = state
            .store
            .release_lease(LEADER_LEASE, &state.replica_id, term, state.now())
            .await;
    }
}
