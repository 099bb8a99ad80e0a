//! Retry delays for upstream sends.

/// The delay before retry number `attempt` (1 for the first retry), in milliseconds:
/// exponential from `base_ms`, capped at `max_ms`, with up to 25 % jitter from `jitter`
/// (a number in `[0, 1)` supplied by the caller).
pub fn retry_delay_ms(attempt: u32, base_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(max_ms);
    let j = (capped as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as u64;
    capped
        .saturating_add(j)
        .min(max_ms.saturating_add(max_ms / 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        assert_eq!(retry_delay_ms(1, 500, 60_000, 0.0), 500);
        assert_eq!(retry_delay_ms(2, 500, 60_000, 0.0), 1_000);
        assert_eq!(retry_delay_ms(3, 500, 60_000, 0.0), 2_000);
        assert_eq!(retry_delay_ms(30, 500, 60_000, 0.0), 60_000);
        assert_eq!(retry_delay_ms(1, 1_000, 60_000, 0.99), 1_247);
    }
}
