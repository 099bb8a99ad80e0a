//! The background workers' supervisor. Each worker (the leader lease, the notices, the sender,
//! the webhook processor, the session closer, the campaign runner, the event delivery and its
//! pruning, the media fetcher) runs in a task of its own under a supervisor that starts it
//! again when it panics or returns before shutdown: after a backoff (doubling from
//! [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], back to the first once a run has lasted
//! [`STEADY_AFTER`]), logged with the worker's name and the panic's message, and counted in
//! `openbsp_worker_restarts_total{worker}`. [`Workers`] keeps which are up, for `/readyz`.
//!
//! Never restarts a worker once the gateway is stopping, and never labels a metric with a
//! name outside [`Worker`]. A worker must be safe to start again in the same process: what it
//! held (claims, leases) is found again, or lapses, as after a crash.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::core::Core;
pub use crate::core::workers::{Worker, Workers};

/// The first wait before a stopped worker is started again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a stopped worker is started again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run that lasted this long was not a crash loop: the next restart waits the first backoff.
pub const STEADY_AFTER: Duration = Duration::from_secs(300);

/// A worker's body: `run(state, shutdown)`, returning once `shutdown` turns true.
pub type Run = fn(Core, watch::Receiver<bool>) -> futures::future::BoxFuture<'static, ()>;

/// Starts `worker` (`run(state, shutdown)`) under a supervisor that starts it again whenever
/// it stops before `shutdown`. The handle ends once the worker has ended after `shutdown`;
/// aborting it aborts the worker.
pub fn spawn<F, Fut>(
    state: &Core,
    worker: Worker,
    shutdown: watch::Receiver<bool>,
    run: F,
) -> JoinHandle<()>
where
    F: Fn(Core, watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    metrics::describe_counter!(
        "openbsp_worker_restarts_total",
        "background workers started again after a panic or an early end, by worker"
    );
    metrics::describe_gauge!("openbsp_worker_up", "whether each background worker runs");
    metrics::counter!("openbsp_worker_restarts_total", "worker" => worker.name()).increment(0);
    state.workers.set(worker, true);
    tokio::spawn(supervise(state.clone(), worker, shutdown, run))
}

/// Aborts the task it holds when dropped: a supervisor that is aborted takes its worker along.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn supervise<F, Fut>(state: Core, worker: Worker, mut shutdown: watch::Receiver<bool>, run: F)
where
    F: Fn(Core, watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = worker.name();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let body = run(state.clone(), shutdown.clone());
        let hook = state.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move {
            tokio::select! {
                _ = body => {}
                _ = hook.workers.panics[worker.index()].notified() => {
                    panic!("{name}: a panic injected by a test")
                }
            }
        }));
        let ended = (&mut task.0).await;
        if *shutdown.borrow() {
            if let Err(e) = ended
                && e.is_panic()
            {
                let panic = panic_message(e.into_panic());
                tracing::error!(worker = name, panic = %panic, "a background worker panicked while stopping");
            }
            return;
        }
        state.workers.set(worker, false);
        if started.elapsed() >= STEADY_AFTER {
            backoff = FIRST_BACKOFF;
        }
        let backoff_ms = backoff.as_millis() as u64;
        match ended {
            Ok(()) => tracing::error!(
                worker = name,
                backoff_ms,
                "a background worker stopped before shutdown; starting it again"
            ),
            Err(e) if e.is_panic() => {
                let panic = panic_message(e.into_panic());
                tracing::error!(worker = name, panic = %panic, backoff_ms, "a background worker panicked; starting it again");
            }
            Err(e) => {
                tracing::error!(worker = name, error = %e, backoff_ms, "a background worker was cancelled; starting it again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        metrics::counter!("openbsp_worker_restarts_total", "worker" => name).increment(1);
        state.workers.set(worker, true);
    }
}

/// What a panic said (its payload is a `&str` or a `String` when it said anything).
pub(crate) fn panic_message(panic: Box<dyn Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(panic) => panic
            .downcast_ref::<&str>()
            .map_or_else(|| "(no message)".to_string(), |s| s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_a_closed_set_in_order() {
        for (i, w) in Worker::ALL.iter().enumerate() {
            assert_eq!(w.index(), i, "{w:?}");
        }
        let mut names: Vec<_> = Worker::ALL.iter().map(|w| w.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Worker::ALL.len());
    }
}
