//! Crash safety with a real process: SIGKILL the gateway while sends are queued and in flight,
//! restart it, and check that every accepted message reached Meta (the simulator) exactly once.
//! Also exercises the admin commands' `--json` output, which provisions the gateway here.

mod common;

use std::time::{Duration, Instant};

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    sigkill_loses_nothing_and_sends_nothing_twice => crate::sigkill_loses_nothing_and_sends_nothing_twice,
    sigkill_loses_no_event => crate::sigkill_loses_no_event,
}

/// Posts `count` template sends starting at recipient `first`, `batch` at a time, each to the
/// gateway `bases[i % bases.len()]`; the accepted message ids.
async fn accept_spread(
    http: &reqwest::Client,
    bases: &[String],
    api_key: &str,
    first: usize,
    count: usize,
) -> Vec<String> {
    let mut accepted = Vec::new();
    let indices: Vec<usize> = (first..first + count).collect();
    for batch in indices.chunks(20) {
        let mut posts = tokio::task::JoinSet::new();
        for &i in batch {
            let (http, base, api_key) = (
                http.clone(),
                bases[i % bases.len()].clone(),
                api_key.to_string(),
            );
            posts.spawn(async move {
                let r = http
                    .post(format!("{base}/v1/messages"))
                    .bearer_auth(&api_key)
                    .json(&json!({"channel": PNID, "to": format!("{USER_PREFIX}{i:05}"), "type": "template", "template": {"name": "crash_test", "language": {"code": "en"}}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202, "through {base}");
                let v: Value = r.json().await.unwrap();
                v["id"].as_str().unwrap().to_string()
            });
        }
        accepted.extend(posts.join_all().await);
    }
    accepted
}

/// Every message of `accepted` (gateway ids) is among what Meta `received` exactly once, and
/// nothing else is.
fn assert_sent_once(received: &[openbsp_simulator::ReceivedMessage], accepted: &[String]) {
    let mut ids: Vec<&str> = received
        .iter()
        .map(|m| m.body["biz_opaque_callback_data"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let dups: Vec<_> = ids
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(dups.is_empty(), "sent twice: {dups:?}");
    let mut want: Vec<&str> = accepted.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(ids, want, "every accepted message sent exactly once");
}

/// Three `openbsp serve` processes on one PostgreSQL database (replicas are a PostgreSQL
/// deployment: SQLite is one process), the simulator as Meta allowing 500 msg/s while the
/// channel is at 20. Sends are accepted through all three; the replica sending for the channel
/// is SIGKILLed half way. Another takes the channel over; every accepted message reaches Meta
/// exactly once, and no second at Meta holds more than the channel's 20.
// The simulator runs in this test's runtime: on one thread its handling (and so the times
// it records) would wait behind the test's own requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_send_each_message_once_at_the_channels_rate() {
    let World {
        db,
        sim,
        api_key,
        port,
        base,
    } = world(Backend::Postgres).await;
    let mut phone = sim.phone_number(PNID).unwrap();
    phone.throughput_mps = Some(500);
    sim.add_phone_number(phone);

    let http = reqwest::Client::new();
    // The replica that will hold the channel starts first and takes its first sends.
    let port_b = free_port();
    let base_b = format!("http://127.0.0.1:{port_b}");
    let b = Gateway::start(&db, port_b, 2);
    wait_ready(&http, &base_b, &b).await;
    let mut accepted = accept_spread(&http, std::slice::from_ref(&base_b), &api_key, 0, 40).await;
    let a = Gateway::start(&db, port, 1);
    let port_c = free_port();
    let base_c = format!("http://127.0.0.1:{port_c}");
    let c = Gateway::start(&db, port_c, 3);
    wait_ready(&http, &base, &a).await;
    wait_ready(&http, &base_c, &c).await;
    let all = [base.clone(), base_b.clone(), base_c.clone()];
    accepted.extend(accept_spread(&http, &all, &api_key, 40, 260).await);
    let total = accepted.len();
    // Half way, the sending replica dies.
    let start = Instant::now();
    while sim.received(PNID).len() < total / 2 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log_b = b.log();
    b.sigkill();
    let at_kill = sim.received(PNID).len();
    assert!(
        at_kill < total,
        "the kill came after everything was sent ({at_kill}); nothing was tested"
    );
    let start = Instant::now();
    while sim.received(PNID).len() < total {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} of {total} reached Meta after the kill at {at_kill}:\n{}\n{}\nthe killed one:\n{log_b}",
            sim.received(PNID).len(),
            a.log(),
            c.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a late duplicate the time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = sim.received(PNID);
    assert_sent_once(&received, &accepted);
    // The channel's rate at Meta, per second.
    let first = received.iter().map(|m| m.received_at_ms).min().unwrap();
    let mut per_second = std::collections::BTreeMap::<i64, u32>::new();
    for m in &received {
        *per_second
            .entry((m.received_at_ms - first) / 1000)
            .or_default() += 1;
    }
    // Every second counts, the first too: it used to hold a bunch, Meta's clock and not the
    // pacing (the simulator's first send waited a quarter second for libphonenumber's
    // metadata, and stamped every send of that quarter second at once); it loads it first.
    let busiest = per_second.values().copied().max().unwrap_or_default();
    assert!(
        busiest <= 20,
        "{busiest} sends in one second at Meta, the channel's limit is 20: {per_second:?}"
    );
    // Taken over within seconds: no gap at Meta longer than the lease's time and the grace.
    let mut times: Vec<i64> = received.iter().map(|m| m.received_at_ms).collect();
    times.sort();
    let gap = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        gap < 8_000,
        "Meta heard nothing for {gap} ms after the kill"
    );
}

async fn sigkill_loses_nothing_and_sends_nothing_twice(b: Backend) {
    let World {
        db,
        sim,
        api_key,
        port,
        base,
    } = world(b).await;
    let http = reqwest::Client::new();
    let gw = Gateway::start(&db, port, 1);
    wait_ready(&http, &base, &gw).await;

    // Accepted concurrently and paced at 20/s, so the sender is still busy (10 s of sends)
    // when the kill comes: accepting them one by one on a slow machine took longer than the
    // sender needed to send them all, and the kill then tested nothing.
    let total = 200;
    let accepted = accept_spread(&http, std::slice::from_ref(&base), &api_key, 0, total).await;
    // Let some go out, then kill it mid-stream.
    let start = Instant::now();
    while sim.received(PNID).len() < 40 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.sigkill();
    let at_kill = sim.received(PNID).len();
    assert!(
        at_kill < total,
        "the kill came after everything was sent ({at_kill}); nothing was tested"
    );

    let gw = Gateway::start(&db, port, 2);
    wait_ready(&http, &base, &gw).await;

    // Every accepted message reaches Meta and comes back delivered.
    let start = Instant::now();
    loop {
        let mut pending = 0;
        for id in &accepted {
            let v: Value = http
                .get(format!("{base}/v1/messages/{id}"))
                .bearer_auth(&api_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["status"] != "delivered" && v["status"] != "read" {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{pending} messages never delivered after the restart:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let received = sim.received(PNID);
    assert_sent_once(&received, &accepted);
    eprintln!(
        "{b:?}: {total} accepted, {at_kill} sent before SIGKILL, all {} sent exactly once after restart",
        received.len()
    );
    sim.shutdown().await;
}

/// One request to the business's endpoint: its `webhook-id` and body.
type Request = (String, Vec<u8>);

/// What the business's endpoint got, in order.
#[derive(Clone, Default)]
struct Received(std::sync::Arc<std::sync::Mutex<Vec<Request>>>);

/// A slow endpoint (each answer takes 300 ms, so deliveries are in flight when the gateway
/// dies) that refuses the first attempt of every fourth request (so retries are pending).
async fn slow_endpoint() -> (String, Received) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let got = Received::default();
    let state = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let mut all = state.0.lock().unwrap();
                let first = !all.iter().any(|(seen, _)| *seen == id);
                all.push((id, body.to_vec()));
                if first && all.len() % 4 == 0 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Every event id the gateway has for the tenant.
async fn event_ids(http: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/events?limit=100");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in page["data"].as_array().unwrap() {
            ids.push(e["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => return ids,
        }
    }
}

/// SIGKILL the gateway while events are being delivered (some in flight, some waiting for a
/// retry); after the restart every event reaches the endpoint, duplicates carrying the same
/// `webhook-id` and the same body.
async fn sigkill_loses_no_event(b: Backend) {
    let World {
        db,
        sim,
        api_key,
        port,
        base,
    } = world(b).await;
    let (url, got) = slow_endpoint().await;
    let http = reqwest::Client::new();
    let gw = Gateway::start(&db, port, 1);
    wait_ready(&http, &base, &gw).await;
    let r = http
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(&api_key)
        .json(&json!({"url": url, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    for i in 0..60 {
        let r = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&api_key)
            .json(&json!({"channel": PNID, "to": format!("{USER_PREFIX}{i:05}"), "type": "template", "template": {"name": "crash_test", "language": {"code": "en"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let start = Instant::now();
    while got.0.lock().unwrap().len() < 60 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.sigkill();
    let at_kill = got.0.lock().unwrap().len();
    let ids_at_kill: std::collections::HashSet<String> = got
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let gw = Gateway::start(&db, port, 2);
    wait_ready(&http, &base, &gw).await;
    let made = event_ids(&http, &base, &api_key).await;
    assert!(
        ids_at_kill.len() < made.len(),
        "the kill came after every event was delivered ({} of {}); nothing was tested",
        ids_at_kill.len(),
        made.len()
    );
    // Every event the gateway made reaches the endpoint (statuses keep coming: wait until
    // the events stop growing and all have arrived).
    let start = Instant::now();
    loop {
        let made = event_ids(&http, &base, &api_key).await;
        let received: std::collections::HashSet<String> = got
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let missing: Vec<&String> = made.iter().filter(|id| !received.contains(*id)).collect();
        if missing.is_empty() && made.len() >= 60 * 4 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{} of {} events never delivered after the restart (e.g. {:?}):\n{}",
            missing.len(),
            made.len(),
            missing.first(),
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = got.0.lock().unwrap().clone();
    let mut bodies: std::collections::HashMap<&str, &Vec<u8>> = std::collections::HashMap::new();
    let mut duplicates = 0;
    for (id, body) in &all {
        if let Some(first) = bodies.insert(id, body) {
            duplicates += 1;
            assert_eq!(first, body, "a redelivery of {id} carries the same event");
        }
    }
    eprintln!(
        "{b:?}: {} events, {at_kill} requests before SIGKILL, {} requests in all ({duplicates} repeats of an id: retries and redeliveries), none lost",
        bodies.len(),
        all.len()
    );
    sim.shutdown().await;
}
