//! Webhook delivery: signatures, Meta's escaping, retries, inbound injection and the
//! status faults.

mod common;

use std::time::Duration;

use common::*;
use openbsp_simulator::{Enforcement, Faults, InboundError, InboundRequest, StatusDelays};
use serde_json::{Value, json};

fn hi_from(from: &str, body: &str) -> InboundRequest {
    InboundRequest {
        phone_number_id: PNID.into(),
        from: Some(from.into()),
        name: Some("Ana Souza".into()),
        message: json!({"type": "text", "text": {"body": body}}),
        ..Default::default()
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_accepted() {
    let (sim, rx) = setup(fast_config(), 3).await;
    let wamid = sim
        .inject_inbound(hi_from("15551234567", "retry me"))
        .await
        .unwrap();
    wait_for("an accepted delivery", 10, || rx.accepted().len() == 1).await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 4);
    assert!(
        hits.iter().all(|h| h.signature_ok && h.raw == hits[0].raw),
        "same signed bytes every time"
    );
    assert_eq!(
        rx.accepted()[0].json["entry"][0]["changes"][0]["value"]["messages"][0]["id"],
        wamid.as_str()
    );

    // The simulator logs an attempt once it has the answer, just after the receiver saw it.
    wait_for("the fourth attempt logged", 10, || {
        sim.webhook_log().len() == 4
    })
    .await;
    let log = sim.webhook_log();
    let codes: Vec<Option<u16>> = log.iter().map(|a| a.status).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
    assert_eq!(
        log.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(log.iter().all(|a| a.delivery_id == log[0].delivery_id));
    assert!(log[0].error.as_deref().unwrap().contains("500"));
    // Backoff: 20, 40, 80 ms between attempts.
    assert!(
        log[3].at_ms - log[0].at_ms >= 140,
        "{:?}",
        log.iter().map(|a| a.at_ms).collect::<Vec<_>>()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_wait_for_a_receiver_that_is_down() {
    // A port nobody listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/webhooks/whatsapp", dead.local_addr().unwrap());
    drop(dead);
    let sim = openbsp_simulator::Simulator::start(fast_config())
        .await
        .unwrap();
    sim.add_phone_number(phone(Some(dead_url.clone())));
    let wamid = sim
        .inject_inbound(hi_from("15551234567", "are you there?"))
        .await
        .unwrap();
    wait_for("failed attempts", 10, || sim.webhook_log().len() >= 3).await;
    let log = sim.webhook_log();
    assert!(
        log.iter()
            .all(|a| a.status.is_none() && a.error.is_some() && a.url == dead_url)
    );

    // The gateway comes back (here on a new port, so the number is updated).
    let rx = Receiver::start(SECRET, 0).await;
    sim.add_phone_number(phone(Some(rx.url.clone())));
    wait_for("the held webhook", 10, || rx.accepted().len() == 1).await;
    let hit = &rx.accepted()[0];
    assert!(hit.signature_ok);
    assert_eq!(
        hit.json["entry"][0]["changes"][0]["value"]["messages"][0]["id"],
        wamid.as_str()
    );
    wait_for("nothing pending", 10, || {
        sim.state().background_tasks() == 0
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_wait_for_a_webhook_url() {
    let sim = openbsp_simulator::Simulator::start(fast_config())
        .await
        .unwrap();
    sim.add_phone_number(phone(None));
    sim.inject_inbound(hi_from("15551234567", "early"))
        .await
        .unwrap();
    wait_for("attempts without a URL", 10, || {
        sim.webhook_log().len() >= 2
    })
    .await;
    assert!(
        sim.webhook_log()[0]
            .error
            .as_deref()
            .unwrap()
            .contains("webhook_url")
    );
    let rx = Receiver::start(SECRET, 0).await;
    sim.add_phone_number(phone(Some(rx.url.clone())));
    wait_for("the held webhook", 10, || rx.accepted().len() == 1).await;
}

#[tokio::test]
async fn inbound_injection_reaches_the_receiver_signed_in_metas_shape() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let wamid = sim
        .inject_inbound(hi_from("15551234567", "hi"))
        .await
        .unwrap();
    assert!(
        wamid.starts_with("wamid.HBgLMTU1NTEyMzQ1NjcVAgASGB"),
        "{wamid}"
    );
    wait_for("the inbound webhook", 10, || rx.accepted().len() == 1).await;
    let hit = &rx.accepted()[0];
    assert!(hit.signature_ok);
    let value = &hit.json["entry"][0]["changes"][0]["value"];
    assert_eq!(hit.json["entry"][0]["id"], WABA);
    assert_eq!(
        value["contacts"],
        json!([{"profile": {"name": "Ana Souza"}, "wa_id": "15551234567"}])
    );
    let m = &value["messages"][0];
    assert_eq!(m["from"], "15551234567");
    assert_eq!(m["id"], wamid.as_str());
    assert_eq!(m["type"], "text");
    assert_eq!(m["text"], json!({"body": "hi"}));
    let ts: i64 = m["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
    assert!(m.get("from_user_id").is_none());

    // A user known only by BSUID.
    let wamid = sim
        .inject_inbound(InboundRequest {
            phone_number_id: PNID.into(),
            from_user_id: Some("US.13491208655302741918".into()),
            name: Some("Hidden".into()),
            message: json!({"type": "text", "text": {"body": "no number"}}),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_for("the BSUID webhook", 10, || rx.accepted().len() == 2).await;
    let hit = rx
        .accepted()
        .into_iter()
        .find(|h| h.json["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == wamid.as_str())
        .unwrap();
    let value = &hit.json["entry"][0]["changes"][0]["value"];
    assert_eq!(
        value["contacts"],
        json!([{"profile": {"name": "Hidden"}, "user_id": "US.13491208655302741918"}])
    );
    assert_eq!(
        value["messages"][0]["from_user_id"],
        "US.13491208655302741918"
    );
    assert!(value["messages"][0].get("from").is_none());

    // Bad input and unknown numbers.
    let mut bad = hi_from("15551234567", "x");
    bad.phone_number_id = "nope".into();
    assert!(matches!(
        sim.inject_inbound(bad).await,
        Err(InboundError::UnknownPhoneNumber(_))
    ));
    let bad = InboundRequest {
        from: None,
        ..hi_from("1", "x")
    };
    assert!(
        matches!(sim.inject_inbound(bad).await, Err(InboundError::Invalid { field, .. }) if field == "from")
    );
}

#[tokio::test]
async fn non_ascii_is_escaped_and_signed_as_sent() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let text = "Olá! 👋 café — 中文";
    sim.inject_inbound(hi_from("15551234567", text))
        .await
        .unwrap();
    wait_for("the inbound webhook", 10, || rx.accepted().len() == 1).await;
    let hit = &rx.accepted()[0];
    let raw = std::str::from_utf8(&hit.raw).unwrap();
    assert!(raw.is_ascii(), "{raw}");
    assert!(
        raw.contains(r#""body":"Ol\u00e1! \ud83d\udc4b caf\u00e9 \u2014 \u4e2d\u6587""#),
        "{raw}"
    );
    // The signature is over the escaped bytes, not over a re-serialisation.
    assert!(hit.signature_ok);
    assert_eq!(
        hit.json["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"],
        text
    );
    let reserialised = serde_json::to_vec(&hit.json).unwrap();
    assert_ne!(
        expected_signature(SECRET, &reserialised),
        expected_signature(SECRET, &hit.raw)
    );
}

#[tokio::test]
async fn duplicate_fault_delivers_every_webhook_twice() {
    let (sim, rx) = setup(fast_config(), 0).await;
    sim.set_faults(Faults {
        duplicate_webhook_rate: 1.0,
        ..Faults::default()
    });
    let (status, _) = send(&sim, Some(TOKEN), &text_to("15550101234", "twice")).await;
    assert_eq!(status, 200);
    wait_for("six status webhooks", 10, || rx.statuses().len() == 6).await;
    for kind in ["sent", "delivered", "read"] {
        let same: Vec<Value> = rx
            .statuses()
            .into_iter()
            .filter(|s| s["status"] == kind)
            .collect();
        assert_eq!(same.len(), 2);
        assert_eq!(same[0], same[1]);
    }
}

#[tokio::test]
async fn drop_fault_loses_statuses() {
    let (sim, rx) = setup(fast_config(), 0).await;
    sim.set_faults(Faults {
        drop_status_rate: 1.0,
        ..Faults::default()
    });
    let (status, _) = send(&sim, Some(TOKEN), &text_to("15550101234", "lost")).await;
    assert_eq!(status, 200);
    wait_for("the status timers", 10, || {
        sim.state().background_tasks() == 0
    })
    .await;
    assert!(rx.hits().is_empty());
}

#[tokio::test]
async fn reorder_fault_delivers_read_first_with_event_timestamps() {
    let config = openbsp_simulator::SimulatorConfig {
        status_delays: StatusDelays {
            sent_ms: 10,
            delivered_ms: 200,
            read_ms: Some(2400),
        },
        ..fast_config()
    };
    let (sim, rx) = setup(config, 0).await;
    sim.set_faults(Faults {
        reorder_statuses: true,
        ..Faults::default()
    });
    send(&sim, Some(TOKEN), &text_to("15550101234", "shuffled")).await;
    wait_for("three statuses", 10, || rx.statuses().len() == 3).await;
    let statuses = rx.statuses();
    let kinds: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["read", "delivered", "sent"]);
    let ts = |s: &Value| s["timestamp"].as_str().unwrap().parse::<i64>().unwrap();
    assert!(
        ts(&statuses[0]) > ts(&statuses[2]),
        "read happened after sent"
    );
}

#[tokio::test]
async fn async_failures_and_the_24h_window() {
    let (sim, rx) = setup(fast_config(), 0).await;
    sim.set_faults(Faults {
        fail_status_rate: 1.0,
        ..Faults::default()
    });
    let (status, v) = send(&sim, Some(TOKEN), &text_to("15550101234", "doomed")).await;
    assert_eq!(status, 200, "accepted, then fails");
    wait_for("the failed status", 10, || rx.statuses().len() == 1).await;
    let s = &rx.statuses()[0];
    assert_eq!(s["status"], "failed");
    assert_eq!(s["id"], v["messages"][0]["id"]);
    assert_eq!(s["errors"][0]["code"], 131026);
    assert!(s.get("pricing").is_none());
    sim.set_faults(Faults::default());

    sim.set_enforcement(Enforcement {
        customer_service_window: true,
        ..Enforcement::default()
    });
    send(&sim, Some(TOKEN), &text_to("15551234567", "cold outreach")).await;
    wait_for("the 131047 failure", 10, || rx.statuses().len() == 2).await;
    assert_eq!(rx.statuses()[1]["errors"][0]["code"], 131047);

    sim.inject_inbound(hi_from("15551234567", "hello"))
        .await
        .unwrap();
    send(
        &sim,
        Some(TOKEN),
        &text_to("15551234567", "reply in window"),
    )
    .await;
    wait_for("delivery", 10, || rx.statuses().len() == 5).await;
    assert!(rx.statuses()[2..].iter().all(|s| s["status"] != "failed"));

    // A day later the window is closed again.
    sim.advance_clock(24 * 3600 + 1);
    send(&sim, Some(TOKEN), &text_to("15551234567", "too late")).await;
    wait_for("the second 131047", 10, || {
        rx.statuses()
            .iter()
            .filter(|s| s["status"] == "failed")
            .count()
            == 3
    })
    .await;
    let last = rx
        .statuses()
        .into_iter()
        .rfind(|s| s["status"] == "failed")
        .unwrap();
    let ts: i64 = last["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        ts > chrono::Utc::now().timestamp() + 86_000,
        "timestamps follow the advanced clock"
    );
}

#[tokio::test]
async fn pair_rate_limit_when_enforced() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    sim.set_enforcement(Enforcement {
        pair_rate_limit: true,
        ..Enforcement::default()
    });
    let mut codes = Vec::new();
    for i in 0..50 {
        let (status, v) = send(&sim, Some(TOKEN), &text_to("15559990000", &format!("{i}"))).await;
        codes.push((status, v["error"]["code"].as_i64()));
    }
    assert_eq!(codes.iter().filter(|(s, _)| *s == 200).count(), 45);
    assert!(codes[45..].iter().all(|c| *c == (400, Some(131056))));
}

#[tokio::test]
async fn shutdown_stops_pending_retries() {
    let (sim, rx) = setup(fast_config(), usize::MAX).await;
    sim.inject_inbound(hi_from("15551234567", "never accepted"))
        .await
        .unwrap();
    wait_for("a failing attempt", 10, || !rx.hits().is_empty()).await;
    let state = sim.state().clone();
    let url = sim.url();
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .unwrap();
    assert_eq!(state.background_tasks(), 0);
    assert!(
        client()
            .get(format!("{url}/_simulator/healthz"))
            .send()
            .await
            .is_err()
    );
}
