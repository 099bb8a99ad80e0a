//! `openbsp-bench send --part capacity`: the sender's capacity. `--channels` channels (each its
//! own number at the simulator, whose own limit is set higher so that it refuses nothing and
//! hides no breach) at `--rate` msg/s each, with a backlog of `rate × seconds` template sends per
//! channel queued through `POST /v1/messages` as fast as the gateway takes them. Counted at the
//! simulator: sends per second in all (against `channels × rate`), the worst second of any one
//! channel (never above its rate), duplicates and losses (none), and the CPU the gateway used.
//!
//! Also the helpers the `backlog` part shares: the run's scratch directory and database, the
//! simulator's numbers and template, and what the simulator received.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cpu::{CpuUse, Snapshot};
use crate::database::{BenchDb, DbKind};
use crate::machine::Machine;
use crate::scene::{
    Meta, TEMPLATE, display_number, in_scratch, phone_number_id, register_number,
    register_template, simulator_limit, start,
};
use crate::send::SendArgs;

/// Concurrent `POST /v1/messages` while queueing.
const QUEUERS: usize = 64;
/// Give up waiting for the simulator when its count has not moved for this long.
const STALL: Duration = Duration::from_secs(60);

/// One message the simulator accepted.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The gateway's message id (the body's `biz_opaque_callback_data`).
    pub id: String,
    /// When the simulator accepted it (Unix ms).
    pub at_ms: i64,
}

/// What the simulator accepted from `phone_number_id`, oldest first; with `to`, only what went
/// to that user (a small answer, for polling).
pub(crate) async fn received(
    http: &reqwest::Client,
    meta: &Meta,
    phone_number_id: &str,
    to: Option<&str>,
) -> Result<Vec<Received>> {
    Ok(
        crate::scene::received_list(http, &meta.url, phone_number_id, to)
            .await?
            .iter()
            .map(|m| Received {
                id: m
                    .pointer("/body/biz_opaque_callback_data")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                at_ms: m["received_at_ms"].as_i64().unwrap_or_default(),
            })
            .collect(),
    )
}

/// Counts per whole second: every second from the first to the last receipt (empty ones too),
/// less the first and the last (partial).
pub(crate) fn whole_seconds(at_ms: impl Iterator<Item = i64>) -> Vec<u32> {
    let mut per_second = BTreeMap::<i64, u32>::new();
    for at in at_ms {
        *per_second.entry(at.div_euclid(1000)).or_default() += 1;
    }
    let (Some(first), Some(last)) = (
        per_second.keys().next().copied(),
        per_second.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    (first + 1..last)
        .map(|s| per_second.get(&s).copied().unwrap_or(0))
        .collect()
}

/// The most in one second of one number: `(count, phone_number_id, second)`.
pub(crate) fn worst_second<'a>(
    messages: impl Iterator<Item = (&'a str, i64)>,
) -> Option<(u32, String, i64)> {
    let mut per = HashMap::<(&str, i64), u32>::new();
    for (phone, at) in messages {
        *per.entry((phone, at.div_euclid(1000))).or_default() += 1;
    }
    per.into_iter()
        .max_by_key(|((phone, s), n)| (*n, std::cmp::Reverse(*s), std::cmp::Reverse(*phone)))
        .map(|((phone, s), n)| (n, phone.to_string(), s))
}

/// `(unix ms, the gateway's snapshot, the simulator's)`, oldest first.
type Samples = std::sync::Mutex<Vec<(i64, Snapshot, Snapshot)>>;

/// CPU samples of the gateway and of the simulator, taken every second by a task of its own
/// until stopped.
pub(crate) struct Sampler {
    samples: Arc<Samples>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `gateway` and `simulator` (process ids).
    pub(crate) fn start(gateway: Option<u32>, simulator: Option<u32>) -> Sampler {
        let samples = Arc::new(Samples::default());
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (samples, stop) = (samples.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let at = crate::scene::unix_us() / 1000;
                    let (g, s) = (Snapshot::take(gateway), Snapshot::take(simulator));
                    if let Ok(mut v) = samples.lock() {
                        v.push((at, g, s));
                    }
                }
            })
        };
        Sampler {
            samples,
            stop,
            task,
        }
    }

    /// Stops sampling; then the CPU used between the last sample at or before `from_ms` and
    /// the first at or after `to_ms` (Unix ms): the gateway's (with PostgreSQL, the benchmark
    /// and the machine) and the simulator's cores.
    pub(crate) async fn stop(self, from_ms: i64, to_ms: i64) -> (CpuUse, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        let (Some(first), Some(last)) = (v.first(), v.last()) else {
            return (CpuUse::default(), 0.0);
        };
        let a = v.iter().rev().find(|s| s.0 <= from_ms).unwrap_or(first);
        let b = v.iter().find(|s| s.0 >= to_ms).unwrap_or(last);
        (a.1.until(&b.1), a.2.until(&b.2).gateway)
    }
}

