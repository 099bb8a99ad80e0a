//! The command tree: the global flags ([`GlobalArgs`], resolved by [`Settings`]) and one
//! subcommand per module of [`crate::commands`]. It only composes them and dispatches a
//! parsed command line to the subcommand's `run`.

use clap::{Parser, Subcommand};

use crate::commands::apikey::{self, ApiKeyCmd};
use crate::commands::app::{self, AppCmd};
use crate::commands::campaign::{self, CampaignArgs};
use crate::commands::channel::{self, ChannelCmd};
use crate::commands::migrate;
use crate::commands::openapi;
use crate::commands::serve::{self, ServeArgs};
use crate::commands::simulator::{self, SimulatorArgs};
use crate::commands::tenant::{self, TenantCmd};
use crate::settings::{GlobalArgs, Settings};

/// OpenBSP: a self-hosted WhatsApp Business messaging gateway.
#[derive(Debug, Parser)]
#[command(name = "openbsp", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(Box<ServeArgs>),
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
    /// Campaigns, through a running gateway: create, upload recipients, start, pause,
    /// resume, cancel, show, watch.
    Campaign(CampaignArgs),
    /// Print the native API's OpenAPI description (what `/openapi.json` serves).
    Openapi,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        // Campaign commands talk to a running gateway: they need none of its settings.
        Command::Campaign(args) => return campaign::run(args).await,
        // The description is the code's: it needs no settings either.
        Command::Openapi => return openapi::run(),
        other => other,
    };
    let settings = Settings::load(&cli.global)?;
    match command {
        Command::Serve(args) => serve::run(settings, *args).await,
        Command::Simulator(args) => simulator::run(settings, args).await,
        Command::Migrate => migrate::run(settings).await,
        Command::Tenant(c) => tenant::run(settings, c).await,
        Command::Apikey(c) => apikey::run(settings, c).await,
        Command::App(c) => app::run(settings, c).await,
        Command::Channel(c) => channel::run(settings, c).await,
        Command::Campaign(args) => campaign::run(args).await,
        Command::Openapi => openapi::run(),
    }
}
