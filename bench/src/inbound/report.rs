//! The `inbound` scenario's report, as text and as JSON, the processing figures read from
//! `webhook_inbox`, and the check that the statuses did their work on the seeded messages.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::payloads::Posted;
use crate::cpu::CpuUse;
use crate::duration::format_duration;
use crate::machine::Machine;
use crate::report::{Latency, kinds, round};
use crate::webhooks_report::{latency_json, latency_text};

/// The target on SQLite: payloads per second taken.
pub const TARGET_PER_SEC_SQLITE: f64 = 20_000.0;
/// The target on SQLite: the median answer, ms.
pub const TARGET_P50_MS_SQLITE: f64 = 5.0;
/// Meta's: the median answer, ms.
pub const META_P50_MS: f64 = 250.0;

/// How the stored payloads were processed, from `webhook_inbox`'s `received_at` and
/// `processed_at` (the gateway's clock, Unix ms).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Processing {
    /// Rows in `webhook_inbox`.
    pub rows: u64,
    /// Of which processed (`processed_at` set).
    pub processed: u64,
    /// `processed_at − received_at` of the processed rows.
    pub lag: Latency,
    /// Processed rows per second, from the first `processed_at` to the last (`None` when
    /// they all share one millisecond).
    pub per_sec: Option<f64>,
    /// From the last answer to the last `processed_at` (0 when processing kept up); `None`
    /// when some rows were not processed, or nothing was answered.
    pub drain: Option<Duration>,
}

impl Processing {
    /// The figures of `(received_at, processed_at)` rows; `last_answer_ms` is when the
    /// benchmark got its last answer (Unix ms).
    pub fn from_times(times: &[(i64, Option<i64>)], last_answer_ms: Option<i64>) -> Processing {
        let mut h = crate::load::new_histogram();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        let mut processed = 0u64;
        for (received, done) in times {
            let Some(done) = *done else { continue };
            processed += 1;
            first = first.min(done);
            last = last.max(done);
            let lag_us = (done - received).max(0) as u64 * 1000;
            h.saturating_record(lag_us.max(1));
        }
        let rows = times.len() as u64;
        let per_sec = (processed > 0 && last > first)
            .then(|| processed as f64 / ((last - first) as f64 / 1000.0));
        let drain = match last_answer_ms {
            Some(answer) if processed == rows && processed > 0 => {
                Some(Duration::from_millis((last - answer).max(0) as u64))
            }
            _ => None,
        };
        Processing {
            rows,
            processed,
            lag: Latency::from_histogram(&h),
            per_sec,
            drain,
        }
    }
}

/// One target and whether the run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Its key in the JSON report.
    pub key: &'static str,
    /// As the text report says it.
    pub label: String,
    /// The figure to meet.
    pub value: f64,
    /// Met.
    pub met: bool,
}

/// Whether the inbox holds exactly the payloads answered 200, all processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCheck {
    /// Rows in `webhook_inbox` after the run.
    pub rows: u64,
    /// 200 answers over the whole run, warm-up included.
    pub answered: u64,
    /// Rows still without `processed_at` when the wait ended.
    pub unprocessed: u64,
    /// Answers other than 200 (and requests without an answer), warm-up included.
    pub errors: u64,
}

impl InboxCheck {
    /// Rows == answered, none left unprocessed, no error.
    pub fn ok(&self) -> bool {
        self.rows == self.answered && self.unprocessed == 0 && self.errors == 0
    }

    /// `OK` or `FAILED`.
    pub fn verdict(&self) -> &'static str {
        if self.ok() { "OK" } else { "FAILED" }
    }

    fn line(&self) -> String {
        let relation = if self.rows == self.answered {
            "=="
        } else {
            "!="
        };
        let errors = if self.errors > 0 {
            format!(", {} requests not answered 200", self.errors)
        } else {
            String::new()
        };
        format!(
            "{}: {} rows in webhook_inbox {relation} {} answered 200 (warm-up included), {} unprocessed{errors}",
            self.verdict(),
            self.rows,
            self.answered,
            self.unprocessed
        )
    }
}

