//! Sending a text, end to end through the simulator, on both backends.

mod common;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    native_text_is_queued_sent_and_read => crate::native_text_is_queued_sent_and_read,
    cloud_api_send_returns_metas_wamid => crate::cloud_api_send_returns_metas_wamid,
    cloud_api_errors_are_metas => crate::cloud_api_errors_are_metas,
    native_errors_use_the_envelope_and_change_nothing => crate::native_errors_use_the_envelope_and_change_nothing,
    idempotency_key_returns_the_first_message => crate::idempotency_key_returns_the_first_message,
    transient_failures_are_retried_and_request_errors_fail_at_once => crate::transient_failures_are_retried_and_request_errors_fail_at_once,
    pacing_keeps_under_the_simulators_limit => crate::pacing_keeps_under_the_simulators_limit,
    listing_filters_and_pages => crate::listing_filters_and_pages,
    throttled_sends_are_retried_until_sent_once => crate::throttled_sends_are_retried_until_sent_once,
    media_location_contacts_reactions_and_templates_reach_meta => crate::media_location_contacts_reactions_and_templates_reach_meta,
    a_held_template_send_answers_metas_message_status => crate::a_held_template_send_answers_metas_message_status,
}

/// Meta paces a template: its sends are accepted `held_for_quality_assessment`, and a Cloud
/// API caller waiting for Meta's answer is told so, as Meta tells it (a send Meta answered
/// plainly has no `message_status`).
async fn a_held_template_send_answers_metas_message_status(b: Backend) {
    let app = spawn_app(b).await;
    let path = format!("/v23.0/{PNID}/messages");
    let send = |to: &str| {
        json!({"messaging_product": "whatsapp", "to": to, "type": "template",
               "template": {"name": "order_update", "language": {"code": "en_US"}}})
    };
    let r = app.post(&path, &app.api_key, &send(USER)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["messages"][0].get("message_status").is_none(),
        "{}",
        r.body
    );
    let id = app
        .sim
        .templates("900100")
        .into_iter()
        .find(|t| t.name == "order_update" && t.language == "en_US")
        .unwrap()
        .id;
    app.sim.pace_template(&id).unwrap();
    let r = app.post(&path, &app.api_key, &send("15550007777")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["messages"][0]["message_status"], "held_for_quality_assessment",
        "{}",
        r.body
    );
    assert!(
        r.body["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("wamid.")
    );
}

async fn media_location_contacts_reactions_and_templates_reach_meta(b: Backend) {
    let app = spawn_app(b).await;
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    // A document the business uploaded to Meta itself: sent by Meta's id, as it is.
    let invoice = app
        .sim
        .add_media(openbsp_simulator::NewMedia {
            phone_number_id: PNID.into(),
            mime_type: "application/pdf".into(),
            content: openbsp_simulator::MediaContent::Bytes(bytes::Bytes::from_static(b"%PDF-1.7")),
            filename: None,
            origin: openbsp_simulator::MediaOrigin::Upload,
        })
        .unwrap();
    let sends = [
        json!({"type": "image", "image": {"link": "https://example.com/cat.png", "caption": "a cat"}}),
        json!({"type": "document", "document": {"id": invoice.id, "filename": "invoice.pdf"}}),
        json!({"type": "location", "location": {"latitude": 37.4847, "longitude": -122.1486, "name": "HQ"}}),
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana Lima"}, "phones": [{"phone": "+15550101234"}]}]}),
        // A reaction names the message by its gateway id; Meta gets the wamid.
        json!({"type": "reaction", "reaction": {"message_id": inbound["id"], "emoji": "👍"}}),
        json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
    ];
    for s in &sends {
        let mut body = s.clone();
        body["channel"] = json!(PNID);
        body["to"] = json!(USER);
        let r = app.post("/v1/messages", &app.api_key, &body).await;
        assert_eq!(r.status, 202, "{s}: {}", r.body);
        app.wait_status(r.body["id"].as_str().unwrap(), "sent")
            .await;
    }
    let got = app.sim.received(PNID);
    assert_eq!(got.len(), sends.len());
    for (s, m) in sends.iter().zip(&got) {
        let ty = s["type"].as_str().unwrap();
        assert_eq!(m.body["type"], ty);
        if ty == "reaction" {
            assert_eq!(m.body["reaction"]["message_id"], inbound["wamid"]);
        } else {
            assert_eq!(m.body[ty], s[ty], "{ty} sent as given");
        }
    }
    // A media send with two sources is Meta's 100, before Meta is called.
    let r = app.post("/v1/messages", &app.api_key, &json!({"channel": PNID, "to": USER, "type": "image", "image": {"id": "1", "link": "https://example.com/x.png"}})).await;
    assert_eq!(
        (r.status, r.body["error"]["meta_code"].as_i64()),
        (400, Some(100))
    );
    assert_eq!(app.sim.received(PNID).len(), sends.len());
}

async fn throttled_sends_are_retried_until_sent_once(b: Backend) {
    // The channel believes it may send 50 per second; Meta allows 3 and answers 130429 to the
    // rest. Every message still goes out, once.
    let app = spawn_app_with(b, 50).await;
    app.sim
        .add_phone_number(openbsp_simulator::PhoneNumberConfig {
            phone_number_id: PNID.into(),
            display_phone_number: "15550001111".into(),
            waba_id: "900100".into(),
            access_token: ACCESS_TOKEN.into(),
            app_secret: APP_SECRET.into(),
            webhook_url: Some(app.url("/webhooks/whatsapp")),
            throughput_mps: Some(3),
        });
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            app.send_template(&format!("1555124{i:04}")).await.body["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for id in &ids {
        app.wait_status(id, "sent").await;
    }
    let got = app.sim.received(PNID);
    assert_eq!(got.len(), 12, "each message accepted by Meta exactly once");
    // Meta did refuse some with 130429 on the way (nextest runs each test in its own process,
    // so these counters are this test's).
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
    let refused: f64 = metrics
        .lines()
        .find(|l| l.starts_with("openbsp_sends_total{result=\"refused\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(
        refused >= 1.0,
        "Meta never throttled the burst, so nothing was tested:\n{metrics}"
    );
}

async fn native_text_is_queued_sent_and_read(b: Backend) {
    let app = spawn_app(b).await;
    app.open_window(USER).await;
    let r = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": PNID, "to": "+1 (555) 123-0001", "type": "text",
                    "text": {"body": "hello", "preview_url": true}, "biz_opaque_callback_data": "order-42"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["to"], USER);
    let id = r.body["id"].as_str().unwrap().to_string();
    let read = app.wait_status(&id, "read").await;
    let wamid = read["wamid"].as_str().unwrap();
    let statuses: Vec<&str> = read["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["queued", "accepted", "sent", "delivered", "read"]
    );
    assert_eq!(read["biz_opaque_callback_data"], "order-42");
    // What Meta (the simulator) received: the text, with the gateway's id as callback data.
    let got = app.sim.received(PNID);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].wamid, wamid);
    assert_eq!(got[0].body["text"]["body"], "hello");
    assert_eq!(got[0].body["text"]["preview_url"], true);
    assert_eq!(got[0].body["to"], USER);
    assert_eq!(got[0].body["biz_opaque_callback_data"], id);
    // Lookup by wamid works too.
    let by_wamid = app
        .get(&format!("/v1/messages/{wamid}"), &app.api_key)
        .await;
    assert_eq!(by_wamid.body["id"], id);
}

