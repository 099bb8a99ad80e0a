//! Which background workers are up: the closed set of their names ([`Worker`]) and their
//! state ([`Workers`]), kept in the core for `/readyz`; the supervisor that starts them again
//! is [`crate::workers`].

use parking_lot::Mutex;
use tokio::sync::Notify;

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

    /// Its place in [`Worker::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Which supervised workers are up: each is up while it runs, down between its stop and its
/// start again.
pub struct Workers {
    /// Per worker: `None` not supervised here, else whether it runs.
    up: Mutex<[Option<bool>; Worker::ALL.len()]>,
    /// Test hooks: a worker whose notify fires panics (see [`Workers::panic_for_tests`]).
    pub(crate) panics: [Notify; Worker::ALL.len()],
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

    /// Records that `worker` runs (`up`) or not.
    pub fn set(&self, worker: Worker, up: bool) {
        self.up.lock()[worker.index()] = Some(up);
        metrics::gauge!("openbsp_worker_up", "worker" => worker.name()).set(if up {
            1.0
        } else {
            0.0
        });
    }
}
