//! Campaigns: filled, started, fed to the sender at most once per recipient (a second feed, a
//! concurrent one, a feed after a pause: nothing twice), held and released by pause and
//! resume, and counted from their recipients and messages.

use std::sync::Arc;

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::SendKind;
use openbsp_store::policy::SendCheck;
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::{Value, json};

use crate::fixtures::*;

const T: i64 = 1_700_000_000_000;

/// A draft campaign of `w`'s channel made at `at`, one variable (`first_name`).
pub fn draft(w: &World, at: i64) -> Campaign {
    Campaign {
        id: new_id_at(prefix::CAMPAIGN, at),
        tenant_id: w.tenant.id.clone(),
        channel_id: w.channel.id.clone(),
        name: "spring".into(),
        template_id: "tpl_x".into(),
        template_name: "spring_sale".into(),
        language: "en_US".into(),
        category: Some("marketing".into()),
        spec: json!({"variables": ["{{first_name}}"]}),
        columns: vec!["first_name".into()],
        status: campaign_status::DRAFT.into(),
        pause_reason: None,
        start_at: None,
        rate_limit: None,
        created_at: at,
        updated_at: at,
        started_at: None,
        completed_at: None,
        uploading: false,
        group_key: None,
    }
}

fn rows(from: u64, n: u64) -> Vec<NewRecipient> {
    (from..from + n)
        .map(|i| NewRecipient {
            recipient: format!("1555000{i:04}"),
            line: i + 2,
            variables: json!({"first_name": format!("User {i}")}),
            skipped: None,
        })
        .collect()
}

/// An upload of `rows` to a campaign, whole: begun, stored, ended.
async fn upload(
    store: &Arc<dyn Store>,
    tenant_id: &str,
    campaign_id: &str,
    rows: Vec<NewRecipient>,
    at: i64,
) -> StoreResult<RecipientsAdded> {
    let id = new_id_at(prefix::UPLOAD, at);
    store
        .begin_upload(tenant_id, campaign_id, &id, at, at + 30_000)
        .await?;
    let added = store
        .add_recipients(tenant_id, campaign_id, &id, rows, at)
        .await;
    store
        .end_upload(tenant_id, campaign_id, &id, added.is_ok())
        .await?;
    added
}

/// The runner's send for a recipient: a bulk template message of the campaign.
fn feed_item(w: &World, c: &Campaign, r: &CampaignRecipient, at: i64, marketing: bool) -> FeedItem {
    let mut new = outbound(&w.channel, &r.recipient, at);
    new.message.campaign_id = Some(c.id.clone());
    new.priority = priority::BULK;
    FeedItem::Send {
        seq: r.seq,
        new: Box::new(new),
        check: SendCheck {
            kind: SendKind::Template { marketing },
            session_kind: Some("marketing".into()),
            opened_by: "campaign".into(),
            reach: None,
        },
    }
}

