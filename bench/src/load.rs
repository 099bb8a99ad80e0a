//! The load generator: N keep-alive connections posting in a closed loop ([`drive`]), here
//! messages to `POST /v1/messages` ([`run`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;

/// Distinct recipients the messages cycle through.
pub const RECIPIENTS: u64 = 10_000;

/// Unexpected answers kept as samples for the report.
pub const MAX_SAMPLES: usize = 5;

/// What to send and for how long.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// `POST` target: `http://host:port/v1/messages`.
    pub url: String,
    /// Bearer token.
    pub api_key: String,
    /// `channel` of every message.
    pub channel: String,
    /// Concurrent connections (one in-flight request each).
    pub concurrency: usize,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Measured period.
    pub duration: Duration,
}

/// Counts for one period (warm-up or measured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that got an answer or failed.
    pub requests: u64,
    /// Answers with the expected status (202 for messages).
    pub accepted: u64,
    /// Everything else, by status code (`"transport"` for requests that got no answer).
    pub errors_by_kind: BTreeMap<String, u64>,
}

impl Counts {
    /// Requests that were not accepted.
    pub fn errors(&self) -> u64 {
        self.errors_by_kind.values().sum()
    }

    fn merge(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.accepted += other.accepted;
        for (k, v) in &other.errors_by_kind {
            *self.errors_by_kind.entry(k.clone()).or_default() += v;
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors_by_kind.entry(kind).or_default() += 1;
    }
}

/// The outcome of a load run.
#[derive(Debug)]
pub struct LoadResult {
    /// Latency (µs) of requests started in the measured period.
    pub histogram: Histogram<u64>,
    /// Requests started during the warm-up.
    pub warmup: Counts,
    /// Requests started in the measured period.
    pub measured: Counts,
    /// From the end of the warm-up to the completion of the last measured request.
    pub measured_elapsed: Duration,
    /// When the last measured request completed.
    pub last_done: Option<Instant>,
    /// A few unexpected answers: `"<status>: <body>"`.
    pub samples: Vec<String>,
}

impl LoadResult {
    /// 202s over the whole run (warm-up included): what the database must hold.
    pub fn total_accepted(&self) -> u64 {
        self.warmup.accepted + self.measured.accepted
    }

    /// Accepted messages per second in the measured period.
    pub fn accepted_per_sec(&self) -> f64 {
        let secs = self.measured_elapsed.as_secs_f64();
        if secs > 0.0 {
            self.measured.accepted as f64 / secs
        } else {
            0.0
        }
    }
}

/// The recipient of message number `n`: one of [`RECIPIENTS`] numbers `1555` + 7 digits.
pub fn recipient(n: u64) -> String {
    format!("1555{:07}", n % RECIPIENTS)
}

/// The body of message number `n`.
pub fn message_body(channel: &str, n: u64) -> String {
    serde_json::json!({
        "channel": channel,
        "to": recipient(n),
        "type": "text",
        "text": {"body": format!("bench message {n}")},
    })
    .to_string()
}

/// A histogram for latencies in µs, 1 µs to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

struct TaskResult {
    histogram: Histogram<u64>,
    warmup: Counts,
    measured: Counts,
    last_done: Option<Instant>,
    samples: Vec<String>,
}

/// Runs the plan. Every task finishes its in-flight request after the end, so that every
/// 202 is counted.
pub async fn run(plan: &LoadPlan) -> Result<LoadResult> {
    let auth = format!("Bearer {}", plan.api_key);
    let (url, channel) = (plan.url.clone(), plan.channel.clone());
    let shape = Shape {
        concurrency: plan.concurrency,
        warmup: plan.warmup,
        duration: plan.duration,
    };
    drive(&shape, reqwest::StatusCode::ACCEPTED, move |client, n| {
        client
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message_body(&channel, n))
    })
    .await
}

/// How wide and how long a closed loop runs.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Concurrent connections (one in-flight request each).
    pub concurrency: usize,
    /// Unmeasured lead-in.
    pub warmup: Duration,
    /// Measured period.
    pub duration: Duration,
}

