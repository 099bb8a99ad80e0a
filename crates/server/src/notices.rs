//! Notices between replicas ([`openbsp_store::NoticeStore`]: PostgreSQL's `LISTEN/NOTIFY`):
//! a send queued here wakes the channel's sender wherever its lease is, Meta's answer recorded
//! there reaches the Cloud API caller waiting here, a payload stored here wakes the processor
//! that claims it. Published in batches by one task; heard by another. Every worker also
//! polls, so a lost notice only costs time.

use std::collections::BTreeSet;

use tokio::sync::watch;

use crate::core::Core;
pub use crate::core::replicas::{Notice, Publisher};

/// Notices published per statement at most.
const BATCH: usize = 500;

/// Publishes what the core drops, in batches (the same notice once per batch), until
/// `shutdown`.
pub async fn publish(state: Core, mut shutdown: watch::Receiver<bool>) {
    let Some(rx) = state.publisher.receiver() else {
        return;
    };
    // Only one publisher at a time: one that is started again waits for the last to be gone.
    let mut rx = rx.lock().await;
    let mut batch = BTreeSet::new();
    loop {
        let first = tokio::select! {
            n = rx.recv() => n,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Some(first) = first else { return };
        batch.insert(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(n) => {
                    batch.insert(n);
                }
                Err(_) => break,
            }
        }
        let notices: Vec<String> = std::mem::take(&mut batch).into_iter().collect();
        if let Err(e) = state.store.publish(&notices).await {
            tracing::debug!(error = %e, notices = notices.len(), "could not publish notices; the other replicas poll");
        }
    }
}

/// Hears the replicas' notices (this one's too) and wakes what they concern, until
/// `shutdown`.
pub async fn listen(state: Core, mut shutdown: watch::Receiver<bool>) {
    let Some(mut rx) = state.store.notices() else {
        return;
    };
    loop {
        let heard = tokio::select! {
            n = rx.recv() => n,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match heard {
            // The listening connection was lost and is back: what was published meanwhile
            // (a key revoked, a secret rotated, a send queued) is taken as heard.
            Ok(text) if text == openbsp_store::MISSED_NOTICES => missed(&state),
            Ok(text) => match Notice::decode(&text) {
                Some(Notice::Send(ch)) => {
                    state.sender_wakes.wake(&ch);
                }
                Some(Notice::Outcome(id, outcome)) => state.deliver_outcome(&id, outcome),
                Some(Notice::Inbox) => state.inbox_wake.notify_one(),
                Some(Notice::Changed) => state.forget_cached(),
                None => tracing::debug!(notice = %text, "a notice this version does not know"),
            },
            // Too many at once: some were dropped; every worker polls as well.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(dropped = n, "notices came faster than they were heard");
                missed(&state);
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Notices may have been missed (dropped, or published while the listening connection was
/// down): whatever they said is taken as said. The workers look for work, and cached
/// credentials and settings are forgotten, so a key revoked meanwhile is refused from now on
/// (not when its cached copy expires). While the connection is down nothing is heard: a
/// change made then on another replica shows here when it is back (the store retries every
/// second) or when the cached copy expires, whichever comes first.
fn missed(state: &Core) {
    state.inbox_wake.notify_one();
    state.sender_wakes.supervisor().notify_one();
    state.forget_cached();
}
