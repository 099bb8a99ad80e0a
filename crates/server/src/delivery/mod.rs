//! Delivery of events to the tenants' webhook endpoints.
//!
//! A supervisor keeps one worker per enabled endpoint; a worker owns its endpoint's delivery
//! and nothing else, so a slow or dead endpoint never delays another. A worker reads the
//! events after its endpoint's durable cursor (in an order a cursor can follow without
//! skipping: see the store) and the deliveries whose retry is due, attempts them concurrently
//! (bounded, keep-alive, a timeout per attempt), then records the whole batch in one
//! transaction: every attempt in the log, the cursor moved past what was read, failures queued
//! for their next attempt on the schedule (with jitter, honouring `Retry-After`), and the
//! endpoint disabled, with an `endpoint.disabled` event, once it has failed for the configured
//! period. A crash between the attempts and that record sends those events again, with the
//! same `webhook-id`: at least once, never lost.

mod worker;

use std::collections::HashMap;

use openbsp_store::WebhookEndpoint;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::core::Core;

/// How often the supervisor re-reads the endpoints when nothing woke it (another replica's
/// changes).
const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

struct Running {
    config: watch::Sender<Option<WebhookEndpoint>>,
    handle: JoinHandle<()>,
}

/// How often old events and attempts are pruned.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Rows deleted per statement while pruning (short transactions beside the live traffic).
const PRUNE_BATCH: u32 = 5_000;

/// Forgets events, delivery attempts and Meta's processed payloads older than the retention,
/// media unused for theirs, and the messaging limit's reach older than 24 hours, hourly, until
/// `shutdown`; on the leader only.
pub async fn prune(state: Core, mut shutdown: watch::Receiver<bool>) {
    loop {
        if !state.leadership.is_leader() {
            // The leader prunes; this replica looks again in a while.
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
            }
            continue;
        }
        let before = state.now() - state.config.delivery.retention.as_millis() as i64;
        loop {
            match state.store.prune_events(before, PRUNE_BATCH).await {
                Ok(n) if n > 0 => {
                    tracing::debug!(rows = n, "pruned old events and delivery attempts");
                    tokio::task::yield_now().await;
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning old events failed; will retry");
                    break;
                }
            }
        }
        // Meta's payloads, once processed, go with the events.
        match crate::meta::retention::prune(&state).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "pruned old webhook payloads"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning old webhook payloads failed; will retry"),
        }
        // Media unused for the retention period go, with their bytes.
        let stale = state.now() - state.config.media_retention.as_millis() as i64;
        match crate::core::media::prune(&state, stale).await {
            Ok(n) if n > 0 => tracing::info!(media = n, "pruned media past their retention"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning old media failed; will retry"),
        }
        // What uploads left behind: staging objects of uploads a crash cut off, parts of
        // resumable uploads never finished (their sessions last a day). The store's own
        // times, so the wall clock's.
        let abandoned = chrono::Utc::now() - crate::objects::ABANDONED_AFTER;
        match state.objects.sweep(abandoned).await {
            Ok(n) if n > 0 => tracing::info!(objects = n, "swept abandoned upload objects"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "sweeping abandoned upload objects failed; will retry")
            }
        }
        // Users reached for the messaging limit more than 24 hours ago count no more.
        match state.store.prune_reach(state.now()).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "forgot users reached over 24 hours ago"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "pruning the messaging-limit reach failed; will retry")
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Runs the supervisor until `shutdown`; the workers stop with it. Deliveries run on the
/// leader only (each endpoint's cursor is one): a replica that stops leading stops its
/// workers, and the new leader's resume from the recorded cursors (at least once, same ids).
pub async fn run(state: Core, mut shutdown: watch::Receiver<bool>) {
    let mut running: HashMap<String, Running> = HashMap::new();
    loop {
        if !state.leadership.is_leader() {
            for (_, r) in running.drain() {
                let _ = r.config.send(None);
            }
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            continue;
        }
        match state.store.enabled_webhook_endpoints().await {
            Ok(endpoints) => {
                let mut wanted: HashMap<String, WebhookEndpoint> =
                    endpoints.into_iter().map(|e| (e.id.clone(), e)).collect();
                running.retain(|id, r| match wanted.remove(id) {
                    Some(e) if !r.handle.is_finished() => {
                        // A changed endpoint (URL, secret, patterns…) is picked up by its
                        // worker at its next batch.
                        r.config.send_if_modified(|cur| {
                            let changed = cur.as_ref().is_none_or(|c| c.updated_at != e.updated_at);
                            if changed {
                                *cur = Some(e);
                            }
                            changed
                        });
                        true
                    }
                    Some(e) => {
                        // Its worker stopped (it disabled the endpoint, which was enabled
                        // again since): start another.
                        wanted.insert(id.clone(), e);
                        false
                    }
                    None => {
                        let _ = r.config.send(None);
                        false
                    }
                });
                for (id, e) in wanted {
                    let (config, rx) = watch::channel(Some(e));
                    let handle = tokio::spawn(worker::run(state.clone(), rx, shutdown.clone()));
                    running.insert(id, Running { config, handle });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read webhook endpoints; will retry"),
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = state.delivery_wake.notified() => {}
            _ = tokio::time::sleep(REFRESH) => {}
        }
    }
    for (_, r) in running {
        let _ = r.handle.await;
    }
}
