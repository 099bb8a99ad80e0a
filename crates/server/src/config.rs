//! Settings of the gateway. The CLI fills them from flags, `OPENBSP_*` variables and the
//! config file; tests build them directly.

use std::net::SocketAddr;
use std::time::Duration;

use openbsp_domain::crypto::MasterKey;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`OPENBSP_LISTEN`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Master key for secrets at rest.
    pub master_key: MasterKey,
    /// The gateway's address as the outside world reaches it, without a trailing slash
    /// (`OPENBSP_PUBLIC_URL`), for links in webhooks; when not set, the gateway fills in
    /// `http://<the address it listens on>` at start.
    pub public_url: Option<String>,
    /// Sender tuning.
    pub sender: SenderConfig,
    /// How long the Cloud-API-compatible send waits for Meta's answer before it returns the
    /// gateway id with `message_status: "queued"`.
    pub cloud_api_wait: Duration,
    /// Largest request body on the API.
    pub max_body_bytes: usize,
    /// Inbound texts that opt the user out of marketing (compared trimmed and
    /// case-insensitively with the whole message; `OPENBSP_OPT_OUT_KEYWORDS`).
    pub opt_out_keywords: Vec<String>,
    /// Inbound texts that opt the user back in (`OPENBSP_OPT_IN_KEYWORDS`).
    pub opt_in_keywords: Vec<String>,
    /// How often the session closer looks for lapsed sessions at most (it also wakes on
    /// time for the next one to lapse).
    pub session_closer_interval: Duration,
    /// Which non-public addresses webhook endpoints may point at
    /// (`OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS`; the sandbox allows loopback).
    pub webhook_network: openbsp_domain::netguard::NetworkPolicy,
    /// How events are delivered to webhook endpoints.
    pub delivery: DeliveryConfig,
    /// How long after a campaign message an answer from its recipient counts as a reply to
    /// it (`OPENBSP_CAMPAIGN_REPLY_WINDOW_HOURS`, default 72 hours).
    pub campaign_reply_window: Duration,
    /// Where media bytes live.
    pub media: MediaStoreConfig,
    /// How long a media unused (not stored, sent or read) is kept
    /// (`OPENBSP_MEDIA_RETENTION_DAYS`, default 30 days).
    pub media_retention: Duration,
    /// The inbound media fetcher.
    pub media_fetch: MediaFetchConfig,
    /// Who may read `GET /metrics` (installation-wide counts and database gauges).
    pub metrics: MetricsAccess,
    /// Each API key's request rate (`OPENBSP_API_RATE_LIMIT`, `100/s` or `100/s,burst=200`);
    /// `None`: unlimited.
    pub api_rate_limit: Option<crate::core::limits::KeyRate>,
    /// The proxies in front of the gateway (`OPENBSP_TRUSTED_PROXIES`, `10.0.0.0/8,127.0.0.1`):
    /// from one of them, a request's client is read from `X-Forwarded-For` (the right-most
    /// address that is none of them) for the authentication limits, which count by client.
    /// Empty: the TCP peer is the client, and the header is ignored (anyone can write it).
    pub trusted_proxies: Vec<crate::core::limits::IpNet>,
}

/// Who may read the metrics. With neither setting, `/metrics` is not served at all.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// A bearer token that `GET /metrics` on the API's address requires
    /// (`OPENBSP_METRICS_TOKEN`); without one, the API's address does not serve metrics.
    pub token: Option<String>,
    /// A separate address serving only `GET /metrics`, without credentials
    /// (`OPENBSP_METRICS_LISTEN`): for a scraper on a private network.
    pub listen: Option<SocketAddr>,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("listen", &self.listen)
            .finish()
    }
}

/// How long a media unused is kept, by default.
pub const DEFAULT_MEDIA_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where media bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStoreConfig {
    /// In memory (tests: gone with the process).
    Memory,
    /// In a folder (`<data dir>/media` by default).
    Local(std::path::PathBuf),
    /// In a bucket of an S3-compatible store (several replicas share it).
    S3(S3Config),
}

/// An S3-compatible bucket (`OPENBSP_MEDIA_S3_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The store's URL, when not AWS's (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when not given).
    pub region: String,
    /// The access key id (else the environment's AWS credentials).
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which most S3-compatible stores want.
    pub path_style: bool,
}

impl std::fmt::Debug for S3Config {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// How long after a campaign message an answer counts as its reply, by default.
pub const DEFAULT_CAMPAIGN_REPLY_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// Delivery of events to the tenants' webhook endpoints.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The delays between attempts (`openbsp_domain::delivery::SCHEDULE_MS` by default: 5 s,
    /// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); an event gets one attempt more than there are
    /// delays.
    pub schedule: Vec<Duration>,
    /// How long one attempt may take, connection included.
    pub timeout: Duration,
    /// An endpoint whose every attempt failed for this long is disabled
    /// (`OPENBSP_WEBHOOKS_DISABLE_AFTER`, default 5 days).
    pub disable_after: Duration,
    /// Attempts in flight at once to one endpoint.
    pub concurrency: usize,
    /// Events read per pass of an endpoint's worker.
    pub batch: u32,
    /// How often a worker looks for events when nothing woke it (events written by another
    /// replica, retries coming due).
    pub poll_interval: Duration,
    /// How long events and delivery attempts are kept (`OPENBSP_EVENTS_RETENTION_DAYS`,
    /// default 30 days); an event still waiting for a retry is kept until it is done.
    pub retention: Duration,
    /// The most webhook endpoints a tenant may have (`OPENBSP_WEBHOOKS_MAX_PER_TENANT`,
    /// default 20): each costs a delivery worker and a connection pool.
    pub max_endpoints_per_tenant: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            schedule: openbsp_domain::delivery::SCHEDULE_MS
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            concurrency: 64,
            batch: 512,
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(30 * 24 * 3600),
            max_endpoints_per_tenant: 20,
        }
    }
}

