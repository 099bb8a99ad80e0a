//! Which addresses an event endpoint may not point at: a tenant's webhook URL must not reach
//! the gateway's own machine or network (loopback, private, link-local — cloud metadata at
//! 169.254.169.254 — carrier-grade NAT, unique-local IPv6, multicast, unspecified), unless
//! the installation allows it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an installation allows endpoints to reach besides the public internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkPolicy {
    /// Loopback addresses (a development installation: `serve --sandbox`).
    pub allow_loopback: bool,
    /// Every private, loopback and link-local range, and the IPv6 ranges that carry an IPv4
    /// address (an IPv6-only network reaches IPv4 hosts through NAT64)
    /// (`OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS`).
    pub allow_private: bool,
}

/// Why `ip` may not be reached under `policy`, or `None` when it may.
pub fn refusal(ip: IpAddr, policy: NetworkPolicy) -> Option<&'static str> {
    let (kind, loopback) = classify(ip)?;
    if kind == "unspecified" || kind == "multicast" || kind == "broadcast" {
        return Some(kind);
    }
    if policy.allow_private || (loopback && policy.allow_loopback) {
        None
    } else {
        Some(kind)
    }
}

/// The non-public range `ip` is in (and whether it is loopback), if any.
fn classify(ip: IpAddr) -> Option<(&'static str, bool)> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<(&'static str, bool)> {
    let o = ip.octets();
    Some(if ip.is_loopback() {
        ("loopback", true)
    } else if ip.is_unspecified() || o[0] == 0 {
        ("unspecified", false)
    } else if ip.is_private() {
        ("private", false)
    } else if ip.is_link_local() {
        ("link-local", false)
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        ("carrier-grade NAT", false)
    } else if ip.is_multicast() {
        ("multicast", false)
    } else if ip.is_broadcast() {
        ("broadcast", false)
    } else if o[0] >= 240 {
        ("reserved", false)
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<(&'static str, bool)> {
    let s = ip.segments();
    let first = s[0];
    Some(if ip.is_loopback() {
        ("loopback", true)
    } else if ip.is_unspecified() {
        ("unspecified", false)
    } else if s[..6] == [0; 6] {
        // `::a.b.c.d` (`::/96`, deprecated): a translator may take it for the IPv4 address.
        ("IPv4-compatible", false)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1] {
        // `64:ff9b::/96` and the local-use `64:ff9b:1::/48`: the IPv4 address of the last 32
        // bits, reached through the network's NAT64 (which may reach its private ranges).
        ("NAT64", false)
    } else if first == 0x2002 {
        // `2002::/16`: an IPv4 address in bits 16 to 48, reached through a 6to4 relay.
        ("6to4", false)
    } else if s[..2] == [0x2001, 0] {
        // `2001::/32`: a Teredo tunnel, whose client's IPv4 address is carried obfuscated.
        ("Teredo", false)
    } else if first & 0xfe00 == 0xfc00 {
        ("unique-local", false)
    } else if first & 0xffc0 == 0xfe80 {
        ("link-local", false)
    } else if first & 0xffc0 == 0xfec0 {
        // `fec0::/10`: deprecated, but still routed inside some sites.
        ("site-local", false)
    } else if ip.is_multicast() {
        ("multicast", false)
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str, policy: NetworkPolicy) -> Option<&'static str> {
        refusal(ip.parse().unwrap(), policy)
    }

    #[test]
    fn public_addresses_are_reachable_and_internal_ones_are_not() {
        let strict = NetworkPolicy::default();
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "100.128.0.1",
        ] {
            assert_eq!(refused(ip, strict), None, "{ip}");
        }
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
        ] {
            assert_eq!(refused(ip, strict), Some(why), "{ip}");
        }
        assert_eq!(
            refused("172.32.0.1", strict),
            None,
            "just outside 172.16/12"
        );
    }

    #[test]
    fn ipv6_addresses_that_carry_an_ipv4_address_are_refused_as_ranges() {
        let strict = NetworkPolicy::default();
        for (ip, why) in [
            // NAT64, whatever the IPv4 address inside (public ones too).
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b::a00:5", "NAT64"),
            ("64:ff9b::808:808", "NAT64"),
            ("64:ff9b:1::a00:5", "NAT64"),
            ("64:ff9b:1:ffff::1", "NAT64"),
            // IPv4-compatible `::a.b.c.d`.
            ("::127.0.0.1", "IPv4-compatible"),
            ("::10.0.0.5", "IPv4-compatible"),
            ("::8.8.8.8", "IPv4-compatible"),
            ("::2", "IPv4-compatible"),
            // 6to4.
            ("2002:7f00:1::1", "6to4"),
            ("2002:808:808::1", "6to4"),
            // Teredo.
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001::1", "Teredo"),
            // Site-local.
            ("fec0::1", "site-local"),
            ("feff:ffff::1", "site-local"),
            // IPv4-mapped: the IPv4 address itself.
            ("::ffff:10.0.0.5", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:0.0.0.0", "unspecified"),
        ] {
            assert_eq!(refused(ip, strict), Some(why), "{ip}");
        }
        // Just outside each range, and a public IPv4-mapped address: reachable.
        for ip in [
            "::ffff:8.8.8.8",
            "64:ff9b:0:0:0:1::1",
            "64:ff9b:2::1",
            "65:ff9b::1",
            "2003::1",
            "2001:1::1",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(refused(ip, strict), None, "{ip}");
        }
        // Still loopback and unspecified, not IPv4-compatible.
        assert_eq!(refused("::1", strict), Some("loopback"));
        assert_eq!(refused("::", strict), Some("unspecified"));
        // An installation that allows its private networks allows these too (an IPv6-only
        // network reaches IPv4 hosts through NAT64); loopback alone does not.
        let sandbox = NetworkPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert_eq!(refused("::127.0.0.1", sandbox), Some("IPv4-compatible"));
        assert_eq!(refused("64:ff9b::7f00:1", sandbox), Some("NAT64"));
        let open = NetworkPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        assert_eq!(refused("64:ff9b::808:808", open), None);
    }

    #[test]
    fn installations_may_allow_loopback_or_every_private_range() {
        let sandbox = NetworkPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert_eq!(refused("127.0.0.1", sandbox), None);
        assert_eq!(refused("::1", sandbox), None);
        assert_eq!(refused("10.0.0.5", sandbox), Some("private"));
        let open = NetworkPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        for ip in ["127.0.0.1", "10.0.0.5", "169.254.169.254", "fd00::1"] {
            assert_eq!(refused(ip, open), None, "{ip}");
        }
        // Never an address to deliver to, whatever the policy.
        assert_eq!(refused("0.0.0.0", open), Some("unspecified"));
        assert_eq!(refused("224.0.0.1", open), Some("multicast"));
    }
}
