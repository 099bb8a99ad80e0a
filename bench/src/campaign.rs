//! `campaign`: campaigns against the real binary, the simulator as Meta.
//!
//! - `--part import`: a CSV of `--recipients` rows with two variables, streamed to
//!   `POST /v1/campaigns/{id}/recipients`: the seconds it takes (every row checked and
//!   stored), and the gateway's resident memory before and at its peak during the upload
//!   (sampled every 20 ms from `/proc`), which shows whether the upload is streamed.
//! - `--part pacing`: a campaign of `--recipients` on one channel at `--rate`, the channel's
//!   sends (the campaign's and the replies) counted per second at the simulator (never above
//!   the rate, mean within 2 % of it); `--replies` users write during it and are answered at
//!   once, each reply's time from accept to the simulator measured (p99 under 1.5 s); every
//!   recipient checked sent once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::database::{BenchDb, DbKind};
use crate::gateway::PHONE_NUMBER_ID;
use crate::machine::Machine;
use crate::report::Latency;
use crate::scene::{
    Meta, WABA_ID, received_count, received_list, register_number, simulator_limit, start, unix_us,
};

/// The campaign's template: two body variables.
const TEMPLATE: &str = "bench_offer";
/// Campaign recipients' numbers start so (replies' users with 1557).
const PREFIX: &str = "1558";

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// A large upload: time and memory.
    Import,
    /// A running campaign: pace per second, replies overtaking it.
    Pacing,
}

/// `openbsp-bench campaign`.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "import")]
    pub part: Part,
    /// Storage backend of the gateway under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// Recipients (import: 1,000,000; pacing: 100,000 by default).
    #[arg(long)]
    pub recipients: Option<u32>,
    /// `pacing`: the channel's throughput, msg/s.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u32,
    /// `pacing`: `openbsp serve` processes on the one database (PostgreSQL only).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub replicas: u32,
    /// `pacing`: replies sent during the campaign.
    #[arg(long, default_value_t = 100)]
    pub replies: u32,
    /// The gateway binary (`cargo build --release -p openbsp`); it also runs the simulator.
    #[arg(long, default_value = "target/release/openbsp")]
    pub openbsp: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What a run measured.
#[derive(Debug)]
pub enum CampaignReport {
    /// `--part import`.
    Import(ImportReport),
    /// `--part pacing`.
    Pacing(PacingReport),
}

/// An upload measured.
#[derive(Debug)]
pub struct ImportReport {
    database: DbKind,
    rows: u32,
    bytes: u64,
    seconds: f64,
    answer: Value,
    rss_before_kib: u64,
    rss_peak_kib: u64,
    machine: Machine,
}

/// A campaign's pace measured.
#[derive(Debug)]
pub struct PacingReport {
    database: DbKind,
    replicas: u32,
    rate: u32,
    recipients: u32,
    seconds: usize,
    max: u32,
    min: u32,
    mean: f64,
    /// The five slowest whole seconds: (seconds since the first whole one, sends).
    slowest: Vec<(usize, u32)>,
    duplicates: usize,
    missing: usize,
    replies: Latency,
    replies_measured: usize,
    machine: Machine,
}

