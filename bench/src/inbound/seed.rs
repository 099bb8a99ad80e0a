//! The outbound messages the `inbound` scenario's statuses are about, seeded before the load
//! through the real API, and held back by Meta itself.
//!
//! The channel sends to an `openbsp simulator` process (as Meta), with the bench template
//! registered there. The gateway learns the template from it (`POST /v1/templates/sync`,
//! with the channel's token). Then the simulator's number takes another access token, as
//! when a token is revoked at Meta: the gateway's first send of the seeded messages
//! (`POST /v1/messages`, a template to a distinct user each) is refused with 190, the sender
//! pauses the channel (its sends stay queued until its token is replaced) and nothing
//! reaches the simulator, nor does the simulator send any status of its own. Only the
//! benchmark's statuses move those messages, as Meta's would have.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::payloads::{Outbound, outbound_wamid, seed_recipient};
use super::report::{Probe, Sender, Tally};
use crate::database::BenchDb;
use crate::gateway::{APP_SECRET, PHONE_NUMBER_ID};
use crate::scene::{TEMPLATE, WABA_ID};

/// The channel's throughput at the gateway (Meta's standard).
pub const CHANNEL_MPS: u32 = 80;
/// The access token the simulator's number takes once the gateway knows the template: not the
/// channel's (`tok`), which Meta then refuses with 190.
const ROTATED_TOKEN: &str = "tok-rotated-by-openbsp-bench";
/// Concurrent `POST /v1/messages` while seeding.
const SEEDERS: u64 = 32;
/// How long the sender may take to try a send and pause the channel.
const HOLD_TIMEOUT: Duration = Duration::from_secs(30);

/// The benchmark's outbound messages and what statuses wrote for them, as `(label, count)`
/// rows ([`Tally::from_rows`]).
pub const TALLY_SQL: &str = "\
SELECT 'message:' || status, count(*) FROM messages WHERE direction = 'outbound' GROUP BY status
UNION ALL
SELECT 'history:' || s.status, count(*) FROM message_statuses s JOIN messages m ON m.id = s.message_id
  WHERE m.direction = 'outbound' GROUP BY s.status
UNION ALL
SELECT 'events:' || type, count(*) FROM events WHERE type = 'message.status' GROUP BY type
UNION ALL
SELECT 'outbox:' || state, count(*) FROM outbox GROUP BY state";

/// The channel's pause, as `(pause_reason, paused_at)` rows (one channel).
const PAUSE_SQL: &str = "SELECT COALESCE(pause_reason, ''), COALESCE(paused_at, 0) FROM channels";

/// The database's [`Tally`].
pub async fn tally(db: &BenchDb) -> Result<Tally> {
    Ok(Tally::from_rows(&db.labelled_counts(TALLY_SQL).await?))
}

/// The code of Meta's error that paused the channel, if it is paused.
pub async fn paused_by(db: &BenchDb) -> Result<Option<i64>> {
    let rows = db.labelled_counts(PAUSE_SQL).await?;
    Ok(rows.iter().find(|(_, at)| *at > 0).map(|(reason, _)| {
        serde_json::from_str::<Value>(reason)
            .ok()
            .and_then(|r| r.get("code").and_then(Value::as_i64))
            // Paused, for a reason that does not say its code.
            .unwrap_or(-1)
    }))
}

/// Has the gateway learn the bench template from Meta: `POST /v1/templates/sync`.
pub async fn sync_template(http: &reqwest::Client, base: &str, key: &str) -> Result<()> {
    let r = http
        .post(format!("{base}/v1/templates/sync"))
        .bearer_auth(key)
        .json(&json!({"channel": PHONE_NUMBER_ID, "name": TEMPLATE}))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() || v["total"].as_u64().unwrap_or(0) == 0 {
        bail!("POST /v1/templates/sync answered {status}: {v}");
    }
    Ok(())
}

