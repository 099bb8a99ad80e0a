//! Enqueueing outbound messages: contacts, idempotency, concurrency, reading them back.

use std::collections::{HashMap, HashSet};

use openbsp_domain::MessageStatus;
use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::fixtures::*;

pub async fn enqueue_creates_message_history_outbox_contact(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    let new = outbound(&w.channel, "15550001", 10_000);
    let m = enqueue(&store, new.clone()).await;
    assert_eq!(m.id, new.message.id);
    let contact_id = m.contact_id.clone().expect("contact filled in");
    let stored = message(&store, &w.tenant.id, &m.id).await;
    assert_eq!(stored, m, "what is stored is what was answered");
    assert_eq!(stored.status, MessageStatus::Queued);
    assert_eq!(stored.content, new.message.content);
    assert_eq!(
        store.message_history(&m.id).await.unwrap(),
        vec![StatusEntry {
            status: MessageStatus::Queued,
            at: 10_000,
            error: None
        }]
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 1);

    let contact = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .expect("contact");
    assert_eq!(contact.wa_id.as_deref(), Some("15550001"));
    assert_eq!(contact.user_id, None);
    assert_eq!(contact.profile_name, None);
    assert_eq!((contact.created_at, contact.updated_at), (10_000, 10_000));
    assert_eq!(contact.tenant_id, w.tenant.id);

    // The same person again: the same contact, untouched.
    let again = enqueue(&store, outbound(&w.channel, "15550001", 11_000)).await;
    assert_eq!(again.contact_id.as_deref(), Some(contact_id.as_str()));
    let contact2 = store.get_contact(&w.tenant.id, &contact_id).await.unwrap();
    assert_eq!(contact2, Some(contact.clone()));
    // Someone else: another contact.
    let third = enqueue(&store, outbound(&w.channel, "15550002", 12_000)).await;
    assert_ne!(third.contact_id.as_deref(), Some(contact_id.as_str()));

    // The same number for another tenant: a contact of that tenant, invisible to the first.
    let theirs = enqueue(&store, outbound(&other.channel, "15550001", 13_000)).await;
    let their_contact = theirs.contact_id.clone().unwrap();
    assert_ne!(their_contact, contact_id);
    assert_eq!(
        store
            .get_contact(&w.tenant.id, &their_contact)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .get_contact(&other.tenant.id, &their_contact)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .get_contact(&other.tenant.id, &contact_id)
            .await
            .unwrap(),
        None
    );

    // A BSUID recipient gets a contact keyed by user id.
    let mut by_user = outbound(&w.channel, "US.abc123", 14_000);
    by_user.contact = ContactKey::UserId("US.abc123".into());
    let bu = enqueue(&store, by_user).await;
    let c = store
        .get_contact(&w.tenant.id, bu.contact_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.wa_id, c.user_id.as_deref()), (None, Some("US.abc123")));

    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 4);
    assert_eq!(store.count_messages(&other.tenant.id).await.unwrap(), 1);
    assert_eq!(store.outbox_depth().await.unwrap(), 5);

    // The same message id twice is a conflict, and stores nothing.
    let dup = outbound(&w.channel, "15550009", 15_000);
    enqueue(&store, dup.clone()).await;
    assert!(matches!(
        store.enqueue_outbound(dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 5);
    assert_eq!(store.outbox_depth().await.unwrap(), 6);
}

pub async fn idempotency_keys(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    let first = enqueue(&store, keyed(&w.channel, "15550001", 10_000, "k1", "h1")).await;
    // A retry of the same request: the first message, nothing new stored.
    match store
        .enqueue_outbound(keyed(&w.channel, "15550001", 11_000, "k1", "h1"))
        .await
        .unwrap()
    {
        EnqueueOutcome::Existing(m) => assert_eq!(m, first),
        other => panic!("expected Existing, got {other:?}"),
    }
    // The key reused for a different request (even to someone else): refused, with the first.
    match store
        .enqueue_outbound(keyed(&w.channel, "15550002", 12_000, "k1", "h2"))
        .await
        .unwrap()
    {
        EnqueueOutcome::KeyReused(m) => assert_eq!(m.id, first.id),
        other => panic!("expected KeyReused, got {other:?}"),
    }
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 1);
    assert_eq!(store.outbox_depth().await.unwrap(), 1);

    // Keys belong to a tenant: the same key elsewhere is a new message.
    let theirs = enqueue(
        &store,
        keyed(&other.channel, "15550001", 13_000, "k1", "h2"),
    )
    .await;
    assert_ne!(theirs.id, first.id);
    // Another key, same request body: a new message.
    enqueue(&store, keyed(&w.channel, "15550001", 14_000, "k2", "h1")).await;
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 2);
    assert_eq!(store.count_messages(&other.tenant.id).await.unwrap(), 1);
    // The key still finds the first message after it moved on.
    accept(&store, &first, "wamid.K1", 15_000).await;
    match store
        .enqueue_outbound(keyed(&w.channel, "15550001", 16_000, "k1", "h1"))
        .await
        .unwrap()
    {
        EnqueueOutcome::Existing(m) => {
            assert_eq!(m.id, first.id);
            assert_eq!(m.status, MessageStatus::Accepted);
            assert_eq!(m.wamid.as_deref(), Some("wamid.K1"));
        }
        other => panic!("expected Existing, got {other:?}"),
    }
}

