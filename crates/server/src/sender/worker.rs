//! One channel's worker: claim due sends, pace them with a token bucket at the channel's
//! throughput, post them, and pass each outcome to the recorder.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use openbsp_domain::backoff::retry_delay_ms;
use openbsp_store::{Channel, OutboxItem, SendResult};
use openbsp_wire::{MetaError, RetryClass};
use tokio::sync::{Semaphore, mpsc, watch};

use super::recorder::Recorded;
use crate::core::{Core, SendOutcome};
use crate::meta::graph::{GraphClient, GraphOutcome};

/// Sends in flight at once per channel.
const MAX_IN_FLIGHT: usize = 64;
/// Empty looks before an idle worker stops (the supervisor restarts it when work is due).
const IDLE_LOOKS: u32 = 3;
/// How long a channel rests after Meta says it is sending too fast.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// How long a channel rests after Meta rejects its credentials.
const ACCOUNT_PAUSE: Duration = Duration::from_secs(30);

/// Runs the worker of `channel_id` until it runs out of work or the gateway stops.
pub(super) async fn run(
    state: Core,
    client: Arc<dyn GraphClient>,
    channel_id: String,
    results: mpsc::Sender<Recorded>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some((channel, token)) = load(&state, &channel_id).await else {
        return;
    };
    let mps = NonZeroU32::new(channel.throughput_mps.max(1)).unwrap_or(NonZeroU32::MIN);
    let limiter = RateLimiter::direct(Quota::per_second(mps));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let pause = Arc::new(parking_lot::Mutex::new(None::<tokio::time::Instant>));
    let (channel, token) = (Arc::new(channel), Arc::<str>::from(token));
    let mut idle = 0;
    while !*shutdown.borrow() {
        let until = *pause.lock();
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
        let batch = mps.get().min(500);
        let items = match state
            .store
            .claim_sends(&channel.id, state.now(), batch)
            .await
        {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(channel.id = %channel.id, error = %e, "could not claim sends");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if items.is_empty() {
            idle += 1;
            if idle >= IDLE_LOOKS {
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(state.config.sender.poll_interval) => {}
            }
            continue;
        }
        idle = 0;
        for item in items {
            limiter.until_ready().await;
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let (state, client, channel, token, results, pause) = (
                state.clone(),
                client.clone(),
                channel.clone(),
                token.clone(),
                results.clone(),
                pause.clone(),
            );
            tokio::spawn(async move {
                let outcome = client.send(&channel, &token, &item.payload).await;
                let recorded = classify(&state, &channel, &item, outcome, &pause);
                let _ = results.send(recorded).await;
                drop(permit);
            });
        }
    }
    // Let sends already posted finish and be recorded.
    let _ = in_flight.acquire_many(MAX_IN_FLIGHT as u32).await;
}

async fn load(state: &Core, channel_id: &str) -> Option<(Channel, String)> {
    let channel = match state.store.get_channel(channel_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::error!(channel.id = %channel_id, "sends queued for a channel that no longer exists");
            return None;
        }
        Err(e) => {
            tracing::warn!(channel.id = %channel_id, error = %e, "could not load channel");
            return None;
        }
    };
    match state.config.master_key.decrypt(&channel.access_token_enc) {
        Ok(token) => Some((channel, token)),
        Err(e) => {
            tracing::error!(channel.id = %channel_id, error = %e, "cannot decrypt the channel's access token");
            None
        }
    }
}

/// Turns a Graph outcome into what the store records and what a waiting caller is told.
fn classify(
    state: &Core,
    channel: &Channel,
    item: &OutboxItem,
    outcome: GraphOutcome,
    pause: &parking_lot::Mutex<Option<tokio::time::Instant>>,
) -> Recorded {
    let now = state.now();
    let cfg = &state.config.sender;
    let message_id = item.message_id.clone();
    let attempt = item.attempts + 1;
    let retry_at = |extra_ms: i64| {
        now + extra_ms
            + retry_delay_ms(
                attempt,
                cfg.retry_base.as_millis() as u64,
                cfg.retry_max.as_millis() as u64,
                rand::random::<f64>(),
            ) as i64
    };
    let give_up = |error: MetaError| {
        let json = serde_json::to_value(&error).unwrap_or_default();
        Recorded {
            result: SendResult::Failed {
                message_id: message_id.clone(),
                error: json.clone(),
                at: now,
            },
            outcome: Some(SendOutcome::Failed(json)),
        }
    };
    match outcome {
        GraphOutcome::Accepted(wamid) => {
            metrics::counter!("openbsp_sends_total", "result" => "accepted").increment(1);
            Recorded {
                result: SendResult::Accepted {
                    message_id: message_id.clone(),
                    wamid: wamid.clone(),
                    at: now,
                },
                outcome: Some(SendOutcome::Accepted(wamid)),
            }
        }
        GraphOutcome::Refused(error) => {
            let class = error.retry_class();
            metrics::counter!("openbsp_sends_total", "result" => "refused").increment(1);
            match class {
                RetryClass::Throttle | RetryClass::Retry if attempt < cfg.max_attempts => {
                    if class == RetryClass::Throttle {
                        *pause.lock() = Some(tokio::time::Instant::now() + THROTTLE_PAUSE);
                    }
                    tracing::info!(channel.id = %channel.id, message.id = %message_id, code = error.code, attempt, "send refused, will retry");
                    Recorded {
                        result: SendResult::Retry {
                            message_id: message_id.clone(),
                            next_at: retry_at(0),
                            error: serde_json::to_value(&error).unwrap_or_default(),
                        },
                        outcome: None,
                    }
                }
                RetryClass::Account => {
                    *pause.lock() = Some(tokio::time::Instant::now() + ACCOUNT_PAUSE);
                    tracing::error!(channel.id = %channel.id, code = %error.code, "Meta rejected the channel's credentials or account; pausing the channel");
                    give_up(error)
                }
                _ => {
                    tracing::info!(channel.id = %channel.id, message.id = %message_id, code = error.code, "send failed");
                    give_up(error)
                }
            }
        }
        GraphOutcome::Transport { maybe_sent, error } => {
            metrics::counter!("openbsp_sends_total", "result" => "transport_error").increment(1);
            if attempt >= cfg.max_attempts {
                return give_up(MetaError::new(
                    openbsp_wire::error::codes::SERVICE_UNAVAILABLE,
                    Some(format!(
                        "no answer from the Graph API after {attempt} attempts: {error}"
                    )),
                ));
            }
            // If Meta may have it, give its status webhook time to reconcile the send first.
            let extra = if maybe_sent {
                cfg.reconcile_grace.as_millis() as i64
            } else {
                0
            };
            tracing::warn!(channel.id = %channel.id, message.id = %message_id, maybe_sent, %error, "send got no answer, will retry");
            Recorded {
                result: SendResult::Retry {
                    message_id,
                    next_at: retry_at(extra),
                    error: serde_json::json!({"transport": error}),
                },
                outcome: None,
            }
        }
    }
}
