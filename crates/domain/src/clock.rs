//! The clock, injected everywhere time matters.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

/// A source of the current time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;

    /// Now, as a `DateTime`.
    fn now(&self) -> DateTime<Utc> {
        ms_to_datetime(self.now_ms())
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock that tests move by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `ms`.
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Converts Unix milliseconds to a `DateTime`, clamping values out of range.
pub fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Formats Unix milliseconds as RFC 3339 with millisecond precision.
pub fn rfc3339(ms: i64) -> String {
    ms_to_datetime(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Unix seconds from outside (a request, a webhook) as Unix milliseconds, or `None` when they
/// are not a time a date can have (years −262143 to 262142). Never `secs * 1000` on such a
/// value: it overflows (a panic, or a wrapped time); and a time in that range stays far from
/// overflowing in the sums made with it later (a window's 24 hours, a retention period).
pub fn seconds_to_ms(secs: i64) -> Option<i64> {
    DateTime::<Utc>::from_timestamp(secs, 0)?;
    secs.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_out_of_a_dates_range_have_no_milliseconds() {
        assert_eq!(seconds_to_ms(1_700_000_000), Some(1_700_000_000_000));
        assert_eq!(seconds_to_ms(0), Some(0));
        assert_eq!(seconds_to_ms(-1), Some(-1_000));
        // Year 262142 still is a date.
        let last = DateTime::<Utc>::MAX_UTC.timestamp();
        assert_eq!(seconds_to_ms(last), Some(last * 1000));
        for bad in [
            last + 1,
            i64::MAX,
            i64::MAX / 1000 + 1,
            i64::MIN,
            DateTime::<Utc>::MIN_UTC.timestamp() - 1,
        ] {
            assert_eq!(seconds_to_ms(bad), None, "{bad}");
        }
    }
}
