//! The campaign runner: on the leader only ([`crate::leader`]), it starts scheduled campaigns
//! when their time comes and keeps each running campaign's next sends queued at the sender
//! ([`crate::core::campaigns::feed`]), a little ahead of its rate; the sender paces them, at
//! the bulk priority, behind every reply and one-to-one send of the channel.
//!
//! It never sends anything itself, and never hands a recipient over twice: a feed is one
//! store transaction that queues only recipients still pending, only while the campaign runs.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

use crate::core::Core;
use crate::core::campaigns;

/// How often the runner looks at its campaigns (it is also woken by a start or a resume).
pub const TICK: Duration = Duration::from_millis(100);

/// How often the runner looks for uploads whose gateway died mid-way.
const LAPSED_UPLOADS_EVERY: Duration = Duration::from_secs(5);

/// Runs until `shutdown`.
pub async fn run(state: Core, mut shutdown: watch::Receiver<bool>) {
    // The time each campaign with a rate of its own may send next (its pace across feeds).
    let mut next_due: HashMap<String, i64> = HashMap::new();
    let mut lapsed_sweep = tokio::time::Instant::now();
    loop {
        if !state.leadership.is_leader() {
            next_due.clear();
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = state.campaign_wake.notified() => {}
                _ = tokio::time::sleep(state.config.sender.lease_ttl / 3) => {}
            }
            continue;
        }
        if lapsed_sweep.elapsed() >= LAPSED_UPLOADS_EVERY {
            lapsed_sweep = tokio::time::Instant::now();
            if let Err(e) = campaigns::remove_lapsed(&state).await {
                tracing::warn!(error = %e, "removing lapsed uploads failed; will retry");
            }
        }
        // A campaign fed a whole batch wants more at once (a long queue to fill).
        let mut more = false;
        match state.store.active_campaigns(state.now()).await {
            Ok(active) => {
                next_due.retain(|id, _| active.iter().any(|c| &c.id == id));
                for c in &active {
                    let due = next_due.entry(c.id.clone()).or_insert(0);
                    match campaigns::feed(&state, c, due).await {
                        Ok(Some(fed)) if fed.queued + fed.failed + fed.skipped > 0 => {
                            more |= fed.queued + fed.failed + fed.skipped + fed.taken
                                >= campaigns::FEED_MAX;
                            tracing::debug!(campaign.id = %c.id, queued = fed.queued, failed = fed.failed, skipped = fed.skipped, "campaign fed");
                            metrics::counter!("openbsp_campaign_sends_queued_total")
                                .increment(fed.queued);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(campaign.id = %c.id, error = %e, "feeding a campaign failed; will retry");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the active campaigns failed; will retry"),
        }
        if more {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.campaign_wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}
