//! The Connectly surface's campaign sendouts (`…/send/campaigns`) and assets (`…/assets`)
//! against a running gateway with the simulator as Meta, on both backends: a sendout copied
//! from the gateway campaign of that name reaches each entry once with its variables, a
//! scheduled one waits, refusals create nothing; an asset is fetched from its source, stored,
//! and read back by its keyless link, and private sources and other businesses' assets are
//! refused.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    a_sendout_reaches_each_entry_once_with_its_variables =>
        crate::a_sendout_reaches_each_entry_once_with_its_variables,
    scheduled_sendouts_wait_and_versions_are_picked =>
        crate::scheduled_sendouts_wait_and_versions_are_picked,
    refused_sendouts_create_nothing => crate::refused_sendouts_create_nothing,
    assets_are_fetched_stored_and_linked => crate::assets_are_fetched_stored_and_linked,
    private_sources_are_refused_unless_allowed => crate::private_sources_are_refused_unless_allowed,
}

const TEMPLATE: &str = "spring_offer";

/// Checks Connectly's error shape (`error` is the response's body, or an entry's `error`).
fn check_error(error: &Value, code: &str) {
    assert_eq!(error["code"], code, "{error}");
    for f in ["message", "type", "userTitle", "userMessage", "cntTraceId"] {
        assert!(
            error[f].as_str().is_some_and(|m| !m.is_empty()),
            "{f}: {error}"
        );
    }
    assert!(error["details"].is_object(), "{error}");
}

fn check_status(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    check_error(&r.body, code);
}

/// The campaign's template at the simulator; its id there.
fn seed_template(app: &TestApp) -> String {
    seed_spring_offer(app, "UTILITY")
}

