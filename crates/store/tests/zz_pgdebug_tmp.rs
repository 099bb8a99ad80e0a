#![allow(dead_code, unused_imports)]
#[path = "store_suite/fixtures.rs"]
mod fixtures;
#[path = "store_suite/webhook_endpoints.rs"]
mod webhook_endpoints;
use fixtures::*;
use openbsp_store::*;
use openbsp_testkit::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbg() {
    let (_db, store) = open_store(Backend::Postgres).await;
    let w = world(&store, "Acme").await;
    let e = store.create_webhook_endpoint(&webhook_endpoints::endpoint(&w.tenant.id, 5_000)).await.unwrap();
    for i in 0..3 {
        enqueue(&store, outbound(&w.channel, &format!("1555100{i:04}"), 10_000 + i)).await;
    }
    let evs = store.events_after(&w.tenant.id, event_format::NATIVE, None, e.created_at, 100).await.unwrap();
    for ev in &evs { println!("{} {} {} {:?}", ev.id, ev.kind, ev.created_at, ev.cursor); }
    let a = |ev: &Event, ok: bool| DeliveryAttempt { endpoint_id: e.id.clone(), tenant_id: e.tenant_id.clone(), event_id: ev.id.clone(), event_type: ev.kind.clone(), attempt: 1, at: 15_000, succeeded: ok, status_code: Some(200), latency_ms: 1, error: None, response: None, next_attempt_at: None };
    store.record_deliveries(&DeliveryRecord { endpoint_id: e.id.clone(), tenant_id: e.tenant_id.clone(), cursor: Some(evs[2].cursor), attempts: vec![a(&evs[0], true), a(&evs[1], false), a(&evs[2], true)], retries: vec![(evs[1].id.clone(), 2, 20_000)], at: 15_000, ..Default::default() }).await.unwrap();
    let all = store.list_delivery_attempts(&w.tenant.id, &e.id, &AttemptFilter { limit: 10, ..Default::default() }).await.unwrap();
    for l in &all { println!("attempt {} {} {}", l.seq, l.attempt.event_id, l.attempt.succeeded); }
    let by = store.list_delivery_attempts(&w.tenant.id, &e.id, &AttemptFilter { limit: 10, event_id: Some(evs[0].id.clone()), ..Default::default() }).await.unwrap();
    println!("by_event {}", by.len());
    let n = store.replay_deliveries(&w.tenant.id, &e.id, &ReplaySelection::Failed { since: evs[0].created_at, until: evs[8].created_at + 1 }, 21_000).await.unwrap();
    println!("replayed {n}");
}
