//! The admin API: an admin key provisions tenants, keys, apps and channels, revokes keys and
//! changes an app's credentials; tenant keys cannot.

mod common;

use std::time::{Duration, Instant};

use common::*;
use openbsp_domain::Clock;
use openbsp_testkit::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends! {
    admin_provisions_a_working_channel => crate::admin_provisions_a_working_channel,
    a_revoked_key_stops_at_once => crate::a_revoked_key_stops_at_once,
    the_last_live_admin_key_cannot_be_revoked => crate::the_last_live_admin_key_cannot_be_revoked,
    an_app_secret_rotates_with_an_overlap => crate::an_app_secret_rotates_with_an_overlap,
    a_new_verify_token_replaces_the_old => crate::a_new_verify_token_replaces_the_old,
}

async fn admin_provisions_a_working_channel(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin_key.clone();
    // Tenant keys are refused on admin routes; admin keys on tenant routes.
    assert_eq!(
        app.post("/v1/tenants", &app.api_key, &json!({"name": "x"}))
            .await
            .status,
        403
    );
    assert_eq!(app.get("/v1/messages", &admin).await.status, 403);
    assert_eq!(
        app.post("/v1/tenants", "nope", &json!({"name": "x"}))
            .await
            .status,
        401
    );

    let t = app
        .post("/v1/tenants", &admin, &json!({"name": "Globex"}))
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    let tenant = t.body["id"].as_str().unwrap().to_string();
    let k = app
        .post(
            "/v1/api-keys",
            &admin,
            &json!({"tenant_id": tenant, "name": "main"}),
        )
        .await;
    let key = k.body["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("obsp_"));
    let listed = app.get("/v1/api-keys", &admin).await;
    assert!(
        !listed.body.to_string().contains(&key),
        "keys are shown once"
    );

    let a = app.post("/v1/apps", &admin, &json!({"tenant_id": tenant, "name": "globex", "app_secret": "gsecret", "verify_token": "gvt"})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(!a.body.to_string().contains("gsecret"));
    let bad = app.post("/v1/channels", &admin, &json!({"tenant_id": tenant, "app_id": a.body["id"], "phone_number_id": "abc", "waba_id": "1", "display_phone_number": "15550002222", "access_token": "t"})).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("phone_number_id")
    );
    let dup = app.post("/v1/channels", &admin, &json!({"tenant_id": tenant, "app_id": a.body["id"], "phone_number_id": PNID, "waba_id": "1", "display_phone_number": "15550002222", "access_token": "t"})).await;
    assert_eq!(dup.status, 409);
    let c = app.post("/v1/channels", &admin, &json!({"tenant_id": tenant, "app_id": a.body["id"], "phone_number_id": "700800",
        "waba_id": "7008", "display_phone_number": "+1 555 000 2222", "access_token": "globex-token",
        "graph_base_url": app.sim.url(), "throughput_mps": 20})).await;
    assert_eq!(c.status, 201, "{}", c.body);
    assert!(
        !c.body.to_string().contains("globex-token"),
        "access tokens are never shown"
    );
    assert_eq!(c.body["throughput_mps"], 20);
    let list = app.get("/v1/channels", &admin).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);

    // The new tenant can send through its new channel.
    app.sim
        .add_phone_number(openbsp_simulator::PhoneNumberConfig {
            phone_number_id: "700800".into(),
            display_phone_number: "15550002222".into(),
            waba_id: "7008".into(),
            access_token: "globex-token".into(),
            app_secret: "gsecret".into(),
            webhook_url: Some(app.url("/webhooks/whatsapp")),
            throughput_mps: None,
        });
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            "7008",
            json!({"name": "welcome", "language": "en", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Welcome to Globex."}]}),
        ))
        .unwrap();
    let r = app
        .post(
            "/v1/messages",
            &key,
            &json!({"channel": "700800", "to": USER, "type": "template",
                    "template": {"name": "welcome", "language": {"code": "en"}}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    app.wait_status_as(&key, r.body["id"].as_str().unwrap(), "read")
        .await;
    // Secrets are encrypted at rest.
    let stored = app
        .store
        .find_channel_by_phone_number_id("700800")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.access_token_enc.contains("globex-token"));
    assert_eq!(
        app.key.decrypt(&stored.access_token_enc).unwrap(),
        "globex-token"
    );
}

impl TestApp {
    async fn wait_status_as(&self, key: &str, id: &str, status: &str) {
        wait_until(status, || async {
            self.get(&format!("/v1/messages/{id}"), key).await.body["status"] == status
        })
        .await;
    }
}

/// The id of the key named `name` in the admin list.
async fn key_id(app: &TestApp, name: &str) -> String {
    let keys = app.get("/v1/api-keys", &app.admin_key).await.body;
    keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name}: {keys}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn delete(app: &TestApp, path: &str, key: &str) -> Resp {
    app.call(Method::DELETE, path, key, None).await
}

/// A tenant key that worked (and is cached) answers 401 on every surface as soon as an admin
/// revokes it; revoking it again keeps the first time; a tenant key revokes nothing.
async fn a_revoked_key_stops_at_once(b: Backend) {
    let app = spawn_app(b).await;
    let id = key_id(&app, "test").await;
    // The key works, and this replica now holds it in its cache.
    assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    let cloud = format!("/v23.0/{PNID}/messages");
    let text = json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "hi"}});
    assert_ne!(app.post(&cloud, &app.api_key, &text).await.status, 401);

    // Tenant keys are refused, even on their own key.
    let path = format!("/v1/api-keys/{id}");
    let refused = delete(&app, &path, &app.api_key).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(delete(&app, &path, "nope").await.status, 401);
    assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);

    let r = delete(&app, &path, &app.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["id"], &r.body["object"]),
        (&json!(id), &json!("api_key"))
    );
    assert!(r.body["revoked_at"].is_string(), "{}", r.body);
    assert!(r.body.get("key").is_none(), "a key is shown only when made");
    // At once, on the native and the Cloud API surfaces (Meta's 190 there).
    let gone = app.get("/v1/messages", &app.api_key).await;
    assert_eq!(gone.status, 401, "{}", gone.body);
    let gone = app.post(&cloud, &app.api_key, &text).await;
    assert_eq!(
        (gone.status, &gone.body["error"]["code"]),
        (401, &json!(190)),
        "{}",
        gone.body
    );

    // Again: the same answer, the first time kept.
    let again = delete(&app, &path, &app.admin_key).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["revoked_at"], r.body["revoked_at"]);
    let listed = app.get("/v1/api-keys", &app.admin_key).await.body;
    let entry = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == json!(id))
        .unwrap()
        .clone();
    assert_eq!(entry["revoked_at"], r.body["revoked_at"]);

    let unknown = delete(&app, "/v1/api-keys/key_nope", &app.admin_key).await;
    assert_eq!(
        (unknown.status, &unknown.body["error"]["code"]),
        (404, &json!("not_found")),
        "{}",
        unknown.body
    );
}

