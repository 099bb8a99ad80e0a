//! Meta's messaging limit (reference §5.4): a business portfolio may send to at most N
//! unique WhatsApp users *outside their customer service window* in a moving 24-hour
//! period, N being its tier (`TIER_250`, `TIER_2K`, `TIER_10K`, `TIER_100K`,
//! `TIER_UNLIMITED`). The limit is the portfolio's, shared by all its phone numbers; a user
//! already reached within the last 24 hours does not count again, and a user inside their
//! customer service window with the sending number (they wrote to it in the last 24 hours,
//! by the simulator's clock, whether or not the window is enforced) does not count at all.
//!
//! A number's portfolio is its WABA id unless `SimState::set_business` sets another; every
//! portfolio is unlimited until `SimState::set_messaging_limit` says otherwise, so nothing
//! is enforced by default. Changing a portfolio's tier sends Meta's
//! `business_capability_update` webhook, one per WABA of the portfolio.
//!
//! **A send past the limit.** Meta documents no error code for it (the messaging-limits
//! documentation describes the limit, not what a send past it answers). The simulator's
//! choice: the send is refused synchronously with HTTP 400 and Graph error **131048**
//! (`(#131048) Spam rate limit hit`, Meta's code for restrictions on how many messages a
//! number may send), its
//! `error_data.details` saying that the business portfolio's messaging limit (unique users
//! outside the customer service window in 24 hours) is reached. Nothing is recorded as
//! received and no status follows. Sends refused for any other reason (token, validation,
//! maintenance, template checks, throughput 130429, pair rate limit 131056, injected errors)
//! are not counted, nor are sends the simulator fails asynchronously (a user who changed
//! number, 131047 outside the window when it is enforced, 131050, injected failures): they
//! reach nobody, so they are neither counted nor refused.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::PhoneNumberConfig;

/// The moving period of the messaging limit: 24 hours (ms).
pub const MESSAGING_LIMIT_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// How often, at most, a portfolio below its limit forgets the users it reached more than
/// 24 hours ago (ms); at its limit it does so whenever a new user would count.
const PRUNE_EVERY_MS: i64 = 3600 * 1000;

/// A business portfolio's messaging limit (`whatsapp_business_manager_messaging_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MessagingLimit {
    /// 250 unique users outside the customer service window in 24 hours.
    #[serde(rename = "TIER_250")]
    Tier250,
    /// 2,000.
    #[serde(rename = "TIER_2K")]
    Tier2K,
    /// 10,000.
    #[serde(rename = "TIER_10K")]
    Tier10K,
    /// 100,000.
    #[serde(rename = "TIER_100K")]
    Tier100K,
    /// No limit (the simulator's default: nothing is enforced).
    #[default]
    #[serde(rename = "TIER_UNLIMITED")]
    Unlimited,
}

impl MessagingLimit {
    /// Every tier, lowest first.
    pub const ALL: [MessagingLimit; 5] = [
        MessagingLimit::Tier250,
        MessagingLimit::Tier2K,
        MessagingLimit::Tier10K,
        MessagingLimit::Tier100K,
        MessagingLimit::Unlimited,
    ];

    /// Meta's name of the tier (`TIER_250`, ..., `TIER_UNLIMITED`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessagingLimit::Tier250 => "TIER_250",
            MessagingLimit::Tier2K => "TIER_2K",
            MessagingLimit::Tier10K => "TIER_10K",
            MessagingLimit::Tier100K => "TIER_100K",
            MessagingLimit::Unlimited => "TIER_UNLIMITED",
        }
    }

    /// The most unique users outside the customer service window in 24 hours; `None` when
    /// unlimited.
    pub fn max_users(self) -> Option<usize> {
        match self {
            MessagingLimit::Tier250 => Some(250),
            MessagingLimit::Tier2K => Some(2_000),
            MessagingLimit::Tier10K => Some(10_000),
            MessagingLimit::Tier100K => Some(100_000),
            MessagingLimit::Unlimited => None,
        }
    }

    /// The number `business_capability_update` carries for the tier: its limit, or -1 when
    /// unlimited.
    pub fn capability_value(self) -> i64 {
        self.max_users().map_or(-1, |n| n as i64)
    }

    /// Parses Meta's name of a tier (exactly as Meta writes it, e.g. `TIER_2K`).
    pub fn parse(s: &str) -> Result<MessagingLimit, String> {
        if let Some(t) = MessagingLimit::ALL.into_iter().find(|t| t.as_str() == s) {
            return Ok(t);
        }
        let names: Vec<&str> = MessagingLimit::ALL.iter().map(|t| t.as_str()).collect();
        let hint = if matches!(s, "TIER_50" | "TIER_1K") {
            " (a tier of the old ladder: since October 2025 it is 250 → 2K → 10K → 100K → unlimited)"
        } else {
            ""
        };
        Err(format!(
            "unknown messaging limit tier {s:?}{hint}; expected one of {}",
            names.join(", ")
        ))
    }
}

impl FromStr for MessagingLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessagingLimit::parse(s)
    }
}

