//! Commits send outcomes in batches, then tells waiting Cloud-API callers.
//!
//! **When the store refuses.** A batch is tried [`BATCH_TRIES`] times, a moment apart, then
//! outcome by outcome (for [`ONE_BY_ONE_FOR`] at most), so that an outcome the store cannot
//! take never holds the others back — nor, through the flush each worker waits for before it
//! gives its lease up, every channel. What is still unrecorded is kept ([`Late`]) and tried
//! again apart from the flow, several times within the reconcile grace, until the store takes
//! it ([`LATE_MAX`] kept at most: beyond that the oldest are given up, with an error).
//!
//! Nothing is sent twice for it. An unrecorded send is left as a crash between Meta's answer
//! and the record leaves it: in flight under its claim while the claim's holding lasts, then an
//! orphan, put back behind the reconcile grace, during which it is not claimed again (nor past
//! it while a payload of Meta's received by then waits unprocessed). Meta's answer, kept here,
//! settles it before then, as Meta's status webhook (which carries the gateway's id) does: the
//! store records Meta's answer unless another claim is posting the send. A retry or a
//! deferral recorded late counts only while its own claim is still the send's.

use std::collections::VecDeque;
use std::time::Duration;

use openbsp_store::{SendResult, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::core::{Core, SendOutcome};

/// Most outcomes committed together.
const MAX_BATCH: usize = 512;
/// Tries of a whole batch before its outcomes are recorded one by one.
const BATCH_TRIES: u32 = 3;
/// The wait after a batch's first failure (doubling after each).
const BATCH_BACKOFF: Duration = Duration::from_millis(100);
/// How long outcomes are recorded one by one, at most, before the rest wait for the next try.
const ONE_BY_ONE_FOR: Duration = Duration::from_secs(2);
/// The first wait before the unrecorded outcomes are tried again (doubling while the store
/// refuses them, up to [`late_wait_max`]).
const LATE_FIRST: Duration = Duration::from_millis(250);
/// Unrecorded outcomes kept at most.
const LATE_MAX: usize = 10_000;

/// The longest wait between two tries of the unrecorded outcomes: five seconds, and a quarter
/// of the reconcile grace at most, so that Meta's answer is tried several times before its
/// orphaned send could be claimed again.
fn late_wait_max(state: &Core) -> Duration {
    (state.config.sender.reconcile_grace / 4).min(Duration::from_secs(5))
}

/// One send's outcome.
pub(super) struct Recorded {
    /// What the store records.
    pub result: SendResult,
    /// What a waiting caller is told (none for a retry).
    pub outcome: Option<SendOutcome>,
}

/// What the recorder is given: an outcome, or a flush (answered once everything given before it
/// is committed, so that a worker gives its lease up only after its outcomes are recorded).
pub(super) enum ToRecorder {
    /// One send's outcome.
    Result(Recorded),
    /// Answer once everything before is committed (or kept, unrecorded: see the module doc).
    Flush(oneshot::Sender<()>),
}

fn message_id(r: &SendResult) -> &str {
    match r {
        SendResult::Accepted { message_id, .. }
        | SendResult::Failed { message_id, .. }
        | SendResult::Retry { message_id, .. }
        | SendResult::Defer { message_id, .. } => message_id,
    }
}

/// Runs until every sender of results is gone.
pub(super) async fn run(state: Core, mut rx: mpsc::Receiver<ToRecorder>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut late = Late::default();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => if n == 0 { break },
            _ = late.due() => {
                late.retry(&state).await;
                continue;
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        for r in batch.drain(..) {
            match r {
                ToRecorder::Result(r) => results.push(r),
                ToRecorder::Flush(done) => flushes.push(done),
            }
        }
        let sends = results.len();
        let (unrecorded, refusal) = record(&state, results, BATCH_TRIES).await;
        if let Some((message_id, error)) = refusal {
            tracing::error!(
                sends,
                unrecorded = unrecorded.len(),
                message.id = %message_id,
                %error,
                "the store refused send outcomes, one by one too; they are kept and tried again"
            );
        }
        late.keep(&state, unrecorded);
        for done in flushes {
            let _ = done.send(());
        }
    }
    // Stopping: one more try; what is left is the orphan path's (see the module doc).
    if !late.items.is_empty() {
        late.retry(&state).await;
        late.give_up(late.items.len(), "the sender stopped");
    }
}

/// Records `items` and tells their waiting callers: as one batch (`tries` times, a moment
/// apart), then one by one. Returns those the store did not take — first those not tried (the
/// time for one by one ran out), then those it refused — and the first refusal.
async fn record(
    state: &Core,
    items: Vec<Recorded>,
    tries: u32,
) -> (Vec<Recorded>, Option<(String, StoreError)>) {
    if items.is_empty() {
        return (items, None);
    }
    let results: Vec<SendResult> = items.iter().map(|r| r.result.clone()).collect();
    let mut wait = BATCH_BACKOFF;
    for attempt in 1..=tries {
        match state.store.record_send_results(&results).await {
            Ok(()) => {
                for r in items {
                    tell(state, r);
                }
                return (Vec::new(), None);
            }
            Err(e) => {
                metrics::counter!("openbsp_send_outcome_batch_failures_total").increment(1);
                tracing::warn!(error = %e, sends = results.len(), attempt, "could not record a batch of send outcomes");
                if attempt < tries {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
    // One by one: what the store takes is recorded, whatever it refuses.
    let until = Instant::now() + ONE_BY_ONE_FOR;
    let mut refused = Vec::new();
    let mut first_refusal = None;
    let mut items = items.into_iter();
    for r in items.by_ref() {
        match state
            .store
            .record_send_results(std::slice::from_ref(&r.result))
            .await
        {
            Ok(()) => tell(state, r),
            Err(e) => {
                first_refusal.get_or_insert_with(|| (message_id(&r.result).to_string(), e));
                refused.push(r);
            }
        }
        if Instant::now() >= until {
            break;
        }
    }
    (items.chain(refused).collect(), first_refusal)
}

/// Tells a waiting Cloud-API caller what became of its send, once it is recorded.
fn tell(state: &Core, r: Recorded) {
    if let Some(outcome) = r.outcome {
        state.notify_outcome(message_id(&r.result), outcome);
    }
}

/// The outcomes the store has not taken yet, tried again apart from the flow.
#[derive(Default)]
struct Late {
    items: VecDeque<Recorded>,
    /// When they are tried next (`None` while there are none).
    next: Option<Instant>,
    wait: Duration,
}

impl Late {
    fn keep(&mut self, state: &Core, unrecorded: Vec<Recorded>) {
        if unrecorded.is_empty() {
            return;
        }
        metrics::counter!("openbsp_send_outcomes_late_total", "fate" => "kept")
            .increment(unrecorded.len() as u64);
        self.items.extend(unrecorded);
        if self.items.len() > LATE_MAX {
            self.give_up(self.items.len() - LATE_MAX, "too many kept");
        }
        if self.next.is_none() {
            self.wait = LATE_FIRST.min(late_wait_max(state));
            self.next = Some(Instant::now() + self.wait);
        }
        self.gauge();
    }

    /// Waits until they are due (forever while there are none).
    async fn due(&self) {
        match self.next {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    async fn retry(&mut self, state: &Core) {
        let items: Vec<Recorded> = self.items.drain(..).collect();
        let tried = items.len();
        // Once as a batch: they were tried as one already.
        let (left, refusal) = record(state, items, 1).await;
        let recorded = tried - left.len();
        if let Some((message_id, error)) = refusal {
            tracing::warn!(
                left = left.len(),
                message.id = %message_id,
                %error,
                "send outcomes kept unrecorded are still refused; tried again later"
            );
        }
        if recorded > 0 {
            metrics::counter!("openbsp_send_outcomes_late_total", "fate" => "recorded")
                .increment(recorded as u64);
            tracing::info!(
                recorded,
                left = left.len(),
                "send outcomes the store had refused are recorded"
            );
            self.wait = LATE_FIRST;
        } else {
            self.wait = (self.wait * 2).min(late_wait_max(state));
        }
        self.items.extend(left);
        self.next = (!self.items.is_empty()).then(|| Instant::now() + self.wait);
        self.gauge();
    }

    /// Forgets the `n` oldest: their sends are the orphan path's alone.
    fn give_up(&mut self, n: usize, why: &str) {
        for r in self.items.drain(..n.min(self.items.len())) {
            tracing::error!(
                message.id = %message_id(&r.result),
                reason = why,
                "a send's outcome is given up unrecorded; its send is reconciled as after a crash"
            );
        }
        metrics::counter!("openbsp_send_outcomes_late_total", "fate" => "given_up")
            .increment(n as u64);
        self.gauge();
    }

    fn gauge(&self) {
        metrics::gauge!("openbsp_send_outcomes_late").set(self.items.len() as f64);
    }
}