/// The installation keeps one live admin key: revoking the last is 409 `last_admin_key` (the
/// key still works); with a second admin key, a key may revoke itself.
async fn the_last_live_admin_key_cannot_be_revoked(b: Backend) {
    let app = spawn_app(b).await;
    let first = key_id(&app, "admin").await;
    let path = format!("/v1/api-keys/{first}");
    let r = delete(&app, &path, &app.admin_key).await;
    assert_eq!(
        (r.status, &r.body["error"]["code"]),
        (409, &json!("last_admin_key")),
        "{}",
        r.body
    );
    assert_eq!(app.get("/v1/tenants", &app.admin_key).await.status, 200);

    let second = app
        .post(
            "/v1/api-keys",
            &app.admin_key,
            &json!({"admin": true, "name": "ops"}),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.body);
    let second_key = second.body["key"].as_str().unwrap().to_string();
    // The first admin key revokes itself: its own request is answered, the next is not.
    let r = delete(&app, &path, &app.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.get("/v1/tenants", &app.admin_key).await.status, 401);
    assert_eq!(app.get("/v1/tenants", &second_key).await.status, 200);
    // Now the second is the last.
    let second_path = format!("/v1/api-keys/{}", second.body["id"].as_str().unwrap());
    assert_eq!(delete(&app, &second_path, &second_key).await.status, 409);
}

/// A user's text message from Meta, numbered `n`.
fn inbound(n: u32) -> String {
    envelope(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": USER}],
        "messages": [{"from": USER, "id": format!("wamid.rotation-{n}"), "timestamp": "1700000000",
                      "type": "text", "text": {"body": format!("hello {n}")}}]
    }))
}