/// The benchmark's outbound messages and what statuses wrote for them, as the database holds
/// them (read with [`super::seed::TALLY_SQL`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Outbound messages `queued`.
    pub queued: u64,
    /// `sent`.
    pub sent: u64,
    /// `delivered`.
    pub delivered: u64,
    /// `read`.
    pub read: u64,
    /// In any other status (`accepted`, `failed`, …).
    pub other: u64,
    /// `message_statuses` rows `sent`, `delivered` or `read` of outbound messages.
    pub history: u64,
    /// `message.status` events.
    pub events: u64,
    /// Outbox rows (sends still to make), in flight or not.
    pub outbox: u64,
    /// Of which in flight.
    pub inflight: u64,
}

impl Tally {
    /// The tally of `(label, count)` rows: `message:<status>`, `history:<status>`,
    /// `events:<type>`, `outbox:<state>`.
    pub fn from_rows(rows: &[(String, i64)]) -> Tally {
        let mut t = Tally::default();
        for (label, n) in rows {
            let n = u64::try_from(*n).unwrap_or(0);
            match label.split_once(':') {
                Some(("message", "queued")) => t.queued += n,
                Some(("message", "sent")) => t.sent += n,
                Some(("message", "delivered")) => t.delivered += n,
                Some(("message", "read")) => t.read += n,
                Some(("message", _)) => t.other += n,
                Some(("history", "sent" | "delivered" | "read")) => t.history += n,
                Some(("events", _)) => t.events += n,
                Some(("outbox", state)) => {
                    t.outbox += n;
                    if state == "inflight" {
                        t.inflight += n;
                    }
                }
                _ => {}
            }
        }
        t
    }

    /// Outbound messages.
    pub fn messages(&self) -> u64 {
        self.queued + self.sent + self.delivered + self.read + self.other
    }
}

/// How the seeded messages were kept from being sent: Meta refused the channel's token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sender {
    /// The code of Meta's error that paused the channel (`None`: not paused).
    pub paused_by: Option<i64>,
    /// Send attempts Meta refused (`openbsp_sends_total`, all replicas).
    pub refused: u64,
    /// Send attempts Meta accepted.
    pub accepted: u64,
    /// Messages the simulator accepted, over the whole run.
    pub meta_messages: u64,
    /// Webhooks the simulator delivered, over the whole run.
    pub meta_webhooks: u64,
}

impl Sender {
    /// Paused, nothing sent, nothing sent back.
    pub fn held(&self) -> bool {
        self.paused_by.is_some()
            && self.accepted == 0
            && self.meta_messages == 0
            && self.meta_webhooks == 0
    }

    fn line(&self) -> String {
        let paused = match self.paused_by {
            Some(code) => format!("channel paused by Meta's {code} before the load"),
            None => "channel NOT paused".to_string(),
        };
        format!(
            "{}: {paused}, {} sends refused, {} accepted; the simulator took {} messages and sent {} webhooks",
            if self.held() { "held" } else { "NOT held" },
            self.refused,
            self.accepted,
            self.meta_messages,
            self.meta_webhooks
        )
    }
}

/// The first seeded message as the native API shows it after the run
/// (`GET /v1/messages/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Its id (`msg_…`).
    pub id: String,
    /// Its status.
    pub status: String,
    /// Its status history, oldest first.
    pub history: Vec<String>,
    /// Whether it learnt the `wamid` its statuses carried.
    pub wamid: bool,
}

impl Probe {
    /// What all three statuses make of a queued message.
    pub fn read(&self) -> bool {
        self.status == "read"
            && self.history == ["queued", "sent", "delivered", "read"]
            && self.wamid
    }
}

/// Whether each status posted for a seeded message did its work: the messages' statuses, their
/// status rows and `message.status` events, their outbox rows gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCheck {
    /// Outbound messages queued through `POST /v1/messages` before the load.
    pub seeded: u64,
    /// The statuses posted over the whole run, by kind.
    pub posted: Posted,
    /// The database once seeded, before the load.
    pub before: Tally,
    /// The database once every payload was processed.
    pub after: Tally,
    /// How the messages were kept from being sent.
    pub sender: Sender,
    /// The first seeded message through the native API, after the run.
    pub probe: Probe,
}

