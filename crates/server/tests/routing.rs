//! Meta's payloads routed by each change's own number, on both backends: one Meta app serving
//! numbers of two tenants (each registered it, with its secret) has each change applied for the
//! tenant of its number, and Meta-format endpoints get their tenant's changes only; a tenant
//! that registers another's Meta app id without its secret reaches none of its numbers; a
//! WhatsApp Business Account belongs to one tenant.

mod common;

use common::receiver::Receiver;
use common::*;
use openbsp_server::core::CoreError;
use openbsp_server::core::admin::{self as provision, AppInput, ChannelInput};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    one_meta_app_serving_two_tenants_reaches_both => crate::one_meta_app_serving_two_tenants_reaches_both,
    a_waba_belongs_to_one_tenant => crate::a_waba_belongs_to_one_tenant,
}

/// A second tenant with an app of `secret` (and Meta app id `meta_app_id`) and the number
/// [`OTHER_PNID`] on WABA `waba`; its tenant id and API key.
async fn tenant_with(
    app: &TestApp,
    secret: &str,
    meta_app_id: &str,
    waba: &str,
) -> (String, String) {
    let now = chrono::Utc::now().timestamp_millis();
    let s = app.store.as_ref();
    let tenant = provision::create_tenant(s, "Second", now).await.unwrap();
    let (_, key) = provision::create_api_key(s, Some(&tenant.id), "k", false, now)
        .await
        .unwrap();
    let a = provision::add_app(
        s,
        &app.key,
        AppInput {
            tenant_id: tenant.id.clone(),
            name: "shared".into(),
            app_secret: secret.into(),
            verify_token: format!("vt-{meta_app_id}"),
            meta_app_id: Some(meta_app_id.into()),
        },
        now,
    )
    .await
    .unwrap();
    provision::add_channel(
        s,
        &app.key,
        channel(&tenant.id, &a.id, OTHER_PNID, waba),
        now,
    )
    .await
    .unwrap();
    (tenant.id, key)
}

fn channel(tenant_id: &str, app_id: &str, pnid: &str, waba: &str) -> ChannelInput {
    ChannelInput {
        tenant_id: tenant_id.into(),
        app_id: app_id.into(),
        phone_number_id: pnid.into(),
        waba_id: waba.into(),
        display_phone_number: OTHER_DISPLAY.into(),
        access_token: "t".into(),
        graph_base_url: None,
        graph_version: None,
        throughput_mps: None,
        messaging_tier: None,
        business_id: None,
    }
}

/// A text from `from` to number `pnid` (display `display`), as one change.
fn change(pnid: &str, display: &str, from: &str, wamid: &str) -> Value {
    json!({"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display, "phone_number_id": pnid},
        "contacts": [{"profile": {"name": "U"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1700000000", "type": "text",
                      "text": {"body": format!("to {pnid}")}}]}})
}

async fn stored(app: &TestApp, key: &str, wamid: &str) -> bool {
    app.get(&format!("/v1/messages/{wamid}"), key).await.status == 200
}

