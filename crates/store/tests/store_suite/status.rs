//! Status webhooks: ordering, duplicates, finality, reconciliation through callback data,
//! batches.

use openbsp_domain::MessageStatus::{self, *};
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::json;
use std::sync::Arc;

use crate::fixtures::*;

pub async fn statuses_apply_forward_only(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let m = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    claim(&store, &w.channel.id, 1_000, 10).await;
    accept(&store, &m, "wamid.A", 1_100).await;
    let advanced = StatusOutcome::Advanced {
        message_id: m.id.clone(),
        learned_wamid: false,
    };
    let kept = StatusOutcome::Kept {
        message_id: m.id.clone(),
        learned_wamid: false,
    };

    assert_eq!(
        store
            .apply_status(&status(&w.channel, "wamid.A", Sent, 2_000))
            .await
            .unwrap(),
        advanced
    );
    // Read arrives before delivered: read wins, delivered is history only.
    assert_eq!(
        store
            .apply_status(&status(&w.channel, "wamid.A", Read, 4_000))
            .await
            .unwrap(),
        advanced
    );
    assert_eq!(
        store
            .apply_status(&status(&w.channel, "wamid.A", Delivered, 3_000))
            .await
            .unwrap(),
        kept
    );
    let now = message(&store, &w.tenant.id, &m.id).await;
    assert_eq!(now.status, Read);
    assert_eq!(now.updated_at, 4_000);
    assert_eq!(
        history(&store, &m.id).await,
        vec![Queued, Accepted, Sent, Delivered, Read]
    );

    // A duplicate webhook is harmless: kept, no second history entry.
    assert_eq!(
        store
            .apply_status(&status(&w.channel, "wamid.A", Read, 4_500))
            .await
            .unwrap(),
        kept
    );
    let h = store.message_history(&m.id).await.unwrap();
    assert_eq!(h.len(), 5);
    assert_eq!(
        h.last().unwrap().at,
        4_000,
        "the first entry of a status stays"
    );
    assert_eq!(message(&store, &w.tenant.id, &m.id).await, now);

    // Unknown wamids, and wamids of another channel, are unknown.
    assert_eq!(
        store
            .apply_status(&status(&w.channel, "wamid.ZZZ", Sent, 5_000))
            .await
            .unwrap(),
        StatusOutcome::UnknownMessage
    );
    let ch2 = second_channel(&store, &w).await;
    assert_eq!(
        store
            .apply_status(&status(&ch2, "wamid.A", Played, 5_000))
            .await
            .unwrap(),
        StatusOutcome::UnknownMessage
    );
    assert_eq!(message(&store, &w.tenant.id, &m.id).await.status, Read);
}

pub async fn failed_is_final(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let m = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    accept(&store, &m, "wamid.F", 1_100).await;
    store
        .apply_status(&status(&w.channel, "wamid.F", Delivered, 2_000))
        .await
        .unwrap();

    let err = json!([{"code": 131047, "title": "Re-engagement message"}]);
    let mut failed = status(&w.channel, "wamid.F", Failed, 3_000);
    failed.error = Some(err.clone());
    assert_eq!(
        store.apply_status(&failed).await.unwrap(),
        StatusOutcome::Advanced {
            message_id: m.id.clone(),
            learned_wamid: false,
        }
    );
    for late in [Read, Delivered, Sent, Failed] {
        assert_eq!(
            store
                .apply_status(&status(&w.channel, "wamid.F", late, 4_000))
                .await
                .unwrap(),
            StatusOutcome::Kept {
                message_id: m.id.clone(),
                learned_wamid: false,
            }
        );
    }
    let now = message(&store, &w.tenant.id, &m.id).await;
    assert_eq!(now.status, Failed);
    assert_eq!(now.error, Some(err.clone()));
    let h = store.message_history(&m.id).await.unwrap();
    let statuses: Vec<MessageStatus> = h.iter().map(|e| e.status).collect();
    // Late statuses are history (once each), never the current status.
    assert_eq!(
        statuses,
        vec![Queued, Accepted, Delivered, Failed, Read, Sent]
    );
    assert_eq!(h[3].error, Some(err));
}

