//! `openbsp apikey create`: API keys (tenant or admin), straight in the database; the key
//! is shown once.

use clap::Subcommand;
use openbsp_server::core::admin as provision;
use openbsp_server::views::admin as views;

use crate::admin::{now, print};
use crate::settings::Settings;

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

/// `openbsp apikey …`
pub async fn run(s: Settings, c: ApiKeyCmd) -> anyhow::Result<()> {
    s.init_logging(false)?;
    let store = s.open_store().await?;
    let ApiKeyCmd::Create {
        tenant,
        name,
        admin,
        json,
    } = c;
    let (k, secret) =
        provision::create_api_key(store.as_ref(), tenant.as_deref(), &name, admin, now()).await?;
    print(json, &views::api_key_json(&k, Some(&secret)), || {
        format!(
            "created API key {} — this is the only time it is shown:\n{secret}",
            k.id
        )
    });
    Ok(())
}