async fn cloud_api_send_returns_metas_wamid(b: Backend) {
    let app = spawn_app(b).await;
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    let inbound_wamid = inbound["wamid"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/v23.0/{PNID}/messages"),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551230001",
                    "type": "text", "text": {"body": "reply"}, "context": {"message_id": inbound_wamid}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["messaging_product"], "whatsapp");
    assert_eq!(
        r.body["contacts"],
        json!([{"input": "15551230001", "wa_id": USER}])
    );
    let wamid = r.body["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid."), "{wamid}");
    assert!(r.body["messages"][0].get("message_status").is_none());
    let got = app.sim.received(PNID);
    assert_eq!(got.last().unwrap().wamid, wamid);
    assert_eq!(
        got.last().unwrap().body["context"]["message_id"],
        inbound_wamid.as_str()
    );
    // The inbound message's contact carries the profile name.
    let contact = app
        .store
        .get_contact(&app.tenant_id, inbound["contact_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.profile_name.as_deref(), Some("Ana"));
    // Any v{major}.{minor} works.
    let r = app
        .post(
            &format!("/v19.0/{PNID}/messages"),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn cloud_api_errors_are_metas(b: Backend) {
    let app = spawn_app(b).await;
    app.open_window(USER).await;
    let path = format!("/v23.0/{PNID}/messages");
    let ok =
        json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}});

    // Missing or wrong key: 190, HTTP 401.
    let r = app.post(&path, "obsp_wrong", &ok).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_i64()),
        (401, Some(190)),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["type"], "OAuthException");
    assert!(r.body["error"]["fbtrace_id"].is_string());
    let resp = app
        .http
        .post(app.url(&path))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Unknown phone number id and another tenant's: the same answer.
    let r1 = app.post("/v23.0/999999/messages", &app.api_key, &ok).await;
    let other_tenant = openbsp_server::core::admin::create_tenant(app.store.as_ref(), "Other", 1)
        .await
        .unwrap();
    let (_, other_key) = openbsp_server::core::admin::create_api_key(
        app.store.as_ref(),
        Some(&other_tenant.id),
        "k",
        false,
        1,
    )
    .await
    .unwrap();
    let r2 = app.post(&path, &other_key, &ok).await;
    for (r, id) in [(&r1, "999999"), (&r2, PNID)] {
        assert_eq!(r.status, 400);
        assert_eq!(r.body["error"]["code"], 100);
        assert_eq!(r.body["error"]["error_subcode"], 33);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("Object with ID '{id}' does not exist"))
        );
    }

    // Validation, with Meta's codes.
    let cases = [
        (
            json!({"to": USER, "text": {"body": "x"}}),
            100,
            "messaging_product",
        ),
        (
            json!({"messaging_product": "whatsapp", "text": {"body": "x"}}),
            100,
            "to",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "type": "text"}),
            131008,
            "text",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": 3}}),
            100,
            "text['body']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "a".repeat(4097)}}),
            100,
            "text['body'] must be at most 4096",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "call me", "text": {"body": "x"}}),
            131009,
            "to",
        ),
    ];
    for (body, code, field) in cases {
        let r = app.post(&path, &app.api_key, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], code, "{}", r.body);
        assert!(
            r.body["error"]["error_data"]["details"]
                .as_str()
                .unwrap()
                .contains(field),
            "{}",
            r.body
        );
    }
    let r = app.post(&path, &app.api_key, &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "a".repeat(4096)}})).await;
    assert_eq!(r.status, 200, "4096 characters are allowed: {}", r.body);
    let r = app.post_raw(&path, &app.api_key, "{not json", &[]).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_i64()),
        (400, Some(100))
    );
    let r = app
        .post("/latest/100200300/messages", &app.api_key, &ok)
        .await;
    assert_eq!(r.status, 400);

    // Nothing was stored for the refused requests: only the user's message and the one
    // valid send.
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 2);
}