/// A campaign's recipients of an API status.
async fn with_status(store: &Arc<dyn Store>, c: &Campaign, status: &str) -> Vec<CampaignRecipient> {
    store
        .list_recipients(
            &c.id,
            &RecipientFilter {
                status: Some(status.into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// A running campaign of `n` recipients.
async fn running(store: &Arc<dyn Store>, w: &World, n: u64) -> Campaign {
    let c = draft(w, T);
    store.create_campaign(&c, None).await.unwrap();
    upload(store, &w.tenant.id, &c.id, rows(0, n), T)
        .await
        .unwrap();
    store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Start, T)
        .await
        .unwrap()
        .campaign
}

async fn feed_all(
    store: &Arc<dyn Store>,
    w: &World,
    c: &Campaign,
    limit: u32,
    at: i64,
) -> (Fed, Vec<CampaignRecipient>) {
    let pending = store.pending_recipients(&c.id, limit).await.unwrap();
    let items = pending
        .iter()
        .map(|r| feed_item(w, c, r, at, true))
        .collect();
    (
        store.feed_campaign(&c.id, items, at).await.unwrap(),
        pending,
    )
}

pub async fn campaigns_are_filled_started_fed_once_and_counted(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let other = world(&store, "other").await;
    let c = draft(&w, T);
    store.create_campaign(&c, None).await.unwrap();
    assert_eq!(
        store.get_campaign(&w.tenant.id, &c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.get_campaign(&other.tenant.id, &c.id).await.unwrap(),
        None
    );

    // Two uploads add up; a recipient already in the campaign is kept once.
    let added = upload(&store, &w.tenant.id, &c.id, rows(0, 6), T)
        .await
        .unwrap();
    assert_eq!(
        added,
        RecipientsAdded {
            accepted: 6,
            duplicates: 0,
            skipped: 0,
        }
    );
    let mut again = rows(4, 4);
    again.push(again[0].clone());
    let added = upload(&store, &w.tenant.id, &c.id, again, T).await.unwrap();
    assert_eq!(
        added,
        RecipientsAdded {
            accepted: 2,
            duplicates: 3,
            skipped: 0,
        }
    );
    // Another tenant's campaign is not found, and gets nothing.
    assert!(matches!(
        upload(&store, &other.tenant.id, &c.id, rows(100, 1), T).await,
        Err(StoreError::NotFound(_))
    ));

    // A draft is not fed.
    let (fed, _) = feed_all(&store, &w, &c, 100, T).await;
    assert_eq!(fed, Fed::default());
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!((counts.total, counts.pending, counts.queued), (8, 8, 0));

    // Started: running, with its event.
    let started = store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Start, T + 1)
        .await
        .unwrap();
    assert_eq!(started.campaign.status, "running");
    assert_eq!(started.campaign.started_at, Some(T + 1));
    assert!(matches!(
        store
            .transition_campaign(
                &other.tenant.id,
                &c.id,
                CampaignAction::Pause { reason: None },
                T + 1
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Not while running.
    assert!(matches!(
        upload(&store, &w.tenant.id, &c.id, rows(200, 1), T + 1).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Resume, T + 1)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.delete_campaign(&w.tenant.id, &c.id).await,
        Err(StoreError::Conflict(_))
    ));
    let active = store.active_campaigns(T + 1).await.unwrap();
    assert_eq!(
        active.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec![c.id.as_str()]
    );

    // Fed in upload order, five then the rest.
    let (fed, first) = feed_all(&store, &w, &c, 5, T + 2).await;
    assert_eq!((fed.queued, fed.taken, fed.running), (5, 0, true));
    assert_eq!(
        first.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6]
    );
    // The same recipients fed again: taken, nothing queued twice.
    let items = first
        .iter()
        .map(|r| feed_item(&w, &c, r, T + 3, true))
        .collect();
    let fed = store.feed_campaign(&c.id, items, T + 3).await.unwrap();
    assert_eq!((fed.queued, fed.taken), (0, 5));
    let (fed, rest) = feed_all(&store, &w, &c, 100, T + 4).await;
    assert_eq!((fed.queued, rest.len()), (3, 3));
    assert_eq!(store.campaign_queued(&c.id).await.unwrap(), 8);

    // The sender takes them (bulk), each once.
    let claimed = claim(&store, &w.channel.id, T + 10, 100).await;
    assert_eq!(claimed.len(), 8);
    let message = store
        .get_message(&w.tenant.id, &claimed[0].message_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.campaign_id.as_deref(), Some(c.id.as_str()));

    // Meta accepts six and refuses two.
    let results: Vec<SendResult> = claimed
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if i < 6 {
                SendResult::Accepted {
                    message_id: item.message_id.clone(),
                    term: item.term,
                    wamid: format!("wamid.C{i}"),
                    message_status: None,
                    at: T + 11,
                }
            } else {
                SendResult::Failed {
                    message_id: item.message_id.clone(),
                    term: item.term,
                    error: json!({"code": 131026, "title": "Message undeliverable"}),
                    at: T + 11,
                }
            }
        })
        .collect();
    store.record_send_results(&results).await.unwrap();
    assert_eq!(store.campaign_queued(&c.id).await.unwrap(), 0);
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(counts.total, 8);
    assert_eq!(counts.pending, 0);
    assert_eq!(
        counts.sent + counts.delivered + counts.read,
        6,
        "{counts:?}"
    );
    assert_eq!(counts.failed, 2);
    assert_eq!(counts.failures, vec![("131026".to_string(), 2)]);

    // Recipients listed in order, with their messages; by status.
    let all = listed(&store, &c.id).await;
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|p| p[0].seq < p[1].seq));
    assert!(
        all.iter()
            .all(|r| r.message_id.is_some() && r.state == "queued")
    );
    let failed = with_status(&store, &c, "failed").await;
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|r| r.status() == "failed"
        && r.error.as_ref().and_then(|e| e.get("code")) == Some(&json!(131026))));
    let page = store
        .list_recipients(
            &c.id,
            &RecipientFilter {
                after: Some(all[5].seq),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 2);

    // Completed, with its event; then nothing moves it.
    let done = store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Complete, T + 20)
        .await
        .unwrap();
    assert_eq!(done.campaign.status, "completed");
    assert!(store.active_campaigns(T + 20).await.unwrap().is_empty());
    let events = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                types: vec!["campaign.*".into()],
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["campaign.completed", "campaign.started"]);
    // Its failures retried on request: a code it has none of changes nothing; 131026 puts
    // the two back, the campaign runs again, and they are fed once more.
    let (same, n) = store
        .retry_recipients(&w.tenant.id, &c.id, &["131049".into()], T + 21)
        .await
        .unwrap();
    assert_eq!((same.status.as_str(), n), ("completed", 0));
    assert!(matches!(
        store
            .retry_recipients(&other.tenant.id, &c.id, &["131026".into()], T + 21)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let (again, n) = store
        .retry_recipients(&w.tenant.id, &c.id, &["131026".into()], T + 22)
        .await
        .unwrap();
    assert_eq!((again.status.as_str(), n), ("running", 2));
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(
        (counts.total, counts.failed, counts.pending),
        (8, 0, 2),
        "{counts:?}"
    );
    let (fed, _) = feed_all(&store, &w, &c, 100, T + 23).await;
    assert_eq!(fed.queued, 2);
    assert_eq!(store.campaign_queued(&c.id).await.unwrap(), 2);

    // A campaign message's status events carry the campaign.
    let statuses = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                types: vec!["message.status".into()],
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!statuses.is_empty());
    assert!(
        statuses
            .iter()
            .all(|e| e.data["campaign_id"] == json!(c.id))
    );
}