impl CampaignReport {
    /// Whether the run's checks passed.
    pub fn ok(&self) -> bool {
        match self {
            CampaignReport::Import(r) => r.answer["accepted"].as_u64() == Some(u64::from(r.rows)),
            CampaignReport::Pacing(r) => {
                r.duplicates == 0
                    && r.missing == 0
                    && r.max <= r.rate
                    && r.mean >= f64::from(r.rate) * 0.98
                    && r.replies.p99 <= 1_500.0
            }
        }
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        match self {
            CampaignReport::Import(r) => format!(
                "campaign import ({}): {} rows ({:.1} MB) uploaded, checked and stored in {:.2} s ({:.0} rows/s)\n  answer: accepted {}, duplicates {}, rejected {}\n  gateway RSS: {:.1} MB before, {:.1} MB at its peak during the upload\n  machine: {}\n",
                r.database.name(),
                r.rows,
                r.bytes as f64 / 1e6,
                r.seconds,
                f64::from(r.rows) / r.seconds,
                r.answer["accepted"],
                r.answer["duplicates"],
                r.answer["rejected"],
                r.rss_before_kib as f64 / 1024.0,
                r.rss_peak_kib as f64 / 1024.0,
                r.machine.summary(),
            ),
            CampaignReport::Pacing(r) => format!(
                "campaign pacing ({}, {} replica{}): {} recipients at {} msg/s\n  the channel's sends per second at the simulator over {} whole seconds: max {}, min {}, mean {:.1} ({:+.2} % of the rate)\n  slowest seconds (second: sends): {}\n  sent twice: {}, never sent: {}\n  replies during the campaign ({} measured), accept to Meta: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n  machine: {}\n",
                r.database.name(),
                r.replicas,
                if r.replicas == 1 { "" } else { "s" },
                r.recipients,
                r.rate,
                r.seconds,
                r.max,
                r.min,
                r.mean,
                (r.mean / f64::from(r.rate) - 1.0) * 100.0,
                r.slowest
                    .iter()
                    .map(|(at, n)| format!("{at}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                r.duplicates,
                r.missing,
                r.replies_measured,
                r.replies.p50,
                r.replies.p99,
                r.replies.max,
                r.machine.summary(),
            ),
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            CampaignReport::Import(r) => json!({
                "scenario": "campaign", "part": "import", "database": r.database.name(),
                "rows": r.rows, "bytes": r.bytes, "seconds": r.seconds,
                "rows_per_second": f64::from(r.rows) / r.seconds, "answer": r.answer,
                "rss_before_kib": r.rss_before_kib, "rss_peak_kib": r.rss_peak_kib,
                "machine": r.machine.to_json(), "ok": self.ok(),
            }),
            CampaignReport::Pacing(r) => json!({
                "scenario": "campaign", "part": "pacing", "database": r.database.name(),
                "replicas": r.replicas, "rate": r.rate, "recipients": r.recipients,
                "seconds": r.seconds, "max": r.max, "min": r.min, "mean": r.mean,
                "slowest_seconds": r.slowest,
                "duplicates": r.duplicates, "missing": r.missing,
                "reply_latency_ms": {"p50": r.replies.p50, "p90": r.replies.p90, "p99": r.replies.p99, "max": r.replies.max}, "replies_measured": r.replies_measured,
                "machine": r.machine.to_json(), "ok": self.ok(),
            }),
        }
    }
}

/// Runs the scenario.
pub async fn run(args: &CampaignArgs) -> Result<CampaignReport> {
    crate::scene::in_scratch(
        &args.openbsp,
        args.database,
        "campaign",
        async |binary, db, data_dir, scratch| match args.part {
            Part::Import => import(args, binary, db, data_dir, scratch)
                .await
                .map(CampaignReport::Import),
            Part::Pacing => pacing(args, binary, db, data_dir, scratch)
                .await
                .map(CampaignReport::Pacing),
        },
    )
    .await
}

/// Registers the campaign's template at the simulator.
async fn register_template(http: &reqwest::Client, meta: &Meta) -> Result<()> {
    let r = http
        .post(format!("{}/_simulator/templates", meta.url))
        .json(&json!({"waba_id": WABA_ID, "name": TEMPLATE, "language": "en_US", "category": "MARKETING",
                      "components": [{"type": "BODY",
                                      "text": "Hello {{1}}, your personal code {{2}} gives you a discount in our shop today.",
                                      "example": {"body_text": [["Ann", "X1"]]}}]}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the simulator refused the template: {}", r.text().await?);
    }
    Ok(())
}

/// Creates the campaign through the API; its id.
async fn create(http: &reqwest::Client, base: &str, key: &str) -> Result<String> {
    let r = http
        .post(format!("{base}/v1/campaigns"))
        .bearer_auth(key)
        .json(&json!({"name": "bench", "channel": PHONE_NUMBER_ID,
                      "template": {"name": TEMPLATE, "language": "en_US",
                                   "variables": ["{{first_name}}", "{{code}}"]}}))
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::CREATED {
        bail!("creating the campaign: {} {}", r.status(), r.text().await?);
    }
    let v: Value = r.json().await?;
    v["id"]
        .as_str()
        .map(str::to_string)
        .context("the campaign has no id")
}

/// Writes the CSV of `rows` recipients to `path`; its size.
fn write_csv(path: &Path, rows: u32) -> Result<u64> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "phone,first_name,code")?;
    for i in 0..rows {
        writeln!(w, "+{PREFIX}{i:07},Person {i},C{i:07}")?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Streams the file at `path` to the campaign's recipients.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    path: &Path,
) -> Result<Value> {
    let file = tokio::fs::File::open(path).await?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let r = http
        .post(format!("{base}/v1/campaigns/{id}/recipients"))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the upload: {} {}", r.status(), r.text().await?);
    }
    Ok(r.json().await?)
}

/// A process's resident memory (KiB).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn import(
    args: &CampaignArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<ImportReport> {
    let rows = args.recipients.unwrap_or(1_000_000);
    let (gateway, listen, meta) = start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    register_number(&http, &meta, &listen, 0, simulator_limit(80)).await?;
    register_template(&http, &meta).await?;
    let p = gateway.provision_for(&meta.url, 80).await?;
    let server = gateway.serve(&listen, &scratch.join("serve.log")).await?;
    let pid = server.pid().context("the gateway has no pid")?;
    let id = create(&http, &server.base_url, &p.api_key).await?;
    let file = scratch.join("recipients.csv");
    let bytes = write_csv(&file, rows)?;
    eprintln!(
        "bench: uploading {rows} rows ({:.1} MB)",
        bytes as f64 / 1e6
    );
    let rss_before_kib = rss_kib(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_before_kib));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let answer = upload(&http, &server.base_url, &p.api_key, &id, &file).await;
    let seconds = started.elapsed().as_secs_f64();
    sampling.abort();
    let answer = answer?;
    server.stop(Duration::from_secs(10)).await?;
    Ok(ImportReport {
        database: args.database,
        rows,
        bytes,
        seconds,
        answer,
        rss_before_kib,
        rss_peak_kib: peak.load(std::sync::atomic::Ordering::Relaxed),
        machine: Machine::detect(),
    })
}

