//! The session closer: closes each session when its customer service window lapses, on time
//! (it sleeps until the next session is due, bounded by the configured interval, which also
//! lets a moved test clock take effect).

use std::time::Duration;

use tokio::sync::watch;

use crate::core::Core;

/// Sessions closed per statement.
const BATCH: u32 = 500;

/// Closes every session due at the state's `now`; returns how many.
pub async fn close_due(state: &Core) -> Result<usize, openbsp_store::StoreError> {
    let mut total = 0;
    loop {
        let closed = state
            .store
            .close_expired_sessions(state.now(), BATCH)
            .await?;
        total += closed.len();
        for s in &closed {
            tracing::debug!(session.id = %s.id, "session closed: its window lapsed");
        }
        if closed.len() < BATCH as usize {
            break;
        }
    }
    if total > 0 {
        metrics::counter!("openbsp_sessions_closed_total", "reason" => "expired")
            .increment(total as u64);
    }
    Ok(total)
}

/// Runs until `shutdown`, on the leader only ([`crate::leader`]).
pub async fn run(state: Core, mut shutdown: watch::Receiver<bool>) {
    let max_sleep = state.config.session_closer_interval;
    loop {
        if !state.leadership.is_leader() {
            // Another replica closes sessions; this one looks again in a while.
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(max_sleep) => {}
            }
            continue;
        }
        if let Err(e) = close_due(&state).await {
            tracing::warn!(error = %e, "closing lapsed sessions failed; will retry");
        }
        let sleep = match state.store.next_session_expiry().await {
            Ok(Some(next)) => {
                let wait = next.saturating_sub(state.now()).max(0) as u64;
                Duration::from_millis(wait).min(max_sleep)
            }
            Ok(None) | Err(_) => max_sleep,
        };
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.session_wake.notified() => {}
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(10))) => {}
        }
    }
}