/// Runs `shape.concurrency` tasks, each sending `request(client, n)` (`n` counting the
/// requests of all tasks from 0) and reading its answer, then the next, until the end;
/// answers with status `expected` are counted as accepted. Every task finishes its
/// in-flight request after the end, so that every accepted request is counted.
pub async fn drive<F>(
    shape: &Shape,
    expected: reqwest::StatusCode,
    request: F,
) -> Result<LoadResult>
where
    F: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(shape.concurrency)
        .pool_idle_timeout(None)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + shape.warmup;
    let end = measure_from + shape.duration;

    let mut tasks = Vec::with_capacity(shape.concurrency);
    for _ in 0..shape.concurrency {
        let client = client.clone();
        let request = request.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = TaskResult {
                histogram: new_histogram(),
                warmup: Counts::default(),
                measured: Counts::default(),
                last_done: None,
                samples: Vec::new(),
            };
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let outcome = request(&client, n).send().await;
                let (status, sample) = match outcome {
                    Ok(resp) => {
                        let status = resp.status();
                        if status == expected {
                            // Read the body so the connection is reused.
                            let _ = resp.bytes().await;
                            (Some(status), None)
                        } else {
                            let body = resp.text().await.unwrap_or_default();
                            (
                                Some(status),
                                Some(format!("{status}: {}", truncate(&body, 300))),
                            )
                        }
                    }
                    Err(e) => (None, Some(format!("transport error: {e}"))),
                };
                let t1 = Instant::now();
                let measured = t0 >= measure_from;
                let counts = if measured {
                    r.histogram
                        .saturating_record((t1 - t0).as_micros().max(1) as u64);
                    r.last_done = Some(t1);
                    &mut r.measured
                } else {
                    &mut r.warmup
                };
                counts.requests += 1;
                match status {
                    Some(s) if s == expected => counts.accepted += 1,
                    Some(s) => counts.error(s.as_u16().to_string()),
                    None => counts.error("transport".to_string()),
                }
                if let Some(s) = sample
                    && r.samples.len() < MAX_SAMPLES
                {
                    r.samples.push(s);
                }
                if status.is_none() {
                    // Do not spin on a dead server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            r
        }));
    }

    let mut result = LoadResult {
        histogram: new_histogram(),
        warmup: Counts::default(),
        measured: Counts::default(),
        measured_elapsed: shape.duration,
        last_done: None,
        samples: Vec::new(),
    };
    let mut last_done: Option<Instant> = None;
    for task in tasks {
        let r = task.await?;
        result.histogram.add(&r.histogram)?;
        result.warmup.merge(&r.warmup);
        result.measured.merge(&r.measured);
        last_done = last_done.max(r.last_done);
        for s in r.samples {
            if result.samples.len() < MAX_SAMPLES {
                result.samples.push(s);
            }
        }
    }
    if let Some(last) = last_done {
        result.measured_elapsed = last.saturating_duration_since(measure_from);
    }
    result.last_done = last_done;
    Ok(result)
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn recipients_cycle_through_ten_thousand_numbers() {
        assert_eq!(recipient(0), "15550000000");
        assert_eq!(recipient(42), "15550000042");
        assert_eq!(recipient(9_999), "15550009999");
        assert_eq!(recipient(10_000), "15550000000");
        let distinct: HashSet<String> = (0..25_000).map(recipient).collect();
        assert_eq!(distinct.len(), 10_000);
        assert!(distinct.iter().all(|r| r.len() == 11));
    }

    #[test]
    fn body_is_a_native_text_message() {
        let v: serde_json::Value = serde_json::from_str(&message_body("100200300", 7)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "channel": "100200300",
                "to": "15550000007",
                "type": "text",
                "text": {"body": "bench message 7"}
            })
        );
    }

    #[test]
    fn counts_merge() {
        let mut a = Counts {
            requests: 3,
            accepted: 2,
            ..Counts::default()
        };
        a.error("500".into());
        let mut b = Counts {
            requests: 2,
            ..Counts::default()
        };
        b.error("500".into());
        b.error("transport".into());
        a.merge(&b);
        assert_eq!(a.requests, 5);
        assert_eq!(a.accepted, 2);
        assert_eq!(a.errors(), 3);
        assert_eq!(a.errors_by_kind["500"], 2);
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("ééé", 3), "é…");
    }

    /// The whole loop against a tiny HTTP server that accepts every other request.
    #[tokio::test]
    async fn runs_against_a_fake_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // Read one request: headers, then Content-Length bytes.
                        let Some(head_end) = find(&buf, b"\r\n\r\n") else {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        assert!(head.contains("authorization: bearer obsp_test"));
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        while buf.len() < head_end + 4 + len {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        buf.drain(..head_end + 4 + len);
                        let i = seen.fetch_add(1, Ordering::Relaxed);
                        let resp: &[u8] = if i.is_multiple_of(2) {
                            b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"
                        } else {
                            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops"
                        };
                        if sock.write_all(resp).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let plan = LoadPlan {
            url: format!("http://{addr}/v1/messages"),
            api_key: "obsp_test".into(),
            channel: "100200300".into(),
            concurrency: 4,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
        };
        let r = run(&plan).await.unwrap();
        let total = r.warmup.requests + r.measured.requests;
        assert_eq!(total, seen.load(Ordering::Relaxed));
        assert!(r.measured.requests > 0 && r.warmup.requests > 0);
        assert_eq!(r.histogram.len(), r.measured.requests);
        assert_eq!(
            r.measured.accepted + r.measured.errors(),
            r.measured.requests
        );
        assert!(r.measured.errors_by_kind.contains_key("500"));
        assert!(r.samples.iter().all(|s| s.contains("500")));
        assert!(!r.samples.is_empty() && r.samples.len() <= MAX_SAMPLES);
        assert!(r.accepted_per_sec() > 0.0);
        assert!(r.measured_elapsed >= Duration::from_millis(250));
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }
}