/// Sends one reply to `user` (who writes first, through the simulator) once the gateway
/// knows the window is open; the accept time (ms).
async fn reply(
    http: &reqwest::Client,
    meta: &Meta,
    base: &str,
    key: &str,
    user: &str,
) -> Result<i64> {
    let r = http
        .post(format!("{}/_simulator/inbound", meta.url))
        .json(
            &json!({"phone_number_id": PHONE_NUMBER_ID, "from": user, "name": "Bench",
                      "message": {"type": "text", "text": {"body": "hi"}}}),
        )
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "the simulator refused the inbound message: {}",
            r.text().await?
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(key)
            .json(
                &json!({"channel": PHONE_NUMBER_ID, "to": user, "type": "text",
                          "text": {"body": "Thanks for writing!"}}),
            )
            .send()
            .await?;
        let at = unix_us() / 1000;
        if r.status() == reqwest::StatusCode::ACCEPTED {
            return Ok(at);
        }
        // The user's message is not processed yet: the window is still closed.
        if Instant::now() > deadline {
            bail!(
                "a reply was never accepted: {} {}",
                r.status(),
                r.text().await?
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn pacing(
    args: &CampaignArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<PacingReport> {
    let recipients = args.recipients.unwrap_or(100_000);
    if args.replicas > 1 && args.database != DbKind::Postgres {
        bail!("--replicas above 1 needs --database postgres (SQLite is one process)");
    }
    let (gateway, listen, meta) = start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    register_number(&http, &meta, &listen, 0, simulator_limit(args.rate)).await?;
    register_template(&http, &meta).await?;
    let p = gateway.provision_for(&meta.url, args.rate).await?;
    let servers = crate::scene::serve_replicas(&gateway, &listen, scratch, args.replicas).await?;
    let base = servers[0].base_url.clone();
    let id = create(&http, &base, &p.api_key).await?;
    let file = scratch.join("recipients.csv");
    write_csv(&file, recipients)?;
    let answer = upload(&http, &base, &p.api_key, &id, &file).await?;
    if answer["accepted"].as_u64() != Some(u64::from(recipients)) {
        bail!("the upload took {answer}");
    }
    let r = http
        .post(format!("{base}/v1/campaigns/{id}/start"))
        .bearer_auth(&p.api_key)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("starting the campaign: {}", r.text().await?);
    }
    eprintln!(
        "bench: campaign of {recipients} started at {} msg/s; {} replies during it",
        args.rate, args.replies
    );
    // Replies spread over the campaign's expected length, each through the next replica.
    let length_ms = u64::from(recipients) * 1_000 / u64::from(args.rate.max(1));
    let every = Duration::from_millis((length_ms / u64::from(args.replies.max(1) + 1)).max(10));
    let mut accepted: HashMap<String, i64> = HashMap::new();
    for k in 0..args.replies {
        tokio::time::sleep(every).await;
        let user = format!("1557{k:07}");
        let base = &servers[k as usize % servers.len()].base_url;
        let at = reply(&http, &meta, base, &p.api_key, &user).await?;
        accepted.insert(user, at);
    }
    let want = recipients as usize + args.replies as usize;
    let deadline = Instant::now() + Duration::from_millis(length_ms * 3 + 60_000);
    while received_count(&http, &meta, PHONE_NUMBER_ID).await? < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let received = received_list(&http, &meta.url, PHONE_NUMBER_ID, None).await?;
    for s in servers {
        s.stop(Duration::from_secs(10)).await?;
    }
    let mut per_user: HashMap<&str, u32> = HashMap::new();
    let mut per_second: BTreeMap<i64, u32> = BTreeMap::new();
    let mut latency = Histogram::<u64>::new(3)?;
    let mut last_campaign_send = i64::MIN;
    for m in &received {
        let to = m["to"].as_str().unwrap_or_default();
        let at = m["received_at_ms"].as_i64().unwrap_or_default();
        // The channel's rate: the campaign's sends and the replies, which share it.
        *per_second.entry(at.div_euclid(1000)).or_default() += 1;
        if to.starts_with(PREFIX) {
            last_campaign_send = last_campaign_send.max(at);
            *per_user.entry(to).or_default() += 1;
        } else if let Some(sent) = accepted.get(to) {
            latency.record(u64::try_from((at - sent).max(0)).unwrap_or(0) * 1_000)?;
        }
    }
    // Whole seconds of the campaign: the first (partial) one left out, and those from the
    // second of its last send on (the queue running out, and a reply or a deferred send that
    // came after it, are not its pace).
    let end = last_campaign_send.div_euclid(1000);
    let counts: Vec<u32> = per_second.values().copied().collect();
    let during: Vec<u32> = per_second.range(..end).map(|(_, n)| *n).skip(1).collect();
    let whole: &[u32] = if during.is_empty() { &counts } else { &during };
    let mean = whole.iter().map(|n| f64::from(*n)).sum::<f64>() / whole.len().max(1) as f64;
    let mut slowest: Vec<(usize, u32)> = whole.iter().copied().enumerate().collect();
    slowest.sort_by_key(|(_, n)| *n);
    slowest.truncate(5);
    Ok(PacingReport {
        database: args.database,
        replicas: args.replicas,
        rate: args.rate,
        recipients,
        seconds: whole.len(),
        max: counts.iter().copied().max().unwrap_or_default(),
        min: whole.iter().copied().min().unwrap_or_default(),
        mean,
        slowest,
        duplicates: per_user.values().filter(|n| **n > 1).count(),
        missing: recipients as usize - per_user.len().min(recipients as usize),
        replies_measured: latency.len() as usize,
        replies: Latency::from_histogram(&latency),
        machine: Machine::detect(),
    })
}
