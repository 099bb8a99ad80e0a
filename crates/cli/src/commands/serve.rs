//! `openbsp serve`: the gateway (with `--sandbox`, the simulator in-process and demo
//! objects wired to it), its flags, and how they become the gateway's settings.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use openbsp_server::config::{
    DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_OUT_KEYWORDS, DeliveryConfig, MediaStoreConfig, S3Config,
    SenderConfig,
};
use openbsp_server::{Config, Gateway};

use crate::settings::Settings;
use crate::signals::wait_for_signal;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Also run the Cloud API simulator in-process, with a demo tenant, channel and key.
    #[arg(long)]
    pub sandbox: bool,
    /// Listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "OPENBSP_LISTEN")]
    pub listen: Option<String>,
    /// The gateway's address as the outside world reaches it (`https://wa.example.com`), for
    /// the links it puts in webhooks (a Connectly attachment's URL) [default: http://<listen>].
    #[arg(long, env = "OPENBSP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A bearer token that `GET /metrics` on the API's address requires; without it (and
    /// without --metrics-listen) metrics are not served.
    #[arg(long, env = "OPENBSP_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// An address serving only `GET /metrics`, without credentials (for a scraper on a
    /// private network).
    #[arg(long, env = "OPENBSP_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Each API key's request rate, `100/s` or `100/s,burst=200`; past it, 429 with
    /// Retry-After [default: unlimited].
    #[arg(long, env = "OPENBSP_API_RATE_LIMIT")]
    pub api_rate_limit: Option<String>,
    /// The proxies in front of the gateway, addresses or ranges (`10.0.0.0/8,127.0.0.1`): from
    /// one of them, the client the authentication limits count is read from X-Forwarded-For
    /// [default: none, the TCP peer is the client].
    #[arg(long, env = "OPENBSP_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Where the sandbox's simulator listens [default: 127.0.0.1:8081].
    #[arg(long, env = "OPENBSP_SIMULATOR_LISTEN")]
    pub simulator_listen: Option<String>,
    /// How long the Cloud-API-compatible send waits for Meta's answer, ms [default: 5000].
    #[arg(long, env = "OPENBSP_CLOUD_API_WAIT_MS")]
    pub cloud_api_wait_ms: Option<u64>,
    /// Graph API request timeout, ms [default: 15000].
    #[arg(long, env = "OPENBSP_SENDER_REQUEST_TIMEOUT_MS")]
    pub sender_request_timeout_ms: Option<u64>,
    /// How long a channel's sender lease lasts unless renewed, ms [default: 10000]: a dead
    /// replica's channels are taken over this long after its last renewal.
    #[arg(long, env = "OPENBSP_SENDER_LEASE_TTL_MS")]
    pub sender_lease_ttl_ms: Option<u64>,
    /// How long an orphaned send waits for Meta's status webhook before it is resent, ms
    /// [default: 60000].
    #[arg(long, env = "OPENBSP_SENDER_RECONCILE_GRACE_MS")]
    pub sender_reconcile_grace_ms: Option<u64>,
    /// First retry delay, ms [default: 500].
    #[arg(long, env = "OPENBSP_SENDER_RETRY_BASE_MS")]
    pub sender_retry_base_ms: Option<u64>,
    /// How often idle workers look for due work, ms [default: 500].
    #[arg(long, env = "OPENBSP_SENDER_POLL_INTERVAL_MS")]
    pub sender_poll_interval_ms: Option<u64>,
    /// Meta's pair rate limit, by which sends to one recipient are spaced: one per this many
    /// ms [default: 6000].
    #[arg(long, env = "OPENBSP_SENDER_PAIR_PERIOD_MS")]
    pub sender_pair_period_ms: Option<u64>,
    /// Meta's pair rate limit: the largest burst to one recipient [default: 45].
    #[arg(long, env = "OPENBSP_SENDER_PAIR_BURST")]
    pub sender_pair_burst: Option<u32>,
    /// Comma-separated inbound texts that opt a user out of marketing templates (whole
    /// message, any case) [default: STOP,UNSUBSCRIBE]; empty to disable.
    #[arg(long, env = "OPENBSP_OPT_OUT_KEYWORDS")]
    pub opt_out_keywords: Option<String>,
    /// Comma-separated inbound texts that opt a user back in [default: START]; empty to
    /// disable.
    #[arg(long, env = "OPENBSP_OPT_IN_KEYWORDS")]
    pub opt_in_keywords: Option<String>,
    /// Let webhook endpoints point at loopback, private and link-local addresses (refused
    /// otherwise; the sandbox allows loopback) [default: false].
    #[arg(long, env = "OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS")]
    pub webhooks_allow_private_networks: Option<bool>,
    /// How long one webhook delivery attempt may take, ms [default: 15000].
    #[arg(long, env = "OPENBSP_WEBHOOKS_TIMEOUT_MS")]
    pub webhooks_timeout_ms: Option<u64>,
    /// Comma-separated delays between webhook delivery attempts, ms [default:
    /// 5000,300000,1800000,7200000,18000000,36000000,36000000]: one attempt more than delays.
    #[arg(long, env = "OPENBSP_WEBHOOKS_RETRY_SCHEDULE_MS")]
    pub webhooks_retry_schedule_ms: Option<String>,
    /// Disable an endpoint whose every delivery has failed for this long, ms [default: 5
    /// days].
    #[arg(long, env = "OPENBSP_WEBHOOKS_DISABLE_AFTER_MS")]
    pub webhooks_disable_after_ms: Option<u64>,
    /// The most webhook endpoints a tenant may have [default: 20].
    #[arg(long, env = "OPENBSP_WEBHOOKS_MAX_PER_TENANT")]
    pub webhooks_max_per_tenant: Option<u32>,
    /// How many days events, webhook delivery attempts and Meta's processed payloads are kept
    /// [default: 30].
    #[arg(long, env = "OPENBSP_EVENTS_RETENTION_DAYS")]
    pub events_retention_days: Option<u64>,
    /// How many hours after a campaign message an answer from its recipient counts as a
    /// reply to it [default: 72].
    #[arg(long, env = "OPENBSP_CAMPAIGN_REPLY_WINDOW_HOURS")]
    pub campaign_reply_window_hours: Option<u64>,
    /// Keep media in this bucket of an S3-compatible store rather than in the data
    /// directory's `media` folder (several replicas share it).
    #[arg(long, env = "OPENBSP_MEDIA_S3_BUCKET")]
    pub media_s3_bucket: Option<String>,
    /// The S3-compatible store's URL, when not AWS's (`http://127.0.0.1:9000`).
    #[arg(long, env = "OPENBSP_MEDIA_S3_ENDPOINT")]
    pub media_s3_endpoint: Option<String>,
    /// The bucket's region [default: us-east-1].
    #[arg(long, env = "OPENBSP_MEDIA_S3_REGION")]
    pub media_s3_region: Option<String>,
    /// The access key id (else the environment's AWS credentials).
    #[arg(long, env = "OPENBSP_MEDIA_S3_ACCESS_KEY_ID")]
    pub media_s3_access_key_id: Option<String>,
    /// The secret access key (an environment variable rather than a flag: flags show in `ps`).
    #[arg(
        long,
        env = "OPENBSP_MEDIA_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub media_s3_secret_access_key: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which most S3-compatible stores want
    /// [default: true when an endpoint is given].
    #[arg(long, env = "OPENBSP_MEDIA_S3_PATH_STYLE")]
    pub media_s3_path_style: Option<bool>,
    /// How many days a media unused (not stored, sent or read) is kept [default: 30].
    #[arg(long, env = "OPENBSP_MEDIA_RETENTION_DAYS")]
    pub media_retention_days: Option<u64>,
}

