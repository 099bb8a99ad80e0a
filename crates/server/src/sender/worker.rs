//! One channel's worker, while this replica holds the channel's sender lease: a claimer keeps
//! the next quarter second's sends claimed and ready (so that the claim's own round trip never
//! costs the pace), a poster paces them with a token bucket at the channel's throughput, posts
//! them, and passes each outcome to the recorder. Idle, the claimer waits for the wake of a new
//! send (or the poll), not for the supervisor.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::{Quota, RateLimiter};
use openbsp_domain::backoff::retry_delay_ms;
use openbsp_store::{Channel, Lease, OutboxItem, SendResult};
use openbsp_wire::error::codes;
use openbsp_wire::{MetaError, RetryClass};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::recorder::{Recorded, ToRecorder};
use super::{Holding, Pairs};
use crate::core::{Core, SendOutcome};
use crate::meta::graph::{GraphClient, GraphOutcome};

/// Fewest and most sends in flight at once per channel (between them: one second's worth).
const MIN_IN_FLIGHT: usize = 64;
const MAX_IN_FLIGHT: usize = 1_000;
/// Sends are claimed at most this far ahead of their posting (a quarter of a second's worth at
/// the channel's throughput), so that a send queued with a higher priority overtakes the rest
/// within a quarter second, while a claim's own time costs the pace little.
const CLAIM_AHEAD: u32 = 4;
/// How long an idle worker waits for work before it gives its channel up.
const IDLE_FOR: Duration = Duration::from_secs(10);
/// How long a channel rests after Meta says it is sending too fast.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);
/// How long a channel rests after Meta rejects its credentials.
const ACCOUNT_PAUSE: Duration = Duration::from_secs(30);
/// How long a channel rests when Meta says the number is in maintenance (131057: a throughput
/// upgrade takes up to a minute).
const MAINTENANCE_PAUSE: Duration = Duration::from_secs(5);
/// How often a worker looks at its channel again (throughput, token).
const CHANNEL_LOOK: Duration = Duration::from_secs(5);
/// After a 130429 the channel sends at this share of its limit (percent), then recovers by
/// `RECOVER_STEP` each `RECOVER_EVERY` without another.
const SLOWED_TO: u32 = 75;
const RECOVER_STEP: u32 = 5;
const RECOVER_EVERY: Duration = Duration::from_secs(10);

/// How fast a channel may go now: paused until, and the share of its limit it sends at
/// after Meta said it was too fast.
#[derive(Debug)]
pub(super) struct Pace {
    paused_until: Option<Instant>,
    percent: u32,
    since: Instant,
    /// Meta rejected the channel's credentials: the channel is to be paused, its worker stop.
    rejected: Option<MetaError>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            paused_until: None,
            percent: 100,
            since: Instant::now(),
            rejected: None,
        }
    }
}

impl Pace {
    /// Rest for `d` (a longer rest already set stays).
    fn pause(&mut self, d: Duration) {
        let until = Instant::now() + d;
        self.paused_until = Some(self.paused_until.map_or(until, |u| u.max(until)));
    }

    /// Meta answered 130429: a second's rest, then a quarter slower.
    fn throttled(&mut self) {
        self.pause(THROTTLE_PAUSE);
        self.percent = (self.percent * SLOWED_TO / 100).max(1);
        self.since = Instant::now();
    }

    /// The rate to send at now, for a channel limited to `limit` (recovering step by step).
    fn rate(&mut self, limit: u32) -> u32 {
        while self.percent < 100 && self.since.elapsed() >= RECOVER_EVERY {
            self.percent = (self.percent + RECOVER_STEP).min(100);
            self.since += RECOVER_EVERY;
        }
        (limit * self.percent / 100).max(1)
    }
}

/// How late a timer may wake without costing the pace (tokio's timers are milliseconds).
const PACING_TOLERANCE: Duration = Duration::from_millis(2);
/// How late a send may reach Meta, relative to the sends around it, without a second at Meta
/// holding more than the limit: a post that takes longer than its neighbours (a new
/// connection, a process starved a moment on a busy machine) arrives among the next second's
/// sends. Paid for with 1 % of the rate. Without it, the 3-replica crash test on CI counted 21
/// sends in a second at 20 msg/s: its first send arrived late and the second counted from it.
const PACING_MARGIN: Duration = Duration::from_millis(10);
/// The bucket counts in cells of about this long, so that its tolerance can be a fraction of
/// one send's period.
const PACING_CELL: Duration = Duration::from_micros(250);

