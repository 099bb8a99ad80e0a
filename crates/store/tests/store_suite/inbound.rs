//! Meta's webhooks: the inbox, inbound messages and their contacts; the metrics counts.

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{first_id_at, new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::{Backend, TestDb};
use serde_json::json;

use crate::fixtures::*;

fn inbox_item(app_id: &str, at: i64, body: &[u8]) -> InboxItem {
    InboxItem {
        id: new_id_at(prefix::INBOX, at),
        app_id: app_id.to_string(),
        received_at: at,
        body: body.to_vec(),
    }
}

pub async fn inbox_insert_list_and_mark(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    assert!(store.unprocessed_inbox(10).await.unwrap().is_empty());

    let a = inbox_item(
        &w.app.id,
        1_000,
        br#"{"object":"whatsapp_business_account","entry":[]}"#,
    );
    let b = inbox_item(&w.app.id, 2_000, &[0, 159, 146, 150, 255]); // any bytes round-trip
    let c = inbox_item(&w.app.id, 3_000, b"{}");
    for item in [&c, &a, &b] {
        store.insert_inbox(item).await.unwrap();
    }
    assert_eq!(
        store.unprocessed_inbox(10).await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()],
        "oldest first"
    );
    assert_eq!(
        store.unprocessed_inbox(2).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    store
        .mark_inbox_processed(&[(a.id.clone(), vec![]), (b.id.clone(), vec![])], 4_000)
        .await
        .unwrap();
    assert_eq!(store.unprocessed_inbox(10).await.unwrap(), vec![c.clone()]);
    store.mark_inbox_processed(&[], 4_000).await.unwrap();
    store
        .mark_inbox_processed(&[("whk_nope".into(), vec![])], 4_000)
        .await
        .unwrap();
    // The same payload id twice, with other bytes, is a conflict.
    let same_id = InboxItem {
        body: b"{\"other\":true}".to_vec(),
        ..c.clone()
    };
    assert!(matches!(
        store.insert_inbox(&same_id).await,
        Err(StoreError::Conflict(_))
    ));

    // Many at once (batched together): all stored, a conflict among them fails alone.
    let mut tasks = Vec::new();
    let mut items = Vec::new();
    for i in 0..80i64 {
        let item = if i == 40 {
            InboxItem {
                body: b"{\"n\":\"again\"}".to_vec(),
                ..a.clone()
            }
        } else {
            inbox_item(&w.app.id, 10_000 + i, format!("{{\"n\":{i}}}").as_bytes())
        };
        items.push(item.clone());
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.insert_inbox(&item).await }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t.await.unwrap();
        if i == 40 {
            assert!(matches!(out, Err(StoreError::Conflict(_))), "{out:?}");
        } else {
            assert!(out.unwrap(), "stored");
        }
    }
    let pending = store.unprocessed_inbox(1_000).await.unwrap();
    assert_eq!(pending.len(), 80);
    assert_eq!(pending[0], c);
    let mut expected: Vec<InboxItem> = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 40)
        .map(|(_, item)| item)
        .collect();
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(pending[1..], expected[..]);
}

/// Meta's payloads and the rows they take: (payloads, bodies apart from their rows), read in
/// the database itself (PostgreSQL keeps the body in the row).
async fn inbox_rows(db: &TestDb) -> (i64, i64) {
    match db.backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(db.path().join("openbsp.db")).unwrap();
            let count = |table: &str| {
                c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .unwrap()
            };
            (count("webhook_inbox"), count("webhook_inbox_bodies"))
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox")
                .fetch_one(&mut c)
                .await
                .unwrap();
            (rows, rows)
        }
    }
}

/// A payload received at `at` whose id was made then, as the receiver makes it (ids made by
/// `new_id_at` in this process carry the latest time any test asked for).
fn inbox_item_made_at(app_id: &str, at: i64, body: &[u8]) -> InboxItem {
    InboxItem {
        id: first_id_at(prefix::INBOX, at),
        ..inbox_item(app_id, at, body)
    }
}

