//! `openbsp-bench`: benchmarks of the OpenBSP gateway, run against the real binary.
//!
//! ```text
//! cargo build --release -p openbsp -p openbsp-bench
//! target/release/openbsp-bench accept [--database sqlite|postgres] [--duration 10s]
//!     [--concurrency 64] [--warmup 2s] [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench webhooks [--database sqlite|postgres]
//!     [--parts one-endpoint,many-endpoints,lag] [--events 100000] [--endpoints 100]
//!     [--spread-events 1000] [--rate 1000] [--duration 10s] [--contacts 10] [--timeout 120s]
//!     [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench inbound [--database sqlite|postgres] [--replicas 1]
//!     [--duration 10s] [--concurrency 64] [--warmup 2s] [--timeout 300s]
//!     [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench send [--part latency] [--database sqlite|postgres] [--count 300]
//! target/release/openbsp-bench send --part pacing [--database sqlite|postgres] [--rate 80]
//!     [--seconds 60] [--replicas 1] [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench send --part capacity [--database sqlite|postgres]
//!     [--channels 100] [--rate 80] [--seconds 30] [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench campaign --part import [--database sqlite|postgres]
//!     [--recipients 1000000] [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench campaign --part pacing [--database sqlite|postgres]
//! target/release/openbsp-bench media [--database sqlite|postgres] [--large-mb 100] [--small 1000]
//!     [--recipients 100000] [--rate 1000] [--replicas 1] [--replies 100] [--json]
//! target/release/openbsp-bench send --part backlog [--database sqlite|postgres]
//!     [--backlog 100000] [--rate 80] [--count 300] [--openbsp target/release/openbsp] [--json]
//! target/release/openbsp-bench lists [--database sqlite|postgres] [--events 1000000]
//!     [--rare 10] [--runs 5] [--json]
//! ```
//!
//! Exit status: 0 when the run completed and its checks passed, 1 when a check failed (the
//! report is still printed), 2 when the run could not be completed.

mod accept;
mod backlog;
mod bulk;
mod campaign;
mod capacity;
mod cpu;
mod database;
mod duration;
mod gateway;
mod inbound;
mod lists;
mod load;
mod machine;
mod media;
mod receiver;
mod report;
mod scene;
mod send;
mod webhooks;
mod webhooks_part;
mod webhooks_report;
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
    /// Delivery of events to webhook endpoints served by the benchmark: deliveries per second
    /// to one endpoint and spread over many, and the lag from a state change to its delivery;
    /// then a check that every event reached every endpoint.
    Webhooks(webhooks::WebhooksArgs),
    /// Meta's webhooks in (`POST /webhooks/whatsapp`): signed status and message payloads
    /// per second, verified, stored and answered 200, on one or more replicas (the statuses
    /// about outbound messages queued beforehand); then the lag until the gateway processed
    /// them, a check that each was stored once, and one that each status moved its message.
    Inbound(inbound::InboundArgs),
    /// Sending to the Cloud API simulator (run as a process, as Meta): latency of sequential
    /// sends on an idle channel.
    Send(send::SendArgs),
    /// Campaigns: a million-row upload (time, the gateway's memory), and a campaign's pace
    /// per second at the simulator with replies overtaking it.
    Campaign(campaign::CampaignArgs),
    /// Media: a large file uploaded and downloaded through the gateway beside a plain copy,
    /// the gateway's memory meanwhile, and many small images.
    Media(media::MediaArgs),
    /// A page of `GET /v1/events` on the store (no HTTP) over a million events of one tenant:
    /// a rare type, a common group, no filter, a deep page.
    Lists(lists::ListsArgs),
}

