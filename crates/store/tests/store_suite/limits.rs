//! Meta's messaging limit: the unique users a business portfolio reaches outside their
//! customer service window in a moving 24 hours, shared by the portfolio's numbers.

use openbsp_domain::limits::REACH_WINDOW_MS as DAY;
use openbsp_domain::windows::{Refusal, SendKind};
use openbsp_store::policy::{Reach, SendCheck};
use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::fixtures::*;

fn template(portfolio: &str, limit: u32) -> SendCheck {
    SendCheck {
        kind: SendKind::Template { marketing: false },
        session_kind: Some("utility".into()),
        opened_by: "message".into(),
        reach: Some(Reach {
            portfolio: portfolio.into(),
            limit: Some(limit),
        }),
    }
}

async fn send(
    store: &std::sync::Arc<dyn Store>,
    channel: &Channel,
    to: &str,
    at: i64,
    priority: i32,
    check: &SendCheck,
) -> Result<Message, Refusal> {
    let mut n = outbound(channel, to, at);
    n.priority = priority;
    match store.enqueue_checked(n, check).await.unwrap() {
        Ok(EnqueueOutcome::Created { message, .. }) => Ok(message),
        Ok(other) => panic!("expected Created, got {other:?}"),
        Err(r) => Err(r),
    }
}

/// Two numbers of one portfolio share its limit; a user reached again costs nothing (and
/// counts from the latest time); a user inside their window costs nothing; past the limit a
/// one-to-one send is refused and a bulk send waits for the oldest place to leave the 24 hours,
/// taking it when claimed.
pub async fn the_messaging_limit_is_the_portfolios_and_moves_with_24_hours(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut a = w.channel.clone();
    let mut b = second_channel(&store, &w).await;
    for ch in [&mut a, &mut b] {
        ch.business_id = Some("biz-1".into());
        store.update_channel(ch).await.unwrap();
    }
    let check = template("biz-1", 3);
    let t = 10_000;
    send(&store, &a, "15550001", t, priority::DIRECT, &check)
        .await
        .unwrap();
    send(&store, &b, "15550002", t + 1, priority::DIRECT, &check)
        .await
        .unwrap();
    send(&store, &a, "15550003", t + 2, priority::DIRECT, &check)
        .await
        .unwrap();
    // Reached again: no new place, and it counts from now.
    send(&store, &b, "15550001", t + 3, priority::DIRECT, &check)
        .await
        .expect("a user reached in the 24 hours may be sent to again");
    // Inside their window: not counted.
    assert!(
        store
            .insert_inbound(&inbound(&a, "15550005", "wamid.IN5", None, t + 4))
            .await
            .unwrap()
    );
    send(&store, &a, "15550005", t + 5, priority::DIRECT, &check)
        .await
        .expect("a user inside their window does not count");
    // A fourth new user: refused, with the time the oldest place (15550002's) frees.
    let refused = send(&store, &b, "15550004", t + 6, priority::DIRECT, &check).await;
    assert_eq!(
        refused.unwrap_err(),
        Refusal::MessagingLimit {
            limit: 3,
            until: t + 1 + DAY
        }
    );
    // Another portfolio (the same tenant's) has its own count.
    send(
        &store,
        &a,
        "15550004",
        t + 6,
        priority::DIRECT,
        &template("biz-2", 3),
    )
    .await
    .expect("another portfolio's limit is its own");

    // What was accepted goes out.
    assert_eq!(claim(&store, &a.id, t + 10, 10).await.len(), 4);
    assert_eq!(claim(&store, &b.id, t + 10, 10).await.len(), 2);

    // Bulk past the limit: accepted, waiting for the place to free.
    let bulk = send(&store, &b, "15550006", t + 7, priority::BULK, &check)
        .await
        .expect("bulk past the limit waits, it is not refused");
    assert!(
        claim(&store, &b.id, t + DAY, 10).await.is_empty(),
        "no place before the oldest reach leaves the 24 hours"
    );
    // When claimed it takes its place under the portfolio's tier as it is then.
    store
        .set_portfolio_tier(&w.tenant.id, "biz-1", Some("TIER_250"), t + 20)
        .await
        .unwrap();
    let got = claim(&store, &b.id, t + 1 + DAY, 10).await;
    assert_eq!(
        got.iter()
            .map(|i| i.message_id.as_str())
            .collect::<Vec<_>>(),
        vec![bulk.id.as_str()]
    );
    // It took that place: the next new user is refused again (15550003, 15550001, 15550006).
    let refused = send(
        &store,
        &a,
        "15550007",
        t + 1 + DAY,
        priority::DIRECT,
        &check,
    )
    .await;
    assert!(
        matches!(refused, Err(Refusal::MessagingLimit { limit: 3, .. })),
        "{refused:?}"
    );
    // Pruning forgets what is past the 24 hours only.
    assert_eq!(
        store.prune_reach(t + 1 + DAY).await.unwrap(),
        1,
        "15550002's reach"
    );
    assert_eq!(store.prune_reach(t + 1 + DAY).await.unwrap(), 0);
}

