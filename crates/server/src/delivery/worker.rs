//! One endpoint's delivery loop.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use openbsp_domain::delivery;
use openbsp_store::{
    DeliveryAttempt, DeliveryRecord, Event, EventCursor, WebhookEndpoint, event_format, events,
    views,
};
use openbsp_wire::standard_webhooks::{self, Secret};
use tokio::sync::watch;

use crate::core::Core;

/// The most of an answer kept in the log.
const SNIPPET_BYTES: usize = 1024;

/// What one attempt came to.
struct Outcome {
    event: Event,
    attempt: u32,
    /// It came from the retry queue (not from the cursor).
    queued: bool,
    at: i64,
    status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
    response: Option<String>,
    retry_after_ms: Option<u64>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Delivers to the endpoint `config` holds until it holds `None`, the endpoint is disabled or
/// `shutdown`.
pub(super) async fn run(
    state: Core,
    mut config: watch::Receiver<Option<WebhookEndpoint>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let settings = state.config.delivery.clone();
    let client = match crate::outbound::build(state.config.webhook_network, settings.timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client");
            return;
        }
    };
    let mut signal = state.store.event_signal();
    let mut cursor: Option<EventCursor> = config.borrow().as_ref().and_then(|e| e.cursor);
    // The endpoint's run of failures, as this worker has recorded it (the endpoint in
    // `config` is as the supervisor last read it).
    let mut failing_since = config.borrow().as_ref().and_then(|e| e.failing_since);
    let mut seen_update = config.borrow().as_ref().map(|e| e.updated_at);
    // The previous batch's record, being written while the next batch goes out.
    let mut writing: Option<Writing> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(mut endpoint) = config.borrow_and_update().clone() else {
            return;
        };
        if seen_update != Some(endpoint.updated_at) {
            // The tenant changed it (enabling it again clears its failures).
            seen_update = Some(endpoint.updated_at);
            failing_since = endpoint.failing_since;
        }
        endpoint.failing_since = failing_since;
        signal.borrow_and_update();
        let skip = writing.as_ref().map(|w| &w.touched);
        // On shutdown the attempts in flight are dropped unrecorded: they go again after the
        // restart, with the same ids.
        let pass = tokio::select! {
            p = pass(&state, &client, &endpoint, cursor, skip) => p,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match pass {
            Ok(Pass::Delivered {
                record,
                cursor: next,
            }) => {
                // Records are written in order: the previous one must have landed. If it did
                // not, its batch and this one go again (same ids).
                if let Some(w) = writing.take()
                    && let Some((c, f)) = w.failed(&endpoint).await
                {
                    (cursor, failing_since) = (c, f);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                let cursor_before = cursor;
                let failing_before = failing_since;
                cursor = next.or(cursor);
                if let Some(changed) = record.failing_since {
                    failing_since = changed;
                }
                if record.disable.is_some() {
                    if let Err(e) = state.store.record_deliveries(&record).await {
                        tracing::warn!(endpoint.id = %endpoint.id, error = %e, "cannot record webhook deliveries; will retry");
                        cursor = cursor_before;
                        failing_since = failing_before;
                        continue;
                    }
                    tracing::warn!(endpoint.id = %endpoint.id, "webhook endpoint disabled after failing for too long");
                    return;
                }
                let touched = record
                    .retries
                    .iter()
                    .map(|(id, _, _)| id.clone())
                    .chain(record.done.iter().cloned())
                    .collect();
                let store = state.store.clone();
                writing = Some(Writing {
                    handle: tokio::spawn(async move { store.record_deliveries(&record).await }),
                    cursor_before,
                    failing_before,
                    touched,
                });
                continue;
            }
            Ok(Pass::Idle) => {}
            Err(e) => {
                tracing::warn!(endpoint.id = %endpoint.id, error = %e, "webhook delivery pass failed; will retry");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        // Idle: the last record must land before the queue of retries is read again.
        if let Some(w) = writing.take()
            && let Some((c, f)) = w.failed(&endpoint).await
        {
            (cursor, failing_since) = (c, f);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let wait = match state.store.next_delivery_due(&endpoint.id).await {
            Ok(Some(due)) => {
                Duration::from_millis((due - state.now()).max(1) as u64).min(settings.poll_interval)
            }
            _ => settings.poll_interval,
        };
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = signal.changed() => {}
            // The supervisor that holds the settings is gone (it stopped, or panicked and was
            // started again with workers of its own): this worker ends with it.
            changed = config.changed() => if changed.is_err() { return; },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// A batch's record being written.
struct Writing {
    handle: tokio::task::JoinHandle<openbsp_store::StoreResult<()>>,
    /// Where the cursor was before the batch (where to go back to if the record fails).
    cursor_before: Option<EventCursor>,
    /// The run of failures before the batch.
    failing_before: Option<i64>,
    /// Events whose pending delivery the record changes: not to be taken from the queue of
    /// retries until it has landed.
    touched: HashSet<String>,
}

impl Writing {
    /// Waits for the record; `None` once written, else the cursor and run of failures to go
    /// back to (the batch goes again).
    async fn failed(self, e: &WebhookEndpoint) -> Option<(Option<EventCursor>, Option<i64>)> {
        let err = match self.handle.await {
            Ok(Ok(())) => return None,
            Ok(Err(err)) => err.to_string(),
            Err(err) => err.to_string(),
        };
        tracing::warn!(endpoint.id = %e.id, error = %err, "cannot record webhook deliveries; the batch goes again");
        Some((self.cursor_before, self.failing_before))
    }
}

enum Pass {
    /// Nothing to do.
    Idle,
    /// A batch went out: what to record, and where the cursor goes once it is.
    Delivered {
        record: Box<DeliveryRecord>,
        cursor: Option<EventCursor>,
    },
}

async fn pass(
    state: &Core,
    client: &reqwest::Client,
    e: &WebhookEndpoint,
    cursor: Option<EventCursor>,
    skip: Option<&HashSet<String>>,
) -> anyhow::Result<Pass> {
    let settings = &state.config.delivery;
    let store = &state.store;
    let now = state.now();
    let mut due = store.due_deliveries(&e.id, now, settings.batch).await?;
    if let Some(skip) = skip {
        due.retain(|d| !skip.contains(&d.event.id));
    }
    let fresh = store
        .events_after(
            &e.tenant_id,
            event_format::source(&e.format),
            cursor,
            e.created_at,
            settings.batch,
        )
        .await?;
    if due.is_empty() && fresh.is_empty() {
        return Ok(Pass::Idle);
    }
    let new_cursor = fresh.last().map(|ev| ev.cursor);
    let mut listed: Vec<(Event, u32, bool)> = due
        .into_iter()
        .map(|d| (d.event, d.attempt, true))
        .collect();
    listed.extend(
        fresh
            .into_iter()
            .filter(|ev| {
                e.events
                    .iter()
                    .any(|p| openbsp_domain::events::matches(p, &ev.kind))
            })
            .map(|ev| (ev, 1, false)),
    );
    // Each event's body; a vendor format leaves out the events it has no shape for (a
    // queued one, if its format changed since, is done with).
    let mut formatter = crate::vendors::Formatter::default();
    let mut jobs: Vec<(Event, u32, bool, Vec<u8>)> = Vec::with_capacity(listed.len());
    let mut dropped: Vec<String> = Vec::new();
    for (ev, n, queued) in listed {
        match body(state, e, &ev, &mut formatter).await {
            Some(b) => jobs.push((ev, n, queued, b)),
            None if queued => dropped.push(ev.id),
            None => {}
        }
    }
    let secrets = crate::core::endpoints::signing_secrets(state, e, now)
        .map_err(|err| anyhow::anyhow!("the endpoint's secret cannot be read: {err}"))?;
    let target = Target {
        state,
        client,
        endpoint: e,
        secrets: &secrets,
        refused: crate::outbound::literal_refusal(&e.url, state.config.webhook_network),
    };
    let target = &target;
    let outcomes: Vec<Outcome> = futures::stream::iter(
        jobs.into_iter()
            .map(|(ev, n, queued, body)| async move { target.attempt(ev, n, queued, body).await }),
    )
    .buffer_unordered(settings.concurrency.max(1))
    .collect()
    .await;
    let mut record = record(state, e, new_cursor, outcomes);
    record.done.extend(dropped);
    Ok(Pass::Delivered {
        record: Box::new(record),
        cursor: new_cursor,
    })
}

/// The batch's record: the log, retries, the cursor, the endpoint's failure run.
fn record(
    state: &Core,
    e: &WebhookEndpoint,
    cursor: Option<EventCursor>,
    outcomes: Vec<Outcome>,
) -> DeliveryRecord {
    let settings = &state.config.delivery;
    let schedule: Vec<u64> = settings
        .schedule
        .iter()
        .map(|d| d.as_millis() as u64)
        .collect();
    let now = state.now();
    let mut r = DeliveryRecord {
        endpoint_id: e.id.clone(),
        tenant_id: e.tenant_id.clone(),
        cursor,
        at: now,
        ..Default::default()
    };
    let mut any_ok = false;
    let mut any_failed = false;
    for o in outcomes {
        let ok = o.succeeded();
        let next = if ok {
            None
        } else {
            delivery::next_delay_on(
                &schedule,
                o.attempt,
                rand::random::<f64>(),
                o.retry_after_ms,
            )
            .map(|d| o.at + d as i64)
        };
        any_ok |= ok;
        any_failed |= !ok;
        match next {
            Some(at) => r.retries.push((o.event.id.clone(), o.attempt + 1, at)),
            None if o.queued => r.done.push(o.event.id.clone()),
            None => {}
        }
        r.attempts.push(DeliveryAttempt {
            endpoint_id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            event_id: o.event.id.clone(),
            event_type: o.event.kind.clone(),
            attempt: o.attempt,
            at: o.at,
            succeeded: ok,
            status_code: o.status,
            latency_ms: o.latency_ms,
            error: o.error,
            response: o.response,
            next_attempt_at: next,
        });
    }
    if any_ok && e.failing_since.is_some() {
        r.failing_since = Some(None);
    } else if any_failed && !any_ok {
        let since = e.failing_since.unwrap_or(now);
        if e.failing_since.is_none() {
            r.failing_since = Some(Some(since));
        }
        let after = settings.disable_after.as_millis() as i64;
        if delivery::should_disable(Some(since), now, after) {
            let reason = format!(
                "every delivery failed for {} (since {})",
                humantime(after),
                openbsp_domain::clock::rfc3339(since)
            );
            let failing = WebhookEndpoint {
                failing_since: Some(since),
                ..e.clone()
            };
            r.disable = Some((
                reason.clone(),
                events::endpoint_disabled(&failing, &reason, now),
            ));
        }
    }
    r
}

fn humantime(ms: i64) -> String {
    match ms {
        ms if ms >= 86_400_000 && ms % 86_400_000 == 0 => format!("{} days", ms / 86_400_000),
        ms if ms >= 3_600_000 && ms % 3_600_000 == 0 => format!("{} hours", ms / 3_600_000),
        ms if ms >= 1000 => format!("{} s", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

/// The body an endpoint receives for an event: the native event, Meta's envelope, or the
/// event in a vendor's shape (`None`: the vendor's webhooks have no shape for it).
async fn body(
    state: &Core,
    e: &WebhookEndpoint,
    ev: &Event,
    f: &mut crate::vendors::Formatter,
) -> Option<Vec<u8>> {
    if e.format == event_format::META {
        Some(serde_json::to_vec(&ev.data).unwrap_or_default())
    } else if crate::vendors::is_vendor_format(&e.format) {
        crate::vendors::body(state, e, ev, f).await
    } else {
        Some(views::event_bytes(ev))
    }
}

/// Where a batch goes, and how it is signed.
struct Target<'a> {
    state: &'a Core,
    client: &'a reqwest::Client,
    endpoint: &'a WebhookEndpoint,
    secrets: &'a [Secret],
    /// Why the endpoint's address may not be called (an address literal the installation
    /// refuses), if so.
    refused: Option<String>,
}

impl Target<'_> {
    /// Attempt number `n` of `event` (`queued`: it came from the retry queue).
    async fn attempt(&self, event: Event, n: u32, queued: bool, body: Vec<u8>) -> Outcome {
        let Target {
            state,
            client,
            endpoint: e,
            secrets,
            ..
        } = *self;
        let refused = self.refused.as_deref();
        let at = state.now();
        let started = Instant::now();
        let mut o = Outcome {
            event,
            attempt: n,
            queued,
            at,
            status: None,
            latency_ms: 0,
            error: None,
            response: None,
            retry_after_ms: None,
        };
        if let Some(why) = refused {
            o.error = Some(format!("refused: {why}"));
            return o;
        }
        let ts = at.div_euclid(1000);
        let signers: Vec<&Secret> = secrets.iter().collect();
        let mut req = client
            .post(&e.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                crate::vendors::content_type(&e.format),
            )
            .header("webhook-id", &o.event.id)
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                standard_webhooks::signature_header(&signers, &o.event.id, ts, &body),
            );
        if e.format == event_format::META
            && let Some(current) = secrets.first()
        {
            // A handler written for Meta checks this header with its app secret: the endpoint's
            // secret, as shown, is that app secret.
            req = req.header(
                "x-hub-signature-256",
                openbsp_wire::signature::sign(current.expose().as_bytes(), &body),
            );
        }
        if let Some(current) = secrets.first()
            && let Some((name, value)) =
                crate::vendors::signature(&e.format, current.expose().as_bytes(), &body)
        {
            req = req.header(name, value);
        }
        match req.body(body).send().await {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                o.status = Some(status);
                o.retry_after_ms = delivery::retry_after_ms(
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()),
                    at,
                );
                let mut snippet = Vec::new();
                loop {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => {
                            let room = SNIPPET_BYTES - snippet.len();
                            snippet.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if snippet.len() >= SNIPPET_BYTES {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(err) => {
                            o.error = Some(format!("reading the answer: {}", describe(&err)));
                            break;
                        }
                    }
                }
                if !snippet.is_empty() {
                    o.response = Some(String::from_utf8_lossy(&snippet).into_owned());
                }
            }
            Err(err) => o.error = Some(describe(&err)),
        }
        o.latency_ms = started.elapsed().as_millis() as i64;
        metrics::counter!(
            "openbsp_webhook_deliveries_total",
            "result" => if o.succeeded() { "succeeded" } else { "failed" }
        )
        .increment(1);
        o
    }
}

/// A client error as one line: the kind, and the innermost cause (no URL: it may hold a
/// token the tenant put in it).
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "redirected"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_string(),
    }
}
