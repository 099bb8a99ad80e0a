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

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::core::Core;

/// The first wait before a stopped worker is started again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a stopped worker is started again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run that lasted this long was not a crash loop: the next restart waits the first backoff.
pub const STEADY_AFTER: Duration = Duration::from_secs(300);

/// A worker's body: `run(state, shutdown)`, returning once `shutdown` turns true.
pub type Run = fn(Core, watch::Receiver<bool>) -> futures::future::BoxFuture<'static, ()>;

/// The supervised workers: the closed set of names of their metrics and of `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// The leader lease ([`crate::leader`]).
    Leader,
    /// Publishes notices to the other replicas ([`crate::notices::publish`]).
    NoticesPublish,
    /// Hears the replicas' notices ([`crate::notices::listen`]).
    NoticesListen,
    /// The sender's supervisor, its channel workers and its recorder ([`crate::sender`]).
    Sender,
    /// Meta's webhook payloads ([`crate::meta::processor`]).
    Processor,
    /// The session closer ([`crate::closer`]).
    Closer,
    /// The campaign runner ([`crate::campaigns`]).
    Campaigns,
    /// The event delivery's supervisor ([`crate::delivery::run`]).
    Delivery,
    /// The pruning of old events, media and reach ([`crate::delivery::prune`]).
    DeliveryPrune,
    /// The inbound media fetcher ([`crate::media_fetch`]).
    MediaFetch,
}

impl Worker {
    /// Every worker.
    pub const ALL: [Worker; 10] = [
        Worker::Leader,
        Worker::NoticesPublish,
        Worker::NoticesListen,
        Worker::Sender,
        Worker::Processor,
        Worker::Closer,
        Worker::Campaigns,
        Worker::Delivery,
        Worker::DeliveryPrune,
        Worker::MediaFetch,
    ];

    /// Its name in logs, metrics and `/readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Worker::Leader => "leader",
            Worker::NoticesPublish => "notices_publish",
            Worker::NoticesListen => "notices_listen",
            Worker::Sender => "sender",
            Worker::Processor => "processor",
            Worker::Closer => "closer",
            Worker::Campaigns => "campaigns",
            Worker::Delivery => "delivery",
            Worker::DeliveryPrune => "delivery_prune",
            Worker::MediaFetch => "media_fetch",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which supervised workers are up: each is up while it runs, down between its stop and its
/// start again.
pub struct Workers {
    /// Per worker: `None` not supervised here, else whether it runs.
    up: Mutex<[Option<bool>; Worker::ALL.len()]>,
    /// Test hooks: a worker whose notify fires panics (see [`Workers::panic_for_tests`]).
    panics: [Notify; Worker::ALL.len()],
}

impl Default for Workers {
    fn default() -> Self {
        Workers {
            up: Mutex::new([None; Worker::ALL.len()]),
            panics: std::array::from_fn(|_| Notify::new()),
        }
    }
}

impl Workers {
    /// The supervised workers that are down now (stopped, waiting to be started again).
    pub fn down(&self) -> Vec<&'static str> {
        let up = self.up.lock();
        Worker::ALL
            .iter()
            .filter(|w| up[w.index()] == Some(false))
            .map(|w| w.name())
            .collect()
    }

    /// Makes `worker`'s running task panic, as a bug in it would: for tests of the
    /// supervision. Not part of the gateway's interface.
    #[doc(hidden)]
    pub fn panic_for_tests(&self, worker: Worker) {
        self.panics[worker.index()].notify_one();
    }

    fn set(&self, worker: Worker, up: bool) {
        self.up.lock()[worker.index()] = Some(up);
        metrics::gauge!("openbsp_worker_up", "worker" => worker.name()).set(if up {
            1.0
        } else {
            0.0
        });
    }
}

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
