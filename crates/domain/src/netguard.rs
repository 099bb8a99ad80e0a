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
    /// Every private, loopback and link-local range (`OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS`).
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
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        ("loopback", true)
    } else if ip.is_unspecified() {
        ("unspecified", false)
    } else if first & 0xfe00 == 0xfc00 {
        ("unique-local", false)
    } else if first & 0xffc0 == 0xfe80 {
        ("link-local", false)
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
