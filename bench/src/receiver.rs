//! The webhook receiver of the `webhooks` scenario: a minimal HTTP/1.1 keep-alive server on
//! 127.0.0.1 that answers every delivery `200` with an empty body and tallies it: by endpoint
//! (the path, `/hook/<n>`) and `webhook-id`, with its arrival time and, when asked, its lag
//! (arrival − the event's `created_at`).
//!
//! Hand-written on purpose: the benchmark runs on one thread next to the gateway, and the
//! cheaper the receiver, the more of the machine is left to what is measured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The answer to every delivery.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
/// The answer to what is not a delivery (the connection is closed after it).
const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// The path of endpoint `n` on the receiver.
pub fn hook_path(n: usize) -> String {
    format!("/hook/{n}")
}

/// What the receiver has seen.
#[derive(Debug)]
pub struct Tally {
    /// Per endpoint (index in the path): deliveries per `webhook-id`.
    pub by_endpoint: Vec<HashMap<Box<str>, u32>>,
    /// Arrival of every delivery, in order.
    pub arrivals: Vec<Instant>,
    /// Lag of each delivery (µs), when lags are measured.
    pub lag_us: Histogram<u64>,
    /// Deliveries whose body had no readable top-level `created_at` (lags measured only).
    pub lag_unreadable: u64,
    /// First arrival of the event of each numbered update (a contact renamed
    /// `Updated <n>`, see [`update_number`]), when lags are measured.
    pub update_arrivals: HashMap<u64, Instant>,
    /// Requests that were not deliveries: unknown path, no `webhook-id`, unreadable head.
    pub malformed: u64,
    /// A few of those, for the report.
    pub malformed_samples: Vec<String>,
    /// Connections accepted.
    pub connections: u64,
}

impl Tally {
    fn new(endpoints: usize) -> Tally {
        Tally {
            by_endpoint: vec![HashMap::new(); endpoints],
            arrivals: Vec::new(),
            lag_us: crate::load::new_histogram(),
            lag_unreadable: 0,
            update_arrivals: HashMap::new(),
            malformed: 0,
            malformed_samples: Vec::new(),
            connections: 0,
        }
    }

    /// Deliveries received (duplicates included).
    pub fn deliveries(&self) -> u64 {
        self.arrivals.len() as u64
    }

    /// Distinct (endpoint, event) pairs received.
    pub fn distinct(&self) -> u64 {
        self.by_endpoint.iter().map(|m| m.len() as u64).sum()
    }

    fn malformed(&mut self, why: String) {
        self.malformed += 1;
        if self.malformed_samples.len() < crate::load::MAX_SAMPLES {
            self.malformed_samples.push(why);
        }
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    tally: Arc<Mutex<Tally>>,
    accept: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Receiver {
    /// Listens on 127.0.0.1 (a free port) for `endpoints` endpoints; `lags`: read each body's
    /// `created_at` and record the delivery's lag.
    pub async fn start(endpoints: usize, lags: bool) -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Mutex::new(Tally::new(endpoints)));
        let shared = tally.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    // Out of file descriptors, most likely: let some connections close.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = sock.set_nodelay(true);
                lock(&shared).connections += 1;
                tokio::spawn(serve(sock, shared.clone(), lags));
            }
        });
        Ok(Receiver {
            addr,
            tally,
            accept,
        })
    }

    /// The URL of endpoint `n`.
    pub fn url(&self, n: usize) -> String {
        format!("http://{}{}", self.addr, hook_path(n))
    }

    /// The tally so far.
    pub fn tally(&self) -> MutexGuard<'_, Tally> {
        lock(&self.tally)
    }
}

fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// One request's head, as far as the receiver cares.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The endpoint's index, from `/hook/<n>` (`None`: another path).
    pub endpoint: Option<usize>,
    /// `webhook-id`.
    pub webhook_id: Option<String>,
    /// `content-length` (0 when absent).
    pub content_length: usize,
    /// `transfer-encoding` was present (not supported).
    pub chunked: bool,
}

