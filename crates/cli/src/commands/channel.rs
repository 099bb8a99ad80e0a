//! `openbsp channel add|update|list`: channels (business phone numbers, their access token
//! encrypted with the master key), straight in the database.

use clap::Subcommand;
use openbsp_server::core::admin::{self as provision, ChannelInput};
use openbsp_server::views::admin as views;
use serde_json::Value;

use crate::admin::{now, print};
use crate::settings::Settings;

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
        /// The messaging-limit tier of its business portfolio (TIER_250 … TIER_UNLIMITED),
        /// until its sender reads Meta's.
        #[arg(long)]
        messaging_tier: Option<String>,
        /// Its business portfolio, if not known by its WABA alone (numbers of one portfolio
        /// share its messaging limit).
        #[arg(long)]
        business_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change a channel: a new access token (a channel paused because Meta rejected the old
    /// one sends again), its throughput, its Graph base URL, its portfolio or the portfolio's
    /// messaging-limit tier.
    Update {
        /// The channel (`chn_…`).
        #[arg(long)]
        id: String,
        /// A new Graph API access token.
        #[arg(long)]
        access_token: Option<String>,
        /// Messages per second.
        #[arg(long)]
        throughput_mps: Option<u32>,
        /// Graph base URL.
        #[arg(long)]
        graph_base_url: Option<String>,
        /// The messaging-limit tier of its business portfolio (every channel of it).
        #[arg(long)]
        messaging_tier: Option<String>,
        /// Its business portfolio ("" for none: its WABA stands for it).
        #[arg(long)]
        business_id: Option<String>,
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

/// `openbsp channel …`
pub async fn run(s: Settings, c: ChannelCmd) -> anyhow::Result<()> {
    s.init_logging(false)?;
    let key = s.master_key()?;
    let store = s.open_store().await?;
    match c {
        ChannelCmd::Add {
            tenant,
            app,
            phone_number_id,
            waba_id,
            display_phone_number,
            access_token,
            graph_base_url,
            graph_version,
            throughput_mps,
            messaging_tier,
            business_id,
            json,
        } => {
            let ch = provision::add_channel(
                store.as_ref(),
                &key,
                ChannelInput {
                    tenant_id: tenant,
                    app_id: app,
                    phone_number_id,
                    waba_id,
                    display_phone_number,
                    access_token,
                    graph_base_url,
                    graph_version,
                    throughput_mps,
                    messaging_tier,
                    business_id,
                },
                now(),
            )
            .await?;
            print(json, &views::channel_json(&ch), || {
                format!(
                    "added channel {} (phone_number_id {})",
                    ch.id, ch.phone_number_id
                )
            });
        }
        ChannelCmd::Update {
            id,
            access_token,
            throughput_mps,
            graph_base_url,
            messaging_tier,
            business_id,
            json,
        } => {
            if access_token.is_none()
                && throughput_mps.is_none()
                && graph_base_url.is_none()
                && messaging_tier.is_none()
                && business_id.is_none()
            {
                anyhow::bail!(
                    "nothing to change: give --access-token, --throughput-mps, --graph-base-url, --messaging-tier or --business-id"
                );
            }
            let ch = provision::update_channel(
                store.as_ref(),
                &key,
                &id,
                provision::ChannelUpdate {
                    access_token,
                    throughput_mps,
                    graph_base_url,
                    messaging_tier,
                    business_id,
                },
                now(),
            )
            .await?;
            print(json, &views::channel_json(&ch), || {
                format!(
                    "updated channel {} ({}, {} mps)",
                    ch.id,
                    if ch.paused_at.is_some() {
                        "paused"
                    } else {
                        "active"
                    },
                    ch.throughput_mps
                )
            });
        }
        ChannelCmd::List { tenant, json } => {
            let cs = store.list_channels(tenant.as_deref()).await?;
            let v: Vec<Value> = cs.iter().map(views::channel_json).collect();
            print(json, &Value::Array(v), || {
                cs.iter()
                    .map(|c| {
                        format!(
                            "{}  {}  +{}  {} mps  {}",
                            c.id,
                            c.phone_number_id,
                            c.display_phone_number,
                            c.throughput_mps,
                            c.graph_base_url
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
