//! `/v1/webhook-endpoints` over HTTP, on both backends: created with a Standard Webhooks
//! secret shown once, listed, updated, disabled and enabled, rotated with an overlap,
//! deleted; bad input refused and nothing changed; other tenants see nothing.

mod common;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends! {
    endpoints_are_created_listed_updated_and_deleted => crate::endpoints_are_created_listed_updated_and_deleted,
    bad_endpoints_are_refused_and_change_nothing => crate::bad_endpoints_are_refused_and_change_nothing,
    secrets_rotate_with_an_overlap => crate::secrets_rotate_with_an_overlap,
    addresses_that_carry_an_ipv4_address_are_refused => crate::addresses_that_carry_an_ipv4_address_are_refused,
    a_tenant_has_at_most_its_cap_of_endpoints => crate::a_tenant_has_at_most_its_cap_of_endpoints,
}

const BASE: &str = "/v1/webhook-endpoints";

async fn create(app: &TestApp, body: Value) -> Resp {
    app.post(BASE, &app.api_key, &body).await
}

async fn endpoints_are_created_listed_updated_and_deleted(b: Backend) {
    let app = spawn_app(b).await;
    let r = create(&app, json!({"url": "http://127.0.0.1:9/hooks", "events": ["message.*", "session.opened"], "description": "CRM"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("whe_"));
    assert_eq!(r.body["format"], "native");
    assert_eq!(r.body["enabled"], true);
    let secret = r.body["secret"].as_str().unwrap();
    let key = openbsp_wire::standard_webhooks::Secret::parse(secret).expect("whsec_ + base64");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let _ = key;
    // Shown once: never again, in any answer.
    let got = app.get(&format!("{BASE}/{id}"), &app.api_key).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none(), "{}", got.body);
    assert!(!got.body.to_string().contains(&secret[6..]), "{}", got.body);
    // Stored encrypted.
    let stored = app
        .store
        .get_webhook_endpoint(&app.tenant_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.secret_enc.contains(&secret[6..]));

    for i in 0..2 {
        let r = create(
            &app,
            json!({"url": format!("http://127.0.0.1:9/h{i}"), "events": ["*"], "format": "meta"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let page = app.get(&format!("{BASE}?limit=2"), &app.api_key).await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["has_more"], true);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("{BASE}?limit=2&after={cursor}"), &app.api_key)
        .await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 1);
    assert!(
        page.body.to_string().find("secret\":").is_none(),
        "lists show no secret"
    );

    // Updates: events, format, description; disabling keeps why; enabling clears it.
    let u = app
        .call(Method::PATCH, &format!("{BASE}/{id}"), &app.api_key, Some(&json!({"events": ["template.*"], "format": "meta", "description": null, "enabled": false})))
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(u.body["events"], json!(["template.*"]));
    assert_eq!(
        (u.body["format"].as_str(), u.body["description"].as_str()),
        (Some("meta"), None)
    );
    assert_eq!(
        (
            u.body["enabled"].as_bool(),
            u.body["disabled_reason"].as_str()
        ),
        (Some(false), Some("disabled by the tenant"))
    );
    let u = app
        .call(
            Method::PATCH,
            &format!("{BASE}/{id}"),
            &app.api_key,
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (
            u.body["enabled"].as_bool(),
            u.body["disabled_reason"].clone()
        ),
        (Some(true), Value::Null)
    );

    // Other tenants: 404 for everything.
    let other = app.other_tenant_key().await;
    assert_eq!(app.get(&format!("{BASE}/{id}"), &other).await.status, 404);
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("{BASE}/{id}"),
            &other,
            Some(&json!({"enabled": false}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("{BASE}/{id}"), &other, None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(BASE, &other).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let d = app
        .call(Method::DELETE, &format!("{BASE}/{id}"), &app.api_key, None)
        .await;
    assert_eq!(d.status, 204);
    assert_eq!(
        app.get(&format!("{BASE}/{id}"), &app.api_key).await.status,
        404
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("{BASE}/{id}"), &app.api_key, None)
            .await
            .status,
        404
    );
}

async fn bad_endpoints_are_refused_and_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    for (body, says) in [
        (json!({"events": ["*"]}), "url is required"),
        (json!({"url": "http://127.0.0.1:9/"}), "events is required"),
        (json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}), "http"),
        (
            json!({"url": "http://user:pw@127.0.0.1:9/", "events": ["*"]}),
            "credentials",
        ),
        (json!({"url": "not a url", "events": ["*"]}), "not a URL"),
        (
            json!({"url": "http://10.1.2.3/hooks", "events": ["*"]}),
            "private",
        ),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data", "events": ["*"]}),
            "link-local",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["messages.*"]}),
            "selects no event type",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": []}),
            "at least one",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["*"], "format": "xml"}),
            "one of native, meta, chakra, connectly",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["*"], "colour": "red"}),
            "unknown field",
        ),
    ] {
        let r = create(&app, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(
        app.get(BASE, &app.api_key).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing created"
    );
    let r = create(&app, json!({"url": "http://127.0.0.1:9/", "events": ["*"]})).await;
    let id = r.body["id"].as_str().unwrap();
    let bad = app
        .call(
            Method::PATCH,
            &format!("{BASE}/{id}"),
            &app.api_key,
            Some(&json!({"url": "http://192.168.0.10/", "events": ["session.*"]})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let now = app.get(&format!("{BASE}/{id}"), &app.api_key).await.body;
    assert_eq!(
        (now["url"].as_str(), now["events"].clone()),
        (Some("http://127.0.0.1:9/"), json!(["*"])),
        "unchanged"
    );
}

async fn secrets_rotate_with_an_overlap(b: Backend) {
    let app = spawn_app(b).await;
    let r = create(&app, json!({"url": "http://127.0.0.1:9/", "events": ["*"]})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let first = r.body["secret"].as_str().unwrap().to_string();
    let rot = app
        .post(
            &format!("{BASE}/{id}/rotate-secret"),
            &app.api_key,
            &json!({"overlap_seconds": 3600}),
        )
        .await;
    assert_eq!(rot.status, 200, "{}", rot.body);
    let second = rot.body["secret"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let until = chrono::DateTime::parse_from_rfc3339(
        rot.body["previous_secret_expires_at"].as_str().unwrap(),
    )
    .unwrap()
    .timestamp_millis();
    let in_an_hour = chrono::Utc::now().timestamp_millis() + 3_600_000;
    assert!((until - in_an_hour).abs() < 60_000, "{}", rot.body);
    // Both sign while they overlap.
    let stored = app
        .store
        .get_webhook_endpoint(&app.tenant_id, &id)
        .await
        .unwrap()
        .unwrap();
    let both = openbsp_server::core::endpoints::signing_secrets(
        app.gateway.state(),
        &stored,
        chrono::Utc::now().timestamp_millis(),
    )
    .unwrap();
    assert_eq!(
        both.iter().map(|s| s.expose()).collect::<Vec<_>>(),
        [second.clone(), first.clone()]
    );
    let later =
        openbsp_server::core::endpoints::signing_secrets(app.gateway.state(), &stored, until + 1)
            .unwrap();
    assert_eq!(
        later.iter().map(|s| s.expose()).collect::<Vec<_>>(),
        vec![second]
    );
    // Overlap 0 retires the old one at once; more than 7 days is refused.
    let rot = app
        .post(
            &format!("{BASE}/{id}/rotate-secret"),
            &app.api_key,
            &json!({"overlap_seconds": 0}),
        )
        .await;
    assert_eq!(
        rot.body["previous_secret_expires_at"],
        Value::Null,
        "{}",
        rot.body
    );
    let rot = app
        .post(
            &format!("{BASE}/{id}/rotate-secret"),
            &app.api_key,
            &json!({"overlap_seconds": 8 * 86400}),
        )
        .await;
    assert_eq!(rot.status, 400, "{}", rot.body);
}

async fn a_tenant_has_at_most_its_cap_of_endpoints(b: Backend) {
    let app = spawn_app_configured(b, |c| c.delivery.max_endpoints_per_tenant = 3).await;
    let body = json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"]});
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = create(&app, body.clone()).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = create(&app, body.clone()).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "endpoint_limit", "{}", r.body);
    let listed = app.get(BASE, &app.api_key).await.body["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 3, "nothing was created past the cap");
    // Another tenant has a cap of its own.
    let other = app.other_tenant_key().await;
    assert_eq!(app.post(BASE, &other, &body).await.status, 201);
    // Deleting one makes room.
    let path = format!("{BASE}/{}", ids[0]);
    assert_eq!(
        app.call(Method::DELETE, &path, &app.api_key, None)
            .await
            .status,
        204
    );
    assert_eq!(create(&app, body).await.status, 201);
}

/// IPv6 ranges that reach an IPv4 address through a translator or a relay (NAT64, IPv4-compatible,
/// 6to4, Teredo) and deprecated site-local addresses are refused as ranges, whatever address
/// they carry; a name that resolves to an internal address is refused without saying which.
async fn addresses_that_carry_an_ipv4_address_are_refused(b: Backend) {
    // An installation that allows no private or loopback destination (the default).
    let app = spawn_app_configured(b, |c| {
        c.webhook_network = openbsp_domain::netguard::NetworkPolicy::default();
    })
    .await;
    for (url, kind) in [
        ("http://[64:ff9b::7f00:1]/hooks", "NAT64"),
        ("http://[64:ff9b::808:808]/hooks", "NAT64"),
        ("http://[64:ff9b:1::a00:5]/hooks", "NAT64"),
        ("http://[::127.0.0.1]:9/hooks", "IPv4-compatible"),
        ("http://[::a00:5]/hooks", "IPv4-compatible"),
        ("http://[2002:7f00:1::1]/hooks", "6to4"),
        (
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",
            "Teredo",
        ),
        ("http://[fec0::1]/hooks", "site-local"),
        ("http://[::ffff:10.0.0.5]/hooks", "private"),
    ] {
        let r = create(&app, json!({"url": url, "events": ["*"]})).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("non-public address ({kind})")),
            "{url}: {message}"
        );
    }
    let r = create(
        &app,
        json!({"url": "http://localhost:9/hooks", "events": ["*"]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("(loopback)"), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("::1"),
        "what localhost resolves to is not said: {message}"
    );
    assert_eq!(
        app.get(BASE, &app.api_key).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing was created"
    );
}
