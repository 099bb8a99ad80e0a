//! The scene every `send` part plays on: the simulator as Meta (`openbsp simulator`), the
//! gateway to start, the numbers and the template registered at the simulator, and the
//! scratch directory and database of a run.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::process::Child;

use crate::accept::resolve_binary;
use crate::database::{BenchDb, DbKind, redact};
use crate::gateway::{APP_SECRET, Gateway, PHONE_NUMBER_ID, free_port};

/// The WABA of the benchmark's channel (as `Gateway::provision_for` registers it).
pub(crate) const WABA_ID: &str = "900";
/// The approved template the sends use.
pub(crate) const TEMPLATE: &str = "bench_update";

/// Now, in µs since the Unix epoch.
pub(crate) fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// `openbsp simulator` as Meta, killed when dropped.
pub(crate) struct Meta {
    _child: Child,
    pub(crate) url: String,
}

impl Meta {
    /// The simulator's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self._child.id()
    }
}

pub(crate) async fn start_meta(binary: &Path, webhook_url: &str, log: &Path) -> Result<Meta> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let log = std::fs::File::create(log)?;
    let child = tokio::process::Command::new(binary)
        .args([
            "simulator",
            "--listen",
            &listen,
            "--phone-number-id",
            PHONE_NUMBER_ID,
            "--waba-id",
            WABA_ID,
            "--display-phone-number",
            "15550001111",
            "--access-token",
            "tok",
            "--app-secret",
            APP_SECRET,
            "--webhook-url",
            webhook_url,
        ])
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting openbsp simulator")?;
    let url = format!("http://{listen}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{url}/_simulator/healthz"))
        .send()
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("the simulator did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Meta { _child: child, url })
}

/// The phone number id of channel `c` (channel 0 is the one `Gateway::provision_for` adds).
pub(crate) fn phone_number_id(c: u32) -> String {
    if c == 0 {
        PHONE_NUMBER_ID.to_string()
    } else {
        (100_200_300 + u64::from(c)).to_string()
    }
}

/// The display number of channel `c`.
pub(crate) fn display_number(c: u32) -> String {
    if c == 0 {
        "15550001111".to_string()
    } else {
        format!("1555200{c:04}")
    }
}

/// The simulator's own limit for numbers whose channels send at `rate`: well above it (so it
/// refuses nothing and hides no breach), in the same throughput level (so the gateway, which
/// reads the level from Meta, keeps the channel's rate).
pub(crate) fn simulator_limit(rate: u32) -> u32 {
    if rate >= 1_000 { rate * 5 } else { 999 }
}

/// Creates the run's scratch directory and database, runs `f(binary, db, data_dir, scratch)`,
/// then drops the PostgreSQL database (and keeps the logs when `OPENBSP_BENCH_KEEP` is set)
/// whatever happened.
pub(crate) async fn in_scratch<T>(
    openbsp: &Path,
    database: DbKind,
    part: &str,
    f: impl AsyncFnOnce(&Path, &BenchDb, &Path, &Path) -> Result<T>,
) -> Result<T> {
    let binary = resolve_binary(openbsp)?;
    let (scratch, data_dir) = crate::accept::scratch()?;
    let db = BenchDb::create(database, &data_dir).await?;
    eprintln!(
        "bench: send --part {part}: {} database at {}",
        database.name(),
        redact(db.url())
    );
    let result = f(&binary, &db, &data_dir, scratch.path()).await;
    if let Err(e) = db.drop_database().await {
        eprintln!("bench: warning: could not drop the benchmark database: {e:#}");
    }
    if std::env::var_os("OPENBSP_BENCH_KEEP").is_some() {
        eprintln!("bench: logs kept in {}", scratch.keep().display());
    }
    result
}

