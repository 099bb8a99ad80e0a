//! `openbsp serve` and `openbsp simulator`.

use std::time::Duration;

use anyhow::Context;
use openbsp_server::config::{
    DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_OUT_KEYWORDS, DeliveryConfig, SenderConfig,
};
use openbsp_server::{Config, Gateway};
use openbsp_simulator::{PhoneNumberConfig, Simulator, SimulatorConfig};

use crate::cli::{ServeArgs, SimulatorArgs};
use crate::settings::Settings;

/// Builds the gateway's settings.
fn gateway_config(s: &Settings, a: &ServeArgs) -> anyhow::Result<Config> {
    let listen: String = s.pick(a.listen.clone(), "listen", "127.0.0.1:8080".into())?;
    let d = SenderConfig::default();
    let sender = SenderConfig {
        request_timeout: s.duration_ms(
            a.sender_request_timeout_ms,
            "sender_request_timeout_ms",
            d.request_timeout,
        )?,
        inflight_timeout: s.duration_ms(
            a.sender_inflight_timeout_ms,
            "sender_inflight_timeout_ms",
            d.inflight_timeout,
        )?,
        reconcile_grace: s.duration_ms(
            a.sender_reconcile_grace_ms,
            "sender_reconcile_grace_ms",
            d.reconcile_grace,
        )?,
        retry_base: s.duration_ms(a.sender_retry_base_ms, "sender_retry_base_ms", d.retry_base)?,
        poll_interval: s.duration_ms(
            a.sender_poll_interval_ms,
            "sender_poll_interval_ms",
            d.poll_interval,
        )?,
        ..d
    };
    sender.validate().map_err(|e| anyhow::anyhow!(e))?;
    let dd = DeliveryConfig::default();
    let schedule_default = dd
        .schedule
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let schedule = s
        .pick(
            a.webhooks_retry_schedule_ms.clone(),
            "webhooks_retry_schedule_ms",
            schedule_default,
        )?
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<u64>().map(Duration::from_millis).with_context(|| {
                format!("webhooks_retry_schedule_ms (OPENBSP_WEBHOOKS_RETRY_SCHEDULE_MS): `{d}` is not a number of ms")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let delivery = DeliveryConfig {
        schedule,
        timeout: s.duration_ms(a.webhooks_timeout_ms, "webhooks_timeout_ms", dd.timeout)?,
        disable_after: s.duration_ms(
            a.webhooks_disable_after_ms,
            "webhooks_disable_after_ms",
            dd.disable_after,
        )?,
        retention: Duration::from_secs(
            s.pick(a.events_retention_days, "events_retention_days", 30u64)?
                .saturating_mul(24 * 3600),
        ),
        ..dd
    };
    Ok(Config {
        listen: listen.parse().with_context(|| {
            format!("listen (OPENBSP_LISTEN): `{listen}` is not an address like 127.0.0.1:8080")
        })?,
        master_key: s.master_key()?,
        sender,
        cloud_api_wait: s.duration_ms(
            a.cloud_api_wait_ms,
            "cloud_api_wait_ms",
            Duration::from_secs(5),
        )?,
        max_body_bytes: 1024 * 1024,
        opt_out_keywords: keywords(s.pick(
            a.opt_out_keywords.clone(),
            "opt_out_keywords",
            DEFAULT_OPT_OUT_KEYWORDS.join(","),
        )?),
        opt_in_keywords: keywords(s.pick(
            a.opt_in_keywords.clone(),
            "opt_in_keywords",
            DEFAULT_OPT_IN_KEYWORDS.join(","),
        )?),
        session_closer_interval: Duration::from_secs(30),
        webhook_network: openbsp_domain::netguard::NetworkPolicy {
            allow_loopback: a.sandbox,
            allow_private: s.pick(
                a.webhooks_allow_private_networks,
                "webhooks_allow_private_networks",
                false,
            )?,
        },
        delivery,
    })
}

/// A comma-separated keyword list, trimmed, empties dropped.
fn keywords(list: String) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub async fn run(s: Settings, a: ServeArgs) -> anyhow::Result<()> {
    s.init_logging(true)?;
    let config = gateway_config(&s, &a)?;
    let store = s.open_store().await?;
    if a.sandbox {
        let sim_listen: String = s.pick(
            a.simulator_listen.clone(),
            "simulator_listen",
            "127.0.0.1:8081".into(),
        )?;
        let sim_listen = sim_listen
            .parse()
            .with_context(|| format!("simulator_listen: `{sim_listen}` is not an address"))?;
        let sandbox = crate::sandbox::start(&s, config, store, sim_listen).await?;
        wait_for_signal().await;
        sandbox.gateway.shutdown().await;
        sandbox.simulator.shutdown().await;
    } else {
        let gateway = Gateway::start(config, store).await?;
        println!("OpenBSP listening on {}", gateway.url());
        wait_for_signal().await;
        gateway.shutdown().await;
    }
    Ok(())
}

/// Runs the simulator on its own until Ctrl-C or SIGTERM.
pub async fn simulator(s: Settings, a: SimulatorArgs) -> anyhow::Result<()> {
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

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
