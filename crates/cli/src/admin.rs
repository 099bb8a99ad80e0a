//! Admin commands: they open the database directly and call the same provisioning functions as
//! the admin API. `--json` prints the created object as JSON.

use openbsp_server::core::admin::{self as provision, AppInput, ChannelInput};
use openbsp_server::views::admin as views;
use serde_json::Value;

use crate::cli::{ApiKeyCmd, AppCmd, ChannelCmd, TenantCmd};
use crate::settings::Settings;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn print(json: bool, v: &Value, human: impl FnOnce() -> String) {
    if json {
        println!("{v}");
    } else {
        println!("{}", human());
    }
}

/// `openbsp tenant …`
pub async fn tenant(s: Settings, c: TenantCmd) -> anyhow::Result<()> {
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

/// `openbsp apikey …`
pub async fn api_key(s: Settings, c: ApiKeyCmd) -> anyhow::Result<()> {
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

/// `openbsp app …`
pub async fn app(s: Settings, c: AppCmd) -> anyhow::Result<()> {
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

/// `openbsp channel …`
pub async fn channel(s: Settings, c: ChannelCmd) -> anyhow::Result<()> {
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
                    messaging_tier: None,
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