/// A published campaign: a gateway campaign of that name, its placeholders `first_name` and
/// `discount`; its id.
async fn publish(app: &TestApp, name: &str) -> String {
    let r = app
        .post(
            "/v1/campaigns",
            &app.api_key,
            &json!({"name": name, "channel": PNID, "rate_limit": 20,
                    "template": {"name": TEMPLATE, "language": "en_US",
                                 "variables": ["{{first_name}}", "{{discount}}"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// The tenant's campaigns, by id.
async fn campaigns(app: &TestApp) -> HashMap<String, Value> {
    let r = app.get("/v1/campaigns?limit=100", &app.api_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

async fn campaign(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/v1/campaigns/{id}"), &app.api_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// What Meta received for the `1555700…` users, by user.
fn received(app: &TestApp) -> HashMap<String, Vec<Value>> {
    let mut by_user: HashMap<String, Vec<Value>> = HashMap::new();
    for m in app.sim.received(PNID) {
        if m.to.starts_with("1555700") {
            by_user.entry(m.to.clone()).or_default().push(m.body);
        }
    }
    by_user
}

fn entry(client: &str, campaign: &str, first_name: &str, discount: &str) -> Value {
    json!({"client": client, "campaignName": campaign,
           "variables": {"first_name": first_name, "discount": discount}})
}

async fn a_sendout_reaches_each_entry_once_with_its_variables(b: Backend) {
    let app = spawn_app(b).await;
    seed_template(&app);
    let published = publish(&app, "Spring").await;
    let mut with_sender = entry("15557000002", "Spring", "Bo", "15%");
    with_sender["sender"] = json!("+1 555 000 1111");
    let mut no_variable = entry("+15557000005", "Spring", "Ed", "5%");
    no_variable["variables"] = json!({"first_name": "Ed"});
    let r = x_api_key_post(
        &app,
        "send/campaigns",
        &json!({"entries": [
            entry("+15557000001", "Spring", "Ana", "10%"),
            with_sender,
            entry("+1 555 700 0003", "Spring", "Cy", "20%"),
            // The first entry's client, written another way: refused.
            entry("1 (555) 700-0001", "Spring", "Ana again", "50%"),
            entry("not-a-number", "Spring", "Di", "1%"),
            no_variable,
        ]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    // The same campaign, number and time: one sendout.
    assert_eq!(data.len(), 1, "{}", r.body);
    let s = &data[0];
    assert_eq!(s["campaignName"], "Spring", "{s}");
    assert_eq!(s["campaignId"], published.as_str(), "{s}");
    assert_eq!(s["status"], "SENDOUT_STATUS_RUNNING", "{s}");
    assert_eq!(s["acceptedEntries"], 3, "{s}");
    assert_eq!(s["sender"], "+15550001111", "{s}");
    let rejected = s["rejectedEntries"].as_array().unwrap();
    let by_index: HashMap<u64, &Value> = rejected
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), &e["error"]))
        .collect();
    assert_eq!(by_index.len(), 3, "{s}");
    check_error(by_index[&3], "ERROR_CODE_CAMPAIGN_ENTRY_DUPLICATE");
    check_error(by_index[&4], "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT");
    check_error(by_index[&5], "ERROR_CODE_MESSAGE_TEMPLATE_INPUT_INVALID");
    assert_eq!(by_index[&5]["details"]["field"], "variables");
    let sendout = s["sendoutId"].as_str().expect("a sendout id").to_string();
    assert!(sendout.starts_with("cmp_"), "{s}");
    assert_ne!(sendout, published);

    // A campaign of the gateway's, copied from the published one, run to its end.
    let all = campaigns(&app).await;
    assert!(all.contains_key(&sendout), "{all:?}");
    assert!(
        all[&sendout]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Spring · sendout ")),
        "{}",
        all[&sendout]
    );
    wait_up_to(Duration::from_secs(30), "the sendout completes", || async {
        campaign(&app, &sendout).await["status"] == "completed"
    })
    .await;
    let c = campaign(&app, &sendout).await;
    assert_eq!(c["counts"]["total"], 3, "{c}");
    assert_eq!(c["rate_limit"], 20, "{c}");
    // The published campaign itself sends nothing.
    let p = campaign(&app, &published).await;
    assert_eq!(p["status"], "draft", "{p}");
    assert_eq!(p["counts"]["total"], 0, "{p}");

    let got = received(&app);
    assert_eq!(got.len(), 3, "{got:?}");
    for (user, name, discount) in [
        ("15557000001", "Ana", "10%"),
        ("15557000002", "Bo", "15%"),
        ("15557000003", "Cy", "20%"),
    ] {
        let sends = &got[user];
        assert_eq!(sends.len(), 1, "{user} reached Meta once: {sends:?}");
        let t = &sends[0]["template"];
        assert_eq!(t["name"], TEMPLATE, "{t}");
        let params = &t["components"][0]["parameters"];
        assert_eq!(params[0]["text"], name, "{t}");
        assert_eq!(params[1]["text"], discount, "{t}");
    }
}

async fn scheduled_sendouts_wait_and_versions_are_picked(b: Backend) {
    let app = spawn_app(b).await;
    seed_template(&app);
    let first = publish(&app, "Spring").await;
    let second = publish(&app, "Spring").await;
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    let at_text = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut later = entry("+15557000011", "Spring", "Fa", "5%");
    later["scheduledAt"] = json!(at_text);
    let mut v1 = entry("+15557000012", "Spring", "Gu", "6%");
    v1["campaignVersion"] = json!(1);
    v1["scheduledAt"] = json!(at_text);
    let r = x_api_key_post(&app, "send/campaigns", &json!({"entries": [later, v1]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "two versions, two sendouts: {}", r.body);
    // Without a version: the newest campaign of that name; version 1: the first made.
    assert_eq!(data[0]["campaignId"], second.as_str(), "{}", r.body);
    assert_eq!(data[1]["campaignId"], first.as_str(), "{}", r.body);
    assert_eq!(data[1]["campaignVersion"], "1", "{}", r.body);
    for s in data {
        assert_eq!(s["status"], "SENDOUT_STATUS_SCHEDULED", "{s}");
        assert_eq!(s["acceptedEntries"], 1, "{s}");
        assert_eq!(s["scheduledAt"], at_text.as_str(), "{s}");
        let c = campaign(&app, s["sendoutId"].as_str().unwrap()).await;
        assert_eq!(c["status"], "scheduled", "{c}");
        let start = chrono::DateTime::parse_from_rfc3339(c["start_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
        assert_eq!(start, at.timestamp(), "{c}");
    }
    // The same client in the two versions is refused the second time, wherever it is.
    let mut again = entry("+15557000011", "Spring", "Fa", "5%");
    again["campaignVersion"] = json!("latest");
    let r = x_api_key_post(
        &app,
        "send/campaigns",
        &json!({"entries": [entry("+15557000013", "Spring", "Ha", "7%"), again.clone(), again]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", r.body);
    assert_eq!(data[0]["status"], "SENDOUT_STATUS_RUNNING", "{}", r.body);
    assert_eq!(data[1]["acceptedEntries"], 1, "{}", r.body);
    let dup = &data[1]["rejectedEntries"];
    assert_eq!(dup.as_array().unwrap().len(), 1, "{dup}");
    assert_eq!(dup[0]["index"], 2, "{dup}");
    check_error(&dup[0]["error"], "ERROR_CODE_CAMPAIGN_ENTRY_DUPLICATE");
    wait_until("the unscheduled sendouts are sent", || async {
        received(&app).len() == 2
    })
    .await;
    let got = received(&app);
    assert!(
        got.contains_key("15557000013") && got.contains_key("15557000011"),
        "{got:?}"
    );
    assert!(
        !got.contains_key("15557000012"),
        "a scheduled sendout waits"
    );
}

async fn refused_sendouts_create_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let template = seed_template(&app);
    publish(&app, "Spring").await;
    let cancelled = publish(&app, "Gone").await;
    let r = app
        .post(
            &format!("/v1/campaigns/{cancelled}/cancel"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let OtherTenant {
        tenant_id: other_tenant,
        api_key: other_key,
        ..
    } = app.other_tenant_with_number().await;
    let before = campaigns(&app).await;
    let ok = entry("+15557000021", "Spring", "Ana", "10%");
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let mut too_many = Vec::new();
    for i in 0..10_001 {
        too_many.push(entry(&format!("+1555701{i:04}"), "Spring", "X", "1%"));
    }
    let with = |k: &str, v: Value| {
        let mut e = ok.clone();
        e[k] = v;
        json!({"entries": [ok.clone(), e]})
    };
    let without = |k: &str| {
        let mut e = ok.clone();
        e.as_object_mut().unwrap().remove(k);
        json!({"entries": [e]})
    };
    for (body, status, code, field) in [
        (json!({}), 400, "ERROR_CODE_INVALID_REQUEST", "entries"),
        (
            json!({"entries": []}),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries",
        ),
        (
            json!({"entries": too_many}),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries",
        ),
        (
            without("client"),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries[0].client",
        ),
        (
            without("campaignName"),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries[0].campaignName",
        ),
        (
            with("variables", json!(["Ana"])),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries[1].variables",
        ),
        (
            with("scheduledAt", json!(past)),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries[1].scheduledAt",
        ),
        (
            with("scheduledAt", json!("tomorrow")),
            400,
            "ERROR_CODE_INVALID_REQUEST",
            "entries[1].scheduledAt",
        ),
        (
            with("campaignName", json!("Autumn")),
            404,
            "ERROR_CODE_CAMPAIGN_NOT_FOUND",
            "entries[1].campaignName",
        ),
        (
            with("campaignVersion", json!("7")),
            404,
            "ERROR_CODE_CAMPAIGN_NOT_FOUND",
            "entries[1].campaignVersion",
        ),
        (
            with("campaignName", json!("Gone")),
            409,
            "ERROR_CODE_CAMPAIGN_NOT_PUBLISHED",
            "entries[1].campaignName",
        ),
        (
            with("sender", json!(OTHER_PNID)),
            400,
            "ERROR_CODE_INVALID_SENDER_ID",
            "entries[1].sender",
        ),
    ] {
        let r = x_api_key_post(&app, "send/campaigns", &body).await;
        check_status(&r, status, code);
        assert_eq!(r.body["details"]["field"], field, "{}", r.body);
    }
    // Not JSON; another business's key.
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&app.tenant_id, "send/campaigns"),
        Some(&app.api_key),
        "{\"entries\": [",
    )
    .await;
    check_status(&r, 400, "ERROR_CODE_INVALID_REQUEST");
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&other_tenant, "send/campaigns"),
        Some(&app.api_key),
        &json!({"entries": [ok.clone()]}).to_string(),
    )
    .await;
    check_status(&r, 403, "ERROR_CODE_PERMISSION_DENIED");
    // Another business has no campaign of that name.
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&other_tenant, "send/campaigns"),
        Some(&other_key),
        &json!({"entries": [ok.clone()]}).to_string(),
    )
    .await;
    check_status(&r, 404, "ERROR_CODE_CAMPAIGN_NOT_FOUND");

    // Meta pauses the template: the campaign is not published any more (Meta's code beside).
    app.sim
        .set_template_status(&template, openbsp_simulator::TemplateEvent::Paused)
        .unwrap();
    wait_until("the gateway learns the template is paused", || async {
        let r = app
            .get(&format!("/v1/templates?name={TEMPLATE}"), &app.api_key)
            .await;
        r.body["data"][0]["status"] == "PAUSED"
    })
    .await;
    let r = x_api_key_post(&app, "send/campaigns", &json!({"entries": [ok]})).await;
    check_status(&r, 409, "ERROR_CODE_CAMPAIGN_NOT_PUBLISHED");
    assert_eq!(r.body["details"]["metaCode"], 132015, "{}", r.body);

    let after = campaigns(&app).await;
    assert_eq!(
        after.keys().collect::<std::collections::BTreeSet<_>>(),
        before.keys().collect(),
        "no campaign was created"
    );
    assert!(received(&app).is_empty(), "nothing reached Meta");
}

/// A source of files on this machine: `/photo.png`, `/page.html`, `/moved` (a redirect to
/// the photo), anything else 404. Its base URL, and how many requests it got.
async fn source() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            match uri.path() {
                "/photo.png" => ([(header::CONTENT_TYPE, "image/png")], png(4096)).into_response(),
                "/page.html" => {
                    ([(header::CONTENT_TYPE, "text/html")], "<html></html>").into_response()
                }
                "/moved" => (StatusCode::FOUND, [(header::LOCATION, "/photo.png")]).into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// GETs `url` with no key: status and bytes.
async fn fetch(app: &TestApp, url: &str) -> (u16, Option<String>, Vec<u8>) {
    let r = app.http.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn assets_are_fetched_stored_and_linked(b: Backend) {
    let app = spawn_app(b).await;
    let (src, _) = source().await;
    let uri = format!("{src}/photo.png");
    let r = x_api_key_post(
        &app,
        "assets",
        &json!({"uri": uri, "metadata": {"accessControlType": "ASSET_ACCESS_CONTROL_TYPE_PUBLIC"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let asset = &r.body["asset"];
    let id = asset["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with("med_"), "{asset}");
    assert_eq!(asset["ownerId"], app.tenant_id.as_str(), "{asset}");
    assert_eq!(asset["source"]["uri"], uri.as_str(), "{asset}");
    assert_eq!(
        asset["metadata"]["accessControlType"], "ASSET_ACCESS_CONTROL_TYPE_PUBLIC",
        "{asset}"
    );
    // The link is read without a key: the source's bytes.
    let link = asset["uri"].as_str().unwrap().to_string();
    let (status, ct, bytes) = fetch(&app, &link).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("image/png"));
    assert_eq!(bytes, png(4096));
    // A media of the tenant's, as /v1/media shows it.
    let m = app.get(&format!("/v1/media/{id}"), &app.api_key).await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(m.body["file_size"], 4096 + 16, "{}", m.body);
    assert_eq!(m.body["filename"], "photo.png", "{}", m.body);

    // GET: a fresh link, read without a key.
    let r = x_api_key_call(
        &app,
        "GET",
        &business_path(&app.tenant_id, &format!("assets/{id}")),
        Some(&app.api_key),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cdn = r.body["cdnUri"].as_str().expect("cdnUri").to_string();
    let (status, _, bytes) = fetch(&app, &cdn).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, png(4096));
    // An altered link, no signature, or another business in its path: not found.
    let other = app.other_tenant_with_number().await;
    for bad in [
        cdn.replace("signature=", "signature=0"),
        cdn.split('?').next().unwrap().to_string(),
        cdn.replace(&app.tenant_id, &other.tenant_id),
    ] {
        let (status, _, _) = fetch(&app, &bad).await;
        assert_eq!(status, 404, "{bad}");
    }
    // Another business's key: its asset is not found; an unknown one neither.
    for (business, key, asset) in [
        (
            other.tenant_id.as_str(),
            other.api_key.as_str(),
            id.as_str(),
        ),
        (app.tenant_id.as_str(), app.api_key.as_str(), "med_nothere"),
    ] {
        let r = x_api_key_call(
            &app,
            "GET",
            &business_path(business, &format!("assets/{asset}")),
            Some(key),
            "",
        )
        .await;
        check_status(&r, 404, "ERROR_CODE_NOT_FOUND");
    }

    // Refusals: a type WhatsApp does not take, a source that fails, a redirect, nothing
    // listening, not http, bad fields. Nothing is stored.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/photo.png")
    };
    for (body, code) in [
        (
            json!({"uri": format!("{src}/page.html")}),
            "ERROR_CODE_INVALID_REQUEST",
        ),
        (
            json!({"uri": format!("{src}/nothing.png")}),
            "ERROR_CODE_ASSET_SOURCE_UNREACHABLE",
        ),
        (
            json!({"uri": format!("{src}/moved")}),
            "ERROR_CODE_ASSET_SOURCE_UNREACHABLE",
        ),
        (
            json!({"uri": closed}),
            "ERROR_CODE_ASSET_SOURCE_UNREACHABLE",
        ),
        (
            json!({"uri": "ftp://example.com/a.png"}),
            "ERROR_CODE_INVALID_REQUEST",
        ),
        (json!({}), "ERROR_CODE_INVALID_REQUEST"),
        (
            json!({"uri": uri, "metadata": {"accessControlType": "OPEN"}}),
            "ERROR_CODE_INVALID_REQUEST",
        ),
    ] {
        let r = x_api_key_post(&app, "assets", &body).await;
        check_status(&r, 400, code);
    }
    let stored = app.store.stale_media(i64::MAX, 100).await.unwrap();
    assert_eq!(stored.len(), 1, "only the photo is stored: {stored:?}");
}

async fn private_sources_are_refused_unless_allowed(b: Backend) {
    // An installation that allows no private or loopback destination (the default).
    let app = spawn_app_configured(b, |c| {
        c.webhook_network = openbsp_domain::netguard::NetworkPolicy::default();
    })
    .await;
    let (src, hits) = source().await;
    let r = x_api_key_post(&app, "assets", &json!({"uri": format!("{src}/photo.png")})).await;
    check_status(&r, 400, "ERROR_CODE_INVALID_REQUEST");
    assert_eq!(r.body["details"]["field"], "uri", "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("loopback")),
        "{}",
        r.body
    );
    let r = x_api_key_post(
        &app,
        "assets",
        &json!({"uri": format!("{}/photo.png", src.replace("127.0.0.1", "localhost"))}),
    )
    .await;
    check_status(&r, 400, "ERROR_CODE_INVALID_REQUEST");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the source was never called"
    );
    let stored = app.store.stale_media(i64::MAX, 100).await.unwrap();
    assert!(stored.is_empty(), "nothing is stored: {stored:?}");
}
