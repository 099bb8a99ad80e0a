//! The `webhooks` scenario: delivery of events to webhook endpoints (issue 5).
//!
//! Three measurements, each on a fresh database and a fresh `openbsp serve`, with the
//! receiving endpoints served by this process ([`crate::receiver`]):
//!
//! - `one-endpoint`: deliveries per second to one endpoint. `--events` synthetic native
//!   events are written straight into the gateway's `events` table in one transaction after
//!   the endpoint exists; the rate is timed from the first to the last delivery received.
//! - `many-endpoints`: the same with `--endpoints` endpoints, each receiving every one of
//!   `--spread-events` events.
//! - `lag`: `PATCH /v1/contacts/{id}` paced at `--rate` per second for `--duration` (each one
//!   writes a `contact.updated` event in its transaction, which wakes the delivery workers);
//!   the lag of each delivery is its arrival minus the event's `created_at`.
//!
//! Every part then checks against the database that each event created since an endpoint
//! was made reached that endpoint, and counts duplicates.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::cpu::Snapshot;
use crate::database::{BenchDb, DbKind, SyntheticEvent, redact};
use crate::duration::{format_duration, parse_duration};
use crate::gateway::{Gateway, PHONE_NUMBER_ID, Provisioned, Server, free_port};
use crate::machine::Machine;
use crate::receiver::{Receiver, Tally, UPDATE_NAME_PREFIX, parse_rfc3339_ms};
use crate::report::Latency;
pub use crate::webhooks_part::Part;
use crate::webhooks_report::{
    DeliveryCheck, LagReport, PartReport, ThroughputReport, WebhooksReport,
};

/// Options of `openbsp-bench webhooks`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhooksArgs {
    /// Storage backend of the gateway under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// The measurements to make, comma-separated, each on a fresh gateway.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "one-endpoint,many-endpoints,lag"
    )]
    pub parts: Vec<Part>,
    /// Events written for `one-endpoint`.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub events: u32,
    /// Endpoints for `many-endpoints`.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub endpoints: u16,
    /// Events written for `many-endpoints` (each is delivered to every endpoint).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub spread_events: u32,
    /// Contact updates per second for `lag`.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    /// How long `lag` updates contacts (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Contacts `lag` updates in turn.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub contacts: u16,
    /// How long to wait for every delivery once the last event is written.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The gateway binary to benchmark (build it with `cargo build --release -p openbsp`).
    #[arg(long, default_value = "target/release/openbsp")]
    pub openbsp: PathBuf,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Updates in flight at most while pacing (the pace is kept with this many outstanding).
const MAX_IN_FLIGHT: usize = 256;
/// How long duplicates may still arrive after the last expected delivery.
const SETTLE: Duration = Duration::from_millis(500);

/// Runs the parts asked for, in order, each on its own database and gateway.
pub async fn run(args: &WebhooksArgs) -> Result<WebhooksReport> {
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    let binary = crate::accept::resolve_binary(&args.openbsp)?;
    let mut wanted = args.parts.clone();
    wanted.sort();
    wanted.dedup();
    let mut parts = Vec::new();
    for part in wanted {
        parts.push(run_part(args, &binary, part).await?);
    }
    Ok(WebhooksReport {
        database: args.database.name().to_string(),
        parts,
        machine: Machine::detect(),
    })
}

/// One part on a fresh database; the server is killed and the PostgreSQL database dropped
/// whatever happens.
async fn run_part(args: &WebhooksArgs, binary: &Path, part: Part) -> Result<PartReport> {
    let (scratch, data_dir) = crate::accept::scratch()?;
    let db = BenchDb::create(args.database, &data_dir).await?;
    eprintln!(
        "bench: {}: {} database at {}",
        part.name(),
        args.database.name(),
        redact(db.url())
    );
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = part_on(args, part, binary, &db, &data_dir, scratch.path()) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = sigterm.recv() => Err(anyhow::anyhow!("terminated")),
    };
    if let Err(e) = db.drop_database().await {
        eprintln!("bench: warning: could not drop the benchmark database: {e:#}");
    }
    result
}

/// What a part runs against.
struct Setup<'a> {
    db: &'a BenchDb,
    provisioned: Provisioned,
    server: Server,
    receiver: Receiver,
    client: reqwest::Client,
}