/// The same bytes for the same app are stored once (Meta's retry, a replay): the copy is not
/// an error, and not stored, whether the first is pending or processed, however many come at
/// once; the same bytes for another app are that app's.
pub async fn inbox_copies_are_stored_once_per_app(backend: Backend) {
    let (db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{}}]}]}"#;
    let first = inbox_item(&w.app.id, 1_000, body);
    assert!(store.insert_inbox(&first).await.unwrap());
    assert!(
        !store
            .insert_inbox(&inbox_item(&w.app.id, 2_000, body))
            .await
            .unwrap()
    );
    assert_eq!(
        store.unprocessed_inbox(10).await.unwrap(),
        vec![first.clone()]
    );
    let theirs = inbox_item(&other.app.id, 2_500, body);
    assert!(store.insert_inbox(&theirs).await.unwrap());
    assert_eq!(inbox_rows(&db).await, (2, 2));

    // Processed, it is still known.
    store
        .mark_inbox_processed(&[(first.id.clone(), vec![])], 3_000)
        .await
        .unwrap();
    assert!(
        !store
            .insert_inbox(&inbox_item(&w.app.id, 4_000, body))
            .await
            .unwrap()
    );
    assert_eq!(store.unprocessed_inbox(10).await.unwrap(), vec![theirs]);

    // Twenty copies at once (batched together on PostgreSQL): one stored.
    let again = br#"{"object":"whatsapp_business_account","entry":[{"id":"2","changes":[{"field":"messages","value":{}}]}]}"#;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, item) = (store.clone(), inbox_item(&w.app.id, 5_000 + i, again));
            tokio::spawn(async move { store.insert_inbox(&item).await.unwrap() })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        stored += usize::from(t.await.unwrap());
    }
    assert_eq!(stored, 1);
    assert_eq!(inbox_rows(&db).await, (3, 3));
    // Account and template changes are stored every time: two distinct ones can be the same
    // bytes (a template approved twice within a second).
    let template = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","time":1,"changes":[{"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}"#;
    assert!(
        store
            .insert_inbox(&inbox_item(&other.app.id, 50_000, template))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_inbox(&inbox_item(&other.app.id, 60_000, template))
            .await
            .unwrap()
    );
}

