//! `openbsp-bench`: benchmarks of the OpenBSP gateway, run against the real binary.
//!
//! ```text
//! cargo build --release -p openbsp -p openbsp-bench
//! target/release/openbsp-bench accept [--database sqlite|postgres] [--duration 10s]
//!     [--concurrency 64] [--warmup 2s] [--openbsp target/release/openbsp] [--json]
//! ```
//!
//! Exit status: 0 when the run completed and its checks passed, 1 when a check failed (the
//! report is still printed), 2 when the run could not be completed.

mod accept;
mod database;
mod duration;
mod gateway;
mod load;
mod machine;
mod report;
mod windows;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks of the OpenBSP gateway.
#[derive(Debug, Parser)]
#[command(name = "openbsp-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Durable accepts per second on the native API (`POST /v1/messages`), then a check that
    /// the database holds exactly the accepted messages.
    Accept(accept::AcceptArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One thread: the machine's cores belong to the server under test.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("openbsp-bench: error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match cli.scenario {
            Scenario::Accept(args) => match accept::run(&args).await {
                Ok(report) => {
                    if args.json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.to_text());
                    }
                    if report.check.ok() {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!(
                            "openbsp-bench: MISMATCH: {} rows in messages, {} accepted",
                            report.check.rows, report.check.accepted
                        );
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("openbsp-bench: error: {e:#}");
                    ExitCode::from(2)
                }
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::DbKind;
    use clap::CommandFactory;
    use std::path::PathBuf;
    use std::time::Duration;

    fn accept(args: &[&str]) -> Result<accept::AcceptArgs, clap::Error> {
        let argv = ["openbsp-bench", "accept"].iter().chain(args);
        let Scenario::Accept(a) = Cli::try_parse_from(argv)?.scenario;
        Ok(a)
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn accept_defaults() {
        let a = accept(&[]).unwrap();
        assert_eq!(a.database, DbKind::Sqlite);
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.concurrency, 64);
        assert_eq!(a.openbsp, PathBuf::from("target/release/openbsp"));
        assert!(!a.json);
    }

    #[test]
    fn accept_options() {
        let a = accept(&[
            "--database",
            "postgres",
            "--duration",
            "30s",
            "--concurrency",
            "8",
            "--warmup",
            "500ms",
            "--openbsp",
            "/opt/openbsp",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.database, DbKind::Postgres);
        assert_eq!(a.duration, Duration::from_secs(30));
        assert_eq!(a.warmup, Duration::from_millis(500));
        assert_eq!(a.concurrency, 8);
        assert_eq!(a.openbsp, PathBuf::from("/opt/openbsp"));
        assert!(a.json);
    }

    #[test]
    fn accept_rejects_bad_options() {
        assert!(accept(&["--database", "mysql"]).is_err());
        assert!(accept(&["--concurrency", "0"]).is_err());
        assert!(accept(&["--concurrency", "-3"]).is_err());
        assert!(accept(&["--duration", "ten"]).is_err());
        assert!(accept(&["--bogus"]).is_err());
        assert!(Cli::try_parse_from(["openbsp-bench"]).is_err());
    }
}
