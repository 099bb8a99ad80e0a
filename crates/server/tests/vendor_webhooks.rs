//! The vendors' webhooks against a running gateway with the simulator as Meta, on both
//! backends: Connectly's webhooks API (`create/webhooks` and siblings, one address per topic)
//! and its topics delivered signed `x-connectly-hmac-sha256`; ChakraHQ's `deliveryStatus`
//! events for endpoints in the `chakra` format; Pingtochat's verification handshake for
//! endpoints that ask for it. What arrives is checked by an independent consumer written from
//! the vendors' docs (`fixtures/vendor_webhook_consumer.py`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use base64::Engine;
use common::receiver::{Hit, Receiver};
use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends! {
    connectly_webhooks_are_managed_as_connectlys => crate::connectly_webhooks_are_managed_as_connectlys,
    connectly_topics_are_delivered_signed => crate::connectly_topics_are_delivered_signed,
    connectly_filters_keep_only_matching_campaigns => crate::connectly_filters_keep_only_matching_campaigns,
    chakra_endpoints_get_delivery_statuses => crate::chakra_endpoints_get_delivery_statuses,
    pingtochat_endpoints_pass_its_handshake => crate::pingtochat_endpoints_pass_its_handshake,
}

const CONSUMER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vendor_webhook_consumer.py"
);

/// The test channel's number, as Connectly writes it.
const BUSINESS_NUMBER: &str = "+15550001111";

/// What the independent consumer says of each hit (`check`: `connectly` or `chakra`).
fn verdicts(check: &str, secret: &str, hits: &[Hit]) -> Vec<String> {
    let lines: Vec<Value> = hits.iter().map(|h| h.for_consumer(check, secret)).collect();
    consumer_verdicts("vendor_webhook_consumer.py", &lines)
}

fn all_ok(check: &str, secret: &str, hits: &[Hit]) {
    let v = verdicts(check, secret, hits);
    assert_eq!(v.len(), hits.len());
    for (verdict, h) in v.iter().zip(hits) {
        assert_eq!(verdict, "ok", "{}", String::from_utf8_lossy(&h.body));
    }
}

/// A Connectly route of `business` with `X-API-Key: key`.
async fn connectly(
    app: &TestApp,
    method: Method,
    business: &str,
    route: &str,
    key: &str,
    body: Option<&Value>,
) -> Resp {
    let body = body.map(Value::to_string).unwrap_or_default();
    let path = format!("/v1/businesses/{business}/{route}");
    app.send_as(method.as_str(), &path, Some(("X-API-Key", key)), &body)
        .await
}