pub async fn concurrent_enqueues_land_once(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for i in 0..200i64 {
        let new = outbound(&w.channel, &format!("1555{:04}", i % 10), 10_000 + i);
        ids.push(new.message.id.clone());
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.enqueue_outbound(new).await },
        ));
    }
    let mut contacts: HashMap<String, HashSet<String>> = HashMap::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            EnqueueOutcome::Created { message: m, .. } => {
                contacts
                    .entry(m.recipient.clone())
                    .or_default()
                    .insert(m.contact_id.unwrap());
            }
            other => panic!("expected Created, got {other:?}"),
        }
    }
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 200);
    assert_eq!(store.outbox_depth().await.unwrap(), 200);
    for id in &ids {
        let m = message(&store, &w.tenant.id, id).await;
        assert_eq!(history(&store, &m.id).await, vec![MessageStatus::Queued]);
    }
    // Ten recipients, one contact each, however the requests were batched.
    assert_eq!(contacts.len(), 10);
    let all: HashSet<&String> = contacts.values().flatten().collect();
    assert!(contacts.values().all(|c| c.len() == 1), "{contacts:?}");
    assert_eq!(all.len(), 10);
    let claimed = claim(&store, &w.channel.id, 20_000, 1_000).await;
    assert_eq!(claimed.len(), 200);
}

pub async fn concurrent_enqueues_with_one_key(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut tasks = Vec::new();
    for i in 0..60i64 {
        // Two request bodies competing for the same key.
        let hash = if i % 2 == 0 { "even" } else { "odd" };
        let new = keyed(&w.channel, "15550001", 10_000 + i, "the-key", hash);
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (hash, store.enqueue_outbound(new).await)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        let (hash, out) = t.await.unwrap();
        outcomes.push((hash, out.unwrap()));
    }
    let created: Vec<&(&str, EnqueueOutcome)> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, EnqueueOutcome::Created { .. }))
        .collect();
    assert_eq!(created.len(), 1, "exactly one request creates the message");
    let (
        winner_hash,
        EnqueueOutcome::Created {
            message: winner, ..
        },
    ) = created[0]
    else {
        unreachable!()
    };
    for (hash, out) in &outcomes {
        match out {
            EnqueueOutcome::Created { message: m, .. } => assert_eq!(m.id, winner.id),
            EnqueueOutcome::Existing(m) => {
                assert_eq!(hash, winner_hash);
                assert_eq!(m, winner);
            }
            EnqueueOutcome::KeyReused(m) => {
                assert_ne!(hash, winner_hash);
                assert_eq!(m.id, winner.id);
            }
        }
    }
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 1);
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    assert_eq!(message(&store, &w.tenant.id, &winner.id).await, *winner);
}

pub async fn a_bad_request_does_not_fail_its_neighbours(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let taken = enqueue(&store, outbound(&w.channel, "15550001", 9_000)).await;
    let mut tasks = Vec::new();
    for i in 0..100i64 {
        let mut new = outbound(&w.channel, &format!("1555{:04}", i % 7), 10_000 + i);
        if i == 50 {
            new.message.id = taken.id.clone(); // a duplicate id: this one must fail alone
        }
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (i, store.enqueue_outbound(new).await)
        }));
    }
    for t in tasks {
        let (i, out) = t.await.unwrap();
        if i == 50 {
            assert!(matches!(out, Err(StoreError::Conflict(_))), "{out:?}");
        } else {
            assert!(
                matches!(out, Ok(EnqueueOutcome::Created { .. })),
                "{i}: {out:?}"
            );
        }
    }
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 100);
    assert_eq!(store.outbox_depth().await.unwrap(), 100);
    assert_eq!(message(&store, &w.tenant.id, &taken.id).await, taken);
}