/// Gives the simulator's number another access token (as a token revoked at Meta), then
/// checks that the channel's is refused with 190.
pub async fn rotate_token(http: &reqwest::Client, meta: &str, webhook_url: &str) -> Result<()> {
    let phone = json!({"phone_number_id": PHONE_NUMBER_ID, "display_phone_number": "15550001111",
        "waba_id": WABA_ID, "access_token": ROTATED_TOKEN, "app_secret": APP_SECRET,
        "webhook_url": webhook_url});
    let r = http
        .post(format!("{meta}/_simulator/phone-numbers"))
        .json(&phone)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the simulator refused the new token: {}", r.text().await?);
    }
    let probe = http
        .get(format!("{meta}/v23.0/{PHONE_NUMBER_ID}"))
        .bearer_auth("tok")
        .send()
        .await?;
    let status = probe.status();
    let v: Value = probe.json().await.unwrap_or(Value::Null);
    if v.pointer("/error/code").and_then(Value::as_i64) != Some(190) {
        bail!("the simulator still takes the channel's token ({status}: {v})");
    }
    Ok(())
}

/// Queues `count` template messages through `POST /v1/messages`, message `k` to
/// [`seed_recipient`]`(k)`, over `bases` round robin; returns them in order.
pub async fn seed(
    http: &reqwest::Client,
    bases: &[String],
    key: &str,
    count: u64,
) -> Result<Vec<Outbound>> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SEEDERS.min(count.max(1)) {
        let (http, bases, key) = (http.clone(), bases.to_vec(), key.to_string());
        let (next, done) = (next.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= count {
                    return Ok::<_, anyhow::Error>(mine);
                }
                let base = &bases[(k % bases.len() as u64) as usize];
                let to = seed_recipient(k);
                let body = json!({"channel": PHONE_NUMBER_ID, "to": to, "type": "template",
                                  "template": {"name": TEMPLATE, "language": {"code": "en_US"}}});
                let r = http
                    .post(format!("{base}/v1/messages"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .with_context(|| format!("POST {base}/v1/messages"))?;
                let status = r.status();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if status != reqwest::StatusCode::ACCEPTED {
                    bail!("POST /v1/messages answered {status}: {v}");
                }
                let Some(id) = v["id"].as_str() else {
                    bail!("POST /v1/messages answered without an id: {v}");
                };
                if v["to"].as_str() != Some(to.as_str()) || v["status"] != "queued" {
                    bail!("POST /v1/messages answered another message than asked: {v}");
                }
                mine.push((
                    k,
                    Outbound {
                        id: id.to_string(),
                        to,
                    },
                ));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!("bench: {} of {count} seeded", done.load(Ordering::Relaxed));
            }
        })
    };
    let mut all = Vec::with_capacity(count as usize);
    let mut failed = None;
    for t in tasks {
        match t.await {
            Ok(Ok(mine)) => all.extend(mine),
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => failed = failed.or(Some(e.into())),
        }
    }
    progress.abort();
    if let Some(e) = failed {
        return Err(e.context("seeding the outbound messages"));
    }
    all.sort_by_key(|(k, _)| *k);
    Ok(all.into_iter().map(|(_, m)| m).collect())
}