async fn part_on(
    args: &WebhooksArgs,
    part: Part,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<PartReport> {
    let gateway = Gateway {
        binary: binary.to_path_buf(),
        database_url: db.url().to_string(),
        data_dir: data_dir.to_path_buf(),
    };
    eprintln!("bench: provisioning with {}", binary.display());
    let provisioned = gateway.provision().await?;
    let endpoints = match part {
        Part::ManyEndpoints => usize::from(args.endpoints),
        Part::OneEndpoint | Part::Lag => 1,
    };
    let receiver = Receiver::start(endpoints, part == Part::Lag).await?;
    let listen = format!("127.0.0.1:{}", free_port()?);
    eprintln!(
        "bench: starting openbsp serve on {listen}; receiving webhooks on {}",
        receiver.addr
    );
    let server = gateway
        .serve_with_env(
            &listen,
            &scratch.join("serve.log"),
            // The receiver is on loopback.
            &[("OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")],
        )
        .await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut setup = Setup {
        db,
        provisioned,
        server,
        receiver,
        client,
    };
    let outcome = match part {
        Part::OneEndpoint => throughput(args, &setup, part, 1, args.events).await,
        Part::ManyEndpoints => throughput(args, &setup, part, endpoints, args.spread_events).await,
        Part::Lag => lag(args, &setup).await,
    };
    if let Some(status) = setup.server.exited()? {
        bail!(
            "openbsp serve exited during the run ({status}); its log ends with:\n{}",
            setup.server.log_tail(40)
        );
    }
    let log_tail = setup.server.log_tail(20);
    eprintln!("bench: stopping openbsp serve");
    let stopped = setup.server.stop(Duration::from_secs(15)).await;
    let report = outcome?;
    stopped.context("stopping openbsp serve")?;
    if !report.check().ok() || report.check().duplicates > 0 {
        eprintln!("bench: the server's log ends with:\n{log_tail}");
    }
    Ok(report)
}

/// An endpoint as created.
#[derive(Debug, Clone)]
struct Endpoint {
    id: String,
    /// Unix ms: it receives the events created from then on.
    created_at: i64,
}

/// Creates `n` endpoints for every event type, pointing at the receiver's `/hook/<i>`.
async fn create_endpoints(s: &Setup<'_>, n: usize) -> Result<Vec<Endpoint>> {
    let url = format!("{}/v1/webhook-endpoints", s.server.base_url);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let resp = s
            .client
            .post(&url)
            .bearer_auth(&s.provisioned.api_key)
            .json(&json!({"url": s.receiver.url(i), "events": ["*"]}))
            .send()
            .await
            .context("creating a webhook endpoint")?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != reqwest::StatusCode::CREATED {
            bail!("POST /v1/webhook-endpoints answered {status}: {body}");
        }
        let id = body["id"].as_str().unwrap_or_default().to_string();
        let created_at = body["created_at"]
            .as_str()
            .and_then(parse_rfc3339_ms)
            .with_context(|| format!("the endpoint has no readable created_at: {body}"))?;
        out.push(Endpoint { id, created_at });
    }
    Ok(out)
}

/// `n` native `contact.updated` events of the size and shape the gateway writes, created at
/// `at` (Unix ms).
pub fn synthetic_events(n: u32, at: i64) -> Vec<SyntheticEvent> {
    let mut ids = ulid::Generator::new();
    let when = std::time::UNIX_EPOCH + Duration::from_millis(at.max(0) as u64);
    (0..n)
        .map(|i| {
            let ulid = ids
                .generate_from_datetime(when)
                .unwrap_or_else(|_| ulid::Ulid::new());
            let wa_id = crate::load::recipient(u64::from(i));
            let data = json!({
                "contact": {
                    "id": format!("con_bench{i:07}"), "object": "contact", "wa_id": wa_id,
                    "user_id": null, "name": format!("Bench {i}"), "username": null,
                    "attributes": {}, "previous_wa_ids": [],
                    "marketing_opt_out": {"opted_out": false, "since": null, "source": null},
                    "created_at": "2026-01-01T00:00:00.000Z",
                    "updated_at": "2026-01-01T00:00:00.000Z",
                },
                "changes": ["name"],
                "at": "2026-01-01T00:00:00.000Z",
            });
            SyntheticEvent {
                id: format!("evt_{}", ulid.to_string().to_lowercase()),
                kind: "contact.updated".to_string(),
                created_at: at,
                data: data.to_string(),
            }
        })
        .collect()
}