pub async fn a_paused_campaign_holds_its_sends_and_a_cancel_hands_them_back(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let c = running(&store, &w, 10).await;
    let (fed, _) = feed_all(&store, &w, &c, 4, T + 1).await;
    assert_eq!(fed.queued, 4);
    // The sender claims one of them before the pause.
    let claimed = claim(&store, &w.channel.id, T + 2, 1).await;
    assert_eq!(claimed.len(), 1);

    let reason = json!({"code": 132015, "message": "template paused"});
    let paused = store
        .transition_campaign(
            &w.tenant.id,
            &c.id,
            CampaignAction::Pause {
                reason: Some(reason.clone()),
            },
            T + 3,
        )
        .await
        .unwrap();
    assert_eq!(paused.campaign.status, "paused");
    assert_eq!(paused.campaign.pause_reason, Some(reason));
    assert_eq!(paused.held.len(), 3, "the claimed send is the sender's");
    // Held: the sender sees nothing of the campaign; a feed does nothing.
    assert!(claim(&store, &w.channel.id, T + 4, 100).await.is_empty());
    let (fed, _) = feed_all(&store, &w, &c, 100, T + 4).await;
    assert!(!fed.running);
    assert_eq!(fed.queued, 0);
    // Paused, it takes recipients again.
    let added = upload(&store, &w.tenant.id, &c.id, rows(10, 2), T + 4)
        .await
        .unwrap();
    assert_eq!(added.accepted, 2);

    // Resumed: the held sends are the sender's again.
    let resumed = store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Resume, T + 5)
        .await
        .unwrap();
    assert_eq!(resumed.campaign.status, "running");
    assert_eq!(resumed.campaign.pause_reason, None);
    assert_eq!(claim(&store, &w.channel.id, T + 6, 100).await.len(), 3);

    // Cancelled with sends queued: they are held and handed back to fail.
    let (fed, _) = feed_all(&store, &w, &c, 2, T + 7).await;
    assert_eq!(fed.queued, 2);
    let cancelled = store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Cancel, T + 8)
        .await
        .unwrap();
    assert_eq!(cancelled.campaign.status, "cancelled");
    assert_eq!(cancelled.held.len(), 2);
    assert!(claim(&store, &w.channel.id, T + 9, 100).await.is_empty());
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(counts.total, 12);
    // Nothing was answered by Meta: the six fed are still queued (two of them held, for the
    // cancel's caller to fail); the six never fed are skipped.
    assert_eq!(
        (counts.pending, counts.queued, counts.skipped),
        (6, 6, 6),
        "{counts:?}"
    );

    let kinds: Vec<String> = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                types: vec!["campaign.*".into()],
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            "campaign.cancelled",
            "campaign.resumed",
            "campaign.paused",
            "campaign.started"
        ]
    );
    // Draft deletion: only drafts.
    let d = draft(&w, T + 10);
    store.create_campaign(&d, None).await.unwrap();
    upload(&store, &w.tenant.id, &d.id, rows(0, 3), T + 10)
        .await
        .unwrap();
    assert!(store.delete_campaign(&w.tenant.id, &d.id).await.unwrap());
    assert_eq!(store.get_campaign(&w.tenant.id, &d.id).await.unwrap(), None);
    assert!(!store.delete_campaign(&w.tenant.id, &d.id).await.unwrap());
}