/// Processed payloads older than the retention go, with their bodies, in batches of the size
/// asked; a pending one of the same age stays, and so does a processed one younger than it.
/// Forgotten, a payload's bytes may be stored again.
pub async fn processed_inbox_payloads_are_pruned(backend: Backend) {
    let (db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let day = 86_400_000;
    let now = 1_750_000_000_000;
    let before = now - 30 * day;
    let item = |at: i64, n: i64| {
        inbox_item_made_at(&w.app.id, at, format!("{{\"entry\":[{{\"id\":\"{n}\",\"changes\":[{{\"field\":\"messages\",\"value\":{{}}}}]}}]}}").as_bytes())
    };
    let old: Vec<InboxItem> = (0..5).map(|n| item(now - 31 * day + n, n)).collect();
    let pending = item(now - 31 * day + 10, 10);
    let fresh = item(now - day, 11);
    for i in old.iter().chain([&pending, &fresh]) {
        assert!(store.insert_inbox(i).await.unwrap());
    }
    let done: Vec<(String, Vec<NewEvent>)> = old
        .iter()
        .chain([&fresh])
        .map(|i| (i.id.clone(), vec![]))
        .collect();
    store.mark_inbox_processed(&done, now - day).await.unwrap();
    assert_eq!(inbox_rows(&db).await, (7, 7));

    assert_eq!(store.prune_inbox(before, 2).await.unwrap(), 2);
    assert_eq!(store.prune_inbox(before, 2).await.unwrap(), 2);
    assert_eq!(store.prune_inbox(before, 2).await.unwrap(), 1);
    assert_eq!(store.prune_inbox(before, 2).await.unwrap(), 0);
    assert_eq!(
        inbox_rows(&db).await,
        (2, 2),
        "the bodies went with their rows"
    );
    assert_eq!(
        store.unprocessed_inbox(10).await.unwrap(),
        vec![pending.clone()]
    );

    // The pruned payload's bytes are new again; the fresh one's are still known.
    let resent = inbox_item_made_at(&w.app.id, now, &old[0].body);
    assert!(store.insert_inbox(&resent).await.unwrap());
    let copy = inbox_item_made_at(&w.app.id, now + 1, &fresh.body);
    assert!(!store.insert_inbox(&copy).await.unwrap());
    assert_eq!(inbox_rows(&db).await, (3, 3));

    // Processed at last, the old pending payload goes at the next pass.
    store
        .mark_inbox_processed(&[(pending.id.clone(), vec![])], now)
        .await
        .unwrap();
    assert_eq!(store.prune_inbox(before, 100).await.unwrap(), 1);
    assert_eq!(
        store.unprocessed_inbox(10).await.unwrap(),
        vec![resent.clone()]
    );
}

pub async fn inbound_messages_dedupe_and_name_contacts(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    let first = inbound(&w.channel, "15550001", "wamid.IN1", Some("Ana"), 1_000);
    assert!(store.insert_inbound(&first).await.unwrap());
    let m = message(&store, &w.tenant.id, "wamid.IN1").await;
    assert_eq!(m.id, first.message.id);
    assert_eq!(m.direction, Direction::Inbound);
    assert_eq!(m.status, MessageStatus::Received);
    assert_eq!(m.content, first.message.content);
    assert_eq!(history(&store, &m.id).await, vec![MessageStatus::Received]);
    let contact_id = m.contact_id.clone().expect("contact");
    let c = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.wa_id.as_deref(), Some("15550001"));
    assert_eq!(c.profile_name.as_deref(), Some("Ana"));
    assert_eq!((c.created_at, c.updated_at), (1_000, 1_000));

    // Meta delivering the same message again: stored once, even under a new gateway id.
    assert!(!store.insert_inbound(&first).await.unwrap());
    let mut redelivered = inbound(&w.channel, "15550001", "wamid.IN1", Some("Other"), 1_500);
    redelivered.message.id = new_id_at(prefix::MESSAGE, 1_500);
    assert!(!store.insert_inbound(&redelivered).await.unwrap());
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 1);
    let c = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.profile_name.as_deref(),
        Some("Ana"),
        "a duplicate changes nothing"
    );

    // The next message renames the contact; same contact.
    let second = inbound(&w.channel, "15550001", "wamid.IN2", Some("Ana B."), 2_000);
    assert!(store.insert_inbound(&second).await.unwrap());
    let m2 = message(&store, &w.tenant.id, "wamid.IN2").await;
    assert_eq!(m2.contact_id.as_deref(), Some(contact_id.as_str()));
    let c = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.profile_name.as_deref(), Some("Ana B."));
    assert_eq!((c.created_at, c.updated_at), (1_000, 2_000));
    // Without a profile the name stays.
    let third = inbound(&w.channel, "15550001", "wamid.IN3", None, 3_000);
    assert!(store.insert_inbound(&third).await.unwrap());
    let c = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.profile_name.as_deref(), c.updated_at),
        (Some("Ana B."), 2_000)
    );

    // Outbound to the same number uses the same contact.
    let out = enqueue(&store, outbound(&w.channel, "15550001", 3_500)).await;
    assert_eq!(out.contact_id.as_deref(), Some(contact_id.as_str()));

    // Both identifiers: the other one is learnt.
    let mut both = inbound(&w.channel, "15550001", "wamid.IN4", Some("Ana B."), 4_000);
    both.also = Some(ContactKey::UserId("US.ana".into()));
    assert!(store.insert_inbound(&both).await.unwrap());
    let c = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.user_id.as_deref(), Some("US.ana"));
    // ...and a later message by user id alone finds the same contact.
    let mut by_user = inbound(&w.channel, "US.ana", "wamid.IN5", None, 5_000);
    by_user.contact = ContactKey::UserId("US.ana".into());
    assert!(store.insert_inbound(&by_user).await.unwrap());
    assert_eq!(
        message(&store, &w.tenant.id, "wamid.IN5")
            .await
            .contact_id
            .as_deref(),
        Some(contact_id.as_str())
    );

    // Another tenant: its own contact for the same number.
    let theirs = inbound(
        &other.channel,
        "15550001",
        "wamid.T1",
        Some("Ana G."),
        6_000,
    );
    assert!(store.insert_inbound(&theirs).await.unwrap());
    let tm = message(&store, &other.tenant.id, "wamid.T1").await;
    assert_ne!(tm.contact_id.as_deref(), Some(contact_id.as_str()));
    let c = store
        .get_contact(&w.tenant.id, &contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.profile_name.as_deref(), Some("Ana B."));
    // A wamid is Meta's, unique across the installation.
    let clash = inbound(&other.channel, "15550002", "wamid.IN2", Some("X"), 7_000);
    assert!(!store.insert_inbound(&clash).await.unwrap());
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 6);
    assert_eq!(store.count_messages(&other.tenant.id).await.unwrap(), 1);
}