/// Deliveries per second: `events` written after `endpoints` endpoints exist.
async fn throughput(
    args: &WebhooksArgs,
    s: &Setup<'_>,
    part: Part,
    endpoints: usize,
    events: u32,
) -> Result<PartReport> {
    eprintln!("bench: creating {endpoints} webhook endpoint(s)");
    let made = create_endpoints(s, endpoints).await?;
    // Let the workers start and find nothing to do: the events are then found by a poll, as
    // rows written by another process would be.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = unix_ms();
    let at = made
        .iter()
        .map(|e| e.created_at)
        .max()
        .unwrap_or(now)
        .max(now);
    let synthetic = synthetic_events(events, at);
    eprintln!(
        "bench: writing {events} events into the database ({} deliveries expected)",
        u64::from(events) * endpoints as u64
    );
    let t0 = Instant::now();
    s.db.insert_events(&s.provisioned.tenant_id, &synthetic)
        .await?;
    let inserted = Instant::now();
    let expected = u64::from(events) * endpoints as u64;
    let (cpu, _) = wait_for(s, expected, args.timeout, inserted).await;
    let check = check(s, &made).await?;
    let t = s.receiver.tally();
    let arrivals = &t.arrivals;
    let (span, per_sec, steady_per_sec, from_insert) = rates(arrivals, inserted);
    Ok(PartReport::Throughput(ThroughputReport {
        part,
        endpoints,
        events: u64::from(events),
        insert_elapsed: inserted - t0,
        span,
        per_sec,
        steady_per_sec,
        from_insert,
        timeline: timeline(arrivals),
        cpu,
        check,
    }))
}

/// Deliveries per second over the arrivals: first to last, 10 % to 90 %, and the time from
/// `inserted` to the last.
pub fn rates(arrivals: &[Instant], inserted: Instant) -> (Duration, f64, f64, Duration) {
    let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) else {
        return (Duration::ZERO, 0.0, 0.0, Duration::ZERO);
    };
    let per = |n: usize, d: Duration| {
        if d.is_zero() {
            0.0
        } else {
            n as f64 / d.as_secs_f64()
        }
    };
    let span = *last - *first;
    let n = arrivals.len();
    let (lo, hi) = (n / 10, (n * 9 / 10).min(n - 1));
    let steady = per(hi - lo, arrivals[hi] - arrivals[lo]);
    (
        span,
        per(n, span),
        steady,
        last.saturating_duration_since(inserted),
    )
}

/// Deliveries in each second from the first.
pub fn timeline(arrivals: &[Instant]) -> Vec<u64> {
    let Some(first) = arrivals.first() else {
        return Vec::new();
    };
    let mut out: Vec<u64> = Vec::new();
    for a in arrivals {
        let i = (*a - *first).as_secs() as usize;
        if out.len() <= i {
            out.resize(i + 1, 0);
        }
        out[i] += 1;
    }
    out
}

