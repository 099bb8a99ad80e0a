//! WhatsApp's conversational model: sessions opened, joined, renewed and closed; customer
//! service and free entry point windows; contacts found, completed, merged, renumbered, opted
//! out and edited; the lists of contacts and sessions.

use std::collections::HashSet;
use std::sync::Arc;

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::{CSW_MS, FEP_MS, Refusal, SendKind};
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::json;

use crate::fixtures::*;

/// Some time in 2025, in ms; the stories count from here.
const T: i64 = 1_750_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// An inbound text from a user known only by BSUID.
fn from_user(channel: &Channel, user_id: &str, wamid: &str, at: i64) -> NewInbound {
    let mut new = inbound(channel, user_id, wamid, None, at);
    new.contact = ContactKey::UserId(user_id.to_string());
    new
}

/// A `system` notice from `from`: it opens no window.
fn notice(channel: &Channel, from: &str, wamid: &str, at: i64) -> NewInbound {
    let mut new = inbound(channel, from, wamid, None, at);
    new.message.msg_type = "system".to_string();
    new.message.content = json!({"from": from, "id": wamid, "type": "system",
        "system": {"body": "notice", "type": "user_changed_number"}});
    new.opens_window = false;
    new
}

fn spec(kind: Option<&str>, opened_by: &str, expires_at: i64) -> SessionSpec {
    SessionSpec {
        kind: kind.map(str::to_string),
        opened_by: opened_by.to_string(),
        expires_at,
    }
}

fn page(limit: u32, after: Option<&str>) -> Page {
    Page {
        limit,
        after: after.map(str::to_string),
    }
}

/// Stores an inbound message that must be new; returns it as stored.
async fn receive(store: &Arc<dyn Store>, new: &NewInbound) -> Message {
    assert!(
        store.insert_inbound(new).await.expect("insert inbound"),
        "{:?} was new",
        new.message.wamid
    );
    let wamid = new.message.wamid.as_deref().expect("wamid");
    message(store, &new.message.tenant_id, wamid).await
}

async fn session(store: &Arc<dyn Store>, tenant_id: &str, id: &str) -> Session {
    store
        .get_session(tenant_id, id)
        .await
        .expect("get session")
        .unwrap_or_else(|| panic!("session {id} not found"))
}

async fn contact(store: &Arc<dyn Store>, tenant_id: &str, id: &str) -> Contact {
    store
        .get_contact(tenant_id, id)
        .await
        .expect("get contact")
        .unwrap_or_else(|| panic!("contact {id} not found"))
}

async fn sessions(store: &Arc<dyn Store>, tenant_id: &str, f: SessionFilter) -> Vec<Session> {
    store
        .list_sessions(tenant_id, &f, &page(1_000, None))
        .await
        .expect("list sessions")
}

async fn contacts(store: &Arc<dyn Store>, tenant_id: &str, f: ContactFilter) -> Vec<Contact> {
    store
        .list_contacts(tenant_id, &f, &page(1_000, None))
        .await
        .expect("list contacts")
}

async fn session_messages(
    store: &Arc<dyn Store>,
    tenant_id: &str,
    session_id: &str,
) -> Vec<String> {
    let f = MessageFilter {
        session_id: Some(session_id.to_string()),
        ..Default::default()
    };
    let mut ids: Vec<String> = store
        .list_messages(tenant_id, &f, &page(1_000, None))
        .await
        .expect("list messages")
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.reverse();
    ids
}

fn wa(n: &str) -> ContactKey {
    ContactKey::WaId(n.to_string())
}

fn user(u: &str) -> ContactKey {
    ContactKey::UserId(u.to_string())
}

