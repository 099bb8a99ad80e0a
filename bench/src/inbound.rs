//! The `inbound` scenario: Meta's webhooks in, on `POST /webhooks/whatsapp`.
//!
//! One or more `openbsp serve` processes on a fresh database (several only on PostgreSQL)
//! take signed Cloud API webhook payloads — three statuses (`sent`, `delivered`, `read`) to
//! one inbound text, each payload unique, all built and signed before the load
//! ([`payloads`]) — posted in a closed loop over `--concurrency` keep-alive connections,
//! round robin over the replicas. The statuses are about real outbound messages of the
//! gateway, one per group of the pool, queued through `POST /v1/messages` before the load
//! and kept from being sent by Meta's refusal of the channel's token ([`seed`]): each status
//! moves its message, writes its status row and its `message.status` event. Measured:
//! payloads answered 200 per second (verified, stored durably in `webhook_inbox`) and the
//! answers' latency. Then, with the servers still running, the benchmark waits until the
//! processor has set `processed_at` on every stored payload and reports the processing lag
//! (`processed_at − received_at`), the processing rate and the drain after the last answer,
//! and checks that the inbox holds exactly the payloads answered 200, all processed, and
//! that every seeded message is in the last status posted for it, with one status row and one
//! event per status.

mod payloads;
mod report;
mod seed;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::accept::resolve_binary;
use crate::cpu::{CpuUse, Snapshot};
use crate::database::{BenchDb, DbKind, redact};
use crate::duration::{format_duration, parse_duration};
use crate::gateway::{APP_SECRET, Gateway, PHONE_NUMBER_ID, Server, free_port};
use crate::load::{self, Shape};
use crate::machine::Machine;
use crate::report::Latency;
use crate::scene::start_meta;
pub use report::InboundReport;
use report::{InboxCheck, Processing, StatusCheck};

/// Options of `openbsp-bench inbound`.
#[derive(Debug, Clone, clap::Args)]
pub struct InboundArgs {
    /// Storage backend of the gateway under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// `openbsp serve` processes on the database, the posts spread round robin over them
    /// (more than 1 only with `--database postgres`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub replicas: u16,
    /// Measured period (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent keep-alive connections, one post in flight each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Unmeasured lead-in before the measured period.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// How long to wait after the last answer for every stored payload to be processed.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The gateway binary to benchmark (build it with `cargo build --release -p openbsp`).
    #[arg(long, default_value = "target/release/openbsp")]
    pub openbsp: PathBuf,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Payloads built beforehand per second of the run (warm-up and measured period): twice the
/// SQLite target. Should the load outrun them, more are built as it goes (and reported; their
/// statuses name no seeded message). One outbound message is seeded per group of them.
const PREBUILT_PER_SEC: f64 = 40_000.0;
/// At most this many built beforehand (about 0.5 GiB).
const MAX_PREBUILT: u64 = 1_000_000;
/// How often the inbox is counted while waiting for the processor.
const POLL: Duration = Duration::from_millis(100);

/// Payloads to build beforehand for a run of `warmup` + `duration`.
pub fn prebuilt_count(warmup: Duration, duration: Duration) -> u64 {
    let n = ((warmup + duration).as_secs_f64() * PREBUILT_PER_SEC).ceil() as u64;
    n.clamp(1, MAX_PREBUILT)
}

/// Runs the scenario: prepare a database, provision, serve, load, wait for the processor,
/// count, stop, report. The servers are killed and the PostgreSQL database dropped whatever
/// happens.
pub async fn run(args: &InboundArgs) -> Result<InboundReport> {
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    if args.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    if args.replicas > 1 && args.database != DbKind::Postgres {
        bail!("--replicas above 1 needs --database postgres (an SQLite database has one server)");
    }
    let binary = resolve_binary(&args.openbsp)?;
    let (scratch, data_dir) = crate::accept::scratch()?;

    let db = BenchDb::create(args.database, &data_dir).await?;
    eprintln!(
        "bench: {} database at {}",
        args.database.name(),
        redact(db.url())
    );
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = run_on(args, &binary, &db, &data_dir, scratch.path()) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = sigterm.recv() => Err(anyhow::anyhow!("terminated")),
    };
    if let Err(e) = db.drop_database().await {
        eprintln!("bench: warning: could not drop the benchmark database: {e:#}");
    }
    result
}

