//! The HTTP client for addresses a tenant gives (webhook endpoints, their verification
//! handshake, a media source to fetch): keep-alive, no redirects (a redirect could lead
//! anywhere), and an address guard at connect time: the name is resolved again for every new
//! connection and refused if it now points at a private or loopback address (DNS rebinding
//! after the URL was checked). Event delivery builds one per endpoint (its own connection pool,
//! so a hanging endpoint holds only its own connections). It never goes through a proxy from
//! the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`): the guard would then see only the
//! proxy's address, and the proxy would reach whatever the tenant named. Its refusals never say
//! what an internal name resolves to, only the kind of address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use openbsp_domain::netguard::{self, NetworkPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves through the system and drops what the policy refuses.
struct GuardedResolver {
    policy: NetworkPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| netguard::refusal(a.ip(), policy).is_none())
                .collect();
            if allowed.is_empty() {
                // The kind of address, never the address: a tenant must not map the
                // gateway's network through its delivery log.
                let why = found
                    .first()
                    .and_then(|a| netguard::refusal(a.ip(), policy));
                let msg = match why {
                    Some(w) => format!("{host} resolves to a non-public address ({w})"),
                    None => format!("{host} resolves to no address"),
                };
                return Err(msg.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Why `url` may not be called under `policy` when its host is an address literal (the
/// resolver never sees those); `None` when it may, or when it is a name.
pub fn literal_refusal(url: &str, policy: NetworkPolicy) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    netguard::refusal(ip, policy).map(|w| format!("{ip} is a {w} address"))
}

/// A client for one endpoint of event delivery.
pub fn build(policy: NetworkPolicy, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    build_as(
        policy,
        timeout,
        concat!("openbsp-webhooks/", env!("CARGO_PKG_VERSION")),
    )
}

/// A guarded client that names itself `user_agent`.
pub fn build_as(
    policy: NetworkPolicy,
    timeout: Duration,
    user_agent: &str,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        // A proxy would resolve the name itself, past the guard.
        .no_proxy()
        .user_agent(user_agent)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_refused_addresses_are_not_connected_to() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let strict = NetworkPolicy::default();
        let client = build(strict, Duration::from_secs(2)).unwrap();
        let err = client
            .get("http://localhost:9/hook")
            .send()
            .await
            .unwrap_err();
        let chain = format!("{err:?}");
        assert!(chain.contains("non-public address (loopback)"), "{chain}");
        // The kind, never what the name resolves to.
        assert!(
            !chain.contains("127.0.0.1") && !chain.contains("::1"),
            "{chain}"
        );
        assert_eq!(
            literal_refusal("http://127.0.0.1:9/x", strict).as_deref(),
            Some("127.0.0.1 is a loopback address")
        );
        assert!(literal_refusal("http://[::1]:9/x", strict).is_some());
        assert_eq!(literal_refusal("https://93.184.216.34/x", strict), None);
        assert_eq!(literal_refusal("https://hooks.example.com/x", strict), None);
    }
}
