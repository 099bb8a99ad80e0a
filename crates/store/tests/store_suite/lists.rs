//! The list filters an index now bounds (issue 16, finding 4): time windows (messages,
//! sessions, events) paged in (time, id) order, newest first, even where the ids' order is not
//! the times'; a contact's name by a substring (trigram indexes); a campaign's recipients by a
//! computed status, stored and kept by triggers. Each page walk is checked against the rows
//! read whole and sorted here: nothing lost, nothing twice, in the documented order.

use std::sync::Arc;

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::json;

use crate::fixtures::*;

/// The windows every list is walked under: both bounds, one, each; one that holds nothing.
const WINDOWS: [(Option<i64>, Option<i64>); 5] = [
    (Some(50_100), Some(50_400)),
    (Some(50_300), None),
    (None, Some(50_200)),
    (Some(50_000), Some(50_001)),
    (Some(0), Some(1)),
];

fn inside(t: i64, (from, to): (Option<i64>, Option<i64>)) -> bool {
    from.is_none_or(|f| t >= f) && to.is_none_or(|u| t < u)
}

/// Every page of `list` (a page of `n` after a cursor), concatenated; checks each is full but
/// the last.
async fn walk<T, F, Fut>(n: u32, cursor: impl Fn(&T) -> String, list: F) -> Vec<T>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let got = list(Page { limit: n, after }).await;
        assert!(got.len() <= n as usize);
        let done = got.len() < n as usize;
        after = got.last().map(&cursor);
        out.extend(got);
        if done || after.is_none() {
            return out;
        }
    }
}

pub async fn windows_page_in_time_order_across_equal_times(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    // Ids in creation order, times out of it and often equal (six values for 24 messages): a
    // clock that stepped back, or times that are not the gateway's.
    for i in 0..24i64 {
        let mut new = outbound(&w.channel, &format!("155510{:02}", i % 8), 10_000 + i * 10);
        let at = 50_000 + ((i * 7) % 6) * 100;
        new.message.created_at = at;
        new.message.updated_at = at;
        enqueue(&store, new).await;
    }
    let mut foreign = outbound(&other.channel, "15551000", 10_000);
    foreign.message.created_at = 50_100;
    enqueue(&store, foreign).await;

    let t = w.tenant.id.clone();
    let all_messages = store
        .list_messages(&t, &MessageFilter::default(), &page(100))
        .await
        .unwrap();
    assert_eq!(all_messages.len(), 24);
    let all_sessions = store
        .list_sessions(&t, &SessionFilter::default(), &page(100))
        .await
        .unwrap();
    assert_eq!(all_sessions.len(), 8);
    let all_events = walk(
        7,
        |e: &Event| e.id.clone(),
        |p| {
            let store = store.clone();
            let t = t.clone();
            async move {
                let f = EventFilter {
                    after: p.after,
                    limit: p.limit,
                    ..Default::default()
                };
                store.list_events(&t, &f).await.unwrap()
            }
        },
    )
    .await;
    assert!(all_events.len() >= 24 + 8 + 8, "{}", all_events.len());

    for window in WINDOWS {
        let (from, to) = window;
        for n in [1, 3, 100] {
            // Messages: alone, and with a filter that claims another index (a recipient's
            // messages are sorted by time) or is checked on the window's rows (a status).
            let filters = [
                MessageFilter::default(),
                MessageFilter {
                    recipient: Some("15551003".into()),
                    ..Default::default()
                },
                MessageFilter {
                    status: Some(MessageStatus::Queued),
                    ..Default::default()
                },
                MessageFilter {
                    channel_id: Some(w.channel.id.clone()),
                    ..Default::default()
                },
            ];
            for f in filters {
                let f = MessageFilter {
                    created_from: from,
                    created_to: to,
                    ..f
                };
                let mut want: Vec<&Message> = all_messages
                    .iter()
                    .filter(|m| inside(m.created_at, window))
                    .filter(|m| f.recipient.as_ref().is_none_or(|r| &m.recipient == r))
                    .collect();
                want.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
                let got = walked_ids(
                    n,
                    |m: &Message| m.id.clone(),
                    |p| {
                        let (store, t, f) = (store.clone(), t.clone(), f.clone());
                        async move { store.list_messages(&t, &f, &p).await.unwrap() }
                    },
                )
                .await;
                let want: Vec<&String> = want.iter().map(|m| &m.id).collect();
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    want,
                    "messages {window:?} {f:?} by {n}"
                );
            }

            // Sessions.
            let f = SessionFilter {
                opened_from: from,
                opened_to: to,
                ..Default::default()
            };
            let mut want: Vec<&Session> = all_sessions
                .iter()
                .filter(|s| inside(s.opened_at, window))
                .collect();
            want.sort_by(|a, b| (b.opened_at, &b.id).cmp(&(a.opened_at, &a.id)));
            let got = walked_ids(
                n,
                |s: &Session| s.id.clone(),
                |p| {
                    let (store, t, f) = (store.clone(), t.clone(), f.clone());
                    async move { store.list_sessions(&t, &f, &p).await.unwrap() }
                },
            )
            .await;
            let want: Vec<&String> = want.iter().map(|s| &s.id).collect();
            assert_eq!(
                got.iter().collect::<Vec<_>>(),
                want,
                "sessions {window:?} by {n}"
            );

            // Events: all types, and some.
            for types in [vec![], vec!["message.*".to_string()]] {
                let mut want: Vec<&Event> = all_events
                    .iter()
                    .filter(|e| inside(e.created_at, window))
                    .filter(|e| types.is_empty() || e.kind.starts_with("message."))
                    .collect();
                want.sort_by(|a, b| {
                    (b.created_at, b.cursor.seq).cmp(&(a.created_at, a.cursor.seq))
                });
                let got = walked_ids(
                    n,
                    |e: &Event| e.id.clone(),
                    |p| {
                        let (store, t) = (store.clone(), t.clone());
                        let f = EventFilter {
                            types: types.clone(),
                            since: from,
                            until: to,
                            after: p.after,
                            limit: p.limit,
                        };
                        async move { store.list_events(&t, &f).await.unwrap() }
                    },
                )
                .await;
                let want: Vec<&String> = want.iter().map(|e| &e.id).collect();
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    want,
                    "events {window:?} {types:?} by {n}"
                );
            }
        }
    }

    // A cursor that names nothing of the tenant (another's message): nothing older.
    let other_msg = store
        .list_messages(&other.tenant.id, &MessageFilter::default(), &page(1))
        .await
        .unwrap();
    let f = MessageFilter {
        created_from: Some(0),
        ..Default::default()
    };
    let p = Page {
        limit: 10,
        after: Some(other_msg[0].id.clone()),
    };
    assert!(store.list_messages(&t, &f, &p).await.unwrap().is_empty());
}

