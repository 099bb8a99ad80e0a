//! The rate limits of authentication (issue 16, findings 10 and 11), with `governor`:
//!
//! - per API key, when the installation sets one (`OPENBSP_API_RATE_LIMIT`): past it a request
//!   is refused with Meta's "too many calls" (code 4) in each surface's shape, HTTP 429;
//! - look-ups of tokens that are no cached key: at most [`LOOKUPS_PER_SECOND`] (a burst of
//!   [`LOOKUP_BURST`]) from one client reach the database, and [`ALL_LOOKUPS_PER_SECOND`] (a
//!   burst of [`ALL_LOOKUP_BURST`]) from all clients together; past either, 429 before any
//!   look-up, so a flood of random tokens neither loads the database nor guesses keys quickly
//!   (known keys are served from the cache and never wait on this). Counted by client first,
//!   so one client's flood uses its own quota and leaves the others theirs (a new key's first
//!   use elsewhere is not refused); the installation-wide ceiling is the backstop against a
//!   flood from many addresses;
//! - verify-token handshakes on `GET /webhooks/whatsapp`: [`HANDSHAKE_FAILURES_PER_MINUTE`]
//!   from one client and [`ALL_HANDSHAKES_PER_MINUTE`] from all, then 429 until the quota
//!   refills (a correct token still passes while there is quota).
//!
//! A client is the TCP peer's address, or, behind proxies the installation trusts
//! (`OPENBSP_TRUSTED_PROXIES`), the right-most address of `X-Forwarded-For` that is not one of
//! them ([`Client::of`]); an IPv6 client by its /64 (one host's share of addresses). At most
//! [`MAX_CLIENTS`] clients are remembered ([`PerClient`]).

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use parking_lot::RwLock;

use super::CoreError;

/// Database look-ups of unknown tokens per second from one client.
pub const LOOKUPS_PER_SECOND: u32 = 50;
/// Their burst, from one client.
pub const LOOKUP_BURST: u32 = 200;
/// Database look-ups of unknown tokens per second from all clients together: the ceiling.
pub const ALL_LOOKUPS_PER_SECOND: u32 = 500;
/// Their burst, from all clients together.
pub const ALL_LOOKUP_BURST: u32 = 2_000;
/// Verify-token handshakes per minute from one client.
pub const HANDSHAKE_FAILURES_PER_MINUTE: u32 = 20;
/// Verify-token handshakes per minute from all clients together: the ceiling.
pub const ALL_HANDSHAKES_PER_MINUTE: u32 = 100;
/// Clients whose quotas are remembered at most (each a few dozen bytes).
pub const MAX_CLIENTS: usize = 10_000;

/// Who a request comes from, as the limits count it: an address (IPv6 by its /64), or
/// unknown (a router called in-process, without a connection: one client for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(Option<IpAddr>);

impl Client {
    /// A request without a known peer.
    pub const UNKNOWN: Client = Client(None);

    /// The client at `ip` (an IPv4 address written as IPv6 is the IPv4 one).
    pub fn ip(ip: IpAddr) -> Client {
        Client(Some(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        }))
    }

    /// The client of a request from TCP peer `peer` (`None`: no connection) carrying
    /// `forwarded` (its `X-Forwarded-For` values, in order). Only when the peer is a trusted
    /// proxy is the header read, from the right (each proxy appends the address it heard
    /// from): the first address that is no trusted proxy is the client. A header from an
    /// untrusted peer is anyone's to write, so it is ignored: spoofing it buys no fresh quota.
    pub fn of<'a>(
        peer: Option<IpAddr>,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
        trusted: &[IpNet],
    ) -> Client {
        let Some(peer) = peer else {
            return Client::UNKNOWN;
        };
        let trusts = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
        if !trusts(&peer) {
            return Client::ip(peer);
        }
        let mut last = peer;
        for value in forwarded.rev() {
            for part in value.rsplit(',') {
                // Anything that is no address (`unknown`, garbage): stop at the last one known.
                let Ok(ip) = part.trim().parse::<IpAddr>() else {
                    return Client::ip(last);
                };
                if !trusts(&ip) {
                    return Client::ip(ip);
                }
                last = ip;
            }
        }
        // Proxies all the way: the left-most one heard the client.
        Client::ip(last)
    }
}

