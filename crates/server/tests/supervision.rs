//! What keeps the gateway going when a part of it fails, on both backends: a background worker
//! that panics is started again (and `/readyz` names it while it is down), and an outcome the
//! store refuses to record neither holds the other sends back nor gets its send posted twice.

mod common;

use std::time::Duration;

use common::*;
use openbsp_domain::Clock;
use openbsp_server::workers::Worker;
use openbsp_store::sender_lease;
use openbsp_testkit::{Backend, on_both_backends};

on_both_backends! {
    a_panicking_worker_is_started_again_and_readyz_names_it_meanwhile =>
        crate::a_panicking_worker_is_started_again_and_readyz_names_it_meanwhile,
    the_sender_started_again_mid_burst_sends_each_once =>
        crate::the_sender_started_again_mid_burst_sends_each_once,
    an_outcome_the_store_refuses_holds_no_other_and_is_not_sent_twice =>
        crate::an_outcome_the_store_refuses_holds_no_other_and_is_not_sent_twice,
}

async fn readyz(app: &TestApp) -> (u16, String) {
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The sender panics (a test hook makes its task panic, as a bug would): `/readyz` answers 503
/// naming it until the supervisor has started it again, after its backoff; then 200, the
/// restart is counted, and the sender sends again.
async fn a_panicking_worker_is_started_again_and_readyz_names_it_meanwhile(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(readyz(&app).await, (200, "ready".into()));

    app.gateway.state.workers.panic_for_tests(Worker::Sender);
    let mut down = None;
    for _ in 0..250 {
        let (status, body) = readyz(&app).await;
        if status == 503 {
            down = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        down.as_deref(),
        Some("not ready: workers down: sender"),
        "/readyz names the sender, and only it, while it is down"
    );
    wait_until("the sender is started again", || async {
        readyz(&app).await == (200, "ready".into())
    })
    .await;

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(openbsp_server::config::TEST_METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let restarts = metrics
        .lines()
        .find(|l| l.starts_with("openbsp_worker_restarts_total{worker=\"sender\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok());
    assert!(restarts.is_some_and(|n| n >= 1.0), "{metrics}");

    // The sender started again sends.
    let sent = app.send_template(USER).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = sent.body["id"].as_str().unwrap().to_string();
    wait_until("the send is recorded", || async {
        let m = app.store.get_message(&app.tenant_id, &id).await.unwrap();
        m.is_some_and(|m| m.wamid.is_some())
    })
    .await;
    assert_eq!(app.sim.received(PNID).len(), 1);
}

/// The sender panics while its channel's worker is halfway through a burst: that run's worker
/// stops as at shutdown (what it claimed goes back, its posts in flight are recorded, its
/// lease is given up), the run started again takes the channel under a new holding, and every
/// send reaches Meta once and is recorded. The channel's pace holds across the restart: never
/// two workers of one channel side by side (the last run's and the new one's), which would
/// put more than the channel's 10 msg/s in a second at Meta.
async fn the_sender_started_again_mid_burst_sends_each_once(b: Backend) {
    const SENDS: usize = 30;
    let app = spawn_app_with(b, 10).await;
    let mut ids = Vec::new();
    for i in 0..SENDS {
        let r = app.send_template(&format!("1555777{i:04}")).await;
        assert_eq!(r.status, 202, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    wait_until("the burst has begun", || async {
        app.sim.received(PNID).len() >= 5
    })
    .await;
    app.gateway.state.workers.panic_for_tests(Worker::Sender);
    let at_panic = app.sim.received(PNID).len();
    assert!(at_panic < SENDS, "the panic comes before the burst ends");
    wait_up_to(
        Duration::from_secs(30),
        "every send is recorded",
        || async {
            for id in &ids {
                let m = app.store.get_message(&app.tenant_id, id).await.unwrap();
                if m.is_none_or(|m| m.wamid.is_none()) {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let mut at: Vec<i64> = app
        .sim
        .received(PNID)
        .iter()
        .map(|m| m.received_at_ms)
        .collect();
    at.sort_unstable();
    for (i, t) in at.iter().enumerate() {
        let in_second = at[i..].iter().take_while(|u| **u < t + 1_000).count();
        assert!(
            in_second <= 10,
            "{in_second} sends in the second from {t}: {at:?}"
        );
    }
    let mut to: Vec<String> = app.sim.received(PNID).into_iter().map(|m| m.to).collect();
    to.sort();
    let before = to.len();
    to.dedup();
    assert_eq!(before, to.len(), "a send reached Meta twice");
    assert_eq!(to.len(), SENDS);
}

/// The recipient whose send's outcome the store refuses.
const REFUSED: &str = "15559990001";
const OTHER: &str = "15559990002";

/// A trigger that makes the store refuse to record the outcome of the send to [`REFUSED`]
/// (recording Meta's answer deletes the send's outbox row), and the statement that removes it.
fn refusal(b: Backend) -> (String, &'static str) {
    match b {
        Backend::Sqlite => (
            format!(
                "CREATE TRIGGER refuse_outcome BEFORE DELETE ON outbox
                 WHEN OLD.payload LIKE '%{REFUSED}%'
                 BEGIN SELECT RAISE(ABORT, 'injected: the store refuses this outcome'); END;"
            ),
            "DROP TRIGGER refuse_outcome;",
        ),
        Backend::Postgres => (
            format!(
                "CREATE FUNCTION refuse_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'injected: the store refuses this outcome'; END $$;
                 CREATE TRIGGER refuse_outcome BEFORE DELETE ON outbox FOR EACH ROW
                 WHEN (OLD.payload LIKE '%{REFUSED}%') EXECUTE FUNCTION refuse_outcome();"
            ),
            "DROP TRIGGER refuse_outcome ON outbox;",
        ),
    }
}

/// The store refuses to record Meta's answer to one send (a trigger), over and over, then takes
/// it again. Meanwhile the next send's outcome is recorded (the refused batch holds nothing
/// back), the refused send's worker gives its lease up and the send becomes an orphan, put
/// back behind the reconcile grace — and Meta's answer, kept by the recorder, settles it once
/// the store takes it: it is recorded with the `wamid` Meta gave, and never posted again, even
/// long past the grace. Meta's status webhooks are off, so that only the recorder's record
/// can settle the send. The gateway's clock is the test's: the lease and the grace pass when
/// the test says.
async fn an_outcome_the_store_refuses_holds_no_other_and_is_not_sent_twice(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let mut number = app.sim.phone_number(PNID).unwrap();
    number.webhook_url = None;
    app.sim.add_phone_number(number);
    let (refuse, accept) = refusal(b);
    app.db.execute(&refuse).await;

    let refused = app.send_template(REFUSED).await;
    assert_eq!(refused.status, 202, "{}", refused.body);
    let refused_id = refused.body["id"].as_str().unwrap().to_string();
    wait_until("Meta received the refused send", || async {
        app.sim.received(PNID).iter().any(|m| m.to == REFUSED)
    })
    .await;

    // The next send is recorded while the store still refuses the first one's outcome.
    let other = app.send_template(OTHER).await;
    let other_id = other.body["id"].as_str().unwrap().to_string();
    wait_until("the next send is recorded", || async {
        let m = app.store.get_message(&app.tenant_id, &other_id).await;
        m.unwrap().is_some_and(|m| m.wamid.is_some())
    })
    .await;
    let message = |id: String| {
        let app = &app;
        async move {
            app.store
                .get_message(&app.tenant_id, &id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(message(refused_id.clone()).await.wamid, None);

    // The worker, idle, gives its lease up (the test takes it a moment to know), and the send
    // left in flight is an orphan: put back behind the grace, as the leader's sweep does.
    let lease = sender_lease(&app.channel.id);
    let ttl = 3_000;
    wait_up_to(
        Duration::from_secs(30),
        "the worker gives its lease up",
        || async {
            let now = clock.now_ms();
            match app
                .store
                .acquire_lease(&lease, "test", now, ttl)
                .await
                .unwrap()
            {
                Some(l) => {
                    app.store
                        .release_lease(&lease, "test", l.term, now)
                        .await
                        .unwrap();
                    true
                }
                None => false,
            }
        },
    )
    .await;
    let now = clock.now_ms();
    let grace = fast_sender().reconcile_grace.as_millis() as i64;
    // (Unless the leader's sweep did it first: the same, the clock being the test's.)
    let orphans = app
        .store
        .requeue_orphaned_sends(Some(&app.channel.id), now, now + grace)
        .await
        .unwrap();
    assert!(orphans <= 1);

    // The store takes outcomes again: Meta's answer, kept, is recorded.
    app.db.execute(accept).await;
    wait_until("the refused send's outcome is recorded", || async {
        message(refused_id.clone()).await.wamid.is_some()
    })
    .await;
    let received = app.sim.received(PNID);
    let first = received.iter().find(|m| m.to == REFUSED).unwrap();
    assert_eq!(
        message(refused_id.clone()).await.wamid.as_deref(),
        Some(first.wamid.as_str())
    );

    // Long past the grace (twice over, for the wait on Meta's payloads): nothing is sent again.
    clock.advance_ms(10 * grace);
    app.gateway.state.wake_sender(&app.channel.id);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to: Vec<String> = app.sim.received(PNID).into_iter().map(|m| m.to).collect();
    assert_eq!(
        to,
        vec![REFUSED.to_string(), OTHER.to_string()],
        "each sent once"
    );
}
