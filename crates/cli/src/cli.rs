//! The command tree.

use clap::{Args, Parser, Subcommand};

use crate::settings::Settings;

/// OpenBSP: a self-hosted WhatsApp Business messaging gateway.
#[derive(Debug, Parser)]
#[command(name = "openbsp", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Run the Cloud API simulator on its own.
    Simulator(SimulatorArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCmd),
    /// Manage Meta apps.
    #[command(subcommand)]
    App(AppCmd),
    /// Manage channels (business phone numbers).
    #[command(subcommand)]
    Channel(ChannelCmd),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Also run the Cloud API simulator in-process, with a demo tenant, channel and key.
    #[arg(long)]
    pub sandbox: bool,
    /// Listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "OPENBSP_LISTEN")]
    pub listen: Option<String>,
    /// Where the sandbox's simulator listens [default: 127.0.0.1:8081].
    #[arg(long, env = "OPENBSP_SIMULATOR_LISTEN")]
    pub simulator_listen: Option<String>,
    /// How long the Cloud-API-compatible send waits for Meta's answer, ms [default: 5000].
    #[arg(long, env = "OPENBSP_CLOUD_API_WAIT_MS")]
    pub cloud_api_wait_ms: Option<u64>,
    /// Graph API request timeout, ms [default: 15000].
    #[arg(long, env = "OPENBSP_SENDER_REQUEST_TIMEOUT_MS")]
    pub sender_request_timeout_ms: Option<u64>,
    /// After how long an in-flight send is presumed orphaned by a crash, ms [default: 45000].
    #[arg(long, env = "OPENBSP_SENDER_INFLIGHT_TIMEOUT_MS")]
    pub sender_inflight_timeout_ms: Option<u64>,
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
    /// How many days events and webhook delivery attempts are kept [default: 30].
    #[arg(long, env = "OPENBSP_EVENTS_RETENTION_DAYS")]
    pub events_retention_days: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct SimulatorArgs {
    /// Listen address.
    #[arg(
        long,
        env = "OPENBSP_SIMULATOR_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: String,
    /// Register one phone number at start: its id.
    #[arg(long)]
    pub phone_number_id: Option<String>,
    /// The number's display number.
    #[arg(long, default_value = "15550100001")]
    pub display_phone_number: String,
    /// The number's WABA id.
    #[arg(long, default_value = "200000000000001")]
    pub waba_id: String,
    /// The access token the simulator expects.
    #[arg(long, env = "OPENBSP_SIMULATOR_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// The app secret that signs its webhooks.
    #[arg(long, env = "OPENBSP_SIMULATOR_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// Where it delivers webhooks (the gateway's `/webhooks/whatsapp`).
    #[arg(long)]
    pub webhook_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Create an API key (shown once).
    Create {
        /// The tenant it acts for.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value = "default")]
        name: String,
        /// An admin key (for the admin API) instead of a tenant key.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCmd {
    /// Add a Meta app.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "default")]
        name: String,
        /// The app secret (signs Meta's webhooks).
        #[arg(long, env = "OPENBSP_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// The webhook verify token.
        #[arg(long, env = "OPENBSP_VERIFY_TOKEN", hide_env_values = true)]
        verify_token: String,
        #[arg(long)]
        meta_app_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// Add a channel (a business phone number).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        app: String,
        #[arg(long)]
        phone_number_id: String,
        #[arg(long)]
        waba_id: String,
        #[arg(long)]
        display_phone_number: String,
        /// Graph API access token.
        #[arg(long, env = "OPENBSP_ACCESS_TOKEN", hide_env_values = true)]
        access_token: String,
        /// Graph base URL [default: https://graph.facebook.com].
        #[arg(long)]
        graph_base_url: Option<String>,
        /// Graph version for sends [default: v23.0].
        #[arg(long)]
        graph_version: Option<String>,
        /// Messages per second [default: 80].
        #[arg(long)]
        throughput_mps: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// List channels.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(&cli.global)?;
    match cli.command {
        Command::Serve(args) => crate::serve::run(settings, args).await,
        Command::Simulator(args) => crate::serve::simulator(settings, args).await,
        Command::Migrate => {
            settings.init_logging(false)?;
            let store = settings.open_store().await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::Tenant(c) => crate::admin::tenant(settings, c).await,
        Command::Apikey(c) => crate::admin::api_key(settings, c).await,
        Command::App(c) => crate::admin::app(settings, c).await,
        Command::Channel(c) => crate::admin::channel(settings, c).await,
    }
}
