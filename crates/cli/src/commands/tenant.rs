//! `openbsp tenant create|list`: tenants, straight in the database.

use clap::Subcommand;
use openbsp_server::core::admin as provision;
use openbsp_server::views::admin as views;
use serde_json::Value;

use crate::admin::{now, print};
use crate::settings::Settings;

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

/// `openbsp tenant …`
pub async fn run(s: Settings, c: TenantCmd) -> anyhow::Result<()> {
    s.init_logging(false)?;
    let store = s.open_store().await?;
    match c {
        TenantCmd::Create { name, json } => {
            let t = provision::create_tenant(store.as_ref(), &name, now()).await?;
            print(json, &views::tenant_json(&t), || {
                format!("created tenant {} ({})", t.id, t.name)
            });
        }
        TenantCmd::List { json } => {
            let ts = store.list_tenants().await?;
            let v: Vec<Value> = ts.iter().map(views::tenant_json).collect();
            print(json, &Value::Array(v), || {
                ts.iter()
                    .map(|t| format!("{}  {}", t.id, t.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
