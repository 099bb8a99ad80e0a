//! A load run, not a check: many concurrent callers enqueueing, reporting rate and latency.
//! Ignored by default; run with
//! `cargo test --release -p openbsp-store --test store_suite throughput -- --ignored --nocapture`
//! (`OPENBSP_THROUGHPUT_N` messages, default 40 000; `OPENBSP_THROUGHPUT_CALLERS`, default 256;
//! `OPENBSP_THROUGHPUT_KEYED=1` to give every request an idempotency key;
//! `OPENBSP_THROUGHPUT_LOOKUP=1` to read each recipient's conversation first, as the gateway
//! does before a send).

use std::time::{Duration, Instant};

use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::fixtures::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn enqueue_throughput(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Load").await;
    let total = env("OPENBSP_THROUGHPUT_N", 40_000);
    let callers = env("OPENBSP_THROUGHPUT_CALLERS", 256).max(1);
    let keyed_run = env("OPENBSP_THROUGHPUT_KEYED", 0) == 1;
    let with_lookup = env("OPENBSP_THROUGHPUT_LOOKUP", 0) == 1;
    let per_caller = total / callers;
    // Warm up first (connections opened, statements prepared), as a running gateway is.
    let warm: Vec<_> = (0..callers * 4)
        .map(|i| {
            let store = store.clone();
            let new = outbound(&w.channel, &format!("1444{i:06}"), 1_000 + i as i64);
            tokio::spawn(async move { store.enqueue_outbound(new).await })
        })
        .collect();
    for t in warm {
        t.await.unwrap().unwrap();
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let store = store.clone();
        let channel = w.channel.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                let n = c * per_caller + i;
                let to = format!("1555{:06}", n % 5_000);
                let at = 1_000_000 + n as i64;
                let new = if keyed_run {
                    keyed(&channel, &to, at, &format!("key-{n}"), "h")
                } else {
                    outbound(&channel, &to, at)
                };
                let t = Instant::now();
                if with_lookup {
                    // As the gateway does before each send: the recipient's windows and session.
                    store
                        .conversation(&channel.tenant_id, &channel.id, &new.contact)
                        .await
                        .unwrap();
                }
                match store.enqueue_outbound(new).await {
                    Ok(EnqueueOutcome::Created { .. }) => {}
                    other => panic!("enqueue failed: {other:?}"),
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(total);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{backend:?}: {} enqueues by {callers} callers in {:.2?}: {:.0}/s; p50 {:.2?} p99 {:.2?} max {:.2?}",
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1],
    );
    assert_eq!(
        store.count_messages(&w.tenant.id).await.unwrap(),
        (latencies.len() + callers * 4) as i64
    );
}

/// A load run of the reads the gateway makes before each send: `OPENBSP_READ` = `conversation`
/// or `find_contact`.
pub async fn read_throughput(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Load").await;
    let callers = env("OPENBSP_THROUGHPUT_CALLERS", 64).max(1);
    let total = env("OPENBSP_THROUGHPUT_N", 40_000);
    let which = std::env::var("OPENBSP_READ").unwrap_or_else(|_| "conversation".into());
    for i in 0..1_000 {
        enqueue(
            &store,
            outbound(&w.channel, &format!("1555{i:06}"), 1_000 + i as i64),
        )
        .await;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let store = store.clone();
        let channel = w.channel.clone();
        let which = which.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..total / callers {
                let key = ContactKey::WaId(format!("1555{:06}", (c * 7 + i) % 1_000));
                if which == "conversation" {
                    store
                        .conversation(&channel.tenant_id, &channel.id, &key)
                        .await
                        .unwrap();
                } else {
                    store.find_contact(&channel.tenant_id, &key).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = (total / callers) * callers;
    println!(
        "{backend:?}: {n} {which} by {callers} callers: {:.0}/s",
        n as f64 / started.elapsed().as_secs_f64()
    );
}
