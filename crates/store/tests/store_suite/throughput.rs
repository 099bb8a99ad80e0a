//! A load run, not a check: many concurrent callers enqueueing, reporting rate and latency.
//! Ignored by default; run with
//! `cargo test --release -p openbsp-store --test store_suite throughput -- --ignored --nocapture`
//! (`OPENBSP_THROUGHPUT_N` messages, default 40 000; `OPENBSP_THROUGHPUT_CALLERS`, default 256;
//! `OPENBSP_THROUGHPUT_KEYED=1` to give every request an idempotency key).

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
                match store.enqueue_outbound(new).await {
                    Ok(EnqueueOutcome::Created(_)) => {}
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
