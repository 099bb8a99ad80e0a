//! The outbox: claiming sends, recording their outcomes, recovering from a crashed sender.

use openbsp_domain::MessageStatus;
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::json;

use crate::fixtures::*;

fn ids(items: &[OutboxItem]) -> Vec<String> {
    items.iter().map(|i| i.message_id.clone()).collect()
}

pub async fn claim_sends_by_priority_due_time_and_limit(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;

    let with = |priority: i32, at: i64, to: &str| {
        let mut n = outbound(&w.channel, to, at);
        n.priority = priority;
        n
    };
    let campaign_old = enqueue(&store, with(20, 1_000, "15550001")).await;
    let reply_new = enqueue(&store, with(0, 3_000, "15550002")).await;
    let reply_old = enqueue(&store, with(0, 2_000, "15550003")).await;
    let transactional = enqueue(&store, with(10, 1_500, "15550004")).await;
    let not_due = enqueue(&store, with(0, 9_000, "15550005")).await;
    let elsewhere = enqueue(&store, outbound(&ch2, "15550006", 1_000)).await;

    assert_eq!(
        store.channels_with_due_sends(500).await.unwrap(),
        Vec::<String>::new()
    );
    let mut due = store.channels_with_due_sends(5_000).await.unwrap();
    due.sort();
    let mut both = vec![w.channel.id.clone(), ch2.id.clone()];
    both.sort();
    assert_eq!(due, both);

    // Priority first, then age; not-yet-due rows wait; the limit holds.
    let first = store.claim_sends(&w.channel.id, 5_000, 3).await.unwrap();
    assert_eq!(
        ids(&first),
        vec![
            reply_old.id.clone(),
            reply_new.id.clone(),
            transactional.id.clone()
        ]
    );
    let item = &first[0];
    assert_eq!(item.tenant_id, w.tenant.id);
    assert_eq!(item.channel_id, w.channel.id);
    assert_eq!(item.attempts, 0);
    assert_eq!(
        item.payload["biz_opaque_callback_data"],
        json!(reply_old.id)
    );
    assert_eq!(item.payload["to"], json!("15550003"));

    // Claimed rows are not claimed again; the rest come next.
    let second = store.claim_sends(&w.channel.id, 5_000, 10).await.unwrap();
    assert_eq!(ids(&second), vec![campaign_old.id.clone()]);
    assert!(
        store
            .claim_sends(&w.channel.id, 5_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Only this channel's.
    assert_eq!(
        store.channels_with_due_sends(5_000).await.unwrap(),
        vec![ch2.id.clone()]
    );
    let later = store.claim_sends(&w.channel.id, 9_000, 10).await.unwrap();
    assert_eq!(ids(&later), vec![not_due.id.clone()]);
    let other = store.claim_sends(&ch2.id, 9_000, 10).await.unwrap();
    assert_eq!(ids(&other), vec![elsewhere.id.clone()]);
    assert!(
        store
            .claim_sends("chn_nope", 9_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // In flight still counts as waiting.
    assert_eq!(store.outbox_depth().await.unwrap(), 6);
    assert!(
        store
            .channels_with_due_sends(99_000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_claims_never_share_a_row(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    for i in 0..60i64 {
        enqueue(
            &store,
            outbound(&w.channel, &format!("1555{i:04}"), 1_000 + i),
        )
        .await;
    }
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        let ch = w.channel.id.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store.claim_sends(&ch, 5_000, 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|i| i.message_id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (60, 60));
}

pub async fn record_send_results(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ok = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let bad = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    let flaky = enqueue(&store, outbound(&w.channel, "15550003", 1_002)).await;
    assert_eq!(
        store
            .claim_sends(&w.channel.id, 2_000, 10)
            .await
            .unwrap()
            .len(),
        3
    );

    let err = json!({"code": 131026, "title": "Message undeliverable"});
    let throttled = json!({"code": 130429, "title": "Rate limit hit"});
    store
        .record_send_results(&[
            SendResult::Accepted {
                message_id: ok.id.clone(),
                wamid: "wamid.OK".into(),
                at: 2_100,
            },
            SendResult::Failed {
                message_id: bad.id.clone(),
                error: err.clone(),
                at: 2_200,
            },
            SendResult::Retry {
                message_id: flaky.id.clone(),
                next_at: 5_000,
                error: throttled,
            },
        ])
        .await
        .unwrap();

    let ok_now = message(&store, &w.tenant.id, &ok.id).await;
    assert_eq!(ok_now.status, MessageStatus::Accepted);
    assert_eq!(ok_now.wamid.as_deref(), Some("wamid.OK"));
    assert_eq!(ok_now.updated_at, 2_100);
    assert_eq!(ok_now.error, None);
    assert_eq!(
        store.message_history(&ok.id).await.unwrap(),
        vec![
            StatusEntry {
                status: MessageStatus::Queued,
                at: 1_000,
                error: None
            },
            StatusEntry {
                status: MessageStatus::Accepted,
                at: 2_100,
                error: None
            },
        ]
    );

    let bad_now = message(&store, &w.tenant.id, &bad.id).await;
    assert_eq!(bad_now.status, MessageStatus::Failed);
    assert_eq!(bad_now.error, Some(err.clone()));
    assert_eq!(bad_now.wamid, None);
    let bad_history = store.message_history(&bad.id).await.unwrap();
    assert_eq!(bad_history.last().unwrap().error, Some(err));
    assert_eq!(
        history(&store, &bad.id).await,
        vec![MessageStatus::Queued, MessageStatus::Failed]
    );

    // Retried: still queued, waits until its time, one attempt more.
    let flaky_now = message(&store, &w.tenant.id, &flaky.id).await;
    assert_eq!(flaky_now.status, MessageStatus::Queued);
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        1,
        "accepted and failed left the outbox"
    );
    assert!(
        store
            .claim_sends(&w.channel.id, 4_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_sends(&w.channel.id, 5_000, 10).await.unwrap();
    assert_eq!(ids(&again), vec![flaky.id.clone()]);
    assert_eq!(again[0].attempts, 1);
    store
        .record_send_results(&[SendResult::Retry {
            message_id: flaky.id.clone(),
            next_at: 6_000,
            error: json!({"code": 1}),
        }])
        .await
        .unwrap();
    assert_eq!(
        store.claim_sends(&w.channel.id, 6_000, 10).await.unwrap()[0].attempts,
        2
    );

    // A result for a message that is not there changes nothing and is no error.
    store
        .record_send_results(&[SendResult::Accepted {
            message_id: "msg_nope".into(),
            wamid: "wamid.NOPE".into(),
            at: 7_000,
        }])
        .await
        .unwrap();
    store.record_send_results(&[]).await.unwrap();
    assert_eq!(
        store.get_message(&w.tenant.id, "wamid.NOPE").await.unwrap(),
        None
    );

    // The same wamid for two messages breaks uniqueness: the whole call is refused.
    let twin = enqueue(&store, outbound(&w.channel, "15550004", 8_000)).await;
    let res = store
        .record_send_results(&[
            SendResult::Failed {
                message_id: flaky.id.clone(),
                error: json!({"code": 2}),
                at: 8_100,
            },
            SendResult::Accepted {
                message_id: twin.id.clone(),
                wamid: "wamid.OK".into(),
                at: 8_100,
            },
        ])
        .await;
    assert!(matches!(res, Err(StoreError::Conflict(_))), "{res:?}");
    assert_eq!(
        message(&store, &w.tenant.id, &flaky.id).await.status,
        MessageStatus::Queued
    );
    assert_eq!(message(&store, &w.tenant.id, &twin.id).await.wamid, None);
    assert_eq!(store.outbox_depth().await.unwrap(), 2);
}

pub async fn requeue_stale_sends(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let a = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let b = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    assert_eq!(
        store
            .claim_sends(&w.channel.id, 2_000, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .claim_sends(&w.channel.id, 3_000, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // Only sends claimed before the cut-off are stale.
    assert_eq!(store.requeue_stale_sends(2_000, 10_000).await.unwrap(), 0);
    assert_eq!(store.requeue_stale_sends(2_500, 10_000).await.unwrap(), 1);
    // They wait for the retry time (a status webhook may reconcile them meanwhile).
    assert!(
        store
            .claim_sends(&w.channel.id, 9_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let back = store.claim_sends(&w.channel.id, 10_000, 10).await.unwrap();
    assert_eq!(ids(&back), vec![a.id.clone()]);
    assert_eq!(back[0].attempts, 0);
    assert_eq!(store.requeue_stale_sends(20_000, 30_000).await.unwrap(), 2);
    let both = store.claim_sends(&w.channel.id, 30_000, 10).await.unwrap();
    assert_eq!(ids(&both), vec![a.id.clone(), b.id.clone()]);
    // Pending rows are not touched.
    assert_eq!(store.requeue_stale_sends(10, 30_000).await.unwrap(), 0);
}

pub async fn results_in_one_call_apply_in_order(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let a = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let b = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    let c = enqueue(&store, outbound(&w.channel, "15550003", 1_002)).await;
    assert_eq!(
        store
            .claim_sends(&w.channel.id, 2_000, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    let err = json!({"code": 131000});
    // A message named twice: a retry then its success; a success then a late failure.
    store
        .record_send_results(&[
            SendResult::Retry {
                message_id: a.id.clone(),
                next_at: 3_000,
                error: err.clone(),
            },
            SendResult::Accepted {
                message_id: b.id.clone(),
                wamid: "wamid.B".into(),
                at: 2_100,
            },
            SendResult::Accepted {
                message_id: a.id.clone(),
                wamid: "wamid.A".into(),
                at: 2_200,
            },
            SendResult::Failed {
                message_id: b.id.clone(),
                error: err.clone(),
                at: 2_300,
            },
            SendResult::Retry {
                message_id: c.id.clone(),
                next_at: 4_000,
                error: err.clone(),
            },
        ])
        .await
        .unwrap();
    let a_now = message(&store, &w.tenant.id, &a.id).await;
    assert_eq!(
        (a_now.status, a_now.wamid.as_deref()),
        (MessageStatus::Accepted, Some("wamid.A"))
    );
    let b_now = message(&store, &w.tenant.id, &b.id).await;
    assert_eq!(
        (b_now.status, b_now.wamid.as_deref()),
        (MessageStatus::Failed, Some("wamid.B"))
    );
    assert_eq!(b_now.error, Some(err));
    assert_eq!(b_now.updated_at, 2_300);
    assert_eq!(
        history(&store, &b.id).await,
        vec![
            MessageStatus::Queued,
            MessageStatus::Accepted,
            MessageStatus::Failed
        ]
    );
    // Only c is left, retried once.
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    let left = store.claim_sends(&w.channel.id, 4_000, 10).await.unwrap();
    assert_eq!(ids(&left), vec![c.id.clone()]);
    assert_eq!(left[0].attempts, 1);

    // A batch of distinct messages where some go backwards: history only.
    store
        .record_send_results(&[
            SendResult::Accepted {
                message_id: b.id.clone(),
                wamid: "wamid.B".into(),
                at: 5_000,
            },
            SendResult::Failed {
                message_id: a.id.clone(),
                error: json!({"code": 1}),
                at: 5_000,
            },
            SendResult::Accepted {
                message_id: c.id.clone(),
                wamid: "wamid.C".into(),
                at: 5_000,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        message(&store, &w.tenant.id, &b.id).await,
        b_now,
        "failed is final"
    );
    let a_failed = message(&store, &w.tenant.id, &a.id).await;
    assert_eq!(
        (a_failed.status, a_failed.updated_at),
        (MessageStatus::Failed, 5_000)
    );
    assert_eq!(a_failed.error, Some(json!({"code": 1})));
    assert_eq!(
        message(&store, &w.tenant.id, &c.id).await.status,
        MessageStatus::Accepted
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
}

pub async fn many_results_at_once(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut msgs = Vec::new();
    for i in 0..300i64 {
        msgs.push(
            enqueue(
                &store,
                outbound(&w.channel, &format!("1555{i:04}"), 1_000 + i),
            )
            .await,
        );
    }
    assert_eq!(
        store
            .claim_sends(&w.channel.id, 2_000, 1_000)
            .await
            .unwrap()
            .len(),
        300
    );
    let long_error = json!({"code": 131026, "details": "x".repeat(500)});
    let results: Vec<SendResult> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| match i % 3 {
            0 => SendResult::Accepted {
                message_id: m.id.clone(),
                wamid: format!("wamid.{i:04}"),
                at: 3_000,
            },
            1 => SendResult::Failed {
                message_id: m.id.clone(),
                error: long_error.clone(),
                at: 3_000,
            },
            _ => SendResult::Retry {
                message_id: m.id.clone(),
                next_at: 4_000,
                error: long_error.clone(),
            },
        })
        .collect();
    store.record_send_results(&results).await.unwrap();
    for (i, m) in msgs.iter().enumerate() {
        let now = message(&store, &w.tenant.id, &m.id).await;
        match i % 3 {
            0 => assert_eq!(now.wamid, Some(format!("wamid.{i:04}"))),
            1 => assert_eq!(now.error.as_ref(), Some(&long_error)),
            _ => assert_eq!(now.status, MessageStatus::Queued),
        }
    }
    let counts = store.count_messages_by_status().await.unwrap();
    assert_eq!(
        counts,
        vec![
            ("accepted".to_string(), 100),
            ("failed".to_string(), 100),
            ("queued".to_string(), 100)
        ]
    );
    let again = store
        .claim_sends(&w.channel.id, 4_000, 1_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 100);
    assert!(again.iter().all(|i| i.attempts == 1));
}
