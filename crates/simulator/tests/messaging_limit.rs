//! Meta's messaging limit: unique users outside the customer service window a business
//! portfolio may send to in a moving 24 hours, shared by its numbers; refused past it with
//! the simulator's documented 131048; the `whatsapp_business_manager_messaging_limit` field
//! and the `business_capability_update` webhook.

mod common;

use common::*;
use openbsp_simulator::{
    InboundRequest, MessagingLimit, PhoneNumberConfig, SimulatorHandle, StatusDelays, WebhookKind,
};
use serde_json::{Value, json};

const BIZ: &str = "1234567890123456";
const PNID_B: &str = "206540352242922";
const WABA_B: &str = "202290129340398";
const TOKEN_B: &str = "EAAG-second-token";
/// A user who wrote to the first number (inside its customer service window).
const ANA: &str = "16505550999";

fn number(pnid: &str, display: &str, waba: &str, token: &str, url: &str) -> PhoneNumberConfig {
    PhoneNumberConfig {
        phone_number_id: pnid.into(),
        display_phone_number: display.into(),
        waba_id: waba.into(),
        access_token: token.into(),
        app_secret: SECRET.into(),
        webhook_url: Some(url.into()),
        // High enough that the throughput limit never gets in the way.
        throughput_mps: Some(100_000),
    }
}

/// A simulator with two numbers of different WABAs, both in portfolio `BIZ`.
async fn portfolio_of_two() -> (SimulatorHandle, Receiver) {
    let config = openbsp_simulator::SimulatorConfig {
        status_delays: StatusDelays {
            sent_ms: 10,
            delivered_ms: 20,
            read_ms: None,
        },
        ..fast_config()
    };
    let (sim, rx) = setup(config, 0).await;
    sim.add_phone_number(number(PNID, DISPLAY, WABA, TOKEN, &rx.url));
    sim.add_phone_number(number(PNID_B, "15550783882", WABA_B, TOKEN_B, &rx.url));
    assert!(sim.set_business(PNID, BIZ));
    assert!(sim.set_business(PNID_B, BIZ));
    assert!(!sim.set_business("404", BIZ), "no such number");
    (sim, rx)
}

/// Posts `body` to `pnid`'s send route; returns status and JSON.
async fn send_from(sim: &SimulatorHandle, pnid: &str, token: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/v25.0/{pnid}/messages", sim.url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn user(i: usize) -> String {
    format!("1650600{i:04}")
}

