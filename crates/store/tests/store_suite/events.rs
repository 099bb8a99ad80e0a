//! Events: written in the transaction of the change they report, listed per tenant, read in
//! an order a cursor can follow without skipping, and their delivery bookkeeping (attempt log,
//! retries, cursor, disabling, replay).

use std::collections::BTreeSet;
use std::sync::Arc;

use openbsp_domain::MessageStatus;
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::webhook_endpoints::endpoint;

/// Every native event of a tenant, oldest first, as (type, data).
pub async fn all_events(store: &Arc<dyn Store>, tenant_id: &str) -> Vec<(String, Value)> {
    let mut out = store
        .list_events(
            tenant_id,
            &EventFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("list events");
    out.reverse();
    out.into_iter().map(|e| (e.kind, e.data)).collect()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

pub async fn every_change_writes_its_event(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    // A first message to a new user: the contact, the session, the queued status.
    let m = enqueue(&store, outbound(&w.channel, "15550001111", 10_000)).await;
    let ev = all_events(&store, &w.tenant.id).await;
    assert_eq!(
        types(&ev),
        ["contact.updated", "session.opened", "message.status"]
    );
    assert_eq!(ev[0].1["changes"], json!(["created"]));
    assert_eq!(ev[0].1["contact"]["wa_id"], "15550001111");
    assert_eq!(ev[1].1["session"]["contact_id"], ev[0].1["contact"]["id"]);
    assert_eq!(ev[1].1["session"]["status"], "open");
    assert_eq!(ev[2].1["message_id"], json!(m.id));
    assert_eq!(ev[2].1["status"], "queued");
    assert_eq!(ev[2].1["sequence"], 1);
    assert_eq!(ev[2].1["session_id"], ev[1].1["session"]["id"]);
    assert_eq!(ev[2].1["to"], "15550001111");

    // Meta's answer, then its statuses; a repeated status writes nothing.
    accept(&store, &m, "wamid.E1", 11_000).await;
    let mut delivered = status(&w.channel, "wamid.E1", MessageStatus::Delivered, 12_000);
    delivered.pricing_category = Some("utility".into());
    store.apply_status(&delivered).await.unwrap();
    store.apply_status(&delivered).await.unwrap();
    // A late `sent` still tells the consumer, who orders by `sequence`.
    store
        .apply_status(&status(&w.channel, "wamid.E1", MessageStatus::Sent, 11_500))
        .await
        .unwrap();
    let ev = all_events(&store, &w.tenant.id).await;
    let statuses: Vec<(Value, Value, Value)> = ev
        .iter()
        .filter(|(t, _)| t == "message.status")
        .map(|(_, d)| {
            (
                d["status"].clone(),
                d["sequence"].clone(),
                d["wamid"].clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("queued"), json!(1), Value::Null),
            (json!("accepted"), json!(2), json!("wamid.E1")),
            (json!("delivered"), json!(4), json!("wamid.E1")),
            (json!("sent"), json!(3), json!("wamid.E1")),
        ]
    );
    let delivered_event = ev.iter().find(|(_, d)| d["status"] == "delivered").unwrap();
    assert_eq!(delivered_event.1["pricing"]["category"], "utility");

    // An inbound message from a new user: contact, session, message; a duplicate: nothing.
    let before = all_events(&store, &w.tenant.id).await.len();
    let new = inbound(&w.channel, "15550002222", "wamid.IN1", Some("Ann"), 20_000);
    assert!(store.insert_inbound(&new).await.unwrap());
    assert!(!store.insert_inbound(&new).await.unwrap());
    let ev = all_events(&store, &w.tenant.id).await;
    assert_eq!(
        types(&ev[before..]),
        ["contact.updated", "session.opened", "message.received"]
    );
    let received = &ev[before + 2].1;
    assert_eq!(received["message"]["wamid"], "wamid.IN1");
    assert_eq!(received["message"]["from"], "15550002222");
    assert_eq!(received["message"]["direction"], "inbound");
    assert_eq!(received["contact"]["name"], "Ann");
    assert_eq!(
        received["message"]["session_id"],
        ev[before + 1].1["session"]["id"]
    );
    // The session as committed: renewed by the message that opened it.
    assert_eq!(
        ev[before + 1].1["session"]["last_inbound_at"],
        received["message"]["created_at"]
    );

    // The same user renamed: one contact.updated naming the change; the session is renewed,
    // not reopened.
    let renamed = inbound(
        &w.channel,
        "15550002222",
        "wamid.IN2",
        Some("Ann B"),
        21_000,
    );
    store.insert_inbound(&renamed).await.unwrap();
    let ev = all_events(&store, &w.tenant.id).await;
    assert_eq!(
        types(&ev[before + 3..]),
        ["contact.updated", "message.received"]
    );
    assert_eq!(ev[before + 3].1["changes"], json!(["name"]));

    // A business's change to the contact, a close, a template's review.
    let contact_id = ev[before + 3].1["contact"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = ContactPatch {
        marketing_opt_out: Some(true),
        ..Default::default()
    };
    store
        .update_contact(&w.tenant.id, &contact_id, &patch, 22_000)
        .await
        .unwrap();
    // The same change again changes nothing and says nothing.
    store
        .update_contact(&w.tenant.id, &contact_id, &patch, 22_500)
        .await
        .unwrap();
    let session_id = ev[before + 1].1["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    store
        .close_session(&w.tenant.id, &session_id, 23_000)
        .await
        .unwrap();
    store
        .close_session(&w.tenant.id, &session_id, 23_500)
        .await
        .unwrap();
    let approved = TemplateUpdate {
        tenant_id: w.tenant.id.clone(),
        waba_id: w.channel.waba_id.clone(),
        name: "order_update".into(),
        language: "en_US".into(),
        category: None,
        status: Some("APPROVED".into()),
        meta_template_id: Some("778899".into()),
        reason: None,
        quality_score: None,
        previous_category: None,
        event: "status".into(),
        detail: json!({}),
        at: 24_000,
    };
    store.apply_template_update(&approved).await.unwrap();
    store.apply_template_update(&approved).await.unwrap();
    let quality = TemplateUpdate {
        status: None,
        quality_score: Some("RED".into()),
        event: "quality".into(),
        at: 25_000,
        ..approved.clone()
    };
    store.apply_template_update(&quality).await.unwrap();
    let ev = all_events(&store, &w.tenant.id).await;
    assert_eq!(
        types(&ev[before + 5..]),
        [
            "contact.updated",
            "session.closed",
            "template.status_changed",
            "template.quality_changed"
        ]
    );
    assert_eq!(ev[before + 5].1["changes"], json!(["marketing_opt_out"]));
    assert_eq!(
        ev[before + 5].1["contact"]["marketing_opt_out"]["opted_out"],
        true
    );
    assert_eq!(ev[before + 6].1["session"]["close_reason"], "closed");
    let tpl = &ev[before + 7].1;
    assert_eq!(tpl["value"], "APPROVED");
    assert_eq!(
        tpl["previous"],
        Value::Null,
        "a template first heard of has no previous status"
    );
    assert_eq!(tpl["template"]["name"], "order_update");
    assert_eq!(ev[before + 8].1["value"], "RED");

    // The closer's closes are events too.
    let m2 = enqueue(&store, outbound(&w.channel, "15550003333", 30_000)).await;
    let lapse = m2.created_at + openbsp_domain::windows::CSW_MS;
    let closed = store.close_expired_sessions(lapse, 100).await.unwrap();
    assert!(!closed.is_empty());
    let ev = all_events(&store, &w.tenant.id).await;
    let last = ev.last().unwrap();
    assert_eq!(last.0, "session.closed");
    assert_eq!(last.1["session"]["close_reason"], "expired");

    // Nothing leaked to the other tenant, which sees only its own.
    assert!(all_events(&store, &other.tenant.id).await.is_empty());
}

pub async fn events_list_newest_first_with_filters_and_pages(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    for i in 0..5 {
        enqueue(
            &store,
            outbound(&w.channel, &format!("1555000{i:04}"), 10_000 + i * 1_000),
        )
        .await;
    }
    enqueue(&store, outbound(&other.channel, "15559999999", 10_000)).await;
    let list = |filter: EventFilter| {
        let store = store.clone();
        let t = w.tenant.id.clone();
        async move { store.list_events(&t, &filter).await.unwrap() }
    };
    let all = list(EventFilter {
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(all.len(), 15);
    assert!(
        all.windows(2).all(|p| p[0].cursor > p[1].cursor),
        "newest first"
    );
    let statuses = list(EventFilter {
        types: vec!["message.*".into()],
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(statuses.len(), 5);
    assert!(statuses.iter().all(|e| e.kind == "message.status"));
    let first = list(EventFilter {
        limit: 4,
        ..Default::default()
    })
    .await;
    let second = list(EventFilter {
        limit: 100,
        after: Some(first.last().unwrap().id.clone()),
        ..Default::default()
    })
    .await;
    let ids: Vec<String> = first.iter().chain(&second).map(|e| e.id.clone()).collect();
    assert_eq!(ids, all.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    // A period of recording times: exactly the events recorded within it.
    let (since, until) = (all[10].created_at, all[2].created_at);
    let window = list(EventFilter {
        since: Some(since),
        until: Some(until),
        limit: 100,
        ..Default::default()
    })
    .await;
    let want: Vec<&String> = all
        .iter()
        .filter(|e| e.created_at >= since && e.created_at < until)
        .map(|e| &e.id)
        .collect();
    assert_eq!(window.iter().map(|e| &e.id).collect::<Vec<_>>(), want);
    let one = &all[0];
    assert_eq!(
        store
            .get_event(&w.tenant.id, &one.id)
            .await
            .unwrap()
            .as_ref(),
        Some(one)
    );
    assert_eq!(
        store.get_event(&other.tenant.id, &one.id).await.unwrap(),
        None
    );
}

/// Many writers at once while a reader follows its cursor: the reader sees every event once,
/// none skipped by a transaction that committed after a later one (PostgreSQL's sequences are
/// not in commit order).
pub async fn a_cursor_reader_never_skips_an_event(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            let ch = w.channel.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    let m = outbound(&ch, &format!("1556{t:03}{i:04}"), 10_000 + i);
                    store.enqueue_outbound(m).await.unwrap();
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut cursor: Option<EventCursor> = None;
    let mut done = false;
    loop {
        let batch = store
            .events_after(&w.tenant.id, event_format::NATIVE, cursor, 0, 7)
            .await
            .unwrap();
        for e in &batch {
            assert!(Some(e.cursor) > cursor, "in order");
            cursor = Some(e.cursor);
            seen.push(e.id.clone());
        }
        if batch.is_empty() {
            if done {
                break;
            }
            done = writers.iter().all(|h| h.is_finished());
            tokio::task::yield_now().await;
        }
    }
    for h in writers {
        h.await.unwrap();
    }
    let all = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    assert_eq!(seen.len(), all.len(), "no event skipped");
    // `since` skips what was recorded before it.
    let mid = all[all.len() / 2].created_at;
    let late = store
        .events_after(&w.tenant.id, event_format::NATIVE, None, mid, 1000)
        .await
        .unwrap();
    assert!(!late.is_empty() && late.len() < all.len());
    assert!(late.iter().all(|e| e.created_at >= mid));
}

fn attempt(e: &WebhookEndpoint, ev: &Event, n: u32, at: i64, ok: bool) -> DeliveryAttempt {
    DeliveryAttempt {
        endpoint_id: e.id.clone(),
        tenant_id: e.tenant_id.clone(),
        event_id: ev.id.clone(),
        event_type: ev.kind.clone(),
        attempt: n,
        at,
        succeeded: ok,
        status_code: Some(if ok { 200 } else { 503 }),
        latency_ms: 12,
        error: None,
        response: Some(if ok { "ok" } else { "busy" }.into()),
        next_attempt_at: None,
    }
}

pub async fn deliveries_are_logged_retried_replayed_and_disabled(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let e = store
        .create_webhook_endpoint(&endpoint(&w.tenant.id, 5_000))
        .await
        .unwrap();
    let mut sibling = endpoint(&w.tenant.id, 5_000);
    sibling.events = vec!["*".into()];
    store.create_webhook_endpoint(&sibling).await.unwrap();
    for i in 0..3 {
        enqueue(
            &store,
            outbound(&w.channel, &format!("1555100{i:04}"), 10_000 + i),
        )
        .await;
    }
    let evs = store
        .events_after(&w.tenant.id, event_format::NATIVE, None, e.created_at, 100)
        .await
        .unwrap();
    assert_eq!(evs.len(), 9);
    // The first three delivered: two succeed, one fails and is retried at 20 000.
    let mut failed = attempt(&e, &evs[1], 1, 15_000, false);
    failed.next_attempt_at = Some(20_000);
    store
        .record_deliveries(&DeliveryRecord {
            endpoint_id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            cursor: Some(evs[2].cursor),
            attempts: vec![
                attempt(&e, &evs[0], 1, 15_000, true),
                failed,
                attempt(&e, &evs[2], 1, 15_000, true),
            ],
            retries: vec![(evs[1].id.clone(), 2, 20_000)],
            failing_since: Some(Some(15_000)),
            at: 15_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let now = store
        .get_webhook_endpoint(&w.tenant.id, &e.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.cursor, Some(evs[2].cursor));
    assert_eq!(now.failing_since, Some(15_000));
    // The tenant's own edits leave the cursor alone.
    let edited = store
        .update_webhook_endpoint(&WebhookEndpoint {
            description: Some("CRM".into()),
            ..now.clone()
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.cursor, Some(evs[2].cursor));
    let rest = store
        .events_after(&w.tenant.id, event_format::NATIVE, now.cursor, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| &e.id).collect::<Vec<_>>(),
        evs[3..].iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    // A cursor never moves back.
    store
        .record_deliveries(&DeliveryRecord {
            endpoint_id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            cursor: Some(evs[0].cursor),
            at: 15_500,
            ..Default::default()
        })
        .await
        .unwrap();
    let now = store
        .get_webhook_endpoint(&w.tenant.id, &e.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.cursor, Some(evs[2].cursor));

    // The retry is due at 20 000, not before.
    assert!(
        store
            .due_deliveries(&e.id, 19_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_delivery_due(&e.id).await.unwrap(), Some(20_000));
    let due = store.due_deliveries(&e.id, 20_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event, evs[1]);
    assert_eq!(due[0].attempt, 2);
    assert!(
        store
            .due_deliveries(&sibling.id, 20_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The log, newest first, filtered and paged.
    let log = |f: AttemptFilter| {
        let store = store.clone();
        let (t, id) = (w.tenant.id.clone(), e.id.clone());
        async move { store.list_delivery_attempts(&t, &id, &f).await.unwrap() }
    };
    let all = log(AttemptFilter {
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].attempt.event_id, evs[2].id);
    assert_eq!(all[1].attempt.status_code, Some(503));
    assert_eq!(all[1].attempt.response.as_deref(), Some("busy"));
    assert_eq!(all[1].attempt.next_attempt_at, Some(20_000));
    let failures = log(AttemptFilter {
        succeeded: Some(false),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(failures.len(), 1);
    let page2 = log(AttemptFilter {
        before_seq: Some(all[0].seq),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(page2, all[1..].to_vec());
    let by_event = log(AttemptFilter {
        event_id: Some(evs[0].id.clone()),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(by_event.len(), 1);
    assert!(
        store
            .list_delivery_attempts(
                &other.tenant.id,
                &e.id,
                &AttemptFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );

    // Replays: the failed ones of a time range, and one event; the numbering continues.
    let failed_range = ReplaySelection::Failed {
        since: evs[0].created_at,
        until: evs[8].created_at + 1,
    };
    // A period without that failure replays nothing.
    assert_eq!(
        store
            .replay_deliveries(
                &w.tenant.id,
                &e.id,
                &ReplaySelection::Failed {
                    since: evs[8].created_at + 1,
                    until: evs[8].created_at + 60_000,
                },
                21_000
            )
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_deliveries(&other.tenant.id, &e.id, &failed_range, 21_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_deliveries(&w.tenant.id, &e.id, &failed_range, 21_000)
            .await
            .unwrap(),
        1
    );
    let due = store.due_deliveries(&e.id, 21_000, 10).await.unwrap();
    assert_eq!((due.len(), due[0].attempt, due[0].due_at), (1, 2, 21_000));
    assert_eq!(
        store
            .replay_deliveries(
                &w.tenant.id,
                &e.id,
                &ReplaySelection::Event(evs[0].id.clone()),
                21_000
            )
            .await
            .unwrap(),
        1
    );
    let due = store.due_deliveries(&e.id, 21_000, 10).await.unwrap();
    let replayed = due.iter().find(|d| d.event.id == evs[0].id).unwrap();
    assert_eq!(replayed.attempt, 2);
    assert_eq!(
        store
            .replay_deliveries(
                &w.tenant.id,
                &e.id,
                &ReplaySelection::Event("evt_unknown".into()),
                21_000
            )
            .await
            .unwrap(),
        0
    );

    // Done deliveries leave the queue; the endpoint is disabled once, with its event.
    let disabled_event =
        openbsp_store::events::endpoint_disabled(&now, "failing since 15 000", 30_000);
    let disable = DeliveryRecord {
        endpoint_id: e.id.clone(),
        tenant_id: e.tenant_id.clone(),
        done: vec![evs[0].id.clone(), evs[1].id.clone()],
        disable: Some(("failing".into(), disabled_event.clone())),
        at: 30_000,
        ..Default::default()
    };
    store.record_deliveries(&disable).await.unwrap();
    store
        .record_deliveries(&DeliveryRecord {
            disable: Some((
                "failing".into(),
                openbsp_store::events::endpoint_disabled(&now, "again", 30_001),
            )),
            ..disable.clone()
        })
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries(&e.id, 99_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let now = store
        .get_webhook_endpoint(&w.tenant.id, &e.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!now.enabled);
    assert_eq!(now.disabled_reason.as_deref(), Some("failing"));
    let disabled: Vec<Event> = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                types: vec!["endpoint.disabled".into()],
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].id, disabled_event.id);
    assert_eq!(disabled[0].data["endpoint"]["id"], json!(e.id));

    // A deleted endpoint's log and queue go with it; records for it are ignored.
    store
        .replay_deliveries(
            &w.tenant.id,
            &e.id,
            &ReplaySelection::Event(evs[0].id.clone()),
            40_000,
        )
        .await
        .unwrap();
    assert!(
        store
            .delete_webhook_endpoint(&w.tenant.id, &e.id)
            .await
            .unwrap()
    );
    assert_eq!(store.next_delivery_due(&e.id).await.unwrap(), None);
    store
        .record_deliveries(&DeliveryRecord {
            endpoint_id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            attempts: vec![attempt(&e, &evs[0], 3, 41_000, true)],
            retries: vec![(evs[0].id.clone(), 3, 50_000)],
            at: 41_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.next_delivery_due(&e.id).await.unwrap(), None);
    assert!(
        log(AttemptFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

pub async fn meta_envelopes_are_written_with_the_inbox_mark(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let payload = json!({"object": "whatsapp_business_account", "entry": []});
    let item = InboxItem {
        id: openbsp_domain::ids::new_id_at(openbsp_domain::ids::prefix::INBOX, 1_000),
        app_id: w.app.id.clone(),
        received_at: 1_000,
        body: payload.to_string().into_bytes(),
    };
    store.insert_inbox(&item).await.unwrap();
    let mut meta = NewEvent::native(&w.tenant.id, "message.received", payload.clone());
    meta.format = event_format::META.into();
    store
        .mark_inbox_processed(&[(item.id.clone(), vec![meta.clone()])], 2_000)
        .await
        .unwrap();
    assert!(store.unprocessed_inbox(10).await.unwrap().is_empty());
    // Meta-format events are for Meta-format endpoints: not listed with the native ones.
    assert!(all_events(&store, &w.tenant.id).await.is_empty());
    let got = store
        .events_after(&w.tenant.id, event_format::META, None, 0, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, payload);
    assert_eq!(got[0].format, "meta");
    assert_eq!(
        store
            .get_event(&w.tenant.id, &meta.id)
            .await
            .unwrap()
            .map(|e| e.id),
        Some(meta.id.clone())
    );
}

pub async fn old_events_and_attempts_are_pruned(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let e = store
        .create_webhook_endpoint(&endpoint(&w.tenant.id, 5_000))
        .await
        .unwrap();
    enqueue(&store, outbound(&w.channel, "15552000001", 10_000)).await;
    let evs = store
        .events_after(&w.tenant.id, event_format::NATIVE, None, 0, 100)
        .await
        .unwrap();
    assert_eq!(evs.len(), 3);
    // One attempt logged; one event still waiting for its retry.
    store
        .record_deliveries(&DeliveryRecord {
            endpoint_id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            attempts: vec![attempt(&e, &evs[0], 1, 15_000, false)],
            retries: vec![(evs[0].id.clone(), 2, 20_000)],
            at: 15_000,
            ..Default::default()
        })
        .await
        .unwrap();
    // Nothing is older than the beginning of time.
    assert_eq!(store.prune_events(0, 100).await.unwrap(), 0);
    let later = evs[2].created_at + 1;
    let mut pruned = 0;
    loop {
        let n = store.prune_events(later, 1).await.unwrap();
        if n == 0 {
            break;
        }
        pruned += n;
    }
    assert_eq!(pruned, 3, "two events and the attempt");
    let left = store
        .events_after(&w.tenant.id, event_format::NATIVE, None, 0, 100)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].id, evs[0].id,
        "the event waiting for its retry stays"
    );
    assert_eq!(
        store.due_deliveries(&e.id, 20_000, 10).await.unwrap().len(),
        1
    );
    assert!(
        store
            .list_delivery_attempts(
                &w.tenant.id,
                &e.id,
                &AttemptFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
}

/// Writes `events` as the effects of one stored webhook payload (one transaction), the way the
/// processor does: any type, format and time.
async fn write_events(store: &Arc<dyn Store>, app_id: &str, n: usize, events: Vec<NewEvent>) {
    let item = InboxItem {
        id: openbsp_domain::ids::new_id_at(openbsp_domain::ids::prefix::INBOX, 1_000),
        app_id: app_id.to_string(),
        received_at: 1_000,
        body: json!({"batch": n}).to_string().into_bytes(),
    };
    store.insert_inbox(&item).await.unwrap();
    store
        .mark_inbox_processed(&[(item.id, events)], 2_000)
        .await
        .unwrap();
}

/// Every page of `filter` (pages of `per_page`, each after the last of the one before).
async fn every_page(
    store: &Arc<dyn Store>,
    tenant_id: &str,
    filter: &EventFilter,
    per_page: u32,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_events(
                tenant_id,
                &EventFilter {
                    after: after.clone(),
                    limit: per_page,
                    ..filter.clone()
                },
            )
            .await
            .unwrap();
        assert!(page.len() <= per_page as usize);
        out.extend(page.iter().map(|e| e.id.clone()));
        match page.last() {
            Some(last) if page.len() == per_page as usize => after = Some(last.id.clone()),
            _ => return out,
        }
    }
}

/// The type filter is read through an index, one range per type: it selects exactly what
/// matching every event of the tenant against the patterns selects (exact types, groups, `*`,
/// unknown names), across pages and with time bounds; other tenants' and Meta-format events
/// never show.
pub async fn event_type_filters_select_what_the_patterns_match(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let catalogue = openbsp_domain::events::CATALOGUE;
    // Six transactions of 20 events: types in an uneven mix (the first types of the catalogue
    // often, the last seldom), recording times not in writing order.
    for batch in 0..6 {
        let mut events = Vec::new();
        for i in 0..20usize {
            let n = batch * 20 + i;
            let kind = catalogue[(n * n) % catalogue.len()];
            let mut e = NewEvent::native(&w.tenant.id, kind, json!({ "n": n }));
            e.created_at = 100_000 + ((n * 37) % 120) as i64 * 10;
            events.push(e);
            if n % 7 == 0 {
                let mut theirs = NewEvent::native(&other.tenant.id, kind, json!({ "n": n }));
                theirs.created_at = 100_000 + n as i64;
                events.push(theirs);
                let mut meta = NewEvent::native(&w.tenant.id, kind, json!({ "n": n }));
                meta.format = event_format::META.into();
                events.push(meta);
            }
        }
        write_events(&store, &w.app.id, batch, events).await;
    }
    let all = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 120);
    let patterns: &[&[&str]] = &[
        &["message.status"],
        &["message.*"],
        &["*"],
        &["message.*", "*"],
        &["template.*", "session.opened"],
        &[
            "campaign.*",
            "media.failed",
            "media.failed",
            "campaign.started",
        ],
        &["channel.resumed"],
        &["nothing.*"],
        &["not.a_type"],
        &["message.status", "not.a_type"],
    ];
    let windows = [
        (None, None),
        (Some(100_300), None),
        (None, Some(100_800)),
        (Some(100_200), Some(100_900)),
    ];
    for ps in patterns {
        for (since, until) in windows {
            let filter = EventFilter {
                types: ps.iter().map(|p| p.to_string()).collect(),
                since,
                until,
                ..Default::default()
            };
            // What the patterns select among every event, newest first: in delivery order,
            // or under a window in (created_at, seq) order.
            let mut want: Vec<&Event> = all
                .iter()
                .filter(|e| {
                    ps.iter()
                        .any(|p| openbsp_domain::events::matches(p, &e.kind))
                })
                .filter(|e| since.is_none_or(|s| e.created_at >= s))
                .filter(|e| until.is_none_or(|u| e.created_at < u))
                .collect();
            if since.is_some() || until.is_some() {
                want.sort_by(|a, b| {
                    (b.created_at, b.cursor.seq).cmp(&(a.created_at, a.cursor.seq))
                });
            }
            let want: Vec<String> = want.iter().map(|e| e.id.clone()).collect();
            for per_page in [1, 3, 7, 1000] {
                let got = every_page(&store, &w.tenant.id, &filter, per_page).await;
                assert_eq!(
                    got, want,
                    "{ps:?} since {since:?} until {until:?} by {per_page}"
                );
            }
        }
    }
    // A cursor that is not the tenant's event: nothing older than it.
    let theirs = store
        .list_events(
            &other.tenant.id,
            &EventFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let filter = |types: Vec<String>| EventFilter {
        types,
        after: Some(theirs[0].id.clone()),
        limit: 10,
        ..Default::default()
    };
    for types in [vec![], vec!["message.*".to_string()]] {
        assert!(
            store
                .list_events(&w.tenant.id, &filter(types))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