pub async fn concurrent_feeds_queue_each_recipient_once(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let c = running(&store, &w, 40).await;
    let pending = store.pending_recipients(&c.id, 100).await.unwrap();
    // Four feeders (four replicas each believing it leads) hand over the same recipients.
    let mut tasks = Vec::new();
    for k in 0..4 {
        let items: Vec<FeedItem> = pending
            .iter()
            .map(|r| feed_item(&w, &c, r, T + 1 + k, true))
            .collect();
        let (store, id) = (store.clone(), c.id.clone());
        tasks.push(tokio::spawn(async move {
            store.feed_campaign(&id, items, T + 1).await
        }));
    }
    let mut queued = 0;
    for t in tasks {
        let fed = t.await.unwrap().unwrap();
        assert_eq!(fed.queued + fed.taken, 40);
        queued += fed.queued;
    }
    assert_eq!(queued, 40);
    assert_eq!(store.campaign_queued(&c.id).await.unwrap(), 40);
    assert_eq!(claim(&store, &w.channel.id, T + 10, 1000).await.len(), 40);
}

pub async fn opted_out_recipients_are_skipped_and_failures_counted_by_reason(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let c = running(&store, &w, 3).await;
    store
        .set_marketing_opt_out(
            &w.tenant.id,
            &ContactKey::WaId("15550000001".into()),
            &OptOutChange {
                opted_out: true,
                source: "user_preferences".into(),
                at: T,
            },
        )
        .await
        .unwrap();
    let pending = store.pending_recipients(&c.id, 10).await.unwrap();
    let mut items: Vec<FeedItem> = pending[..2]
        .iter()
        .map(|r| feed_item(&w, &c, r, T + 1, true))
        .collect();
    items.push(FeedItem::Fail {
        seq: pending[2].seq,
        reason: json!({"code": "template_mismatch", "meta_code": 132000, "message": "no"}),
    });
    let fed = store.feed_campaign(&c.id, items, T + 1).await.unwrap();
    assert_eq!((fed.queued, fed.skipped, fed.failed), (1, 1, 1));
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(
        (counts.total, counts.pending, counts.skipped, counts.failed),
        (3, 1, 1, 1)
    );
    assert_eq!(counts.failures, vec![("132000".to_string(), 1)]);
    let skipped = with_status(&store, &c, "skipped").await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].recipient, "15550000001");
    assert_eq!(
        skipped[0].reason.as_ref().map(|r| r["code"].clone()),
        Some(Value::from("opted_out"))
    );
    assert_eq!(skipped[0].message_id, None);
}

pub async fn sends_past_the_messaging_limit_wait_and_are_counted(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let c = running(&store, &w, 3).await;
    // The portfolio may reach one new user a day: the first takes the place, two wait.
    let pending = store.pending_recipients(&c.id, 10).await.unwrap();
    let items = pending
        .iter()
        .map(|r| match feed_item(&w, &c, r, T + 1, true) {
            FeedItem::Send {
                seq,
                new,
                mut check,
            } => {
                check.reach = Some(openbsp_store::policy::Reach {
                    portfolio: w.channel.portfolio().to_string(),
                    limit: Some(1),
                });
                FeedItem::Send { seq, new, check }
            }
            other => other,
        })
        .collect();
    let fed = store.feed_campaign(&c.id, items, T + 1).await.unwrap();
    assert_eq!(fed.queued, 3, "bulk sends wait rather than fail");
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(
        (counts.pending, counts.queued, counts.waiting),
        (3, 3, 2),
        "{counts:?}"
    );
    assert_eq!(claim(&store, &w.channel.id, T + 2, 10).await.len(), 1);
}