impl StatusCheck {
    /// `(queued, sent, delivered, read)` the seeded messages must end in: each in the last
    /// status posted for it.
    pub fn expected(&self) -> (u64, u64, u64, u64) {
        let p = &self.posted;
        (
            self.seeded.saturating_sub(p.sent),
            p.sent.saturating_sub(p.delivered),
            p.delivered.saturating_sub(p.read),
            p.read,
        )
    }

    /// Status rows added by the run.
    pub fn history_added(&self) -> i64 {
        self.after.history as i64 - self.before.history as i64
    }

    /// `message.status` events added by the run.
    pub fn events_added(&self) -> i64 {
        self.after.events as i64 - self.before.events as i64
    }

    /// Seeded all queued; after, each message in its last status, one status row and one
    /// event per status posted, the outbox holding only the messages no status named; and the
    /// sender held.
    pub fn ok(&self) -> bool {
        let (queued, sent, delivered, read) = self.expected();
        let (b, a) = (&self.before, &self.after);
        let total = self.posted.total() as i64;
        // The first message got all three statuses (when any read one was posted).
        let probed = self.posted.read == 0 || self.probe.read();
        probed
            && self.sender.held()
            && b.messages() == self.seeded
            && b.queued == self.seeded
            && (a.queued, a.sent, a.delivered, a.read, a.other)
                == (queued, sent, delivered, read, 0)
            && self.history_added() == total
            && self.events_added() == total
            && a.outbox == queued
    }

    /// `OK` or `FAILED`.
    pub fn verdict(&self) -> &'static str {
        if self.ok() { "OK" } else { "FAILED" }
    }

    fn line(&self) -> String {
        let (queued, sent, delivered, read) = self.expected();
        let a = &self.after;
        let rel = |same: bool| if same { "==" } else { "!=" };
        let total = self.posted.total();
        let as_expected = (a.sent, a.delivered, a.queued, a.other) == (sent, delivered, queued, 0);
        let mut out = format!(
            "{}: {} seeded messages read {} {read} read statuses posted; of {} seeded: sent {}, delivered {}, queued {}{}; +{} status rows, +{} message.status events {} {total} statuses posted; {} outbox rows left {} {queued} without a status",
            self.verdict(),
            a.read,
            rel(a.read == read),
            self.seeded,
            a.sent,
            a.delivered,
            a.queued,
            if as_expected {
                " as expected".to_string()
            } else {
                format!(
                    ", other {} (expected {sent}, {delivered}, {queued}, 0)",
                    a.other
                )
            },
            self.history_added(),
            self.events_added(),
            rel(self.history_added() == total as i64 && self.events_added() == total as i64),
            a.outbox,
            rel(a.outbox == queued),
        );
        let p = &self.probe;
        let _ = write!(
            out,
            "; GET /v1/messages/{} {}: {} ({}){}",
            p.id,
            if p.read() { "OK" } else { "FAILED" },
            p.status,
            p.history.join(" → "),
            if p.wamid {
                ", wamid learnt"
            } else {
                ", wamid NOT learnt"
            }
        );
        if self.before.queued != self.seeded || self.before.messages() != self.seeded {
            let _ = write!(
                out,
                "; before the load {} of {} outbound messages queued",
                self.before.queued,
                self.before.messages()
            );
        }
        if self.posted.unseeded > 0 {
            let _ = write!(
                out,
                "; {} statuses (built during the load) named no seeded message",
                self.posted.unseeded
            );
        }
        out
    }
}

