//! Settings resolution: a flag, else its `OPENBSP_*` variable (clap reads both), else the
//! config file's key, else the documented default. A bad value fails at start with a message
//! naming the key. The global flags every command shares ([`GlobalArgs`]) live here too.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use openbsp_domain::crypto::MasterKey;
use openbsp_store::Store;

/// Settings every command shares (flag, `OPENBSP_*` variable, or config-file key).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file (TOML); its keys are the long flag names with `_` for `-`.
    #[arg(long, global = true, env = "OPENBSP_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, global = true, env = "OPENBSP_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL: `sqlite://FILE` or `postgres://…` [default: SQLite in the data directory].
    #[arg(
        long,
        global = true,
        env = "OPENBSP_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Master key for secrets at rest (32 bytes, base64 or hex) [default: the key file in the
    /// data directory, created on first use].
    #[arg(
        long,
        global = true,
        env = "OPENBSP_MASTER_KEY",
        hide_env_values = true
    )]
    pub master_key: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, global = true, env = "OPENBSP_LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// Keys the config file may hold.
const KNOWN_KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "master_key",
    "log_format",
    "listen",
    "simulator_listen",
    "cloud_api_wait_ms",
    "sender_request_timeout_ms",
    "sender_lease_ttl_ms",
    "sender_reconcile_grace_ms",
    "sender_retry_base_ms",
    "sender_poll_interval_ms",
    "sender_pair_period_ms",
    "sender_pair_burst",
    "opt_out_keywords",
    "opt_in_keywords",
    "events_retention_days",
    "campaign_reply_window_hours",
    "media_s3_bucket",
    "media_s3_endpoint",
    "media_s3_region",
    "media_s3_access_key_id",
    "media_s3_path_style",
    "media_retention_days",
    "public_url",
    "api_rate_limit",
    "trusted_proxies",
    "metrics_token",
    "metrics_listen",
    "webhooks_allow_private_networks",
    "webhooks_timeout_ms",
    "webhooks_max_per_tenant",
    "webhooks_retry_schedule_ms",
    "webhooks_disable_after_ms",
];

/// Resolved settings shared by every command.
pub struct Settings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    master_key: Option<String>,
    log_format: String,
    file: toml::Table,
}

impl Settings {
    /// Resolves the global settings.
    pub fn load(g: &GlobalArgs) -> anyhow::Result<Settings> {
        let file = match &g.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let table: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
                for key in table.keys() {
                    if !KNOWN_KEYS.contains(&key.as_str()) {
                        bail!(
                            "config file {}: unknown key `{key}` (known: {})",
                            path.display(),
                            KNOWN_KEYS.join(", ")
                        );
                    }
                }
                table
            }
            None => toml::Table::new(),
        };
        let mut s = Settings {
            data_dir: PathBuf::new(),
            database_url: String::new(),
            master_key: None,
            log_format: String::new(),
            file,
        };
        s.data_dir = s.pick(g.data_dir.clone(), "data_dir", PathBuf::from("./data"))?;
        let default_db = format!("sqlite://{}", s.data_dir.join("openbsp.db").display());
        s.database_url = s.pick(g.database_url.clone(), "database_url", default_db)?;
        s.master_key = s.pick_opt(g.master_key.clone(), "master_key")?;
        s.log_format = s.pick(g.log_format.clone(), "log_format", "text".to_string())?;
        if s.log_format != "text" && s.log_format != "json" {
            bail!(
                "log_format (OPENBSP_LOG_FORMAT) must be `text` or `json`, got `{}`",
                s.log_format
            );
        }
        Ok(s)
    }

    /// `flag` if given, else the config file's `key`, else `default`.
    pub fn pick<T: FromStr>(&self, flag: Option<T>, key: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        Ok(self.pick_opt(flag, key)?.unwrap_or(default))
    }

    /// A duration given in milliseconds: `flag`, else the config file's `key`, else `default`.
    pub fn duration_ms(
        &self,
        flag: Option<u64>,
        key: &str,
        default: std::time::Duration,
    ) -> anyhow::Result<std::time::Duration> {
        Ok(self
            .pick_opt(flag, key)?
            .map(std::time::Duration::from_millis)
            .unwrap_or(default))
    }

    /// `flag` if given, else the config file's `key`.
    pub fn pick_opt<T: FromStr>(&self, flag: Option<T>, key: &str) -> anyhow::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        if flag.is_some() {
            return Ok(flag);
        }
        let Some(v) = self.file.get(key) else {
            return Ok(None);
        };
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => anyhow::bail!("config key `{key}` must be a string or a number"),
        };
        text.parse::<T>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("config key `{key}`: invalid value `{text}`: {e}"))
    }

    /// The master key: the setting, or the key file in the data directory (created with mode
    /// 0600 on first use).
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        if let Some(text) = &self.master_key {
            return MasterKey::parse(text).context("master_key (OPENBSP_MASTER_KEY)");
        }
        let path = self.data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            return MasterKey::parse(&text).with_context(|| format!("key file {}", path.display()));
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        let (key, text) = MasterKey::generate();
        write_private(&path, &text)?;
        tracing::info!(path = %path.display(), "generated a new master key");
        Ok(key)
    }

    /// Opens (and migrates) the store.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        openbsp_store::open(&self.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the database (database_url = {})",
                    redact(&self.database_url)
                )
            })
    }

    /// Starts logging: `RUST_LOG` filters (default `info`, or `warn` for quiet commands).
    pub fn init_logging(&self, verbose: bool) -> anyhow::Result<()> {
        let default = if verbose { "info" } else { "warn" };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        // Colours only for a person at a terminal, never in files or log collectors.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        let res = if self.log_format == "json" {
            builder.json().flatten_event(true).try_init()
        } else {
            builder.try_init()
        };
        res.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