/// Where media bytes live: the S3 bucket if one is configured, else `<data dir>/media`.
fn media_store(s: &Settings, a: &ServeArgs) -> anyhow::Result<MediaStoreConfig> {
    let Some(bucket) = s.pick_opt(a.media_s3_bucket.clone(), "media_s3_bucket")? else {
        return Ok(MediaStoreConfig::Local(s.data_dir.join("media")));
    };
    let endpoint: Option<String> = s.pick_opt(a.media_s3_endpoint.clone(), "media_s3_endpoint")?;
    Ok(MediaStoreConfig::S3(S3Config {
        bucket,
        path_style: s.pick(
            a.media_s3_path_style,
            "media_s3_path_style",
            endpoint.is_some(),
        )?,
        endpoint,
        region: s.pick(
            a.media_s3_region.clone(),
            "media_s3_region",
            "us-east-1".to_string(),
        )?,
        access_key_id: s.pick_opt(a.media_s3_access_key_id.clone(), "media_s3_access_key_id")?,
        secret_access_key: a.media_s3_secret_access_key.clone(),
    }))
}

/// The public URL as given: an `http(s)` URL, kept without a trailing slash.
fn public_url(given: Option<String>) -> anyhow::Result<Option<String>> {
    let Some(u) = given.filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let parsed = url::Url::parse(u.trim())
        .with_context(|| format!("public_url (OPENBSP_PUBLIC_URL): `{u}` is not a URL"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some(),
        "public_url (OPENBSP_PUBLIC_URL): `{u}` is not an http(s) URL with a host"
    );
    Ok(Some(u.trim().trim_end_matches('/').to_string()))
}

/// Builds the gateway's settings.
fn gateway_config(s: &Settings, a: &ServeArgs) -> anyhow::Result<Config> {
    let listen: String = s.pick(a.listen.clone(), "listen", "127.0.0.1:8080".into())?;
    let d = SenderConfig::default();
    let sender = SenderConfig {
        request_timeout: s.duration_ms(
            a.sender_request_timeout_ms,
            "sender_request_timeout_ms",
            d.request_timeout,
        )?,
        lease_ttl: s.duration_ms(a.sender_lease_ttl_ms, "sender_lease_ttl_ms", d.lease_ttl)?,
        reconcile_grace: s.duration_ms(
            a.sender_reconcile_grace_ms,
            "sender_reconcile_grace_ms",
            d.reconcile_grace,
        )?,
        retry_base: s.duration_ms(a.sender_retry_base_ms, "sender_retry_base_ms", d.retry_base)?,
        poll_interval: s.duration_ms(
            a.sender_poll_interval_ms,
            "sender_poll_interval_ms",
            d.poll_interval,
        )?,
        pair_rule: openbsp_wire::pair::PairRule {
            period_ms: s
                .duration_ms(
                    a.sender_pair_period_ms,
                    "sender_pair_period_ms",
                    std::time::Duration::from_millis(d.pair_rule.period_ms as u64),
                )?
                .as_millis()
                .max(1) as i64,
            burst: s
                .pick(a.sender_pair_burst, "sender_pair_burst", d.pair_rule.burst)?
                .max(1),
        },
        ..d
    };
    sender.validate().map_err(|e| anyhow::anyhow!(e))?;
    let dd = DeliveryConfig::default();
    let schedule_default = dd
        .schedule
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let schedule = s
        .pick(
            a.webhooks_retry_schedule_ms.clone(),
            "webhooks_retry_schedule_ms",
            schedule_default,
        )?
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<u64>().map(Duration::from_millis).with_context(|| {
                format!("webhooks_retry_schedule_ms (OPENBSP_WEBHOOKS_RETRY_SCHEDULE_MS): `{d}` is not a number of ms")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let delivery = DeliveryConfig {
        schedule,
        timeout: s.duration_ms(a.webhooks_timeout_ms, "webhooks_timeout_ms", dd.timeout)?,
        disable_after: s.duration_ms(
            a.webhooks_disable_after_ms,
            "webhooks_disable_after_ms",
            dd.disable_after,
        )?,
        retention: Duration::from_secs(
            s.pick(a.events_retention_days, "events_retention_days", 30u64)?
                .saturating_mul(24 * 3600),
        ),
        max_endpoints_per_tenant: s.pick(
            a.webhooks_max_per_tenant,
            "webhooks_max_per_tenant",
            dd.max_endpoints_per_tenant,
        )?,
        ..dd
    };
    Ok(Config {
        listen: listen.parse().with_context(|| {
            format!("listen (OPENBSP_LISTEN): `{listen}` is not an address like 127.0.0.1:8080")
        })?,
        master_key: s.master_key()?,
        public_url: public_url(s.pick_opt(a.public_url.clone(), "public_url")?)?,
        api_rate_limit: match s.pick_opt(a.api_rate_limit.clone(), "api_rate_limit")? {
            Some(r) if !r.trim().is_empty() => Some(
                openbsp_server::core::limits::KeyRate::parse(&r)
                    .map_err(|e| anyhow::anyhow!("api_rate_limit (OPENBSP_API_RATE_LIMIT): {e}"))?,
            ),
            _ => None,
        },
        trusted_proxies: openbsp_server::core::limits::IpNet::parse_list(
            &s.pick_opt(a.trusted_proxies.clone(), "trusted_proxies")?
                .unwrap_or_default(),
        )
        .map_err(|e| anyhow::anyhow!("trusted_proxies (OPENBSP_TRUSTED_PROXIES): {e}"))?,
        metrics: openbsp_server::config::MetricsAccess {
            token: s
                .pick_opt(a.metrics_token.clone(), "metrics_token")?
                .filter(|t| !t.is_empty()),
            listen: match s.pick_opt(a.metrics_listen.clone(), "metrics_listen")? {
                Some(l) => Some(l.parse().with_context(|| {
                    format!("metrics_listen (OPENBSP_METRICS_LISTEN): `{l}` is not an address like 127.0.0.1:9090")
                })?),
                None => None,
            },
        },
        sender,
        cloud_api_wait: s.duration_ms(
            a.cloud_api_wait_ms,
            "cloud_api_wait_ms",
            Duration::from_secs(5),
        )?,
        max_body_bytes: 1024 * 1024,
        opt_out_keywords: keywords(s.pick(
            a.opt_out_keywords.clone(),
            "opt_out_keywords",
            DEFAULT_OPT_OUT_KEYWORDS.join(","),
        )?),
        opt_in_keywords: keywords(s.pick(
            a.opt_in_keywords.clone(),
            "opt_in_keywords",
            DEFAULT_OPT_IN_KEYWORDS.join(","),
        )?),
        session_closer_interval: Duration::from_secs(30),
        webhook_network: openbsp_domain::netguard::NetworkPolicy {
            allow_loopback: a.sandbox,
            allow_private: s.pick(
                a.webhooks_allow_private_networks,
                "webhooks_allow_private_networks",
                false,
            )?,
        },
        delivery,
        campaign_reply_window: Duration::from_secs(
            s.pick(
                a.campaign_reply_window_hours,
                "campaign_reply_window_hours",
                openbsp_server::config::DEFAULT_CAMPAIGN_REPLY_WINDOW.as_secs() / 3600,
            )?
            .saturating_mul(3600),
        ),
        media: media_store(s, a)?,
        media_retention: Duration::from_secs(
            s.pick(
                a.media_retention_days,
                "media_retention_days",
                openbsp_server::config::DEFAULT_MEDIA_RETENTION.as_secs() / (24 * 3600),
            )?
            .saturating_mul(24 * 3600),
        ),
        media_fetch: Default::default(),
    })
}

/// A comma-separated keyword list, trimmed, empties dropped.
fn keywords(list: String) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub async fn run(s: Settings, a: ServeArgs) -> anyhow::Result<()> {
    s.init_logging(true)?;
    let config = gateway_config(&s, &a)?;
    let store = s.open_store().await?;
    if a.sandbox {
        let sim_listen: String = s.pick(
            a.simulator_listen.clone(),
            "simulator_listen",
            "127.0.0.1:8081".into(),
        )?;
        let sim_listen = sim_listen
            .parse()
            .with_context(|| format!("simulator_listen: `{sim_listen}` is not an address"))?;
        let sandbox = crate::sandbox::start(&s, config, store, sim_listen).await?;
        wait_for_signal().await;
        sandbox.gateway.shutdown().await;
        sandbox.simulator.shutdown().await;
    } else {
        let gateway = Gateway::start(config, store).await?;
        println!("OpenBSP listening on {}", gateway.url());
        wait_for_signal().await;
        gateway.shutdown().await;
    }
    Ok(())
}