/// Parses a request head (without its final blank line).
pub fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let request = lines.next()?;
    let mut parts = request.split(' ');
    let _method = parts.next()?;
    let path = parts.next()?;
    let endpoint = path
        .strip_prefix("/hook/")
        .and_then(|n| n.parse::<usize>().ok());
    let mut h = Head {
        endpoint,
        webhook_id: None,
        content_length: 0,
        chunked: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            h.content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("webhook-id") {
            h.webhook_id = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            h.chunked = true;
        }
    }
    Some(h)
}

/// Serves one connection until the peer closes it.
async fn serve(mut sock: TcpStream, tally: Arc<Mutex<Tally>>, lags: bool) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // How far `buf` was searched for the end of the head.
    let mut scanned = 0;
    loop {
        let Some(rel) = find(&buf[scanned..], b"\r\n\r\n") else {
            if buf.len() > MAX_HEAD {
                lock(&tally).malformed("request head too large".into());
                let _ = sock.write_all(BAD).await;
                return;
            }
            scanned = buf.len().saturating_sub(3);
            if !read_more(&mut sock, &mut buf).await {
                return;
            }
            continue;
        };
        let head_end = scanned + rel;
        let parsed = parse_head(&buf[..head_end]);
        let head = match parsed {
            Some(h) if !h.chunked && h.content_length <= MAX_BODY => h,
            other => {
                let why = match other {
                    Some(h) if h.chunked => "chunked request body".to_string(),
                    Some(h) => format!("body of {} bytes", h.content_length),
                    None => format!(
                        "unreadable head: {:?}",
                        String::from_utf8_lossy(&buf[..head_end.min(200)])
                    ),
                };
                lock(&tally).malformed(why);
                let _ = sock.write_all(BAD).await;
                return;
            }
        };
        let total = head_end + 4 + head.content_length;
        while buf.len() < total {
            if !read_more(&mut sock, &mut buf).await {
                return;
            }
        }
        let arrived = Instant::now();
        let read = if lags {
            Some(read_body(&buf[head_end + 4..total], SystemTime::now()))
        } else {
            None
        };
        let delivered = {
            let mut t = lock(&tally);
            match (head.endpoint, head.webhook_id) {
                (Some(n), Some(id)) if n < t.by_endpoint.len() => {
                    *t.by_endpoint[n].entry(id.into_boxed_str()).or_default() += 1;
                    t.arrivals.push(arrived);
                    if let Some((lag, update)) = read {
                        match lag {
                            Some(us) => t.lag_us.saturating_record(us.max(1)),
                            None => t.lag_unreadable += 1,
                        }
                        if let Some(n) = update {
                            t.update_arrivals.entry(n).or_insert(arrived);
                        }
                    }
                    true
                }
                (n, id) => {
                    t.malformed(format!("delivery to endpoint {n:?} with webhook-id {id:?}"));
                    false
                }
            }
        };
        if !delivered {
            let _ = sock.write_all(BAD).await;
            return;
        }
        buf.drain(..total);
        scanned = 0;
        if sock.write_all(OK).await.is_err() {
            return;
        }
    }
}