async fn run_on(
    args: &InboundArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<InboundReport> {
    let gateway = Gateway {
        binary: binary.to_path_buf(),
        database_url: db.url().to_string(),
        data_dir: data_dir.to_path_buf(),
    };
    // The first server's address, for the simulator's webhooks (it is to send none).
    let first_listen = format!("127.0.0.1:{}", free_port()?);
    let webhook_url = format!("http://{first_listen}/webhooks/whatsapp");
    eprintln!("bench: starting openbsp simulator as Meta");
    let meta = start_meta(binary, &webhook_url, &scratch.join("simulator.log")).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    crate::scene::register_template(&http, &meta.url).await?;
    eprintln!("bench: provisioning with {}", binary.display());
    let provisioned = gateway.provision_for(&meta.url, seed::CHANNEL_MPS).await?;

    let mut servers: Vec<Server> = Vec::new();
    for i in 0..usize::from(args.replicas) {
        let listen = if i == 0 {
            first_listen.clone()
        } else {
            format!("127.0.0.1:{}", free_port()?)
        };
        eprintln!("bench: starting openbsp serve on {listen}");
        let log = scratch.join(format!("serve-{i}.log"));
        servers.push(gateway.serve(&listen, &log).await?);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();

    // The statuses' messages: queued for real, held back by Meta (see `seed`).
    seed::sync_template(&http, &bases[0], &provisioned.api_key).await?;
    seed::rotate_token(&http, &meta.url, &webhook_url).await?;
    let prebuilt = prebuilt_count(args.warmup, args.duration);
    let wanted = payloads::groups(prebuilt);
    eprintln!(
        "bench: seeding {wanted} outbound template messages through POST /v1/messages (the simulator refuses the channel's token)"
    );
    let seeding_from = Instant::now();
    let outbound = seed::seed(&http, &bases, &provisioned.api_key, wanted).await?;
    let seeding = seeding_from.elapsed();
    let before = seed::wait_held(db, &http, &meta.url, wanted).await?;
    let held = seed::sender(db, &http, &bases, &meta.url).await?;
    eprintln!(
        "bench: seeded in {:.2}s; the channel is paused (Meta's {}) after {} refused sends, all {wanted} queued",
        seeding.as_secs_f64(),
        held.paused_by.unwrap_or_default(),
        held.refused
    );
    exited(&mut servers)?;

    eprintln!("bench: building and signing {prebuilt} payloads");
    let built_from = Instant::now();
    let builder = payloads::Builder {
        phone_number_id: PHONE_NUMBER_ID.to_string(),
        app_secret: APP_SECRET.to_string(),
        // After the seeding: the statuses come after their messages.
        now_secs: unix_ms(SystemTime::now()) / 1000 + 1,
        outbound: outbound.into(),
    };
    let first = builder.outbound[0].clone();
    let pool = Arc::new(payloads::Pool::prebuild(builder, prebuilt));
    eprintln!("bench: built in {:.2}s", built_from.elapsed().as_secs_f64());

    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("{}/webhooks/whatsapp", s.base_url))
        .collect();
    let shape = Shape {
        concurrency: usize::from(args.concurrency),
        warmup: args.warmup,
        duration: args.duration,
    };
    eprintln!(
        "bench: {} connections over {} replica(s): warm-up {}, then measuring {}",
        shape.concurrency,
        servers.len(),
        format_duration(shape.warmup),
        format_duration(shape.duration)
    );
    let pids: Vec<Option<u32>> = servers.iter().map(Server::pid).collect();
    let cpu = tokio::spawn(measure_cpu(pids, shape.warmup, shape.duration));
    let taken = pool.clone();
    let outcome = load::drive(&shape, reqwest::StatusCode::OK, move |client, n| {
        let p = taken.take();
        client
            .post(&urls[(n % urls.len() as u64) as usize])
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-hub-signature-256", p.signature)
            .body(p.body)
    })
    .await;
    let last_answer_ms = outcome.as_ref().ok().and_then(|o| o.last_done).map(|at| {
        let ago = Instant::now().saturating_duration_since(at);
        unix_ms(SystemTime::now()) - ago.as_millis() as i64
    });
    let cpu = cpu.await.unwrap_or_default();
    let outcome = outcome?;
    exited(&mut servers)?;
    let errors = outcome.measured.errors() + outcome.warmup.errors();
    if errors > 0 {
        for s in &servers {
            eprintln!(
                "bench: the log of {} ends with:\n{}",
                s.base_url,
                s.log_tail(20)
            );
        }
    }

    let answered = outcome.total_accepted();
    eprintln!(
        "bench: {answered} payloads answered 200; waiting for the processor (at most {})",
        format_duration(args.timeout)
    );
    let (rows, unprocessed) = wait_processed(db, &mut servers, args.timeout).await?;
    let times = db.inbox_times().await?;
    let statuses = StatusCheck {
        seeded: wanted,
        posted: payloads::Posted::of(pool.taken(), wanted),
        before,
        after: seed::tally(db).await?,
        sender: seed::sender(db, &http, &bases, &meta.url).await?,
        probe: seed::probe(&http, &bases[0], &provisioned.api_key, &first).await?,
    };
    eprintln!("bench: stopping openbsp serve");
    let mut stopped = Ok(());
    for s in servers {
        let r = s.stop(Duration::from_secs(15)).await;
        stopped = stopped.and(r);
    }
    stopped.context("stopping openbsp serve")?;

    let processing = Processing::from_times(&times, last_answer_ms);
    let check = InboxCheck {
        rows: u64::try_from(rows).unwrap_or(0),
        answered,
        unprocessed: u64::try_from(unprocessed).unwrap_or(0),
        errors,
    };
    Ok(InboundReport {
        database: args.database.name().to_string(),
        replicas: usize::from(args.replicas),
        concurrency: shape.concurrency,
        warmup: args.warmup,
        duration: args.duration,
        measured_elapsed: outcome.measured_elapsed,
        requests: outcome.measured.requests,
        answered: outcome.measured.accepted,
        per_sec: outcome.accepted_per_sec(),
        latency: Latency::from_histogram(&outcome.histogram),
        errors: outcome.measured.errors(),
        errors_by_kind: outcome.measured.errors_by_kind.clone(),
        warmup_requests: outcome.warmup.requests,
        warmup_answered: outcome.warmup.accepted,
        warmup_errors: outcome.warmup.errors(),
        prebuilt: pool.prebuilt(),
        built_on_demand: pool.built_on_demand(),
        cpu,
        timeout: args.timeout,
        processing,
        check,
        statuses,
        seeding,
        samples: outcome.samples.clone(),
        machine: Machine::detect(),
    })
}

/// Fails if a server has exited.
fn exited(servers: &mut [Server]) -> Result<()> {
    for s in servers {
        if let Some(status) = s.exited()? {
            bail!(
                "openbsp serve on {} exited during the run ({status}); its log ends with:\n{}",
                s.base_url,
                s.log_tail(40)
            );
        }
    }
    Ok(())
}

/// Counts the inbox until no row is left unprocessed, or `timeout` has passed; returns the
/// last `(rows, unprocessed)`.
async fn wait_processed(
    db: &BenchDb,
    servers: &mut [Server],
    timeout: Duration,
) -> Result<(i64, i64)> {
    let deadline = Instant::now() + timeout;
    let mut next_note = Instant::now() + Duration::from_secs(2);
    loop {
        let (rows, unprocessed) = db.inbox_counts().await?;
        if unprocessed == 0 {
            return Ok((rows, unprocessed));
        }
        exited(servers)?;
        let now = Instant::now();
        if now >= deadline {
            eprintln!(
                "bench: gave up waiting after {}: {unprocessed} of {rows} payloads unprocessed",
                format_duration(timeout)
            );
            return Ok((rows, unprocessed));
        }
        if now >= next_note {
            eprintln!("bench: {} of {rows} processed", rows - unprocessed);
            next_note = now + Duration::from_secs(2);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The cores used during the measured period (from `warmup` after now, for `duration`):
/// the gateway's are the sum over the replicas.
async fn measure_cpu(pids: Vec<Option<u32>>, warmup: Duration, duration: Duration) -> CpuUse {
    tokio::time::sleep(warmup).await;
    let start: Vec<Snapshot> = pids.iter().map(|p| Snapshot::take(*p)).collect();
    tokio::time::sleep(duration).await;
    let end: Vec<Snapshot> = pids.iter().map(|p| Snapshot::take(*p)).collect();
    combined(&start, &end)
}

/// One [`CpuUse`] for several gateway processes: theirs summed, the rest (PostgreSQL, the
/// benchmark, the machine) from the first pair of snapshots.
fn combined(start: &[Snapshot], end: &[Snapshot]) -> CpuUse {
    let uses: Vec<CpuUse> = start.iter().zip(end).map(|(a, b)| a.until(b)).collect();
    let mut total = uses.first().copied().unwrap_or_default();
    total.gateway = uses.iter().map(|u| u.gateway).sum();
    total
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: InboundArgs,
    }

    fn parse(args: &[&str]) -> Result<InboundArgs, clap::Error> {
        let argv = ["inbound"].iter().chain(args);
        Ok(Cli::try_parse_from(argv)?.args)
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.database, DbKind::Sqlite);
        assert_eq!(a.replicas, 1);
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.concurrency, 64);
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.timeout, Duration::from_secs(300));
        assert_eq!(a.openbsp, PathBuf::from("target/release/openbsp"));
        assert!(!a.json);
    }

    #[test]
    fn options() {
        let a = parse(&[
            "--database",
            "postgres",
            "--replicas",
            "3",
            "--duration",
            "3s",
            "--concurrency",
            "16",
            "--warmup",
            "500ms",
            "--timeout",
            "1m",
            "--openbsp",
            "/opt/openbsp",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.database, DbKind::Postgres);
        assert_eq!(a.replicas, 3);
        assert_eq!(a.duration, Duration::from_secs(3));
        assert_eq!(a.concurrency, 16);
        assert_eq!(a.warmup, Duration::from_millis(500));
        assert_eq!(a.timeout, Duration::from_secs(60));
        assert_eq!(a.openbsp, PathBuf::from("/opt/openbsp"));
        assert!(a.json);
    }

    #[test]
    fn rejects_bad_options() {
        assert!(parse(&["--replicas", "0"]).is_err());
        assert!(parse(&["--replicas", "65"]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--database", "mysql"]).is_err());
        assert!(parse(&["--duration", "soon"]).is_err());
        assert!(parse(&["--events", "3"]).is_err());
    }

    #[tokio::test]
    async fn replicas_need_postgres() {
        let a = parse(&["--replicas", "3", "--openbsp", "/nonexistent"]).unwrap();
        let err = run(&a).await.unwrap_err();
        assert!(err.to_string().contains("--database postgres"), "{err}");
        let a = parse(&["--duration", "0s"]).unwrap();
        assert!(run(&a).await.is_err());
    }

    #[test]
    fn prebuilt_payloads_cover_twice_the_target() {
        assert_eq!(
            prebuilt_count(Duration::from_secs(2), Duration::from_secs(10)),
            480_000
        );
        assert_eq!(prebuilt_count(Duration::ZERO, Duration::from_millis(1)), 40);
        assert_eq!(
            prebuilt_count(Duration::from_secs(2), Duration::from_secs(600)),
            MAX_PREBUILT
        );
    }

    #[test]
    fn cpu_of_replicas_adds_up() {
        // This process standing in for two replicas.
        let me = Some(std::process::id());
        let a = Snapshot::take(me);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(spin.elapsed());
        }
        let b = Snapshot::take(me);
        let one = a.until(&b);
        let two = combined(&[a, a], &[b, b]);
        assert_eq!(two.gateway, 2.0 * one.gateway);
        assert_eq!(two.bench, one.bench);
        assert_eq!(two.machine, one.machine);
        assert_eq!(combined(&[], &[]), CpuUse::default());
    }
}
