//! The sender under real traffic: exactly once when Meta is slow, on both backends.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use openbsp_simulator::Faults;
use openbsp_testkit::{Backend, on_both_backends};

on_both_backends! {
    a_slow_meta_never_gets_a_send_twice => crate::a_slow_meta_never_gets_a_send_twice,
}

/// Meta answering in seconds, a backlog of a few hundred sends and short timeouts (a lease
/// shorter than one answer): every send reaches Meta once. (Sends claimed in a batch used to wait their turn behind 64 posts in
/// flight; once that wait passed the in-flight timeout the stale sweep put them back, and they
/// were posted twice.)
async fn a_slow_meta_never_gets_a_send_twice(b: Backend) {
    const SENDS: usize = 300;
    let app = spawn_app_tuned(b, 500, |c| {
        c.sender.request_timeout = Duration::from_millis(2_500);
        c.sender.lease_ttl = Duration::from_secs(1);
        c.sender.reconcile_grace = Duration::from_secs(3);
    })
    .await;
    app.sim.set_faults(Faults {
        latency_ms: 2_000,
        ..Faults::default()
    });
    let users: Vec<String> = (0..SENDS).map(|i| format!("1555800{i:04}")).collect();
    let mut ids = Vec::with_capacity(SENDS);
    for chunk in users.chunks(50) {
        let answers = futures::future::join_all(chunk.iter().map(|u| app.send_template(u))).await;
        for r in answers {
            assert_eq!(r.status, 202, "{}", r.body);
            ids.push(r.body["id"].as_str().unwrap().to_string());
        }
    }
    wait_up_to(
        Duration::from_secs(60),
        "every send reached Meta",
        || async { app.sim.received(PNID).len() >= SENDS },
    )
    .await;
    for id in &ids {
        wait_up_to(Duration::from_secs(30), "every send recorded", || async {
            let m = app
                .store
                .get_message(&app.tenant_id, id)
                .await
                .unwrap()
                .unwrap();
            m.wamid.is_some()
        })
        .await;
    }
    // Long enough for a send taken for an orphan to be swept, wait out its grace and go again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for m in app.sim.received(PNID) {
        *per_user.entry(m.to).or_default() += 1;
    }
    let twice: Vec<_> = per_user.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} of {SENDS} sends reached Meta more than once: {twice:?}",
        twice.len()
    );
    assert_eq!(per_user.len(), SENDS);
}
