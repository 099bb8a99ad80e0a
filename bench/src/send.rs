//! The `send` scenario: the gateway sending to the Cloud API simulator (`openbsp simulator`, a
//! process of its own, as Meta).
//!
//! - `latency`: sequential sends on an idle channel, one at a time and no faster than 40 a
//!   second (half the channel's 80 msg/s, so that pacing never holds one): how long from the
//!   request to the simulator's receipt (`/v1/messages`, answered at once with `queued`), and
//!   how long the Cloud-API-compatible route takes to answer with Meta's `wamid`.
//! - `pacing`: one channel at `--rate` msg/s with a backlog of `rate × duration` sends (queued
//!   as fast as the gateway takes them), counted per second at the simulator (its own limit
//!   set higher, so it cannot hide a breach): the most and the mean per whole second, which
//!   must be at most the rate and within 2 % of it. With `--replicas N` (PostgreSQL) the sends
//!   are queued through N `openbsp serve` processes on the one database in turn.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::database::{BenchDb, DbKind};
use crate::gateway::PHONE_NUMBER_ID;
use crate::machine::Machine;
use crate::report::Latency;
use crate::scene::{TEMPLATE, unix_us};

/// Sequential sends start at least this far apart (below the channel's throughput).
const SPACING: Duration = Duration::from_millis(25);
/// Options of `openbsp-bench send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Storage backend of the gateway under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// Sequential sends measured per route.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..))]
    pub count: u32,
    /// The gateway binary to benchmark (build it with `cargo build --release -p openbsp`); it
    /// also runs the simulator.
    #[arg(long, default_value = "target/release/openbsp")]
    pub openbsp: PathBuf,
    /// What to measure.
    #[arg(long, value_enum, default_value = "latency")]
    pub part: Part,
    /// `pacing`, `capacity`, `backlog`: each channel's throughput, msg/s.
    #[arg(long, default_value_t = 80)]
    pub rate: u32,
    /// `pacing`, `capacity`: how long the backlog lasts at that rate, s (capacity: 30).
    #[arg(long, default_value_t = 60, default_value_if("part", "capacity", "30"))]
    pub seconds: u32,
    /// `pacing`: `openbsp serve` processes on the one database (PostgreSQL only), the sends
    /// queued through all of them in turn; the one holding the channel's lease sends.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub replicas: u32,
    /// `capacity`: channels, each its own number at the simulator.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub channels: u32,
    /// `pacing`, `capacity`: queue the sends through the store as bulk sends (as a campaign
    /// does) before `openbsp serve` starts, so that the run measures the sender alone, not
    /// the sender sharing the machine with the accepts.
    #[arg(long)]
    pub prequeued: bool,
    /// `pacing`: Meta sends no status webhooks during the run (they are held for an hour), so
    /// that the gateway only sends: its sender's pace apart from the statuses' load.
    #[arg(long)]
    pub no_statuses: bool,
    /// `backlog`: bulk sends queued on the channel before the replies.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub backlog: u32,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The parts of `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Sequential sends on an idle channel.
    Latency,
    /// One channel's rate, per second at the simulator.
    Pacing,
    /// Many channels at their rate at once: sends per second the sender achieves.
    Capacity,
    /// Reply latency on a channel with a bulk backlog.
    Backlog,
}

/// What `pacing` measured.
#[derive(Debug, Clone)]
pub struct PacingReport {
    /// The backend.
    pub database: DbKind,
    /// The channel's limit.
    pub rate: u32,
    /// Gateway processes the sends were queued through.
    pub replicas: u32,
    /// How the run was set: `"prequeued"` (through the store, before the gateway started) or
    /// `"queued while sending"`, and whether Meta's statuses were held.
    pub setting: String,
    /// Sends queued.
    pub sends: u32,
    /// Whole seconds counted (the first and last partial seconds left out).
    pub seconds: usize,
    /// The most in one second.
    pub max: u32,
    /// The fewest in one whole second.
    pub min: u32,
    /// Mean per whole second.
    pub mean: f64,
    /// The whole seconds after the last send was queued (the gateway then only sends): how
    /// many, the most and the mean.
    pub after_queueing: (usize, u32, f64),
    /// Sends that reached the simulator more than once.
    pub duplicates: usize,
    /// The machine.
    pub machine: Machine,
}

impl PacingReport {
    /// Whether no second went over the limit and the mean is within 2 % of it.
    pub fn ok(&self) -> bool {
        self.max <= self.rate && self.mean >= 0.98 * f64::from(self.rate) && self.duplicates == 0
    }