/// An upload is added whole or not at all: one at a time per campaign, which does not start
/// while it is under way; a failed upload's rows are removed, and so are a lapsed one's (its
/// gateway died) when the next begins; rows stored skipped (opted out) are counted so.
pub async fn an_upload_is_added_whole_or_not_at_all(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let other = world(&store, "other").await;
    let c = draft(&w, T);
    store.create_campaign(&c, None).await.unwrap();
    // Variables come back as written, whatever their characters.
    let mut first = rows(0, 3);
    let odd = json!({"first_name": "Tab\tline\nreturn\r back\\slash \\N \\. \"quoted\" é 🎉"});
    first[1].variables = odd.clone();
    upload(&store, &w.tenant.id, &c.id, first, T).await.unwrap();
    let back = listed(&store, &c.id).await;
    assert_eq!(back[1].variables, odd);

    // An upload under way: a second one, and a start, wait for it; another tenant's is not
    // found.
    let ticket = "upl_1";
    store
        .begin_upload(&w.tenant.id, &c.id, ticket, T, T + 30_000)
        .await
        .unwrap();
    let mut batch = rows(3, 4);
    batch[0].skipped = Some(json!({"code": "opted_out", "meta_code": 131050}));
    let added = store
        .add_recipients(&w.tenant.id, &c.id, ticket, batch, T)
        .await
        .unwrap();
    assert_eq!((added.accepted, added.skipped), (4, 1));
    assert!(
        store
            .get_campaign(&w.tenant.id, &c.id)
            .await
            .unwrap()
            .unwrap()
            .uploading
    );
    assert!(matches!(
        store.begin_upload(&w.tenant.id, &c.id, "upl_2", T + 1, T + 30_001).await,
        Err(StoreError::Conflict(m)) if m.contains("under way")
    ));
    assert!(matches!(
        store
            .begin_upload(&other.tenant.id, &c.id, "upl_2", T + 1, T + 30_001)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Start, T + 1)
            .await,
        Err(StoreError::Conflict(m)) if m.contains("upload")
    ));
    assert!(
        store
            .renew_upload(&w.tenant.id, &c.id, ticket, T + 40_000)
            .await
            .unwrap()
    );
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!((counts.total, counts.pending, counts.skipped), (7, 6, 1));

    // It fails: its rows go, the earlier upload's stay.
    assert_eq!(
        store
            .end_upload(&w.tenant.id, &c.id, ticket, false)
            .await
            .unwrap(),
        4
    );
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!((counts.total, counts.pending, counts.skipped), (3, 3, 0));
    assert!(
        !store
            .get_campaign(&w.tenant.id, &c.id)
            .await
            .unwrap()
            .unwrap()
            .uploading
    );

    // An upload whose gateway died lapses: removed when the next one begins; the lapsed
    // upload stores nothing more and cannot be kept.
    let dead = "upl_dead";
    store
        .begin_upload(&w.tenant.id, &c.id, dead, T + 2, T + 10)
        .await
        .unwrap();
    store
        .add_recipients(&w.tenant.id, &c.id, dead, rows(10, 5), T + 2)
        .await
        .unwrap();
    let next = "upl_next";
    store
        .begin_upload(&w.tenant.id, &c.id, next, T + 11, T + 30_011)
        .await
        .unwrap();
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 3);
    assert!(matches!(
        store
            .add_recipients(&w.tenant.id, &c.id, dead, rows(20, 1), T + 12)
            .await,
        Err(StoreError::Conflict(m)) if m.contains("lapsed")
    ));
    assert!(matches!(
        store.end_upload(&w.tenant.id, &c.id, dead, true).await,
        Err(StoreError::Conflict(_))
    ));
    // Removing a lapsed upload's rows touches the live upload's none.
    store
        .add_recipients(&w.tenant.id, &c.id, next, rows(30, 2), T + 12)
        .await
        .unwrap();
    assert_eq!(
        store
            .end_upload(&w.tenant.id, &c.id, dead, false)
            .await
            .unwrap(),
        0
    );
    // The sweep: a live upload (renewed after it had lapsed, before the sweep) is kept.
    assert!(
        store
            .renew_upload(&w.tenant.id, &c.id, next, T + 50_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store.remove_lapsed_uploads(T + 40_000).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .end_upload(&w.tenant.id, &c.id, next, true)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 5);
    // The sweep removes a lapsed upload and its rows.
    let swept = "upl_swept";
    store
        .begin_upload(&w.tenant.id, &c.id, swept, T + 13, T + 20)
        .await
        .unwrap();
    store
        .add_recipients(&w.tenant.id, &c.id, swept, rows(40, 3), T + 13)
        .await
        .unwrap();
    assert_eq!(store.remove_lapsed_uploads(T + 19).await.unwrap(), vec![]);
    assert_eq!(
        store.remove_lapsed_uploads(T + 20).await.unwrap(),
        vec![(c.id.clone(), swept.to_string(), 3)]
    );
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 5);
    assert!(
        !store
            .renew_upload(&w.tenant.id, &c.id, swept, T + 60_000)
            .await
            .unwrap()
    );

    // Two campaigns' uploads at once: one fails first (its rows, the newest, go), then the
    // other, begun before, fails too: none of its rows stay (row ids are never handed out
    // twice, so the later rows of the second are above its first).
    let x = draft(&w, T + 1);
    let y = draft(&w, T + 2);
    store.create_campaign(&x, None).await.unwrap();
    store.create_campaign(&y, None).await.unwrap();
    store
        .begin_upload(&w.tenant.id, &x.id, "upl_x", T, T + 30_000)
        .await
        .unwrap();
    store
        .add_recipients(&w.tenant.id, &x.id, "upl_x", rows(100, 5), T)
        .await
        .unwrap();
    store
        .begin_upload(&w.tenant.id, &y.id, "upl_y", T, T + 30_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .end_upload(&w.tenant.id, &x.id, "upl_x", false)
            .await
            .unwrap(),
        5
    );
    store
        .add_recipients(&w.tenant.id, &y.id, "upl_y", rows(200, 4), T)
        .await
        .unwrap();
    assert_eq!(
        store
            .end_upload(&w.tenant.id, &y.id, "upl_y", false)
            .await
            .unwrap(),
        4
    );
    assert_eq!(store.campaign_counts(&x.id).await.unwrap().total, 0);
    assert_eq!(store.campaign_counts(&y.id).await.unwrap().total, 0);

    // Started, it runs and takes no upload.
    store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Start, T + 13)
        .await
        .unwrap();
    assert!(matches!(
        store.begin_upload(&w.tenant.id, &c.id, "upl_3", T + 14, T + 30_014).await,
        Err(StoreError::Conflict(m)) if m.contains("running")
    ));
}

