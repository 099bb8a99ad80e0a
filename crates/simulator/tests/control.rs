//! The control API over HTTP.

mod common;

use common::*;
use openbsp_simulator::Simulator;
use serde_json::{Value, json};

async fn get(url: String) -> (u16, Value) {
    let resp = client().get(url).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn post(url: String, body: &Value) -> (u16, Value) {
    let resp = client().post(url).json(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn control_api_drives_the_whole_flow() {
    let rx = Receiver::start(SECRET, 0).await;
    let sim = Simulator::start(fast_config()).await.unwrap();
    let base = format!("{}/_simulator", sim.url());

    assert_eq!(get(format!("{base}/healthz")).await.0, 200);

    // Phone numbers: upsert, then list without secrets.
    let p = serde_json::to_value(phone(Some(rx.url.clone()))).unwrap();
    let (status, v) = post(format!("{base}/phone-numbers"), &p).await;
    assert_eq!(status, 200, "{v}");
    let (_, list) = get(format!("{base}/phone-numbers")).await;
    assert_eq!(
        list["data"],
        json!([{"phone_number_id": PNID, "display_phone_number": DISPLAY, "waba_id": WABA, "webhook_url": rx.url, "throughput_mps": 80}])
    );
    assert!(!list.to_string().contains(TOKEN) && !list.to_string().contains(SECRET));
    let mut bad = p.clone();
    bad["display_phone_number"] = json!("+1 555");
    let (status, v) = post(format!("{base}/phone-numbers"), &bad).await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (400, Some("display_phone_number"))
    );
    let (status, _) = post(
        format!("{base}/phone-numbers"),
        &json!({"phone_number_id": "x"}),
    )
    .await;
    assert_eq!(status, 400);

    // Inbound injection.
    let inbound = json!({"phone_number_id": PNID, "from": "15551234567", "name": "Ana", "message": {"type": "text", "text": {"body": "hi"}}});
    let (status, v) = post(format!("{base}/inbound"), &inbound).await;
    assert_eq!(status, 200, "{v}");
    let wamid = v["wamid"].as_str().unwrap().to_string();
    wait_for("the inbound webhook", 10, || rx.accepted().len() == 1).await;
    assert!(rx.accepted()[0].signature_ok);
    let (_, v) = get(format!("{base}/inbound?phone_number_id={PNID}")).await;
    assert_eq!(v["data"][0]["wamid"], wamid.as_str());

    let (status, v) = post(
        format!("{base}/inbound"),
        &json!({"phone_number_id": PNID, "from": "15551234567", "message": {"type": "text"}}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (400, Some("message.text"))
    );
    let (status, _) = post(format!("{base}/inbound"), &json!({"phone_number_id": "404", "from": "15551234567", "message": {"type": "text", "text": {"body": "x"}}})).await;
    assert_eq!(status, 404);
    let resp = client()
        .post(format!("{base}/inbound"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Sends, then the message list with filters.
    for to in ["15550101234", "15550105678", "+1 555 010 1234"] {
        let (status, _) = send(&sim, Some(TOKEN), &text_to(to, "hello")).await;
        assert_eq!(status, 200);
    }
    let (_, all) = get(format!("{base}/messages")).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    let (_, some) = get(format!(
        "{base}/messages?phone_number_id={PNID}&to=%2B15550101234"
    ))
    .await;
    let some = some["data"].as_array().unwrap().clone();
    assert_eq!(some.len(), 2);
    assert_eq!(
        some[1]["body"]["to"], "+1 555 010 1234",
        "the body exactly as received, oldest first"
    );
    assert!(some[0]["wamid"].as_str().unwrap().starts_with("wamid."));
    assert!(some[0]["received_at"].as_str().unwrap().ends_with('Z'));
    let (_, none) = get(format!("{base}/messages?phone_number_id=other")).await;
    assert_eq!(none["data"], json!([]));
    // The count, without the list (what load tests poll).
    let (_, count) = get(format!("{base}/messages/count?phone_number_id={PNID}")).await;
    assert_eq!(count, json!({"count": 3}));
    let (_, count) = get(format!("{base}/messages/count?phone_number_id=other")).await;
    assert_eq!(count, json!({"count": 0}));
    let (status, _) = get(format!("{base}/messages/count")).await;
    assert_eq!(status, 400, "which number is counted must be said");
    // Per second: the three in the seconds they arrived, the most in one of them.
    let (_, per) = get(format!("{base}/messages/per-second?phone_number_id={PNID}")).await;
    let seconds = per["data"].as_array().unwrap();
    assert_eq!(
        seconds
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .sum::<u64>(),
        3,
        "{per}"
    );
    assert!(per["max"].as_u64().unwrap() >= 1);
    let later = seconds.last().unwrap()["second"].as_i64().unwrap() + 1;
    let (_, none) = get(format!(
        "{base}/messages/per-second?phone_number_id={PNID}&since={later}"
    ))
    .await;
    assert_eq!(none, json!({"data": [], "max": 0}));
    let (status, _) = get(format!(
        "{base}/messages/per-second?phone_number_id={PNID}&since=x"
    ))
    .await;
    assert_eq!(status, 400);

    // Faults.
    let (status, f) = post(
        format!("{base}/faults"),
        &json!({"error_rate": 1, "error_code": 131026}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(f["error_code"], 131026);
    let (status, _) = send(&sim, Some(TOKEN), &text_to("15550101234", "x")).await;
    assert_eq!(status, 400);
    let (status, v) = post(format!("{base}/faults"), &json!({"error_rate": 2})).await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = post(format!("{base}/faults"), &json!({"typo": 1})).await;
    assert_eq!(status, 400);
    post(format!("{base}/faults"), &json!({})).await;
    assert_eq!(get(format!("{base}/faults")).await.1["error_rate"], 0.0);

    // Config.
    let (status, c) = post(
        format!("{base}/config"),
        &json!({"status_delays": {"sent_ms": 1, "delivered_ms": 2, "read_ms": null}, "default_throughput_mps": 10, "enforcement": {"pair_rate_limit": true}}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["status_delays"]["read_ms"], Value::Null);
    assert_eq!(c["enforcement"]["pair_rate_limit"], true);
    assert_eq!(
        get(format!("{base}/phone-numbers")).await.1["data"][0]["throughput_mps"],
        10
    );
    assert_eq!(
        post(
            format!("{base}/config"),
            &json!({"default_throughput_mps": 0})
        )
        .await
        .0,
        400
    );

    // Clock.
    let (_, before) = get(format!("{base}/clock")).await;
    let (status, after) = post(format!("{base}/clock"), &json!({"advance_seconds": 3600})).await;
    assert_eq!(status, 200);
    assert!(after["now"].as_i64().unwrap() - before["now"].as_i64().unwrap() >= 3600);
    assert_eq!(after["offset_seconds"], 3600);
    assert_eq!(
        post(format!("{base}/clock"), &json!({"advance_seconds": -1}))
            .await
            .0,
        400
    );

    // Webhook log.
    wait_for("status webhooks", 10, || rx.statuses().len() >= 9).await;
    let (_, log) = get(format!("{base}/webhooks?phone_number_id={PNID}")).await;
    let log = log["data"].as_array().unwrap();
    assert!(log.len() >= 10);
    assert!(
        log.iter()
            .all(|a| a["url"] == rx.url.as_str() && a["status"] == 200)
    );
    assert!(log.iter().any(|a| a["kind"] == "inbound"));

    let (status, v) = get(format!("{base}/nothing-here")).await;
    assert_eq!((status, v["error"]["message"].is_string()), (404, true));
    sim.shutdown().await;
}