async fn get_json(url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn post_json(url: String, body: &Value) -> (u16, Value) {
    let resp = client().post(url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn assert_limit_refusal(status: u16, v: &Value) {
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], 131048, "{v}");
    assert_eq!(v["error"]["message"], "(#131048) Spam rate limit hit");
    let details = v["error"]["error_data"]["details"].as_str().unwrap();
    assert!(
        details.contains("messaging limit")
            && details.contains("TIER_250")
            && details.contains("outside the customer service window")
            && details.contains(BIZ),
        "{details}"
    );
}

#[tokio::test]
async fn tier_250_is_shared_by_the_numbers_of_a_portfolio() {
    let (sim, rx) = portfolio_of_two().await;
    sim.inject_inbound(InboundRequest {
        phone_number_id: PNID.into(),
        from: Some(ANA.into()),
        name: Some("Ana".into()),
        message: json!({"type": "text", "text": {"body": "hi"}}),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.set_messaging_limit(BIZ, "TIER_250").unwrap();
    assert_eq!(sim.messaging_limit(BIZ), MessagingLimit::Tier250);
    assert_eq!(sim.messaging_reach(BIZ), 0);

    // 250 unique users, half from each number.
    for i in 1..=250 {
        let (pnid, token) = if i <= 125 {
            (PNID, TOKEN)
        } else {
            (PNID_B, TOKEN_B)
        };
        let (status, v) = send_from(&sim, pnid, token, &text_to(&user(i), "offer")).await;
        assert_eq!(status, 200, "user {i}: {v}");
    }
    assert_eq!(sim.messaging_reach(BIZ), 250);

    // The 251st, from either number, in any type, is refused and recorded nowhere.
    let (status, v) = send_from(&sim, PNID, TOKEN, &text_to(&user(251), "offer")).await;
    assert_limit_refusal(status, &v);
    let hello = json!({"messaging_product": "whatsapp", "to": user(251), "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let (status, v) = send_from(&sim, PNID_B, TOKEN_B, &hello).await;
    assert_limit_refusal(status, &v);
    assert_eq!(sim.received(PNID).len(), 125);
    assert_eq!(sim.received(PNID_B).len(), 125);

    // A user reached within 24 hours does not count again, whichever number reached them.
    let (status, v) = send_from(&sim, PNID_B, TOKEN_B, &text_to(&user(1), "again")).await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = send_from(&sim, PNID, TOKEN, &hello_to(&user(200))).await;
    assert_eq!(status, 200);
    // A user inside the customer service window (with the sending number) does not count.
    let (status, v) = send_from(&sim, PNID, TOKEN, &text_to(ANA, "thanks!")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(sim.messaging_reach(BIZ), 250);
    // The window is the number's: to the other number Ana is a new user.
    let (status, v) = send_from(&sim, PNID_B, TOKEN_B, &text_to(ANA, "hello")).await;
    assert_limit_refusal(status, &v);

    // The refused sends have no statuses.
    let accepted = sim.received(PNID).len() + sim.received(PNID_B).len();
    assert_eq!(accepted, 253);
    wait_for("the statuses of the accepted sends", 20, || {
        rx.statuses()
            .iter()
            .filter(|s| s["status"] == "delivered")
            .count()
            >= accepted
    })
    .await;
    assert!(
        rx.statuses()
            .iter()
            .all(|s| s["recipient_id"] != user(251).as_str()),
        "no status for a refused send"
    );

    // The field answers the tier, alone or with the throughput.
    let base = format!("{}/v25.0", sim.url());
    let (status, v) = get_json(
        format!("{base}/{PNID}?fields=whatsapp_business_manager_messaging_limit"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"whatsapp_business_manager_messaging_limit": "TIER_250", "id": PNID})
    );
    let (_, v) = get_json(
        format!("{base}/{PNID_B}?fields=throughput,whatsapp_business_manager_messaging_limit"),
        Some(TOKEN_B),
    )
    .await;
    assert_eq!(
        v,
        json!({"throughput": {"level": "HIGH"}, "whatsapp_business_manager_messaging_limit": "TIER_250", "id": PNID_B})
    );

    // A moving 24 hours: a day later new users go again.
    sim.advance_clock(24 * 3600 + 1);
    assert_eq!(sim.messaging_reach(BIZ), 0);
    let (status, v) = send_from(&sim, PNID, TOKEN, &text_to(&user(251), "offer")).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = send_from(&sim, PNID_B, TOKEN_B, &text_to(ANA, "hello")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(sim.messaging_reach(BIZ), 2);
    sim.shutdown().await;
}

fn hello_to(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

#[tokio::test]
async fn sends_refused_for_other_reasons_are_not_counted() {
    let (sim, _rx) = portfolio_of_two().await;
    sim.set_messaging_limit(BIZ, "TIER_250").unwrap();
    // Bad token, invalid body, unknown template.
    let (status, _) = send_from(&sim, PNID, "wrong", &text_to(&user(1), "x")).await;
    assert_eq!(status, 401);
    let invalid = json!({"messaging_product": "whatsapp", "to": user(2), "type": "text"});
    let (status, _) = send_from(&sim, PNID, TOKEN, &invalid).await;
    assert_eq!(status, 400);
    let missing = json!({"messaging_product": "whatsapp", "to": user(3), "type": "template",
        "template": {"name": "no_such_template", "language": {"code": "en_US"}}});
    let (status, v) = send_from(&sim, PNID, TOKEN, &missing).await;
    assert_eq!((status, v["error"]["code"].clone()), (404, json!(132001)));
    // Throughput: one message a second, so the second of two quick sends is refused.
    let mut slow = sim.phone_number(PNID_B).unwrap();
    slow.throughput_mps = Some(1);
    sim.add_phone_number(slow);
    let (status, _) = send_from(&sim, PNID_B, TOKEN_B, &text_to(&user(4), "x")).await;
    assert_eq!(status, 200);
    let (status, v) = send_from(&sim, PNID_B, TOKEN_B, &text_to(&user(5), "x")).await;
    assert_eq!((status, v["error"]["code"].clone()), (400, json!(130429)));
    assert_eq!(sim.messaging_reach(BIZ), 1, "only the accepted send counts");
    assert_eq!(sim.received(PNID).len(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn unlimited_by_default_and_per_waba_by_default() {
    let (sim, rx) = setup(fast_config(), 0).await;
    assert_eq!(sim.messaging_limit(WABA), MessagingLimit::Unlimited);
    // A number's portfolio is its WABA until set otherwise.
    sim.set_messaging_limit(WABA, "TIER_250").unwrap();
    let mut p = phone(Some(rx.url.clone()));
    p.throughput_mps = Some(100_000);
    sim.add_phone_number(p);
    for i in 1..=250 {
        let (status, _) = send(&sim, Some(TOKEN), &text_to(&user(i), "x")).await;
        assert_eq!(status, 200);
    }
    let (status, v) = send(&sim, Some(TOKEN), &text_to(&user(251), "x")).await;
    assert_eq!((status, v["error"]["code"].clone()), (400, json!(131048)));
    // Back to unlimited: nothing is refused, the reach is still counted.
    sim.set_messaging_limit(WABA, "TIER_UNLIMITED").unwrap();
    let (status, _) = send(&sim, Some(TOKEN), &text_to(&user(251), "x")).await;
    assert_eq!(status, 200);
    assert_eq!(sim.messaging_reach(WABA), 251);
    assert!(sim.set_messaging_limit(WABA, "TIER_1K").is_err());
    assert_eq!(sim.messaging_limit(WABA), MessagingLimit::Unlimited);
    sim.shutdown().await;
}

/// The `business_capability_update` webhooks in the log, as `(entry id, value)`.
fn capability_updates(sim: &SimulatorHandle) -> Vec<(String, Value)> {
    sim.webhook_log()
        .into_iter()
        .filter(|a| a.kind == WebhookKind::BusinessCapability && a.attempt == 1)
        .map(|a| {
            let v: Value = serde_json::from_str(&a.body).unwrap();
            assert_eq!(v["object"], "whatsapp_business_account");
            let change = &v["entry"][0]["changes"][0];
            assert_eq!(change["field"], "business_capability_update");
            (
                v["entry"][0]["id"].as_str().unwrap().to_string(),
                change["value"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn control_routes_set_the_portfolio_and_its_tier() {
    let (sim, rx) = setup(fast_config(), 0).await;
    // Two numbers of WABA_B (same webhook URL: one webhook for that WABA) and the first.
    sim.add_phone_number(number(PNID_B, "15550783882", WABA_B, TOKEN_B, &rx.url));
    sim.add_phone_number(number(
        "306540352242922",
        "15550783883",
        WABA_B,
        "EAAG-third",
        &rx.url,
    ));
    let base = format!("{}/_simulator", sim.url());
    for pnid in [PNID, PNID_B, "306540352242922"] {
        let resp = client()
            .put(format!("{base}/phone-numbers/{pnid}/business"))
            .json(&json!({"business_id": BIZ}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v, json!({"phone_number_id": pnid, "business_id": BIZ}));
    }
    for (pnid, body, status) in [
        ("404", json!({"business_id": BIZ}), 404),
        (PNID, json!({"business_id": " "}), 400),
        (PNID, json!({}), 400),
    ] {
        let resp = client()
            .put(format!("{base}/phone-numbers/{pnid}/business"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{body}");
    }

    let url = format!("{base}/businesses/{BIZ}/messaging-limit");
    let (status, v) = get_json(url.clone(), None).await;
    assert_eq!(status, 200);
    assert_eq!(v["tier"], "TIER_UNLIMITED");
    assert_eq!(v["max_users"], Value::Null);
    assert_eq!(
        v["phone_number_ids"],
        json!([PNID, PNID_B, "306540352242922"])
    );

    let (status, v) = post_json(url.clone(), &json!({"tier": "TIER_2K"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["tier"].clone(),
            v["max_users"].clone(),
            v["changed"].clone()
        ),
        (json!("TIER_2K"), json!(2000), json!(true))
    );
    wait_for("one business_capability_update per WABA", 10, || {
        capability_updates(&sim).len() == 2
    })
    .await;
    let mut updates = capability_updates(&sim);
    updates.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = json!({
        "max_daily_conversation_per_phone": 2000,
        "max_daily_conversations_per_business": 2000,
        "max_phone_numbers_per_business": 2,
        "max_phone_numbers_per_waba": 2,
    });
    assert_eq!(
        updates,
        vec![
            (WABA.to_string(), expected.clone()),
            (WABA_B.to_string(), expected)
        ]
    );
    wait_for("the webhooks to be received", 10, || {
        rx.accepted()
            .iter()
            .filter(|h| h.json["entry"][0]["changes"][0]["field"] == "business_capability_update")
            .count()
            == 2
    })
    .await;
    assert!(rx.accepted().iter().all(|h| h.signature_ok));

    let (_, v) = get_json(
        format!(
            "{}/v25.0/{PNID_B}?fields=whatsapp_business_manager_messaging_limit",
            sim.url()
        ),
        Some(TOKEN_B),
    )
    .await;
    assert_eq!(v["whatsapp_business_manager_messaging_limit"], "TIER_2K");

    // The same tier again is no change: no webhook.
    let (_, v) = post_json(url.clone(), &json!({"tier": "TIER_2K"})).await;
    assert_eq!(v["changed"], false);
    // Unlimited is -1.
    let (status, _) = post_json(url.clone(), &json!({"tier": "TIER_UNLIMITED"})).await;
    assert_eq!(status, 200);
    wait_for("the unlimited update", 10, || {
        capability_updates(&sim).len() == 4
    })
    .await;
    let updates = capability_updates(&sim);
    assert!(updates[2..].iter().all(|(_, v)| {
        v["max_daily_conversations_per_business"] == -1
            && v["max_daily_conversation_per_phone"] == -1
    }));

    // Unknown tiers are refused, naming the valid ones.
    for bad in [
        json!({"tier": "TIER_1K"}),
        json!({"tier": "gold"}),
        json!({}),
    ] {
        let (status, v) = post_json(url.clone(), &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    let (_, v) = post_json(url.clone(), &json!({"tier": "TIER_5K"})).await;
    assert_eq!(v["error"]["field"], "tier");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TIER_250, TIER_2K, TIER_10K, TIER_100K, TIER_UNLIMITED")
    );
    assert_eq!(sim.messaging_limit(BIZ), MessagingLimit::Unlimited);
    sim.shutdown().await;
}
