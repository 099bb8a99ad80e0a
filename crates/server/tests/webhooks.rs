//! Meta's webhook receiver: signatures, the handshake, idempotent status processing and
//! inbound messages, on both backends.

mod common;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    bad_or_missing_signatures_are_refused_and_store_nothing => crate::bad_or_missing_signatures_are_refused_and_store_nothing,
    verification_handshake => crate::verification_handshake,
    statuses_are_idempotent_and_never_move_backwards => crate::statuses_are_idempotent_and_never_move_backwards,
    failed_is_final_and_carries_metas_error => crate::failed_is_final_and_carries_metas_error,
    inbound_texts_are_stored_once_with_their_contact => crate::inbound_texts_are_stored_once_with_their_contact,
    health_and_metrics => crate::health_and_metrics,
    times_out_of_range_are_refused_and_processing_goes_on => crate::times_out_of_range_are_refused_and_processing_goes_on,
    metric_labels_from_payloads_are_a_closed_set => crate::metric_labels_from_payloads_are_a_closed_set,
    metrics_need_their_token_or_their_own_address => crate::metrics_need_their_token_or_their_own_address,
}

async fn sent_message(app: &TestApp) -> (String, String) {
    app.open_window(USER).await;
    let r = app.send_text(USER, "hi").await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let m = app.wait_status(&id, "accepted").await;
    (id, m["wamid"].as_str().unwrap().to_string())
}

async fn bad_or_missing_signatures_are_refused_and_store_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let body = envelope(json!({
        "contacts": [{"profile": {"name": "Mallory"}, "wa_id": "15559990000"}],
        "messages": [{"from": "15559990000", "id": "wamid.FORGED", "timestamp": "1700000000", "type": "text", "text": {"body": "forged"}}]
    }));
    assert_eq!(app.post_webhook(&body, None).await, 401);
    assert_eq!(app.post_webhook(&body, Some("not-the-secret")).await, 401);
    // A valid signature over different bytes.
    let sig = openbsp_wire::signature::sign(APP_SECRET.as_bytes(), b"{}");
    let r = app
        .http
        .post(app.url("/webhooks/whatsapp"))
        .header("x-hub-signature-256", sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A payload for a number nobody here owns.
    let foreign = body.replace(PNID, "555555");
    assert_eq!(app.post_webhook(&foreign, Some(APP_SECRET)).await, 401);
    assert!(app.store.unprocessed_inbox(10).await.unwrap().is_empty());
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 0);
    // The same payload, correctly signed, is stored.
    assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    wait_until("inbound stored", || async {
        app.store.count_messages(&app.tenant_id).await.unwrap() == 1
    })
    .await;
}

