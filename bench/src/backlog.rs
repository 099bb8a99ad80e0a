//! `openbsp-bench send --part backlog`: reply latency under a bulk backlog. `--backlog` bulk
//! template sends (priority BULK) are queued on one channel at `--rate` msg/s through the store,
//! before `openbsp serve` starts, as a campaign would queue them (there is no HTTP API for bulk
//! sends yet); once the gateway is sending them, `--count` users write in (signed inbound
//! webhooks, which open their customer service windows) and get a text reply each, one every
//! 250 ms, through `POST /v1/messages` — a one-to-one send inside the window, which the store's
//! send policy queues as a REPLY (`policy::priority_of`), ahead of the bulk. Measured: request
//! to the simulator's receipt of each reply (p50/p99/max; p99 must stay under 1.5 s), the bulk
//! that still reached the simulator meanwhile, and that no second at the simulator held more
//! than the rate.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::capacity::{Received, Sampler, received, worst_second};
use crate::cpu::CpuUse;
use crate::database::{BenchDb, DbKind};
use crate::gateway::{APP_SECRET, PHONE_NUMBER_ID};
use crate::load::recipient;
use crate::machine::Machine;
use crate::report::Latency;
use crate::scene::{
    in_scratch, register_number, register_template, simulator_limit, start, unix_us,
};
use crate::send::SendArgs;

/// Replies start this far apart.
const REPLY_SPACING: Duration = Duration::from_millis(250);
/// The target: 99 % of replies at the simulator within this long of their request.
const P99_TARGET_MS: f64 = 1_500.0;

/// What `backlog` measured.
#[derive(Debug, Clone)]
pub struct BacklogReport {
    /// The backend.
    pub database: DbKind,
    /// The channel's limit, msg/s.
    pub rate: u32,
    /// Bulk sends queued.
    pub backlog: u32,
    /// How long queueing them through the store took, s.
    pub enqueue_secs: f64,
    /// Replies sent.
    pub count: u32,
    /// Reply request to its `202`.
    pub accept: Latency,
    /// Reply request to the simulator's receipt.
    pub to_meta: Latency,
    /// Replies the simulator never received.
    pub missing: u32,
    /// From the first reply's request to the last reply's receipt, s.
    pub phase_secs: f64,
    /// Bulk sends the simulator received in that time.
    pub bulk_during: usize,
    /// Bulk sends the simulator received in all (the backlog keeps going).
    pub bulk_received: usize,
    /// The most in one second at the simulator, over the whole run.
    pub max_second: u32,
    /// Gateway ids the simulator received more than once.
    pub duplicates: usize,
    /// CPU over the reply phase.
    pub cpu: CpuUse,
    /// The simulator's cores over the reply phase.
    pub simulator_cores: f64,
    /// The machine.
    pub machine: Machine,
}

impl BacklogReport {
    /// Every reply arrived, p99 under the target, no second over the rate, no duplicate.
    pub fn ok(&self) -> bool {
        self.missing == 0
            && self.to_meta.p99 < P99_TARGET_MS
            && self.max_second <= self.rate
            && self.duplicates == 0
    }

    /// Bulk sends per second during the reply phase.
    pub fn bulk_rate(&self) -> f64 {
        self.bulk_during as f64 / self.phase_secs.max(0.001)
    }

    /// As text.
    pub fn to_text(&self) -> String {
        let verdict = |ok: bool| if ok { "OK" } else { "FAILED" };
        let row = |name: &str, l: &Latency| {
            format!(
                "    {name:<34} p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\n",
                l.p50, l.p90, l.p99, l.max
            )
        };
        let mut out = format!(
            "openbsp-bench send --part backlog: {}\n  \
             backlog       {} bulk sends on one channel at {} msg/s, queued through the store in {:.1} s ({:.0}/s)\n  \
             replies       {} text replies in open windows, one every {} ms, ms\n",
            self.database.name(),
            self.backlog,
            self.rate,
            self.enqueue_secs,
            f64::from(self.backlog) / self.enqueue_secs.max(0.001),
            self.count,
            REPLY_SPACING.as_millis()
        );
        out += &row("/v1/messages answered (queued)", &self.accept);
        out += &row("/v1/messages to the simulator", &self.to_meta);
        out += &format!(
            "    p99 {:.2} ms (target < {P99_TARGET_MS:.0}), missing {}: {}\n  \
             bulk          {} bulk sends reached the simulator during the {:.1} s of replies ({:.1}/s), {} in all; duplicates {}\n  \
             pacing        the most in one second at the simulator: {} (limit {}): {}\n  \
             cpu           {}, simulator {:.2} cores (reply phase)\n  \
             machine       {}\n",
            self.to_meta.p99,
            self.missing,
            verdict(self.missing == 0 && self.to_meta.p99 < P99_TARGET_MS),
            self.bulk_during,
            self.phase_secs,
            self.bulk_rate(),
            self.bulk_received,
            self.duplicates,
            self.max_second,
            self.rate,
            verdict(self.max_second <= self.rate && self.duplicates == 0),
            self.cpu.summary(),
            self.simulator_cores,
            self.machine.summary()
        );
        out
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let l = |l: &Latency| json!({"p50_ms": l.p50, "p90_ms": l.p90, "p99_ms": l.p99, "max_ms": l.max});
        let r = |x: f64| (x * 100.0).round() / 100.0;
        json!({
            "scenario": "send", "part": "backlog", "database": self.database.name(),
            "rate": self.rate, "backlog": self.backlog, "enqueue_secs": r(self.enqueue_secs),
            "count": self.count, "spacing_ms": REPLY_SPACING.as_millis() as u64,
            "reply_accept": l(&self.accept), "reply_to_meta": l(&self.to_meta),
            "p99_target_ms": P99_TARGET_MS, "missing": self.missing,
            "phase_secs": r(self.phase_secs), "bulk_during": self.bulk_during,
            "bulk_per_sec": r(self.bulk_rate()), "bulk_received": self.bulk_received,
            "max_second": self.max_second, "duplicates": self.duplicates,
            "cpu": self.cpu.to_json(), "simulator_cores": r(self.simulator_cores),
            "ok": self.ok(),
            "machine": self.machine.to_json(),
        })
    }
}