impl fmt::Display for MessagingLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The users one portfolio reached outside their customer service window: `wa_id` (or
/// BSUID) → when it last did (Unix ms, simulator clock). Entries older than 24 hours are
/// forgotten lazily: whenever a new user would take the portfolio to its limit, and at most
/// hourly otherwise.
#[derive(Default)]
pub(crate) struct Reach {
    users: HashMap<String, i64>,
    /// No entry expires before this (Unix ms): pruning earlier would find nothing to drop.
    first_expiry: i64,
    /// When expired entries were last dropped (Unix ms).
    last_prune: i64,
}

fn live(reached_at: i64, now: i64) -> bool {
    now - reached_at <= MESSAGING_LIMIT_WINDOW_MS
}

impl Reach {
    /// Counts `user` as reached at `now`, unless that would take the portfolio past `max`
    /// unique users in 24 hours (then `false`, and nothing changes).
    pub(crate) fn admit(&mut self, user: &str, now: i64, max: Option<usize>) -> bool {
        if let Some(t) = self.users.get_mut(user)
            && live(*t, now)
        {
            // Already reached within 24 hours: not counted again; its 24 hours start anew.
            *t = now;
            return true;
        }
        let at_limit = max.is_some_and(|max| self.users.len() >= max);
        if now > self.first_expiry && (at_limit || now - self.last_prune >= PRUNE_EVERY_MS) {
            self.prune(now);
        }
        if max.is_some_and(|max| self.users.len() >= max) {
            return false;
        }
        if self.users.is_empty() {
            self.first_expiry = now + MESSAGING_LIMIT_WINDOW_MS;
        }
        self.users.insert(user.to_string(), now);
        true
    }

    /// Forgets the users reached more than 24 hours before `now`.
    fn prune(&mut self, now: i64) {
        self.users.retain(|_, t| live(*t, now));
        self.last_prune = now;
        self.first_expiry = self
            .users
            .values()
            .min()
            .map_or(now, |t| t + MESSAGING_LIMIT_WINDOW_MS);
    }

    /// Unique users reached within the 24 hours before `now`.
    pub(crate) fn count(&self, now: i64) -> usize {
        self.users.values().filter(|t| live(**t, now)).count()
    }
}

/// The business portfolios the simulator knows of.
#[derive(Default)]
pub(crate) struct Portfolios {
    /// Numbers set to a portfolio other than their WABA id → that portfolio.
    pub(crate) business_of: HashMap<String, String>,
    /// Portfolios whose tier was set (others are unlimited).
    pub(crate) tiers: HashMap<String, MessagingLimit>,
    /// Users each portfolio reached outside their customer service window.
    pub(crate) reach: HashMap<String, Reach>,
}

impl Portfolios {
    pub(crate) fn business_of(&self, phone: &PhoneNumberConfig) -> String {
        self.business_of
            .get(&phone.phone_number_id)
            .cloned()
            .unwrap_or_else(|| phone.waba_id.clone())
    }

    pub(crate) fn tier(&self, business_id: &str) -> MessagingLimit {
        self.tiers.get(business_id).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tiers_parse_and_print() {
        for (s, max, cap) in [
            ("TIER_250", Some(250), 250),
            ("TIER_2K", Some(2_000), 2_000),
            ("TIER_10K", Some(10_000), 10_000),
            ("TIER_100K", Some(100_000), 100_000),
            ("TIER_UNLIMITED", None, -1),
        ] {
            let t: MessagingLimit = s.parse().unwrap();
            assert_eq!(
                (t.as_str(), t.max_users(), t.capability_value()),
                (s, max, cap)
            );
            assert_eq!(t.to_string(), s);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(s));
            assert_eq!(
                serde_json::from_value::<MessagingLimit>(json!(s)).unwrap(),
                t
            );
        }
        assert_eq!(MessagingLimit::default(), MessagingLimit::Unlimited);
        for bad in ["", "tier_250", "TIER_250 ", "250", "TIER_5K", "UNLIMITED"] {
            let e = MessagingLimit::parse(bad).unwrap_err();
            assert!(e.contains("TIER_2K") && e.contains("unknown"), "{bad}: {e}");
        }
        assert!(
            MessagingLimit::parse("TIER_1K")
                .unwrap_err()
                .contains("old ladder")
        );
    }

    #[test]
    fn reach_counts_unique_users_in_a_moving_day() {
        let mut r = Reach::default();
        let t0 = 1_700_000_000_000;
        assert!(r.admit("a", t0, Some(2)));
        assert!(r.admit("b", t0 + 1, Some(2)));
        assert!(
            !r.admit("c", t0 + 2, Some(2)),
            "a third user is over the limit"
        );
        assert!(
            r.admit("a", t0 + 3, Some(2)),
            "a repeat does not count again"
        );
        assert_eq!(r.count(t0 + 3), 2);
        // "b" expires a day after it was reached; "a" was reached again at t0 + 3.
        let later = t0 + 1 + MESSAGING_LIMIT_WINDOW_MS + 1;
        assert_eq!(r.count(later), 1);
        assert!(r.admit("c", later, Some(2)));
        assert!(!r.admit("d", later, Some(2)));
        assert!(r.users.len() <= 2, "expired users are forgotten");
        assert!(r.admit("d", later, None), "unlimited admits everyone");
    }
}
