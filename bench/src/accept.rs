//! The `accept` scenario: durable accepts per second on `POST /v1/messages`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::database::{BenchDb, DbKind, redact};
use crate::duration::{format_duration, parse_duration};
use crate::gateway::{Gateway, PHONE_NUMBER_ID, free_port};
use crate::load::{self, LoadPlan};
use crate::machine::Machine;
use crate::report::{AcceptReport, Latency, RowCheck};

/// Options of `openbsp-bench accept`.
#[derive(Debug, Clone, clap::Args)]
pub struct AcceptArgs {
    /// Storage backend of the gateway under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// Measured period (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Unmeasured lead-in before the measured period.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// The gateway binary to benchmark (build it with `cargo build --release -p openbsp`).
    #[arg(long, default_value = "target/release/openbsp")]
    pub openbsp: PathBuf,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the scenario: prepare a database, provision, serve, load, stop, count, report.
/// The server is killed and the PostgreSQL database dropped whatever happens.
pub async fn run(args: &AcceptArgs) -> Result<AcceptReport> {
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let binary = resolve_binary(&args.openbsp)?;
    let (scratch, data_dir) = scratch()?;

    let db = BenchDb::create(args.database, &data_dir).await?;
    eprintln!(
        "bench: {} database at {}",
        args.database.name(),
        redact(db.url())
    );
    // On Ctrl-C or SIGTERM the run is dropped (which kills the server) and the database is
    // still dropped.
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
    args: &AcceptArgs,
    binary: &Path,
    db: &BenchDb,
    data_dir: &Path,
    scratch: &Path,
) -> Result<AcceptReport> {
    let gateway = Gateway {
        binary: binary.to_path_buf(),
        database_url: db.url().to_string(),
        data_dir: data_dir.to_path_buf(),
    };

    eprintln!("bench: provisioning with {}", binary.display());
    let provisioned = gateway.provision().await?;

    let listen = format!("127.0.0.1:{}", free_port()?);
    eprintln!("bench: starting openbsp serve on {listen}");
    let mut server = gateway.serve(&listen, &scratch.join("serve.log")).await?;

    eprintln!(
        "bench: opening the customer service windows of {} recipients",
        crate::load::RECIPIENTS
    );
    crate::windows::open(
        &server.base_url,
        &provisioned.api_key,
        crate::gateway::APP_SECRET,
        PHONE_NUMBER_ID,
        crate::load::RECIPIENTS,
    )
    .await?;

    let plan = LoadPlan {
        url: format!("{}/v1/messages", server.base_url),
        api_key: provisioned.api_key.clone(),
        channel: PHONE_NUMBER_ID.to_string(),
        concurrency: usize::from(args.concurrency),
        warmup: args.warmup,
        duration: args.duration,
    };
    eprintln!(
        "bench: {} connections: warm-up {}, then measuring {}",
        plan.concurrency,
        format_duration(plan.warmup),
        format_duration(plan.duration)
    );
    let outcome = load::run(&plan).await;
    if let Some(status) = server.exited()? {
        bail!(
            "openbsp serve exited during the run ({status}); its log ends with:\n{}",
            server.log_tail(40)
        );
    }
    let log_tail = server.log_tail(20);
    eprintln!("bench: stopping openbsp serve");
    let stopped = server.stop(Duration::from_secs(15)).await;
    let outcome = outcome?;
    stopped.context("stopping openbsp serve")?;
    if outcome.measured.errors() + outcome.warmup.errors() > 0 {
        eprintln!("bench: the server's log ends with:\n{log_tail}");
    }

    eprintln!("bench: counting outbound rows in messages");
    let rows = db.count_messages().await?;
    let check = RowCheck {
        rows,
        accepted: outcome.total_accepted(),
    };

    Ok(AcceptReport {
        database: args.database.name().to_string(),
        concurrency: plan.concurrency,
        warmup: args.warmup,
        duration: args.duration,
        measured_elapsed: outcome.measured_elapsed,
        requests: outcome.measured.requests,
        accepted: outcome.measured.accepted,
        accepted_per_sec: outcome.accepted_per_sec(),
        latency: Latency::from_histogram(&outcome.histogram),
        errors: outcome.measured.errors(),
        errors_by_kind: outcome.measured.errors_by_kind.clone(),
        warmup_requests: outcome.warmup.requests,
        warmup_accepted: outcome.warmup.accepted,
        warmup_errors: outcome.warmup.errors(),
        check,
        samples: outcome.samples.clone(),
        machine: Machine::detect(),
    })
}

/// The binary as given, checked to exist, made absolute (the server runs elsewhere).
/// A scratch directory for one run (`openbsp-bench-…`, removed when dropped, unless the run
/// keeps it) and its `data` folder, made.
pub(crate) fn scratch() -> Result<(tempfile::TempDir, PathBuf)> {
    let scratch = tempfile::Builder::new()
        .prefix("openbsp-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let data_dir = scratch.path().join("data");
    std::fs::create_dir(&data_dir)?;
    Ok((scratch, data_dir))
}

pub(crate) fn resolve_binary(path: &Path) -> Result<PathBuf> {
    if !path.is_file() {
        bail!(
            "no openbsp binary at {} (build it with `cargo build --release -p openbsp`, or pass --openbsp PATH)",
            path.display()
        );
    }
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_is_a_clear_error() {
        let err = resolve_binary(Path::new("/nonexistent/openbsp")).unwrap_err();
        assert!(err.to_string().contains("cargo build --release -p openbsp"));
    }

    #[test]
    fn existing_binary_is_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("openbsp");
        std::fs::write(&bin, "").unwrap();
        assert_eq!(resolve_binary(&bin).unwrap(), bin);
    }
}