/// Reads what is there into `buf`; false when the peer closed or failed.
async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    if buf.capacity() - buf.len() < 2048 {
        buf.reserve(8192);
    }
    matches!(sock.read_buf(buf).await, Ok(n) if n > 0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The lag of a delivery (`now` − the event's top-level `created_at`, in µs) and its update
/// number ([`update_number`]), each `None` when the body does not tell.
pub fn read_body(body: &[u8], now: SystemTime) -> (Option<u64>, Option<u64>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    (lag_us(&v, now), update_number(&v))
}

/// `now` − the event's top-level `created_at`, in µs.
pub fn lag_us(event: &serde_json::Value, now: SystemTime) -> Option<u64> {
    let created_ms = parse_rfc3339_ms(event.get("created_at")?.as_str()?)?;
    let now_us = now.duration_since(UNIX_EPOCH).ok()?.as_micros() as i64;
    Some((now_us - created_ms * 1000).max(0) as u64)
}

/// The prefix of the names the `lag` measurement gives contacts: `Updated <n>` for update n.
pub const UPDATE_NAME_PREFIX: &str = "Updated ";

/// `n` of a `contact.updated` event whose contact is now named `Updated <n>`.
pub fn update_number(event: &serde_json::Value) -> Option<u64> {
    event
        .get("data")?
        .get("contact")?
        .get("name")?
        .as_str()?
        .strip_prefix(UPDATE_NAME_PREFIX)?
        .parse()
        .ok()
}

/// Unix ms of an RFC 3339 UTC time as the gateway writes it: `2026-11-22T10:00:01.250Z`
/// (fraction optional, any number of digits; `Z` or `+00:00`).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let three: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        ms = three.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    if rest != "Z" && rest != "+00:00" {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_the_gateways_times() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T10:00:01.250Z"),
            Some(1_795_341_601_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T23:59:59.9+00:00"),
            Some(951_868_799_900)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-03-01T00:00:00.123456Z"),
            Some(1_709_251_200_123)
        );
        assert_eq!(parse_rfc3339_ms("2024-03-01 00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("2024-03-01T00:00:00+02:00"), None);
        assert_eq!(parse_rfc3339_ms("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("2024-03-01T00:00:00.Z"), None);
        assert_eq!(parse_rfc3339_ms("nonsense"), None);
    }

    #[test]
    fn lag_of_a_body() {
        let body = br#"{"id":"evt_1","object":"event","type":"contact.updated","created_at":"1970-01-01T00:00:01.000Z","data":{"contact":{"name":"Updated 42","created_at":"1970-01-01T00:00:00.000Z"}}}"#;
        let now = UNIX_EPOCH + Duration::from_micros(1_012_500);
        assert_eq!(read_body(body, now), (Some(12_500), Some(42)));
        assert_eq!(read_body(b"{}", now), (None, None));
        assert_eq!(read_body(b"not json", now), (None, None));
        let other =
            br#"{"created_at":"1970-01-01T00:00:01Z","data":{"contact":{"name":"Bench 3"}}}"#;
        assert_eq!(read_body(other, now), (Some(12_500), None));
    }

    #[test]
    fn parses_heads() {
        let head = b"POST /hook/7 HTTP/1.1\r\ncontent-type: application/json\r\nWebhook-Id: evt_01abc\r\nContent-Length: 42\r\nhost: 127.0.0.1:9";
        assert_eq!(
            parse_head(head),
            Some(Head {
                endpoint: Some(7),
                webhook_id: Some("evt_01abc".into()),
                content_length: 42,
                chunked: false
            })
        );
        let other = parse_head(b"GET /elsewhere HTTP/1.1\r\nTransfer-Encoding: chunked").unwrap();
        assert_eq!(other.endpoint, None);
        assert!(other.chunked);
        assert_eq!(other.content_length, 0);
        assert!(parse_head(b"POST /hook/1 HTTP/1.1\r\ncontent-length: x").is_none());
        assert!(parse_head(&[0xff, 0xfe]).is_none());
    }

    /// Keep-alive deliveries through reqwest (the gateway's client) are tallied per endpoint
    /// and event; what is not a delivery is counted apart.
    #[tokio::test]
    async fn tallies_deliveries() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = Receiver::start(2, true).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let body = r#"{"id":"evt_x","created_at":"2020-01-01T00:00:00.000Z","data":{"contact":{"name":"Updated 7"}}}"#;
        for (n, id) in [(0, "evt_a"), (1, "evt_a"), (1, "evt_b"), (1, "evt_b")] {
            let resp = client
                .post(r.url(n))
                .header("webhook-id", id)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
        let resp = client
            .post(format!("http://{}/elsewhere", r.addr))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let t = r.tally();
        assert_eq!(t.deliveries(), 4);
        assert_eq!(t.distinct(), 3);
        assert_eq!(t.by_endpoint[1]["evt_b"], 2);
        assert_eq!(t.malformed, 1);
        assert_eq!(t.lag_us.len(), 4);
        assert_eq!(t.lag_unreadable, 0);
        assert_eq!(t.update_arrivals.len(), 1);
        assert!(t.update_arrivals.contains_key(&7));
        // Since 2020: years of lag, recorded as the histogram's ceiling (an hour).
        assert!(t.lag_us.min() >= 3_000_000_000, "{}", t.lag_us.min());
        // One keep-alive connection for the deliveries, one for the refused request at most.
        assert!(t.connections <= 2, "{}", t.connections);
    }
}
