//! The Graph send route: Meta's answers, errors, throughput and status webhooks.

mod common;

use common::*;
use openbsp_simulator::{Faults, SimulatorConfig, StatusDelays};
use openbsp_wire::SendRequest;
use openbsp_wire::send::Surface;
use serde_json::{Value, json};

#[tokio::test]
async fn text_send_is_answered_like_meta_and_gets_sent_delivered_read() {
    // Gaps wide enough that arrival order is the emission order even on a loaded machine.
    let config = SimulatorConfig {
        status_delays: StatusDelays {
            sent_ms: 10,
            delivered_ms: 200,
            read_ms: Some(400),
        },
        ..fast_config()
    };
    let (sim, rx) = setup(config, 0).await;
    let mut body = text_to("+1 (555) 010-1234", "hello from the gateway");
    body["biz_opaque_callback_data"] = json!("msg_01J9");
    let (status, answer) = send(&sim, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{answer}");
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wamid.starts_with("wamid.HBgL"), "{wamid}");
    assert_eq!(
        answer,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+1 (555) 010-1234", "wa_id": "15550101234"}],
            "messages": [{"id": wamid}],
        })
    );

    let received = sim.received(PNID);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].wamid, wamid);
    assert_eq!(received[0].to, "15550101234");
    assert_eq!(received[0].body, body);

    wait_for("three statuses", 10, || rx.statuses().len() >= 3).await;
    let hits = rx.accepted();
    assert!(
        hits.iter().all(|h| h.signature_ok),
        "every webhook is signed"
    );
    assert!(
        hits.iter()
            .all(|h| h.content_type.as_deref() == Some("application/json"))
    );
    let statuses = rx.statuses();
    let kinds: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sent", "delivered", "read"]);
    for s in &statuses {
        assert_eq!(s["id"], wamid.as_str());
        assert_eq!(s["recipient_id"], "15550101234");
        assert_eq!(s["biz_opaque_callback_data"], "msg_01J9");
        assert!(s["timestamp"].as_str().unwrap().parse::<i64>().unwrap() > 1_600_000_000);
        assert!(s.get("conversation").is_none());
    }
    let pricing = json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"});
    assert_eq!(statuses[0]["pricing"], pricing);
    assert_eq!(statuses[1]["pricing"], pricing);
    assert!(statuses[2].get("pricing").is_none());

    let env = &hits[0].json;
    assert_eq!(env["object"], "whatsapp_business_account");
    assert_eq!(env["entry"][0]["id"], WABA);
    assert_eq!(env["entry"][0]["changes"][0]["field"], "messages");
    let value = &env["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messaging_product"], "whatsapp");
    assert_eq!(
        value["metadata"],
        json!({"display_phone_number": DISPLAY, "phone_number_id": PNID})
    );
    // The gateway's parser reads what the simulator sends.
    let parsed: openbsp_wire::webhook::Envelope = serde_json::from_slice(&hits[0].raw).unwrap();
    let v: openbsp_wire::webhook::MessagesValue =
        serde_json::from_value(parsed.entry[0].changes[0].value.clone()).unwrap();
    assert_eq!(v.statuses[0].id, wamid);

    // The simulator logs an attempt once the answer is back, a moment after the receiver
    // has it.
    let start = std::time::Instant::now();
    while sim.webhook_log().len() < 3 && start.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let log = sim.webhook_log();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|a| a.succeeded() && a.url == rx.url && a.attempt == 1)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_190() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let body = text_to("15550101234", "x");
    for token in [None, Some("wrong")] {
        let resp = client()
            .post(messages_url(&sim))
            .header(
                "authorization",
                token.map(|t| format!("Bearer {t}")).unwrap_or_default(),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().get("www-authenticate").is_some());
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], 190);
        assert_eq!(v["error"]["type"], "OAuthException");
        assert!(v["error"]["fbtrace_id"].as_str().unwrap().starts_with('A'));
    }
    // Graph also takes the token as a query parameter.
    let resp = client()
        .post(format!("{}?access_token={TOKEN}", messages_url(&sim)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.received(PNID).len(), 1);
}

#[tokio::test]
async fn unknown_phone_number_is_400_100_33() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let resp = client()
        .post(format!("{}/v21.0/999000/messages", sim.url()))
        .bearer_auth(TOKEN)
        .json(&text_to("15550101234", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 100);
    assert_eq!(v["error"]["error_subcode"], 33);
    assert_eq!(
        v["error"]["message"],
        "(#100) Unsupported post request. Object with ID '999000' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
    );
}

#[tokio::test]
async fn invalid_bodies_get_the_wire_crates_errors() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let bodies = [
        json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "text"}),
        json!({"to": "15550101234", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "1555abc1234", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "15550101234", "text": {"body": "a".repeat(4097)}}),
        json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "fax"}),
    ];
    for body in bodies {
        let expected = SendRequest::parse(&body, Surface::Graph).unwrap_err();
        let (status, v) = send(&sim, Some(TOKEN), &body).await;
        assert_eq!(status, expected.http_status, "{body}");
        let mut want = expected.to_graph_json("trace");
        want["error"]["fbtrace_id"] = v["error"]["fbtrace_id"].clone();
        assert_eq!(v, want, "{body}");
    }

    let resp = client()
        .post(messages_url(&sim))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"messaging_product\": \"whatsapp\",")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 100);
    assert_eq!(
        v["error"]["message"],
        "(#100) The request body could not be parsed as JSON"
    );

    // Sending to the business's own number.
    let (status, v) = send(&sim, Some(TOKEN), &text_to(&format!("+{DISPLAY}"), "me")).await;
    assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(131021)));

    assert!(sim.received(PNID).is_empty(), "nothing invalid is accepted");
    assert!(rx.hits().is_empty());
}

