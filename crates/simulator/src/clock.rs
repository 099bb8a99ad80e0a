//! The simulator's clock: the time it writes into webhook timestamps and checks the 24-hour
//! window against. A base clock (the system's, or one a test injects) plus an offset that
//! `POST /_simulator/clock` moves forward. Delays (status timing, retries) run on real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time, in Unix milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A base clock plus an offset that only moves forward.
pub(crate) struct SimClock {
    base: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

impl SimClock {
    pub(crate) fn new(base: Arc<dyn Clock>) -> SimClock {
        SimClock {
            base,
            offset_ms: AtomicI64::new(0),
        }
    }

    /// Now, offset included.
    pub(crate) fn now_ms(&self) -> i64 {
        self.base
            .now_ms()
            .saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward (negative values are ignored); returns the new offset.
    pub(crate) fn advance_ms(&self, ms: i64) -> i64 {
        let ms = ms.max(0);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst) + ms
    }

    /// How far the clock has been moved, in ms.
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

/// Unix seconds as Meta writes them in webhooks: a decimal string.
pub(crate) fn unix_seconds_string(ms: i64) -> String {
    ms.div_euclid(1000).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(i64);
    impl Clock for Fixed {
        fn now_ms(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn offset_moves_forward_only() {
        let c = SimClock::new(Arc::new(Fixed(1_700_000_000_500)));
        assert_eq!(c.now_ms(), 1_700_000_000_500);
        assert_eq!(c.advance_ms(86_400_000), 86_400_000);
        assert_eq!(c.advance_ms(-5), 86_400_000);
        assert_eq!(c.now_ms(), 1_700_086_400_500);
        assert_eq!(unix_seconds_string(c.now_ms()), "1700086400");
    }
}
