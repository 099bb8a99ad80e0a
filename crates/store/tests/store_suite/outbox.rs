//! The outbox: claiming sends, recording their outcomes, recovering from a crashed sender.

use openbsp_domain::MessageStatus;
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::json;

use crate::fixtures::*;

fn ids(items: &[OutboxItem]) -> Vec<String> {
    items.iter().map(|i| i.message_id.clone()).collect()
}

/// The send policy places each send in its channel's queue: a one-to-one send while the user's
/// window is open is a reply (first), outside it a direct send, and bulk traffic stays last even
/// inside a window.
pub async fn replies_go_first_and_bulk_last(backend: Backend) {
    use openbsp_domain::windows::SendKind;
    use openbsp_store::policy::SendCheck;
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let check = |kind| SendCheck {
        kind,
        session_kind: Some("utility".into()),
        opened_by: "message".into(),
        reach: None,
    };
    let template = check(SendKind::Template { marketing: false });
    assert!(
        store
            .insert_inbound(&inbound(&w.channel, "15550003", "wamid.IN", None, 1_000))
            .await
            .unwrap()
    );
    let send = |to: &str, at: i64, priority: i32, check: &SendCheck| {
        let mut n = outbound(&w.channel, to, at);
        n.priority = priority;
        let (store, check) = (store.clone(), check.clone());
        async move {
            match store.enqueue_checked(n, &check).await.unwrap() {
                Ok(EnqueueOutcome::Created { message, .. }) => message,
                other => panic!("expected Created, got {other:?}"),
            }
        }
    };
    // In order of arrival: bulk, direct (no window), bulk inside the window, a reply.
    let bulk = send("15550002", 2_000, priority::BULK, &template).await;
    let direct = send("15550001", 2_001, priority::DIRECT, &template).await;
    let bulk_in_window = send("15550003", 2_002, priority::BULK, &template).await;
    let reply = send(
        "15550003",
        2_003,
        priority::DIRECT,
        &check(SendKind::FreeForm),
    )
    .await;
    let order = claim(&store, &w.channel.id, 3_000, 10).await;
    assert_eq!(
        ids(&order),
        vec![reply.id, direct.id, bulk.id, bulk_in_window.id]
    );
}

/// A send the pair rate limit holds goes back to the queue, due later, and it is not an attempt;
/// only its claim can defer it.
pub async fn a_deferred_send_waits_without_an_attempt(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let m = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let got = claim(&store, &w.channel.id, 2_000, 10).await;
    assert_eq!(ids(&got), vec![m.id.clone()]);
    // Another term's deferral changes nothing.
    store
        .record_send_results(&[SendResult::Defer {
            message_id: m.id.clone(),
            term: TERM + 1,
            next_at: 3_000,
        }])
        .await
        .unwrap();
    assert!(
        claim(&store, &w.channel.id, 2_500, 10).await.is_empty(),
        "still in flight"
    );
    store
        .record_send_results(&[SendResult::Defer {
            message_id: m.id.clone(),
            term: TERM,
            next_at: 8_000,
        }])
        .await
        .unwrap();
    assert!(claim(&store, &w.channel.id, 7_999, 10).await.is_empty());
    let again = claim(&store, &w.channel.id, 8_000, 10).await;
    assert_eq!(ids(&again), vec![m.id.clone()]);
    assert_eq!(again[0].attempts, 0, "a deferral is not an attempt");
    assert_eq!(
        message(&store, &w.tenant.id, &m.id).await.status,
        MessageStatus::Queued
    );
}