pub async fn get_message_by_id_and_wamid_within_tenant(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let m = enqueue(&store, outbound(&w.channel, "15550001", 10_000)).await;
    accept(&store, &m, "wamid.ABC", 11_000).await;

    let by_id = message(&store, &w.tenant.id, &m.id).await;
    let by_wamid = message(&store, &w.tenant.id, "wamid.ABC").await;
    assert_eq!(by_id, by_wamid);
    assert_eq!(by_id.wamid.as_deref(), Some("wamid.ABC"));
    assert_eq!(by_id.status, MessageStatus::Accepted);

    // Another tenant sees neither.
    assert_eq!(
        store.get_message(&other.tenant.id, &m.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_message(&other.tenant.id, "wamid.ABC")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_message(&w.tenant.id, "msg_nope").await.unwrap(),
        None
    );
    assert_eq!(
        store.get_message(&w.tenant.id, "wamid.nope").await.unwrap(),
        None
    );
    assert!(store.message_history("msg_nope").await.unwrap().is_empty());
}

pub async fn list_messages_filters_and_pages(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;
    let other = world(&store, "Globex").await;

    let mut all = Vec::new();
    for i in 0..12i64 {
        let ch = if i % 3 == 0 { &ch2 } else { &w.channel };
        let to = if i % 2 == 0 { "15550001" } else { "15550002" };
        all.push(enqueue(&store, outbound(ch, to, 10_000 + i * 10)).await);
    }
    let inbound_msg = inbound(&w.channel, "15550003", "wamid.IN1", Some("Bo"), 10_500);
    assert!(store.insert_inbound(&inbound_msg).await.unwrap());
    enqueue(&store, outbound(&other.channel, "15550001", 10_050)).await;
    // Two of ours failed.
    for m in [&all[4], &all[7]] {
        store
            .record_send_results(&[SendResult::Failed {
                message_id: m.id.clone(),
                term: TERM,
                error: serde_json::json!({"code": 131026}),
                at: 20_000,
            }])
            .await
            .unwrap();
    }

    let page = |limit, after: Option<&str>| Page {
        limit,
        after: after.map(str::to_string),
    };
    let ids = |ms: Vec<Message>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let list = |f: MessageFilter| {
        let store = store.clone();
        let tenant = w.tenant.id.clone();
        async move {
            ids(store
                .list_messages(&tenant, &f, &page(100, None))
                .await
                .unwrap())
        }
    };

    // Everything of the tenant, newest first; nothing of the other tenant.
    let mut expected: Vec<String> = all.iter().map(|m| m.id.clone()).collect();
    expected.push(inbound_msg.message.id.clone());
    expected.reverse();
    let everything = list(MessageFilter::default()).await;
    assert_eq!(everything, expected);

    let want = |pred: &dyn Fn(usize, &Message) -> bool| {
        let mut v: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(i, m)| pred(*i, m))
            .map(|(_, m)| m.id.clone())
            .collect();
        v.reverse();
        v
    };
    assert_eq!(
        list(MessageFilter {
            channel_id: Some(ch2.id.clone()),
            ..Default::default()
        })
        .await,
        want(&|i, _| i % 3 == 0)
    );
    assert_eq!(
        list(MessageFilter {
            status: Some(MessageStatus::Failed),
            ..Default::default()
        })
        .await,
        want(&|i, _| i == 4 || i == 7)
    );
    assert_eq!(
        list(MessageFilter {
            direction: Some(Direction::Inbound),
            ..Default::default()
        })
        .await,
        vec![inbound_msg.message.id.clone()]
    );
    assert_eq!(
        list(MessageFilter {
            direction: Some(Direction::Outbound),
            recipient: Some("15550002".into()),
            ..Default::default()
        })
        .await,
        want(&|i, _| i % 2 == 1)
    );
    assert_eq!(
        list(MessageFilter {
            created_from: Some(10_030),
            created_to: Some(10_080),
            ..Default::default()
        })
        .await,
        want(&|i, _| (3..8).contains(&i))
    );
    assert_eq!(
        list(MessageFilter {
            channel_id: Some(w.channel.id.clone()),
            status: Some(MessageStatus::Queued),
            recipient: Some("15550001".into()),
            created_from: Some(10_040),
            ..Default::default()
        })
        .await,
        want(&|i, _| i % 3 != 0 && i % 2 == 0 && i != 4 && i >= 4)
    );
    assert!(
        list(MessageFilter {
            channel_id: Some(other.channel.id.clone()),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // Pages of five, following the cursor, give everything once, in order.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let got = ids(store
            .list_messages(
                &w.tenant.id,
                &MessageFilter::default(),
                &page(5, after.as_deref()),
            )
            .await
            .unwrap());
        assert!(got.len() <= 5);
        if got.is_empty() {
            break;
        }
        after = got.last().cloned();
        paged.extend(got);
    }
    assert_eq!(paged, everything);
    // A filtered page.
    let first_failed = ids(store
        .list_messages(
            &w.tenant.id,
            &MessageFilter {
                status: Some(MessageStatus::Failed),
                ..Default::default()
            },
            &page(1, None),
        )
        .await
        .unwrap());
    assert_eq!(first_failed, vec![all[7].id.clone()]);
    let next_failed = ids(store
        .list_messages(
            &w.tenant.id,
            &MessageFilter {
                status: Some(MessageStatus::Failed),
                ..Default::default()
            },
            &page(1, Some(&all[7].id)),
        )
        .await
        .unwrap());
    assert_eq!(next_failed, vec![all[4].id.clone()]);
}
