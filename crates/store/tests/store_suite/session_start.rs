//! A Session Start's enqueue: the send policy, the contact it names (the identifier it links,
//! the name it gives) and the message commit in one transaction, or nothing does.

use openbsp_domain::windows::{Refusal, SendKind};
use openbsp_store::policy::SendCheck;
use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::events::all_events;
use crate::fixtures::*;

const T: i64 = 1_750_000_000_000;
const USER: &str = "15550007";
const BSUID: &str = "US.13491208655302741918";

fn check(kind: SendKind) -> SendCheck {
    SendCheck {
        kind,
        session_kind: Some("utility".into()),
        opened_by: "session_start".into(),
        reach: None,
    }
}

fn started(channel: &Channel, at: i64, key: &str, name: &str) -> NewOutbound {
    let mut n = keyed(channel, USER, at, key, &format!("hash-{key}"));
    n.profile = Some(ContactProfile {
        also: Some(ContactKey::UserId(BSUID.into())),
        name: Some(name.into()),
    });
    n
}

pub async fn a_session_start_names_its_contact_in_the_enqueues_transaction(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let key = ContactKey::WaId(USER.into());

    // Refused (free-form, the user never wrote): no contact, no session, no event.
    let refused = store
        .enqueue_checked(
            started(&w.channel, T, "k0", "Ada"),
            &check(SendKind::FreeForm),
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(Refusal::WindowClosed { closed_at: None }));
    assert_eq!(store.find_contact(&w.tenant.id, &key).await.unwrap(), None);
    assert_eq!(store.count_messages(&w.tenant.id).await.unwrap(), 0);
    assert!(all_events(&store, &w.tenant.id).await.is_empty());

    // Allowed (a template): the contact is created with its name and its BSUID linked, in the
    // same transaction as the message, its session and its outbox row, with their events.
    let template = check(SendKind::Template { marketing: false });
    let m = match store
        .enqueue_checked(started(&w.channel, T, "k1", "Ada"), &template)
        .await
        .unwrap()
    {
        Ok(EnqueueOutcome::Created {
            message: m,
            opened_session: true,
        }) => m,
        other => panic!("expected Created, opening its session, got {other:?}"),
    };
    let c = store
        .find_contact(&w.tenant.id, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.contact_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(
        (c.profile_name.as_deref(), c.user_id.as_deref()),
        (Some("Ada"), Some(BSUID))
    );
    let by_bsuid = store
        .find_contact(&w.tenant.id, &ContactKey::UserId(BSUID.into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_bsuid.id, c.id);
    let s = store
        .get_session(&w.tenant.id, m.session_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.opened_by, "session_start");
    let evs = all_events(&store, &w.tenant.id).await;
    let kinds: Vec<&str> = evs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["contact.updated", "session.opened", "message.status"],
        "{evs:#?}"
    );
    assert_eq!(evs[0].1["contact"]["name"], "Ada", "{}", evs[0].1);

    // A retry under the same key is answered with the first message and changes nothing: the
    // contact keeps its name, no event is written.
    match store
        .enqueue_checked(started(&w.channel, T + 1, "k1", "Someone else"), &template)
        .await
        .unwrap()
    {
        Ok(EnqueueOutcome::KeyReused(first)) | Ok(EnqueueOutcome::Existing(first)) => {
            assert_eq!(first.id, m.id)
        }
        other => panic!("expected the first message, got {other:?}"),
    }
    let again = store
        .find_contact(&w.tenant.id, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.profile_name.as_deref(), Some("Ada"));
    assert_eq!(all_events(&store, &w.tenant.id).await.len(), evs.len());

    // A later start joins the open session and renames the contact (one contact.updated).
    let next = match store
        .enqueue_checked(started(&w.channel, T + 2, "k2", "Ada L."), &template)
        .await
        .unwrap()
    {
        Ok(EnqueueOutcome::Created {
            message: n,
            opened_session: false,
        }) => n,
        other => panic!("expected Created in the open session, got {other:?}"),
    };
    assert_eq!(next.session_id, m.session_id);
    let renamed = store
        .find_contact(&w.tenant.id, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.profile_name.as_deref(), Some("Ada L."));
    let evs = all_events(&store, &w.tenant.id).await;
    let kinds: Vec<&str> = evs[3..].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["contact.updated", "message.status"], "{evs:#?}");
    assert_eq!(
        evs[3].1["changes"],
        serde_json::json!(["name"]),
        "{}",
        evs[3].1
    );
}

/// Of concurrent first sends to a new contact, exactly one opens the session (the store says
/// which, from inside the enqueue's transaction); the others join it.
pub async fn of_concurrent_first_sends_exactly_one_opens_the_session(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let template = check(SendKind::Template { marketing: false });
    let runs = (0..8).map(|i| {
        let store = store.clone();
        let n = started(&w.channel, T + i, &format!("c{i}"), "Ada");
        let template = template.clone();
        tokio::spawn(async move { store.enqueue_checked(n, &template).await })
    });
    let mut opened = 0;
    let mut sessions = std::collections::BTreeSet::new();
    for run in runs.collect::<Vec<_>>() {
        match run.await.unwrap().unwrap() {
            Ok(EnqueueOutcome::Created {
                message,
                opened_session,
            }) => {
                opened += usize::from(opened_session);
                sessions.insert(message.session_id.unwrap());
            }
            other => panic!("expected Created, got {other:?}"),
        }
    }
    assert_eq!(opened, 1, "exactly one send opened the session");
    assert_eq!(sessions.len(), 1, "all joined one session: {sessions:?}");
    let opened_events = all_events(&store, &w.tenant.id)
        .await
        .into_iter()
        .filter(|(k, _)| k == "session.opened")
        .count();
    assert_eq!(opened_events, 1);
}