/// Default STOP keywords.
pub const DEFAULT_OPT_OUT_KEYWORDS: &[&str] = &["STOP", "UNSUBSCRIBE"];
/// Default START keywords.
pub const DEFAULT_OPT_IN_KEYWORDS: &[&str] = &["START"];

/// Sender tuning.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Timeout of one Graph API request.
    pub request_timeout: Duration,
    /// How long a channel's sender lease lasts unless renewed (renewed every third of it): a
    /// replica that dies gives its channels up this long after its last renewal, and its sends
    /// in flight are then orphans whose outcome is unknown.
    pub lease_ttl: Duration,
    /// How long a send whose outcome is unknown waits for Meta's status webhook to reconcile
    /// it before it is sent again.
    pub reconcile_grace: Duration,
    /// First retry delay.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Attempts before a retryable failure becomes final.
    pub max_attempts: u32,
    /// How often the sender looks for due work when nothing wakes it.
    pub poll_interval: Duration,
    /// Meta's pair rate limit, by which sends to one recipient are spaced.
    pub pair_rule: openbsp_wire::pair::PairRule,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            request_timeout: Duration::from_secs(15),
            lease_ttl: Duration::from_secs(10),
            reconcile_grace: Duration::from_secs(60),
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(300),
            max_attempts: 12,
            poll_interval: Duration::from_millis(500),
            pair_rule: openbsp_wire::pair::PairRule::META,
        }
    }
}

impl SenderConfig {
    /// Checks the settings agree with each other; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.reconcile_grace <= self.request_timeout {
            return Err(format!(
                "sender.reconcile_grace ({:?}) must be longer than sender.request_timeout ({:?}), or a send still being posted by a replica that lost its lease could be sent again",
                self.reconcile_grace, self.request_timeout
            ));
        }
        if self.lease_ttl < Duration::from_millis(300) {
            return Err(format!(
                "sender.lease_ttl ({:?}) must be at least 300 ms",
                self.lease_ttl
            ));
        }
        if self.max_attempts == 0 {
            return Err("sender.max_attempts must be at least 1".into());
        }
        Ok(())
    }
}

/// The metrics token of [`Config::for_tests`].
pub const TEST_METRICS_TOKEN: &str = "test-metrics-token";

impl Config {
    /// Settings for a test or an embedded gateway: listen on a random port, with `master_key`.
    pub fn for_tests(master_key: MasterKey) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            master_key,
            public_url: None,
            sender: SenderConfig::default(),
            cloud_api_wait: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            opt_out_keywords: DEFAULT_OPT_OUT_KEYWORDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            opt_in_keywords: DEFAULT_OPT_IN_KEYWORDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            session_closer_interval: Duration::from_secs(30),
            // Tests run their receivers on this machine.
            webhook_network: openbsp_domain::netguard::NetworkPolicy {
                allow_loopback: true,
                allow_private: false,
            },
            // Retries in milliseconds rather than minutes.
            delivery: DeliveryConfig {
                schedule: [100, 200, 400, 800]
                    .into_iter()
                    .map(Duration::from_millis)
                    .collect(),
                timeout: Duration::from_secs(5),
                poll_interval: Duration::from_millis(100),
                ..DeliveryConfig::default()
            },
            campaign_reply_window: DEFAULT_CAMPAIGN_REPLY_WINDOW,
            media: MediaStoreConfig::Memory,
            metrics: MetricsAccess {
                token: Some(TEST_METRICS_TOKEN.to_string()),
                listen: None,
            },
            api_rate_limit: None,
            trusted_proxies: Vec::new(),
            media_retention: DEFAULT_MEDIA_RETENTION,
            // Retries in milliseconds rather than minutes.
            media_fetch: MediaFetchConfig {
                retry_base: Duration::from_millis(100),
                retry_max: Duration::from_secs(1),
                poll_interval: Duration::from_millis(100),
                ..MediaFetchConfig::default()
            },
        }
    }
}

/// How inbound media is fetched from Meta.
#[derive(Debug, Clone)]
pub struct MediaFetchConfig {
    /// How long a replica holds a download it claimed: a replica that dies mid-download
    /// leaves it to another (or to itself, restarted) this long after the claim.
    pub lease: Duration,
    /// Downloads at once per replica.
    pub concurrency: usize,
    /// Attempts before a download is given up (Meta keeps a user's media 7 days).
    pub max_attempts: u32,
    /// First retry delay, doubled each attempt up to `retry_max`.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How often due downloads are looked for without a wake.
    pub poll_interval: Duration,
}

impl Default for MediaFetchConfig {
    fn default() -> Self {
        MediaFetchConfig {
            lease: Duration::from_secs(300),
            concurrency: 4,
            max_attempts: 16,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(1),
        }
    }
}