    /// As text.
    pub fn to_text(&self) -> String {
        format!(
            "openbsp-bench send --part pacing: {}, {} replica(s), {}\n  pacing        {} sends at {} msg/s, {} whole seconds at the simulator: max {}  mean {:.1} ({:+.1} %)  min {}  duplicates {}: {}\n  sending only  {} whole seconds after the last send was queued: max {}  mean {:.1} ({:+.1} %)\n  machine       {}\n",
            self.database.name(),
            self.replicas,
            self.setting,
            self.sends,
            self.rate,
            self.seconds,
            self.max,
            self.mean,
            (self.mean / f64::from(self.rate) - 1.0) * 100.0,
            self.min,
            self.duplicates,
            if self.ok() { "OK" } else { "FAILED" },
            self.after_queueing.0,
            self.after_queueing.1,
            self.after_queueing.2,
            (self.after_queueing.2 / f64::from(self.rate) - 1.0) * 100.0,
            self.machine.summary()
        )
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({"scenario": "send", "part": "pacing", "database": self.database.name(),
               "rate": self.rate, "replicas": self.replicas, "setting": self.setting, "sends": self.sends, "seconds": self.seconds, "max": self.max,
               "min": self.min, "mean": self.mean, "duplicates": self.duplicates, "ok": self.ok(),
               "after_queueing": {"seconds": self.after_queueing.0, "max": self.after_queueing.1, "mean": self.after_queueing.2},
               "machine": self.machine.to_json()})
    }
}

/// What the scenario measured.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// The backend.
    pub database: DbKind,
    /// Sends per route.
    pub count: u32,
    /// `/v1/messages`: request to its `202`.
    pub native_accept: Latency,
    /// `/v1/messages`: request to the simulator's receipt.
    pub native_to_meta: Latency,
    /// The Cloud API route: request to the simulator's receipt.
    pub graph_to_meta: Latency,
    /// The Cloud API route: request to its answer with Meta's `wamid`.
    pub graph_answer: Latency,
    /// Cloud API answers that carried the gateway id (`queued`) instead of a `wamid`.
    pub graph_queued: u32,
    /// The machine.
    pub machine: Machine,
}

impl SendReport {
    /// As text.
    pub fn to_text(&self) -> String {
        let row = |name: &str, l: &Latency| {
            format!(
                "    {name:<34} p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\n",
                l.p50, l.p90, l.p99, l.max
            )
        };
        let mut out = format!(
            "openbsp-bench send: {}\n  latency       {} sequential sends per route on an idle channel, ms\n",
            self.database.name(),
            self.count
        );
        out += &row("/v1/messages answered (queued)", &self.native_accept);
        out += &row("/v1/messages to the simulator", &self.native_to_meta);
        out += &row("Cloud API route to the simulator", &self.graph_to_meta);
        out += &row("Cloud API route answered (wamid)", &self.graph_answer);
        out += &format!(
            "    Cloud API answers without a wamid: {}\n  machine       {}\n",
            self.graph_queued,
            self.machine.summary()
        );
        out
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let l = |l: &Latency| json!({"p50_ms": l.p50, "p90_ms": l.p90, "p99_ms": l.p99, "max_ms": l.max});
        json!({
            "scenario": "send",
            "database": self.database.name(),
            "count": self.count,
            "latency": {
                "native_accept": l(&self.native_accept),
                "native_to_meta": l(&self.native_to_meta),
                "graph_to_meta": l(&self.graph_to_meta),
                "graph_answer": l(&self.graph_answer),
                "graph_queued": self.graph_queued,
            },
            "machine": self.machine.to_json(),
        })
    }
}

/// Runs the scenario; the processes are killed and the PostgreSQL database dropped whatever
/// happens.
pub async fn run(args: &SendArgs) -> Result<SendReport> {
    crate::scene::in_scratch(
        &args.openbsp,
        args.database,
        "latency",
        async |binary, db, data_dir, scratch| run_on(args, binary, db, data_dir, scratch).await,
    )
    .await
}

/// Runs `pacing`; the processes are killed and the PostgreSQL database dropped whatever
/// happens.
pub async fn run_pacing(args: &SendArgs) -> Result<PacingReport> {
    crate::scene::in_scratch(
        &args.openbsp,
        args.database,
        "pacing",
        async |binary, db, data_dir, scratch| pacing_on(args, binary, db, data_dir, scratch).await,
    )
    .await
}