pub async fn reconciles_through_callback_data(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch2 = second_channel(&store, &w).await;
    let lost = enqueue(&store, outbound(&w.channel, "15550001", 1_000)).await;
    let stranger = enqueue(&store, outbound(&w.channel, "15550002", 1_001)).await;
    // The sender claimed both and crashed before recording Meta's answers.
    assert_eq!(claim(&store, &w.channel.id, 1_500, 10).await.len(), 2);

    // A status for the lost send: its wamid is unknown, but the callback data names it.
    let mut sent = status(&w.channel, "wamid.LOST", Sent, 2_000);
    sent.callback_data = Some(lost.id.clone());
    assert_eq!(
        store.apply_status(&sent).await.unwrap(),
        StatusOutcome::Advanced {
            message_id: lost.id.clone(),
            learned_wamid: true,
        }
    );
    let now = message(&store, &w.tenant.id, &lost.id).await;
    assert_eq!(now.wamid.as_deref(), Some("wamid.LOST"));
    assert_eq!(now.status, Sent);
    assert_eq!(
        message(&store, &w.tenant.id, "wamid.LOST").await.id,
        lost.id,
        "found by its wamid from now on"
    );
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        1,
        "it must not be sent again"
    );
    // Once the sender's holding is gone, putting its orphans back only brings back the other
    // one.
    store
        .release_lease(&sender_lease(&w.channel.id), HOLDER, TERM, 10_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .requeue_orphaned_sends(None, 10_000, 10_000)
            .await
            .unwrap(),
        1
    );
    let back = claim(&store, &w.channel.id, 10_000, 10).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message_id, stranger.id);
    // Later statuses find it by wamid, whatever the callback data says.
    let mut delivered = status(&w.channel, "wamid.LOST", Delivered, 3_000);
    delivered.callback_data = Some("something else".into());
    assert_eq!(
        store.apply_status(&delivered).await.unwrap(),
        StatusOutcome::Advanced {
            message_id: lost.id.clone(),
            learned_wamid: false,
        }
    );
    assert_eq!(
        history(&store, &lost.id).await,
        vec![Queued, Sent, Delivered]
    );

    // Callback data naming a message of another channel does not match it.
    let mut foreign = status(&ch2, "wamid.OTHER", Sent, 4_000);
    foreign.callback_data = Some(stranger.id.clone());
    assert_eq!(
        store.apply_status(&foreign).await.unwrap(),
        StatusOutcome::UnknownMessage
    );
    let s = message(&store, &w.tenant.id, &stranger.id).await;
    assert_eq!((s.wamid, s.status), (None, Queued));
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
    // Nor does callback data that is not a gateway id, or that names an inbound message.
    let mut junk = status(&w.channel, "wamid.JUNK", Sent, 4_000);
    junk.callback_data = Some("order-1234".into());
    assert_eq!(
        store.apply_status(&junk).await.unwrap(),
        StatusOutcome::UnknownMessage
    );
    let inb = inbound(&w.channel, "15550009", "wamid.IN", None, 4_000);
    assert!(store.insert_inbound(&inb).await.unwrap());
    let mut at_inbound = status(&w.channel, "wamid.X", Read, 5_000);
    at_inbound.callback_data = Some(inb.message.id.clone());
    assert_eq!(
        store.apply_status(&at_inbound).await.unwrap(),
        StatusOutcome::UnknownMessage
    );
    // An unknown wamid with callback data pointing to no message at all.
    let mut ghost = status(&w.channel, "wamid.GHOST", Sent, 5_000);
    ghost.callback_data = Some("msg_01j00000000000000000000000".into());
    assert_eq!(
        store.apply_status(&ghost).await.unwrap(),
        StatusOutcome::UnknownMessage
    );

    // The send's answer arriving after the webhook reconciled it changes nothing backwards.
    accept(&store, &lost, "wamid.LOST", 6_000).await;
    let after = message(&store, &w.tenant.id, &lost.id).await;
    assert_eq!(after.status, Delivered);
    assert_eq!(
        history(&store, &lost.id).await,
        vec![Queued, Sent, Delivered, Accepted]
    );
}

/// One world's sends, ready for statuses: `a` and `c` accepted (with wamids), `lost` sent but
/// its answer lost.
async fn statuses_world(store: &Arc<dyn Store>, name: &str) -> (World, [Message; 3]) {
    let w = world(store, name).await;
    let a = enqueue(store, outbound(&w.channel, "15550001", 1_000)).await;
    let lost = enqueue(store, outbound(&w.channel, "15550002", 1_000)).await;
    let c = enqueue(store, outbound(&w.channel, "15550003", 1_000)).await;
    claim(store, &w.channel.id, 1_000, 10).await;
    accept(store, &a, &format!("wamid.{name}.A"), 1_100).await;
    accept(store, &c, &format!("wamid.{name}.C"), 1_100).await;
    (w, [a, lost, c])
}

