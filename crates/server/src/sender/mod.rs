//! The sender: one worker per channel with due sends, each pacing its number at the channel's
//! throughput with a token bucket, and one recorder that commits outcomes in batches and tells
//! waiting Cloud-API callers.
//!
//! A send is claimed (marked in flight) before it is posted, and its outcome recorded after.
//! If the process dies in between, the outcome is unknown: after `inflight_timeout` the send is
//! put back with a delay of `reconcile_grace`, during which Meta's status webhook (which
//! carries the gateway id in `biz_opaque_callback_data`) reconciles it instead of a second
//! send.

mod recorder;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::core::Core;
use crate::meta::graph::GraphClient;

/// Shortest pause between two looks for due work, however often the sender is woken.
const MIN_LOOK_INTERVAL: Duration = Duration::from_millis(20);
/// How often sends orphaned by a crash are looked for.
const STALE_SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// Runs the sender until `shutdown` turns true.
pub async fn run(state: Core, shutdown: watch::Receiver<bool>) {
    let client = state.graph.clone();
    run_with(state, client, shutdown).await
}

/// Runs the sender with a given Graph client (tests swap it).
pub async fn run_with(
    state: Core,
    client: Arc<dyn GraphClient>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (results_tx, results_rx) = mpsc::channel(4096);
    let recorder = tokio::spawn(recorder::run(state.clone(), results_rx));
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut last_sweep = None::<tokio::time::Instant>;
    loop {
        if last_sweep.is_none_or(|t| t.elapsed() >= STALE_SWEEP_INTERVAL) {
            sweep_stale(&state).await;
            last_sweep = Some(tokio::time::Instant::now());
        }
        workers.retain(|_, h| !h.is_finished());
        match state.store.channels_with_due_sends(state.now()).await {
            Ok(channels) => {
                for ch in channels {
                    workers.entry(ch.clone()).or_insert_with(|| {
                        tokio::spawn(worker::run(
                            state.clone(),
                            client.clone(),
                            ch,
                            results_tx.clone(),
                            shutdown.clone(),
                        ))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "sender could not look for due sends"),
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = state.sender_wake.notified() => {}
            _ = tokio::time::sleep(state.config.sender.poll_interval) => {}
        }
        tokio::time::sleep(MIN_LOOK_INTERVAL).await;
    }
    for (_, h) in workers {
        let _ = h.await;
    }
    drop(results_tx);
    let _ = recorder.await;
}

async fn sweep_stale(state: &Core) {
    let cfg = &state.config.sender;
    let now = state.now();
    match state
        .store
        .requeue_stale_sends(
            now - cfg.inflight_timeout.as_millis() as i64,
            now + cfg.reconcile_grace.as_millis() as i64,
        )
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            sends = n,
            "sends whose outcome was lost (the sender stopped mid-flight) wait for Meta's status webhook before being retried"
        ),
        Err(e) => tracing::warn!(error = %e, "could not look for orphaned sends"),
    }
}