async fn native_errors_use_the_envelope_and_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    app.open_window(USER).await;
    let r = app.post("/v1/messages", "nope", &json!({})).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "unauthorized");
    assert!(r.body["error"]["request_id"].is_string());

    let r = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": PNID, "to": USER, "text": {"body": "a".repeat(4097)}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "validation_failed");
    assert_eq!(r.body["error"]["meta_code"], 100);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text['body']")
    );

    let r = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"to": USER, "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    // Bodies over the configured limit (1 MiB) are refused before they are read.
    let huge = json!({"channel": PNID, "to": USER, "text": {"body": "a".repeat(1536 * 1024)}});
    // The gateway answers and closes the connection while the client may still be sending,
    // and the reset can cost the client that answer (HTTP/1.1): a client of its own (so no
    // later request goes out on that connection), asked again until the answer arrives.
    let alone = reqwest::Client::new();
    let mut status = None;
    for _ in 0..20 {
        let sent = alone
            .post(app.url("/v1/messages"))
            .bearer_auth(&app.api_key)
            .json(&huge)
            .send()
            .await;
        if let Ok(r) = sent {
            status = Some(r.status().as_u16());
            break;
        }
    }
    assert_eq!(status, Some(413));
    let r = app.post_raw("/v1/messages", &app.api_key, "[", &[]).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );

    // Another tenant sees none of this tenant's channels or messages.
    let sent = app.send_text(USER, "mine").await;
    let id = sent.body["id"].as_str().unwrap();
    let other = openbsp_server::core::admin::create_tenant(app.store.as_ref(), "Other", 1)
        .await
        .unwrap();
    let (_, other_key) = openbsp_server::core::admin::create_api_key(
        app.store.as_ref(),
        Some(&other.id),
        "k",
        false,
        1,
    )
    .await
    .unwrap();
    let r = app
        .post(
            "/v1/messages",
            &other_key,
            &json!({"channel": PNID, "to": USER, "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = app.get(&format!("/v1/messages/{id}"), &other_key).await;
    assert_eq!(r.status, 404);
    let r = app.get("/v1/messages", &other_key).await;
    assert_eq!(r.body["data"], json!([]));
    // Admin keys cannot send as a tenant.
    let r = app.send_text_with(&app.admin_key).await;
    assert_eq!(r.status, 403);
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 2);
    assert_eq!(app.store.count_messages(&other.id).await.unwrap(), 0);
}

impl TestApp {
    async fn send_text_with(&self, key: &str) -> Resp {
        self.post(
            "/v1/messages",
            key,
            &json!({"channel": PNID, "to": USER, "text": {"body": "x"}}),
        )
        .await
    }
}

async fn idempotency_key_returns_the_first_message(b: Backend) {
    let app = spawn_app(b).await;
    app.open_window(USER).await;
    let body =
        json!({"channel": PNID, "to": USER, "type": "text", "text": {"body": "once"}}).to_string();
    let h = [("idempotency-key", "order-1")];
    let first = app
        .post_raw("/v1/messages", &app.api_key, body.clone(), &h)
        .await;
    let again = app
        .post_raw("/v1/messages", &app.api_key, body.clone(), &h)
        .await;
    assert_eq!(first.status, 202);
    assert_eq!(again.status, 200);
    assert_eq!(first.body["id"], again.body["id"]);
    let other = json!({"channel": PNID, "to": USER, "type": "text", "text": {"body": "twice?"}})
        .to_string();
    let reused = app.post_raw("/v1/messages", &app.api_key, other, &h).await;
    assert_eq!(reused.status, 409);
    assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
    app.wait_status(first.body["id"].as_str().unwrap(), "read")
        .await;
    assert_eq!(app.sim.received(PNID).len(), 1, "sent once");
}

async fn transient_failures_are_retried_and_request_errors_fail_at_once(b: Backend) {
    let app = spawn_app(b).await;
    app.open_window(USER).await;
    // Meta answers 131000 (a transient error) to everything for a while.
    app.sim.set_faults(openbsp_simulator::Faults {
        error_rate: 1.0,
        error_code: 131000,
        ..Default::default()
    });
    let r = app.send_text(USER, "retry me").await;
    let id = r.body["id"].as_str().unwrap().to_string();
    // A negative (nothing went out) can only be seen over time: give the sender a few retries.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.get(&format!("/v1/messages/{id}"), &app.api_key)
            .await
            .body["status"],
        "queued"
    );
    app.sim.set_faults(openbsp_simulator::Faults::default());
    app.wait_status(&id, "read").await;
    assert_eq!(app.sim.received(PNID).len(), 1);

    // 131026 (undeliverable) is the user's state: fail at once with Meta's code.
    app.sim.set_faults(openbsp_simulator::Faults {
        error_rate: 1.0,
        error_code: 131026,
        ..Default::default()
    });
    let r = app.send_text(USER, "doomed").await;
    let failed = app
        .wait_status(r.body["id"].as_str().unwrap(), "failed")
        .await;
    assert_eq!(failed["error"]["code"], 131026);
    // On the Cloud API surface the caller gets Meta's error object.
    let r = app
        .post(
            &format!("/v23.0/{PNID}/messages"),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], 131026);
}

