//! Webhook delivery, as Meta does it: each webhook is posted on its own (deliveries run
//! concurrently) to the phone number's `webhook_url` with `Content-Type: application/json`
//! and `X-Hub-Signature-256` over the exact bytes, and retried with exponential backoff
//! (`webhook_retry_base_ms` doubling up to `webhook_retry_max_ms`) for
//! `webhook_retry_for_ms` while the receiver answers non-2xx or cannot be reached. Every
//! attempt reads the number's current URL and secret, so a gateway that comes back (even on
//! another port, once the number is updated) receives what it missed. Every attempt is
//! logged. At most [`crate::state::MAX_WEBHOOK_POSTS`] posts are in flight at once (Meta's
//! delivery is not an unbounded flood either): under load, deliveries queue here instead of
//! opening more connections than either process may hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use rand::Rng;

use openbsp_wire::signature;

use crate::records::{WebhookAttempt, WebhookKind};
use crate::state::SimState;

/// Queues a webhook for `phone_number_id`; with the duplicate fault, a second identical copy.
pub(crate) fn enqueue(
    state: &Arc<SimState>,
    phone_number_id: &str,
    kind: WebhookKind,
    body: Vec<u8>,
) {
    let body = Bytes::from(body);
    let rate = state.faults().duplicate_webhook_rate;
    let copies = if rand::rng().random_bool(rate) { 2 } else { 1 };
    for _ in 0..copies {
        let delivery = Delivery {
            id: state.next_delivery_id(),
            phone_number_id: phone_number_id.to_string(),
            kind,
            body: body.clone(),
        };
        let st = state.clone();
        state.tasks.spawn(delivery.run(st));
    }
}

struct Delivery {
    id: u64,
    phone_number_id: String,
    kind: WebhookKind,
    body: Bytes,
}

impl Delivery {
    async fn run(self, state: Arc<SimState>) {
        let started = Instant::now();
        let retry_for = Duration::from_millis(state.config.webhook_retry_for_ms);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let Some(phone) = state.phone_number(&self.phone_number_id) else {
                tracing::warn!(phone_number_id = %self.phone_number_id, "webhook for an unknown number dropped");
                return;
            };
            // The attempt starts once it has a place among the posts in flight (never closed:
            // the state lives as long as its tasks); its time and duration count from then.
            let place = match state
                .tasks
                .until_stopped(state.webhook_posts.acquire())
                .await
            {
                Some(place) => place,
                None => return,
            };
            let at_ms = state.now_ms();
            let t0 = Instant::now();
            let (url, outcome) = match phone.webhook_url {
                None => (
                    String::new(),
                    Err((
                        None,
                        "no webhook_url configured for this phone number".to_string(),
                    )),
                ),
                Some(url) => {
                    let post = post(&state.http, &url, &phone.app_secret, self.body.clone());
                    match state.tasks.until_stopped(post).await {
                        Some(outcome) => (url, outcome),
                        None => return,
                    }
                }
            };
            let (status, error) = match &outcome {
                Ok(code) => (Some(*code), None),
                Err((code, e)) => (*code, Some(e.clone())),
            };
            state.log_attempt(WebhookAttempt {
                delivery_id: self.id,
                attempt,
                kind: self.kind,
                phone_number_id: self.phone_number_id.clone(),
                url,
                status,
                error,
                body: String::from_utf8_lossy(&self.body).into_owned(),
                at_ms,
                duration_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            drop(place);
            if outcome.is_ok() {
                return;
            }
            let delay = backoff(
                attempt,
                state.config.webhook_retry_base_ms,
                state.config.webhook_retry_max_ms,
            );
            if started.elapsed() + delay > retry_for {
                tracing::warn!(
                    delivery_id = self.id,
                    attempts = attempt,
                    "webhook delivery given up after the retry period"
                );
                return;
            }
            if !state.tasks.sleep(delay).await {
                return;
            }
        }
    }
}

/// Posts one attempt: `Ok(status)` for 2xx, otherwise the status (if any) and what failed.
async fn post(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: Bytes,
) -> Result<u16, (Option<u16>, String)> {
    let sig = signature::sign(secret.as_bytes(), &body);
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| (None, error_chain(&e)))?;
    let status = resp.status().as_u16();
    // Drain the answer so the connection can be reused; its content does not matter.
    let _ = resp.bytes().await;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err((Some(status), format!("receiver answered HTTP {status}")))
    }
}

/// Delay before attempt `attempt + 1`: `base * 2^(attempt-1)`, at most `max` (ms).
pub(crate) fn backoff(attempt: u32, base_ms: u64, max_ms: u64) -> Duration {
    let factor = 1u64
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u64::MAX);
    Duration::from_millis(base_ms.saturating_mul(factor).min(max_ms))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ms = |a| backoff(a, 500, 30_000).as_millis();
        assert_eq!(ms(1), 500);
        assert_eq!(ms(2), 1000);
        assert_eq!(ms(6), 16_000);
        assert_eq!(ms(7), 30_000);
        assert_eq!(ms(200), 30_000);
    }
}
