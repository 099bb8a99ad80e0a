//! The `webhooks` scenario's report, as text and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cpu::CpuUse;
use crate::duration::format_duration;
use crate::machine::Machine;
use crate::report::Latency;
use crate::webhooks_part::Part;

/// What arrived against what the database says should have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCheck {
    /// Endpoints.
    pub endpoints: usize,
    /// (endpoint, event) pairs that had to arrive: every event created since the endpoint was.
    pub expected: u64,
    /// Distinct (endpoint, event) pairs that arrived.
    pub distinct: u64,
    /// Deliveries received, duplicates included.
    pub deliveries: u64,
    /// Expected pairs that never arrived.
    pub missing: u64,
    /// Pairs that arrived but were not expected.
    pub unexpected: u64,
    /// Deliveries beyond the first of a pair.
    pub duplicates: u64,
    /// Requests that were not deliveries.
    pub malformed: u64,
    /// Connections the gateway opened to the receiver.
    pub connections: u64,
    /// What went wrong, a few of it.
    pub samples: Vec<String>,
}

impl DeliveryCheck {
    /// Nothing missing, nothing unexpected, nothing malformed (duplicates are allowed: at
    /// least once).
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.unexpected == 0 && self.malformed == 0
    }

    /// `OK` or `FAILED`.
    pub fn verdict(&self) -> &'static str {
        if self.ok() { "OK" } else { "FAILED" }
    }

    fn line(&self) -> String {
        format!(
            "{}: {} of {} delivered, {} missing, {} unexpected, {} duplicates{}; {} connections",
            self.verdict(),
            self.distinct,
            self.expected,
            self.missing,
            self.unexpected,
            self.duplicates,
            if self.malformed > 0 {
                format!(", {} malformed requests", self.malformed)
            } else {
                String::new()
            },
            self.connections
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "result": self.verdict(),
            "endpoints": self.endpoints,
            "expected": self.expected,
            "distinct": self.distinct,
            "deliveries": self.deliveries,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "connections": self.connections,
            "samples": self.samples,
        })
    }
}

/// `one-endpoint` or `many-endpoints`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputReport {
    /// Which.
    pub part: Part,
    /// Endpoints.
    pub endpoints: usize,
    /// Events written.
    pub events: u64,
    /// How long writing them took.
    pub insert_elapsed: Duration,
    /// First to last delivery.
    pub span: Duration,
    /// Deliveries / span.
    pub per_sec: f64,
    /// Deliveries per second from the 10 % to the 90 % one.
    pub steady_per_sec: f64,
    /// From the insert's commit to the last delivery (includes the workers' poll, ≤ 1 s).
    pub from_insert: Duration,
    /// Deliveries in each second from the first.
    pub timeline: Vec<u64>,
    /// Cores used from the first to the last delivery.
    pub cpu: CpuUse,
    /// What arrived.
    pub check: DeliveryCheck,
}

/// `lag`.
#[derive(Debug, Clone, PartialEq)]
pub struct LagReport {
    /// Updates per second asked for.
    pub rate: u32,
    /// For how long.
    pub duration: Duration,
    /// Contacts updated in turn.
    pub contacts: usize,
    /// Updates sent.
    pub sent: u64,
    /// Answered 200 (each wrote one `contact.updated` event).
    pub ok: u64,
    /// The others, by status or `transport`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// A few unexpected answers.
    pub samples: Vec<String>,
    /// Updates sent per second, as it happened.
    pub achieved_per_sec: f64,
    /// Latency of the updates.
    pub update_latency: Latency,
    /// Lag of the deliveries: arrival − the event's `created_at`.
    pub lag: Latency,
    /// Deliveries whose lag was measured.
    pub lags: u64,
    /// How long after its update's `200` each event arrived (0 when before it): the
    /// delivery's share of the lag, without the update's own commit.
    pub after_answer: Latency,
    /// Deliveries matched with their update's answer.
    pub after_answer_matched: u64,
    /// Of which arrived before the answer.
    pub before_answer: u64,
    /// Deliveries without a readable `created_at`.
    pub lag_unreadable: u64,
    /// Cores used from the first update to the last delivery.
    pub cpu: CpuUse,
    /// What arrived.
    pub check: DeliveryCheck,
}

