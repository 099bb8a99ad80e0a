//! `serve --sandbox`: the simulator in-process, and a demo tenant, app, channel and API key
//! wired to it — provisioned once and reused on every later start (from `sandbox.json` in the
//! data directory).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use openbsp_domain::crypto::{hash_secret, random_token};
use openbsp_server::core::admin::{self as provision, AppInput, ChannelInput};
use openbsp_server::{Config, Gateway};
use openbsp_simulator::{
    Enforcement, InboundRequest, PhoneNumberConfig, Simulator, SimulatorConfig, SimulatorHandle,
    TemplateSeed,
};
use openbsp_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::settings::Settings;

/// The demo business number.
const PHONE_NUMBER_ID: &str = "100000000000001";
const WABA_ID: &str = "200000000000001";
const DISPLAY_NUMBER: &str = "15550100001";
/// The demo WhatsApp user.
const DEMO_USER: &str = "15550101234";
const DEMO_USER_NAME: &str = "Sandbox User";

/// What `sandbox.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub base_url: String,
    pub api_key: String,
    pub admin_api_key: String,
    pub tenant_id: String,
    pub app_id: String,
    pub channel_id: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub simulator_url: String,
    pub demo_user_wa_id: String,
}

/// The running sandbox.
pub struct Sandbox {
    pub gateway: Gateway,
    pub simulator: SimulatorHandle,
}

/// Starts simulator and gateway, provisions (or reuses) the demo objects, prints them.
pub async fn start(
    s: &Settings,
    config: Config,
    store: Arc<dyn Store>,
    sim_listen: SocketAddr,
) -> anyhow::Result<Sandbox> {
    let simulator = Simulator::start(SimulatorConfig {
        listen: sim_listen,
        ..SimulatorConfig::default()
    })
    .await
    .with_context(|| {
        format!("cannot start the simulator on {sim_listen} (OPENBSP_SIMULATOR_LISTEN)")
    })?;
    // Like Meta, the sandbox's simulator refuses free-form messages outside the user's 24-hour
    // window (131047), bursts to one user beyond the pair rate limit (131056), and templates
    // that are not approved or whose parameters do not fit (132xxx), so a demo shows what
    // production would do.
    simulator.set_enforcement(Enforcement {
        customer_service_window: true,
        pair_rate_limit: true,
        templates: true,
        ..Enforcement::default()
    });
    let key = config.master_key.clone();
    let path = s.data_dir.join("sandbox.json");
    let mut info = provision_demo(store.as_ref(), &key, &path, &simulator.url()).await?;
    let gateway = Gateway::start(config, store).await?;
    info.base_url = gateway.url();
    info.simulator_url = simulator.url();
    simulator.add_phone_number(PhoneNumberConfig {
        phone_number_id: info.phone_number_id.clone(),
        display_phone_number: info.display_phone_number.clone(),
        waba_id: info.waba_id.clone(),
        access_token: info.access_token.clone(),
        app_secret: info.app_secret.clone(),
        webhook_url: Some(format!("{}/webhooks/whatsapp", gateway.url())),
        throughput_mps: None,
    });
    // Besides Meta's `hello_world`, two approved templates to start conversations with.
    for request in [
        json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped and is on its way.",
             "example": {"body_text": [["Ana", "A-1001"]]}}]}),
        json!({"name": "spring_sale", "language": "en_US", "category": "MARKETING", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Spring sale"},
            {"type": "BODY", "text": "Hi {{1}}, everything in the shop is {{2}} off this week only.",
             "example": {"body_text": [["Ana", "20%"]]}},
            {"type": "FOOTER", "text": "Reply STOP to opt out"}]}),
    ] {
        simulator
            .seed_template(TemplateSeed::new(&info.waba_id, request))
            .map_err(|e| anyhow::anyhow!("sandbox: could not add a demo template: {e}"))?;
    }
    write_info(&path, &info)?;
    // The demo user writes first, as a real customer would: the conversation is open.
    simulator
        .inject_inbound(InboundRequest {
            phone_number_id: info.phone_number_id.clone(),
            from: Some(DEMO_USER.into()),
            from_user_id: None,
            name: Some(DEMO_USER_NAME.into()),
            message: json!({"type": "text", "text": {"body": "Hi! I'd like to know more."}}),
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!("sandbox: could not send the demo user's first message: {e}")
        })?;
    wait_for_open_window(&gateway, &info).await?;
    print_banner(&info, &path);
    Ok(Sandbox { gateway, simulator })
}