/// The ids of every page of `list` ([`walk`]), in order.
async fn walked_ids<T, F, Fut>(n: u32, id: impl Fn(&T) -> String, list: F) -> Vec<String>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    walk(n, &id, list).await.iter().map(&id).collect()
}

/// Every page of `tenant`'s contacts whose name holds `term`, `n` a page ([`walk`]).
async fn search_pages(store: &Arc<dyn Store>, tenant: &str, term: &str, n: u32) -> Vec<Contact> {
    let f = ContactFilter {
        name: Some(term.to_string()),
        ..Default::default()
    };
    walk(
        n,
        |c: &Contact| c.id.clone(),
        |p| {
            let f = f.clone();
            async move { store.list_contacts(tenant, &f, &p).await.unwrap() }
        },
    )
    .await
}

fn page(limit: u32) -> Page {
    Page { limit, after: None }
}

pub async fn contacts_are_found_by_a_substring_of_their_name(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    let names = [
        Some("Ana Souza"),
        Some("ANAstasia"),
        Some("Joana"),
        Some("Bob"),
        Some("Zoë Ana"),
        Some("100% Ana_b"),
        Some("Xanab"),
        Some("quote\"ana"),
        None,
        Some("Bo"),
    ];
    for (i, name) in names.iter().enumerate() {
        let key = ContactKey::WaId(format!("1555200{i:04}"));
        store
            .upsert_contact(&w.tenant.id, &key, None, *name, 1_000 + i as i64)
            .await
            .unwrap();
    }
    store
        .upsert_contact(
            &other.tenant.id,
            &ContactKey::WaId("15552009999".into()),
            None,
            Some("Ana Other"),
            1_000,
        )
        .await
        .unwrap();

    let t = w.tenant.id.clone();
    let search = |term: &str, n: u32| {
        let (store, t, term) = (store.clone(), t.clone(), term.to_string());
        async move {
            search_pages(&store, &t, &term, n)
                .await
                .into_iter()
                .map(|c| c.profile_name.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    // Newest first; ASCII letters in either case.
    let ana = vec![
        "quote\"ana",
        "Xanab",
        "100% Ana_b",
        "Zoë Ana",
        "Joana",
        "ANAstasia",
        "Ana Souza",
    ];
    assert_eq!(search("ana", 2).await, ana);
    assert_eq!(search("ana", 7).await, ana);
    assert_eq!(search("aNA", 100).await, ana);
    // `%`, `_` and `"` are plain characters; other letters match exactly.
    assert_eq!(search("% an", 1).await, vec!["100% Ana_b"]);
    assert_eq!(search("a_b", 1).await, vec!["100% Ana_b"]);
    assert_eq!(search("\"ana", 1).await, vec!["quote\"ana"]);
    assert_eq!(search("zoë", 1).await, vec!["Zoë Ana"]);
    assert!(search("nobody", 5).await.is_empty());
    // Shorter than a trigram: still answered, on the rows.
    assert_eq!(search("bo", 5).await, vec!["Bo", "Bob"]);

    // A renamed contact is found by its new name only.
    let all = store
        .list_contacts(&t, &ContactFilter::default(), &page(100))
        .await
        .unwrap();
    let by_name = |n: &str| {
        all.iter()
            .find(|c| c.profile_name.as_deref() == Some(n))
            .unwrap()
            .id
            .clone()
    };
    for (old, new) in [("Bob", "Bobana"), ("Joana", "Jo")] {
        let patch = ContactPatch {
            profile_name: Some(new.into()),
            ..Default::default()
        };
        store
            .update_contact(&t, &by_name(old), &patch, 2_000)
            .await
            .unwrap();
    }
    assert_eq!(
        search("ana", 4).await,
        vec![
            "quote\"ana",
            "Xanab",
            "100% Ana_b",
            "Zoë Ana",
            "Bobana",
            "ANAstasia",
            "Ana Souza"
        ]
    );
    assert!(search("joa", 5).await.is_empty());
}

/// A tenant with more contacts than a name search walks before it looks the term up (SQLite
/// walks the newest ten pages' worth, at least 100): terms most names hold, some hold, few hold
/// and none hold, paged by 1, 3, 20 and 100, each page full but the last, and together exactly
/// the contacts whose names hold the term, newest first (those of the walk, then those below
/// it). Another tenant's names holding the terms are never found.
pub async fn a_name_search_pages_on_past_the_newest_contacts(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let other = world(&store, "Globex").await;
    for i in 0..420_i64 {
        let name = match i {
            _ if i % 17 == 0 => None,
            _ if i % 45 == 7 => Some(format!("Rare {i}")),
            _ => Some(format!("Common {i}")),
        };
        let key = ContactKey::WaId(format!("1555300{i:04}"));
        store
            .upsert_contact(&w.tenant.id, &key, None, name.as_deref(), 1_000 + i)
            .await
            .unwrap();
        if i % 50 == 0 {
            let key = ContactKey::WaId(format!("1555400{i:04}"));
            let name = format!("Rare Common {i}");
            store
                .upsert_contact(&other.tenant.id, &key, None, Some(&name), 1_000 + i)
                .await
                .unwrap();
        }
    }
    let t = w.tenant.id.clone();
    let all = store
        .list_contacts(&t, &ContactFilter::default(), &page(1_000))
        .await
        .unwrap();
    assert_eq!(all.len(), 420);
    for term in ["common", "RARE", "mon 1", "on 41", "nobody"] {
        let expected: Vec<String> = all
            .iter()
            .filter(|c| {
                c.profile_name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&term.to_lowercase()))
            })
            .map(|c| c.id.clone())
            .collect();
        for n in [1, 3, 20, 100] {
            let got: Vec<String> = search_pages(&store, &t, term, n)
                .await
                .into_iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(got, expected, "{term:?} by {n}");
        }
    }
}

pub async fn recipients_are_listed_by_their_computed_status(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    const T: i64 = 1_700_000_000_000;
    let c = Campaign {
        spec: json!({"variables": []}),
        columns: vec![],
        ..crate::campaigns::draft(&w, T)
    };
    store.create_campaign(&c, None).await.unwrap();
    // Twelve rows, two skipped at upload.
    let rows = (0..12u64)
        .map(|i| NewRecipient {
            recipient: format!("1555300{i:04}"),
            line: i + 2,
            variables: json!({}),
            skipped: (i % 6 == 5).then(|| json!({"code": "opted_out"})),
        })
        .collect();
    let upload = new_id_at(prefix::UPLOAD, T);
    store
        .begin_upload(&w.tenant.id, &c.id, &upload, T, T + 30_000)
        .await
        .unwrap();
    store
        .add_recipients(&w.tenant.id, &c.id, &upload, rows, T)
        .await
        .unwrap();
    store
        .end_upload(&w.tenant.id, &c.id, &upload, true)
        .await
        .unwrap();
    store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Start, T)
        .await
        .unwrap();

    // Eight fed (two stay pending without a message); the sender takes them.
    let pending = store.pending_recipients(&c.id, 8).await.unwrap();
    let items = pending
        .iter()
        .map(|r| {
            let mut new = outbound(&w.channel, &r.recipient, T + 1);
            new.message.campaign_id = Some(c.id.clone());
            new.priority = priority::BULK;
            FeedItem::Send {
                seq: r.seq,
                new: Box::new(new),
                check: openbsp_store::policy::SendCheck {
                    kind: openbsp_domain::windows::SendKind::Template { marketing: true },
                    session_kind: Some("marketing".into()),
                    opened_by: "campaign".into(),
                    reach: None,
                },
            }
        })
        .collect();
    store.feed_campaign(&c.id, items, T + 1).await.unwrap();
    let claimed = claim(&store, &w.channel.id, T + 10, 100).await;
    assert_eq!(claimed.len(), 8);
    // Six accepted, one refused, one left queued.
    let results: Vec<SendResult> = claimed[..7]
        .iter()
        .enumerate()
        .map(|(i, item)| match i {
            6 => SendResult::Failed {
                message_id: item.message_id.clone(),
                term: item.term,
                error: json!({"code": 131026}),
                at: T + 11,
            },
            _ => SendResult::Accepted {
                message_id: item.message_id.clone(),
                term: item.term,
                wamid: format!("wamid.R{i}"),
                message_status: None,
                at: T + 11,
            },
        })
        .collect();
    store.record_send_results(&results).await.unwrap();
    // Statuses move: two delivered, one of them then read, one failed after it was sent.
    for (i, s) in [
        (0, MessageStatus::Delivered),
        (1, MessageStatus::Delivered),
        (1, MessageStatus::Read),
        (2, MessageStatus::Failed),
    ] {
        store
            .apply_status(&status(&w.channel, &format!("wamid.R{i}"), s, T + 20))
            .await
            .unwrap();
    }
    // One answers.
    let answered = store
        .list_recipients(
            &c.id,
            &RecipientFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.message_id.as_deref() == Some(claimed[3].message_id.as_str()))
        .unwrap();
    let mut answer = inbound(&w.channel, &answered.recipient, "wamid.ans", None, T + 30);
    answer.replies_since = Some(T);
    assert!(store.insert_inbound(&answer).await.unwrap());

    let all = store
        .list_recipients(
            &c.id,
            &RecipientFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 12);
    let mut seen = 0;
    for s in [
        "pending",
        "sent",
        "delivered",
        "read",
        "failed",
        "skipped",
        "replied",
    ] {
        let want: Vec<i64> = all
            .iter()
            .filter(|r| r.status() == s)
            .map(|r| r.seq)
            .collect();
        assert!(!want.is_empty(), "no recipient is {s}: {all:?}");
        seen += want.len();
        for n in [1, 2, 100] {
            let mut got = Vec::new();
            let mut after = None;
            loop {
                let page = store
                    .list_recipients(
                        &c.id,
                        &RecipientFilter {
                            status: Some(s.into()),
                            after,
                            limit: n,
                        },
                    )
                    .await
                    .unwrap();
                assert!(page.iter().all(|r| r.status() == s), "{s}: {page:?}");
                let done = page.len() < n as usize;
                after = page.last().map(|r| r.seq);
                got.extend(page.iter().map(|r| r.seq));
                if done {
                    break;
                }
            }
            assert_eq!(got, want, "{s} by {n}");
        }
    }
    assert_eq!(seen, 12);
}