/// One part's report.
#[derive(Debug, Clone, PartialEq)]
pub enum PartReport {
    /// Deliveries per second.
    Throughput(ThroughputReport),
    /// Lag.
    Lag(LagReport),
}

impl PartReport {
    /// What arrived.
    pub fn check(&self) -> &DeliveryCheck {
        match self {
            PartReport::Throughput(t) => &t.check,
            PartReport::Lag(l) => &l.check,
        }
    }
}

/// Everything the `webhooks` scenario reports.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksReport {
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The parts, in the order they ran.
    pub parts: Vec<PartReport>,
    /// Where it ran.
    pub machine: Machine,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

pub(crate) fn latency_json(l: &Latency) -> Value {
    json!({
        "p50": round(l.p50, 3),
        "p90": round(l.p90, 3),
        "p99": round(l.p99, 3),
        "max": round(l.max, 3),
    })
}

pub(crate) fn latency_text(l: &Latency) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        l.p50, l.p90, l.p99, l.max
    )
}

impl WebhooksReport {
    /// Every part's check passed.
    pub fn ok(&self) -> bool {
        self.parts.iter().all(|p| p.check().ok())
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "openbsp-bench webhooks: {}", self.database);
        for p in &self.parts {
            match p {
                PartReport::Throughput(t) => {
                    let title = if t.endpoints == 1 {
                        "1 endpoint".to_string()
                    } else {
                        format!("{} endpoints", t.endpoints)
                    };
                    let _ = writeln!(
                        s,
                        "  {title:<14}{} events written in {:.2}s, {} deliveries in {:.2}s (first to last)",
                        t.events,
                        t.insert_elapsed.as_secs_f64(),
                        t.check.deliveries,
                        t.span.as_secs_f64()
                    );
                    let _ = writeln!(
                        s,
                        "    deliveries/s  {:.1} (10 % to 90 %: {:.1}); last {:.2}s after the insert's commit",
                        t.per_sec,
                        t.steady_per_sec,
                        t.from_insert.as_secs_f64()
                    );
                    let per_second: Vec<String> =
                        t.timeline.iter().map(|n| n.to_string()).collect();
                    let _ = writeln!(s, "    per second    {}", per_second.join(" "));
                    let _ = writeln!(s, "    cpu           {}", t.cpu.summary());
                    let _ = writeln!(s, "    check         {}", t.check.line());
                }
                PartReport::Lag(l) => {
                    let errors = l.sent - l.ok;
                    let kinds = if l.errors_by_kind.is_empty() {
                        String::new()
                    } else {
                        let parts: Vec<String> = l
                            .errors_by_kind
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect();
                        format!("; {}", parts.join(", "))
                    };
                    let _ = writeln!(
                        s,
                        "  lag           contact updates at {}/s for {} over {} contacts: {} sent ({:.1}/s), {} answered 200, {errors} errors{kinds}",
                        l.rate,
                        format_duration(l.duration),
                        l.contacts,
                        l.sent,
                        l.achieved_per_sec,
                        l.ok
                    );
                    let _ = writeln!(
                        s,
                        "    lag ms        {}  ({} deliveries{})",
                        latency_text(&l.lag),
                        l.lags,
                        if l.lag_unreadable > 0 {
                            format!(", {} without created_at", l.lag_unreadable)
                        } else {
                            String::new()
                        }
                    );
                    let _ = writeln!(
                        s,
                        "    after 200 ms  {}  ({} deliveries, {} before their update's answer)",
                        latency_text(&l.after_answer),
                        l.after_answer_matched,
                        l.before_answer
                    );
                    let _ = writeln!(s, "    update ms     {}", latency_text(&l.update_latency));
                    let _ = writeln!(s, "    cpu           {}", l.cpu.summary());
                    let _ = writeln!(s, "    check         {}", l.check.line());
                    if !l.samples.is_empty() {
                        let _ = writeln!(s, "    unexpected answers (sample):");
                        for sample in &l.samples {
                            let _ = writeln!(s, "      {sample}");
                        }
                    }
                }
            }
            let samples = &p.check().samples;
            if !samples.is_empty() {
                let _ = writeln!(s, "    delivery problems (sample):");
                for sample in samples {
                    let _ = writeln!(s, "      {sample}");
                }
            }
        }
        let _ = writeln!(s, "  machine       {}", self.machine.summary());
        s
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let parts: Vec<Value> = self
            .parts
            .iter()
            .map(|p| match p {
                PartReport::Throughput(t) => json!({
                    "part": t.part.name(),
                    "endpoints": t.endpoints,
                    "events": t.events,
                    "insert_s": round(t.insert_elapsed.as_secs_f64(), 3),
                    "span_s": round(t.span.as_secs_f64(), 3),
                    "deliveries_per_s": round(t.per_sec, 1),
                    "steady_deliveries_per_s": round(t.steady_per_sec, 1),
                    "from_insert_s": round(t.from_insert.as_secs_f64(), 3),
                    "per_second": t.timeline,
                    "cpu_cores": t.cpu.to_json(),
                    "check": t.check.to_json(),
                }),
                PartReport::Lag(l) => json!({
                    "part": Part::Lag.name(),
                    "rate": l.rate,
                    "duration_s": l.duration.as_secs_f64(),
                    "contacts": l.contacts,
                    "sent": l.sent,
                    "ok": l.ok,
                    "errors_by_kind": l.errors_by_kind,
                    "unexpected_samples": l.samples,
                    "achieved_per_s": round(l.achieved_per_sec, 1),
                    "update_latency_ms": latency_json(&l.update_latency),
                    "lag_ms": latency_json(&l.lag),
                    "lags": l.lags,
                    "after_answer_ms": latency_json(&l.after_answer),
                    "after_answer_matched": l.after_answer_matched,
                    "before_answer": l.before_answer,
                    "lag_unreadable": l.lag_unreadable,
                    "cpu_cores": l.cpu.to_json(),
                    "check": l.check.to_json(),
                }),
            })
            .collect();
        json!({
            "scenario": "webhooks",
            "database": self.database,
            "parts": parts,
            "machine": self.machine.to_json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(n: u64) -> DeliveryCheck {
        DeliveryCheck {
            endpoints: 1,
            expected: n,
            distinct: n,
            deliveries: n,
            connections: 64,
            ..DeliveryCheck::default()
        }
    }

    fn sample() -> WebhooksReport {
        WebhooksReport {
            database: "sqlite".into(),
            parts: vec![
                PartReport::Throughput(ThroughputReport {
                    part: Part::OneEndpoint,
                    endpoints: 1,
                    events: 1000,
                    insert_elapsed: Duration::from_millis(120),
                    span: Duration::from_millis(2500),
                    per_sec: 400.0,
                    steady_per_sec: 410.04,
                    from_insert: Duration::from_millis(3100),
                    timeline: vec![390, 420, 190],
                    cpu: CpuUse {
                        gateway: 1.5,
                        postgres: 0.0,
                        bench: 0.25,
                        machine: 1.9,
                    },
                    check: check(1000),
                }),
                PartReport::Lag(LagReport {
                    rate: 100,
                    duration: Duration::from_secs(2),
                    contacts: 10,
                    sent: 200,
                    ok: 199,
                    errors_by_kind: BTreeMap::from([("500".to_string(), 1)]),
                    samples: vec!["500 Internal Server Error: {}".into()],
                    achieved_per_sec: 99.96,
                    update_latency: Latency {
                        p50: 1.0,
                        p90: 2.0,
                        p99: 3.0,
                        max: 4.0,
                    },
                    lag: Latency {
                        p50: 5.0,
                        p90: 6.0,
                        p99: 7.5,
                        max: 9.0,
                    },
                    lags: 199,
                    after_answer: Latency {
                        p50: 0.5,
                        p90: 1.0,
                        p99: 2.0,
                        max: 3.0,
                    },
                    after_answer_matched: 199,
                    before_answer: 20,
                    lag_unreadable: 0,
                    cpu: CpuUse::default(),
                    check: DeliveryCheck {
                        missing: 1,
                        expected: 199,
                        distinct: 198,
                        deliveries: 198,
                        endpoints: 1,
                        samples: vec!["whe_1 never received evt_9".into()],
                        ..DeliveryCheck::default()
                    },
                }),
            ],
            machine: Machine {
                nproc: 2,
                cpu_model: "Test CPU".into(),
                memory_bytes: 4 * 1024 * 1024 * 1024,
            },
        }
    }

    #[test]
    fn text_report() {
        let text = sample().to_text();
        let expected = "\
openbsp-bench webhooks: sqlite
  1 endpoint    1000 events written in 0.12s, 1000 deliveries in 2.50s (first to last)
    deliveries/s  400.0 (10 % to 90 %: 410.0); last 3.10s after the insert's commit
    per second    390 420 190
    cpu           gateway 1.50, postgres 0.00, bench 0.25, other 0.15: machine 1.90 cores
    check         OK: 1000 of 1000 delivered, 0 missing, 0 unexpected, 0 duplicates; 64 connections
  lag           contact updates at 100/s for 2s over 10 contacts: 200 sent (100.0/s), 199 answered 200, 1 errors; 500: 1
    lag ms        p50 5.00  p90 6.00  p99 7.50  max 9.00  (199 deliveries)
    after 200 ms  p50 0.50  p90 1.00  p99 2.00  max 3.00  (199 deliveries, 20 before their update's answer)
    update ms     p50 1.00  p90 2.00  p99 3.00  max 4.00
    cpu           gateway 0.00, postgres 0.00, bench 0.00, other 0.00: machine 0.00 cores
    check         FAILED: 198 of 199 delivered, 1 missing, 0 unexpected, 0 duplicates; 0 connections
    unexpected answers (sample):
      500 Internal Server Error: {}
    delivery problems (sample):
      whe_1 never received evt_9
  machine       2 CPUs, Test CPU, 4.0 GiB RAM
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_report() {
        let r = sample();
        assert!(!r.ok());
        let v = r.to_json();
        assert_eq!(v["scenario"], "webhooks");
        assert_eq!(v["database"], "sqlite");
        let one = &v["parts"][0];
        assert_eq!(one["part"], "one-endpoint");
        assert_eq!(one["deliveries_per_s"], 400.0);
        assert_eq!(one["steady_deliveries_per_s"], 410.0);
        assert_eq!(one["per_second"][1], 420);
        assert_eq!(one["cpu_cores"]["gateway"], 1.5);
        assert_eq!(one["check"]["result"], "OK");
        let lag = &v["parts"][1];
        assert_eq!(lag["part"], "lag");
        assert_eq!(lag["lag_ms"]["p99"], 7.5);
        assert_eq!(lag["after_answer_ms"]["p50"], 0.5);
        assert_eq!(lag["before_answer"], 20);
        assert_eq!(lag["errors_by_kind"]["500"], 1);
        assert_eq!(lag["check"]["result"], "FAILED");
        assert_eq!(lag["check"]["missing"], 1);
        assert_eq!(v["machine"]["nproc"], 2);
        let line = v.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), v);
    }

    #[test]
    fn duplicates_do_not_fail_the_check() {
        let mut c = check(10);
        c.duplicates = 3;
        c.deliveries = 13;
        assert!(c.ok());
        c.malformed = 1;
        assert!(!c.ok());
        assert!(c.line().contains("1 malformed requests"));
    }
}