/// Everything the `inbound` scenario reports.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundReport {
    /// `sqlite` or `postgres`.
    pub database: String,
    /// `openbsp serve` processes on the database.
    pub replicas: usize,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Warm-up asked for.
    pub warmup: Duration,
    /// Measured period asked for.
    pub duration: Duration,
    /// Measured period as it happened (until the last measured answer).
    pub measured_elapsed: Duration,
    /// Payloads posted in the measured period.
    pub requests: u64,
    /// Of which answered 200.
    pub answered: u64,
    /// Answered 200 per second, measured period.
    pub per_sec: f64,
    /// Answer latency of the measured posts.
    pub latency: Latency,
    /// Measured posts not answered 200.
    pub errors: u64,
    /// Those, by status code or `transport`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Posts during the warm-up.
    pub warmup_requests: u64,
    /// Answered 200 during the warm-up.
    pub warmup_answered: u64,
    /// Not answered 200 during the warm-up.
    pub warmup_errors: u64,
    /// Payloads built and signed before the load.
    pub prebuilt: u64,
    /// Payloads built during the load (the prebuilt ones ran out).
    pub built_on_demand: u64,
    /// Cores used during the measured period (`gateway`: all replicas).
    pub cpu: CpuUse,
    /// How long the benchmark waited, after the last answer, for processing.
    pub timeout: Duration,
    /// The processing figures.
    pub processing: Processing,
    /// Rows vs answers.
    pub check: InboxCheck,
    /// What the statuses did to the seeded messages.
    pub statuses: StatusCheck,
    /// How long seeding the outbound messages took (before the load).
    pub seeding: Duration,
    /// A few unexpected answers.
    pub samples: Vec<String>,
    /// Where it ran.
    pub machine: Machine,
}

impl InboundReport {
    /// The checks passed.
    pub fn ok(&self) -> bool {
        self.check.ok() && self.statuses.ok()
    }