/// Runs `backlog`; the processes are killed and the PostgreSQL database dropped whatever
/// happens.
pub async fn run(args: &SendArgs) -> Result<BacklogReport> {
    in_scratch(
        &args.openbsp,
        args.database,
        "backlog",
        async |binary, db, data_dir, scratch| backlog_on(args, binary, db, data_dir, scratch).await,
    )
    .await
}

async fn backlog_on(
    args: &SendArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<BacklogReport> {
    if args.backlog >= 10_000_000 {
        bail!("--backlog must stay below 10,000,000");
    }
    let (gateway, listen, meta) = start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    register_number(&http, &meta, &listen, 0, simulator_limit(args.rate)).await?;
    register_template(&http, &meta.url).await?;
    let provisioned = gateway.provision_for(&meta.url, args.rate).await?;
    eprintln!(
        "bench: queueing {} bulk sends through the store",
        args.backlog
    );
    let enqueueing = Instant::now();
    let channel = [provisioned.channel_id.clone()];
    crate::bulk::enqueue(db.url(), &provisioned, &channel, args.backlog).await?;
    let enqueue_secs = enqueueing.elapsed().as_secs_f64();
    eprintln!("bench: queued in {enqueue_secs:.1} s; starting openbsp serve");
    let server = gateway.serve(&listen, &scratch.join("serve.log")).await?;
    let (base, key) = (server.base_url.clone(), provisioned.api_key.clone());
    eprintln!(
        "bench: opening {} customer service windows (the bulk is flowing)",
        args.count
    );
    crate::windows::open(
        &base,
        &key,
        APP_SECRET,
        PHONE_NUMBER_ID,
        u64::from(args.count),
    )
    .await?;
    let sampler = Sampler::start(server.pid(), meta.pid());
    eprintln!(
        "bench: {} replies, one every {} ms",
        args.count,
        REPLY_SPACING.as_millis()
    );
    let hist = || Histogram::<u64>::new(3).expect("histogram");
    let mut accept = hist();
    // Gateway id → request time (Unix µs).
    let mut replies = HashMap::<String, i64>::new();
    let mut tick = tokio::time::interval(REPLY_SPACING);
    let mut last_user = String::new();
    let phase_start_ms = unix_us() / 1000;
    for i in 0..u64::from(args.count) {
        tick.tick().await;
        let user = recipient(i);
        let body = json!({"channel": PHONE_NUMBER_ID, "to": user, "type": "text",
                          "text": {"body": format!("Reply {i} from the bench")}});
        let started = unix_us();
        let clock = Instant::now();
        let r = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        accept.record((clock.elapsed().as_micros() as u64).max(1))?;
        if status != reqwest::StatusCode::ACCEPTED {
            bail!("/v1/messages answered {status} to reply {i}: {answer}");
        }
        let id = answer["id"]
            .as_str()
            .context("/v1/messages answered without an id")?;
        replies.insert(id.to_string(), started);
        last_user = user;
    }
    // The last reply at the simulator (a small answer to poll), then everything it has.
    let deadline = Instant::now() + Duration::from_secs(60);
    while received(&http, &meta, PHONE_NUMBER_ID, Some(&last_user))
        .await?
        .is_empty()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut all: Vec<Received>;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        all = received(&http, &meta, PHONE_NUMBER_ID, None).await?;
        let got = all.iter().filter(|m| replies.contains_key(&m.id)).count();
        if got >= replies.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut to_meta = hist();
    let mut reply_at = HashMap::<&str, i64>::new();
    for m in &all {
        if let Some(started) = replies.get(&m.id) {
            reply_at.entry(m.id.as_str()).or_insert_with(|| {
                let _ = to_meta.record((m.at_ms * 1000 - started).max(1) as u64);
                m.at_ms
            });
        }
    }
    let phase_end_ms = reply_at.values().copied().max().unwrap_or(phase_start_ms);
    let (cpu, simulator_cores) = sampler.stop(phase_start_ms, phase_end_ms).await;
    server.stop(Duration::from_secs(10)).await?;

    let mut times = HashMap::<&str, u32>::new();
    for m in &all {
        *times.entry(m.id.as_str()).or_default() += 1;
    }
    let bulk = || all.iter().filter(|m| !replies.contains_key(&m.id));
    let (max_second, _, _) =
        worst_second(all.iter().map(|m| (PHONE_NUMBER_ID, m.at_ms))).unwrap_or_default();
    Ok(BacklogReport {
        database: args.database,
        rate: args.rate,
        backlog: args.backlog,
        enqueue_secs,
        count: args.count,
        accept: Latency::from_histogram(&accept),
        to_meta: Latency::from_histogram(&to_meta),
        missing: (replies.len() - reply_at.len()) as u32,
        phase_secs: (phase_end_ms - phase_start_ms) as f64 / 1000.0,
        bulk_during: bulk()
            .filter(|m| (phase_start_ms..=phase_end_ms).contains(&m.at_ms))
            .count(),
        bulk_received: bulk().count(),
        max_second,
        duplicates: times.values().filter(|k| **k > 1).count(),
        cpu,
        simulator_cores,
        machine: Machine::detect(),
    })
}