/// What `capacity` measured.
#[derive(Debug, Clone)]
pub struct CapacityReport {
    /// The backend.
    pub database: DbKind,
    /// Channels.
    pub channels: u32,
    /// Each channel's limit, msg/s.
    pub rate: u32,
    /// The backlog's length at the rate, s.
    pub seconds: u32,
    /// Sends queued (`channels × rate × seconds`).
    pub sends: u32,
    /// How long queueing them took, s.
    pub queue_secs: f64,
    /// From the first receipt at the simulator to the last, s.
    pub span_secs: f64,
    /// Per whole second at the simulator, all channels: counted, mean, most, fewest.
    pub whole_seconds: usize,
    /// Mean per whole second.
    pub mean: f64,
    /// The most in one whole second.
    pub max: u32,
    /// The fewest in one whole second.
    pub min: u32,
    /// The worst second of any one channel: count, phone number id.
    pub worst_channel_second: u32,
    /// The channel of that second.
    pub worst_channel: String,
    /// Receipts at the simulator.
    pub received: usize,
    /// Gateway ids the simulator received more than once.
    pub duplicates: usize,
    /// Accepted sends the simulator never received.
    pub missing: usize,
    /// Receipts of no accepted send.
    pub unknown: usize,
    /// CPU from the first receipt to the last.
    pub cpu: CpuUse,
    /// The simulator's cores over the same period.
    pub simulator_cores: f64,
    /// The machine.
    pub machine: Machine,
}

impl CapacityReport {
    /// The sends per second asked for: `channels × rate`.
    pub fn target(&self) -> u32 {
        self.channels * self.rate
    }

    /// Sends per second over the whole span.
    pub fn overall(&self) -> f64 {
        self.received as f64 / self.span_secs.max(0.001)
    }

    /// No channel-second above the rate, no duplicate, every send arrived (and nothing else).
    pub fn ok(&self) -> bool {
        self.worst_channel_second <= self.rate
            && self.duplicates == 0
            && self.missing == 0
            && self.unknown == 0
    }

    fn machine_share(&self) -> f64 {
        self.cpu.gateway / self.machine.nproc.max(1) as f64 * 100.0
    }

    /// As text.
    pub fn to_text(&self) -> String {
        let verdict = |ok: bool| if ok { "OK" } else { "FAILED" };
        format!(
            "openbsp-bench send --part capacity: {}\n  \
             queue         {} sends on {} channels at {} msg/s (target {}/s), queued in {:.1} s ({:.0} accepts/s)\n  \
             capacity      {} whole seconds at the simulator: mean {:.1}/s ({:.1} % of {}/s)  max {}  min {}; first to last receipt {:.1} s ({:.1}/s)\n  \
             channels      worst channel-second {} (channel {}, limit {}): {}\n  \
             delivery      {} received of {} queued: missing {}  duplicates {}  unknown {}: {}\n  \
             cpu           gateway {:.2} cores ({:.0} % of the machine's {}), simulator {:.2}; {}\n  \
             machine       {}\n",
            self.database.name(),
            self.sends,
            self.channels,
            self.rate,
            self.target(),
            self.queue_secs,
            f64::from(self.sends) / self.queue_secs.max(0.001),
            self.whole_seconds,
            self.mean,
            self.mean / f64::from(self.target()) * 100.0,
            self.target(),
            self.max,
            self.min,
            self.span_secs,
            self.overall(),
            self.worst_channel_second,
            self.worst_channel,
            self.rate,
            verdict(self.worst_channel_second <= self.rate),
            self.received,
            self.sends,
            self.missing,
            self.duplicates,
            self.unknown,
            verdict(self.duplicates == 0 && self.missing == 0 && self.unknown == 0),
            self.cpu.gateway,
            self.machine_share(),
            self.machine.nproc,
            self.simulator_cores,
            self.cpu.summary(),
            self.machine.summary()
        )
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let r = |x: f64| (x * 100.0).round() / 100.0;
        json!({
            "scenario": "send", "part": "capacity", "database": self.database.name(),
            "channels": self.channels, "rate": self.rate, "seconds": self.seconds,
            "target_per_sec": self.target(), "sends": self.sends,
            "queue_secs": r(self.queue_secs),
            "accepts_per_sec": r(f64::from(self.sends) / self.queue_secs.max(0.001)),
            "span_secs": r(self.span_secs), "overall_per_sec": r(self.overall()),
            "whole_seconds": self.whole_seconds, "mean_per_sec": r(self.mean),
            "share_of_target": r(self.mean / f64::from(self.target())),
            "max_per_sec": self.max, "min_per_sec": self.min,
            "worst_channel_second": self.worst_channel_second,
            "worst_channel": self.worst_channel,
            "received": self.received, "missing": self.missing,
            "duplicates": self.duplicates, "unknown": self.unknown,
            "cpu": self.cpu.to_json(),
            "gateway_machine_share": r(self.machine_share() / 100.0),
            "simulator_cores": r(self.simulator_cores),
            "ok": self.ok(),
            "machine": self.machine.to_json(),
        })
    }
}