async fn pacing_keeps_under_the_simulators_limit(b: Backend) {
    // The channel and Meta agree on 5 messages per second: a burst of 20 must all go through
    // with no message lost or duplicated, paced by the gateway rather than refused by Meta.
    let app = spawn_app_with(b, 5).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = app.send_template(&format!("1555123{i:04}")).await;
        assert_eq!(r.status, 202);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        app.wait_status(id, "delivered").await;
    }
    let got = app.sim.received(PNID);
    assert_eq!(got.len(), 20);
    let mut seen: Vec<_> = got
        .iter()
        .map(|m| {
            m.body["biz_opaque_callback_data"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want, "every message exactly once");
    // The token bucket spread them: 20 at 5/s (burst 5) cannot all go within a second.
    let span = got.last().unwrap().received_at_ms - got.first().unwrap().received_at_ms;
    assert!(span >= 2_000, "20 messages at 5 mps took only {span} ms");
}

async fn listing_filters_and_pages(b: Backend) {
    let app = spawn_app(b).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.send_template(&format!("1555000{i:04}")).await.body["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let p1 = app.get("/v1/messages?limit=2", &app.api_key).await;
    assert_eq!(p1.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(p1.body["has_more"], true);
    assert_eq!(p1.body["data"][0]["id"], ids[4].as_str(), "newest first");
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(
            &format!("/v1/messages?limit=2&after={cursor}"),
            &app.api_key,
        )
        .await;
    assert_eq!(p2.body["data"][0]["id"], ids[2].as_str());
    let p3 = app
        .get(
            &format!(
                "/v1/messages?limit=2&after={}",
                p2.body["next_cursor"].as_str().unwrap()
            ),
            &app.api_key,
        )
        .await;
    assert_eq!(p3.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(p3.body["has_more"], false);
    let one = app
        .get("/v1/messages?to=%2B1%20555%20000%200003", &app.api_key)
        .await;
    assert_eq!(one.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(one.body["data"][0]["id"], ids[3].as_str());
    let by_channel = app
        .get(
            &format!("/v1/messages?channel={}&direction=outbound", app.channel.id),
            &app.api_key,
        )
        .await;
    assert_eq!(by_channel.body["data"].as_array().unwrap().len(), 5);
    let bad = app.get("/v1/messages?limit=0", &app.api_key).await;
    assert_eq!(bad.status, 400);
    let bad = app
        .get("/v1/messages?status=teleported", &app.api_key)
        .await;
    assert_eq!(bad.status, 400);
}
