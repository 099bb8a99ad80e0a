//! `openbsp simulator`: the Cloud API simulator on its own, optionally with one phone number
//! registered at start.

use anyhow::Context;
use clap::Args;
use openbsp_simulator::{PhoneNumberConfig, Simulator, SimulatorConfig};

use crate::settings::Settings;
use crate::signals::wait_for_signal;

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

/// Runs the simulator on its own until Ctrl-C or SIGTERM.
pub async fn run(s: Settings, a: SimulatorArgs) -> anyhow::Result<()> {
    s.init_logging(true)?;
    let listen = a
        .listen
        .parse()
        .with_context(|| format!("--listen: `{}` is not an address", a.listen))?;
    let sim = Simulator::start(SimulatorConfig {
        listen,
        ..SimulatorConfig::default()
    })
    .await?;
    if let Some(pnid) = a.phone_number_id {
        sim.add_phone_number(PhoneNumberConfig {
            phone_number_id: pnid.clone(),
            display_phone_number: a.display_phone_number,
            waba_id: a.waba_id,
            access_token: a
                .access_token
                .context("--access-token is required with --phone-number-id")?,
            app_secret: a
                .app_secret
                .context("--app-secret is required with --phone-number-id")?,
            webhook_url: a.webhook_url,
            throughput_mps: None,
        });
        println!("simulating phone number {pnid}");
    }
    println!("Cloud API simulator listening on {}", sim.url());
    wait_for_signal().await;
    sim.shutdown().await;
    Ok(())
}