/// A stored answer marks the recipient of the user's latest campaign message in the period, in
/// the same transaction as the message (one at a time, and in a batch): the earliest answer's
/// time stands, an answer past the period or a redelivered one marks nothing.
pub async fn an_answer_marks_its_campaign_recipient_replied_with_the_message(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let c = running(&store, &w, 3).await;
    let (fed, sent) = feed_all(&store, &w, &c, 10, T + 10).await;
    assert_eq!(fed.queued, 3);
    let answer = |i: usize, wamid: &str, at: i64, period: i64| {
        let mut n = inbound(&w.channel, &sent[i].recipient, wamid, None, at);
        n.replies_since = Some(at - period);
        n
    };
    // One alone; then a batch: a second answer of the same user, the third user past the
    // period, and a redelivery.
    assert!(
        store
            .insert_inbound(&answer(0, "wamid.a1", T + 100, 1_000))
            .await
            .unwrap()
    );
    let stored = store
        .insert_inbounds(&[
            answer(1, "wamid.b1", T + 200, 1_000),
            answer(1, "wamid.b2", T + 300, 1_000),
            answer(2, "wamid.c1", T + 5_000, 1_000),
            answer(0, "wamid.a1", T + 100, 1_000),
        ])
        .await
        .unwrap();
    assert_eq!(stored, vec![true, true, true, false]);
    assert_eq!(
        replied_at(&store, &c).await,
        vec![Some(T + 100), Some(T + 200), None]
    );
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(counts.replied, 2);
    // Listed by that status (read through the index of the replied ones), in upload order.
    let replied: Vec<i64> = with_status(&store, &c, "replied")
        .await
        .iter()
        .map(|r| r.replied_at.unwrap())
        .collect();
    assert_eq!(replied, vec![T + 100, T + 200]);
    // A later answer keeps the first time; an earlier one stored late (Meta's order is not
    // guaranteed) brings it back to the earliest, alone or in a batch.
    store
        .insert_inbound(&answer(0, "wamid.a2", T + 400, 1_000))
        .await
        .unwrap();
    assert_eq!(replied_at(&store, &c).await[0], Some(T + 100));
    store
        .insert_inbound(&answer(0, "wamid.a0", T + 50, 1_000))
        .await
        .unwrap();
    store
        .insert_inbounds(&[
            answer(1, "wamid.b4", T + 190, 1_000),
            answer(1, "wamid.b3", T + 150, 1_000),
        ])
        .await
        .unwrap();
    assert_eq!(
        replied_at(&store, &c).await,
        vec![Some(T + 50), Some(T + 150), None]
    );
}

/// Each recipient's `replied_at`, in upload order.
async fn replied_at(store: &Arc<dyn Store>, c: &Campaign) -> Vec<Option<i64>> {
    listed(store, &c.id)
        .await
        .iter()
        .map(|r| r.replied_at)
        .collect()
}