async fn verification_handshake(b: Backend) {
    let app = spawn_app(b).await;
    let ok = app
        .http
        .get(app.url(&format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = app
        .http
        .get(
            app.url("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
}

fn status(wamid: &str, status: &str, ts: i64) -> String {
    envelope(
        json!({"statuses": [{"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": USER}]}),
    )
}

async fn statuses_are_idempotent_and_never_move_backwards(b: Backend) {
    let app = spawn_app(b).await;
    app.sim.set_status_delays(openbsp_simulator::StatusDelays {
        sent_ms: 3_600_000,
        delivered_ms: 3_600_000,
        read_ms: None,
    });
    let (id, wamid) = sent_message(&app).await;
    for body in [
        status(&wamid, "read", 1_700_000_010),
        status(&wamid, "delivered", 1_700_000_005),
        status(&wamid, "read", 1_700_000_010),
        status(&wamid, "sent", 1_700_000_001),
    ] {
        assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    }
    wait_until("statuses processed", || async {
        app.store.unprocessed_inbox(10).await.unwrap().is_empty()
    })
    .await;
    let m = app
        .get(&format!("/v1/messages/{id}"), &app.api_key)
        .await
        .body;
    assert_eq!(m["status"], "read");
    let statuses: Vec<&str> = m["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["queued", "accepted", "sent", "delivered", "read"],
        "each status once, duplicates harmless"
    );
}

async fn failed_is_final_and_carries_metas_error(b: Backend) {
    let app = spawn_app(b).await;
    app.sim.set_status_delays(openbsp_simulator::StatusDelays {
        sent_ms: 3_600_000,
        delivered_ms: 3_600_000,
        read_ms: None,
    });
    let (id, wamid) = sent_message(&app).await;
    let failed = envelope(
        json!({"statuses": [{"id": wamid, "status": "failed", "timestamp": "1700000003", "recipient_id": USER,
        "errors": [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable", "error_data": {"details": "not on WhatsApp"}}]}]}),
    );
    assert_eq!(app.post_webhook(&failed, Some(APP_SECRET)).await, 200);
    assert_eq!(
        app.post_webhook(&status(&wamid, "read", 1_700_000_009), Some(APP_SECRET))
            .await,
        200
    );
    wait_until("statuses processed", || async {
        app.store.unprocessed_inbox(10).await.unwrap().is_empty()
    })
    .await;
    let m = app
        .get(&format!("/v1/messages/{id}"), &app.api_key)
        .await
        .body;
    assert_eq!(m["status"], "failed");
    assert_eq!(m["error"][0]["code"], 131026);
}

async fn inbound_texts_are_stored_once_with_their_contact(b: Backend) {
    let app = spawn_app(b).await;
    let msg = |name: &str| {
        envelope(json!({
            "contacts": [{"profile": {"name": name}, "wa_id": "15557770000"}],
            "messages": [{"from": "15557770000", "id": "wamid.IN1", "timestamp": "1700000000", "type": "text", "text": {"body": "olá 👋"}}]
        }))
    };
    // Meta redelivers: the same message twice is stored once.
    assert_eq!(app.post_webhook(&msg("Zé"), Some(APP_SECRET)).await, 200);
    assert_eq!(app.post_webhook(&msg("Zé"), Some(APP_SECRET)).await, 200);
    let second = envelope(json!({
        "contacts": [{"profile": {"name": "José"}, "wa_id": "15557770000"}],
        "messages": [{"from": "15557770000", "id": "wamid.IN2", "timestamp": "1700000100", "type": "text", "text": {"body": "again"}}]
    }));
    assert_eq!(app.post_webhook(&second, Some(APP_SECRET)).await, 200);
    wait_until("inbound processed", || async {
        app.store.unprocessed_inbox(10).await.unwrap().is_empty()
    })
    .await;
    let list = app
        .get("/v1/messages?direction=inbound", &app.api_key)
        .await
        .body;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let first = data.iter().find(|m| m["wamid"] == "wamid.IN1").unwrap();
    assert_eq!(first["content"]["text"]["body"], "olá 👋");
    assert_eq!(first["from"], "15557770000");
    assert_eq!(data[0]["contact_id"], data[1]["contact_id"], "one contact");
    let contact = app
        .store
        .get_contact(&app.tenant_id, first["contact_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.wa_id.as_deref(), Some("15557770000"));
    assert_eq!(
        contact.profile_name.as_deref(),
        Some("José"),
        "renamed from the latest profile"
    );
}

async fn health_and_metrics(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (_, _) = sent_message(&app).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(openbsp_server::config::TEST_METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "openbsp_http_requests_total",
        "openbsp_messages{status=",
        "openbsp_sender_queue_depth",
        "openbsp_webhook_intake_total",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    assert!(
        !text.contains(&app.api_key) && !text.contains(ACCESS_TOKEN) && !text.contains(APP_SECRET)
    );
}

/// The status of `GET url` with `bearer` (none when `None`).
async fn status_of(app: &TestApp, url: &str, bearer: Option<&str>) -> u16 {
    let mut req = app.http.get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn metrics_need_their_token_or_their_own_address(b: Backend) {
    // On the API's address, only with the token; anything else is an unknown route, even a
    // tenant's or an admin's API key.
    let app = spawn_app(b).await;
    let url = app.url("/metrics");
    let token = openbsp_server::config::TEST_METRICS_TOKEN;
    assert_eq!(status_of(&app, &url, Some(token)).await, 200);
    for wrong in [
        None,
        Some("wrong-token"),
        Some(app.api_key.as_str()),
        Some(app.admin_key.as_str()),
    ] {
        assert_eq!(status_of(&app, &url, wrong).await, 404, "{wrong:?}");
    }
    assert_eq!(app.gateway.metrics_addr, None);

    // Without a token they are not served there at all; with an address of their own, they
    // are served there without credentials (and only they are).
    let app = spawn_app_configured(b, |c| {
        c.metrics.token = None;
        c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    assert_eq!(status_of(&app, &app.url("/metrics"), None).await, 404);
    let own = format!(
        "http://{}",
        app.gateway.metrics_addr.expect("metrics address")
    );
    assert_eq!(status_of(&app, &format!("{own}/metrics"), None).await, 200);
    assert_eq!(status_of(&app, &format!("{own}/healthz"), None).await, 404);
    assert_eq!(
        status_of(&app, &format!("{own}/v1/messages"), Some(&app.api_key)).await,
        404
    );
}

/// A signed payload whose times are no dates (Unix seconds of `i64::MAX`, which overflow when
/// made milliseconds): those items are refused, the rest applied, the payload marked processed
/// (not claimed again forever) and later payloads processed as usual.
async fn times_out_of_range_are_refused_and_processing_goes_on(b: Backend) {
    let app = spawn_app(b).await;
    let metadata = json!({"display_phone_number": "15550001111", "phone_number_id": PNID});
    let huge = i64::MAX;
    let body = json!({"object": "whatsapp_business_account", "entry": [{
        "id": "900100",
        "time": huge,
        "changes": [
            {"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15557770001"}],
                "messages": [
                    {"from": "15557770001", "id": "wamid.HUGE", "timestamp": huge.to_string(), "type": "text", "text": {"body": "from the far future"}},
                    {"from": "15557770001", "id": "wamid.FINE", "timestamp": "1700000000", "type": "text", "text": {"body": "now"}}
                ],
                "statuses": [{"id": "wamid.UNKNOWN", "status": "delivered", "timestamp": huge.to_string(), "recipient_id": "15557770001"}]
            }},
            {"field": "message_template_status_update", "value": {
                "event": "APPROVED", "message_template_id": 1, "message_template_name": "far_future", "message_template_language": "en_US"
            }},
            {"field": "user_preferences", "value": {
                "messaging_product": "whatsapp",
                "metadata": metadata,
                "user_preferences": [{"wa_id": "15557770001", "category": "marketing_messages", "value": "stop", "timestamp": huge}]
            }}
        ]
    }]})
    .to_string();
    assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    // Processing goes on: a later message is stored.
    let later = app
        .inbound_at(
            "15557770002",
            json!({"type": "text", "text": {"body": "later"}}),
            chrono::Utc::now().timestamp_millis(),
        )
        .await;
    assert_eq!(later["content"]["text"]["body"], "later");
    wait_until("every payload processed", || async {
        app.store.unprocessed_inbox(10).await.unwrap().is_empty()
    })
    .await;
    // The refused message is not stored; its neighbour is.
    assert_eq!(
        app.get("/v1/messages/wamid.HUGE", &app.api_key)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get("/v1/messages/wamid.FINE", &app.api_key)
            .await
            .status,
        200
    );
    // The refused preference changed nothing.
    let contact = app.get("/v1/contacts/15557770001", &app.api_key).await;
    assert_eq!(contact.status, 200, "{}", contact.body);
    assert_ne!(
        contact.body["marketing_opt_out"]["opted_out"], true,
        "{}",
        contact.body
    );
}

/// Metric labels taken from a payload (a message's type, a change's field) are one of a
/// closed set, or `other`: a made-up value opens no series of its own.
async fn metric_labels_from_payloads_are_a_closed_set(b: Backend) {
    let app = spawn_app(b).await;
    let made_up = format!("made_up_{}", openbsp_domain::crypto::random_token(8));
    let body = json!({"object": "whatsapp_business_account", "entry": [{
        "id": "900100",
        "changes": [
            {"field": format!("{made_up}_field"), "value": {}},
            {"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "15557770003"}],
                "messages": [{"from": "15557770003", "id": format!("wamid.{made_up}"), "timestamp": "1700000000", "type": format!("{made_up}_type"), format!("{made_up}_type"): {}}]
            }}
        ]
    }]})
    .to_string();
    assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    let path = format!("/v1/messages/wamid.{made_up}");
    wait_until("the message stored", || async {
        app.get(&path, &app.api_key).await.status == 200
    })
    .await;
    let text = openbsp_server::metrics::render();
    assert!(!text.contains(&made_up), "{text}");
    for series in [
        "openbsp_inbound_messages_total{type=\"other\"}",
        "openbsp_webhook_fields_unhandled_total{field=\"other\"}",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}
