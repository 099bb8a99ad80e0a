//! The rate limits of authentication (issue 16, findings 10 and 11), with `governor`:
//!
//! - per API key, when the installation sets one (`OPENBSP_API_RATE_LIMIT`): past it a request
//!   is refused with Meta's "too many calls" (code 4) in each surface's shape, HTTP 429;
//! - look-ups of tokens that are no cached key: at most [`LOOKUPS_PER_SECOND`] reach the
//!   database per second (a burst of [`LOOKUP_BURST`]); past it, 429 before any look-up, so a
//!   flood of random tokens neither loads the database nor guesses keys quickly (known keys are
//!   served from the cache and never wait on this);
//! - failed verify-token handshakes on `GET /webhooks/whatsapp`: [`HANDSHAKE_FAILURES_PER_MINUTE`],
//!   then 429 until the quota refills (a correct token still passes while there is quota).

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;

use super::CoreError;

/// Database look-ups of unknown tokens per second, installation-wide.
pub const LOOKUPS_PER_SECOND: u32 = 50;
/// Their burst.
pub const LOOKUP_BURST: u32 = 200;
/// Failed verify-token handshakes per minute, installation-wide.
pub const HANDSHAKE_FAILURES_PER_MINUTE: u32 = 20;

/// A per-key request rate: `per_second` sustained, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRate {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// The largest burst.
    pub burst: u32,
}

impl KeyRate {
    /// Parses `N/s` or `N/s,burst=B` (the burst defaults to N).
    pub fn parse(s: &str) -> Result<KeyRate, String> {
        let bad = || format!("`{s}` is not a rate like 100/s or 100/s,burst=200");
        let (rate, burst) = match s.split_once(',') {
            Some((r, b)) => (r.trim(), Some(b.trim())),
            None => (s.trim(), None),
        };
        let per_second: u32 = rate
            .strip_suffix("/s")
            .and_then(|n| n.trim().parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        let burst = match burst {
            None => per_second,
            Some(b) => b
                .strip_prefix("burst=")
                .and_then(|n| n.trim().parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(bad)?,
        };
        Ok(KeyRate { per_second, burst })
    }
}

/// The limiters.
pub struct AuthLimits {
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    lookups: DefaultDirectRateLimiter,
    handshakes: DefaultDirectRateLimiter,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// Meta's "too many calls" as a 429.
pub fn too_many_calls(what: &str) -> CoreError {
    let mut m = MetaError::new(codes::API_TOO_MANY_CALLS, Some(what.to_string()));
    m.http_status = 429;
    CoreError::Refused(m)
}

impl AuthLimits {
    /// The limiters, with `per_key` when the installation sets one.
    pub fn new(per_key: Option<KeyRate>) -> AuthLimits {
        AuthLimits {
            per_key: per_key.map(|r| {
                RateLimiter::keyed(
                    Quota::per_second(nonzero(r.per_second)).allow_burst(nonzero(r.burst)),
                )
            }),
            lookups: RateLimiter::direct(
                Quota::per_second(nonzero(LOOKUPS_PER_SECOND)).allow_burst(nonzero(LOOKUP_BURST)),
            ),
            handshakes: RateLimiter::direct(Quota::per_minute(nonzero(
                HANDSHAKE_FAILURES_PER_MINUTE,
            ))),
        }
    }

    /// A request with key `key_id`: refused past the key's rate.
    pub fn admit_key(&self, key_id: &str) -> Result<(), CoreError> {
        match &self.per_key {
            Some(l) if l.check_key(&key_id.to_string()).is_err() => Err(too_many_calls(
                "this API key is over its request rate; retry after the Retry-After seconds",
            )),
            _ => Ok(()),
        }
    }

    /// A database look-up of a token that is no cached key.
    pub fn admit_lookup(&self) -> Result<(), CoreError> {
        self.lookups
            .check()
            .map_err(|_| too_many_calls("too many requests with unknown credentials"))
    }

    /// Whether another verify-token handshake may be checked (a failed one used the quota).
    pub fn handshake_quota_left(&self) -> bool {
        self.handshakes.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            KeyRate::parse("100/s"),
            Ok(KeyRate {
                per_second: 100,
                burst: 100
            })
        );
        assert_eq!(
            KeyRate::parse("5/s, burst=20"),
            Ok(KeyRate {
                per_second: 5,
                burst: 20
            })
        );
        for bad in ["", "0/s", "100", "100/m", "1/s,burst=0", "1/s,b=2"] {
            assert!(KeyRate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_is_held_to_its_burst_and_others_are_not() {
        let l = AuthLimits::new(Some(KeyRate {
            per_second: 1,
            burst: 3,
        }));
        for _ in 0..3 {
            assert!(l.admit_key("key_a").is_ok());
        }
        assert!(l.admit_key("key_a").is_err());
        assert!(l.admit_key("key_b").is_ok());
        let free = AuthLimits::new(None);
        assert!((0..10_000).all(|_| free.admit_key("key_a").is_ok()));
    }
}
