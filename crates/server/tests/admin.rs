//! The admin API: an admin key provisions tenants, keys, apps and channels; tenant keys cannot.

mod common;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    admin_provisions_a_working_channel => crate::admin_provisions_a_working_channel,
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