/// An address range, `10.0.0.0/8`, `fd00::/8` or one address (`127.0.0.1`): where trusted
/// proxies are (`OPENBSP_TRUSTED_PROXIES`). The `ipnet` crate's range, read also from a bare
/// address, and holding IPv4 addresses written as IPv6 as the IPv4 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet(ipnet::IpNet);

impl IpNet {
    /// Parses `addr/prefix` or `addr`.
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        s.parse::<ipnet::IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map(IpNet)
            .map_err(|_| format!("`{s}` is not an address or a range like 10.0.0.0/8"))
    }

    /// Parses a comma-separated list (empty: none).
    pub fn parse_list(s: &str) -> Result<Vec<IpNet>, String> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(IpNet::parse)
            .collect()
    }

    /// Whether `ip` is in the range (an IPv4 address written as IPv6 counts as IPv4).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

/// A quota for each client, remembering at most [`MAX_CLIENTS`] of them: past that, the
/// clients whose quota is full again are forgotten (they lose nothing), and if too many are
/// still using theirs (a flood from many addresses), all are forgotten and start afresh,
/// which the installation-wide ceiling beside each of these bounds.
pub struct PerClient {
    quota: Quota,
    limiter: RwLock<DefaultKeyedRateLimiter<Client>>,
}

impl PerClient {
    fn new(quota: Quota) -> PerClient {
        PerClient {
            quota,
            limiter: RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    /// Whether `client` has quota left (using one).
    fn check(&self, client: Client) -> bool {
        let admitted = self.limiter.read().check_key(&client).is_ok();
        if self.limiter.read().len() > MAX_CLIENTS {
            let mut limiter = self.limiter.write();
            if limiter.len() > MAX_CLIENTS {
                limiter.retain_recent();
                if limiter.len() > MAX_CLIENTS / 2 {
                    *limiter = RateLimiter::keyed(self.quota);
                } else {
                    limiter.shrink_to_fit();
                }
            }
        }
        admitted
    }

    /// Clients remembered.
    pub fn len(&self) -> usize {
        self.limiter.read().len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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
    lookups: PerClient,
    all_lookups: DefaultDirectRateLimiter,
    handshakes: PerClient,
    all_handshakes: DefaultDirectRateLimiter,
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
            lookups: PerClient::new(
                Quota::per_second(nonzero(LOOKUPS_PER_SECOND)).allow_burst(nonzero(LOOKUP_BURST)),
            ),
            all_lookups: RateLimiter::direct(
                Quota::per_second(nonzero(ALL_LOOKUPS_PER_SECOND))
                    .allow_burst(nonzero(ALL_LOOKUP_BURST)),
            ),
            handshakes: PerClient::new(Quota::per_minute(nonzero(HANDSHAKE_FAILURES_PER_MINUTE))),
            all_handshakes: RateLimiter::direct(Quota::per_minute(nonzero(
                ALL_HANDSHAKES_PER_MINUTE,
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

    /// A database look-up, for `client`, of a token that is no cached key. The client's own
    /// quota is checked first: a refused flood does not use the installation's.
    pub fn admit_lookup(&self, client: Client) -> Result<(), CoreError> {
        if self.lookups.check(client) && self.all_lookups.check().is_ok() {
            Ok(())
        } else {
            Err(too_many_calls("too many requests with unknown credentials"))
        }
    }

    /// Whether `client` may have another verify-token handshake checked (each one uses the
    /// quota).
    pub fn handshake_quota_left(&self, client: Client) -> bool {
        self.handshakes.check(client) && self.all_handshakes.check().is_ok()
    }

    /// Clients whose look-up quotas are remembered (bounded by [`MAX_CLIENTS`]).
    pub fn lookup_clients(&self) -> usize {
        self.lookups.len()
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_contain() {
        let nets = IpNet::parse_list("10.0.0.0/8, 127.0.0.1,fd00::/8").unwrap();
        assert!(nets[0].contains(&ip("10.200.3.4")));
        assert!(!nets[0].contains(&ip("11.0.0.1")));
        assert!(nets[1].contains(&ip("127.0.0.1")));
        assert!(nets[1].contains(&ip("::ffff:127.0.0.1")));
        assert!(!nets[1].contains(&ip("127.0.0.2")));
        assert!(nets[2].contains(&ip("fd12::1")));
        assert!(!nets[2].contains(&ip("10.0.0.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(&ip("8.8.8.8")));
        assert!(IpNet::parse("::/0").unwrap().contains(&ip("2001:db8::1")));
        assert_eq!(IpNet::parse_list(" ").unwrap(), vec![]);
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/", "::/129"] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_peer_unless_it_is_a_trusted_proxy() {
        let trusted = IpNet::parse_list("10.0.0.0/8,127.0.0.1").unwrap();
        let of = |peer: &str, xff: &[&str], trusted: &[IpNet]| {
            Client::of(Some(ip(peer)), xff.iter().copied(), trusted)
        };
        // An untrusted peer: its header is ignored.
        assert_eq!(
            of("203.0.113.9", &["1.2.3.4"], &trusted),
            Client::ip(ip("203.0.113.9"))
        );
        assert_eq!(
            of("127.0.0.1", &["1.2.3.4"], &[]),
            Client::ip(ip("127.0.0.1"))
        );
        // Through proxies: the right-most untrusted address, whatever the client wrote left.
        assert_eq!(
            of("127.0.0.1", &["6.6.6.6, 1.2.3.4", "10.1.1.1"], &trusted),
            Client::ip(ip("1.2.3.4"))
        );
        assert_eq!(
            of("10.0.0.1", &["garbage, 10.0.0.2"], &trusted),
            Client::ip(ip("10.0.0.2"))
        );
        assert_eq!(of("127.0.0.1", &[], &trusted), Client::ip(ip("127.0.0.1")));
        assert_eq!(Client::of(None, [].into_iter(), &trusted), Client::UNKNOWN);
        // One IPv6 host's /64 is one client.
        assert_eq!(
            Client::ip(ip("2001:db8:1:2::1")),
            Client::ip(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Client::ip(ip("2001:db8:1:2::1")),
            Client::ip(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn one_clients_flood_leaves_the_others_their_quota() {
        let l = AuthLimits::new(None);
        let (a, b) = (Client::ip(ip("192.0.2.1")), Client::ip(ip("192.0.2.2")));
        let admitted = (0..LOOKUP_BURST * 3)
            .filter(|_| l.admit_lookup(a).is_ok())
            .count() as u32;
        assert!(
            (LOOKUP_BURST..LOOKUP_BURST * 2).contains(&admitted),
            "{admitted}"
        );
        assert!(l.admit_lookup(b).is_ok());
        // Many clients: the ceiling holds them all.
        let all = (0..ALL_LOOKUP_BURST * 2)
            .filter(|i| {
                l.admit_lookup(Client::ip(IpAddr::from((*i).to_be_bytes())))
                    .is_ok()
            })
            .count() as u32;
        assert!(all < ALL_LOOKUP_BURST + ALL_LOOKUPS_PER_SECOND, "{all}");
    }

    #[test]
    fn clients_remembered_are_bounded() {
        let l = AuthLimits::new(None);
        for i in 0..(MAX_CLIENTS as u32) * 3 {
            let _ = l.admit_lookup(Client::ip(IpAddr::from(i.to_be_bytes())));
            assert!(l.lookup_clients() <= MAX_CLIENTS + 1);
        }
    }
}