/// Bulk sends past the limit wait in the order they came, each taking the next place that
/// frees, under the portfolio's tier as it is when they are claimed.
pub async fn waiting_bulk_sends_take_places_as_they_free(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let ch = w.channel.clone();
    let t = 50_000;
    store
        .set_portfolio_tier(&w.tenant.id, ch.portfolio(), Some("TIER_50"), t)
        .await
        .unwrap();
    let check = template(ch.portfolio(), 50);
    for i in 0..50 {
        send(
            &store,
            &ch,
            &format!("1556{i:07}"),
            t + i,
            priority::BULK,
            &check,
        )
        .await
        .unwrap();
    }
    assert_eq!(claim(&store, &ch.id, t + 50, 100).await.len(), 50);
    let w1 = send(&store, &ch, "15569990001", t + 100, priority::BULK, &check)
        .await
        .unwrap();
    let w2 = send(&store, &ch, "15569990002", t + 101, priority::BULK, &check)
        .await
        .unwrap();
    assert!(claim(&store, &ch.id, t + DAY - 1, 10).await.is_empty());
    // The first place frees: the first waiting send takes it, the second waits for the next.
    let got = claim(&store, &ch.id, t + DAY, 10).await;
    assert_eq!(
        got.iter().map(|i| i.message_id.clone()).collect::<Vec<_>>(),
        vec![w1.id.clone()]
    );
    let got = claim(&store, &ch.id, t + DAY + 1, 10).await;
    assert_eq!(
        got.iter().map(|i| i.message_id.clone()).collect::<Vec<_>>(),
        vec![w2.id.clone()]
    );
}

/// A tier set for a portfolio reaches every channel of it in the tenant, no other.
pub async fn a_tier_is_set_for_the_whole_portfolio(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "Acme").await;
    let mut b = second_channel(&store, &w).await;
    let c = second_channel(&store, &w).await;
    b.business_id = Some(w.channel.waba_id.clone());
    store.update_channel(&b).await.unwrap();
    let other = world(&store, "Other").await;
    let changed = store
        .set_portfolio_tier(&w.tenant.id, &w.channel.waba_id, Some("TIER_2K"), 5_000)
        .await
        .unwrap();
    assert_eq!(
        changed, 2,
        "the WABA's channel and the one naming it as its portfolio"
    );
    let tier = |id: String| {
        let store = store.clone();
        async move {
            store
                .get_channel(&id)
                .await
                .unwrap()
                .unwrap()
                .messaging_tier
        }
    };
    assert_eq!(tier(w.channel.id.clone()).await.as_deref(), Some("TIER_2K"));
    assert_eq!(tier(b.id.clone()).await.as_deref(), Some("TIER_2K"));
    assert_eq!(tier(c.id.clone()).await, None);
    assert_eq!(tier(other.channel.id.clone()).await, None);
    // Setting it again changes nothing; an update of the channel keeps it.
    assert_eq!(
        store
            .set_portfolio_tier(&w.tenant.id, &w.channel.waba_id, Some("TIER_2K"), 6_000)
            .await
            .unwrap(),
        0
    );
    store.update_channel(&b).await.unwrap();
    assert_eq!(tier(b.id.clone()).await.as_deref(), Some("TIER_2K"));
}
