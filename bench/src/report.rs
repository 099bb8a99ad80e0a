//! The `accept` scenario's report, as text and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::duration::format_duration;
use crate::machine::Machine;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    /// Percentiles of a histogram of µs values (all 0 if it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Whether the database holds exactly the accepted messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCheck {
    /// Rows in `messages` after the run.
    pub rows: i64,
    /// 202 answers over the whole run, warm-up included.
    pub accepted: u64,
}

impl RowCheck {
    /// Rows == accepted.
    pub fn ok(&self) -> bool {
        u64::try_from(self.rows).is_ok_and(|rows| rows == self.accepted)
    }

    /// `OK` or `MISMATCH`.
    pub fn verdict(&self) -> &'static str {
        if self.ok() { "OK" } else { "MISMATCH" }
    }
}

/// Everything the `accept` scenario reports.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptReport {
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Warm-up asked for.
    pub warmup: Duration,
    /// Measured period asked for.
    pub duration: Duration,
    /// Measured period as it happened (until the last measured request completed).
    pub measured_elapsed: Duration,
    /// Requests started in the measured period.
    pub requests: u64,
    /// Of which accepted (202).
    pub accepted: u64,
    /// Accepted per second, measured period.
    pub accepted_per_sec: f64,
    /// Latency of measured requests.
    pub latency: Latency,
    /// Measured requests not accepted.
    pub errors: u64,
    /// Those, by status code or `transport`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Requests during the warm-up.
    pub warmup_requests: u64,
    /// Accepted during the warm-up.
    pub warmup_accepted: u64,
    /// Not accepted during the warm-up.
    pub warmup_errors: u64,
    /// Rows vs accepted.
    pub check: RowCheck,
    /// A few unexpected answers.
    pub samples: Vec<String>,
    /// Where it ran.
    pub machine: Machine,
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl AcceptReport {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "openbsp-bench accept: {}, concurrency {}, warm-up {}, measured {:.2}s",
            self.database,
            self.concurrency,
            format_duration(self.warmup),
            self.measured_elapsed.as_secs_f64()
        );
        let _ = writeln!(s, "  accepted/s    {:.1}", self.accepted_per_sec);
        let l = &self.latency;
        let _ = writeln!(
            s,
            "  latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.max
        );
        let _ = writeln!(
            s,
            "  requests      {} ({} accepted, {} errors{})",
            self.requests,
            self.accepted,
            self.errors,
            kinds(&self.errors_by_kind)
        );
        let _ = writeln!(
            s,
            "  warm-up       {} requests ({} accepted, {} errors)",
            self.warmup_requests, self.warmup_accepted, self.warmup_errors
        );
        let relation = if self.check.ok() { "==" } else { "!=" };
        let _ = writeln!(
            s,
            "  rows check    {}: {} rows in messages {relation} {} accepted (warm-up included)",
            self.check.verdict(),
            self.check.rows,
            self.check.accepted
        );
        let _ = writeln!(s, "  machine       {}", self.machine.summary());
        if !self.samples.is_empty() {
            let _ = writeln!(s, "  unexpected answers (sample):");
            for sample in &self.samples {
                let _ = writeln!(s, "    {sample}");
            }
        }
        s
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let l = &self.latency;
        json!({
            "scenario": "accept",
            "database": self.database,
            "concurrency": self.concurrency,
            "warmup_s": self.warmup.as_secs_f64(),
            "duration_s": self.duration.as_secs_f64(),
            "measured_s": round(self.measured_elapsed.as_secs_f64(), 3),
            "requests": self.requests,
            "accepted": self.accepted,
            "accepted_per_s": round(self.accepted_per_sec, 1),
            "latency_ms": {
                "p50": round(l.p50, 3),
                "p90": round(l.p90, 3),
                "p99": round(l.p99, 3),
                "max": round(l.max, 3),
            },
            "errors": self.errors,
            "errors_by_kind": self.errors_by_kind,
            "warmup": {
                "requests": self.warmup_requests,
                "accepted": self.warmup_accepted,
                "errors": self.warmup_errors,
            },
            "check": {
                "result": self.check.verdict(),
                "rows": self.check.rows,
                "accepted": self.check.accepted,
            },
            "unexpected_samples": self.samples,
            "machine": self.machine.to_json(),
        })
    }
}

pub(crate) fn kinds(by_kind: &BTreeMap<String, u64>) -> String {
    if by_kind.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by_kind.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("; {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AcceptReport {
        AcceptReport {
            database: "sqlite".into(),
            concurrency: 64,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            measured_elapsed: Duration::from_millis(10_004),
            requests: 41_000,
            accepted: 40_998,
            accepted_per_sec: 4098.16,
            latency: Latency {
                p50: 1.234,
                p90: 2.5,
                p99: 7.25,
                max: 31.0,
            },
            errors: 2,
            errors_by_kind: BTreeMap::from([("500".to_string(), 2)]),
            warmup_requests: 7000,
            warmup_accepted: 7000,
            warmup_errors: 0,
            check: RowCheck {
                rows: 47_998,
                accepted: 47_998,
            },
            samples: vec!["500 Internal Server Error: {\"error\":{}}".into()],
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
openbsp-bench accept: sqlite, concurrency 64, warm-up 2s, measured 10.00s
  accepted/s    4098.2
  latency ms    p50 1.23  p90 2.50  p99 7.25  max 31.00
  requests      41000 (40998 accepted, 2 errors; 500: 2)
  warm-up       7000 requests (7000 accepted, 0 errors)
  rows check    OK: 47998 rows in messages == 47998 accepted (warm-up included)
  machine       2 CPUs, Test CPU, 4.0 GiB RAM
  unexpected answers (sample):
    500 Internal Server Error: {\"error\":{}}
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_report() {
        let v = sample().to_json();
        assert_eq!(v["scenario"], "accept");
        assert_eq!(v["database"], "sqlite");
        assert_eq!(v["concurrency"], 64);
        assert_eq!(v["accepted_per_s"], 4098.2);
        assert_eq!(v["latency_ms"]["p50"], 1.234);
        assert_eq!(v["latency_ms"]["max"], 31.0);
        assert_eq!(v["errors"], 2);
        assert_eq!(v["errors_by_kind"]["500"], 2);
        assert_eq!(v["check"]["result"], "OK");
        assert_eq!(v["check"]["rows"], 47_998);
        assert_eq!(v["warmup"]["accepted"], 7000);
        assert_eq!(v["machine"]["nproc"], 2);
        assert_eq!(v["measured_s"], 10.004);
        // One line, parseable.
        let line = v.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), v);
    }

    #[test]
    fn mismatch_is_reported() {
        let mut r = sample();
        r.check = RowCheck {
            rows: 47_990,
            accepted: 47_998,
        };
        assert!(!r.check.ok());
        assert!(
            r.to_text()
                .contains("MISMATCH: 47990 rows in messages != 47998 accepted")
        );
        assert_eq!(r.to_json()["check"]["result"], "MISMATCH");
        assert!(
            !RowCheck {
                rows: -1,
                accepted: 0
            }
            .ok()
        );
    }

    #[test]
    fn latency_from_histogram() {
        let mut h = crate::load::new_histogram();
        assert_eq!(Latency::from_histogram(&h), Latency::default());
        for us in 1..=1000u64 {
            h.record(us * 100).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p90 - 90.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 100.0).abs() < 0.1, "{l:?}");
    }
}
