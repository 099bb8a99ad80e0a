//! `openbsp app add|list|update|rotate-secret`: Meta apps (their secret and verify token
//! encrypted with the master key), straight in the database.

use clap::Subcommand;
use openbsp_server::core::admin::{self as provision, AppInput};
use openbsp_server::core::credentials::{self, AppSecretRotation, AppUpdate};
use openbsp_server::views::admin as views;
use serde_json::Value;

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
    /// List apps (never their secrets).
    List {
        /// Only this tenant's apps.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change an app's label, Meta app id or webhook verify token (Meta's handshake answers
    /// to the new token alone from now on: change it here, then in Meta's dashboard).
    Update {
        /// The app (`app_…`).
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Meta's app id ("" for none).
        #[arg(long)]
        meta_app_id: Option<String>,
        /// A new webhook verify token (not read from `OPENBSP_VERIFY_TOKEN`: an update
        /// changes only what it names).
        #[arg(long)]
        verify_token: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Rotate an app's secret (after resetting it in Meta's dashboard): the new one verifies
    /// Meta's webhooks from now on, the previous one too until the overlap ends.
    RotateSecret {
        /// The app (`app_…`).
        id: String,
        /// The new app secret.
        #[arg(long, env = "OPENBSP_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// How long the previous secret keeps verifying, in seconds (0 to 604800; 0 retires
        /// it at once) [default: 86400].
        #[arg(long)]
        overlap_seconds: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

/// `openbsp app …`
pub async fn run(s: Settings, c: AppCmd) -> anyhow::Result<()> {
    s.init_logging(false)?;
    let key = s.master_key()?;
    let store = s.open_store().await?;
    let now = now();
    match c {
        AppCmd::Add {
            tenant,
            name,
            app_secret,
            verify_token,
            meta_app_id,
            json,
        } => {
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
                now,
            )
            .await?;
            print(json, &views::app_json(&a, now), || {
                format!("added app {} ({})", a.id, a.name)
            });
        }
        AppCmd::List { tenant, json } => {
            let apps = store.list_apps(tenant.as_deref()).await?;
            let v: Vec<Value> = apps.iter().map(|a| views::app_json(a, now)).collect();
            print(json, &Value::Array(v), || {
                apps.iter()
                    .map(|a| format!("{}  {}  {}", a.id, a.tenant_id, a.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AppCmd::Update {
            id,
            name,
            meta_app_id,
            verify_token,
            json,
        } => {
            if name.is_none() && meta_app_id.is_none() && verify_token.is_none() {
                anyhow::bail!("nothing to change: give --name, --meta-app-id or --verify-token");
            }
            let update = AppUpdate {
                name,
                meta_app_id,
                verify_token,
            };
            let a = credentials::update_app(store.as_ref(), &key, &id, update).await?;
            credentials::tell_replicas(store.as_ref()).await;
            print(json, &views::app_json(&a, now), || {
                format!("updated app {} ({})", a.id, a.name)
            });
        }
        AppCmd::RotateSecret {
            id,
            app_secret,
            overlap_seconds,
            json,
        } => {
            let rotation = AppSecretRotation {
                app_secret,
                overlap_seconds,
            };
            let a =
                credentials::rotate_app_secret(store.as_ref(), &key, &id, rotation, now).await?;
            credentials::tell_replicas(store.as_ref()).await;
            let v = views::app_json(&a, now);
            print(json, &v, || {
                match v["previous_secret_expires_at"].as_str() {
                    Some(until) => format!(
                        "rotated the secret of app {}; the previous one verifies until {until}",
                        a.id
                    ),
                    None => format!(
                        "rotated the secret of app {}; the previous one no longer verifies",
                        a.id
                    ),
                }
            });
        }
    }
    Ok(())
}