/// Prints a run's report (text, or JSON with `--json`) and gives the exit status: 0 when its
/// checks passed, 1 when one failed, 2 when the run could not be completed.
fn finish<R>(
    result: anyhow::Result<R>,
    json: bool,
    report: impl Fn(&R) -> (String, serde_json::Value, bool),
) -> ExitCode {
    match result {
        Ok(r) => {
            let (text, value, ok) = report(&r);
            if json {
                println!("{value}");
            } else {
                print!("{text}");
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("openbsp-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
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
            Scenario::Send(args) if args.part == send::Part::Pacing => {
                finish(send::run_pacing(&args).await, args.json, |r| {
                    (r.to_text(), r.to_json(), r.ok())
                })
            }
            Scenario::Send(args) if args.part == send::Part::Capacity => {
                finish(capacity::run(&args).await, args.json, |r| {
                    (r.to_text(), r.to_json(), r.ok())
                })
            }
            Scenario::Send(args) if args.part == send::Part::Backlog => {
                finish(backlog::run(&args).await, args.json, |r| {
                    (r.to_text(), r.to_json(), r.ok())
                })
            }
            Scenario::Campaign(args) => finish(campaign::run(&args).await, args.json, |r| {
                    (r.to_text(), r.to_json(), r.ok())
                }),
            Scenario::Media(args) => finish(media::run(&args).await, args.json, |r| {
                (r.to_text(), r.to_json(), r.ok())
            }),
            Scenario::Lists(args) => finish(lists::run(&args).await, args.json, |r| {
                (r.to_text(), r.to_json(), r.ok())
            }),
            Scenario::Send(args) => match send::run(&args).await {
                Ok(report) => {
                    if args.json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.to_text());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("openbsp-bench: error: {e:#}");
                    ExitCode::from(2)
                }
            },
            Scenario::Inbound(args) => match inbound::run(&args).await {
                Ok(report) => {
                    if args.json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.to_text());
                    }
                    if report.ok() {
                        ExitCode::SUCCESS
                    } else {
                        if !report.check.ok() {
                            eprintln!(
                                "openbsp-bench: inbox check failed: {} rows in webhook_inbox, {} answered 200, {} unprocessed, {} errors",
                                report.check.rows,
                                report.check.answered,
                                report.check.unprocessed,
                                report.check.errors
                            );
                        }
                        if !report.statuses.ok() {
                            let (_, _, _, read) = report.statuses.expected();
                            eprintln!(
                                "openbsp-bench: status check failed: {} of {} seeded messages read, {read} read statuses posted (see the report)",
                                report.statuses.after.read, report.statuses.seeded
                            );
                        }
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("openbsp-bench: error: {e:#}");
                    ExitCode::from(2)
                }
            },
            Scenario::Webhooks(args) => match webhooks::run(&args).await {
                Ok(report) => {
                    if args.json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.to_text());
                    }
                    if report.ok() {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("openbsp-bench: some events did not reach their endpoints");
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
        match Cli::try_parse_from(argv)?.scenario {
            Scenario::Accept(a) => Ok(a),
            other => panic!("not accept: {other:?}"),
        }
    }

    fn webhooks(args: &[&str]) -> Result<webhooks::WebhooksArgs, clap::Error> {
        let argv = ["openbsp-bench", "webhooks"].iter().chain(args);
        match Cli::try_parse_from(argv)?.scenario {
            Scenario::Webhooks(a) => Ok(a),
            other => panic!("not webhooks: {other:?}"),
        }
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

    #[test]
    fn webhooks_defaults() {
        use webhooks::Part;
        let w = webhooks(&[]).unwrap();
        assert_eq!(w.database, DbKind::Sqlite);
        assert_eq!(w.parts, [Part::OneEndpoint, Part::ManyEndpoints, Part::Lag]);
        assert_eq!(w.events, 100_000);
        assert_eq!(w.endpoints, 100);
        assert_eq!(w.spread_events, 1_000);
        assert_eq!(w.rate, 1_000);
        assert_eq!(w.duration, Duration::from_secs(10));
        assert_eq!(w.contacts, 10);
        assert_eq!(w.timeout, Duration::from_secs(120));
        assert_eq!(w.openbsp, PathBuf::from("target/release/openbsp"));
        assert!(!w.json);
    }

    #[test]
    fn webhooks_options() {
        use webhooks::Part;
        let w = webhooks(&[
            "--database",
            "postgres",
            "--parts",
            "lag,one-endpoint",
            "--events",
            "5000",
            "--endpoints",
            "7",
            "--spread-events",
            "30",
            "--rate",
            "250",
            "--duration",
            "3s",
            "--contacts",
            "4",
            "--timeout",
            "1m",
            "--openbsp",
            "/opt/openbsp",
            "--json",
        ])
        .unwrap();
        assert_eq!(w.database, DbKind::Postgres);
        assert_eq!(w.parts, [Part::Lag, Part::OneEndpoint]);
        assert_eq!(w.events, 5000);
        assert_eq!(w.endpoints, 7);
        assert_eq!(w.spread_events, 30);
        assert_eq!(w.rate, 250);
        assert_eq!(w.duration, Duration::from_secs(3));
        assert_eq!(w.contacts, 4);
        assert_eq!(w.timeout, Duration::from_secs(60));
        assert_eq!(w.openbsp, PathBuf::from("/opt/openbsp"));
        assert!(w.json);
        // Repeated --parts add up.
        let w = webhooks(&["--parts", "lag", "--parts", "many-endpoints"]).unwrap();
        assert_eq!(w.parts, [Part::Lag, Part::ManyEndpoints]);
    }

    #[test]
    fn webhooks_rejects_bad_options() {
        assert!(webhooks(&["--parts", "everything"]).is_err());
        assert!(webhooks(&["--database", "mysql"]).is_err());
        assert!(webhooks(&["--events", "0"]).is_err());
        assert!(webhooks(&["--endpoints", "0"]).is_err());
        assert!(webhooks(&["--endpoints", "70000"]).is_err());
        assert!(webhooks(&["--spread-events", "-1"]).is_err());
        assert!(webhooks(&["--rate", "0"]).is_err());
        assert!(webhooks(&["--contacts", "0"]).is_err());
        assert!(webhooks(&["--contacts", "1001"]).is_err());
        assert!(webhooks(&["--duration", "soon"]).is_err());
        assert!(webhooks(&["--timeout", "x"]).is_err());
        assert!(webhooks(&["--concurrency", "8"]).is_err());
    }
}
