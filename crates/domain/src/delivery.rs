//! When an event delivery is tried again, and when an endpoint is given up on.
//!
//! The schedule is the one the best webhook services use (Svix's): the first attempt at
//! once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each failure — eight attempts
//! over about 27.5 hours — each delay with ±10 % jitter so a recovering endpoint is not hit
//! by every retry at once. An answer's `Retry-After` is honoured when it asks for longer (up
//! to a day).

/// The delays after each failed attempt, in milliseconds (attempt 1 fails → the first).
pub const SCHEDULE_MS: [u64; 7] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
    10 * 3_600_000,
];

/// The most a `Retry-After` may push a retry back.
pub const RETRY_AFTER_MAX_MS: u64 = 24 * 3_600_000;

/// The delay before the next attempt once attempt number `failed` (1 for the first) has
/// failed, or `None` when it was the last. `jitter` is a number in `[0, 1)` from the caller's
/// random source (`0.5` is no jitter); `retry_after_ms` is the endpoint's `Retry-After`.
pub fn next_delay_ms(failed: u32, jitter: f64, retry_after_ms: Option<u64>) -> Option<u64> {
    next_delay_on(&SCHEDULE_MS, failed, jitter, retry_after_ms)
}

/// [`next_delay_ms`] on another schedule (an installation's, or a test's): `schedule[n - 1]`
/// follows the failure of attempt `n`, and there are `schedule.len() + 1` attempts.
pub fn next_delay_on(
    schedule: &[u64],
    failed: u32,
    jitter: f64,
    retry_after_ms: Option<u64>,
) -> Option<u64> {
    let base = *schedule.get(failed.checked_sub(1)? as usize)?;
    // ±10 %: jitter 0 → 0.9 × base, 0.5 → base, just under 1 → 1.1 × base.
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    let delay = (base as f64 * factor) as u64;
    Some(match retry_after_ms {
        Some(ra) => delay.max(ra.min(RETRY_AFTER_MAX_MS)),
        None => delay,
    })
}

/// The number of attempts an event gets before its delivery is marked failed.
pub const MAX_ATTEMPTS: u32 = SCHEDULE_MS.len() as u32 + 1;

/// Whether an endpoint that has failed every attempt since `failing_since` (ms) has failed
/// for long enough (`disable_after_ms`) to be disabled at `now`.
pub fn should_disable(failing_since: Option<i64>, now: i64, disable_after_ms: i64) -> bool {
    failing_since.is_some_and(|since| now - since >= disable_after_ms)
}

/// A `Retry-After` header's value as milliseconds: delay-seconds, or an HTTP date relative
/// to `now_ms`. `None` when absent or unreadable.
pub fn retry_after_ms(value: Option<&str>, now_ms: i64) -> Option<u64> {
    let v = value?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v)
        .ok()?
        .timestamp_millis();
    Some(at.saturating_sub(now_ms).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let delays: Vec<Option<u64>> = (1..=9).map(|n| next_delay_ms(n, 0.5, None)).collect();
        assert_eq!(
            delays,
            [
                Some(5_000),
                Some(300_000),
                Some(1_800_000),
                Some(7_200_000),
                Some(18_000_000),
                Some(36_000_000),
                Some(36_000_000),
                None,
                None
            ]
        );
        assert_eq!(MAX_ATTEMPTS, 8);
        assert_eq!(next_delay_ms(0, 0.5, None), None);
        let total: u64 = SCHEDULE_MS.iter().sum();
        assert!(
            total > 27 * 3_600_000 && total < 28 * 3_600_000,
            "about 27.5 h: {total}"
        );
    }

    #[test]
    fn jitters_by_ten_percent_and_honours_retry_after() {
        assert_eq!(next_delay_ms(1, 0.0, None), Some(4_500));
        assert_eq!(next_delay_ms(1, 0.999_999, None), Some(5_499));
        // A longer Retry-After wins; a shorter one does not hurry the schedule.
        assert_eq!(next_delay_ms(1, 0.5, Some(60_000)), Some(60_000));
        assert_eq!(next_delay_ms(2, 0.5, Some(1_000)), Some(300_000));
        assert_eq!(
            next_delay_ms(1, 0.5, Some(u64::MAX)),
            Some(RETRY_AFTER_MAX_MS)
        );
    }

    #[test]
    fn reads_retry_after_as_seconds_or_a_date() {
        assert_eq!(retry_after_ms(Some("120"), 0), Some(120_000));
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            retry_after_ms(Some("Wed, 21 Oct 2015 07:29:00 GMT"), now),
            Some(60_000)
        );
        assert_eq!(retry_after_ms(Some("soon"), 0), None);
        assert_eq!(retry_after_ms(None, 0), None);
    }

    #[test]
    fn disables_after_failing_for_the_whole_period() {
        let day = 86_400_000;
        assert!(!should_disable(None, 10 * day, 5 * day));
        assert!(!should_disable(Some(0), 5 * day - 1, 5 * day));
        assert!(should_disable(Some(0), 5 * day, 5 * day));
    }
}
