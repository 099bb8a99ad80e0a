//! `openbsp apikey create|list|revoke`: API keys (tenant or admin), straight in the database;
//! a key is shown once, when it is created.

use clap::Subcommand;
use openbsp_server::core::admin as provision;
use openbsp_server::core::credentials;
use openbsp_server::views::admin as views;
use serde_json::Value;

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
    /// List API keys (never the keys themselves: their id, prefix and whether revoked).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key: it stops working at once (on PostgreSQL every running gateway is
    /// told; on SQLite a running gateway forgets its copy within 30 seconds). Revoking it
    /// again keeps the first time; the last live admin key cannot be revoked.
    Revoke {
        /// The key (`key_…`).
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// `openbsp apikey …`
pub async fn run(s: Settings, c: ApiKeyCmd) -> anyhow::Result<()> {
    s.init_logging(false)?;
    let store = s.open_store().await?;
    match c {
        ApiKeyCmd::Create {
            tenant,
            name,
            admin,
            json,
        } => {
            let (k, secret) =
                provision::create_api_key(store.as_ref(), tenant.as_deref(), &name, admin, now())
                    .await?;
            print(json, &views::api_key_json(&k, Some(&secret)), || {
                format!(
                    "created API key {} — this is the only time it is shown:\n{secret}",
                    k.id
                )
            });
        }
        ApiKeyCmd::List { tenant, json } => {
            let ks = store.list_api_keys(tenant.as_deref()).await?;
            let v: Vec<Value> = ks.iter().map(|k| views::api_key_json(k, None)).collect();
            print(json, &Value::Array(v), || {
                ks.iter()
                    .map(|k| {
                        format!(
                            "{}  {}…  {}  {}  {}",
                            k.id,
                            k.key_prefix,
                            k.tenant_id.as_deref().unwrap_or("admin"),
                            k.name,
                            if k.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "live"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ApiKeyCmd::Revoke { id, json } => {
            let k = credentials::revoke_api_key(store.as_ref(), &id, now()).await?;
            credentials::tell_replicas(store.as_ref()).await;
            print(json, &views::api_key_json(&k, None), || {
                format!("revoked API key {} ({})", k.id, k.name)
            });
        }
    }
    Ok(())
}