async fn one_meta_app_serving_two_tenants_reaches_both(b: Backend) {
    let app = spawn_app(b).await;
    // The second tenant registered the same Meta app (same secret), for its own number.
    let (_, second_key) = tenant_with(&app, APP_SECRET, "700800900", "900177").await;
    let meta = Receiver::start().await;
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.api_key,
            &json!({"url": meta.url, "events": ["message.*"], "format": "meta"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // One signed payload: an entry whose changes concern both tenants' numbers, and an entry
    // for the second tenant's WABA.
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "900100", "changes": [
            change(PNID, "15550001111", USER, "wamid.FIRST"),
            change(OTHER_PNID, OTHER_DISPLAY, "15557770001", "wamid.SECOND")]},
        {"id": "900177", "changes": [change(OTHER_PNID, OTHER_DISPLAY, "15557770002", "wamid.THIRD")]}
    ]})
    .to_string();
    assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
    wait_until("every change applied for its own tenant", || async {
        stored(&app, &app.api_key, "wamid.FIRST").await
            && stored(&app, &second_key, "wamid.SECOND").await
            && stored(&app, &second_key, "wamid.THIRD").await
    })
    .await;
    // Neither sees the other's.
    assert!(!stored(&app, &app.api_key, "wamid.SECOND").await);
    assert!(!stored(&app, &second_key, "wamid.FIRST").await);
    // The first tenant's Meta-format endpoint gets its change only.
    let hits = meta
        .wait_for("the first tenant's envelope", |h| !h.is_empty())
        .await;
    let v = hits[0].json();
    let entries = v["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{v}");
    let changes = entries[0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{v}");
    assert_eq!(changes[0]["value"]["metadata"]["phone_number_id"], PNID);
    assert!(!v.to_string().contains(OTHER_PNID), "{v}");

    // A tenant that registered the first's Meta app id with a secret of its own reaches none
    // of the first's numbers: its signed payload naming them is applied to nobody.
    let (_, third_key) =
        tenant_with_number(&app, "own-secret", "700800900", "100200377", "900188").await;
    let forged = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "900188", "changes": [
            change("100200377", "15550003333", "15557770003", "wamid.OWN"),
            change(PNID, "15550001111", USER, "wamid.FORGED")]}]})
    .to_string();
    assert_eq!(app.post_webhook(&forged, Some("own-secret")).await, 200);
    wait_until("its own change applied", || async {
        stored(&app, &third_key, "wamid.OWN").await
    })
    .await;
    assert!(!stored(&app, &app.api_key, "wamid.FORGED").await);
    assert!(!stored(&app, &third_key, "wamid.FORGED").await);
}

/// Like [`tenant_with`], with number `pnid` on WABA `waba`.
async fn tenant_with_number(
    app: &TestApp,
    secret: &str,
    meta_app_id: &str,
    pnid: &str,
    waba: &str,
) -> (String, String) {
    let now = chrono::Utc::now().timestamp_millis();
    let s = app.store.as_ref();
    let tenant = provision::create_tenant(s, "Third", now).await.unwrap();
    let (_, key) = provision::create_api_key(s, Some(&tenant.id), "k", false, now)
        .await
        .unwrap();
    let a = provision::add_app(
        s,
        &app.key,
        AppInput {
            tenant_id: tenant.id.clone(),
            name: "lookalike".into(),
            app_secret: secret.into(),
            verify_token: "vt-third".into(),
            meta_app_id: Some(meta_app_id.into()),
        },
        now,
    )
    .await
    .unwrap();
    let mut c = channel(&tenant.id, &a.id, pnid, waba);
    c.display_phone_number = "15550003333".into();
    provision::add_channel(s, &app.key, c, now).await.unwrap();
    (tenant.id, key)
}

async fn a_waba_belongs_to_one_tenant(b: Backend) {
    let app = spawn_app(b).await;
    let now = chrono::Utc::now().timestamp_millis();
    let s = app.store.as_ref();
    let tenant = provision::create_tenant(s, "Other", now).await.unwrap();
    let a = provision::add_app(
        s,
        &app.key,
        AppInput {
            tenant_id: tenant.id.clone(),
            name: "o".into(),
            app_secret: "x".into(),
            verify_token: "vt-o".into(),
            meta_app_id: None,
        },
        now,
    )
    .await
    .unwrap();
    // The test tenant's WABA (900100), for another tenant's number: refused.
    let err = provision::add_channel(
        s,
        &app.key,
        channel(&tenant.id, &a.id, OTHER_PNID, "900100"),
        now,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Conflict {
                code: "waba_taken",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(s.list_channels(Some(&tenant.id)).await.unwrap().is_empty());
    // Its own WABA is fine; and the owner may add more numbers to its WABA.
    provision::add_channel(
        s,
        &app.key,
        channel(&tenant.id, &a.id, OTHER_PNID, "900155"),
        now,
    )
    .await
    .unwrap();
    let mut more = channel(&app.tenant_id, &app.channel.app_id, "100200311", "900100");
    more.display_phone_number = "15550004444".into();
    provision::add_channel(s, &app.key, more, now)
        .await
        .unwrap();
}