/// Meta's webhooks signed with the old secret verify until the overlap ends (on the gateway's
/// clock, whatever the cache holds), those signed with the new one from the rotation on; an
/// overlap of 0 retires the old secret at once; a retried rotation keeps the overlap.
async fn an_app_secret_rotates_with_an_overlap(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let app_id = app.channel.app_id.clone();
    let rotate = format!("/v1/apps/{app_id}/rotate-secret");
    // Verified before (the app and its secret now cached).
    assert_eq!(app.post_webhook(&inbound(0), Some(APP_SECRET)).await, 200);
    assert_eq!(app.post_webhook(&inbound(1), Some("new-secret")).await, 401);

    let body = json!({"app_secret": "new-secret", "overlap_seconds": 3600});
    assert_eq!(app.post(&rotate, &app.api_key, &body).await.status, 403);
    let r = app.post(&rotate, &app.admin_key, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["previous_secret_expires_at"],
        json!(openbsp_domain::clock::rfc3339(clock.now_ms() + 3_600_000))
    );
    let shown = r.body.to_string();
    assert!(
        !shown.contains("new-secret") && !shown.contains(APP_SECRET),
        "secrets are never shown: {shown}"
    );
    // Encrypted at rest, the previous one too.
    let stored = app.store.get_app(&app_id).await.unwrap().unwrap();
    assert_eq!(
        app.key.decrypt(&stored.app_secret_enc).unwrap(),
        "new-secret"
    );
    let previous = stored.previous_secret_enc.as_deref().unwrap();
    assert!(!previous.contains(APP_SECRET));
    assert_eq!(app.key.decrypt(previous).unwrap(), APP_SECRET);

    // During the overlap: both.
    assert_eq!(app.post_webhook(&inbound(2), Some("new-secret")).await, 200);
    assert_eq!(app.post_webhook(&inbound(3), Some(APP_SECRET)).await, 200);
    assert_eq!(app.post_webhook(&inbound(4), Some("other")).await, 401);
    clock.advance_ms(3_600_000 - 1);
    assert_eq!(app.post_webhook(&inbound(5), Some(APP_SECRET)).await, 200);
    // After it: the new one only (the app is still cached here; the clock decides).
    clock.advance_ms(1);
    assert_eq!(app.post_webhook(&inbound(6), Some(APP_SECRET)).await, 401);
    assert_eq!(app.post_webhook(&inbound(7), Some("new-secret")).await, 200);
    let shown = app.get(&format!("/v1/apps/{app_id}"), &app.admin_key).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["previous_secret_expires_at"], Value::Null);

    // No overlap: the old secret is refused at once.
    let r = app
        .post(
            &rotate,
            &app.admin_key,
            &json!({"app_secret": "newest", "overlap_seconds": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["previous_secret_expires_at"], Value::Null);
    assert_eq!(app.post_webhook(&inbound(8), Some("new-secret")).await, 401);
    assert_eq!(app.post_webhook(&inbound(9), Some("newest")).await, 200);

    // The default overlap is a day; the same rotation again (a retry) keeps it, and so the
    // secret it replaced.
    let r = app
        .post(&rotate, &app.admin_key, &json!({"app_secret": "third"}))
        .await;
    assert_eq!(
        r.body["previous_secret_expires_at"],
        json!(openbsp_domain::clock::rfc3339(clock.now_ms() + 86_400_000))
    );
    clock.advance_ms(1_000);
    let retried = app
        .post(
            &rotate,
            &app.admin_key,
            &json!({"app_secret": "third", "overlap_seconds": 0}),
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(
        retried.body["previous_secret_expires_at"],
        r.body["previous_secret_expires_at"]
    );
    assert_eq!(app.post_webhook(&inbound(10), Some("newest")).await, 200);
    assert_eq!(app.post_webhook(&inbound(11), Some("third")).await, 200);

    // Refusals.
    for (body, status) in [
        (json!({"app_secret": "x", "overlap_seconds": -1}), 400),
        (json!({"app_secret": "x", "overlap_seconds": 604_801}), 400),
        (json!({"app_secret": ""}), 400),
        (json!({"overlap_seconds": 5}), 400),
        (json!({"app_secret": "x", "verify_token": "y"}), 400),
    ] {
        let r = app.post(&rotate, &app.admin_key, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
    let r = app
        .post(
            "/v1/apps/app_nope/rotate-secret",
            &app.admin_key,
            &json!({"app_secret": "x"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Nothing refused changed the secrets.
    assert_eq!(app.post_webhook(&inbound(12), Some("third")).await, 200);
}

/// `PATCH /v1/apps/{id}` with a new verify token: Meta's handshake answers to it, no longer to
/// the old one; the secret does not change that way.
async fn a_new_verify_token_replaces_the_old(b: Backend) {
    let app = spawn_app(b).await;
    let handshake = |token: &str| {
        let url = app.url(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=42"
        ));
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(handshake(VERIFY_TOKEN).await, 200);
    let path = format!("/v1/apps/{}", app.channel.app_id);
    let body = json!({"verify_token": "fresh-token", "name": "main app"});
    let tenant = app
        .call(Method::PATCH, &path, &app.api_key, Some(&body))
        .await;
    assert_eq!(tenant.status, 403);
    let r = app
        .call(Method::PATCH, &path, &app.admin_key, Some(&body))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "main app");
    assert!(!r.body.to_string().contains("fresh-token"));
    assert_eq!(handshake("fresh-token").await, 200);
    assert_eq!(handshake(VERIFY_TOKEN).await, 403);
    let stored = app
        .store
        .get_app(&app.channel.app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.key.decrypt(&stored.verify_token_enc).unwrap(),
        "fresh-token"
    );

    let secret = app
        .call(
            Method::PATCH,
            &path,
            &app.admin_key,
            Some(&json!({"app_secret": "x"})),
        )
        .await;
    assert_eq!(secret.status, 400, "{}", secret.body);
    let empty = app
        .call(
            Method::PATCH,
            &path,
            &app.admin_key,
            Some(&json!({"verify_token": ""})),
        )
        .await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    let unknown = app
        .call(
            Method::PATCH,
            "/v1/apps/app_nope",
            &app.admin_key,
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(app.post_webhook(&inbound(0), Some(APP_SECRET)).await, 200);
}

/// Two replicas on one PostgreSQL database: a key revoked, or an app secret rotated, through
/// one is honoured by the other at once (a `changed` notice), not when its cached copy
/// expires (keys 30 s, apps 60 s). The same for a key revoked by the CLI (which changes the
/// database and publishes the notice). PostgreSQL only: SQLite is one process.
#[tokio::test]
async fn credentials_changed_on_one_replica_are_honoured_by_another_at_once() {
    let app = spawn_app(Backend::Postgres).await;
    let mut config = openbsp_server::Config::for_tests(app.key.clone());
    config.sender = fast_sender();
    let second = openbsp_server::Gateway::start(config, app.store.clone())
        .await
        .expect("a second replica starts");
    let on_second = |path: &str, key: &str| {
        let req = app
            .http
            .get(format!("{}{path}", second.url()))
            .bearer_auth(key);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let webhook_on_second = |n: u32, secret: &str| {
        let body = inbound(n);
        let req = app
            .http
            .post(format!("{}/webhooks/whatsapp", second.url()))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                openbsp_wire::signature::sign(secret.as_bytes(), body.as_bytes()),
            )
            .body(body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Cached on the second replica: the tenant key, the app and its secret.
    assert_eq!(on_second("/v1/messages", &app.api_key).await, 200);
    assert_eq!(webhook_on_second(0, APP_SECRET).await, 200);

    let r = delete(
        &app,
        &format!("/v1/api-keys/{}", key_id(&app, "test").await),
        &app.admin_key,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    within_seconds(5, "the key refused on the second replica", || async {
        on_second("/v1/messages", &app.api_key).await == 401
    })
    .await;
    // The app and its secret cached again there (the revocation's notice dropped them).
    assert_eq!(webhook_on_second(1, APP_SECRET).await, 200);
    let r = app
        .post(
            &format!("/v1/apps/{}/rotate-secret", app.channel.app_id),
            &app.admin_key,
            &json!({"app_secret": "rotated", "overlap_seconds": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    within_seconds(
        5,
        "the new secret verified on the second replica",
        || async { webhook_on_second(2, "rotated").await == 200 },
    )
    .await;
    assert_eq!(webhook_on_second(3, APP_SECRET).await, 401);

    // The CLI's way: the store changed, then the notice.
    let (created, other_key) = app.new_key("cli").await;
    assert_eq!(on_second("/v1/messages", &other_key).await, 200);
    assert_eq!(app.get("/v1/messages", &other_key).await.status, 200);
    openbsp_server::core::credentials::revoke_api_key(
        app.store.as_ref(),
        &created.id,
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .unwrap();
    openbsp_server::core::credentials::tell_replicas(app.store.as_ref()).await;
    within_seconds(5, "the CLI's revocation heard by both replicas", || async {
        on_second("/v1/messages", &other_key).await == 401
            && app.get("/v1/messages", &other_key).await.status == 401
    })
    .await;
    second.shutdown().await;
}

/// Waits for `f` up to `secs` seconds (far less than the caches' lifetimes).
async fn within_seconds<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within {secs} s");
}
