//! Meta's pair rate limit (reference `cloud-api.md` §5.3): one message every 6 s from a business
//! number to the same user; a burst of up to 45 may go at once, but it borrows from future
//! quota — after a burst of `n`, the pair waits until `n × 6 s` after the burst began (a burst
//! of 20 ≈ 2 min). Beyond it Meta answers 131056 and wants the retry after `4^X` seconds.
//!
//! [`PairBudget`] is one pair's account of it, in Unix ms: the gateway spaces its sends by it
//! (so that Meta never refuses one), and the simulator enforces it.

/// The pair rule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairRule {
    /// One message per this many ms (Meta: 6,000).
    pub period_ms: i64,
    /// Most messages in one burst, all within one period (Meta: 45).
    pub burst: u32,
}

impl PairRule {
    /// Meta's: one per 6 s, bursts of up to 45.
    pub const META: PairRule = PairRule {
        period_ms: 6_000,
        burst: 45,
    };
}

impl Default for PairRule {
    fn default() -> Self {
        PairRule::META
    }
}

/// One pair's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PairBudget {
    /// The quota is repaid at this time: no burst may start before it.
    free_at: i64,
    /// When the current burst began, and how many it has sent.
    burst_at: i64,
    burst_sent: u32,
    /// 131056 answers in a row (the `X` of Meta's `4^X` s).
    strikes: u32,
}

impl PairBudget {
    /// Whether a message may go at `now`; it is counted if so. Otherwise the time before which
    /// it must not.
    pub fn admit(&mut self, rule: PairRule, now: i64) -> Result<(), i64> {
        if now >= self.free_at {
            self.burst_at = now;
            self.burst_sent = 1;
            self.free_at = now + rule.period_ms;
            Ok(())
        } else if now < self.burst_at + rule.period_ms && self.burst_sent < rule.burst {
            self.burst_sent += 1;
            self.free_at += rule.period_ms;
            Ok(())
        } else {
            Err(self.free_at)
        }
    }

    /// Meta refused a message with 131056 at `now`: the pair waits `4^X` s (X the refusals in a
    /// row, from 1; at most `4^6` s, about 68 min). Returns until when.
    pub fn refused(&mut self, now: i64) -> i64 {
        self.strikes = (self.strikes + 1).min(6);
        self.free_at = self.free_at.max(now + 4_i64.pow(self.strikes) * 1_000);
        self.burst_sent = u32::MAX;
        self.free_at
    }

    /// Meta accepted a message: the refusals in a row end.
    pub fn accepted(&mut self) {
        self.strikes = 0;
    }

    /// Whether the budget holds nothing worth keeping at `now` (it can be forgotten).
    pub fn idle(&self, now: i64) -> bool {
        now >= self.free_at && self.strikes == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: PairRule = PairRule::META;

    #[test]
    fn one_every_six_seconds() {
        let mut b = PairBudget::default();
        assert_eq!(b.admit(R, 0), Ok(()));
        // Within the period, the burst goes on; after it, the pair waits for its quota.
        assert_eq!(b.admit(R, 6_000), Ok(()), "a new burst at the quota's time");
        assert_eq!(b.admit(R, 12_000), Ok(()));
        assert_eq!(b.admit(R, 18_001), Ok(()));
    }

    #[test]
    fn a_burst_borrows_from_future_quota() {
        let mut b = PairBudget::default();
        for i in 0..20 {
            assert_eq!(b.admit(R, 1_000 + i * 10), Ok(()), "{i}");
        }
        // A burst of 20 is repaid 20 × 6 s after it began: about two minutes.
        assert_eq!(
            b.admit(R, 7_000),
            Err(121_000),
            "the burst's period is over"
        );
        assert_eq!(b.admit(R, 120_999), Err(121_000));
        assert_eq!(b.admit(R, 121_000), Ok(()));
    }

    #[test]
    fn bursts_stop_at_45_within_the_period() {
        let mut b = PairBudget::default();
        for i in 0..45 {
            assert_eq!(b.admit(R, i), Ok(()), "{i}");
        }
        assert_eq!(b.admit(R, 45), Err(270_000));
    }

    #[test]
    fn a_refusal_waits_four_to_the_x_seconds() {
        let mut b = PairBudget::default();
        assert_eq!(b.admit(R, 0), Ok(()));
        assert_eq!(b.refused(100), 6_000, "the quota's own time is later");
        assert_eq!(b.refused(5_000), 21_000, "4^2 s");
        assert_eq!(b.admit(R, 20_000), Err(21_000));
        assert_eq!(b.admit(R, 21_000), Ok(()));
        b.accepted();
        assert!(!b.idle(21_000));
        assert!(b.idle(27_000));
        let mut fresh = PairBudget::default();
        for _ in 0..10 {
            fresh.refused(0);
        }
        assert_eq!(fresh.refused(0), 4_i64.pow(6) * 1_000, "capped");
    }

    /// Attempts far more often than the rule allows: no period ever holds more than a burst, and
    /// the rate is one per period on average.
    #[test]
    fn never_more_than_the_rule_allows() {
        let rule = PairRule {
            period_ms: 100,
            burst: 5,
        };
        let mut b = PairBudget::default();
        let mut sent = Vec::new();
        // Attempts every 7 ms for 10 s.
        for now in (0..10_000).step_by(7) {
            if b.admit(rule, now).is_ok() {
                sent.push(now);
            }
        }
        for (i, &t) in sent.iter().enumerate() {
            let in_period = sent[i..].iter().take_while(|&&u| u < t + 100).count();
            assert!(in_period <= 5, "{in_period} within a period from {t}");
        }
        // About one per period on average: 10 s / 100 ms.
        assert!((95..=105).contains(&sent.len()), "{}", sent.len());
    }
}