async fn provision_demo(
    store: &dyn Store,
    key: &openbsp_domain::crypto::MasterKey,
    path: &Path,
    simulator_url: &str,
) -> anyhow::Result<SandboxInfo> {
    let now = chrono::Utc::now().timestamp_millis();
    let previous: Option<SandboxInfo> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if let Some(mut info) = previous {
        let channel = store
            .find_channel_by_phone_number_id(&info.phone_number_id)
            .await?;
        let key_ok = store
            .find_api_key(&hash_secret(&info.api_key))
            .await?
            .is_some();
        let admin_ok = store
            .find_api_key(&hash_secret(&info.admin_api_key))
            .await?
            .is_some();
        if let (Some(mut ch), true, true) = (channel, key_ok, admin_ok) {
            // The simulator may listen elsewhere this time.
            ch.graph_base_url = simulator_url.to_string();
            ch.access_token_enc = key.encrypt(&info.access_token);
            ch.updated_at = now;
            store.update_channel(&ch).await?;
            info.simulator_url = simulator_url.to_string();
            return Ok(info);
        }
    }
    if store
        .find_channel_by_phone_number_id(PHONE_NUMBER_ID)
        .await?
        .is_some()
    {
        anyhow::bail!(
            "the sandbox's channel exists in this database but {} is missing or stale; use a fresh data directory (--data-dir) or restore the file",
            path.display()
        );
    }
    let app_secret = random_token(24);
    let verify_token = random_token(16);
    let access_token = format!("sandbox-{}", random_token(24));
    let provision::Provisioned {
        tenant,
        api_key,
        app,
        channel,
    } = provision::provision_sender(
        store,
        key,
        ("Sandbox", "sandbox"),
        AppInput {
            tenant_id: String::new(),
            name: "Sandbox app".into(),
            app_secret: app_secret.clone(),
            verify_token: verify_token.clone(),
            meta_app_id: None,
        },
        ChannelInput {
            tenant_id: String::new(),
            app_id: String::new(),
            phone_number_id: PHONE_NUMBER_ID.into(),
            waba_id: WABA_ID.into(),
            display_phone_number: DISPLAY_NUMBER.into(),
            access_token: access_token.clone(),
            graph_base_url: Some(simulator_url.to_string()),
            graph_version: None,
            throughput_mps: None,
            messaging_tier: Some("TIER_250".into()),
            business_id: None,
        },
        now,
    )
    .await?;
    let (_, admin_api_key) =
        provision::create_api_key(store, None, "sandbox-admin", true, now).await?;
    Ok(SandboxInfo {
        base_url: String::new(),
        api_key,
        admin_api_key,
        tenant_id: tenant.id,
        app_id: app.id,
        channel_id: channel.id,
        phone_number_id: PHONE_NUMBER_ID.into(),
        waba_id: WABA_ID.into(),
        display_phone_number: DISPLAY_NUMBER.into(),
        access_token,
        app_secret,
        verify_token,
        simulator_url: simulator_url.to_string(),
        demo_user_wa_id: DEMO_USER.into(),
    })
}

fn write_info(path: &Path, info: &SandboxInfo) -> anyhow::Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(info)?;
    let tmp = path.with_extension("json.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn print_banner(info: &SandboxInfo, path: &Path) {
    let body = format!(
        r#"{{"channel": "{}", "to": "{}", "type": "text", "text": {{"body": "Hello from OpenBSP!"}}}}"#,
        info.phone_number_id, info.demo_user_wa_id
    );
    println!(
        r#"
OpenBSP sandbox is running (everything below is also in {path})

  gateway        {base}
  simulator      {sim}   (a stand-in for Meta's Cloud API)
  tenant         {tenant}
  channel        {channel}  phone_number_id {pnid}, +{display}
  API key        {key}
  admin API key  {admin}

The demo user +{user} ({name}) has just written to the business, so the
24-hour customer service window is open and a free-form text can be sent.
Send one:

curl -sS -X POST {base}/v1/messages \
  -H 'Authorization: Bearer {key}' \
  -H 'Content-Type: application/json' \
  -d '{body}'

Then watch it go queued -> accepted -> sent -> delivered -> read:

curl -sS {base}/v1/messages/<id from the answer> -H 'Authorization: Bearer {key}'

Cloud API clients work too: base URL {base}, token = the API key, e.g.
  POST {base}/v23.0/{pnid}/messages
"#,
        path = path.display(),
        base = info.base_url,
        sim = info.simulator_url,
        tenant = info.tenant_id,
        channel = info.channel_id,
        pnid = info.phone_number_id,
        display = info.display_phone_number,
        key = info.api_key,
        admin = info.admin_api_key,
        user = info.demo_user_wa_id,
        name = DEMO_USER_NAME,
        body = body,
    );
}

/// Waits until the gateway has the demo user's message (its window is open), so the printed
/// curl works the moment it is printed.
async fn wait_for_open_window(gateway: &Gateway, info: &SandboxInfo) -> anyhow::Result<()> {
    let state = &gateway.state;
    let channel = state
        .store
        .find_channel_by_phone_number_id(&info.phone_number_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("sandbox: the demo channel vanished"))?;
    let key = openbsp_store::ContactKey::WaId(DEMO_USER.into());
    for _ in 0..250 {
        let c = state
            .store
            .conversation(&channel.tenant_id, &channel.id, &key)
            .await?;
        let last = c.window.and_then(|w| w.last_inbound_at);
        if openbsp_domain::windows::csw_open(last, state.now()) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    anyhow::bail!("sandbox: the demo user's first message did not reach the gateway within 5 s")
}
