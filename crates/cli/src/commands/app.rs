//! `openbsp app add`: Meta apps (their secret and verify token encrypted with the master
//! key), straight in the database.

use clap::Subcommand;
use openbsp_server::core::admin::{self as provision, AppInput};
use openbsp_server::views::admin as views;

use crate::admin::{now, print};
use crate::settings::Settings;

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

/// `openbsp app …`
pub async fn run(s: Settings, c: AppCmd) -> anyhow::Result<()> {
    s.init_logging(false)?;
    let key = s.master_key()?;
    let store = s.open_store().await?;
    let AppCmd::Add {
        tenant,
        name,
        app_secret,
        verify_token,
        meta_app_id,
        json,
    } = c;
    let a = provision::add_app(
        store.as_ref(),
        &key,
        AppInput {
            tenant_id: tenant,
            name,
            app_secret,
            verify_token,
            meta_app_id,
        },
        now(),
    )
    .await?;
    print(json, &views::app_json(&a), || {
        format!("added app {} ({})", a.id, a.name)
    });
    Ok(())
}