/// Waits until the sender has met Meta's refusal: the channel paused, no send in flight, every
/// seeded message still queued with its outbox row. Fails if that does not come, or if
/// anything reached the simulator.
pub async fn wait_held(
    db: &BenchDb,
    http: &reqwest::Client,
    meta: &str,
    seeded: u64,
) -> Result<Tally> {
    let deadline = Instant::now() + HOLD_TIMEOUT;
    loop {
        let paused = paused_by(db).await?;
        let t = tally(db).await?;
        if paused.is_some() && t.inflight == 0 && t.outbox == seeded {
            let (messages, webhooks) = simulator_counts(http, meta).await?;
            if t.queued != seeded || t.messages() != seeded || messages > 0 || webhooks > 0 {
                bail!(
                    "the seeded messages were not held back: {} of {seeded} queued ({t:?}); the simulator took {messages} messages and sent {webhooks} webhooks",
                    t.queued
                );
            }
            return Ok(t);
        }
        if Instant::now() >= deadline {
            bail!(
                "the sender did not pause the channel within {HOLD_TIMEOUT:?} of the seeding (paused: {paused:?}, {t:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(messages accepted, webhooks delivered)` of the benchmark's number at the simulator.
pub async fn simulator_counts(http: &reqwest::Client, meta: &str) -> Result<(u64, u64)> {
    let mut counts = [0u64; 2];
    for (i, what) in ["messages", "webhooks"].iter().enumerate() {
        let v: Value = http
            .get(format!("{meta}/_simulator/{what}"))
            .query(&[("phone_number_id", PHONE_NUMBER_ID)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        counts[i] = v["data"].as_array().map_or(0, |a| a.len() as u64);
    }
    Ok((counts[0], counts[1]))
}

/// The sender's figures: send attempts by result summed over the servers' `GET /metrics`,
/// the channel's pause, the simulator's counts.
pub async fn sender(
    db: &BenchDb,
    http: &reqwest::Client,
    bases: &[String],
    meta: &str,
) -> Result<Sender> {
    let mut s = Sender {
        paused_by: paused_by(db).await?,
        ..Sender::default()
    };
    for base in bases {
        let text = http
            .get(format!("{base}/metrics"))
            .bearer_auth(crate::gateway::BENCH_METRICS_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        s.refused += sends_total(&text, "refused");
        s.accepted += sends_total(&text, "accepted");
    }
    (s.meta_messages, s.meta_webhooks) = simulator_counts(http, meta).await?;
    Ok(s)
}

/// The first seeded message as `GET /v1/messages/{id}` shows it.
pub async fn probe(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    first: &Outbound,
) -> Result<Probe> {
    let r = http
        .get(format!("{base}/v1/messages/{}", first.id))
        .bearer_auth(key)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("GET /v1/messages/{} answered {status}: {v}", first.id);
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok(Probe {
        id: first.id.clone(),
        status: text(&v["status"]),
        history: v["statuses"]
            .as_array()
            .map(|a| a.iter().map(|e| text(&e["status"])).collect())
            .unwrap_or_default(),
        wamid: v["wamid"].as_str() == Some(outbound_wamid(0).as_str()),
    })
}

/// `openbsp_sends_total{result="<result>"}` in Prometheus text (0 when absent).
fn sends_total(text: &str, result: &str) -> u64 {
    let label = format!("result=\"{result}\"");
    text.lines()
        .filter(|l| l.starts_with("openbsp_sends_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_by_result_from_prometheus_text() {
        let text = "\
# HELP openbsp_sends_total Graph API send attempts by result
# TYPE openbsp_sends_total counter
openbsp_sends_total{result=\"refused\"} 2
openbsp_sends_total{result=\"accepted\"} 0
openbsp_sends_total_other{result=\"refused\"} 7
openbsp_statuses_total{status=\"read\"} 9
";
        assert_eq!(sends_total(text, "refused"), 2);
        assert_eq!(sends_total(text, "accepted"), 0);
        assert_eq!(sends_total(text, "transport_error"), 0);
        assert_eq!(sends_total("", "refused"), 0);
    }

    #[tokio::test]
    async fn the_tally_reads_the_gateway_tables() {
        let dir = tempfile::tempdir().unwrap();
        let db = BenchDb::create(crate::database::DbKind::Sqlite, dir.path())
            .await
            .unwrap();
        let BenchDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE messages (id TEXT PRIMARY KEY, direction TEXT NOT NULL, status TEXT NOT NULL);
             CREATE TABLE message_statuses (message_id TEXT NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (message_id, status));
             CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT NOT NULL);
             CREATE TABLE outbox (message_id TEXT PRIMARY KEY, state TEXT NOT NULL);
             CREATE TABLE channels (id TEXT PRIMARY KEY, paused_at INTEGER, pause_reason TEXT);
             INSERT INTO messages VALUES ('m1', 'outbound', 'read'), ('m2', 'outbound', 'queued'), ('m3', 'inbound', 'received');
             INSERT INTO message_statuses VALUES ('m1', 'queued', 1), ('m1', 'sent', 2), ('m1', 'delivered', 3), ('m1', 'read', 4), ('m2', 'queued', 1), ('m3', 'received', 1);
             INSERT INTO events VALUES ('e1', 'message.status'), ('e2', 'message.status'), ('e3', 'message.received');
             INSERT INTO outbox VALUES ('m2', 'pending');
             INSERT INTO channels VALUES ('chn_1', NULL, NULL);",
        )
        .unwrap();
        let t = tally(&db).await.unwrap();
        assert_eq!(
            t,
            Tally {
                queued: 1,
                read: 1,
                history: 3,
                events: 2,
                outbox: 1,
                ..Tally::default()
            }
        );
        assert_eq!(paused_by(&db).await.unwrap(), None);
        conn.execute(
            "UPDATE channels SET paused_at = 5, pause_reason = '{\"code\":190,\"message\":\"x\"}'",
            [],
        )
        .unwrap();
        assert_eq!(paused_by(&db).await.unwrap(), Some(190));
    }
}