/// Every case of [`crate::status`] at once, for the world `name` of [`statuses_world`].
fn statuses_script(w: &World, name: &str, lost: &Message) -> Vec<StatusUpdate> {
    let ch = &w.channel;
    let a = format!("wamid.{name}.A");
    let c = format!("wamid.{name}.C");
    let lost_wamid = format!("wamid.{name}.LOST");
    let mut found_by_callback = status(ch, &lost_wamid, Sent, 2_000);
    found_by_callback.callback_data = Some(lost.id.clone());
    let mut priced = status(ch, &c, Sent, 2_000);
    priced.pricing_category = Some("marketing".into());
    let mut failed = status(ch, &c, Failed, 2_100);
    failed.error = Some(json!([{"code": 131026, "title": "Message undeliverable"}]));
    vec![
        status(ch, &a, Sent, 2_000),
        status(ch, &a, Read, 3_000),
        status(ch, &a, Delivered, 2_500), // late: history only
        status(ch, &a, Read, 3_000),      // repeated: nothing
        found_by_callback,
        // Found by the wamid the previous update taught it.
        status(ch, &lost_wamid, Delivered, 2_600),
        status(ch, &format!("wamid.{name}.NOBODY"), Sent, 2_000),
        priced,
        failed,
        status(ch, &c, Read, 2_200), // after failed: history only
    ]
}

/// What a world's messages hold after the script, with the ids made comparable.
async fn statuses_result(
    store: &Arc<dyn Store>,
    w: &World,
    sends: &[Message; 3],
    outcomes: Vec<StatusOutcome>,
) -> serde_json::Value {
    let local = |id: &str| {
        sends
            .iter()
            .position(|m| m.id == id)
            .map(|i| i.to_string())
            .unwrap_or_default()
    };
    let outcomes: Vec<String> = outcomes
        .into_iter()
        .map(|o| match o {
            StatusOutcome::Advanced {
                message_id,
                learned_wamid,
            } => format!("advanced {} {learned_wamid}", local(&message_id)),
            StatusOutcome::Kept {
                message_id,
                learned_wamid,
            } => format!("kept {} {learned_wamid}", local(&message_id)),
            StatusOutcome::UnknownMessage => "unknown".into(),
        })
        .collect();
    let mut messages = Vec::new();
    for m in sends {
        let now = message(store, &w.tenant.id, &m.id).await;
        let session = match &now.session_id {
            Some(s) => store
                .get_session(&w.tenant.id, s)
                .await
                .unwrap()
                .and_then(|s| s.kind),
            None => None,
        };
        messages.push(json!({
            "status": now.status,
            "wamid": now.wamid.map(|w| w.split('.').next_back().unwrap_or_default().to_string()),
            "error": now.error,
            "updated_at": now.updated_at,
            "history": history(store, &m.id).await,
            "session_kind": session,
        }));
    }
    let filter = EventFilter {
        types: vec!["message.status".into()],
        limit: 1_000,
        ..Default::default()
    };
    let mut events: Vec<String> = store
        .list_events(&w.tenant.id, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                local(e.data["message_id"].as_str().unwrap_or_default()),
                e.data["status"],
                e.data["wamid"].as_str().is_some(),
                e.data["error"]
            )
        })
        .collect();
    events.sort();
    json!({
        "outcomes": outcomes,
        "messages": messages,
        "events": events,
        "outbox": store.outbox_depth().await.unwrap(),
    })
}

/// `apply_statuses` is `apply_status` one by one, in order: the same outcomes, rows and events
/// (the PostgreSQL backend applies a batch with set-based statements).
pub async fn a_batch_of_statuses_is_applied_as_one_by_one(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let (w1, sends1) = statuses_world(&store, "One").await;
    let mut one_by_one = Vec::new();
    for u in statuses_script(&w1, "One", &sends1[1]) {
        one_by_one.push(store.apply_status(&u).await.unwrap());
    }
    let expected = statuses_result(&store, &w1, &sends1, one_by_one).await;
    let (w2, sends2) = statuses_world(&store, "Two").await;
    let batch = store
        .apply_statuses(&statuses_script(&w2, "Two", &sends2[1]))
        .await
        .unwrap();
    let got = statuses_result(&store, &w2, &sends2, batch).await;
    assert_eq!(got, expected);
    assert_eq!(
        expected["outcomes"][4], "advanced 1 true",
        "the lost send learns its wamid"
    );
    assert_eq!(expected["outcomes"][6], "unknown");
    assert_eq!(expected["messages"][2]["session_kind"], "marketing");
    assert!(
        store.apply_statuses(&[]).await.unwrap().is_empty(),
        "nothing to apply"
    );
}