    /// The targets (on SQLite) and Meta's median.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        if self.database == "sqlite" {
            out.push(Target {
                key: "sqlite_payloads_per_s",
                label: format!("≥ {TARGET_PER_SEC_SQLITE:.0}/s on SQLite"),
                value: TARGET_PER_SEC_SQLITE,
                met: self.per_sec >= TARGET_PER_SEC_SQLITE,
            });
            out.push(Target {
                key: "sqlite_p50_ms",
                label: format!("p50 < {TARGET_P50_MS_SQLITE:.0} ms on SQLite"),
                value: TARGET_P50_MS_SQLITE,
                met: self.latency.p50 < TARGET_P50_MS_SQLITE,
            });
        }
        out.push(Target {
            key: "meta_p50_ms",
            label: format!("Meta's p50 < {META_P50_MS:.0} ms"),
            value: META_P50_MS,
            met: self.latency.p50 < META_P50_MS,
        });
        out
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let replicas = if self.replicas == 1 {
            "1 replica".to_string()
        } else {
            format!("{} replicas", self.replicas)
        };
        let _ = writeln!(
            s,
            "openbsp-bench inbound: {}, {replicas}, concurrency {}, warm-up {}, measured {:.2}s",
            self.database,
            self.concurrency,
            format_duration(self.warmup),
            self.measured_elapsed.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  payloads/s    {:.1} answered 200 (3 statuses of a seeded message to 1 inbound message)",
            self.per_sec
        );
        let _ = writeln!(s, "  answer ms     {}", latency_text(&self.latency));
        let _ = writeln!(
            s,
            "  requests      {} ({} answered 200, {} errors{})",
            self.requests,
            self.answered,
            self.errors,
            kinds(&self.errors_by_kind)
        );
        let _ = writeln!(
            s,
            "  warm-up       {} requests ({} answered 200, {} errors)",
            self.warmup_requests, self.warmup_answered, self.warmup_errors
        );
        let p = &self.processing;
        let _ = writeln!(
            s,
            "  lag ms        {}  (received to processed, {} of {} payloads)",
            latency_text(&p.lag),
            p.processed,
            p.rows
        );
        let _ = writeln!(
            s,
            "  processed/s   {} (first to last processed)",
            p.per_sec
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "n/a".to_string())
        );
        let drained = match p.drain {
            Some(d) => format!("{:.2}s after the last answer", d.as_secs_f64()),
            None => format!(
                "not all processed within {} of the last answer",
                format_duration(self.timeout)
            ),
        };
        let _ = writeln!(s, "  drained       {drained}");
        let _ = writeln!(
            s,
            "  cpu           {} (measured period)",
            self.cpu.summary()
        );
        let _ = writeln!(s, "  inbox check   {}", self.check.line());
        let _ = writeln!(s, "  status check  {}", self.statuses.line());
        let _ = writeln!(s, "  sender        {}", self.statuses.sender.line());
        let targets: Vec<String> = self
            .targets()
            .into_iter()
            .map(|t| format!("{}: {}", t.label, if t.met { "met" } else { "NOT met" }))
            .collect();
        let _ = writeln!(s, "  targets       {}", targets.join("; "));
        let _ = writeln!(
            s,
            "  payloads      {} built and signed beforehand, {} during the load",
            self.prebuilt, self.built_on_demand
        );
        let secs = self.seeding.as_secs_f64();
        let _ = writeln!(
            s,
            "  seeding       {} template messages through POST /v1/messages in {secs:.2}s ({}), before the load",
            self.statuses.seeded,
            if secs > 0.0 {
                format!("{:.1}/s", self.statuses.seeded as f64 / secs)
            } else {
                "n/a".to_string()
            }
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
        let p = &self.processing;
        let targets: serde_json::Map<String, Value> = self
            .targets()
            .into_iter()
            .map(|t| (t.key.to_string(), json!({"target": t.value, "met": t.met})))
            .collect();
        json!({
            "scenario": "inbound",
            "database": self.database,
            "replicas": self.replicas,
            "concurrency": self.concurrency,
            "warmup_s": self.warmup.as_secs_f64(),
            "duration_s": self.duration.as_secs_f64(),
            "measured_s": round(self.measured_elapsed.as_secs_f64(), 3),
            "requests": self.requests,
            "answered": self.answered,
            "payloads_per_s": round(self.per_sec, 1),
            "latency_ms": latency_json(&self.latency),
            "errors": self.errors,
            "errors_by_kind": self.errors_by_kind,
            "warmup": {
                "requests": self.warmup_requests,
                "answered": self.warmup_answered,
                "errors": self.warmup_errors,
            },
            "processing": {
                "rows": p.rows,
                "processed": p.processed,
                "lag_ms": latency_json(&p.lag),
                "processed_per_s": p.per_sec.map(|r| round(r, 1)),
                "drain_s": p.drain.map(|d| round(d.as_secs_f64(), 3)),
                "timeout_s": self.timeout.as_secs_f64(),
            },
            "cpu_cores": self.cpu.to_json(),
            "check": {
                "result": self.check.verdict(),
                "rows": self.check.rows,
                "answered": self.check.answered,
                "unprocessed": self.check.unprocessed,
                "errors": self.check.errors,
            },
            "statuses": self.statuses_json(),
            "targets": targets,
            "payloads": {
                "mix": "3 statuses (sent, delivered, read) of a seeded outbound message to 1 inbound text",
                "prebuilt": self.prebuilt,
                "built_on_demand": self.built_on_demand,
            },
            "unexpected_samples": self.samples,
            "machine": self.machine.to_json(),
        })
    }

    fn statuses_json(&self) -> Value {
        let c = &self.statuses;
        let (queued, sent, delivered, read) = c.expected();
        let tally = |t: &Tally| {
            json!({"queued": t.queued, "sent": t.sent, "delivered": t.delivered, "read": t.read,
                   "other": t.other, "status_rows": t.history, "status_events": t.events,
                   "outbox": t.outbox})
        };
        json!({
            "result": c.verdict(),
            "seeded": c.seeded,
            "seeding_s": round(self.seeding.as_secs_f64(), 3),
            "posted": {
                "sent": c.posted.sent,
                "delivered": c.posted.delivered,
                "read": c.posted.read,
                "unseeded": c.posted.unseeded,
            },
            "expected": {"queued": queued, "sent": sent, "delivered": delivered, "read": read},
            "before": tally(&c.before),
            "after": tally(&c.after),
            "probe": {
                "id": c.probe.id,
                "status": c.probe.status,
                "history": c.probe.history,
                "wamid_learnt": c.probe.wamid,
                "ok": c.probe.read(),
            },
            "status_rows_added": c.history_added(),
            "status_events_added": c.events_added(),
            "sender": {
                "held": c.sender.held(),
                "paused_by": c.sender.paused_by,
                "refused": c.sender.refused,
                "accepted": c.sender.accepted,
                "meta_messages": c.sender.meta_messages,
                "meta_webhooks": c.sender.meta_webhooks,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_figures_from_the_inbox() {
        // Ten rows received at 1000..1009, processed 5 ms later each; the last answer at 1010.
        let times: Vec<(i64, Option<i64>)> = (0..10).map(|i| (1000 + i, Some(1005 + i))).collect();
        let p = Processing::from_times(&times, Some(1010));
        assert_eq!(p.rows, 10);
        assert_eq!(p.processed, 10);
        assert!((p.lag.p50 - 5.0).abs() < 0.01, "{:?}", p.lag);
        assert!((p.lag.max - 5.0).abs() < 0.01, "{:?}", p.lag);
        // 10 in 9 ms.
        assert!((p.per_sec.unwrap() - 10.0 / 0.009).abs() < 1.0);
        assert_eq!(p.drain, Some(Duration::from_millis(4)));
        // Processing ahead of the last answer drains in 0.
        assert_eq!(
            Processing::from_times(&times, Some(2000)).drain,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn unprocessed_rows_leave_no_drain() {
        let times = [(1000, Some(1001)), (1000, None)];
        let p = Processing::from_times(&times, Some(1000));
        assert_eq!((p.rows, p.processed), (2, 1));
        assert_eq!(p.drain, None);
        // One millisecond: no rate.
        assert_eq!(p.per_sec, None);
        let empty = Processing::from_times(&[], None);
        assert_eq!(empty, Processing::default());
    }

    /// 120,000 seeded, 250,000 payloads posted: 62,500 groups' statuses.
    fn sample_statuses() -> StatusCheck {
        StatusCheck {
            seeded: 120_000,
            posted: Posted::of(250_000, 120_000),
            before: Tally {
                queued: 120_000,
                events: 120_000,
                outbox: 120_000,
                ..Tally::default()
            },
            after: Tally {
                queued: 57_500,
                read: 62_500,
                history: 187_500,
                events: 307_500,
                outbox: 57_500,
                ..Tally::default()
            },
            sender: Sender {
                paused_by: Some(190),
                refused: 2,
                ..Sender::default()
            },
            probe: Probe {
                id: "msg_1".into(),
                status: "read".into(),
                history: ["queued", "sent", "delivered", "read"]
                    .map(String::from)
                    .to_vec(),
                wamid: true,
            },
        }
    }

    fn sample() -> InboundReport {
        InboundReport {
            database: "sqlite".into(),
            replicas: 1,
            concurrency: 64,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            measured_elapsed: Duration::from_millis(10_002),
            requests: 210_000,
            answered: 209_998,
            per_sec: 20_995.8,
            latency: Latency {
                p50: 2.5,
                p90: 4.0,
                p99: 9.0,
                max: 40.0,
            },
            errors: 2,
            errors_by_kind: BTreeMap::from([("503".to_string(), 2)]),
            warmup_requests: 40_000,
            warmup_answered: 40_000,
            warmup_errors: 0,
            prebuilt: 480_000,
            built_on_demand: 0,
            cpu: CpuUse::default(),
            timeout: Duration::from_secs(300),
            processing: Processing {
                rows: 249_998,
                processed: 249_998,
                lag: Latency {
                    p50: 12.0,
                    p90: 20.0,
                    p99: 55.0,
                    max: 120.0,
                },
                per_sec: Some(20_800.0),
                drain: Some(Duration::from_millis(150)),
            },
            check: InboxCheck {
                rows: 249_998,
                answered: 249_998,
                unprocessed: 0,
                errors: 2,
            },
            statuses: sample_statuses(),
            seeding: Duration::from_millis(40_000),
            samples: vec!["503 Service Unavailable: ".into()],
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
openbsp-bench inbound: sqlite, 1 replica, concurrency 64, warm-up 2s, measured 10.00s
  payloads/s    20995.8 answered 200 (3 statuses of a seeded message to 1 inbound message)
  answer ms     p50 2.50  p90 4.00  p99 9.00  max 40.00
  requests      210000 (209998 answered 200, 2 errors; 503: 2)
  warm-up       40000 requests (40000 answered 200, 0 errors)
  lag ms        p50 12.00  p90 20.00  p99 55.00  max 120.00  (received to processed, 249998 of 249998 payloads)
  processed/s   20800.0 (first to last processed)
  drained       0.15s after the last answer
  cpu           gateway 0.00, postgres 0.00, bench 0.00, other 0.00: machine 0.00 cores (measured period)
  inbox check   FAILED: 249998 rows in webhook_inbox == 249998 answered 200 (warm-up included), 0 unprocessed, 2 requests not answered 200
  status check  OK: 62500 seeded messages read == 62500 read statuses posted; of 120000 seeded: sent 0, delivered 0, queued 57500 as expected; +187500 status rows, +187500 message.status events == 187500 statuses posted; 57500 outbox rows left == 57500 without a status; GET /v1/messages/msg_1 OK: read (queued → sent → delivered → read), wamid learnt
  sender        held: channel paused by Meta's 190 before the load, 2 sends refused, 0 accepted; the simulator took 0 messages and sent 0 webhooks
  targets       ≥ 20000/s on SQLite: met; p50 < 5 ms on SQLite: met; Meta's p50 < 250 ms: met
  payloads      480000 built and signed beforehand, 0 during the load
  seeding       120000 template messages through POST /v1/messages in 40.00s (3000.0/s), before the load
  machine       2 CPUs, Test CPU, 4.0 GiB RAM
  unexpected answers (sample):
    503 Service Unavailable: 
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_report() {
        let v = sample().to_json();
        assert_eq!(v["scenario"], "inbound");
        assert_eq!(v["replicas"], 1);
        assert_eq!(v["payloads_per_s"], 20_995.8);
        assert_eq!(v["latency_ms"]["p50"], 2.5);
        assert_eq!(v["errors_by_kind"]["503"], 2);
        assert_eq!(v["processing"]["lag_ms"]["p99"], 55.0);
        assert_eq!(v["processing"]["drain_s"], 0.15);
        assert_eq!(v["processing"]["processed_per_s"], 20_800.0);
        assert_eq!(v["check"]["result"], "FAILED");
        assert_eq!(v["targets"]["sqlite_payloads_per_s"]["met"], true);
        assert_eq!(v["targets"]["sqlite_payloads_per_s"]["target"], 20_000.0);
        assert_eq!(v["targets"]["sqlite_p50_ms"]["met"], true);
        assert_eq!(v["targets"]["meta_p50_ms"]["target"], 250.0);
        assert_eq!(v["payloads"]["prebuilt"], 480_000);
        assert_eq!(v["statuses"]["result"], "OK");
        assert_eq!(v["statuses"]["seeded"], 120_000);
        assert_eq!(v["statuses"]["seeding_s"], 40.0);
        assert_eq!(v["statuses"]["posted"]["read"], 62_500);
        assert_eq!(v["statuses"]["expected"]["queued"], 57_500);
        assert_eq!(v["statuses"]["after"]["read"], 62_500);
        assert_eq!(v["statuses"]["status_rows_added"], 187_500);
        assert_eq!(v["statuses"]["status_events_added"], 187_500);
        assert_eq!(v["statuses"]["sender"]["paused_by"], 190);
        assert_eq!(v["statuses"]["sender"]["held"], true);
        assert_eq!(v["machine"]["nproc"], 2);
        let line = v.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), v);
    }

    #[test]
    fn tally_of_the_database_rows() {
        let rows: Vec<(String, i64)> = [
            ("message:queued", 5),
            ("message:read", 3),
            ("message:delivered", 1),
            ("message:sent", 1),
            ("message:failed", 2),
            ("history:queued", 12),
            ("history:sent", 4),
            ("history:delivered", 4),
            ("history:read", 3),
            ("events:message.status", 23),
            ("outbox:pending", 6),
            ("outbox:inflight", 1),
        ]
        .iter()
        .map(|(l, n)| (l.to_string(), *n))
        .collect();
        let t = Tally::from_rows(&rows);
        assert_eq!(
            t,
            Tally {
                queued: 5,
                sent: 1,
                delivered: 1,
                read: 3,
                other: 2,
                history: 11,
                events: 23,
                outbox: 7,
                inflight: 1,
            }
        );
        assert_eq!(t.messages(), 12);
        assert_eq!(Tally::from_rows(&[]), Tally::default());
    }

    #[test]
    fn status_check_fails_on_any_mismatch() {
        let good = sample_statuses();
        assert!(good.ok());
        assert_eq!(good.expected(), (57_500, 0, 0, 62_500));
        let failing: Vec<fn(&mut StatusCheck)> = vec![
            // A read status that did nothing (the cheap path).
            |c| {
                c.after.read -= 1;
                c.after.queued += 1;
            },
            |c| c.after.history -= 1,
            |c| c.after.events += 1,
            |c| c.after.outbox += 1,
            |c| c.after.other = 1,
            |c| c.before.queued -= 1,
            |c| c.sender.paused_by = None,
            |c| c.sender.accepted = 1,
            |c| c.sender.meta_messages = 1,
            |c| c.sender.meta_webhooks = 1,
            |c| c.probe.status = "delivered".into(),
            |c| {
                c.probe.history.pop();
            },
            |c| c.probe.wamid = false,
        ];
        for (i, spoil) in failing.iter().enumerate() {
            let mut c = good.clone();
            spoil(&mut c);
            assert!(!c.ok(), "case {i}: {c:?}");
            assert!(c.line().starts_with("FAILED"), "case {i}");
        }
        let mut c = good.clone();
        c.after.read -= 1;
        c.after.delivered += 1;
        let line = c.line();
        assert!(
            line.contains("62499 seeded messages read != 62500"),
            "{line}"
        );
        assert!(line.contains("other 0 (expected 0, 0, 57500, 0)"), "{line}");
        // Statuses past the seeded messages are said, not counted.
        let mut c = good.clone();
        c.posted = Posted::of(250_000, 60_000);
        c.seeded = 60_000;
        assert!(c.line().contains("named no seeded message"));
        // Nothing posted: all stay queued.
        let none = StatusCheck {
            seeded: 10,
            posted: Posted::default(),
            before: Tally {
                queued: 10,
                outbox: 10,
                ..Tally::default()
            },
            after: Tally {
                queued: 10,
                outbox: 10,
                ..Tally::default()
            },
            sender: good.sender,
            probe: Probe {
                status: "queued".into(),
                ..Probe::default()
            },
        };
        assert!(none.ok());
    }

    #[test]
    fn checks_and_targets() {
        let mut r = sample();
        r.check.errors = 0;
        assert!(r.ok());
        r.statuses.after.read -= 1;
        assert!(!r.ok());
        r.statuses = sample_statuses();
        r.check.unprocessed = 1;
        assert!(!r.ok());
        r.check.unprocessed = 0;
        r.check.rows += 1;
        assert!(!r.ok());
        assert!(
            r.to_text()
                .contains("249999 rows in webhook_inbox != 249998")
        );
        r.database = "postgres".into();
        r.replicas = 3;
        r.latency.p50 = 300.0;
        let targets = r.targets();
        assert_eq!(targets.len(), 1);
        assert_eq!(
            (targets[0].key, targets[0].label.as_str(), targets[0].met),
            ("meta_p50_ms", "Meta's p50 < 250 ms", false)
        );
        let text = r.to_text();
        assert!(text.starts_with("openbsp-bench inbound: postgres, 3 replicas,"));
        assert!(text.contains("targets       Meta's p50 < 250 ms: NOT met\n"));
        r.processing.drain = None;
        r.processing.per_sec = None;
        let text = r.to_text();
        assert!(text.contains("processed/s   n/a"));
        assert!(text.contains("not all processed within 300s of the last answer"));
        assert_eq!(r.to_json()["processing"]["drain_s"], Value::Null);
    }
}