/// Creates the tenant's Connectly webhook for `topic` at `address`; returns it (with `secret`).
async fn create_hook(app: &TestApp, topic: &str, address: &str, configuration: Value) -> Value {
    let r = connectly(
        app,
        Method::POST,
        &app.tenant_id,
        "create/webhooks",
        &app.api_key,
        Some(&json!({"topic": topic, "address": address, "configuration": configuration})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["entity"].clone()
}

fn hits_of<'a>(hits: &'a [Hit], f: impl Fn(&Value) -> bool + 'a) -> Vec<Hit> {
    hits.iter().filter(|h| f(&h.json())).cloned().collect()
}

/// The hits whose body `f` picks, once there is one.
async fn picked(rx: &Receiver, what: &str, f: impl Fn(&Value) -> bool) -> Vec<Hit> {
    let hits = rx.wait_for(what, |h| h.iter().any(|h| f(&h.json()))).await;
    hits_of(&hits, f)
}

/// From now on Meta accepts every send, then fails it as undeliverable (131026).
fn meta_fails_every_send(app: &TestApp) {
    app.sim.set_faults(openbsp_simulator::Faults {
        fail_status_rate: 1.0,
        fail_status_code: 131026,
        ..Default::default()
    });
}

async fn endpoints_count(app: &TestApp) -> usize {
    app.get("/v1/webhook-endpoints", &app.api_key).await.body["data"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

async fn connectly_webhooks_are_managed_as_connectlys(b: Backend) {
    let app = spawn_app(b).await;
    let rx = Receiver::start().await;
    // Refusals in Connectly's shape, nothing created.
    let before = endpoints_count(&app).await;
    for (body, field) in [
        (json!({"topic": "report", "address": rx.url}), "topic"),
        (json!({"address": rx.url}), "topic"),
        (json!({"topic": "messages"}), "address"),
        (
            json!({"topic": "messages", "address": "http://10.1.2.3/hook"}),
            "url",
        ),
        (
            json!({"topic": "messages", "address": rx.url, "configuration": {"echo": true}}),
            "configuration.echo",
        ),
        (
            json!({"topic": "messages", "address": rx.url, "type": "webengage"}),
            "type",
        ),
    ] {
        let r = connectly(
            &app,
            Method::POST,
            &app.tenant_id,
            "create/webhooks",
            &app.api_key,
            Some(&body),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.body["code"].as_str().unwrap().starts_with("ERROR_CODE_"),
            "{}",
            r.body
        );
        assert_eq!(r.body["details"]["field"], field, "{}", r.body);
    }
    assert_eq!(endpoints_count(&app).await, before);

    let messages = create_hook(&app, "messages", &rx.url, json!({})).await;
    let id = messages["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("whe_"), "{messages}");
    assert_eq!(messages["topic"], "messages");
    assert_eq!(messages["address"], rx.url.as_str());
    assert!(messages["secret"].as_str().unwrap().starts_with("whsec_"));

    // One address per topic.
    let again = connectly(
        &app,
        Method::POST,
        &app.tenant_id,
        "create/webhooks",
        &app.api_key,
        Some(&json!({"topic": "messages", "address": format!("{}?2", rx.url)})),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["code"], "ERROR_CODE_CONFLICT");

    let filters = json!({"filters": [{"field": "campaign_name", "expression": "prod-*"}]});
    let status = create_hook(&app, "delivery_status", &rx.url, filters.clone()).await;
    assert_eq!(status["configuration"], filters);

    // Listed in Connectly's shape; the native API sees the same endpoints.
    let list = connectly(
        &app,
        Method::GET,
        &app.tenant_id,
        "webhooks",
        &app.api_key,
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["entity"]["businessId"], app.tenant_id.as_str());
    let mut topics: Vec<&str> = list.body["entity"]["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["topic"].as_str().unwrap())
        .collect();
    topics.sort();
    assert_eq!(topics, ["delivery_status", "messages"]);
    let native = app
        .get(&format!("/v1/webhook-endpoints/{id}"), &app.api_key)
        .await;
    assert_eq!(native.body["format"], "connectly");
    assert_eq!(native.body["events"], json!(["message.received"]));

    // A partial update; the topic cannot change.
    let moved = format!("{}?moved=1", rx.url);
    let r = connectly(
        &app,
        Method::PUT,
        &app.tenant_id,
        &format!("update/webhooks/{id}"),
        &app.api_key,
        Some(&json!({"address": moved})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entity"]["address"], moved.as_str());
    assert_eq!(r.body["entity"]["topic"], "messages");
    let r = connectly(
        &app,
        Method::PUT,
        &app.tenant_id,
        &format!("update/webhooks/{id}"),
        &app.api_key,
        Some(&json!({"topic": "delivery_status"})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Another business sees none of it, and its key reaches none of it.
    let other = app.other_tenant_with_number().await;
    let theirs = connectly(
        &app,
        Method::GET,
        &other.tenant_id,
        "webhooks",
        &other.api_key,
        None,
    )
    .await;
    assert_eq!(theirs.body["entity"]["webhooks"], json!([]));
    for (method, route) in [
        (Method::PUT, format!("update/webhooks/{id}")),
        (Method::DELETE, format!("delete/webhooks/{id}")),
    ] {
        let r = connectly(
            &app,
            method,
            &other.tenant_id,
            &route,
            &other.api_key,
            Some(&json!({"address": rx.url})),
        )
        .await;
        assert_eq!(r.status, 404, "{route}: {}", r.body);
        assert_eq!(r.body["code"], "ERROR_CODE_NOT_FOUND");
    }
    // A native endpoint is no Connectly webhook.
    let plain = app
        .post(
            "/v1/webhook-endpoints",
            &app.api_key,
            &json!({"url": rx.url, "events": ["*"]}),
        )
        .await;
    let plain_id = plain.body["id"].as_str().unwrap();
    let r = connectly(
        &app,
        Method::DELETE,
        &app.tenant_id,
        &format!("delete/webhooks/{plain_id}"),
        &app.api_key,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);

    let r = connectly(
        &app,
        Method::DELETE,
        &app.tenant_id,
        &format!("delete/webhooks/{id}"),
        &app.api_key,
        None,
    )
    .await;
    assert_eq!((r.status, &r.body), (200, &json!({})));
    let list = connectly(
        &app,
        Method::GET,
        &app.tenant_id,
        "webhooks",
        &app.api_key,
        None,
    )
    .await;
    assert_eq!(list.body["entity"]["webhooks"].as_array().unwrap().len(), 1);

    // Vendor formats on the native API carry only the events they have shapes for.
    for (format, events) in [
        ("chakra", json!(["session.*"])),
        ("chakra", json!(["message.received"])),
        ("connectly", json!(["template.*"])),
    ] {
        let r = app
            .post(
                "/v1/webhook-endpoints",
                &app.api_key,
                &json!({"url": rx.url, "events": events, "format": format}),
            )
            .await;
        assert_eq!(r.status, 400, "{format} {events}: {}", r.body);
    }
}

async fn connectly_topics_are_delivered_signed(b: Backend) {
    let app = spawn_app(b).await;
    let rx = Receiver::start().await;
    let hook = create_hook(&app, "messages", &rx.url, json!({})).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    // Both topics at one address: the secret of each signs its own.
    let status_hook = create_hook(&app, "delivery_status", &rx.url, json!({})).await;
    let status_secret = status_hook["secret"].as_str().unwrap().to_string();

    // The customer writes: the messages topic.
    app.user_writes(USER, "Ana", "hello there").await;
    let hits = rx
        .wait_for("the messages event", |h| {
            h.iter()
                .any(|h| h.json()["message"]["text"] == "hello there")
        })
        .await;
    let inbound = hits_of(&hits, |v| v["message"]["text"] == "hello there");
    let ev = inbound[0].json();
    assert_eq!(ev["sender"]["id"], format!("+{USER}"));
    assert_eq!(ev["sender"]["name"], "Ana");
    assert_eq!(ev["recipient"]["id"], BUSINESS_NUMBER);
    assert!(ev.get("topic").is_none(), "{ev}");

    // The business answers with callbackData: the delivery_status topic, echoing it.
    let sent = connectly(
        &app,
        Method::POST,
        &app.tenant_id,
        "send/messages",
        &app.api_key,
        Some(&json!({
            "recipient": {"id": format!("+{USER}"), "channelType": "whatsapp"},
            "message": {"text": "your order shipped"},
            "callbackData": {"order": 7, "source": "crm"},
        })),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let id = sent.body["id"].as_str().unwrap().to_string();
    let hits = rx
        .wait_for("sent, delivered and read", |h| {
            let statuses: Vec<Value> = h
                .iter()
                .map(|h| h.json())
                .filter(|v| v["statusUpdate"]["id"] == id.as_str())
                .map(|v| v["statusUpdate"]["status"].clone())
                .collect();
            ["sent", "delivered", "read"]
                .iter()
                .all(|s| statuses.contains(&json!(s)))
        })
        .await;
    let statuses = hits_of(&hits, |v| v["statusUpdate"]["id"] == id.as_str());
    for h in &statuses {
        let v = h.json();
        assert_eq!(v["topic"], "delivery_status");
        assert_eq!(v["sender"]["id"], BUSINESS_NUMBER);
        assert_eq!(v["recipient"]["id"], format!("+{USER}"));
        assert_eq!(v["callbackData"], json!({"order": 7, "source": "crm"}));
        assert_eq!(v["statusUpdate"]["error"], Value::Null);
        assert_eq!(h.header("content-type"), "text/plain; charset=utf-8");
    }
    all_ok("connectly", &status_secret, &statuses);
    // The other topic's secret does not verify them: each webhook signs with its own.
    assert!(
        verdicts("connectly", &secret, &statuses)
            .iter()
            .all(|v| v == "bad: signature mismatch")
    );

    // The customer replies quoting it: replyToId is the send's id, with its callbackData.
    let wamid = app.wait_status(&id, "sent").await["wamid"]
        .as_str()
        .unwrap()
        .to_string();
    app.sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from: Some(USER.into()),
            name: Some("Ana".into()),
            message: json!({"type": "text", "text": {"body": "thanks!"},
                            "context": {"from": "15550001111", "id": wamid}}),
            ..Default::default()
        })
        .await
        .unwrap();
    // A photo: one attachment, whose link serves the stored bytes without a key.
    let photo = png(3_000);
    app.sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from: Some(USER.into()),
            name: Some("Ana".into()),
            message: json!({"type": "image", "image": {"caption": "my cat", "file": {
                "data_base64": base64::engine::general_purpose::STANDARD.encode(&photo),
                "mime_type": "image/png"}}}),
            ..Default::default()
        })
        .await
        .unwrap();
    let hits = rx
        .wait_for("the reply and the photo", |h| {
            let v: Vec<Value> = h.iter().map(|h| h.json()).collect();
            v.iter().any(|v| v["message"]["text"] == "thanks!")
                && v.iter().any(|v| v["message"]["attachments"].is_array())
        })
        .await;
    let reply = hits_of(&hits, |v| v["message"]["text"] == "thanks!")[0].json();
    assert_eq!(reply["context"]["replyToId"], id.as_str());
    assert_eq!(reply["callbackData"], json!({"order": 7, "source": "crm"}));
    let with_photo = hits_of(&hits, |v| v["message"]["attachments"].is_array());
    let a = &with_photo[0].json()["message"]["attachments"][0];
    assert_eq!(
        (a["type"].as_str(), a["caption"].as_str()),
        (Some("image"), Some("my cat"))
    );
    let url = a["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.gateway.url()), "{url}");
    let mut fetched = None;
    for _ in 0..200 {
        let r = app.http.get(&url).send().await.unwrap();
        if r.status() == 200 {
            fetched = Some(r.bytes().await.unwrap());
            break;
        }
        // The media is fetched from Meta after the message is stored.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(fetched.as_deref(), Some(&photo[..]), "{url}");
    let inbound: Vec<Hit> = hits_of(&rx.hits(), |v| v.get("statusUpdate").is_none());
    assert!(inbound.len() >= 3);
    all_ok("connectly", &secret, &inbound);

    // Meta fails a send (undeliverable, 131026): delivery_failed with Connectly's error.
    meta_fails_every_send(&app);
    let sent = connectly(
        &app,
        Method::POST,
        &app.tenant_id,
        "send/messages",
        &app.api_key,
        Some(&json!({"number": format!("+{USER}"), "text": "this one fails"})),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let failed = sent.body["id"].as_str().unwrap().to_string();
    let hit = picked(&rx, "delivery_failed", |v| {
        v["statusUpdate"]["id"] == failed.as_str()
    })
    .await;
    let update = &hit[0].json()["statusUpdate"];
    assert_eq!(update["status"], "delivery_failed", "{update}");
    assert_eq!(
        update["error"]["code"], "ERROR_CODE_MESSAGE_PHONE_NUMBER_INVALID",
        "{update}"
    );
    assert_eq!(update["error"]["details"]["metaCode"], 131026, "{update}");
    all_ok("connectly", &status_secret, &hit);
}

async fn connectly_filters_keep_only_matching_campaigns(b: Backend) {
    let app = spawn_app(b).await;
    let rx = Receiver::start().await;
    let filters = json!({"filters": [{"field": "campaign_name", "expression": "prod-*"}]});
    let hook = create_hook(&app, "delivery_status", &rx.url, filters).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (to, campaign) in [
        ("15551230011", Some("staging-summer")),
        ("15551230012", None),
        ("15551230013", Some("prod-summer")),
    ] {
        let mut body = json!({"number": format!("+{to}"), "templateName": "order_update",
                              "language": "en_US"});
        if let Some(c) = campaign {
            body["campaignName"] = json!(c);
        }
        let r = connectly(
            &app,
            Method::POST,
            &app.tenant_id,
            "send/whatsapp_templated_messages",
            &app.api_key,
            Some(&body),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        app.wait_status(id, "read").await;
    }
    let prod = &ids[2];
    let hits = rx
        .wait_for("the prod campaign's statuses", |h| {
            h.iter()
                .filter(|h| h.json()["statusUpdate"]["id"] == prod.as_str())
                .count()
                >= 3
        })
        .await;
    for h in &hits {
        let v = h.json();
        assert_eq!(v["statusUpdate"]["id"], prod.as_str(), "{v}");
        assert_eq!(v["statusUpdate"]["metadata"]["campaignName"], "prod-summer");
    }
    all_ok("connectly", &secret, &hits);
    // The others' statuses were passed over, not queued: the log has only the prod ones.
    let id = hook["id"].as_str().unwrap();
    let log = app
        .get(
            &format!("/v1/webhook-endpoints/{id}/deliveries"),
            &app.api_key,
        )
        .await;
    assert_eq!(
        log.body["data"].as_array().unwrap().len(),
        hits.len(),
        "{}",
        log.body
    );
}

async fn chakra_endpoints_get_delivery_statuses(b: Backend) {
    let app = spawn_app(b).await;
    let rx = Receiver::start().await;
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.api_key,
            &json!({"url": rx.url, "events": ["message.*"], "format": "chakra"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    app.user_writes(USER, "Ana", "hi").await;
    let sent = app.send_text(USER, "hello from chakra").await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = sent.body["id"].as_str().unwrap().to_string();
    let m = app.wait_status(&id, "read").await;
    let hits = rx
        .wait_for("SENT, DELIVERED and READ", |h| h.len() >= 3)
        .await;
    let mut seen: Vec<String> = Vec::new();
    for h in &hits {
        let v = h.json();
        assert_eq!(v["event"], "deliveryStatus", "{v}");
        assert_eq!(v["payload"]["id"], id.as_str());
        assert_eq!(v["payload"]["externalId"], m["wamid"]);
        assert_eq!(v["payload"]["recipientId"], USER);
        seen.push(v["payload"]["deliveryStatus"].as_str().unwrap().to_string());
        // Signed as every delivery of the gateway's.
        assert!(!h.header("webhook-signature").is_empty());
    }
    seen.sort();
    assert_eq!(seen, ["DELIVERED", "READ", "SENT"]);
    all_ok("chakra", &secret, &hits);
    // The inbound message and the gateway's own statuses (accepted) have no Chakra shape: the
    // endpoint's log holds these three deliveries only.
    let endpoint = r.body["id"].as_str().unwrap();
    let log = app
        .get(
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
            &app.api_key,
        )
        .await;
    assert_eq!(
        log.body["data"].as_array().unwrap().len(),
        3,
        "{}",
        log.body
    );

    // A failure Meta reports later: FAILED, with Meta's error.
    meta_fails_every_send(&app);
    let sent = app.send_text(USER, "this one fails").await;
    let failed = sent.body["id"].as_str().unwrap().to_string();
    let hit = picked(&rx, "FAILED", |v| v["payload"]["id"] == failed.as_str()).await;
    let p = &hit[0].json()["payload"];
    assert_eq!(p["deliveryStatus"], "FAILED", "{p}");
    assert_eq!(p["error"]["code"], 131026, "{p}");
    all_ok("chakra", &secret, &hit);
}

/// Pingtochat's side of the handshake (the independent consumer as a server), at its URL.
struct Verifier {
    child: std::process::Child,
    url: String,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pingtochat_verifier(token: &str) -> Verifier {
    let mut child = Command::new("python3")
        .arg(CONSUMER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    writeln!(
        child.stdin.as_mut().unwrap(),
        "{}",
        json!({ "serve_pingtochat": token })
    )
    .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut port)
        .unwrap();
    Verifier {
        url: format!("http://127.0.0.1:{}/webhook", port.trim()),
        child,
    }
}

async fn pingtochat_endpoints_pass_its_handshake(b: Backend) {
    let app = spawn_app(b).await;
    let verifier = pingtochat_verifier("hub-token-1");
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.api_key,
            &json!({"url": verifier.url, "events": ["*"], "format": "meta",
                    "verify_token": "hub-token-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["has_verify_token"], true);
    assert!(!r.body.to_string().contains("hub-token-1"), "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();

    // A wrong token, or an address that does not echo the challenge: refused, nothing kept.
    let rx = Receiver::start().await;
    let before = endpoints_count(&app).await;
    for (url, token) in [
        (verifier.url.as_str(), "another-token"),
        (rx.url.as_str(), "hub-token-1"),
    ] {
        let r = app
            .post(
                "/v1/webhook-endpoints",
                &app.api_key,
                &json!({"url": url, "events": ["*"], "verify_token": token}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        let why = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(why.contains("verification handshake"), "{}", r.body);
    }
    assert_eq!(endpoints_count(&app).await, before);

    // Moving the endpoint repeats the handshake at the new address.
    let path = format!("/v1/webhook-endpoints/{id}");
    let r = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(&json!({"url": rx.url})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        app.get(&path, &app.api_key).await.body["url"],
        verifier.url.as_str()
    );
    let elsewhere = pingtochat_verifier("hub-token-1");
    let r = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(&json!({"url": elsewhere.url})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Without its token the endpoint moves freely.
    let r = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(&json!({"verify_token": null, "url": rx.url})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["has_verify_token"], false);
}