async fn pacing_on(
    args: &SendArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<PacingReport> {
    use crate::scene::{register_number, register_template, simulator_limit, start};
    let (gateway, listen, meta) = start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    register_number(&http, &meta, &listen, 0, simulator_limit(args.rate)).await?;
    register_template(&http, &meta.url).await?;
    if args.no_statuses {
        crate::scene::hold_statuses(&http, &meta).await?;
    }
    let provisioned = gateway.provision_for(&meta.url, args.rate).await?;
    if args.replicas > 1 && args.database != DbKind::Postgres {
        bail!("--replicas above 1 needs --database postgres (SQLite is one process)");
    }
    let sends = args.rate * args.seconds;
    if args.prequeued {
        eprintln!("bench: queueing {sends} bulk sends through the store");
        let channel = [provisioned.channel_id.clone()];
        crate::bulk::enqueue(db.url(), &provisioned, &channel, sends).await?;
    }
    let servers = crate::scene::serve_replicas(&gateway, &listen, scratch, args.replicas).await?;
    let bases: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let key = provisioned.api_key.clone();
    if !args.prequeued {
        eprintln!(
            "bench: queueing {sends} sends for a channel at {} msg/s",
            args.rate
        );
    }
    // Prequeued: nothing left to queue.
    let to_queue = if args.prequeued { 0 } else { sends };
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (http, bases, key, next) = (http.clone(), bases.clone(), key.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= to_queue {
                    return Ok::<(), anyhow::Error>(());
                }
                let base = &bases[i as usize % bases.len()];
                let body = json!({"channel": PHONE_NUMBER_ID, "to": format!("1556{i:07}"), "type": "template",
                                  "template": {"name": TEMPLATE, "language": {"code": "en_US"}}});
                let r = http
                    .post(format!("{base}/v1/messages"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await?;
                if r.status() != reqwest::StatusCode::ACCEPTED {
                    bail!("/v1/messages answered {}: {}", r.status(), r.text().await?);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let queued_at_ms = unix_us() / 1000;
    eprintln!("bench: all queued; waiting for the simulator to have them");
    let deadline = Instant::now() + Duration::from_secs(u64::from(args.seconds) * 3 + 60);
    // The count while sending (the list would disturb the simulator), the list once at the end.
    while crate::scene::received_count(&http, &meta, PHONE_NUMBER_ID).await? < sends as usize
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let received = crate::scene::received_list(&http, &meta.url, PHONE_NUMBER_ID, None).await?;
    for server in servers {
        server.stop(Duration::from_secs(10)).await?;
    }
    if let Ok(path) = std::env::var("OPENBSP_BENCH_ARRIVALS") {
        // Diagnosis: every arrival at the simulator, one `received_at_ms to` a line.
        let lines: String = received
            .iter()
            .map(|m| format!("{} {}\n", m["received_at_ms"], m["to"]))
            .collect();
        std::fs::write(&path, lines).with_context(|| format!("writing {path}"))?;
    }
    let mut per_user = std::collections::HashMap::<String, u32>::new();
    let mut per_second = std::collections::BTreeMap::<i64, u32>::new();
    for m in &received {
        *per_user
            .entry(m["to"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
        if let Some(at) = m["received_at_ms"].as_i64() {
            *per_second.entry(at.div_euclid(1000)).or_default() += 1;
        }
    }
    if received.len() < sends as usize {
        bail!(
            "only {} of {sends} sends reached the simulator",
            received.len()
        );
    }
    let whole: Vec<u32> = {
        let counts: Vec<u32> = per_second.values().copied().collect();
        counts[1..counts.len().saturating_sub(1)].to_vec()
    };
    let seconds = whole.len();
    let mean = whole.iter().map(|n| f64::from(*n)).sum::<f64>() / seconds.max(1) as f64;
    // Whole seconds that start after the queueing ended, the last (partial) one left out.
    let sending_only: Vec<u32> = {
        let after: Vec<u32> = per_second
            .range(queued_at_ms.div_euclid(1000) + 1..)
            .map(|(_, n)| *n)
            .collect();
        after[..after.len().saturating_sub(1)].to_vec()
    };
    let after_queueing = (
        sending_only.len(),
        sending_only.iter().copied().max().unwrap_or_default(),
        sending_only.iter().map(|n| f64::from(*n)).sum::<f64>() / sending_only.len().max(1) as f64,
    );
    Ok(PacingReport {
        database: args.database,
        rate: args.rate,
        replicas: args.replicas,
        setting: format!(
            "{}, {}",
            if args.prequeued {
                "prequeued through the store"
            } else {
                "queued while sending"
            },
            if args.no_statuses {
                "Meta's statuses held"
            } else {
                "with Meta's statuses"
            }
        ),
        sends,
        seconds,
        max: per_second.values().copied().max().unwrap_or_default(),
        min: whole.iter().copied().min().unwrap_or_default(),
        mean,
        after_queueing,
        duplicates: per_user.values().filter(|n| **n > 1).count(),
        machine: Machine::detect(),
    })
}

async fn run_on(
    args: &SendArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<SendReport> {
    let (gateway, listen, meta) = crate::scene::start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    crate::scene::register_template(&http, &meta.url).await?;
    eprintln!("bench: provisioning with {}", binary.display());
    let provisioned = gateway.provision_for(&meta.url, 80).await?;
    eprintln!(
        "bench: starting openbsp serve on {listen}; Meta is the simulator at {}",
        meta.url
    );
    let server = gateway.serve(&listen, &scratch.join("serve.log")).await?;
    let base = server.base_url.clone();
    let key = provisioned.api_key.clone();
    let template = json!({"name": TEMPLATE, "language": {"code": "en_US"}});

    // One unmeasured send of each kind: the gateway learns the template from Meta.
    let mut n = 0u32;
    let mut next_user = || {
        n += 1;
        format!("1555700{n:04}")
    };
    for graph in [false, true] {
        let user = next_user();
        one(&http, &base, &key, &meta.url, &user, &template, graph).await?;
    }

    let hist = || Histogram::<u64>::new(3).expect("histogram");
    let (mut accept, mut native, mut graph_meta, mut graph_answer) =
        (hist(), hist(), hist(), hist());
    let mut queued = 0;
    eprintln!("bench: {} sequential sends per route", args.count);
    let mut tick = tokio::time::interval(SPACING);
    for _ in 0..args.count {
        tick.tick().await;
        let user = next_user();
        let s = one(&http, &base, &key, &meta.url, &user, &template, false).await?;
        accept.record(s.answered_us.max(1) as u64)?;
        native.record(s.to_meta_us.max(1) as u64)?;
    }
    for _ in 0..args.count {
        tick.tick().await;
        let user = next_user();
        let s = one(&http, &base, &key, &meta.url, &user, &template, true).await?;
        graph_answer.record(s.answered_us.max(1) as u64)?;
        graph_meta.record(s.to_meta_us.max(1) as u64)?;
        queued += u32::from(s.queued);
    }
    server.stop(Duration::from_secs(10)).await?;
    Ok(SendReport {
        database: args.database,
        count: args.count,
        native_accept: Latency::from_histogram(&accept),
        native_to_meta: Latency::from_histogram(&native),
        graph_to_meta: Latency::from_histogram(&graph_meta),
        graph_answer: Latency::from_histogram(&graph_answer),
        graph_queued: queued,
        machine: Machine::detect(),
    })
}

/// One send's figures, µs from its request.
struct Sent {
    answered_us: i64,
    to_meta_us: i64,
    queued: bool,
}

/// One send to `user` (a template), then the simulator's receipt of it.
async fn one(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    meta: &str,
    user: &str,
    template: &Value,
    graph: bool,
) -> Result<Sent> {
    let (url, body) = if graph {
        (
            format!("{base}/v23.0/{PHONE_NUMBER_ID}/messages"),
            json!({"messaging_product": "whatsapp", "to": user, "type": "template", "template": template}),
        )
    } else {
        (
            format!("{base}/v1/messages"),
            json!({"channel": PHONE_NUMBER_ID, "to": user, "type": "template", "template": template}),
        )
    };
    let started = unix_us();
    let clock = Instant::now();
    let resp = http.post(&url).bearer_auth(key).json(&body).send().await?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    let answered_us = clock.elapsed().as_micros() as i64;
    if !status.is_success() {
        bail!("{url} answered {status}: {answer}");
    }
    let queued = graph && answer.pointer("/messages/0/message_status").is_some();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let received = crate::scene::received_list(http, meta, PHONE_NUMBER_ID, Some(user))
            .await?
            .first()
            .and_then(|m| m.get("received_at_ms"))
            .and_then(Value::as_i64);
        if let Some(at_ms) = received {
            return Ok(Sent {
                answered_us,
                to_meta_us: at_ms * 1000 - started,
                queued,
            });
        }
        if Instant::now() > deadline {
            let id = answer
                .get("id")
                .or_else(|| answer.pointer("/messages/0/id"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let m: Value = http
                .get(format!("{base}/v1/messages/{id}"))
                .bearer_auth(key)
                .send()
                .await?
                .json()
                .await
                .unwrap_or_default();
            return Err(anyhow!(
                "the send to {user} never reached the simulator; the gateway has {m}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