/// A paused channel has no due sends (its sender stops) until it is resumed; each change
/// writes its event once.
pub async fn a_paused_channel_sends_nothing_until_resumed(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    assert_eq!(
        store.channels_with_due_sends(2_000).await.unwrap(),
        vec![w.channel.id.clone()]
    );
    let reason = json!({"code": 190, "message": "Invalid OAuth access token"});
    let paused = openbsp_store::events::channel_pause(&w.channel, Some(&reason), 2_000);
    assert!(
        store
            .set_channel_pause(&w.channel.id, Some((2_000, reason.clone())), &paused)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_channel_pause(&w.channel.id, Some((2_001, reason.clone())), &paused)
            .await
            .unwrap(),
        "already paused"
    );
    let ch = store.get_channel(&w.channel.id).await.unwrap().unwrap();
    assert_eq!((ch.paused_at, ch.pause_reason), (Some(2_000), Some(reason)));
    assert!(
        store
            .channels_with_due_sends(3_000)
            .await
            .unwrap()
            .is_empty()
    );
    let resumed = openbsp_store::events::channel_pause(&w.channel, None, 4_000);
    assert!(
        store
            .set_channel_pause(&w.channel.id, None, &resumed)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_channel_pause(&w.channel.id, None, &resumed)
            .await
            .unwrap()
    );
    assert_eq!(
        store.channels_with_due_sends(4_000).await.unwrap(),
        vec![w.channel.id.clone()]
    );
    let kinds: Vec<String> = crate::events::all_events(&store, &w.tenant.id)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("channel."))
        .collect();
    assert_eq!(kinds, ["channel.paused", "channel.resumed"]);
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
    let first = claim(&store, &w.channel.id, 5_000, 3).await;
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
    let second = claim(&store, &w.channel.id, 5_000, 10).await;
    assert_eq!(ids(&second), vec![campaign_old.id.clone()]);
    assert!(claim(&store, &w.channel.id, 5_000, 10).await.is_empty());
    // Only this channel's.
    assert_eq!(
        store.channels_with_due_sends(5_000).await.unwrap(),
        vec![ch2.id.clone()]
    );
    let later = claim(&store, &w.channel.id, 9_000, 10).await;
    assert_eq!(ids(&later), vec![not_due.id.clone()]);
    let other = claim(&store, &ch2.id, 9_000, 10).await;
    assert_eq!(ids(&other), vec![elsewhere.id.clone()]);
    assert!(claim(&store, "chn_nope", 9_000, 10).await.is_empty());
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
                let batch = claim(&store, &ch, 5_000, 7).await;
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
    assert_eq!(claim(&store, &w.channel.id, 2_000, 10).await.len(), 3);

    let err = json!({"code": 131026, "title": "Message undeliverable"});
    let throttled = json!({"code": 130429, "title": "Rate limit hit"});
    store
        .record_send_results(&[
            SendResult::Accepted {
                message_id: ok.id.clone(),
                term: TERM,
                wamid: "wamid.OK".into(),
                message_status: None,
                at: 2_100,
            },
            SendResult::Failed {
                message_id: bad.id.clone(),
                term: TERM,
                error: err.clone(),
                at: 2_200,
            },
            SendResult::Retry {
                message_id: flaky.id.clone(),
                term: TERM,
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
    assert!(claim(&store, &w.channel.id, 4_999, 10).await.is_empty());
    let again = claim(&store, &w.channel.id, 5_000, 10).await;
    assert_eq!(ids(&again), vec![flaky.id.clone()]);
    assert_eq!(again[0].attempts, 1);
    store
        .record_send_results(&[SendResult::Retry {
            message_id: flaky.id.clone(),
            term: TERM,
            next_at: 6_000,
            error: json!({"code": 1}),
        }])
        .await
        .unwrap();
    assert_eq!(claim(&store, &w.channel.id, 6_000, 10).await[0].attempts, 2);

    // A result for a message that is not there changes nothing and is no error.
    store
        .record_send_results(&[SendResult::Accepted {
            message_id: "msg_nope".into(),
            term: TERM,
            wamid: "wamid.NOPE".into(),
            message_status: None,
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
                term: TERM,
                error: json!({"code": 2}),
                at: 8_100,
            },
            SendResult::Accepted {
                message_id: twin.id.clone(),
                term: TERM,
                wamid: "wamid.OK".into(),
                message_status: None,
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

/// A channel's sender lease: one holder at a time, kept while renewed, a new term for each new
/// holding; a send is in flight under the term that claimed it for as long as that holding is
/// live, however long Meta takes; once it is not, the send is an orphan, put back to wait for
/// a status webhook; and only the claiming term records its outcome.
pub async fn orphaned_sends_are_put_back_and_only_their_claim_records(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch = w.channel.id.as_str();
    let name = sender_lease(ch);
    let a = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let b = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    let c = enqueue(&store, outbound(&w.channel, "15550003", 1_002)).await;

    // Replica A takes the lease (term 1) and claims two sends.
    let held = store
        .acquire_lease(&name, "A", 2_000, 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (held.holder.as_str(), held.term, held.expires_at),
        ("A", 1, 7_000)
    );
    let mine = store.claim_sends(ch, 1, 2_000, 2).await.unwrap();
    assert_eq!(ids(&mine), [a.id.clone(), b.id.clone()]);
    assert!(mine.iter().all(|i| i.term == 1));
    // While A's holding is live its sends are in flight, however long ago they were claimed.
    assert_eq!(
        store
            .requeue_orphaned_sends(None, 6_000, 20_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.acquire_lease(&name, "B", 6_000, 5_000).await.unwrap(),
        None
    );
    // A renews it (same term); B still cannot take it.
    let renewed = store
        .renew_leases("A", &[(name.clone(), 1)], 6_000, 5_000)
        .await
        .unwrap();
    assert_eq!(renewed.len(), 1);
    assert_eq!((renewed[0].term, renewed[0].expires_at), (1, 11_000));
    assert_eq!(
        store
            .acquire_lease(&name, "B", 10_999, 5_000)
            .await
            .unwrap(),
        None
    );
    // A claiming again under its live holding keeps the term.
    let again = store
        .acquire_lease(&name, "A", 10_000, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.term, again.expires_at), (1, 11_000));

    // A stops renewing; once its holding lapses, B takes the lease with the next term, and A's
    // sends are orphans: put back until the retry time.
    let taken = store
        .acquire_lease(&name, "B", 12_000, 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.holder.as_str(), taken.term), ("B", 2));
    assert!(
        store
            .renew_leases("A", &[(name.clone(), 1)], 12_000, 5_000)
            .await
            .unwrap()
            .is_empty(),
        "A learns it lost the lease"
    );
    assert!(
        store
            .claim_sends(ch, 1, 12_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "A's term claims nothing"
    );
    assert_eq!(
        store
            .requeue_orphaned_sends(Some(ch), 12_000, 20_000)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .requeue_orphaned_sends(None, 12_000, 20_000)
            .await
            .unwrap(),
        0,
        "pending rows are not touched"
    );

    // A's late answers: a retry of `a` changes nothing (the send is no longer A's); Meta's
    // acceptance of `b` settles it (it must not go again).
    store
        .record_send_results(&[
            SendResult::Retry {
                message_id: a.id.clone(),
                term: 1,
                next_at: 13_000,
                error: json!({"code": 131000}),
            },
            SendResult::Accepted {
                message_id: b.id.clone(),
                term: 1,
                wamid: "wamid.B".into(),
                message_status: None,
                at: 12_500,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        message(&store, &w.tenant.id, &b.id).await.wamid.as_deref(),
        Some("wamid.B")
    );
    // B claims what is due: `c` now, `a` once its retry time comes (not A's 13 000).
    let now_due = store.claim_sends(ch, 2, 19_999, 10).await.unwrap();
    assert_eq!(ids(&now_due), vec![c.id.clone()]);
    let later = store.claim_sends(ch, 2, 20_000, 10).await.unwrap();
    assert_eq!(ids(&later), vec![a.id.clone()]);
    assert_eq!((later[0].term, later[0].attempts), (2, 0));

    // While B posts `a`, nothing A says of it is recorded; B's own retry is.
    store
        .record_send_results(&[SendResult::Accepted {
            message_id: a.id.clone(),
            term: 1,
            wamid: "wamid.STALE".into(),
            message_status: None,
            at: 20_001,
        }])
        .await
        .unwrap();
    let a_now = message(&store, &w.tenant.id, &a.id).await;
    assert_eq!((a_now.wamid, a_now.status), (None, MessageStatus::Queued));
    store
        .record_send_results(&[SendResult::Retry {
            message_id: a.id.clone(),
            term: 2,
            next_at: 25_000,
            error: json!({"code": 131000}),
        }])
        .await
        .unwrap();
    let back = store.claim_sends(ch, 2, 25_000, 10).await.unwrap();
    assert_eq!(ids(&back), vec![a.id.clone()]);
    assert_eq!(back[0].attempts, 1);

    // Released, the lease is free at once; the next holding is term 3, never an old one.
    store.release_lease(&name, "B", 2, 26_000).await.unwrap();
    assert_eq!(
        store
            .requeue_orphaned_sends(None, 26_000, 26_000)
            .await
            .unwrap(),
        2
    );
    let next = store
        .acquire_lease(&name, "A", 26_000, 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.term, 3);
    // Releasing a holding that is no longer yours does nothing.
    store.release_lease(&name, "B", 2, 26_001).await.unwrap();
    assert_eq!(
        store
            .acquire_lease(&name, "B", 26_001, 5_000)
            .await
            .unwrap(),
        None
    );
}

pub async fn results_in_one_call_apply_in_order(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let a = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let b = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    let c = enqueue(&store, outbound(&w.channel, "15550003", 1_002)).await;
    assert_eq!(claim(&store, &w.channel.id, 2_000, 10).await.len(), 3);
    let err = json!({"code": 131000});
    // A message named twice: a retry then its success; a success then a late failure.
    store
        .record_send_results(&[
            SendResult::Retry {
                message_id: a.id.clone(),
                term: TERM,
                next_at: 3_000,
                error: err.clone(),
            },
            SendResult::Accepted {
                message_id: b.id.clone(),
                term: TERM,
                wamid: "wamid.B".into(),
                message_status: None,
                at: 2_100,
            },
            SendResult::Accepted {
                message_id: a.id.clone(),
                term: TERM,
                wamid: "wamid.A".into(),
                message_status: None,
                at: 2_200,
            },
            SendResult::Failed {
                message_id: b.id.clone(),
                term: TERM,
                error: err.clone(),
                at: 2_300,
            },
            SendResult::Retry {
                message_id: c.id.clone(),
                term: TERM,
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
    let left = claim(&store, &w.channel.id, 4_000, 10).await;
    assert_eq!(ids(&left), vec![c.id.clone()]);
    assert_eq!(left[0].attempts, 1);

    // A batch of distinct messages where some go backwards: history only.
    store
        .record_send_results(&[
            SendResult::Accepted {
                message_id: b.id.clone(),
                term: TERM,
                wamid: "wamid.B".into(),
                message_status: None,
                at: 5_000,
            },
            SendResult::Failed {
                message_id: a.id.clone(),
                term: TERM,
                error: json!({"code": 1}),
                at: 5_000,
            },
            SendResult::Accepted {
                message_id: c.id.clone(),
                term: TERM,
                wamid: "wamid.C".into(),
                message_status: None,
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
    assert_eq!(claim(&store, &w.channel.id, 2_000, 1_000).await.len(), 300);
    let long_error = json!({"code": 131026, "details": "x".repeat(500)});
    let results: Vec<SendResult> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| match i % 3 {
            0 => SendResult::Accepted {
                message_id: m.id.clone(),
                term: TERM,
                wamid: format!("wamid.{i:04}"),
                message_status: None,
                at: 3_000,
            },
            1 => SendResult::Failed {
                message_id: m.id.clone(),
                term: TERM,
                error: long_error.clone(),
                at: 3_000,
            },
            _ => SendResult::Retry {
                message_id: m.id.clone(),
                term: TERM,
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
    let again = claim(&store, &w.channel.id, 4_000, 1_000).await;
    assert_eq!(again.len(), 100);
    assert!(again.iter().all(|i| i.attempts == 1));
}

/// An orphan (a send whose sender died mid-flight) is not posted again while a payload of
/// Meta's that reached the gateway by its due time is still unprocessed: that payload may hold
/// the status that settles it, and a lagging processor must not turn into a second send. It
/// waits a second grace at most (a payload that never processes does not hold it for ever),
/// and once it has been posted again it is an orphan no more.
pub async fn an_orphan_waits_for_the_payloads_received_by_its_due_time(backend: Backend) {
    use openbsp_domain::ids::{new_id_at, prefix};
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch = w.channel.id.as_str();
    let name = sender_lease(ch);
    let inbox = |at: i64| InboxItem {
        id: new_id_at(prefix::INBOX, at),
        app_id: w.app.id.clone(),
        received_at: at,
        // Bodies apart: a copy of one stored is not stored again.
        body: format!("{{\"at\":{at}}}").into_bytes(),
    };
    let a = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let b = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    let c = enqueue(&store, outbound(&w.channel, "15550003", 1_002)).await;

    // A claims `a` and dies; B takes over at 12 000 and puts `a` back, due at 20 000.
    store.acquire_lease(&name, "A", 2_000, 5_000).await.unwrap();
    assert_eq!(
        ids(&store.claim_sends(ch, 1, 2_000, 1).await.unwrap()),
        [a.id.as_str()]
    );
    let b_lease = store
        .acquire_lease(&name, "B", 12_000, 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .requeue_orphaned_sends(Some(ch), 12_000, 20_000)
            .await
            .unwrap(),
        1
    );
    // Meta's status for `a` reached the gateway at 19 000 and is not processed yet: `b` and
    // `c` go, `a` waits.
    let early = inbox(19_000);
    store.insert_inbox(&early).await.unwrap();
    store.insert_inbox(&inbox(21_000)).await.unwrap();
    assert_eq!(
        ids(&store
            .claim_sends(ch, b_lease.term, 20_000, 10)
            .await
            .unwrap()),
        [b.id.as_str(), c.id.as_str()],
        "the orphan waits for the payload received before it was due"
    );
    assert!(
        store
            .claim_sends(ch, b_lease.term, 22_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Processed (it was not `a`'s status after all): `a` goes; a payload received after its
    // due time never held it.
    store
        .mark_inbox_processed(&[(early.id.clone(), vec![])], 22_500)
        .await
        .unwrap();
    let again = store
        .claim_sends(ch, b_lease.term, 22_500, 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), [a.id.as_str()]);
    store
        .record_send_results(&[
            SendResult::Accepted {
                message_id: a.id.clone(),
                term: b_lease.term,
                wamid: "wamid.A".into(),
                message_status: None,
                at: 22_600,
            },
            SendResult::Accepted {
                message_id: b.id.clone(),
                term: b_lease.term,
                wamid: "wamid.B".into(),
                message_status: None,
                at: 22_600,
            },
        ])
        .await
        .unwrap();

    // B stops with `c` in flight; C puts it back at 30 000, due at 38 000, and a payload
    // received at 37 000 never processes: `c` waits one more grace, to 46 000, then goes.
    store
        .release_lease(&name, "B", b_lease.term, 30_000)
        .await
        .unwrap();
    let c_lease = store
        .acquire_lease(&name, "C", 30_000, 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .requeue_orphaned_sends(Some(ch), 30_000, 38_000)
            .await
            .unwrap(),
        1
    );
    store.insert_inbox(&inbox(37_000)).await.unwrap();
    for at in [38_000, 45_999] {
        assert!(
            store
                .claim_sends(ch, c_lease.term, at, 10)
                .await
                .unwrap()
                .is_empty(),
            "held at {at}"
        );
    }
    let late = store
        .claim_sends(ch, c_lease.term, 46_000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&late), [c.id.as_str()], "a second grace at most");
    // Posted again and answered with a retry: an orphan no more, due at its retry time
    // whatever the inbox holds.
    store
        .record_send_results(&[SendResult::Retry {
            message_id: c.id.clone(),
            term: c_lease.term,
            next_at: 47_000,
            error: json!({"code": 131000}),
        }])
        .await
        .unwrap();
    assert_eq!(
        ids(&store
            .claim_sends(ch, c_lease.term, 47_000, 10)
            .await
            .unwrap()),
        [c.id.as_str()]
    );
}