pub async fn inbound_opens_a_session_and_the_next_renews_it(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;
    let other = world(&store, "Globex").await;

    let first = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.1", Some("Ana"), T),
    )
    .await;
    let contact_id = first.contact_id.clone().expect("contact");
    let sid = first
        .session_id
        .clone()
        .expect("the message opened a session");
    let opened = session(&store, &w.tenant.id, &sid).await;
    assert_eq!(
        opened,
        Session {
            id: sid.clone(),
            tenant_id: w.tenant.id.clone(),
            channel_id: w.channel.id.clone(),
            contact_id: contact_id.clone(),
            kind: Some("service".into()),
            opened_by: "inbound".into(),
            opened_at: T,
            expires_at: T + CSW_MS,
            closed_at: None,
            close_reason: None,
            last_inbound_at: Some(T),
            updated_at: T,
        }
    );
    assert!(sid.starts_with("ses_"));
    let window = ContactWindow {
        channel_id: w.channel.id.clone(),
        contact_id: contact_id.clone(),
        tenant_id: w.tenant.id.clone(),
        last_inbound_at: Some(T),
        entry_point_at: None,
        fep_opened_at: None,
        fep_expires_at: None,
    };
    let conv = store
        .conversation(&w.tenant.id, &w.channel.id, &wa("15550001"))
        .await
        .unwrap();
    assert_eq!(
        conv.contact,
        Some(contact(&store, &w.tenant.id, &contact_id).await)
    );
    assert_eq!(conv.window, Some(window.clone()));
    assert_eq!(conv.open_session, Some(opened.clone()));

    // The next message an hour later renews it: 24 hours from the newest message.
    let second = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.2", None, T + HOUR),
    )
    .await;
    assert_eq!(second.session_id.as_deref(), Some(sid.as_str()));
    let renewed = session(&store, &w.tenant.id, &sid).await;
    assert_eq!(
        (
            renewed.opened_at,
            renewed.expires_at,
            renewed.last_inbound_at
        ),
        (T, T + HOUR + CSW_MS, Some(T + HOUR))
    );
    assert_eq!(renewed.updated_at, T + HOUR);
    // A late delivery of an older message joins it and moves nothing back.
    let late = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.0", None, T + 30 * MIN),
    )
    .await;
    assert_eq!(late.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(session(&store, &w.tenant.id, &sid).await, renewed);
    // A system notice joins the open session but renews neither it nor the window.
    let sys = receive(
        &store,
        &notice(&w.channel, "15550001", "wamid.sys", T + 2 * HOUR),
    )
    .await;
    assert_eq!(sys.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(session(&store, &w.tenant.id, &sid).await, renewed);
    let windows = store
        .contact_windows(&w.tenant.id, &contact_id)
        .await
        .unwrap();
    assert_eq!(
        windows,
        vec![ContactWindow {
            last_inbound_at: Some(T + HOUR),
            ..window.clone()
        }]
    );
    assert_eq!(
        session_messages(&store, &w.tenant.id, &sid).await,
        vec![
            first.id.clone(),
            second.id.clone(),
            late.id.clone(),
            sys.id.clone()
        ]
    );

    // A notice from someone with no open session belongs to none, and opens nothing.
    let lone = receive(&store, &notice(&w.channel, "15550002", "wamid.lone", T)).await;
    assert_eq!(lone.session_id, None);
    let lone_contact = lone.contact_id.clone().expect("contact");
    assert!(
        store
            .contact_windows(&w.tenant.id, &lone_contact)
            .await
            .unwrap()
            .is_empty()
    );
    let conv = store
        .conversation(&w.tenant.id, &w.channel.id, &wa("15550002"))
        .await
        .unwrap();
    assert!(conv.contact.is_some());
    assert_eq!((conv.window, conv.open_session), (None, None));

    // Another channel of the tenant: same contact, no window, no session there.
    let conv = store
        .conversation(&w.tenant.id, &ch2.id, &wa("15550001"))
        .await
        .unwrap();
    assert_eq!(conv.contact.map(|c| c.id), Some(contact_id.clone()));
    assert_eq!((conv.window, conv.open_session), (None, None));
    // Nobody known: nothing.
    assert_eq!(
        store
            .conversation(&w.tenant.id, &w.channel.id, &wa("15559999"))
            .await
            .unwrap(),
        Conversation::default()
    );

    // Another tenant sees none of it.
    assert_eq!(
        store.get_session(&other.tenant.id, &sid).await.unwrap(),
        None
    );
    assert!(
        store
            .contact_windows(&other.tenant.id, &contact_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .conversation(&other.tenant.id, &w.channel.id, &wa("15550001"))
            .await
            .unwrap(),
        Conversation::default()
    );
    assert!(
        sessions(&store, &other.tenant.id, SessionFilter::default())
            .await
            .is_empty()
    );
    assert!(
        store
            .list_messages(
                &other.tenant.id,
                &MessageFilter {
                    session_id: Some(sid.clone()),
                    ..Default::default()
                },
                &page(10, None)
            )
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_inbound_from_one_user_opens_one_session(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut tasks = Vec::new();
    for i in 0..20i64 {
        let new = inbound(
            &w.channel,
            "15550001",
            &format!("wamid.C{i}"),
            Some("Ana"),
            T + i,
        );
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.insert_inbound(&new).await },
        ));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    let all = sessions(&store, &w.tenant.id, SessionFilter::default()).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let s = &all[0];
    assert_eq!(s.expires_at, T + 19 + CSW_MS);
    assert_eq!(s.last_inbound_at, Some(T + 19));
    assert_eq!(s.closed_at, None);
    assert_eq!(
        session_messages(&store, &w.tenant.id, &s.id).await.len(),
        20
    );
    assert_eq!(
        contacts(&store, &w.tenant.id, ContactFilter::default())
            .await
            .len(),
        1
    );

    // A new user writing and being written to at once: still one contact and one session.
    let mut tasks = Vec::new();
    for i in 0..30i64 {
        let store = store.clone();
        let ch = w.channel.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let new = inbound(&ch, "15550002", &format!("wamid.M{i}"), None, T + i);
                assert!(store.insert_inbound(&new).await.unwrap());
            } else {
                enqueue(&store, outbound(&ch, "15550002", T + i)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let f = ContactFilter {
        wa_id: Some("15550002".into()),
        ..Default::default()
    };
    let found = contacts(&store, &w.tenant.id, f).await;
    assert_eq!(found.len(), 1);
    let theirs = sessions(
        &store,
        &w.tenant.id,
        SessionFilter {
            contact_id: Some(found[0].id.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(theirs.len(), 1, "{theirs:#?}");
    assert_eq!(
        session_messages(&store, &w.tenant.id, &theirs[0].id)
            .await
            .len(),
        30
    );
}

pub async fn outbound_joins_the_open_session_or_opens_one_from_its_spec(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;

    // Nobody wrote: the send opens a session as its spec says.
    let mut first = outbound(&w.channel, "15550001", T);
    first.session = spec(Some("marketing"), "session_start", T + 2 * DAY);
    let m1 = enqueue(&store, first).await;
    let sid = m1.session_id.clone().expect("session");
    assert_eq!(message(&store, &w.tenant.id, &m1.id).await, m1);
    let opened = session(&store, &w.tenant.id, &sid).await;
    assert_eq!(
        opened,
        Session {
            id: sid.clone(),
            tenant_id: w.tenant.id.clone(),
            channel_id: w.channel.id.clone(),
            contact_id: m1.contact_id.clone().unwrap(),
            kind: Some("marketing".into()),
            opened_by: "session_start".into(),
            opened_at: T,
            expires_at: T + 2 * DAY,
            closed_at: None,
            close_reason: None,
            last_inbound_at: None,
            updated_at: T,
        }
    );
    // No window: the user never wrote.
    let conv = store
        .conversation(&w.tenant.id, &w.channel.id, &wa("15550001"))
        .await
        .unwrap();
    assert_eq!(conv.window, None);
    assert_eq!(conv.open_session, Some(opened.clone()));

    // The next send joins it, whatever its own spec says.
    let mut second = outbound(&w.channel, "15550001", T + MIN);
    second.session = spec(Some("utility"), "message", T + MIN + DAY);
    let m2 = enqueue(&store, second).await;
    assert_eq!(m2.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(session(&store, &w.tenant.id, &sid).await, opened);

    // The user answers: the same session, renewed from their message.
    let reply = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.R", Some("Ana"), T + HOUR),
    )
    .await;
    assert_eq!(reply.session_id.as_deref(), Some(sid.as_str()));
    let renewed = session(&store, &w.tenant.id, &sid).await;
    assert_eq!(
        (
            renewed.kind.as_deref(),
            renewed.opened_by.as_str(),
            renewed.expires_at
        ),
        (Some("marketing"), "session_start", T + 2 * DAY),
        "24 h after the reply is earlier than the session's own end: it stays"
    );
    assert_eq!(renewed.last_inbound_at, Some(T + HOUR));
    let later = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.R2", None, T + 30 * HOUR),
    )
    .await;
    assert_eq!(later.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(
        session(&store, &w.tenant.id, &sid).await.expires_at,
        T + 30 * HOUR + CSW_MS
    );

    // Another channel: a session of its own.
    let other_ch = enqueue(&store, outbound(&ch2, "15550001", T + 2 * MIN)).await;
    let sid2 = other_ch.session_id.clone().unwrap();
    assert_ne!(sid2, sid);
    let s2 = session(&store, &w.tenant.id, &sid2).await;
    assert_eq!(
        (
            s2.channel_id.as_str(),
            s2.kind.as_deref(),
            s2.opened_by.as_str()
        ),
        (ch2.id.as_str(), None, "message")
    );
    assert_eq!(s2.expires_at, T + 2 * MIN + CSW_MS);

    // An idempotent retry is the first message, in its session, and opens nothing.
    let keyed_first = enqueue(&store, keyed(&w.channel, "15550003", T, "k1", "h1")).await;
    let before = sessions(&store, &w.tenant.id, SessionFilter::default()).await;
    match store
        .enqueue_outbound(keyed(&w.channel, "15550003", T + 5, "k1", "h1"))
        .await
        .unwrap()
    {
        EnqueueOutcome::Existing(m) => assert_eq!(m, keyed_first),
        other => panic!("expected Existing, got {other:?}"),
    }
    match store
        .enqueue_outbound(keyed(&ch2, "15550004", T + 6, "k1", "h2"))
        .await
        .unwrap()
    {
        EnqueueOutcome::KeyReused(m) => assert_eq!(m, keyed_first),
        other => panic!("expected KeyReused, got {other:?}"),
    }
    assert_eq!(
        sessions(&store, &w.tenant.id, SessionFilter::default()).await,
        before
    );
    assert_eq!(
        store
            .find_contact(&w.tenant.id, &wa("15550004"))
            .await
            .unwrap(),
        None,
        "a refused request creates no contact"
    );

    // open_session finds the open one, or opens one from the spec.
    let contact_id = m1.contact_id.clone().unwrap();
    let (found, opened_now) = store
        .open_session(
            &w.tenant.id,
            &w.channel.id,
            &contact_id,
            &spec(Some("utility"), "session_start", T + 3 * DAY),
            T + 2 * HOUR,
        )
        .await
        .unwrap();
    assert!(!opened_now);
    assert_eq!(found.id, sid);
}

pub async fn concurrent_enqueues_to_a_new_contact_share_one_session(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut tasks = Vec::new();
    for i in 0..100i64 {
        let new = outbound(&w.channel, &format!("1555000{}", i % 5), T + i);
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.enqueue_outbound(new).await },
        ));
    }
    let mut by_recipient: std::collections::HashMap<String, HashSet<(String, String)>> =
        Default::default();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            EnqueueOutcome::Created { message: m, .. } => {
                by_recipient
                    .entry(m.recipient.clone())
                    .or_default()
                    .insert((m.contact_id.unwrap(), m.session_id.expect("session")));
            }
            other => panic!("expected Created, got {other:?}"),
        }
    }
    assert_eq!(by_recipient.len(), 5);
    for (to, pairs) in &by_recipient {
        assert_eq!(
            pairs.len(),
            1,
            "{to}: one contact and one session, got {pairs:?}"
        );
    }
    let all = sessions(&store, &w.tenant.id, SessionFilter::default()).await;
    assert_eq!(all.len(), 5);
    for s in &all {
        assert_eq!(s.closed_at, None);
        assert_eq!(s.opened_by, "message");
        assert_eq!(
            s.expires_at,
            s.opened_at + CSW_MS,
            "opened from one of its messages' spec"
        );
        assert_eq!(
            session_messages(&store, &w.tenant.id, &s.id).await.len(),
            20
        );
    }
}

pub async fn a_closed_session_gives_way_to_a_new_one(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    let first = receive(&store, &inbound(&w.channel, "15550001", "wamid.1", None, T)).await;
    let s1 = first.session_id.clone().unwrap();
    let contact_id = first.contact_id.clone().unwrap();
    // Not another tenant's to close, nor a session that does not exist.
    assert_eq!(
        store
            .close_session(&other.tenant.id, &s1, T + 5)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .close_session(&w.tenant.id, "ses_nope", T + 5)
            .await
            .unwrap(),
        None
    );
    assert_eq!(session(&store, &w.tenant.id, &s1).await.closed_at, None);

    let closed = store
        .close_session(&w.tenant.id, &s1, T + 10)
        .await
        .unwrap()
        .expect("closed");
    assert_eq!(
        (closed.closed_at, closed.close_reason.as_deref()),
        (Some(T + 10), Some("closed"))
    );
    assert_eq!(closed, session(&store, &w.tenant.id, &s1).await);
    // Closing again changes nothing.
    assert_eq!(
        store
            .close_session(&w.tenant.id, &s1, T + 20)
            .await
            .unwrap(),
        Some(closed.clone())
    );
    let conv = store
        .conversation(&w.tenant.id, &w.channel.id, &wa("15550001"))
        .await
        .unwrap();
    assert_eq!(conv.open_session, None);
    assert_eq!(
        conv.window.and_then(|w| w.last_inbound_at),
        Some(T),
        "the window stays"
    );

    // The user writes again: a new session.
    let next = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.2", None, T + 20),
    )
    .await;
    let s2 = next.session_id.clone().unwrap();
    assert_ne!(s2, s1);
    let opened = session(&store, &w.tenant.id, &s2).await;
    assert_eq!(
        (opened.opened_at, opened.expires_at),
        (T + 20, T + 20 + CSW_MS)
    );
    assert_eq!(session(&store, &w.tenant.id, &s1).await, closed);
    // A send joins the new one.
    let out = enqueue(&store, outbound(&w.channel, "15550001", T + 30)).await;
    assert_eq!(out.session_id.as_deref(), Some(s2.as_str()));

    // open_session: the open one; after it is closed, a new one from the spec.
    let sp = spec(Some("utility"), "session_start", T + 40 + DAY);
    let (found, created) = store
        .open_session(&w.tenant.id, &w.channel.id, &contact_id, &sp, T + 40)
        .await
        .unwrap();
    assert_eq!((found.id.as_str(), created), (s2.as_str(), false));
    store
        .close_session(&w.tenant.id, &s2, T + 50)
        .await
        .unwrap();
    let (s3, created) = store
        .open_session(&w.tenant.id, &w.channel.id, &contact_id, &sp, T + 60)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(s3, session(&store, &w.tenant.id, &s3.id).await);
    assert_eq!(
        (
            s3.kind.as_deref(),
            s3.opened_by.as_str(),
            s3.opened_at,
            s3.expires_at
        ),
        (Some("utility"), "session_start", T + 60, T + 40 + DAY)
    );
    assert_eq!(s3.last_inbound_at, None);
    let all = sessions(
        &store,
        &w.tenant.id,
        SessionFilter {
            contact_id: Some(contact_id.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![s3.id.clone(), s2.clone(), s1.clone()]
    );
}

pub async fn expired_sessions_close_at_their_expiry(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    assert_eq!(store.next_session_expiry().await.unwrap(), None);
    assert!(
        store
            .close_expired_sessions(T + 100 * DAY, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let by_inbound = receive(&store, &inbound(&w.channel, "15550001", "wamid.1", None, T)).await;
    let a = by_inbound.session_id.clone().unwrap();
    let send = |ch: &Channel, to: &str, at: i64, expires_at: i64| {
        let mut n = outbound(ch, to, at);
        n.session = spec(Some("utility"), "session_start", expires_at);
        n
    };
    let b = enqueue(&store, send(&w.channel, "15550002", T + 1, T + 1_000))
        .await
        .session_id
        .unwrap();
    let c = enqueue(&store, send(&other.channel, "15550003", T + 2, T + 2_000))
        .await
        .session_id
        .unwrap();
    let d = enqueue(&store, send(&w.channel, "15550004", T + 3, T + 3_000))
        .await
        .session_id
        .unwrap();
    let e = enqueue(&store, send(&w.channel, "15550005", T + 4, T + 3_001))
        .await
        .session_id
        .unwrap();
    assert_eq!(store.next_session_expiry().await.unwrap(), Some(T + 1_000));

    // One millisecond before its expiry a session stays open; at its expiry it closes.
    assert!(
        store
            .close_expired_sessions(T + 999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let closed = store.close_expired_sessions(T + 1_000, 10).await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].id, b);
    assert_eq!(
        (closed[0].closed_at, closed[0].close_reason.as_deref()),
        (Some(T + 1_000), Some("expired"))
    );
    assert_eq!(closed[0], session(&store, &w.tenant.id, &b).await);
    assert_eq!(store.next_session_expiry().await.unwrap(), Some(T + 2_000));

    // Installation-wide, each at its own expiry, however late the closer runs; `limit` at a
    // time, earliest first.
    let closed = store.close_expired_sessions(T + 10_000, 2).await.unwrap();
    let ids: HashSet<String> = closed.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, HashSet::from([c.clone(), d.clone()]));
    let theirs = session(&store, &other.tenant.id, &c).await;
    assert_eq!(
        (theirs.closed_at, theirs.close_reason.as_deref()),
        (Some(T + 2_000), Some("expired"))
    );
    assert_eq!(
        session(&store, &w.tenant.id, &d).await.closed_at,
        Some(T + 3_000)
    );
    let closed = store.close_expired_sessions(T + 10_000, 2).await.unwrap();
    assert_eq!(
        closed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![e.clone()]
    );
    assert_eq!(closed[0].closed_at, Some(T + 3_001));
    assert!(
        store
            .close_expired_sessions(T + 10_000, 2)
            .await
            .unwrap()
            .is_empty()
    );

    // What is left expires 24 hours after the user's message.
    assert_eq!(store.next_session_expiry().await.unwrap(), Some(T + CSW_MS));
    assert!(
        store
            .close_expired_sessions(T + CSW_MS - 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let closed = store.close_expired_sessions(T + CSW_MS, 10).await.unwrap();
    assert_eq!(
        closed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![a.clone()]
    );
    assert_eq!(store.next_session_expiry().await.unwrap(), None);
    // A closed session stays as it was closed.
    let before = session(&store, &w.tenant.id, &b).await;
    store
        .close_session(&w.tenant.id, &b, T + 20_000)
        .await
        .unwrap();
    assert_eq!(session(&store, &w.tenant.id, &b).await, before);
}

pub async fn a_lapsed_session_the_closer_missed_gives_way(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;

    // A business-opened session nobody answered lapses at its expiry; the closer has not run.
    let mut first = outbound(&w.channel, "15550001", T);
    first.session = spec(Some("marketing"), "session_start", T + 1_000);
    let s1 = enqueue(&store, first).await.session_id.unwrap();
    // Just before, a send still joins it.
    let m = enqueue(&store, outbound(&w.channel, "15550001", T + 999)).await;
    assert_eq!(m.session_id.as_deref(), Some(s1.as_str()));
    // At its expiry, a send closes it (as the closer would have) and opens a new one.
    let m = enqueue(&store, outbound(&w.channel, "15550001", T + 1_000)).await;
    let s2 = m.session_id.clone().unwrap();
    assert_ne!(s2, s1);
    let old = session(&store, &w.tenant.id, &s1).await;
    assert_eq!(
        (old.closed_at, old.close_reason.as_deref()),
        (Some(T + 1_000), Some("expired"))
    );
    let new = session(&store, &w.tenant.id, &s2).await;
    assert_eq!(
        (new.opened_at, new.expires_at, new.closed_at),
        (T + 1_000, T + 1_000 + CSW_MS, None)
    );

    // The same for a message from the user after its session's 24 hours.
    let reply = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.1", None, T + 2_000),
    )
    .await;
    assert_eq!(reply.session_id.as_deref(), Some(s2.as_str()));
    let s2_now = session(&store, &w.tenant.id, &s2).await;
    assert_eq!(s2_now.expires_at, T + 2_000 + CSW_MS);
    let late = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.2", None, T + 2_000 + CSW_MS),
    )
    .await;
    let s3 = late.session_id.clone().unwrap();
    assert_ne!(s3, s2);
    let s2_now = session(&store, &w.tenant.id, &s2).await;
    assert_eq!(
        (s2_now.closed_at, s2_now.close_reason.as_deref()),
        (Some(T + 2_000 + CSW_MS), Some("expired"))
    );
    let s3_now = session(&store, &w.tenant.id, &s3).await;
    assert_eq!(
        (
            s3_now.kind.as_deref(),
            s3_now.opened_by.as_str(),
            s3_now.opened_at
        ),
        (Some("service"), "inbound", T + 2_000 + CSW_MS)
    );
    assert_eq!(
        sessions(
            &store,
            &w.tenant.id,
            SessionFilter {
                open: Some(true),
                ..Default::default()
            }
        )
        .await
        .len(),
        1
    );
    // A notice stamped after the open session's window lapsed joins no session, and leaves
    // the lapsed one to the closer.
    let s3_expiry = s3_now.expires_at;
    let sys = receive(
        &store,
        &notice(&w.channel, "15550001", "wamid.3", s3_expiry),
    )
    .await;
    assert_eq!(sys.session_id, None);
    assert_eq!(session(&store, &w.tenant.id, &s3).await, s3_now);
    let just_before = receive(
        &store,
        &notice(&w.channel, "15550001", "wamid.4", s3_expiry - 1),
    )
    .await;
    assert_eq!(just_before.session_id.as_deref(), Some(s3.as_str()));
}

pub async fn an_inbound_with_both_identifiers_merges_two_contacts(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;

    // The business wrote to the number, opening the FEP window of an ad entry it knew of...
    let mut first = outbound(&w.channel, "15550001", T);
    first.open_fep_until = Some(T + FEP_MS);
    let out = enqueue(&store, first).await;
    let older = out.contact_id.clone().unwrap();
    let s_old = out.session_id.clone().unwrap();
    store
        .update_contact(
            &w.tenant.id,
            &older,
            &ContactPatch {
                attributes: Some(json!({"tier": "gold", "city": "Lima"})),
                ..Default::default()
            },
            T + 1,
        )
        .await
        .unwrap();
    // ...while the same person, known only by BSUID, wrote on both channels.
    let in1 = receive(
        &store,
        &from_user(&w.channel, "US.ana", "wamid.U1", T + HOUR),
    )
    .await;
    let newer = in1.contact_id.clone().unwrap();
    assert_ne!(newer, older);
    let s_new = in1.session_id.clone().unwrap();
    let in2 = receive(&store, &from_user(&ch2, "US.ana", "wamid.U2", T + HOUR + 1)).await;
    assert_eq!(in2.contact_id.as_deref(), Some(newer.as_str()));
    let s_new2 = in2.session_id.clone().unwrap();
    let sys = receive(&store, &{
        let mut n = notice(&w.channel, "US.ana", "wamid.U3", T + HOUR + 2);
        n.contact = user("US.ana");
        n
    })
    .await;
    assert_eq!(sys.session_id.as_deref(), Some(s_new.as_str()));
    store
        .update_contact(
            &w.tenant.id,
            &newer,
            &ContactPatch {
                profile_name: Some("Ana".into()),
                attributes: Some(json!({"city": "Cusco", "vip": true})),
                ..Default::default()
            },
            T + HOUR + 3,
        )
        .await
        .unwrap();
    store
        .set_marketing_opt_out(
            &w.tenant.id,
            &user("US.ana"),
            &OptOutChange {
                opted_out: true,
                source: "user_preferences".into(),
                at: T + HOUR + 4,
            },
        )
        .await
        .unwrap();
    let lone = receive(&store, &{
        let mut n = notice(&ch2, "US.ana", "wamid.U4", T + HOUR + 5);
        n.contact = user("US.ana");
        n
    })
    .await;
    assert_eq!(lone.session_id.as_deref(), Some(s_new2.as_str()));
    // A notice on a third channel, where the user has no session: a message of no session.
    let ch3 = second_channel(&store, &w).await;
    let stray = receive(&store, &{
        let mut n = notice(&ch3, "US.ana", "wamid.U5", T + HOUR + 6);
        n.contact = user("US.ana");
        n
    })
    .await;
    assert_eq!(
        (stray.contact_id.as_deref(), stray.session_id.as_deref()),
        (Some(newer.as_str()), None)
    );

    // A message carrying both identifiers: one contact, the older.
    let mut both = inbound(
        &w.channel,
        "15550001",
        "wamid.B",
        Some("Ana M."),
        T + 2 * HOUR,
    );
    both.also = Some(user("US.ana"));
    let merged_msg = receive(&store, &both).await;
    assert_eq!(merged_msg.contact_id.as_deref(), Some(older.as_str()));
    assert_eq!(merged_msg.session_id.as_deref(), Some(s_old.as_str()));
    assert_eq!(store.get_contact(&w.tenant.id, &newer).await.unwrap(), None);
    let c = contact(&store, &w.tenant.id, &older).await;
    assert_eq!(c.wa_id.as_deref(), Some("15550001"));
    assert_eq!(c.user_id.as_deref(), Some("US.ana"));
    assert_eq!(c.profile_name.as_deref(), Some("Ana M."));
    assert_eq!(
        c.attributes,
        json!({"tier": "gold", "city": "Lima", "vip": true})
    );
    assert_eq!(
        (
            c.marketing_opt_out_at,
            c.marketing_opt_out_source.as_deref()
        ),
        (Some(T + HOUR + 4), Some("user_preferences"))
    );
    assert_eq!(c.created_at, T);
    assert_eq!(c.updated_at, T + 2 * HOUR);
    for key in [wa("15550001"), user("US.ana")] {
        assert_eq!(
            store.find_contact(&w.tenant.id, &key).await.unwrap(),
            Some(c.clone())
        );
    }
    assert_eq!(
        contacts(&store, &w.tenant.id, ContactFilter::default()).await,
        vec![c.clone()]
    );

    // Sessions: the newer contact's open one on the shared channel gave way; the other moved.
    let closed = session(&store, &w.tenant.id, &s_new).await;
    assert_eq!(closed.contact_id, older);
    assert_eq!(
        (closed.closed_at, closed.close_reason.as_deref()),
        (Some(T + 2 * HOUR), Some("merged"))
    );
    let kept = session(&store, &w.tenant.id, &s_old).await;
    assert_eq!(
        (kept.closed_at, kept.last_inbound_at),
        (None, Some(T + 2 * HOUR))
    );
    assert_eq!(kept.expires_at, T + 2 * HOUR + CSW_MS);
    let moved = session(&store, &w.tenant.id, &s_new2).await;
    assert_eq!(
        (moved.contact_id.as_str(), moved.closed_at),
        (older.as_str(), None)
    );
    let theirs = sessions(
        &store,
        &w.tenant.id,
        SessionFilter {
            contact_id: Some(older.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(theirs.len(), 3);
    assert!(
        sessions(
            &store,
            &w.tenant.id,
            SessionFilter {
                contact_id: Some(newer.clone()),
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );

    // Messages: every one now the older contact's, in the sessions they were in.
    for m in [&out, &in1, &in2, &sys, &lone, &stray, &merged_msg] {
        let now = message(&store, &w.tenant.id, &m.id).await;
        assert_eq!(now.contact_id.as_deref(), Some(older.as_str()), "{}", m.id);
        assert_eq!(now.session_id, m.session_id, "{}", m.id);
    }
    assert_eq!(
        session_messages(&store, &w.tenant.id, &s_new).await,
        vec![in1.id.clone(), sys.id.clone()]
    );

    // Windows: both channels', the later time of each where both had one.
    let windows = store.contact_windows(&w.tenant.id, &older).await.unwrap();
    let mut expected = vec![
        ContactWindow {
            channel_id: w.channel.id.clone(),
            contact_id: older.clone(),
            tenant_id: w.tenant.id.clone(),
            last_inbound_at: Some(T + 2 * HOUR),
            entry_point_at: None,
            fep_opened_at: Some(T),
            fep_expires_at: Some(T + FEP_MS),
        },
        ContactWindow {
            channel_id: ch2.id.clone(),
            contact_id: older.clone(),
            tenant_id: w.tenant.id.clone(),
            last_inbound_at: Some(T + HOUR + 1),
            entry_point_at: None,
            fep_opened_at: None,
            fep_expires_at: None,
        },
    ];
    expected.sort_by(|a, b| a.channel_id.cmp(&b.channel_id));
    assert_eq!(windows, expected);
    assert!(
        store
            .contact_windows(&w.tenant.id, &newer)
            .await
            .unwrap()
            .is_empty()
    );
    let conv = store
        .conversation(&w.tenant.id, &ch2.id, &user("US.ana"))
        .await
        .unwrap();
    assert_eq!(conv.open_session.map(|s| s.id), Some(s_new2.clone()));

    // Sends by either identifier now reach the one contact, in its open session.
    let mut by_user = outbound(&ch2, "US.ana", T + 3 * HOUR);
    by_user.contact = user("US.ana");
    let m = enqueue(&store, by_user).await;
    assert_eq!(
        (m.contact_id.as_deref(), m.session_id.as_deref()),
        (Some(older.as_str()), Some(s_new2.as_str()))
    );
}

pub async fn upsert_contact_finds_fills_in_and_merges(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    let (c, created) = store
        .upsert_contact(&w.tenant.id, &wa("15550001"), None, Some("Bo"), T)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (
            c.wa_id.as_deref(),
            c.user_id.as_deref(),
            c.profile_name.as_deref()
        ),
        (Some("15550001"), None, Some("Bo"))
    );
    assert_eq!((c.created_at, c.updated_at), (T, T));
    assert_eq!(c.attributes, json!({}));
    assert!(c.previous_wa_ids.is_empty());
    assert_eq!(c, contact(&store, &w.tenant.id, &c.id).await);
    // Found again; without a name the name stays.
    let (again, created) = store
        .upsert_contact(&w.tenant.id, &wa("15550001"), None, None, T + 1)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, c);
    // Found by the other identifier, which is filled in.
    let (filled, created) = store
        .upsert_contact(
            &w.tenant.id,
            &user("US.bo"),
            Some(&wa("15550001")),
            Some("Bo B."),
            T + 2,
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(filled.id, c.id);
    assert_eq!(
        (
            filled.user_id.as_deref(),
            filled.profile_name.as_deref(),
            filled.updated_at
        ),
        (Some("US.bo"), Some("Bo B."), T + 2)
    );
    // Both new: one contact with both.
    let (both, created) = store
        .upsert_contact(
            &w.tenant.id,
            &wa("15550002"),
            Some(&user("US.cy")),
            None,
            T + 3,
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (both.wa_id.as_deref(), both.user_id.as_deref()),
        (Some("15550002"), Some("US.cy"))
    );
    // Two contacts for the two identifiers: merged into the older.
    let (d, _) = store
        .upsert_contact(&w.tenant.id, &wa("15550003"), None, None, T + 4)
        .await
        .unwrap();
    let (e, _) = store
        .upsert_contact(&w.tenant.id, &user("US.dee"), None, Some("Dee"), T + 5)
        .await
        .unwrap();
    let (merged, created) = store
        .upsert_contact(
            &w.tenant.id,
            &user("US.dee"),
            Some(&wa("15550003")),
            None,
            T + 6,
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(merged.id, d.id);
    assert_eq!(
        (
            merged.wa_id.as_deref(),
            merged.user_id.as_deref(),
            merged.profile_name.as_deref()
        ),
        (Some("15550003"), Some("US.dee"), Some("Dee"))
    );
    assert_eq!(store.get_contact(&w.tenant.id, &e.id).await.unwrap(), None);
    // A tenant's contacts are its own.
    let (theirs, created) = store
        .upsert_contact(&other.tenant.id, &wa("15550001"), None, None, T + 7)
        .await
        .unwrap();
    assert!(created);
    assert_ne!(theirs.id, c.id);
    assert_eq!(
        store.get_contact(&other.tenant.id, &c.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_contact(&other.tenant.id, &user("US.bo"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        contacts(&store, &w.tenant.id, ContactFilter::default())
            .await
            .len(),
        3
    );
}

pub async fn a_user_who_changed_number_keeps_their_contact(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;

    let first = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.1", Some("Ana"), T),
    )
    .await;
    let ana = first.contact_id.clone().unwrap();
    let sid = first.session_id.clone().unwrap();
    let mut change = notice(&w.channel, "15550001", "wamid.2", T + HOUR);
    change.changed_number = Some("15550002".into());
    let sys = receive(&store, &change).await;
    assert_eq!(sys.contact_id.as_deref(), Some(ana.as_str()));
    assert_eq!(sys.session_id.as_deref(), Some(sid.as_str()));
    let c = contact(&store, &w.tenant.id, &ana).await;
    assert_eq!(c.wa_id.as_deref(), Some("15550002"));
    assert_eq!(c.previous_wa_ids, vec!["15550001".to_string()]);
    assert_eq!(c.profile_name.as_deref(), Some("Ana"));
    assert_eq!(c.updated_at, T + HOUR);
    assert_eq!(
        store
            .find_contact(&w.tenant.id, &wa("15550001"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_contact(&w.tenant.id, &wa("15550002"))
            .await
            .unwrap(),
        Some(c.clone())
    );
    // From the new number: the same contact, the same session.
    let next = receive(
        &store,
        &inbound(&w.channel, "15550002", "wamid.3", None, T + 2 * HOUR),
    )
    .await;
    assert_eq!(
        (next.contact_id.as_deref(), next.session_id.as_deref()),
        (Some(ana.as_str()), Some(sid.as_str()))
    );

    // Moving to a number another (newer) contact already has merges that one in.
    let bo = enqueue(&store, outbound(&w.channel, "15550003", T + 3 * HOUR)).await;
    let bo_id = bo.contact_id.clone().unwrap();
    let bo_session = bo.session_id.clone().unwrap();
    assert_ne!(bo_session, sid);
    let mut change = notice(&w.channel, "15550002", "wamid.4", T + 4 * HOUR);
    change.changed_number = Some("15550003".into());
    let sys = receive(&store, &change).await;
    assert_eq!(sys.contact_id.as_deref(), Some(ana.as_str()));
    assert_eq!(store.get_contact(&w.tenant.id, &bo_id).await.unwrap(), None);
    let c = contact(&store, &w.tenant.id, &ana).await;
    assert_eq!(c.wa_id.as_deref(), Some("15550003"));
    assert_eq!(
        c.previous_wa_ids,
        vec!["15550001".to_string(), "15550002".to_string()]
    );
    assert_eq!(
        message(&store, &w.tenant.id, &bo.id)
            .await
            .contact_id
            .as_deref(),
        Some(ana.as_str())
    );
    let gave_way = session(&store, &w.tenant.id, &bo_session).await;
    assert_eq!(
        (
            gave_way.contact_id.as_str(),
            gave_way.close_reason.as_deref(),
            gave_way.closed_at
        ),
        (ana.as_str(), Some("merged"), Some(T + 4 * HOUR))
    );
    assert_eq!(session(&store, &w.tenant.id, &sid).await.closed_at, None);
    assert_eq!(
        contacts(&store, &w.tenant.id, ContactFilter::default()).await,
        vec![c]
    );

    // An unknown user's change of number: a contact on the new number, the old one kept.
    let mut change = notice(&w.channel, "15550008", "wamid.5", T + 5 * HOUR);
    change.changed_number = Some("15550009".into());
    let sys = receive(&store, &change).await;
    let c = contact(&store, &w.tenant.id, sys.contact_id.as_deref().unwrap()).await;
    assert_eq!(c.wa_id.as_deref(), Some("15550009"));
    assert_eq!(c.previous_wa_ids, vec!["15550008".to_string()]);
}

pub async fn an_opt_out_from_an_unknown_user_creates_the_contact(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let out = |at| OptOutChange {
        opted_out: true,
        source: "user_preferences".into(),
        at,
    };

    let c = store
        .set_marketing_opt_out(&w.tenant.id, &wa("15550001"), &out(T))
        .await
        .unwrap();
    assert_eq!(c.wa_id.as_deref(), Some("15550001"));
    assert_eq!(
        (
            c.marketing_opt_out_at,
            c.marketing_opt_out_source.as_deref()
        ),
        (Some(T), Some("user_preferences"))
    );
    assert_eq!((c.created_at, c.updated_at), (T, T));
    assert_eq!(
        store
            .find_contact(&w.tenant.id, &wa("15550001"))
            .await
            .unwrap(),
        Some(c.clone())
    );
    // Opting out again keeps the first opt-out.
    let again = store
        .set_marketing_opt_out(&w.tenant.id, &wa("15550001"), &out(T + 5))
        .await
        .unwrap();
    assert_eq!(again.marketing_opt_out_at, Some(T));
    assert_eq!(
        again.marketing_opt_out_source.as_deref(),
        Some("user_preferences")
    );
    // Resuming clears it.
    let back = store
        .set_marketing_opt_out(
            &w.tenant.id,
            &wa("15550001"),
            &OptOutChange {
                opted_out: false,
                source: "user_preferences".into(),
                at: T + 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            back.marketing_opt_out_at,
            back.marketing_opt_out_source.clone()
        ),
        (None, None)
    );
    assert_eq!(back.updated_at, T + 10);
    assert_eq!(back, contact(&store, &w.tenant.id, &c.id).await);
    // By BSUID too, and per tenant.
    let u = store
        .set_marketing_opt_out(&w.tenant.id, &user("US.x"), &out(T + 20))
        .await
        .unwrap();
    assert_eq!((u.wa_id, u.user_id.as_deref()), (None, Some("US.x")));
    let theirs = store
        .set_marketing_opt_out(&other.tenant.id, &wa("15550001"), &out(T + 30))
        .await
        .unwrap();
    assert_ne!(theirs.id, c.id);
    assert_eq!(contact(&store, &w.tenant.id, &c.id).await, back);
    // The opted-out contact is the one later messages find.
    let m = enqueue(&store, outbound(&w.channel, "15550001", T + 40)).await;
    assert_eq!(m.contact_id.as_deref(), Some(c.id.as_str()));
}

pub async fn a_stop_keyword_opts_out_and_start_opts_back_in(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut stop = inbound(&w.channel, "15550001", "wamid.STOP", Some("Ana"), T);
    stop.opt_out = Some(OptOutChange {
        opted_out: true,
        source: "keyword".into(),
        at: T,
    });
    let m = receive(&store, &stop).await;
    let c = contact(&store, &w.tenant.id, m.contact_id.as_deref().unwrap()).await;
    assert_eq!(
        (
            c.marketing_opt_out_at,
            c.marketing_opt_out_source.as_deref()
        ),
        (Some(T), Some("keyword"))
    );
    assert!(m.session_id.is_some(), "it is a message like any other");
    let mut start = inbound(&w.channel, "15550001", "wamid.START", None, T + HOUR);
    start.opt_out = Some(OptOutChange {
        opted_out: false,
        source: "keyword".into(),
        at: T + HOUR,
    });
    receive(&store, &start).await;
    let c = contact(&store, &w.tenant.id, &c.id).await;
    assert_eq!(
        (c.marketing_opt_out_at, c.marketing_opt_out_source),
        (None, None)
    );
    assert_eq!(c.updated_at, T + HOUR);
}

pub async fn update_contact_merges_attributes_within_its_tenant(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let m = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.1", Some("Ana"), T),
    )
    .await;
    let id = m.contact_id.clone().unwrap();
    let patch = |p: ContactPatch, at: i64| {
        let store = store.clone();
        let (tenant, id) = (w.tenant.id.clone(), id.clone());
        async move { store.update_contact(&tenant, &id, &p, at).await.unwrap() }
    };

    let c = patch(
        ContactPatch {
            attributes: Some(json!({"tier": "gold", "city": "Lima", "orders": 3})),
            ..Default::default()
        },
        T + 1,
    )
    .await
    .expect("updated");
    assert_eq!(
        c.attributes,
        json!({"tier": "gold", "city": "Lima", "orders": 3})
    );
    assert_eq!(
        (c.profile_name.as_deref(), c.updated_at),
        (Some("Ana"), T + 1)
    );
    // Key by key; null removes.
    let c = patch(
        ContactPatch {
            attributes: Some(json!({"city": "Cusco", "orders": null, "tags": ["a", "b"]})),
            profile_name: Some("Ana María".into()),
            ..Default::default()
        },
        T + 2,
    )
    .await
    .unwrap();
    assert_eq!(
        c.attributes,
        json!({"tier": "gold", "city": "Cusco", "tags": ["a", "b"]})
    );
    assert_eq!(c.profile_name.as_deref(), Some("Ana María"));
    assert_eq!(c, contact(&store, &w.tenant.id, &id).await);
    // Opt-out by the business: source api, the first time kept.
    let c = patch(
        ContactPatch {
            marketing_opt_out: Some(true),
            ..Default::default()
        },
        T + 3,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            c.marketing_opt_out_at,
            c.marketing_opt_out_source.as_deref()
        ),
        (Some(T + 3), Some("api"))
    );
    let c = patch(
        ContactPatch {
            marketing_opt_out: Some(true),
            ..Default::default()
        },
        T + 4,
    )
    .await
    .unwrap();
    assert_eq!(c.marketing_opt_out_at, Some(T + 3));
    assert_eq!(c.updated_at, T + 4);
    let c = patch(
        ContactPatch {
            marketing_opt_out: Some(false),
            ..Default::default()
        },
        T + 5,
    )
    .await
    .unwrap();
    assert_eq!(
        (c.marketing_opt_out_at, c.marketing_opt_out_source),
        (None, None)
    );
    assert_eq!(
        c.attributes,
        json!({"tier": "gold", "city": "Cusco", "tags": ["a", "b"]})
    );

    // Another tenant's contact, or none: None, and nothing changes.
    let before = contact(&store, &w.tenant.id, &id).await;
    let p = ContactPatch {
        profile_name: Some("Mallory".into()),
        attributes: Some(json!({"tier": "none"})),
        marketing_opt_out: Some(true),
    };
    assert_eq!(
        store
            .update_contact(&other.tenant.id, &id, &p, T + 6)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_contact(&w.tenant.id, "con_nope", &p, T + 6)
            .await
            .unwrap(),
        None
    );
    assert_eq!(contact(&store, &w.tenant.id, &id).await, before);
}

pub async fn a_free_entry_point_window_opens_once_per_entry(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;

    // The user came from an ad.
    let mut entry = inbound(&w.channel, "15550001", "wamid.AD", Some("Ana"), T);
    entry.entry_point = true;
    let m = receive(&store, &entry).await;
    let id = m.contact_id.clone().unwrap();
    let window = |store: Arc<dyn Store>| {
        let (tenant, ch) = (w.tenant.id.clone(), w.channel.clone());
        async move {
            store
                .conversation(&tenant, &ch.id, &wa("15550001"))
                .await
                .unwrap()
                .window
                .expect("window")
        }
    };
    let w0 = window(store.clone()).await;
    assert_eq!(
        (
            w0.last_inbound_at,
            w0.entry_point_at,
            w0.fep_opened_at,
            w0.fep_expires_at
        ),
        (Some(T), Some(T), None, None)
    );
    // The business's reply opens 72 hours.
    let mut reply = outbound(&w.channel, "15550001", T + HOUR);
    reply.open_fep_until = Some(T + HOUR + FEP_MS);
    enqueue(&store, reply).await;
    let w1 = window(store.clone()).await;
    assert_eq!(
        (w1.fep_opened_at, w1.fep_expires_at),
        (Some(T + HOUR), Some(T + HOUR + FEP_MS))
    );
    // A second reply for the same entry does not move it.
    let mut again = outbound(&w.channel, "15550001", T + 2 * HOUR);
    again.open_fep_until = Some(T + 2 * HOUR + FEP_MS);
    enqueue(&store, again).await;
    assert_eq!(window(store.clone()).await, w1);
    // A plain message from the user moves only the CSW.
    receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.X", None, T + 3 * HOUR),
    )
    .await;
    let w2 = window(store.clone()).await;
    assert_eq!(
        (w2.last_inbound_at, w2.entry_point_at, w2.fep_opened_at),
        (Some(T + 3 * HOUR), Some(T), Some(T + HOUR))
    );
    // A new entry, days later: the next reply opens a new FEP window.
    let mut entry2 = inbound(&w.channel, "15550001", "wamid.AD2", None, T + 5 * DAY);
    entry2.entry_point = true;
    receive(&store, &entry2).await;
    assert_eq!(
        window(store.clone()).await.entry_point_at,
        Some(T + 5 * DAY)
    );
    let mut reply2 = outbound(&w.channel, "15550001", T + 5 * DAY + MIN);
    reply2.open_fep_until = Some(T + 5 * DAY + MIN + FEP_MS);
    enqueue(&store, reply2).await;
    let w3 = window(store.clone()).await;
    assert_eq!(
        (w3.fep_opened_at, w3.fep_expires_at),
        (Some(T + 5 * DAY + MIN), Some(T + 5 * DAY + MIN + FEP_MS))
    );
    assert_eq!(
        store.contact_windows(&w.tenant.id, &id).await.unwrap(),
        vec![w3]
    );

    // Sends opening FEP windows for several people at once: each gets its own.
    let mut tasks = Vec::new();
    for i in 0..20i64 {
        let to = format!("1555010{}", i % 4);
        let mut entry = inbound(&w.channel, &to, &format!("wamid.E{i}"), None, T + i);
        entry.entry_point = true;
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let _ = store.insert_inbound(&entry).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..20i64 {
        let to = format!("1555010{}", i % 4);
        let mut reply = outbound(&w.channel, &to, T + HOUR + i);
        reply.open_fep_until = Some(T + HOUR + i + FEP_MS);
        let store = store.clone();
        tasks.push(tokio::spawn(async move { enqueue(&store, reply).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for n in 0..4 {
        let conv = store
            .conversation(&w.tenant.id, &w.channel.id, &wa(&format!("1555010{n}")))
            .await
            .unwrap();
        let win = conv.window.expect("window");
        let opened = win.fep_opened_at.expect("a FEP window opened");
        assert!((T + HOUR..T + HOUR + 20).contains(&opened), "{win:?}");
        assert_eq!(win.fep_expires_at, Some(opened + FEP_MS));
    }
}

pub async fn a_reply_context_resolves_to_the_gateway_id(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let sent = enqueue(&store, outbound(&w.channel, "15550001", T)).await;
    accept(&store, &sent, "wamid.OUT", T + 1).await;
    let theirs = enqueue(&store, outbound(&other.channel, "15550001", T)).await;
    accept(&store, &theirs, "wamid.THEIRS", T + 1).await;

    let reply = |wamid: &str, ctx: &str, at| {
        let mut n = inbound(&w.channel, "15550001", wamid, None, at);
        n.context_wamid = Some(ctx.to_string());
        n
    };
    let r1 = receive(&store, &reply("wamid.R1", "wamid.OUT", T + 10)).await;
    assert_eq!(r1.context_message_id.as_deref(), Some(sent.id.as_str()));
    // A reply to a reply: inbound messages are the gateway's too.
    let r2 = receive(&store, &reply("wamid.R2", "wamid.R1", T + 20)).await;
    assert_eq!(r2.context_message_id.as_deref(), Some(r1.id.as_str()));
    // Unknown here (or another tenant's): the wamid as given.
    let r3 = receive(&store, &reply("wamid.R3", "wamid.UNKNOWN", T + 30)).await;
    assert_eq!(r3.context_message_id.as_deref(), Some("wamid.UNKNOWN"));
    let r4 = receive(&store, &reply("wamid.R4", "wamid.THEIRS", T + 40)).await;
    assert_eq!(r4.context_message_id.as_deref(), Some("wamid.THEIRS"));
    // No context: none.
    let r5 = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.R5", None, T + 50),
    )
    .await;
    assert_eq!(r5.context_message_id, None);
}

pub async fn a_pricing_category_names_a_session_of_unknown_kind(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    // A passed-through template: the kind of the session it opens is not known yet.
    let m = enqueue(&store, outbound(&w.channel, "15550001", T)).await;
    let sid = m.session_id.clone().unwrap();
    assert_eq!(session(&store, &w.tenant.id, &sid).await.kind, None);
    accept(&store, &m, "wamid.T1", T + 1).await;
    let priced = |s: MessageStatus, category: &str, at| {
        let mut u = status(&w.channel, "wamid.T1", s, at);
        u.pricing_category = Some(category.to_string());
        u
    };
    store
        .apply_status(&priced(MessageStatus::Sent, "marketing", T + 2))
        .await
        .unwrap();
    let s = session(&store, &w.tenant.id, &sid).await;
    assert_eq!(s.kind.as_deref(), Some("marketing"));
    // Once known it stays, whatever later statuses say.
    store
        .apply_status(&priced(MessageStatus::Delivered, "utility", T + 3))
        .await
        .unwrap();
    assert_eq!(session(&store, &w.tenant.id, &sid).await, s);
    // A session whose kind is known from the start keeps it.
    let r = receive(&store, &inbound(&w.channel, "15550002", "wamid.I", None, T)).await;
    let out = enqueue(&store, outbound(&w.channel, "15550002", T + 10)).await;
    assert_eq!(out.session_id, r.session_id);
    accept(&store, &out, "wamid.T2", T + 11).await;
    let mut u = status(&w.channel, "wamid.T2", MessageStatus::Sent, T + 12);
    u.pricing_category = Some("utility".into());
    store.apply_status(&u).await.unwrap();
    assert_eq!(
        session(&store, &w.tenant.id, r.session_id.as_deref().unwrap())
            .await
            .kind
            .as_deref(),
        Some("service")
    );
}

pub async fn a_duplicate_inbound_changes_nothing(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut first = inbound(&w.channel, "15550001", "wamid.1", Some("Ana"), T);
    first.entry_point = true;
    let m = receive(&store, &first).await;
    let id = m.contact_id.clone().unwrap();
    let snapshot = |store: Arc<dyn Store>| {
        let tenant = w.tenant.id.clone();
        let id = id.clone();
        async move {
            (
                store
                    .list_contacts(&tenant, &ContactFilter::default(), &page(100, None))
                    .await
                    .unwrap(),
                store
                    .list_sessions(&tenant, &SessionFilter::default(), &page(100, None))
                    .await
                    .unwrap(),
                store.contact_windows(&tenant, &id).await.unwrap(),
                store.count_messages(&tenant).await.unwrap(),
            )
        }
    };
    let before = snapshot(store.clone()).await;

    // Meta delivers it again, days later, under a new gateway id, with everything different.
    let mut dup = inbound(
        &w.channel,
        "15550001",
        "wamid.1",
        Some("Mallory"),
        T + 3 * DAY,
    );
    dup.message.id = new_id_at(prefix::MESSAGE, T + 3 * DAY);
    dup.also = Some(user("US.x"));
    dup.username = Some("mallory".into());
    dup.opt_out = Some(OptOutChange {
        opted_out: true,
        source: "keyword".into(),
        at: T + 3 * DAY,
    });
    dup.changed_number = Some("15550009".into());
    dup.context_wamid = Some("wamid.1".into());
    assert!(!store.insert_inbound(&dup).await.unwrap());
    assert!(!store.insert_inbound(&first).await.unwrap());
    // Even as someone unknown: no contact is created.
    let mut stranger = inbound(&w.channel, "15550002", "wamid.1", Some("Eve"), T + 3 * DAY);
    stranger.message.id = new_id_at(prefix::MESSAGE, T + 3 * DAY);
    assert!(!store.insert_inbound(&stranger).await.unwrap());
    assert_eq!(snapshot(store.clone()).await, before);
    assert_eq!(message(&store, &w.tenant.id, "wamid.1").await, m);
    assert_eq!(store.next_session_expiry().await.unwrap(), Some(T + CSW_MS));
}

pub async fn contacts_list_by_filter_and_page(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;

    // Oldest first: each created after the previous.
    let ana = receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.1", Some("Ana López"), T),
    )
    .await;
    let bob = enqueue(&store, outbound(&w.channel, "15550002", T + 1)).await;
    let anabel = receive(
        &store,
        &inbound(&w.channel, "15550003", "wamid.3", Some("ANAbel"), T + 2),
    )
    .await;
    let promo = receive(
        &store,
        &inbound(&w.channel, "15550004", "wamid.4", Some("50%_off"), T + 3),
    )
    .await;
    let bsuid = receive(&store, &from_user(&w.channel, "US.zed", "wamid.5", T + 4)).await;
    let opted = store
        .set_marketing_opt_out(
            &w.tenant.id,
            &wa("15550006"),
            &OptOutChange {
                opted_out: true,
                source: "user_preferences".into(),
                at: T + 5,
            },
        )
        .await
        .unwrap();
    receive(
        &store,
        &inbound(&other.channel, "15550001", "wamid.O", Some("Ana"), T),
    )
    .await;
    let ids: Vec<String> = [&ana, &bob, &anabel, &promo, &bsuid]
        .iter()
        .map(|m| m.contact_id.clone().unwrap())
        .chain([opted.id.clone()])
        .collect();
    let newest_first = |picks: &[usize]| {
        let mut v: Vec<String> = picks.iter().map(|&i| ids[i].clone()).collect();
        v.sort();
        v.reverse();
        v
    };
    let list = |f: ContactFilter| {
        let store = store.clone();
        let tenant = w.tenant.id.clone();
        async move {
            contacts(&store, &tenant, f)
                .await
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(
        list(ContactFilter::default()).await,
        newest_first(&[0, 1, 2, 3, 4, 5])
    );
    assert_eq!(
        list(ContactFilter {
            wa_id: Some("15550002".into()),
            ..Default::default()
        })
        .await,
        newest_first(&[1])
    );
    assert_eq!(
        list(ContactFilter {
            user_id: Some("US.zed".into()),
            ..Default::default()
        })
        .await,
        newest_first(&[4])
    );
    assert!(
        list(ContactFilter {
            wa_id: Some("1555000".into()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "identifiers match exactly"
    );
    // Names: a substring, ignoring ASCII case.
    assert_eq!(
        list(ContactFilter {
            name: Some("ana".into()),
            ..Default::default()
        })
        .await,
        newest_first(&[0, 2])
    );
    assert_eq!(
        list(ContactFilter {
            name: Some("LÓPEZ".to_lowercase()),
            ..Default::default()
        })
        .await,
        newest_first(&[0])
    );
    assert_eq!(
        list(ContactFilter {
            name: Some("%".into()),
            ..Default::default()
        })
        .await,
        newest_first(&[3]),
        "% is a plain character"
    );
    assert_eq!(
        list(ContactFilter {
            name: Some("_".into()),
            ..Default::default()
        })
        .await,
        newest_first(&[3])
    );
    assert_eq!(
        list(ContactFilter {
            opted_out: Some(true),
            ..Default::default()
        })
        .await,
        newest_first(&[5])
    );
    assert_eq!(
        list(ContactFilter {
            opted_out: Some(false),
            name: Some("A".into()),
            ..Default::default()
        })
        .await,
        newest_first(&[0, 2])
    );
    assert!(
        list(ContactFilter {
            opted_out: Some(true),
            name: Some("a".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // Pages of four, following the cursor: everything once, in order.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let got: Vec<String> = store
            .list_contacts(
                &w.tenant.id,
                &ContactFilter::default(),
                &page(4, after.as_deref()),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(got.len() <= 4);
        if got.is_empty() {
            break;
        }
        after = got.last().cloned();
        paged.extend(got);
    }
    assert_eq!(paged, newest_first(&[0, 1, 2, 3, 4, 5]));
    let filtered_page = store
        .list_contacts(
            &w.tenant.id,
            &ContactFilter {
                name: Some("ana".into()),
                ..Default::default()
            },
            &page(1, Some(&ids[2])),
        )
        .await
        .unwrap();
    assert_eq!(
        filtered_page.into_iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[0].clone()]
    );
}

pub async fn sessions_list_by_filter_and_page(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;
    let other = world(&store, "Globex").await;

    // Six sessions, oldest first: (channel, who, opened at); the first two are closed.
    let plan: [(&Channel, &str, i64); 6] = [
        (&w.channel, "15550001", T),
        (&ch2, "15550001", T + 10),
        (&w.channel, "15550002", T + 20),
        (&ch2, "15550003", T + 30),
        (&w.channel, "15550003", T + 40),
        (&w.channel, "15550001", T + 50),
    ];
    let mut all: Vec<Session> = Vec::new();
    for (i, (ch, to, at)) in plan.iter().enumerate() {
        let m = if i % 2 == 0 {
            receive(&store, &inbound(ch, to, &format!("wamid.{i}"), None, *at)).await
        } else {
            enqueue(&store, outbound(ch, to, *at)).await
        };
        let sid = m.session_id.clone().unwrap();
        if i == 0 {
            store
                .close_session(&w.tenant.id, &sid, T + 45)
                .await
                .unwrap();
        }
        if i == 1 {
            store
                .close_session(&w.tenant.id, &sid, T + 11)
                .await
                .unwrap();
        }
        all.push(session(&store, &w.tenant.id, &sid).await);
    }
    receive(
        &store,
        &inbound(&other.channel, "15550001", "wamid.O", None, T),
    )
    .await;
    let ana = all[0].contact_id.clone();
    assert_eq!(all[5].contact_id, ana);
    assert_ne!(all[5].id, all[0].id);

    let pick = |p: &dyn Fn(usize, &Session) -> bool| {
        let mut v: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(i, s)| p(*i, s))
            .map(|(_, s)| s.id.clone())
            .collect();
        v.reverse();
        v
    };
    let list = |f: SessionFilter| {
        let store = store.clone();
        let tenant = w.tenant.id.clone();
        async move {
            sessions(&store, &tenant, f)
                .await
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(SessionFilter::default()).await, pick(&|_, _| true));
    assert_eq!(
        sessions(&store, &w.tenant.id, SessionFilter::default()).await[0],
        all[5],
        "whole rows"
    );
    assert_eq!(
        list(SessionFilter {
            channel_id: Some(ch2.id.clone()),
            ..Default::default()
        })
        .await,
        pick(&|_, s| s.channel_id == ch2.id)
    );
    assert_eq!(
        list(SessionFilter {
            contact_id: Some(ana.clone()),
            ..Default::default()
        })
        .await,
        pick(&|i, _| [0, 1, 5].contains(&i))
    );
    assert_eq!(
        list(SessionFilter {
            open: Some(true),
            ..Default::default()
        })
        .await,
        pick(&|i, _| i >= 2)
    );
    assert_eq!(
        list(SessionFilter {
            open: Some(false),
            ..Default::default()
        })
        .await,
        pick(&|i, _| i < 2)
    );
    assert_eq!(
        list(SessionFilter {
            opened_from: Some(T + 10),
            opened_to: Some(T + 40),
            ..Default::default()
        })
        .await,
        pick(&|i, _| (1..4).contains(&i))
    );
    assert_eq!(
        list(SessionFilter {
            channel_id: Some(w.channel.id.clone()),
            contact_id: Some(ana.clone()),
            open: Some(true),
            opened_from: Some(T),
            ..Default::default()
        })
        .await,
        pick(&|i, _| i == 5)
    );
    assert!(
        list(SessionFilter {
            channel_id: Some(other.channel.id.clone()),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let got: Vec<String> = store
            .list_sessions(
                &w.tenant.id,
                &SessionFilter::default(),
                &page(4, after.as_deref()),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= 4);
        after = got.last().cloned();
        paged.extend(got);
    }
    assert_eq!(paged, pick(&|_, _| true));
    let open_page = store
        .list_sessions(
            &w.tenant.id,
            &SessionFilter {
                open: Some(true),
                ..Default::default()
            },
            &page(2, Some(&all[4].id)),
        )
        .await
        .unwrap();
    assert_eq!(
        open_page.into_iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![all[3].id.clone(), all[2].id.clone()]
    );
}

pub async fn concurrent_conversation_reads_answer_each_caller(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;
    let other = world(&store, "Globex").await;
    // Someone who wrote on the first channel; someone written to on the second; someone known
    // only by BSUID; someone of another tenant.
    receive(
        &store,
        &inbound(&w.channel, "15550001", "wamid.1", Some("Ana"), T),
    )
    .await;
    enqueue(&store, outbound(&ch2, "15550002", T)).await;
    receive(&store, &from_user(&w.channel, "US.cy", "wamid.2", T)).await;
    receive(
        &store,
        &inbound(&other.channel, "15550004", "wamid.3", None, T),
    )
    .await;

    let cases: Vec<(String, String, ContactKey)> = [
        (&w.tenant.id, &w.channel.id, wa("15550001")),
        (&w.tenant.id, &ch2.id, wa("15550001")),
        (&w.tenant.id, &w.channel.id, wa("15550002")),
        (&w.tenant.id, &ch2.id, wa("15550002")),
        (&w.tenant.id, &w.channel.id, user("US.cy")),
        (&w.tenant.id, &w.channel.id, wa("15559999")),
        (&w.tenant.id, &w.channel.id, user("US.nobody")),
        (&w.tenant.id, &other.channel.id, wa("15550004")),
        (&other.tenant.id, &other.channel.id, wa("15550004")),
        (&other.tenant.id, &other.channel.id, wa("15550001")),
    ]
    .into_iter()
    .map(|(t, ch, k)| (t.clone(), ch.clone(), k))
    .collect();
    // Each alone first.
    let mut expected = Vec::new();
    for (t, ch, k) in &cases {
        expected.push(store.conversation(t, ch, k).await.unwrap());
    }
    let known = |i: usize| expected[i].contact.is_some();
    assert!(known(0) && known(1) && known(2) && known(3) && known(4) && known(8));
    assert!(!known(5) && !known(6) && !known(7) && !known(9));
    assert!(expected[0].window.is_some() && expected[0].open_session.is_some());
    assert!(expected[1].window.is_none() && expected[1].open_session.is_none());
    assert!(expected[2].open_session.is_none() && expected[3].open_session.is_some());
    assert!(expected[4].open_session.is_some());
    assert_eq!(
        expected[8].contact.as_ref().map(|c| c.tenant_id.as_str()),
        Some(other.tenant.id.as_str())
    );
    // Then all at once, many times over: each caller gets its own answer.
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (t, ch, k) = cases[i % cases.len()].clone();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (i, store.conversation(&t, &ch, &k).await.unwrap())
        }));
    }
    for task in tasks {
        let (i, got) = task.await.unwrap();
        assert_eq!(got, expected[i % cases.len()], "read {i}");
    }
}

fn free_form() -> openbsp_store::policy::SendCheck {
    openbsp_store::policy::SendCheck {
        kind: SendKind::FreeForm,
        session_kind: Some("service".into()),
        opened_by: "message".into(),
        reach: None,
    }
}

fn template(marketing: bool) -> openbsp_store::policy::SendCheck {
    openbsp_store::policy::SendCheck {
        kind: SendKind::Template { marketing },
        session_kind: Some(if marketing { "marketing" } else { "utility" }.into()),
        opened_by: "session_start".into(),
        reach: None,
    }
}

pub async fn enqueue_checked_answers_retries_then_applies_the_policy(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let checked = |new: NewOutbound, check: openbsp_store::policy::SendCheck| {
        let store = store.clone();
        async move { store.enqueue_checked(new, &check).await.unwrap() }
    };

    // Free-form to someone who never wrote: refused, and nothing stored, not even a contact.
    assert_eq!(
        checked(outbound(&w.channel, "15550001", T), free_form()).await,
        Err(Refusal::WindowClosed { closed_at: None })
    );
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 0);
    assert_eq!(
        store
            .find_contact(&w.tenant.id, &wa("15550001"))
            .await
            .unwrap(),
        None
    );
    // A template may open the conversation: a session as the policy plans it.
    let m = match checked(outbound(&w.channel, "15550001", T), template(false)).await {
        Ok(EnqueueOutcome::Created { message: m, .. }) => m,
        other => panic!("expected Created, got {other:?}"),
    };
    let s = session(&store, &w.tenant.id, m.session_id.as_deref().unwrap()).await;
    assert_eq!(
        (
            s.kind.as_deref(),
            s.opened_by.as_str(),
            s.opened_at,
            s.expires_at
        ),
        (Some("utility"), "session_start", T, T + CSW_MS)
    );

    // The user writes (from an ad): free-form is allowed, joins the session, opens the FEP.
    let mut entry = inbound(&w.channel, "15550001", "wamid.1", None, T + HOUR);
    entry.entry_point = true;
    receive(&store, &entry).await;
    let reply = match checked(
        keyed(&w.channel, "15550001", T + 2 * HOUR, "k1", "h1"),
        free_form(),
    )
    .await
    {
        Ok(EnqueueOutcome::Created { message: m, .. }) => m,
        other => panic!("expected Created, got {other:?}"),
    };
    assert_eq!(reply.session_id, m.session_id);
    let window = store
        .conversation(&w.tenant.id, &w.channel.id, &wa("15550001"))
        .await
        .unwrap()
        .window
        .unwrap();
    assert_eq!(
        (window.fep_opened_at, window.fep_expires_at),
        (Some(T + 2 * HOUR), Some(T + 2 * HOUR + FEP_MS))
    );
    // A day later the window is closed, but a retry of the send is answered before the policy
    // is asked: the first message (or the key's misuse), nothing new.
    let later = T + HOUR + CSW_MS + MIN;
    assert_eq!(
        checked(
            keyed(&w.channel, "15550001", later, "k1", "h1"),
            free_form()
        )
        .await,
        Ok(EnqueueOutcome::Existing(reply.clone()))
    );
    assert_eq!(
        checked(
            keyed(&w.channel, "15550001", later, "k1", "h2"),
            free_form()
        )
        .await,
        Ok(EnqueueOutcome::KeyReused(reply.clone()))
    );
    assert_eq!(
        checked(
            keyed(&w.channel, "15550001", later, "k2", "h1"),
            free_form()
        )
        .await,
        Err(Refusal::WindowClosed {
            closed_at: Some(T + HOUR + CSW_MS)
        })
    );
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 3);

    // A marketing template to someone who opted out is refused; another kind is not.
    let change = OptOutChange {
        opted_out: true,
        source: "user_preferences".into(),
        at: T + 5,
    };
    store
        .set_marketing_opt_out(&w.tenant.id, &wa("15550002"), &change)
        .await
        .unwrap();
    assert_eq!(
        checked(outbound(&w.channel, "15550002", later), template(true)).await,
        Err(Refusal::OptedOut { since: T + 5 })
    );
    assert!(matches!(
        checked(outbound(&w.channel, "15550002", later), template(false)).await,
        Ok(EnqueueOutcome::Created { .. })
    ));

    // Many at once (batched together), some allowed and some refused: each as if alone; two
    // requests with one key in the same batch, the first refused, the second allowed.
    receive(
        &store,
        &inbound(&w.channel, "15550003", "wamid.3", None, later),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..60i64 {
        let (to, check) = if i % 2 == 0 {
            ("15550003", free_form()) // wrote a minute ago
        } else {
            ("15550004", free_form()) // never wrote
        };
        let new = outbound(&w.channel, to, later + 10 + i);
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (i, store.enqueue_checked(new, &check).await.unwrap())
        }));
    }
    for t in tasks {
        let (i, out) = t.await.unwrap();
        if i % 2 == 0 {
            assert!(
                matches!(out, Ok(EnqueueOutcome::Created { .. })),
                "{i}: {out:?}"
            );
        } else {
            assert_eq!(out, Err(Refusal::WindowClosed { closed_at: None }), "{i}");
        }
    }
    assert_eq!(
        store
            .find_contact(&w.tenant.id, &wa("15550004"))
            .await
            .unwrap(),
        None
    );
    let (a, b) = tokio::join!(
        checked(
            keyed(&w.channel, "15550004", later + 100, "k9", "x"),
            free_form()
        ),
        checked(
            keyed(&w.channel, "15550004", later + 101, "k9", "y"),
            template(false)
        ),
    );
    // A refused request stores nothing, so the other is judged alone (unless it was stored
    // before the first was looked at: then the first finds its key).
    match (&a, &b) {
        (Err(Refusal::WindowClosed { .. }), Ok(EnqueueOutcome::Created { .. })) => {}
        (
            Ok(EnqueueOutcome::KeyReused(first)),
            Ok(EnqueueOutcome::Created {
                message: second, ..
            }),
        ) => {
            assert_eq!(first, second)
        }
        other => panic!("{other:?}"),
    }
}