/// Runs `capacity`; the processes are killed and the PostgreSQL database dropped whatever
/// happens.
pub async fn run(args: &SendArgs) -> Result<CapacityReport> {
    in_scratch(
        &args.openbsp,
        args.database,
        "capacity",
        async |binary, db, data_dir, scratch| {
            capacity_on(args, binary, db, data_dir, scratch).await
        },
    )
    .await
}

async fn capacity_on(
    args: &SendArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<CapacityReport> {
    let (n, rate) = (args.channels, args.rate);
    let per_channel = rate
        .checked_mul(args.seconds)
        .context("--rate × --seconds is too large")?;
    let sends = per_channel
        .checked_mul(n)
        .filter(|s| *s < 10_000_000)
        .context("--channels × --rate × --seconds must stay below 10,000,000")?;
    let (gateway, listen, meta) = start(binary, db, data_dir, scratch).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    for c in 0..n {
        register_number(&http, &meta, &listen, c, simulator_limit(rate)).await?;
    }
    register_template(&http, &meta.url).await?;
    eprintln!("bench: provisioning {n} channels at {rate} msg/s");
    let provisioned = gateway.provision_for(&meta.url, rate).await?;
    let provisioning = Instant::now();
    let mut channels = vec![provisioned.channel_id.clone()];
    for c in 1..n {
        let channel = gateway
            .add_channel(
                &provisioned.tenant_id,
                &provisioned.app_id,
                &phone_number_id(c),
                &display_number(c),
                &meta.url,
                rate,
            )
            .await?;
        channels.push(channel);
    }
    eprintln!(
        "bench: {n} channels added in {:.1} s",
        provisioning.elapsed().as_secs_f64()
    );
    let queueing = Instant::now();
    let mut accepted = HashSet::with_capacity(sends as usize);
    if args.prequeued {
        eprintln!(
            "bench: queueing {sends} bulk sends through the store ({per_channel} per channel)"
        );
        let ids = crate::bulk::enqueue(db.url(), &provisioned, &channels, sends).await?;
        accepted.extend(ids);
    }
    let server = gateway.serve(&listen, &scratch.join("serve.log")).await?;
    let sampler = Sampler::start(server.pid(), meta.pid());
    let (base, key) = (server.base_url.clone(), provisioned.api_key.clone());
    // Prequeued: nothing left to queue.
    let to_queue = if args.prequeued { 0 } else { sends };
    if to_queue > 0 {
        eprintln!("bench: queueing {sends} sends ({per_channel} per channel)");
    }
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..QUEUERS {
        let (http, base, key, next) = (http.clone(), base.clone(), key.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                // Interleaved: every channel's backlog grows at once.
                let g = next.fetch_add(1, Ordering::Relaxed);
                if g >= to_queue {
                    return Ok::<_, anyhow::Error>(ids);
                }
                let body = json!({"channel": phone_number_id(g % n), "to": format!("1556{g:07}"),
                                  "type": "template",
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
                let v: Value = r.json().await?;
                ids.push(v["id"].as_str().unwrap_or_default().to_string());
            }
        }));
    }
    for t in tasks {
        accepted.extend(t.await??);
    }
    let queue_secs = queueing.elapsed().as_secs_f64();
    eprintln!("bench: all queued in {queue_secs:.1} s; waiting for the simulator to have them");

    // While sending, poll one channel only (its whole list is small); the channels are paced
    // alike and were queued interleaved, so it finishes about when they all do.
    let last = phone_number_id(n - 1);
    let (mut seen, mut moved) = (0usize, Instant::now());
    while seen < per_channel as usize {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let got = crate::scene::received_count(&http, &meta, &last).await?;
        if got > seen {
            (seen, moved) = (got, Instant::now());
        } else if moved.elapsed() > STALL {
            eprintln!("bench: channel {last} stalled at {seen} of {per_channel}");
            break;
        }
    }
    // Then every channel, until each has its share (or the count stops moving).
    let mut lists: Vec<Vec<Received>> = vec![Vec::new(); n as usize];
    let (mut total, mut moved) = (0usize, Instant::now());
    loop {
        for (c, list) in lists.iter_mut().enumerate() {
            if list.len() < per_channel as usize {
                *list = received(&http, &meta, &phone_number_id(c as u32), None).await?;
            }
        }
        let now_total: usize = lists.iter().map(Vec::len).sum();
        if now_total >= sends as usize {
            break;
        }
        if now_total > total {
            (total, moved) = (now_total, Instant::now());
        } else if moved.elapsed() > STALL {
            eprintln!("bench: the simulator stalled at {now_total} of {sends}");
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let all: Vec<(String, Received)> = lists
        .into_iter()
        .enumerate()
        .flat_map(|(c, l)| {
            let phone = phone_number_id(c as u32);
            l.into_iter().map(move |m| (phone.clone(), m))
        })
        .collect();
    let first_ms = all.iter().map(|(_, m)| m.at_ms).min().unwrap_or_default();
    let last_ms = all.iter().map(|(_, m)| m.at_ms).max().unwrap_or_default();
    let (cpu, simulator_cores) = sampler.stop(first_ms, last_ms).await;
    server.stop(Duration::from_secs(10)).await?;
    if let Ok(path) = std::env::var("OPENBSP_BENCH_ARRIVALS") {
        // Diagnosis: every arrival at the simulator, `received_at_ms phone_number_id id` a line.
        let lines: String = all
            .iter()
            .map(|(p, m)| format!("{} {p} {}\n", m.at_ms, m.id))
            .collect();
        std::fs::write(&path, lines).with_context(|| format!("writing {path}"))?;
    }

    let mut times = HashMap::<&str, u32>::new();
    for (_, m) in &all {
        *times.entry(m.id.as_str()).or_default() += 1;
    }
    let whole = whole_seconds(all.iter().map(|(_, m)| m.at_ms));
    let (worst_channel_second, worst_channel, _) =
        worst_second(all.iter().map(|(p, m)| (p.as_str(), m.at_ms))).unwrap_or_default();
    Ok(CapacityReport {
        database: args.database,
        channels: n,
        rate,
        seconds: args.seconds,
        sends,
        queue_secs,
        span_secs: (last_ms - first_ms) as f64 / 1000.0,
        whole_seconds: whole.len(),
        mean: whole.iter().map(|x| f64::from(*x)).sum::<f64>() / whole.len().max(1) as f64,
        max: whole.iter().copied().max().unwrap_or_default(),
        min: whole.iter().copied().min().unwrap_or_default(),
        worst_channel_second,
        worst_channel,
        received: all.len(),
        duplicates: times.values().filter(|k| **k > 1).count(),
        missing: accepted
            .iter()
            .filter(|id| !times.contains_key(id.as_str()))
            .count(),
        unknown: times.keys().filter(|id| !accepted.contains(**id)).count(),
        cpu,
        simulator_cores,
        machine: Machine::detect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_fill_gaps_and_drop_the_ends() {
        let at = [500, 1_100, 1_900, 3_200, 4_999, 5_000];
        assert_eq!(whole_seconds(at.into_iter()), vec![2, 0, 1, 1]);
        assert!(whole_seconds([7].into_iter()).is_empty());
        assert!(whole_seconds(std::iter::empty()).is_empty());
    }

    #[test]
    fn the_worst_second_is_per_channel() {
        let m = [
            ("a", 1_000),
            ("a", 1_500),
            ("b", 1_200),
            ("b", 2_100),
            ("a", 2_000),
        ];
        assert_eq!(worst_second(m.into_iter()), Some((2, "a".to_string(), 1)));
        assert_eq!(worst_second(std::iter::empty()), None);
    }

    #[test]
    fn capacity_backlogs_last_30_seconds_unless_told() {
        use crate::send::Part;
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            send: SendArgs,
        }
        let parse = |a: &[&str]| Cli::try_parse_from(["send"].iter().chain(a)).unwrap().send;
        let c = parse(&["--part", "capacity"]);
        assert_eq!(
            (c.part, c.seconds, c.channels, c.rate),
            (Part::Capacity, 30, 100, 80)
        );
        assert_eq!(parse(&["--part", "capacity", "--seconds", "5"]).seconds, 5);
        assert_eq!(parse(&["--part", "pacing"]).seconds, 60);
        let b = parse(&["--part", "backlog", "--backlog", "5000", "--count", "20"]);
        assert_eq!((b.part, b.backlog, b.count), (Part::Backlog, 5000, 20));
        assert_eq!(parse(&[]).backlog, 100_000);
        assert!(Cli::try_parse_from(["send", "--channels", "0"]).is_err());
    }
}
