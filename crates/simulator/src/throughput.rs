//! Rate limits Meta applies to sends: the per-number throughput limit (token bucket at the
//! number's messages per second, burst of one second's worth; over it → 130429) and the pair
//! rate limit (one message per 6 s to the same user, bursts of up to 45 borrowing from future
//! quota; over it → 131056).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use openbsp_wire::pair::{PairBudget, PairRule};
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

/// Meta's pair rate limit, per (business number, user), by Meta's burst rule
/// ([`openbsp_wire::pair`]).
#[derive(Default)]
pub(crate) struct PairLimit {
    budgets: Mutex<HashMap<(String, String), PairBudget>>,
}

impl PairLimit {
    /// Counts one message from `phone_number_id` to `user` at `now` (ms) under `rule`; `false`
    /// if over the limit. (The `4^X` s is Meta's advice to the sender; the quota is the rule.)
    pub(crate) fn check(
        &self,
        phone_number_id: &str,
        user: &str,
        rule: PairRule,
        now: i64,
    ) -> bool {
        let mut budgets = self.budgets.lock();
        let b = budgets
            .entry((phone_number_id.to_string(), user.to_string()))
            .or_default();
        let ok = b.admit(rule, now).is_ok();
        if budgets.len() > 100_000 {
            budgets.retain(|_, b| !b.idle(now));
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
    fn pair_limit_allows_a_burst_of_45_then_waits_for_the_quota() {
        let p = PairLimit::default();
        let r = PairRule::META;
        let ok = (0..60)
            .filter(|i| p.check("p", "15550001111", r, *i))
            .count();
        assert_eq!(ok, 45);
        assert!(p.check("p", "15550002222", r, 60));
        // Refused past the burst: the pair waits its quota (45 × 6 s from the burst's start).
        assert!(!p.check("p", "15550001111", r, 269_999));
        assert!(p.check("p", "15550001111", r, 270_000));
    }
}
