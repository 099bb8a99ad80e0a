//! Background work (status timers, webhook deliveries and their retries): spawned onto the
//! Tokio runtime, counted, and stopped together when the simulator shuts down.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Tracks background tasks and tells them when to stop.
pub(crate) struct Tasks {
    stop: watch::Sender<bool>,
    inner: Arc<Counter>,
}

#[derive(Default)]
struct Counter {
    active: AtomicUsize,
    idle: Notify,
}

/// Decrements the count when a task ends, even by panic.
struct Guard(Arc<Counter>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            stop: watch::Sender::new(false),
            inner: Arc::new(Counter::default()),
        }
    }
}

impl Tasks {
    /// Runs `fut` in the background, unless the simulator is stopping.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.stopping() {
            return;
        }
        self.inner.active.fetch_add(1, Ordering::SeqCst);
        let guard = Guard(self.inner.clone());
        tokio::spawn(async move {
            let _guard = guard;
            fut.await;
        });
    }

    /// Whether shutdown has begun.
    pub(crate) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps for `d`; `false` if shutdown began first.
    pub(crate) async fn sleep(&self, d: Duration) -> bool {
        let mut rx = self.stop.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = rx.wait_for(|stop| *stop) => false,
        }
    }

    /// Runs `fut` unless shutdown begins first (`None` then).
    pub(crate) async fn until_stopped<T>(&self, fut: impl Future<Output = T>) -> Option<T> {
        let mut rx = self.stop.subscribe();
        tokio::select! {
            v = fut => Some(v),
            _ = rx.wait_for(|stop| *stop) => None,
        }
    }

    /// Tells every task to stop and waits until they have (at most `timeout`).
    pub(crate) async fn stop(&self, timeout: Duration) {
        self.stop.send_replace(true);
        let wait = async {
            loop {
                let idle = self.inner.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.inner.active.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            tracing::warn!(
                active = self.inner.active.load(Ordering::SeqCst),
                "simulator background tasks did not stop in time"
            );
        }
    }

    /// Background tasks still running.
    pub(crate) fn active(&self) -> usize {
        self.inner.active.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_wakes_sleepers_and_waits_for_them() {
        let tasks = Arc::new(Tasks::default());
        let t = tasks.clone();
        tasks.spawn(async move {
            assert!(!t.sleep(Duration::from_secs(3600)).await);
        });
        assert_eq!(tasks.active(), 1);
        tasks.stop(Duration::from_secs(5)).await;
        assert_eq!(tasks.active(), 0);
        tasks.spawn(async {});
        assert_eq!(tasks.active(), 0, "nothing starts after stop");
    }
}
