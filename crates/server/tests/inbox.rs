//! Meta's payloads in the inbox, on both backends: a payload posted again (Meta's retry, or a
//! captured signed payload replayed) is answered like the first and neither stored nor
//! processed again; processed payloads go after the retention, by the leader's pruning job.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};

use common::receiver::Receiver;
use common::*;
use openbsp_domain::Clock;
use openbsp_store::{EventFilter, event_format};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    a_replayed_payload_is_stored_and_processed_once => crate::a_replayed_payload_is_stored_and_processed_once,
    processed_payloads_go_after_the_retention => crate::processed_payloads_go_after_the_retention,
}

/// A time past anything these tests reach (2100-01-01): pruning before it forgets every
/// processed payload, and says how many there were.
const FOREVER: i64 = 4_102_444_800_000;

const DAY: i64 = 24 * 3_600_000;

/// A signed-able payload with one text message from `from` (its `wamid` made up here).
fn text_payload(from: &str, text: &str) -> (String, String) {
    let wamid = format!("wamid.inbox-{}", openbsp_domain::crypto::random_token(8));
    let body = envelope(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1700000000", "type": "text", "text": {"body": text}}]
    }));
    (body, wamid)
}

/// Waits until the gateway has processed every payload it stored.
async fn processed(app: &TestApp) {
    wait_until("the inbox processed", || async {
        app.store.unprocessed_inbox(1).await.unwrap().is_empty()
    })
    .await;
}

/// The value of the intake counter for `result` in the process's metrics.
fn intake(result: &str) -> f64 {
    let series = format!("openbsp_webhook_intake_total{{result=\"{result}\"}} ");
    openbsp_server::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn a_replayed_payload_is_stored_and_processed_once(b: Backend) {
    let app = spawn_app(b).await;
    // A tenant whose endpoint wants Meta's format gets each payload forwarded as Meta sent it.
    let meta = Receiver::start().await;
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.api_key,
            &json!({"url": meta.url, "events": ["message.*"], "format": "meta"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (body, wamid) = text_payload("15557770001", "hello once");
    let duplicates = intake("duplicate");
    assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    wait_until("the message stored", || async {
        app.get(&format!("/v1/messages/{wamid}"), &app.api_key)
            .await
            .status
            == 200
    })
    .await;
    processed(&app).await;

    // One payload kept, one message, one event of each format.
    assert_eq!(app.store.prune_inbox(FOREVER, 100).await.unwrap(), 1);
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 1);
    let filter = EventFilter {
        types: vec!["message.received".into()],
        limit: 100,
        ..Default::default()
    };
    let native = app
        .store
        .list_events(&app.tenant_id, &filter)
        .await
        .unwrap();
    assert_eq!(native.len(), 1, "{native:?}");
    let forwarded = app
        .store
        .events_after(&app.tenant_id, event_format::META, None, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        forwarded.len(),
        1,
        "Meta's envelope forwarded once: {forwarded:?}"
    );
    assert!(intake("duplicate") > duplicates, "the copy is counted");
}

/// The clocked variants run one at a time, each from past the time the other reached: the
/// process's id generator never goes back in time (an id made after it did carries the later
/// time), and the inbox is pruned by id range.
static CLOCKED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static REACHED: AtomicI64 = AtomicI64::new(0);

async fn processed_payloads_go_after_the_retention(b: Backend) {
    let _one_at_a_time = CLOCKED.lock().await;
    let (app, clock) = spawn_app_clocked(b).await;
    let start = clock.now_ms().max(REACHED.load(Ordering::SeqCst) + DAY);
    clock.set_ms(start);
    // The 66 days this test moves through are its own, pass or fail.
    REACHED.store(start + 70 * DAY, Ordering::SeqCst);
    let retention = app.gateway.state().config.delivery.retention.as_millis() as i64;
    assert_eq!(retention, 30 * DAY, "the events' retention, by default");
    let prune = || openbsp_server::meta::retention::prune(app.gateway.state());

    let (old, _) = text_payload("15557770002", "old");
    assert_eq!(app.post_webhook(&old, Some(APP_SECRET)).await, 200);
    processed(&app).await;
    clock.advance_ms(20 * DAY);
    let (fresh, _) = text_payload("15557770003", "fresh");
    assert_eq!(app.post_webhook(&fresh, Some(APP_SECRET)).await, 200);
    processed(&app).await;
    assert_eq!(prune().await.unwrap(), 0, "nothing is 30 days old yet");

    // 35 days after the first: it goes, the one of 15 days stays.
    clock.advance_ms(15 * DAY);
    assert_eq!(prune().await.unwrap(), 1);
    assert_eq!(prune().await.unwrap(), 0);
    // Posted again: the first is stored anew (forgotten, with its digest), the second is a
    // copy of one still kept.
    let duplicates = intake("duplicate");
    assert_eq!(app.post_webhook(&old, Some(APP_SECRET)).await, 200);
    assert_eq!(app.post_webhook(&fresh, Some(APP_SECRET)).await, 200);
    processed(&app).await;
    assert!(intake("duplicate") > duplicates);
    clock.advance_ms(31 * DAY);
    assert_eq!(
        prune().await.unwrap(),
        2,
        "the fresh one and the old one's new copy"
    );
}