/// The token bucket that paces a channel at `limit` messages per second: a GCRA whose sends
/// are `period = (1 s + tolerance + margin) / limit` apart, each allowed up to `tolerance`
/// early. Two sends `n` apart are then at least `n × period − tolerance` apart, so no window
/// of one second and `margin` ever holds more than `limit` (Meta counts per second, and its
/// own bucket may be drained when a worker starts full; a send up to `margin` late still
/// leaves every second at Meta within the limit), while a timer waking a millisecond late
/// costs nothing (without the tolerance each late wake is lost: 12.5 ms became 13 ms, 4 % of
/// 80 msg/s) and the mean stays within 1.2 % of the limit. A send takes `cells` of the bucket.
pub(super) struct Pacing {
    pub quota: Quota,
    pub cells: NonZeroU32,
}

pub(super) fn pacing(limit: NonZeroU32) -> Pacing {
    let period = (Duration::from_secs(1) + PACING_TOLERANCE + PACING_MARGIN).as_nanos()
        / u128::from(limit.get());
    let cells = (period / PACING_CELL.as_nanos()).max(1);
    // Rounded up: the cells of one send never add up to less than its period.
    let cell = period.div_ceil(cells);
    let spare = PACING_TOLERANCE.as_nanos() / cell;
    let burst = u32::try_from(cells + spare).unwrap_or(u32::MAX);
    let cells =
        NonZeroU32::new(u32::try_from(cells).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(Duration::from_nanos(cell as u64))
        .expect("a cell of a send's period is never zero")
        .allow_burst(NonZeroU32::new(burst).unwrap_or(cells));
    Pacing { quota, cells }
}

/// Whether the lease is surely still held.
fn sure(holding: &Holding) -> bool {
    holding.borrow().is_some_and(|until| Instant::now() < until)
}

/// What a channel's worker is handed by the supervisor.
pub(super) struct Assignment {
    pub state: Core,
    pub client: Arc<dyn GraphClient>,
    pub channel_id: String,
    pub lease: Lease,
    pub holding: Holding,
    pub pairs: Pairs,
    pub results: mpsc::Sender<ToRecorder>,
    pub exited: mpsc::UnboundedSender<String>,
    pub shutdown: watch::Receiver<bool>,
    /// Places for posts in flight, shared by every channel of this replica (see
    /// [`super::MAX_POSTS`]).
    pub posts: Arc<Semaphore>,
    /// Media uploads to Meta under way on this replica.
    pub uploads: super::media::Uploads,
}

/// Runs the worker of a channel under its lease until it runs out of work, loses the lease or
/// the gateway stops; then gives the lease up (once its outcomes are recorded) and says so.
pub(super) async fn run(job: Assignment) {
    let state = &job.state;
    let wake = state.sender_wakes.register(&job.channel_id);
    if let Some((channel, token)) = load(state, &job.channel_id).await {
        work(&job, channel, token, &wake).await;
    }
    state.sender_wakes.unregister(&job.channel_id);
    // Outcomes first, lease after: the next holder must find them recorded, not orphaned.
    let (done, flushed) = oneshot::channel();
    if job.results.send(ToRecorder::Flush(done)).await.is_ok() {
        let _ = flushed.await;
    }
    if let Err(e) = state
        .store
        .release_lease(
            &job.lease.name,
            &job.lease.holder,
            job.lease.term,
            state.now(),
        )
        .await
    {
        tracing::warn!(channel.id = %job.channel_id, error = %e, "could not give the channel's sender lease up (it lapses)");
    }
    let _ = job.exited.send(job.channel_id.clone());
}

/// The sends to claim at once at `rate` msg/s: a quarter second's worth.
fn per_claim(rate: u32) -> usize {
    (rate / CLAIM_AHEAD).clamp(1, 500) as usize
}

/// The worker proper: a claimer keeps a quarter second's worth of sends ready (claimed under
/// the lease's term, in the queue's order) while the poster paces and posts them, so that the
/// claim's round trip to the database is never lost from the pace.
async fn work(job: &Assignment, channel: Channel, token: String, wake: &tokio::sync::Notify) {
    let state = &job.state;
    // The number's throughput as Meta gives it, read when the sender starts for it.
    let channel = crate::core::channels::sync_throughput(state, &channel, &token)
        .await
        .unwrap_or(channel);
    let pace = Arc::new(parking_lot::Mutex::new(Pace::default()));
    let rate = AtomicU32::new(pace.lock().rate(channel.throughput_mps));
    let (ready_tx, ready_rx) = mpsc::channel(2 * per_claim(u32::MAX));
    let taken = tokio::sync::Notify::new();
    let (stop_tx, stop) = watch::channel(false);
    let channel_id = channel.id.clone();
    let claimer = claim(job, &channel_id, wake, &rate, ready_tx, &taken, stop);
    let poster = post(job, channel, token, pace, &rate, ready_rx, &taken, stop_tx);
    tokio::join!(claimer, poster);
}

/// Claims due sends into `ready` whenever it holds no more than half a claim's worth, until
/// the channel has had nothing to send for `IDLE_FOR`, the lease is not sure, the gateway stops
/// or the poster says stop. Idle, it waits for the wake of a new send (or the poll).
// The claimer's parts are the worker's, shared with the poster; clippy's count is allowed.
#[allow(clippy::too_many_arguments)]
async fn claim(
    job: &Assignment,
    channel_id: &str,
    wake: &tokio::sync::Notify,
    rate: &AtomicU32,
    ready: mpsc::Sender<OutboxItem>,
    taken: &tokio::sync::Notify,
    mut stop: watch::Receiver<bool>,
) {
    let state = &job.state;
    let (mut holding, mut shutdown) = (job.holding.clone(), job.shutdown.clone());
    let mut idle_since = None::<Instant>;
    loop {
        if *stop.borrow() || *shutdown.borrow() || !sure(&holding) {
            return;
        }
        let want = per_claim(rate.load(Ordering::Relaxed));
        let queued = ready.max_capacity() - ready.capacity();
        if queued > want / 2 {
            tokio::select! {
                _ = taken.notified() => {}
                _ = stop.changed() => {}
                _ = shutdown.changed() => {}
                _ = holding.changed() => {}
            }
            continue;
        }
        let n = (want - queued).min(ready.capacity()).max(1) as u32;
        let items = match state
            .store
            .claim_sends(channel_id, job.lease.term, state.now(), n)
            .await
        {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(channel.id = %channel_id, error = %e, "could not claim sends");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        if items.is_empty() {
            if queued == 0 && idle_since.get_or_insert_with(Instant::now).elapsed() >= IDLE_FOR {
                return;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = stop.changed() => {}
                _ = shutdown.changed() => {}
                _ = holding.changed() => {}
                _ = tokio::time::sleep(state.config.sender.poll_interval) => {}
            }
            continue;
        }
        idle_since = None;
        let now = state.now();
        job.pairs.lock().retain(|_, b| !b.idle(now));
        for item in items {
            if let Err(mpsc::error::SendError(item)) = ready.send(item).await {
                // The poster has stopped: what it will not post goes back.
                unclaim(state, &job.results, item).await;
            }
        }
    }
}

/// Takes the claimed sends in order, spaces each recipient's as Meta's pair rate limit
/// requires, paces the channel with a token bucket at its throughput and posts them (each in
/// a task of its own, at most one second's worth in flight). Follows the channel (a new token,
/// a new throughput) and Meta's word on its pace; stops the claimer when the channel must stop.
// The poster's parts are the worker's, shared with the claimer; clippy's count is allowed.
#[allow(clippy::too_many_arguments)]
async fn post(
    job: &Assignment,
    channel: Channel,
    token: String,
    pace: Arc<parking_lot::Mutex<Pace>>,
    rate: &AtomicU32,
    mut ready: mpsc::Receiver<OutboxItem>,
    taken: &tokio::sync::Notify,
    stop: watch::Sender<bool>,
) {
    let state = &job.state;
    let rule = state.config.sender.pair_rule;
    let mut shutdown = job.shutdown.clone();
    let slots = (channel.throughput_mps.max(1) as usize).clamp(MIN_IN_FLIGHT, MAX_IN_FLIGHT);
    let in_flight = Arc::new(Semaphore::new(slots));
    let mut now_rate = rate.load(Ordering::Relaxed);
    let mut paced = pacing(NonZeroU32::new(now_rate).unwrap_or(NonZeroU32::MIN));
    let mut limiter = RateLimiter::direct(paced.quota);
    let (mut channel, mut token) = (Arc::new(channel), Arc::<str>::from(token));
    let mut looked = Instant::now();
    loop {
        let rejected = pace.lock().rejected.take();
        if let Some(error) = rejected {
            // The channel stops here; its sends wait, queued, for a new token.
            if let Err(e) = crate::core::channels::pause(state, &channel, &error).await {
                tracing::warn!(channel.id = %channel.id, error = %e, "could not pause the channel");
            }
            break;
        }
        let until = pace.lock().paused_until.take_if(|u| *u > Instant::now());
        if let Some(until) = until {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() || !sure(&job.holding) {
            break;
        }
        // The channel as it is now (Meta raised its throughput, its token was replaced).
        if looked.elapsed() >= CHANNEL_LOOK {
            looked = Instant::now();
            if let Some((c, t)) = load(state, &channel.id).await {
                if c.throughput_mps != channel.throughput_mps
                    || c.access_token_enc != channel.access_token_enc
                {
                    tracing::info!(channel.id = %c.id, mps = c.throughput_mps, "the channel changed; the worker follows");
                }
                channel = Arc::new(c);
                token = Arc::from(t);
            }
        }
        let r = pace.lock().rate(channel.throughput_mps);
        if r != now_rate {
            now_rate = r;
            rate.store(r, Ordering::Relaxed);
            paced = pacing(NonZeroU32::new(r).unwrap_or(NonZeroU32::MIN));
            limiter = RateLimiter::direct(paced.quota);
        }
        let item = tokio::select! {
            item = ready.recv() => match item {
                Some(item) => item,
                // The claimer is done: nothing more to send for now.
                None => break,
            },
            _ = shutdown.changed() => continue,
        };
        taken.notify_one();
        // Spaced per recipient as Meta's pair rate limit requires: held back, not refused.
        let held = recipient(&item).and_then(|to| {
            let mut pairs = job.pairs.lock();
            pairs
                .entry(to.to_string())
                .or_default()
                .admit(rule, state.now())
                .err()
        });
        if let Some(at) = held {
            defer(&job.results, item, at).await;
            continue;
        }
        // A place among the channel's posts in flight, then one among the replica's.
        let permit = tokio::select! {
            p = async {
                let channel = in_flight.clone().acquire_owned().await.ok()?;
                let replica = job.posts.clone().acquire_owned().await.ok()?;
                Some((channel, replica))
            } => p,
            _ = shutdown.changed() => None,
        };
        let Some(permit) = permit else {
            unclaim(state, &job.results, item).await;
            continue;
        };
        // A send's cells never exceed the bucket (its burst holds them and the tolerance).
        let _ = limiter.until_n_ready(paced.cells).await;
        if !sure(&job.holding) {
            // Not posted: put back (ours to put back only while the holding lasts).
            unclaim(state, &job.results, item).await;
            break;
        }
        let (state, client, channel, token, results, pace, pairs, uploads) = (
            state.clone(),
            job.client.clone(),
            channel.clone(),
            token.clone(),
            job.results.clone(),
            pace.clone(),
            job.pairs.clone(),
            job.uploads.clone(),
        );
        tokio::spawn(async move {
            let outcome = post_one(&state, &*client, &uploads, &channel, &token, &item).await;
            let recorded = classify(&state, &channel, &item, outcome, &pace, &pairs);
            let _ = results.send(ToRecorder::Result(recorded)).await;
            drop(permit);
        });
    }
    // The claimer stops; what it had claimed and this poster will not post goes back.
    let _ = stop.send(true);
    ready.close();
    while let Some(item) = ready.recv().await {
        unclaim(state, &job.results, item).await;
    }
    // Let sends already posted finish and be recorded.
    let _ = in_flight.acquire_many(slots as u32).await;
}

/// Posts one send: its gateway media made Meta's first ([`super::media`]). A media Meta no
/// longer knows is forgotten and the send comes back (not posted) to be tried again with a
/// new upload.
async fn post_one(
    state: &Core,
    client: &dyn GraphClient,
    uploads: &super::media::Uploads,
    channel: &Channel,
    token: &str,
    item: &OutboxItem,
) -> GraphOutcome {
    use super::media::{NotReady, for_meta, forget, unknown_media};
    let ready = match for_meta(state, client, uploads, channel, token, item).await {
        Ok(r) => r,
        Err(NotReady::Refused(e)) => return GraphOutcome::Refused(e),
        Err(NotReady::Transient(error)) => {
            return GraphOutcome::Transport {
                maybe_sent: false,
                error,
            };
        }
    };
    let outcome = client.send(channel, token, &ready.body).await;
    match &outcome {
        GraphOutcome::Refused(e) if unknown_media(e) && !ready.reused.is_empty() => {
            tracing::info!(channel.id = %channel.id, message.id = %item.message_id, media = ?ready.reused, "Meta no longer knows the media's copy: uploading it again");
            metrics::counter!("openbsp_media_copies_expired_total").increment(1);
            forget(state, channel, &ready.reused).await;
            GraphOutcome::Transport {
                maybe_sent: false,
                error: format!(
                    "Meta no longer knows its copy of {}: sent again with a new upload",
                    ready.reused.join(", ")
                ),
            }
        }
        _ => outcome,
    }
}

/// Whether Meta's error says the channel's credentials are bad (reference §4.2: 0 and 190 auth
/// failed or token expired; 10, 200–299 and 3 a permission the token lacks), as opposed to an
/// account state that refuses one send.
fn is_credentials(e: &MetaError) -> bool {
    matches!(e.code, 0 | 3 | 10 | 190 | 200..=299)
}

/// The user a send goes to (`to`, or a BSUID `recipient`).
fn recipient(item: &OutboxItem) -> Option<&str> {
    item.payload
        .get("to")
        .or_else(|| item.payload.get("recipient"))
        .and_then(serde_json::Value::as_str)
}

/// A claimed send its pair rate limit holds goes back to the queue, due at `at`.
async fn defer(results: &mpsc::Sender<ToRecorder>, item: OutboxItem, at: i64) {
    metrics::counter!("openbsp_sends_deferred_total", "reason" => "pair_rate_limit").increment(1);
    let recorded = Recorded {
        result: SendResult::Defer {
            message_id: item.message_id,
            term: item.term,
            next_at: at,
        },
        outcome: None,
    };
    let _ = results.send(ToRecorder::Result(recorded)).await;
}

/// A claimed send that was not posted goes back to the queue, due now.
async fn unclaim(state: &Core, results: &mpsc::Sender<ToRecorder>, item: OutboxItem) {
    let recorded = Recorded {
        result: SendResult::Retry {
            message_id: item.message_id,
            term: item.term,
            next_at: state.now(),
            error: serde_json::json!({"not_posted": "the channel's sender lease was not confirmed"}),
        },
        outcome: None,
    };
    let _ = results.send(ToRecorder::Result(recorded)).await;
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
    pace: &parking_lot::Mutex<Pace>,
    pairs: &Pairs,
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
        if matches!(
            error.code,
            codes::TEMPLATE_PAUSED | codes::TEMPLATE_DISABLED
        ) {
            // Its campaign, if it has one, stops now rather than at the runner's next look.
            tokio::spawn(crate::core::campaigns::on_template_refused(
                state.clone(),
                item.tenant_id.clone(),
                message_id.clone(),
                error.clone(),
            ));
        }
        let json = serde_json::to_value(&error).unwrap_or_default();
        Recorded {
            result: SendResult::Failed {
                message_id: message_id.clone(),
                term: item.term,
                error: json.clone(),
                at: now,
            },
            outcome: Some(SendOutcome::Failed(json)),
        }
    };
    match outcome {
        GraphOutcome::Accepted {
            wamid,
            message_status,
        } => {
            metrics::counter!("openbsp_sends_total", "result" => "accepted").increment(1);
            if let Some(to) = recipient(item)
                && let Some(b) = pairs.lock().get_mut(to)
            {
                b.accepted();
            }
            Recorded {
                result: SendResult::Accepted {
                    message_id: message_id.clone(),
                    term: item.term,
                    wamid: wamid.clone(),
                    message_status: message_status.clone(),
                    at: now,
                },
                outcome: Some(SendOutcome::Accepted {
                    wamid,
                    message_status,
                }),
            }
        }
        GraphOutcome::Refused(error) => {
            let class = error.retry_class();
            metrics::counter!("openbsp_sends_total", "result" => "refused").increment(1);
            match class {
                // The pair rate limit: that recipient's sends wait 4^X s; the channel goes on.
                _ if error.code == codes::PAIR_RATE_LIMIT && attempt < cfg.max_attempts => {
                    let until = match recipient(item) {
                        Some(to) => pairs.lock().entry(to.to_string()).or_default().refused(now),
                        None => retry_at(0),
                    };
                    tracing::info!(channel.id = %channel.id, message.id = %message_id, attempt, "Meta's pair rate limit: the recipient's sends wait");
                    Recorded {
                        result: SendResult::Retry {
                            message_id: message_id.clone(),
                            term: item.term,
                            next_at: until,
                            error: serde_json::to_value(&error).unwrap_or_default(),
                        },
                        outcome: None,
                    }
                }
                RetryClass::Throttle | RetryClass::Retry if attempt < cfg.max_attempts => {
                    match error.code {
                        // Too fast for Meta: slower, after a second's rest.
                        codes::RATE_LIMIT_HIT => pace.lock().throttled(),
                        // Maintenance (a throughput upgrade): the channel rests briefly.
                        codes::MAINTENANCE_MODE => pace.lock().pause(MAINTENANCE_PAUSE),
                        _ if class == RetryClass::Throttle => pace.lock().pause(THROTTLE_PAUSE),
                        _ => {}
                    }
                    tracing::info!(channel.id = %channel.id, message.id = %message_id, code = error.code, attempt, "send refused, will retry");
                    Recorded {
                        result: SendResult::Retry {
                            message_id: message_id.clone(),
                            term: item.term,
                            next_at: retry_at(0),
                            error: serde_json::to_value(&error).unwrap_or_default(),
                        },
                        outcome: None,
                    }
                }
                // The channel's credentials, not this message: the channel is paused and the
                // send waits for a new token, queued (not failed, not an attempt).
                RetryClass::Account if is_credentials(&error) => {
                    let mut p = pace.lock();
                    p.pause(ACCOUNT_PAUSE);
                    p.rejected.get_or_insert_with(|| error.clone());
                    drop(p);
                    Recorded {
                        result: SendResult::Defer {
                            message_id: message_id.clone(),
                            term: item.term,
                            next_at: now,
                        },
                        outcome: None,
                    }
                }
                RetryClass::Account => {
                    pace.lock().pause(ACCOUNT_PAUSE);
                    tracing::error!(channel.id = %channel.id, code = %error.code, "Meta refused the number's account for this send; the channel rests");
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
                    term: item.term,
                    next_at: retry_at(extra),
                    error: serde_json::json!({"transport": error}),
                },
                outcome: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use governor::RateLimiter;
    use governor::clock::FakeRelativeClock;

    use super::pacing;

    /// Sends as fast as the bucket allows for 5 s, 0.1 ms steps: no one-second window ever
    /// holds more than the limit, and the mean is within 2 % of it.
    #[test]
    fn a_throttle_slows_the_channel_and_it_recovers() {
        let mut p = super::Pace::default();
        assert_eq!(p.rate(80), 80);
        p.throttled();
        assert!(p.paused_until.is_some());
        assert_eq!(p.rate(80), 60);
        p.throttled();
        assert_eq!(p.rate(80), 44);
        // Ten seconds without another: five points back each time.
        p.since -= super::RECOVER_EVERY * 2;
        assert_eq!(p.rate(80), 52);
        p.since -= super::RECOVER_EVERY * 100;
        assert_eq!(p.rate(80), 80);
        assert_eq!(p.rate(1), 1);
    }

    /// Sends as fast as the bucket allows for 5 s, the clock stepping 0.1 ms, then 1 ms (a
    /// timer that wakes late, as tokio's millisecond timers do): no window of one second and
    /// the margin ever holds more than the limit (so no second at Meta does, whichever sends
    /// arrive up to the margin late), and the mean is within 1.2 % of it.
    #[test]
    fn pacing_never_exceeds_the_limit_in_any_second_and_keeps_close_to_it() {
        for limit in [1u32, 20, 80, 250, 1_000] {
            for step in [Duration::from_micros(100), Duration::from_millis(1)] {
                let clock = FakeRelativeClock::default();
                let paced = pacing(NonZeroU32::new(limit).unwrap());
                let limiter = RateLimiter::direct_with_clock(paced.quota, clock.clone());
                let mut t = Duration::ZERO;
                let mut sent: Vec<Duration> = Vec::new();
                while t < Duration::from_secs(5) {
                    while limiter.check_n(paced.cells).unwrap().is_ok() {
                        sent.push(t);
                    }
                    clock.advance(step);
                    t += step;
                }
                // Every window [t, t + 1 s) that starts at a send.
                let mut j = 0;
                for i in 0..sent.len() {
                    while j < sent.len()
                        && sent[j] < sent[i] + Duration::from_secs(1) + super::PACING_MARGIN
                    {
                        j += 1;
                    }
                    assert!(
                        j - i <= limit as usize,
                        "{limit}/s, steps of {step:?}: {} sends in the second from {:?}",
                        j - i,
                        sent[i]
                    );
                }
                let mean = sent.len() as f64 / 5.0;
                assert!(
                    mean >= 0.988 * f64::from(limit) - 0.2,
                    "{limit}/s, steps of {step:?}: mean {mean}"
                );
            }
        }
    }
}