/// The gateway of a run, and the simulator as Meta with its webhooks going to `listen`.
pub(crate) async fn start(
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<(Gateway, String, Meta)> {
    let gateway = Gateway {
        binary: binary.to_path_buf(),
        database_url: db.url().to_string(),
        data_dir: data_dir.to_path_buf(),
    };
    let listen = format!("127.0.0.1:{}", free_port()?);
    let meta = start_meta(
        binary,
        &format!("http://{listen}/webhooks/whatsapp"),
        &scratch.join("simulator.log"),
    )
    .await?;
    Ok((gateway, listen, meta))
}

/// `replicas` `openbsp serve` processes on the run's database: the first on `listen` (where
/// the simulator's webhooks go), the others on ports of their own; logs in `scratch`.
pub(crate) async fn serve_replicas(
    gateway: &Gateway,
    listen: &str,
    scratch: &Path,
    replicas: u32,
) -> Result<Vec<crate::gateway::Server>> {
    let mut servers = vec![gateway.serve(listen, &scratch.join("serve.log")).await?];
    for n in 1..replicas {
        let at = format!("127.0.0.1:{}", free_port()?);
        servers.push(
            gateway
                .serve(&at, &scratch.join(format!("serve-{n}.log")))
                .await?,
        );
    }
    Ok(servers)
}

/// Registers channel `c`'s number at the simulator (WABA 900) with limit `mps`.
pub(crate) async fn register_number(
    http: &reqwest::Client,
    meta: &Meta,
    listen: &str,
    c: u32,
    mps: u32,
) -> Result<()> {
    let phone = json!({"phone_number_id": phone_number_id(c), "display_phone_number": display_number(c),
        "waba_id": WABA_ID, "access_token": "tok", "app_secret": APP_SECRET,
        "webhook_url": format!("http://{listen}/webhooks/whatsapp"), "throughput_mps": mps});
    let r = http
        .post(format!("{}/_simulator/phone-numbers", meta.url))
        .json(&phone)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the simulator refused number {c}: {}", r.text().await?);
    }
    Ok(())
}

/// Registers the approved template the sends use at the simulator at `meta_url`.
pub(crate) async fn register_template(http: &reqwest::Client, meta_url: &str) -> Result<()> {
    let r = http
        .post(format!("{meta_url}/_simulator/templates"))
        .json(&json!({"waba_id": WABA_ID, "name": TEMPLATE, "language": "en_US", "category": "UTILITY",
                      "components": [{"type": "BODY", "text": "Your order has shipped."}]}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the simulator refused the template: {}", r.text().await?);
    }
    Ok(())
}

/// Has the simulator hold every status webhook of what it accepts until long after a run
/// (an hour): the gateway then only sends, which tells its sender's own pace apart from the
/// pace it keeps while taking Meta's statuses in.
pub(crate) async fn hold_statuses(http: &reqwest::Client, meta: &Meta) -> Result<()> {
    let hour = 3_600_000;
    let r = http
        .post(format!("{}/_simulator/config", meta.url))
        .json(&json!({"status_delays": {"sent_ms": hour, "delivered_ms": hour, "read_ms": null}}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "the simulator refused the status delays: {}",
            r.text().await?
        );
    }
    Ok(())
}

/// How many sends `phone_number_id` had accepted at the simulator: polled while sending, as
/// the list itself (tens of thousands of messages copied under the simulator's lock) would
/// disturb what it measures.
/// What the simulator at `meta_url` accepted from `phone_number_id` (to `to`, when given),
/// oldest first, as its control API lists it (copying the list: not while measuring a pace).
pub(crate) async fn received_list(
    http: &reqwest::Client,
    meta_url: &str,
    phone_number_id: &str,
    to: Option<&str>,
) -> Result<Vec<Value>> {
    let mut query = vec![("phone_number_id", phone_number_id)];
    if let Some(to) = to {
        query.push(("to", to));
    }
    let mut got: Value = http
        .get(format!("{meta_url}/_simulator/messages"))
        .query(&query)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    match got.get_mut("data").map(Value::take) {
        Some(Value::Array(list)) => Ok(list),
        _ => bail!("the simulator's list has no `data`: {got}"),
    }
}

pub(crate) async fn received_count(
    http: &reqwest::Client,
    meta: &Meta,
    phone_number_id: &str,
) -> Result<usize> {
    let got: Value = http
        .get(format!("{}/_simulator/messages/count", meta.url))
        .query(&[("phone_number_id", phone_number_id)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    got["count"]
        .as_u64()
        .map(|n| n as usize)
        .context("the simulator's count has no `count`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_numbers() {
        assert_eq!(phone_number_id(0), PHONE_NUMBER_ID);
        assert_eq!(phone_number_id(7), "100200307");
        assert_eq!(display_number(0), "15550001111");
        assert_eq!(display_number(42), "15552000042");
        assert_eq!(simulator_limit(80), 999);
        assert_eq!(simulator_limit(1_000), 5_000);
    }
}
