//! Authentication's answers and limits, on both backends: every refusal of a Meta webhook looks
//! the same, verify-token guesses and look-ups of unknown keys are throttled (known keys are
//! not), and an installation may hold each API key to a request rate, refused in each
//! surface's shape with `Retry-After`.

mod common;

use common::*;
use openbsp_server::core::limits::{
    HANDSHAKE_FAILURES_PER_MINUTE, KeyRate, LOOKUP_BURST, LOOKUPS_PER_SECOND,
};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    refused_meta_webhooks_all_get_the_same_answer => crate::refused_meta_webhooks_all_get_the_same_answer,
    verify_token_guesses_are_throttled => crate::verify_token_guesses_are_throttled,
    unknown_tokens_are_throttled_and_known_keys_are_not => crate::unknown_tokens_are_throttled_and_known_keys_are_not,
    each_key_is_held_to_its_rate => crate::each_key_is_held_to_its_rate,
}

/// `POST /webhooks/whatsapp` with `body` and `signature` (none when `None`): status and body.
async fn post_signed(app: &TestApp, body: &str, signature: Option<String>) -> (u16, String) {
    let mut req = app
        .http
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn refused_meta_webhooks_all_get_the_same_answer(b: Backend) {
    let app = spawn_app(b).await;
    let body = envelope(
        json!({"messages": [{"from": USER, "id": "wamid.X", "timestamp": "1700000000",
                                             "type": "text", "text": {"body": "hi"}}]}),
    );
    let sign = |secret: &str, bytes: &str| {
        Some(openbsp_wire::signature::sign(
            secret.as_bytes(),
            bytes.as_bytes(),
        ))
    };
    let foreign = body.replace(PNID, "555555");
    let answers = [
        post_signed(&app, &body, None).await,
        post_signed(&app, &body, sign("not-the-secret", &body)).await,
        post_signed(&app, &body, sign(APP_SECRET, "{}")).await,
        // A number nobody here owns, signed with a real app's secret.
        post_signed(&app, &foreign, sign(APP_SECRET, &foreign)).await,
        post_signed(&app, "{}", sign(APP_SECRET, "{}")).await,
    ];
    for a in &answers {
        assert_eq!(a, &answers[0], "every refusal answers alike: {answers:?}");
    }
    assert_eq!(answers[0].0, 401);
    assert!(app.store.unprocessed_inbox(10).await.unwrap().is_empty());
}

async fn verify_token_guesses_are_throttled(b: Backend) {
    let app = spawn_app(b).await;
    let handshake = |token: &str| {
        app.url(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=77"
        ))
    };
    let right = app.http.get(handshake(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(right.status(), 200);
    let mut statuses = Vec::new();
    for i in 0..HANDSHAKE_FAILURES_PER_MINUTE + 5 {
        let r = app
            .http
            .get(handshake(&format!("guess-{i}")))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // The quota (the right attempt used one) runs out: the rest are 429 without a look-up.
    let refused = statuses.iter().filter(|s| **s == 403).count() as u32;
    assert_eq!(refused, HANDSHAKE_FAILURES_PER_MINUTE - 1, "{statuses:?}");
    assert!(
        statuses[refused as usize..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    let r = app.http.get(handshake("one-more")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

async fn unknown_tokens_are_throttled_and_known_keys_are_not(b: Backend) {
    let app = spawn_app(b).await;
    // The known key is read once and kept.
    assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..LOOKUP_BURST + 50 {
        let r = app
            .get("/v1/messages", &format!("obsp_not-a-key-{i}"))
            .await;
        statuses.push((r.status, r.body["error"]["code"].clone()));
    }
    let unauthorized = statuses.iter().filter(|(s, _)| *s == 401).count();
    let throttled: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    // At most the burst and what the quota refilled meanwhile reached the database.
    let refilled = (started.elapsed().as_secs_f64() * f64::from(LOOKUPS_PER_SECOND)).ceil() as u32;
    assert!(
        unauthorized as u32 <= LOOKUP_BURST + refilled + 1 && !throttled.is_empty(),
        "{unauthorized} unauthorized, {} throttled, {refilled} refilled",
        throttled.len()
    );
    assert!(
        throttled.iter().all(|(_, c)| c == "rate_limited"),
        "{throttled:?}"
    );
    // While unknown tokens wait, the known key is served (from its own cache: none of the
    // unknown ones evicted it), here and on the Cloud API surface.
    assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    let graph = app
        .get(&format!("/v23.0/{PNID}/message_templates"), &app.api_key)
        .await;
    assert_ne!(graph.status, 429, "{}", graph.body);
}

async fn each_key_is_held_to_its_rate(b: Backend) {
    let app = spawn_app_configured(b, |c| {
        c.api_rate_limit = Some(KeyRate {
            per_second: 1,
            burst: 3,
        })
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    }
    // Native: 429 rate_limited with Meta's code beside, and Retry-After.
    let r = app
        .http
        .get(app.url("/v1/messages"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["meta_code"], 4, "{body}");
    // The Cloud API surface: Meta's code 4.
    let g = app
        .post(
            &format!("/v23.0/{PNID}/messages"),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(g.status, 429, "{}", g.body);
    assert_eq!(g.body["error"]["code"], 4, "{}", g.body);
    // A vendor surface: its own shape (Connectly's).
    let c = app
        .send_as(
            "POST",
            &format!("/v1/businesses/{}/get/templates", app.tenant_id),
            Some(("X-API-Key", app.api_key.as_str())),
            "",
        )
        .await;
    assert_eq!(c.status, 429, "{}", c.body);
    assert_eq!(c.body["code"], "ERROR_CODE_RATE_LIMITED", "{}", c.body);
    assert_eq!(
        app.sim.received(PNID).len(),
        0,
        "nothing sent past the limit"
    );
    // Another key has a rate of its own.
    let other = app.other_tenant_key().await;
    assert_eq!(app.get("/v1/messages", &other).await.status, 200);
}