pub async fn concurrent_inbound_duplicates(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    // Ten deliveries each of five messages from five new people, all at once.
    let mut tasks = Vec::new();
    for i in 0..50i64 {
        let n = i % 5;
        let mut new = inbound(
            &w.channel,
            &format!("1555000{n}"),
            &format!("wamid.C{n}"),
            Some("Someone"),
            1_000 + i,
        );
        new.message.id = new_id_at(prefix::MESSAGE, 1_000 + i);
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.insert_inbound(&new).await },
        ));
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            stored += 1;
        }
    }
    assert_eq!(stored, 5);
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 5);
    let all = store
        .list_messages(
            &w.tenant.id,
            &MessageFilter::default(),
            &Page {
                limit: 100,
                after: None,
            },
        )
        .await
        .unwrap();
    let mut contacts: Vec<String> = all.iter().map(|m| m.contact_id.clone().unwrap()).collect();
    contacts.sort();
    contacts.dedup();
    assert_eq!(contacts.len(), 5);
}

pub async fn counts_for_metrics(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    assert!(store.count_messages_by_status().await.unwrap().is_empty());
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let a = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let b = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    enqueue(&store, outbound(&other.channel, "15550001", 1_002)).await;
    assert!(
        store
            .insert_inbound(&inbound(&w.channel, "15550003", "wamid.I", None, 1_003))
            .await
            .unwrap()
    );
    accept(&store, &a, "wamid.A", 2_000).await;
    store
        .record_send_results(&[SendResult::Failed {
            message_id: b.id.clone(),
            term: TERM,
            error: json!({"code": 100}),
            at: 2_000,
        }])
        .await
        .unwrap();
    // Installation-wide, by status name.
    assert_eq!(
        store.count_messages_by_status().await.unwrap(),
        vec![
            ("accepted".to_string(), 1),
            ("failed".to_string(), 1),
            ("queued".to_string(), 1),
            ("received".to_string(), 1),
        ]
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 3);
    assert_eq!(store.count_messages("ten_nope").await.unwrap(), 0);
}

