//! Rate limits Meta applies to sends: the per-number throughput limit (token bucket at the
//! number's messages per second, burst of one second's worth; over it → 130429) and the pair
//! rate limit (one message per 6 s to the same user, bursts of up to 45; over it → 131056).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;

/// One token bucket per phone number, rebuilt when the number's limit changes.
#[derive(Default)]
pub(crate) struct Throughput {
    buckets: Mutex<HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>>,
}

impl Throughput {
    /// Takes one token from `phone_number_id`'s bucket of `mps` per second; `false` when the
    /// bucket is empty.
    pub(crate) fn check(&self, phone_number_id: &str, mps: u32) -> bool {
        let bucket = {
            let mut buckets = self.buckets.lock();
            match buckets.get(phone_number_id) {
                Some((current, bucket)) if *current == mps => bucket.clone(),
                _ => {
                    let per_second = NonZeroU32::new(mps).unwrap_or(NonZeroU32::MIN);
                    let bucket = Arc::new(RateLimiter::direct(Quota::per_second(per_second)));
                    buckets.insert(phone_number_id.to_string(), (mps, bucket.clone()));
                    bucket
                }
            }
        };
        bucket.check().is_ok()
    }
}

/// Meta's pair rate limit: per (business number, user).
pub(crate) struct PairLimit {
    limiter: DefaultKeyedRateLimiter<(String, String)>,
}

/// Pair rate limit period: one message per 6 seconds.
const PAIR_PERIOD: Duration = Duration::from_secs(6);
/// Pair rate limit burst: 45 messages.
const PAIR_BURST: NonZeroU32 = NonZeroU32::new(45).expect("45 is not zero");

impl Default for PairLimit {
    fn default() -> Self {
        // `with_period` is `None` only for a zero period.
        let quota = Quota::with_period(PAIR_PERIOD)
            .unwrap_or(Quota::per_second(NonZeroU32::MIN))
            .allow_burst(PAIR_BURST);
        PairLimit {
            limiter: RateLimiter::keyed(quota),
        }
    }
}

impl PairLimit {
    /// Counts one message from `phone_number_id` to `user`; `false` if over the limit.
    pub(crate) fn check(&self, phone_number_id: &str, user: &str) -> bool {
        let ok = self
            .limiter
            .check_key(&(phone_number_id.to_string(), user.to_string()))
            .is_ok();
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_one_second_of_burst() {
        let t = Throughput::default();
        let ok = (0..20).filter(|_| t.check("p", 5)).count();
        assert!((5..=6).contains(&ok), "{ok}");
        // A different number has its own bucket; a changed limit gets a fresh one.
        assert!(t.check("q", 5));
        assert!(t.check("p", 6));
    }

    #[test]
    fn pair_limit_allows_a_burst_of_45() {
        let p = PairLimit::default();
        let ok = (0..60).filter(|_| p.check("p", "15550001111")).count();
        assert_eq!(ok, 45);
        assert!(p.check("p", "15550002222"));
    }
}