/// A campaign's recipients (the first 100), in upload order.
async fn listed(store: &Arc<dyn Store>, campaign_id: &str) -> Vec<CampaignRecipient> {
    store
        .list_recipients(
            campaign_id,
            &RecipientFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// The campaign a grouped send under `key` starts when the key names none (as the core builds
/// it: a fresh id each send; only the first send's is stored).
fn group(w: &World, channel: &Channel, key: &str, at: i64) -> Campaign {
    let mut c = draft(w, at);
    c.channel_id = channel.id.clone();
    c.name = key.into();
    c.category = Some("utility".into());
    c.spec = json!({"grouped": true});
    c.columns = Vec::new();
    c.status = campaign_status::RUNNING.into();
    c.started_at = Some(at);
    c.group_key = Some(key.into());
    c
}

/// A utility template's check (allowed with the window closed).
fn template_check() -> SendCheck {
    SendCheck {
        kind: SendKind::Template { marketing: false },
        session_kind: Some("utility".into()),
        opened_by: "message".into(),
        reach: None,
    }
}

/// A grouped send to `to` under `key`: the message stored, or the refusal / error.
async fn grouped(
    store: &Arc<dyn Store>,
    w: &World,
    channel: &Channel,
    key: &str,
    new: NewOutbound,
    at: i64,
) -> StoreResult<Result<EnqueueOutcome, openbsp_domain::windows::Refusal>> {
    store
        .enqueue_grouped(&group(w, channel, key, at), new, &template_check(), at)
        .await
}

async fn created(store: &Arc<dyn Store>, w: &World, key: &str, to: &str, at: i64) -> Message {
    match grouped(store, w, &w.channel, key, outbound(&w.channel, to, at), at).await {
        Ok(Ok(EnqueueOutcome::Created { message, .. })) => message,
        other => panic!("expected a stored send, got {other:?}"),
    }
}

/// The tenant's campaigns grouped under `key`.
async fn by_group(store: &Arc<dyn Store>, w: &World, key: &str) -> Vec<Campaign> {
    store
        .list_campaigns(&CampaignFilter {
            tenant_id: w.tenant.id.clone(),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.group_key.as_deref() == Some(key))
        .collect()
}

pub async fn grouped_sends_are_one_campaign_that_completes_and_reopens(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    // Three sends under one key: one campaign, running from the first, named by the key.
    let mut sent = Vec::new();
    for (i, to) in ["15550100001", "15550100002", "15550100003"]
        .iter()
        .enumerate()
    {
        sent.push(created(&store, &w, "diwali", to, T + i as i64).await);
    }
    let found = by_group(&store, &w, "diwali").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let c = found[0].clone();
    assert_eq!(
        (c.name.as_str(), c.status.as_str(), c.started_at),
        ("diwali", "running", Some(T))
    );
    assert!(
        sent.iter()
            .all(|m| m.campaign_id.as_deref() == Some(c.id.as_str()))
    );
    // Its recipients are born queued with their messages, in the order of the sends.
    let all = listed(&store, &c.id).await;
    assert_eq!(
        all.iter()
            .map(|r| (r.line, r.state.as_str(), r.message_id.clone()))
            .collect::<Vec<_>>(),
        sent.iter()
            .enumerate()
            .map(|(i, m)| (i as u64 + 1, "queued", Some(m.id.clone())))
            .collect::<Vec<_>>()
    );
    assert_eq!(all[0].recipient, "15550100001");
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!((counts.total, counts.pending, counts.queued), (3, 3, 3));
    // Never the runner's: nothing pending.
    assert!(
        store
            .pending_recipients(&c.id, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The same key on another channel is another campaign.
    let ch2 = second_channel(&store, &w).await;
    let other = grouped(
        &store,
        &w,
        &ch2,
        "diwali",
        outbound(&ch2, "15550100001", T + 5),
        T + 5,
    )
    .await
    .unwrap()
    .unwrap();
    let EnqueueOutcome::Created { message: m2, .. } = other else {
        panic!("{other:?}")
    };
    assert_ne!(m2.campaign_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(by_group(&store, &w, "diwali").await.len(), 2);

    // A second send to a recipient already in it goes out on its own.
    let again = created(&store, &w, "diwali", "15550100001", T + 6).await;
    assert_eq!(again.campaign_id, None);
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 3);
    // A replay under the message's idempotency key changes nothing.
    let k = keyed(&w.channel, "15550100004", T + 7, "k1", "h1");
    let first = grouped(&store, &w, &w.channel, "diwali", k.clone(), T + 7)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, EnqueueOutcome::Created { .. }));
    let mut retry = k;
    retry.message.id = new_id_at(prefix::MESSAGE, T + 8);
    let second = grouped(&store, &w, &w.channel, "diwali", retry, T + 8)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(second, EnqueueOutcome::Existing(_)), "{second:?}");
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 4);

    // Not completed while a send is queued (the runner's check, made again in the store).
    let done = store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Complete, T + 9)
        .await
        .unwrap();
    assert_eq!(done.campaign.status, "running");

    // Meta accepts three and refuses one: nothing queued; the counts follow the messages.
    let claimed = claim(&store, &w.channel.id, T + 10, 100).await;
    let results: Vec<SendResult> = claimed
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.message_id != sent[2].id {
                SendResult::Accepted {
                    message_id: item.message_id.clone(),
                    term: item.term,
                    wamid: format!("wamid.G{i}"),
                    message_status: None,
                    at: T + 11,
                }
            } else {
                SendResult::Failed {
                    message_id: item.message_id.clone(),
                    term: item.term,
                    error: json!({"code": 131026, "title": "Message undeliverable"}),
                    at: T + 11,
                }
            }
        })
        .collect();
    store.record_send_results(&results).await.unwrap();
    assert_eq!(store.campaign_queued(&c.id).await.unwrap(), 0);
    let counts = store.campaign_counts(&c.id).await.unwrap();
    assert_eq!(
        (counts.total, counts.pending, counts.sent, counts.failed),
        (4, 0, 3, 1),
        "{counts:?}"
    );
    // A delivery moves its recipient like any campaign recipient's.
    let g = claimed
        .iter()
        .position(|i| i.message_id != sent[2].id)
        .unwrap();
    store
        .apply_status(&status(
            &w.channel,
            &format!("wamid.G{g}"),
            openbsp_domain::MessageStatus::Delivered,
            T + 12,
        ))
        .await
        .unwrap();
    let delivered = with_status(&store, &c, "delivered").await;
    assert_eq!(delivered.len(), 1, "{:?}", listed(&store, &c.id).await);

    // Completed, with its event.
    let done = store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Complete, T + 20)
        .await
        .unwrap();
    assert_eq!(done.campaign.status, "completed");
    assert_eq!(done.campaign.completed_at, Some(T + 20));

    // A later send under the key runs it again (not a second campaign).
    let late = created(&store, &w, "diwali", "15550100005", T + 30).await;
    assert_eq!(late.campaign_id.as_deref(), Some(c.id.as_str()));
    let now = store
        .get_campaign(&w.tenant.id, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.status.as_str(), now.completed_at), ("running", None));
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 5);
    let events = store
        .list_events(
            &w.tenant.id,
            &EventFilter {
                types: vec!["campaign.*".into()],
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e.data["campaign_id"] == json!(c.id))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        vec!["campaign.resumed", "campaign.completed", "campaign.started"]
    );

    // Paused: its key takes no sends until resumed; cancelled: none ever. Nothing stored.
    store
        .transition_campaign(
            &w.tenant.id,
            &c.id,
            CampaignAction::Pause { reason: None },
            T + 40,
        )
        .await
        .unwrap();
    let refused = grouped(
        &store,
        &w,
        &w.channel,
        "diwali",
        outbound(&w.channel, "15550100006", T + 41),
        T + 41,
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    store
        .transition_campaign(&w.tenant.id, &c.id, CampaignAction::Cancel, T + 42)
        .await
        .unwrap();
    let refused = grouped(
        &store,
        &w,
        &w.channel,
        "diwali",
        outbound(&w.channel, "15550100006", T + 43),
        T + 43,
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().total, 5);

    // A send the policy refuses stores nothing: not its campaign either.
    let mut free = outbound(&w.channel, "15550100007", T + 50);
    free.message.msg_type = "text".into();
    let check = SendCheck {
        kind: SendKind::FreeForm,
        session_kind: Some("service".into()),
        opened_by: "message".into(),
        reach: None,
    };
    let refused = store
        .enqueue_grouped(
            &group(&w, &w.channel, "never", T + 50),
            free,
            &check,
            T + 50,
        )
        .await
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");
    assert!(by_group(&store, &w, "never").await.is_empty());
}

pub async fn concurrent_first_grouped_sends_make_one_campaign(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = Arc::new(world(&store, "acme").await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, w) = (store.clone(), w.clone());
        tasks.push(tokio::spawn(async move {
            let to = format!("1555020{i:04}");
            created(&store, &w, "flash", &to, T + i).await
        }));
    }
    let mut messages = Vec::new();
    for t in tasks {
        messages.push(t.await.unwrap());
    }
    let found = by_group(&store, &w, "flash").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let c = &found[0];
    assert!(
        messages
            .iter()
            .all(|m| m.campaign_id.as_deref() == Some(c.id.as_str()))
    );
    let all = listed(&store, &c.id).await;
    assert_eq!(all.len(), 8);
    let mut lines: Vec<u64> = all.iter().map(|r| r.line).collect();
    lines.sort_unstable();
    assert_eq!(lines, (1..=8).collect::<Vec<_>>());
    assert_eq!(store.campaign_counts(&c.id).await.unwrap().queued, 8);
}