#[tokio::test]
async fn unknown_version_segment_is_rejected() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let resp = client()
        .post(format!("{}/latest/{PNID}/messages", sim.url()))
        .bearer_auth(TOKEN)
        .json(&text_to("15550101234", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 2500);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown path components")
    );
}

#[tokio::test]
async fn throughput_over_the_limit_is_130429() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let mut p = phone(None);
    p.throughput_mps = Some(5);
    sim.add_phone_number(p);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (http, url) = (client(), messages_url(&sim));
        set.spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(TOKEN)
                .json(&text_to("15550101234", &format!("burst {i}")))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        });
    }
    let results = set.join_all().await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 400)
        .map(|(_, v)| v)
        .collect();
    assert!((5..=7).contains(&ok), "{ok} accepted");
    assert_eq!(ok + limited.len(), 20);
    for v in limited {
        assert_eq!(v["error"]["code"], 130429);
        assert_eq!(v["error"]["message"], "(#130429) Rate limit hit");
    }
    assert_eq!(sim.received(PNID).len(), ok);
}

#[tokio::test]
async fn injected_errors_use_metas_codes_and_http_statuses() {
    let (sim, rx) = setup(fast_config(), 0).await;
    for (code, http) in [(131000, 500), (131026, 400), (131016, 500)] {
        sim.set_faults(Faults {
            error_rate: 1.0,
            error_code: code,
            ..Faults::default()
        });
        let (status, v) = send(&sim, Some(TOKEN), &text_to("15550101234", "x")).await;
        assert_eq!(status, http);
        assert_eq!(v["error"]["code"], code);
    }
    sim.set_faults(Faults::default());
    let (status, _) = send(&sim, Some(TOKEN), &text_to("15550101234", "x")).await;
    assert_eq!(status, 200);
    assert_eq!(sim.received(PNID).len(), 1);
    wait_for("statuses", 10, || rx.statuses().len() == 3).await;
}

#[tokio::test]
async fn bsuid_send_answers_user_id_and_statuses_carry_it() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let body = json!({"messaging_product": "whatsapp", "recipient": "US.13491208655302741918", "type": "text", "text": {"body": "hi"}});
    let (status, v) = send(&sim, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["contacts"],
        json!([{"input": "US.13491208655302741918", "user_id": "US.13491208655302741918"}])
    );
    wait_for("statuses", 10, || rx.statuses().len() == 3).await;
    for hit in rx.accepted() {
        let value = &hit.json["entry"][0]["changes"][0]["value"];
        assert_eq!(
            value["statuses"][0]["recipient_user_id"],
            "US.13491208655302741918"
        );
        assert!(value["statuses"][0].get("recipient_id").is_none());
        assert_eq!(value["contacts"][0]["user_id"], "US.13491208655302741918");
    }
    assert_eq!(sim.received(PNID)[0].to, "US.13491208655302741918");
}

#[tokio::test]
async fn mark_as_read_needs_an_inbound_wamid() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let wamid = sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from: Some("15551234567".into()),
            name: Some("Ana".into()),
            message: json!({"type": "text", "text": {"body": "hi"}}),
            ..Default::default()
        })
        .await
        .unwrap();
    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}});
    let (status, v) = send(&sim, Some(TOKEN), &read).await;
    assert_eq!((status, v), (200, json!({"success": true})));
    let inbound = sim.inbound(PNID);
    assert!(inbound[0].read_at_ms.is_some());
    assert!(inbound[0].typing_indicator);

    let unknown =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"});
    let (status, v) = send(&sim, Some(TOKEN), &unknown).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], 100);
    assert!(
        v["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("wamid.nope")
    );
    // The wire crate's checks, field by field.
    for (body, field) in [
        (
            json!({"messaging_product": "whatsapp", "status": "read"}),
            "message_id",
        ),
        (
            json!({"status": "read", "message_id": wamid}),
            "messaging_product",
        ),
        (
            json!({"messaging_product": "whatsapp", "status": "seen", "message_id": wamid}),
            "status",
        ),
        (
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid, "typing_indicator": {"type": "audio"}}),
            "typing_indicator",
        ),
    ] {
        let (status, v) = send(&sim, Some(TOKEN), &body).await;
        assert_eq!(
            (status, v["error"]["code"].as_i64()),
            (400, Some(100)),
            "{body}"
        );
        let details = v["error"]["error_data"]["details"].as_str().unwrap();
        assert!(details.contains(field), "{body}: {details}");
    }
    assert!(
        sim.received(PNID).is_empty(),
        "mark-as-read is not a message"
    );
    wait_for("the inbound webhook", 10, || rx.accepted().len() == 1).await;
}

#[tokio::test]
async fn default_config_uses_metas_timing() {
    let c = SimulatorConfig::default();
    assert_eq!(
        (c.status_delays.sent_ms, c.status_delays.delivered_ms),
        (50, 300)
    );
}