/// Waits until `expected` distinct deliveries have arrived (or `timeout` after `from`), then
/// for stragglers. Returns the CPU used from the first delivery (or `from`, when `None`) to
/// the last expected one, and whether all arrived.
async fn wait_for(
    s: &Setup<'_>,
    expected: u64,
    timeout: Duration,
    from: Instant,
) -> (crate::cpu::CpuUse, bool) {
    let pid = s.server.pid();
    let mut start: Option<Snapshot> = None;
    let deadline = from + timeout;
    let mut next_note = Instant::now() + Duration::from_secs(2);
    let complete = loop {
        let (distinct, any) = {
            let t = s.receiver.tally();
            (t.distinct(), !t.arrivals.is_empty())
        };
        if any && start.is_none() {
            start = Some(Snapshot::take(pid));
        }
        if distinct >= expected {
            break true;
        }
        let now = Instant::now();
        if now >= deadline {
            eprintln!(
                "bench: gave up waiting after {}: {distinct} of {expected} delivered",
                format_duration(timeout)
            );
            break false;
        }
        if now >= next_note {
            eprintln!("bench: {distinct} of {expected} delivered");
            next_note = now + Duration::from_secs(2);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let end = Snapshot::take(pid);
    let cpu = start.unwrap_or(end).until(&end);
    tokio::time::sleep(SETTLE).await;
    (cpu, complete)
}

/// Compares what the receiver got with what the database holds: every endpoint must have
/// received each event created since it was made.
async fn check(s: &Setup<'_>, endpoints: &[Endpoint]) -> Result<DeliveryCheck> {
    let since = endpoints.iter().map(|e| e.created_at).min().unwrap_or(0);
    let events = s.db.events_since(&s.provisioned.tenant_id, since).await?;
    let t = s.receiver.tally();
    Ok(compare(endpoints, &events, &t))
}

fn compare(endpoints: &[Endpoint], events: &[(String, i64)], t: &Tally) -> DeliveryCheck {
    let mut c = DeliveryCheck {
        endpoints: endpoints.len(),
        deliveries: t.deliveries(),
        distinct: t.distinct(),
        malformed: t.malformed,
        connections: t.connections,
        samples: t.malformed_samples.clone(),
        ..DeliveryCheck::default()
    };
    for (i, e) in endpoints.iter().enumerate() {
        let want: HashSet<&str> = events
            .iter()
            .filter(|(_, at)| *at >= e.created_at)
            .map(|(id, _)| id.as_str())
            .collect();
        c.expected += want.len() as u64;
        let got = &t.by_endpoint[i];
        let missing: Vec<&&str> = want.iter().filter(|id| !got.contains_key(**id)).collect();
        c.missing += missing.len() as u64;
        c.unexpected += got.keys().filter(|id| !want.contains(&***id)).count() as u64;
        c.duplicates += got
            .values()
            .map(|n| u64::from(n.saturating_sub(1)))
            .sum::<u64>();
        for id in missing.into_iter().take(3) {
            if c.samples.len() < crate::load::MAX_SAMPLES {
                c.samples.push(format!("{} never received {id}", e.id));
            }
        }
    }
    c
}

/// The outcome of the paced updates.
#[derive(Debug, Default)]
struct Updates {
    sent: u64,
    ok: u64,
    errors_by_kind: BTreeMap<String, u64>,
    samples: Vec<String>,
    latency: Option<hdrhistogram::Histogram<u64>>,
    /// When each update that was answered 200 got its answer, by number.
    answered: HashMap<u64, Instant>,
    elapsed: Duration,
}

/// Lag at a paced rate of contact updates.
async fn lag(args: &WebhooksArgs, s: &Setup<'_>) -> Result<PartReport> {
    let contacts: Vec<String> = (0..u64::from(args.contacts))
        .map(crate::load::recipient)
        .collect();
    eprintln!("bench: creating {} contacts", contacts.len());
    crate::windows::open(
        &s.server.base_url,
        &s.provisioned.api_key,
        crate::gateway::APP_SECRET,
        PHONE_NUMBER_ID,
        u64::from(args.contacts),
    )
    .await?;
    let made = create_endpoints(s, 1).await?;
    // Let the worker start and go idle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = (f64::from(args.rate) * args.duration.as_secs_f64()).round() as u64;
    eprintln!(
        "bench: updating contacts at {}/s for {} ({total} updates)",
        args.rate,
        format_duration(args.duration)
    );
    let cpu_start = Snapshot::take(s.server.pid());
    let updates = drive_updates(s, &contacts, args.rate, total).await;
    let driven = Instant::now();
    // Every answered update has committed its event: the database says how many to expect
    // (an update that changed nothing wrote none).
    let expected =
        s.db.events_since(&s.provisioned.tenant_id, made[0].created_at)
            .await?
            .len() as u64;
    let _ = wait_for(s, expected, args.timeout, driven).await;
    let cpu = cpu_start.until(&Snapshot::take(s.server.pid()));
    let check = check(s, &made).await?;
    let t = s.receiver.tally();
    let latency = updates
        .latency
        .as_ref()
        .map(Latency::from_histogram)
        .unwrap_or_default();
    let (after_answer, before_answer) = after_answer(&updates.answered, &t.update_arrivals);
    Ok(PartReport::Lag(LagReport {
        rate: args.rate,
        duration: args.duration,
        contacts: contacts.len(),
        sent: updates.sent,
        ok: updates.ok,
        errors_by_kind: updates.errors_by_kind,
        samples: updates.samples,
        achieved_per_sec: if updates.elapsed.is_zero() {
            0.0
        } else {
            updates.sent as f64 / updates.elapsed.as_secs_f64()
        },
        update_latency: latency,
        lag: Latency::from_histogram(&t.lag_us),
        after_answer: Latency::from_histogram(&after_answer),
        after_answer_matched: after_answer.len(),
        before_answer,
        lags: t.lag_us.len(),
        lag_unreadable: t.lag_unreadable,
        cpu,
        check,
    }))
}

/// Update number, status (`None`: no answer), latency, when it was answered, a sample.
/// How long after its update's answer each update's event arrived (µs; 0 when it arrived
/// before the answer), and how many arrived before.
fn after_answer(
    answered: &HashMap<u64, Instant>,
    arrived: &HashMap<u64, Instant>,
) -> (hdrhistogram::Histogram<u64>, u64) {
    let mut h = crate::load::new_histogram();
    let mut before = 0;
    for (n, answer) in answered {
        if let Some(at) = arrived.get(n) {
            match at.checked_duration_since(*answer) {
                Some(d) => h.saturating_record(d.as_micros().max(1) as u64),
                None => {
                    before += 1;
                    h.saturating_record(1);
                }
            }
        }
    }
    (h, before)
}

type UpdateResult = (u64, Option<u16>, Duration, Instant, Option<String>);

/// Counts one update's outcome.
fn record(out: &mut Updates, r: Result<UpdateResult, tokio::task::JoinError>) {
    let Ok((n, status, took, at, sample)) = r else {
        *out.errors_by_kind.entry("task".into()).or_default() += 1;
        return;
    };
    if let Some(h) = out.latency.as_mut() {
        h.saturating_record(took.as_micros().max(1) as u64);
    }
    match status {
        Some(200) => {
            out.ok += 1;
            out.answered.insert(n, at);
        }
        Some(code) => *out.errors_by_kind.entry(code.to_string()).or_default() += 1,
        None => *out.errors_by_kind.entry("transport".into()).or_default() += 1,
    }
    if let Some(sample) = sample
        && out.samples.len() < crate::load::MAX_SAMPLES
    {
        out.samples.push(sample);
    }
}

/// `PATCH /v1/contacts/{id}` with a new name, `total` times, the n-th due at `n / rate` s.
async fn drive_updates(s: &Setup<'_>, contacts: &[String], rate: u32, total: u64) -> Updates {
    let auth = format!("Bearer {}", s.provisioned.api_key);
    let base = format!("{}/v1/contacts", s.server.base_url);
    let mut out = Updates {
        latency: Some(crate::load::new_histogram()),
        ..Updates::default()
    };
    let mut in_flight: JoinSet<UpdateResult> = JoinSet::new();
    let start = Instant::now() + Duration::from_millis(10);
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / f64::from(rate));
        tokio::time::sleep_until(due.into()).await;
        while let Some(r) = in_flight.try_join_next() {
            record(&mut out, r);
        }
        while in_flight.len() >= MAX_IN_FLIGHT {
            if let Some(r) = in_flight.join_next().await {
                record(&mut out, r);
            }
        }
        let contact = &contacts[(n % contacts.len() as u64) as usize];
        let req = s
            .client
            .patch(format!("{base}/{contact}"))
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json!({"name": format!("{UPDATE_NAME_PREFIX}{n}")}).to_string());
        out.sent += 1;
        in_flight.spawn(async move {
            let t0 = Instant::now();
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.bytes().await.unwrap_or_default();
                    let at = Instant::now();
                    let sample = (status != reqwest::StatusCode::OK).then(|| {
                        format!(
                            "{status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(300)])
                        )
                    });
                    (n, Some(status.as_u16()), at - t0, at, sample)
                }
                Err(e) => {
                    let at = Instant::now();
                    (n, None, at - t0, at, Some(format!("transport error: {e}")))
                }
            }
        });
    }
    while let Some(r) = in_flight.join_next().await {
        record(&mut out, r);
    }
    out.elapsed = start.elapsed();
    out
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_events_look_like_the_gateways() {
        let evs = synthetic_events(3, 1_700_000_000_123);
        assert_eq!(evs.len(), 3);
        let ids: HashSet<&str> = evs.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 3);
        for e in &evs {
            assert!(e.id.starts_with("evt_01"), "{}", e.id);
            assert_eq!(e.id.len(), 30);
            assert_eq!(e.id, e.id.to_lowercase());
            assert_eq!(e.kind, "contact.updated");
            assert_eq!(e.created_at, 1_700_000_000_123);
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(v["changes"][0], "name");
            assert!(v["contact"]["wa_id"].as_str().unwrap().starts_with("1555"));
        }
        // Ordered like the ids the gateway makes.
        assert!(evs.windows(2).all(|w| w[0].id < w[1].id));
    }

    #[test]
    fn delivery_after_the_answer() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let answered = HashMap::from([(1, t0), (2, t0 + ms(10)), (3, t0)]);
        // 1 arrives 4 ms after its answer, 2 before its answer, 3 never, 9 was not answered.
        let arrived = HashMap::from([(1, t0 + ms(4)), (2, t0 + ms(5)), (9, t0)]);
        let (h, before) = after_answer(&answered, &arrived);
        assert_eq!(h.len(), 2);
        assert_eq!(before, 1);
        assert!(h.max() >= 3_990 && h.max() <= 4_010, "{}", h.max());
    }

    #[test]
    fn rates_and_timeline() {
        let t0 = Instant::now();
        let inserted = t0 - Duration::from_millis(500);
        // 101 arrivals, 10 ms apart: 1 s from first to last.
        let arrivals: Vec<Instant> = (0..=100)
            .map(|i| t0 + Duration::from_millis(10 * i))
            .collect();
        let (span, per_sec, steady, from_insert) = rates(&arrivals, inserted);
        assert_eq!(span, Duration::from_secs(1));
        assert!((per_sec - 101.0).abs() < 1e-6, "{per_sec}");
        assert!((steady - 100.0).abs() < 1e-6, "{steady}");
        assert_eq!(from_insert, Duration::from_millis(1500));
        assert_eq!(timeline(&arrivals), vec![100, 1]);
        assert_eq!(rates(&[], inserted).1, 0.0);
        assert!(timeline(&[]).is_empty());
    }

    #[test]
    fn compares_deliveries_with_the_database() {
        let endpoints = vec![
            Endpoint {
                id: "whe_a".into(),
                created_at: 100,
            },
            Endpoint {
                id: "whe_b".into(),
                created_at: 200,
            },
        ];
        let events = vec![
            ("evt_old".to_string(), 150),
            ("evt_1".to_string(), 200),
            ("evt_2".to_string(), 300),
        ];
        let mut t = Tally {
            by_endpoint: vec![HashMap::new(), HashMap::new()],
            arrivals: vec![Instant::now(); 6],
            lag_us: crate::load::new_histogram(),
            lag_unreadable: 0,
            update_arrivals: HashMap::new(),
            malformed: 0,
            malformed_samples: Vec::new(),
            connections: 2,
        };
        for id in ["evt_old", "evt_1", "evt_2"] {
            t.by_endpoint[0].insert(id.into(), 1);
        }
        // Endpoint b: evt_1 twice, evt_2 missing, evt_old is before its time.
        t.by_endpoint[1].insert("evt_1".into(), 2);
        t.by_endpoint[1].insert("evt_old".into(), 1);
        let c = compare(&endpoints, &events, &t);
        assert_eq!(c.expected, 5);
        assert_eq!(c.distinct, 5);
        assert_eq!(c.deliveries, 6);
        assert_eq!(c.missing, 1);
        assert_eq!(c.unexpected, 1);
        assert_eq!(c.duplicates, 1);
        assert!(!c.ok());
        assert_eq!(c.samples, ["whe_b never received evt_2"]);
        t.by_endpoint[1].remove("evt_old");
        t.by_endpoint[1].insert("evt_2".into(), 1);
        let c = compare(&endpoints, &events, &t);
        assert!(c.ok(), "{c:?}");
        assert_eq!(c.duplicates, 1);
    }
}