/// Meta's webhooks are applied concurrently and redelivered late: the profile of the user's
/// latest message wins, whatever order they are applied in.
pub async fn the_latest_messages_profile_wins(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let newer = inbound(&w.channel, "15557770000", "wamid.NEW", Some("José"), 20_000);
    let older = inbound(&w.channel, "15557770000", "wamid.OLD", Some("Zé"), 10_000);
    assert!(store.insert_inbound(&newer).await.unwrap());
    assert!(store.insert_inbound(&older).await.unwrap());
    let contact = store
        .find_contact(&w.tenant.id, &ContactKey::WaId("15557770000".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.profile_name.as_deref(), Some("José"));
    // A later message with a new name still renames.
    let later = inbound(
        &w.channel,
        "15557770000",
        "wamid.LATER",
        Some("Zezinho"),
        30_000,
    );
    store.insert_inbound(&later).await.unwrap();
    let contact = store
        .find_contact(&w.tenant.id, &ContactKey::WaId("15557770000".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.profile_name.as_deref(), Some("Zezinho"));
}

/// Replicas claim payloads: a live claim is nobody else's; a claim whose holder died lapses
/// and another takes the payload; a payload marked twice (the first holder finished late)
/// writes its events once.
pub async fn inbox_payloads_are_claimed_once(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let items: Vec<InboxItem> = (0..5)
        .map(|i| inbox_item(&w.app.id, 1_000 + i, format!("{{\"n\":{i}}}").as_bytes()))
        .collect();
    for item in &items {
        store.insert_inbox(item).await.unwrap();
    }
    let a = store
        .claim_inbox("replica-a", 2_000, 32_000, 3)
        .await
        .unwrap();
    assert_eq!(a, items[..3].to_vec(), "oldest first");
    let b = store
        .claim_inbox("replica-b", 2_001, 32_001, 10)
        .await
        .unwrap();
    assert_eq!(b, items[3..].to_vec(), "what A holds is not B's");
    assert!(
        store
            .claim_inbox("replica-c", 2_002, 32_002, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is left to a third while both claims live"
    );
    assert_eq!(
        store
            .claim_inbox("replica-b", 2_003, 32_003, 10)
            .await
            .unwrap(),
        items[3..].to_vec(),
        "what B took and did not finish is B's to try again"
    );
    // Concurrent claims split the payloads, never share one.
    let (x, y) = tokio::join!(
        store.claim_inbox("replica-x", 40_000, 70_000, 3),
        store.claim_inbox("replica-y", 40_000, 70_000, 3)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut ids: Vec<String> = x.iter().chain(&y).map(|i| i.id.clone()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a payload claimed twice: {x:?} {y:?}");
    assert_eq!(n, 5, "every lapsed claim is taken again");

    // Y finishes the first payload, then X (whose claim lapsed, say) does too: one mark, one
    // event.
    let event = |n: &str| {
        let mut e = NewEvent::native(&w.tenant.id, "meta.other", json!({"n": n}));
        e.format = event_format::META.into();
        e
    };
    store
        .mark_inbox_processed(&[(items[0].id.clone(), vec![event("first")])], 50_000)
        .await
        .unwrap();
    store
        .mark_inbox_processed(&[(items[0].id.clone(), vec![event("second")])], 50_001)
        .await
        .unwrap();
    let got = store
        .events_after(&w.tenant.id, event_format::META, None, 0, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].data, json!({"n": "first"}));
    assert!(
        store
            .claim_inbox("replica-z", 90_000, 99_000, 10)
            .await
            .unwrap()
            .len()
            == 4,
        "a processed payload is never claimed again"
    );
}

/// Inbound messages stored many per call (one commit): in order, each once — a `wamid`
/// already stored, or twice in the call, is a duplicate — with its contact and session as one
/// by one; concurrent calls holding the same messages store each once.
pub async fn inbound_messages_in_one_call(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let before = inbound(&w.channel, "15550001", "wamid.S0", Some("Ana"), 1_000);
    assert!(store.insert_inbound(&before).await.unwrap());
    let mut again = inbound(&w.channel, "15550002", "wamid.S2", Some("Bo"), 1_300);
    again.message.id = new_id_at(prefix::MESSAGE, 1_300);
    let set = vec![
        inbound(&w.channel, "15550002", "wamid.S1", Some("Bo"), 1_100),
        inbound(&w.channel, "15550001", "wamid.S0", Some("Ana"), 1_150),
        inbound(&w.channel, "15550002", "wamid.S2", Some("Bo"), 1_200),
        again,
        inbound(&w.channel, "15550003", "wamid.S3", None, 1_400),
    ];
    assert_eq!(
        store.insert_inbounds(&set).await.unwrap(),
        [true, false, true, false, true]
    );
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 4);
    let s1 = message(&store, &w.tenant.id, "wamid.S1").await;
    let s2 = message(&store, &w.tenant.id, "wamid.S2").await;
    assert_eq!(s2.id, set[2].message.id, "the first copy is the one kept");
    assert_eq!(s1.contact_id, s2.contact_id, "one contact for one sender");
    assert!(s1.session_id.is_some() && s1.session_id == s2.session_id);
    assert!(store.insert_inbounds(&[]).await.unwrap().is_empty());

    // Ten calls at once, each with the same five new messages: each stored once.
    let mut tasks = Vec::new();
    for k in 0..10i64 {
        let news: Vec<NewInbound> = (0..5i64)
            .map(|n| {
                let mut m = inbound(
                    &w.channel,
                    &format!("1555100{n}"),
                    &format!("wamid.R{n}"),
                    None,
                    2_000 + k,
                );
                m.message.id = new_id_at(prefix::MESSAGE, 2_000 + 10 * n + k);
                m
            })
            .collect();
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.insert_inbounds(&news).await },
        ));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await.unwrap().unwrap().iter().filter(|s| **s).count();
    }
    assert_eq!(stored, 5);
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 9);
}
