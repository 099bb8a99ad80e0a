//! Meta's messaging limit (reference §5.4): a business portfolio reaches at most so many
//! unique users outside their customer service window in a moving 24 hours, shared by all its
//! numbers. The tier is read from `whatsapp_business_manager_messaging_limit` and the
//! `business_capability_update` webhook. Pure.

/// How long a reached user counts against the limit.
pub const REACH_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The tiers Meta names, with their limits (`None`: unlimited).
const TIERS: &[(&str, Option<u32>)] = &[
    ("TIER_50", Some(50)),
    ("TIER_250", Some(250)),
    ("TIER_1K", Some(1_000)),
    ("TIER_2K", Some(2_000)),
    ("TIER_10K", Some(10_000)),
    ("TIER_100K", Some(100_000)),
    ("TIER_UNLIMITED", None),
];

/// Whether `tier` is one Meta names.
pub fn is_tier(tier: &str) -> bool {
    TIERS.iter().any(|(t, _)| *t == tier)
}

/// How the gateway keeps a portfolio's reach, by its tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// `TIER_UNLIMITED`: nothing to count.
    Unlimited,
    /// Not known yet (a channel whose sender has not read Meta's tier, `TIER_NOT_SET`, a
    /// name Meta adds later): counted, so that the limit holds from the moment it is known,
    /// but nothing refused.
    Unknown,
    /// At most this many unique users in 24 hours.
    Limit(u32),
}

/// How a portfolio with this tier is counted.
pub fn counting(tier: Option<&str>) -> Counting {
    match tier {
        Some("TIER_UNLIMITED") => Counting::Unlimited,
        t => limit_of(t).map_or(Counting::Unknown, Counting::Limit),
    }
}

/// The number of unique users a tier allows in 24 hours; `None` for unlimited, an unknown
/// tier (`TIER_NOT_SET`, a name Meta adds later: Meta enforces what it knows) or none.
pub fn limit_of(tier: Option<&str>) -> Option<u32> {
    let tier = tier?;
    TIERS.iter().find(|(t, _)| *t == tier).and_then(|(_, l)| *l)
}

/// The tier of `business_capability_update`'s `max_daily_conversations_per_business`
/// (250, 2000, 10000, 100000; -1 for unlimited); `None` for a number no tier has.
pub fn tier_of_max_daily(n: i64) -> Option<&'static str> {
    if n == -1 {
        return Some("TIER_UNLIMITED");
    }
    TIERS
        .iter()
        .find(|(_, l)| l.map(i64::from) == Some(n))
        .map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_their_limits() {
        assert_eq!(limit_of(Some("TIER_250")), Some(250));
        assert_eq!(limit_of(Some("TIER_2K")), Some(2_000));
        assert_eq!(limit_of(Some("TIER_100K")), Some(100_000));
        assert_eq!(limit_of(Some("TIER_UNLIMITED")), None);
        assert_eq!(limit_of(Some("TIER_NOT_SET")), None);
        assert_eq!(limit_of(None), None);
        assert!(is_tier("TIER_10K") && !is_tier("TIER_3K"));
    }

    #[test]
    fn unknown_tiers_are_counted_but_not_limited() {
        assert_eq!(counting(Some("TIER_UNLIMITED")), Counting::Unlimited);
        assert_eq!(counting(Some("TIER_2K")), Counting::Limit(2_000));
        assert_eq!(counting(Some("TIER_NOT_SET")), Counting::Unknown);
        assert_eq!(counting(None), Counting::Unknown);
    }

    #[test]
    fn webhook_numbers_name_tiers() {
        assert_eq!(tier_of_max_daily(2_000), Some("TIER_2K"));
        assert_eq!(tier_of_max_daily(-1), Some("TIER_UNLIMITED"));
        assert_eq!(tier_of_max_daily(250), Some("TIER_250"));
        assert_eq!(tier_of_max_daily(7), None);
    }
}
