//! The ChakraHQ surface (`/v1/ext/plugin/whatsapp/…`) against a running gateway with the
//! simulator as Meta, on both backends: the seed page's own curl example (empty
//! `phoneNumberId` and all) with only the host, plugin id and credentials changed, template
//! sends with ChakraHQ's mappings, the template pass-through, and the refusals that matter in
//! ChakraHQ's `{"_data", "_meta", "_errors"}` envelope with nothing sent or stored.

mod common;

use common::*;
use openbsp_server::core::admin::{self as provision, ChannelInput};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    the_seed_example_sends_once_and_answers_as_chakra => crate::the_seed_example_sends_once_and_answers_as_chakra,
    template_messages_fill_the_mappings => crate::template_messages_fill_the_mappings,
    templates_pass_through => crate::templates_pass_through,
    refusals_use_the_envelope_and_send_nothing => crate::refusals_use_the_envelope_and_send_nothing,
    an_empty_number_on_a_plugin_with_several_names_them => crate::an_empty_number_on_a_plugin_with_several_names_them,
    public_media_is_linked_sent_and_fetched => crate::public_media_is_linked_sent_and_fetched,
}

/// An Indian number as in ChakraHQ's examples.
const INDIAN_USER: &str = "919880132082";

fn plugin(app: &TestApp) -> String {
    format!("/v1/ext/plugin/whatsapp/{}", app.channel.app_id)
}

fn templates_path(waba: &str) -> String {
    format!("/v1/ext/plugin/whatsapp/api/v19.0/{waba}/message_templates")
}

/// Updates template `id` through the pass-through with `key`: its new `components`.
async fn update_template(app: &TestApp, id: &str, key: &str, components: &Value) -> Resp {
    app.post(
        &format!("/v1/ext/plugin/whatsapp/api/v19.0/{id}"),
        key,
        &json!({"components": components}),
    )
    .await
}

/// How many messages the tenant has stored.
async fn stored(app: &TestApp) -> usize {
    let r = app.get("/v1/messages?limit=100", &app.api_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().len()
}

/// Checks a success envelope; its `_data`.
fn data(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["_errors"], json!([]), "{}", r.body);
    assert!(
        r.body["_meta"]["requestId"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{}",
        r.body
    );
    &r.body["_data"]
}

/// Checks the error envelope: the HTTP status and the first error's code.
fn check_error(r: &Resp, status: u16, code: i64) -> &Value {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["_data"], Value::Null, "{}", r.body);
    assert!(
        r.body["_meta"]["requestId"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{}",
        r.body
    );
    let errors = r.body["_errors"].as_array().expect("_errors");
    assert_eq!(errors.len(), 1, "{}", r.body);
    let e = &errors[0];
    assert_eq!(e["code"], code, "{}", r.body);
    assert_eq!(e["status"], status, "{}", r.body);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    e
}

async fn the_seed_example_sends_once_and_answers_as_chakra(b: Backend) {
    let app = spawn_app(b).await;
    app.user_writes(INDIAN_USER, "Asha", "hi").await;
    let c = &seed_curl("002_c26f53b8c8be1201.txt");
    // Only the host, the plugin id and the credentials change; the empty number stays.
    let url = c
        .url
        .replace("https://api.chakrahq.com", &app.gateway.url())
        .replace("d83e1d23-50b8-4d87-8f92-842a0ac516f6", &app.channel.app_id);
    assert!(url.ends_with("/api/v19.0//messages"), "{url}");
    let mut req = app.http.request(c.method.parse().unwrap(), &url);
    for (name, value) in &c.headers {
        req = req.header(name.as_str(), value.replace("<token>", &app.api_key));
    }
    let body = c
        .body
        .as_deref()
        .unwrap()
        .replace("912233223322", INDIAN_USER);
    let r = req.body(body).send().await.expect("request");
    let status = r.status().as_u16();
    let answer: Value = r.json().await.expect("a JSON answer");
    let r = Resp {
        status,
        body: answer,
    };
    let id = data(&r)["whatsappMessageId"]
        .as_str()
        .expect("a whatsappMessageId")
        .to_string();
    let m = app.wait_status(&id, "sent").await;
    assert_eq!(m["type"], "text", "{m}");
    let got: Vec<_> = app
        .sim
        .received(PNID)
        .into_iter()
        .filter(|m| m.to == INDIAN_USER)
        .collect();
    assert_eq!(got.len(), 1, "reached Meta exactly once: {got:?}");
    assert_eq!(got[0].body["text"]["body"], "This is a text message");
    assert_eq!(m["wamid"], got[0].wamid.as_str(), "{m}");
    if id.starts_with("wamid.") {
        assert_eq!(id, got[0].wamid, "Meta's own id");
    } else {
        assert!(
            id.starts_with("msg_"),
            "the gateway's id while queued: {id}"
        );
    }

    // A mark-as-read of the user's message, on the same route.
    let inbound = app.user_writes(INDIAN_USER, "Asha", "thanks").await;
    let r = app
        .post(
            &format!("{}/api/v19.0/{PNID}/messages", plugin(&app)),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "status": "read",
                    "message_id": inbound["wamid"]}),
        )
        .await;
    assert_eq!(data(&r)["success"], true, "{}", r.body);
    let wamid = inbound["wamid"].as_str().expect("the inbound wamid");
    let marked = app
        .sim
        .inbound(PNID)
        .into_iter()
        .find(|m| m.wamid == wamid)
        .expect("Meta has the inbound message");
    assert!(
        marked.read_at_ms.is_some(),
        "marked read on Meta: {marked:?}"
    );
}

/// Creates `shipping(name, en_US)` through `/v1/templates` and waits for its approval; its
/// Meta id.
async fn approved_shipping(app: &TestApp, name: &str) -> String {
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping(name, "en_US")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    wait_until("the template is approved", || async {
        app.get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body["status"]
            == "APPROVED"
    })
    .await;
    r.body["meta_template_id"].as_str().unwrap().to_string()
}

async fn template_messages_fill_the_mappings(b: Backend) {
    let app = spawn_app(b).await;
    approved_shipping(&app, "order_ready").await;
    // The user never wrote: a template needs no window. No language: its only one.
    let body = json!({
        "whatsappPhoneNumberId": PNID,
        "templateName": "order_ready",
        "mapping": [
            {"schemaPropertyName": "2", "schemaPropertyValue": "A1"},
            {"schemaPropertyName": "1", "schemaPropertyValue": "Ann"},
        ],
        "headerMapping": [{"schemaPropertyName": "1", "schemaPropertyValue": "A1"}],
        "buttonMapping": [{"schemaPropertyName": "0", "schemaPropertyValue": "A1"}],
    });
    let r = app
        .post(
            &format!("{}/phoneNumber/{USER}/send-template-message", plugin(&app)),
            &app.api_key,
            &body,
        )
        .await;
    let id = data(&r)["whatsappMessageId"]
        .as_str()
        .expect("an id")
        .to_string();
    let m = app.wait_status(&id, "sent").await;
    assert_eq!(m["type"], "template", "{m}");
    let got = app.sim.received(PNID);
    assert_eq!(got.len(), 1, "{got:?}");
    let t = &got[0].body["template"];
    assert_eq!(t["name"], "order_ready", "{t}");
    assert_eq!(t["language"]["code"], "en_US", "{t}");
    let component = |kind: &str| {
        t["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {t}"))
    };
    assert_eq!(
        component("body")["parameters"],
        json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "A1"}])
    );
    assert_eq!(
        component("header")["parameters"],
        json!([{"type": "text", "text": "A1"}])
    );
    let button = component("button");
    assert_eq!(button["sub_type"], "url", "{button}");
    assert_eq!(button["parameters"][0]["text"], "A1", "{button}");

    // A template without variables, its number left out (the plugin's only one).
    let r = app
        .post(
            &format!("{}/phoneNumber/{USER}/send-template-message", plugin(&app)),
            &app.api_key,
            &json!({"templateName": "spring_sale", "languageCode": "en_US"}),
        )
        .await;
    let id = data(&r)["whatsappMessageId"].as_str().unwrap().to_string();
    app.wait_status(&id, "sent").await;
    assert_eq!(app.sim.received(PNID).len(), 2);
}

async fn templates_pass_through(b: Backend) {
    let app = spawn_app(b).await;
    let path = templates_path("900100");
    let r = app
        .post(&path, &app.api_key, &shipping("order_ready", "en_US"))
        .await;
    let created = data(&r).clone();
    assert_eq!(created["category"], "UTILITY", "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(app.sim.template(&id).is_some(), "Meta has it by that id");
    wait_until("the template is approved", || async {
        app.get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body["status"]
            == "APPROVED"
    })
    .await;

    let r = app
        .get(&format!("{path}?name=order_ready"), &app.api_key)
        .await;
    let listed = data(&r)["data"].as_array().expect("Meta's data").clone();
    assert_eq!(listed.len(), 1, "{}", r.body);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"], "APPROVED");
    // Meta's paging: with a second template, a page of one, then the next by its link.
    let r = app
        .post(&path, &app.api_key, &shipping("order_ready", "es"))
        .await;
    data(&r);
    let r = app.get(&format!("{path}?limit=1"), &app.api_key).await;
    let next = data(&r)["paging"]["next"]
        .as_str()
        .expect("a next page")
        .to_string();
    assert!(next.contains("/v1/ext/plugin/whatsapp/api/v19.0/900100/message_templates"));
    let page = app
        .http
        .get(&next)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["_data"]["data"].as_array().unwrap().len(), 1, "{page}");
    assert_ne!(
        page["_data"]["data"][0]["id"],
        r.body["_data"]["data"][0]["id"]
    );
    // Graph's `fields` and `summary` pass through as on the Cloud API surface (one builder
    // answers both), and the next page's link keeps them.
    let r = app
        .get(
            &format!(
                "{path}?limit=1&fields=name,status&summary=total_count,message_template_count"
            ),
            &app.api_key,
        )
        .await;
    let d = data(&r);
    let first = d["data"][0].as_object().expect("a template");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "name", "status"], "{}", r.body);
    assert_eq!(
        d["summary"],
        json!({"total_count": 2, "message_template_count": 2}),
        "{}",
        r.body
    );
    let next = d["paging"]["next"].as_str().expect("a next page");
    assert!(
        next.contains("fields=") && next.contains("summary="),
        "{next}"
    );
    let r = app
        .get(&format!("{path}?summary=nothing"), &app.api_key)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let mut components = shipping("order_ready", "en_US")["components"].clone();
    components[2]["text"] = json!("Reply STOP to unsubscribe");
    let r = update_template(&app, &id, &app.api_key, &components).await;
    assert_eq!(data(&r)["success"], true, "{}", r.body);
    let t = app.get(&format!("/v1/templates/{id}"), &app.api_key).await;
    assert_eq!(
        t.body["components"][2]["text"], "Reply STOP to unsubscribe",
        "{}",
        t.body
    );
    // A broken update: Meta's code, nothing changed.
    let mut broken = components.clone();
    broken[1]["text"] = json!("{{1}}, your order {{2}} is ready now.");
    let r = update_template(&app, &id, &app.api_key, &broken).await;
    let e = check_error(&r, 400, 100);
    assert_eq!(e["metaCode"], 100, "{}", r.body);
    // An unknown template id, an unknown WABA.
    let r = update_template(&app, "999999999", &app.api_key, &components).await;
    check_error(&r, 404, 404);
    let r = app.get(&templates_path("999999"), &app.api_key).await;
    check_error(&r, 404, 404);
}

async fn refusals_use_the_envelope_and_send_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let key = app.api_key.clone();
    let messages = format!("{}/api/v19.0/{PNID}/messages", plugin(&app));
    let send_template = format!("{}/phoneNumber/{USER}/send-template-message", plugin(&app));
    let text = |to: &str| {
        json!({"messaging_product": "whatsapp", "to": to, "type": "text",
               "text": {"body": "Hello!"}})
    };
    let template_id = approved_shipping(&app, "order_ready").await;
    let OtherTenant {
        api_key: other_key,
        app_id: other_plugin,
        ..
    } = app.other_tenant_with_number().await;
    let before_meta = app.sim.received(PNID).len();
    let before_stored = stored(&app).await;

    // Text outside the window (the user never wrote): Meta's 131047, before Meta.
    let r = app.post(&messages, &key, &text(USER)).await;
    let e = check_error(&r, 400, 131047);
    assert_eq!(e["metaCode"], 131047, "{}", r.body);
    // An unknown template, in Meta's format and in ChakraHQ's: Meta's 132001.
    let r = app
        .post(
            &messages,
            &key,
            &json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                    "template": {"name": "no_such_template", "language": {"code": "en_US"}}}),
        )
        .await;
    assert_eq!(r.body["_errors"][0]["code"], 132001, "{}", r.body);
    assert!(r.status >= 400 && r.status < 500, "{}", r.body);
    let r = app
        .post(
            &send_template,
            &key,
            &json!({"templateName": "no_such_template"}),
        )
        .await;
    assert_eq!(r.body["_errors"][0]["code"], 132001, "{}", r.body);
    assert!(r.status >= 400 && r.status < 500, "{}", r.body);
    // A variable the template does not have: Meta's 132000.
    let r = app
        .post(
            &send_template,
            &key,
            &json!({"templateName": "order_update", "languageCode": "en_US",
                    "mapping": [{"schemaPropertyName": "1", "schemaPropertyValue": "x"}]}),
        )
        .await;
    check_error(&r, 400, 132000);
    // Too few: order_ready has two body variables.
    let r = app
        .post(
            &send_template,
            &key,
            &json!({"templateName": "order_ready",
                    "mapping": [{"schemaPropertyName": "1", "schemaPropertyValue": "Ann"}]}),
        )
        .await;
    check_error(&r, 400, 132000);
    // A number that is no number.
    let r = app.post(&messages, &key, &text("not-a-number")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["_errors"][0]["code"].is_i64(), "{}", r.body);
    // Not JSON.
    let r = app.post_raw(&messages, &key, "{not json", &[]).await;
    check_error(&r, 400, 100);
    // A wrong key, and none.
    let r = app.post(&messages, "not-a-key", &text(USER)).await;
    check_error(&r, 401, 401);
    let r = app
        .http
        .post(app.url(&messages))
        .json(&text(USER))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Another tenant's plugin, number, WABA and template: not found.
    let r = app
        .post(
            &format!("/v1/ext/plugin/whatsapp/{other_plugin}/api/v19.0/100200399/messages"),
            &key,
            &text(USER),
        )
        .await;
    check_error(&r, 404, 404);
    let r = app
        .post(
            &format!("{}/api/v19.0/100200399/messages", plugin(&app)),
            &key,
            &text(USER),
        )
        .await;
    check_error(&r, 404, 404);
    let r = app
        .post(
            &format!(
                "/v1/ext/plugin/whatsapp/{}/api/v19.0/{PNID}/messages",
                app.channel.app_id
            ),
            &other_key,
            &text(USER),
        )
        .await;
    check_error(&r, 404, 404);
    let r = app.get(&templates_path("900100"), &other_key).await;
    check_error(&r, 404, 404);
    let r = update_template(
        &app,
        &template_id,
        &other_key,
        &shipping("order_ready", "en_US")["components"],
    )
    .await;
    check_error(&r, 404, 404);
    let r = app
        .post(
            &format!("{}/phoneNumber/{USER}/send-template-message", plugin(&app)),
            &key,
            &json!({"whatsappPhoneNumberId": "100200399", "templateName": "order_update",
                    "languageCode": "en_US"}),
        )
        .await;
    check_error(&r, 404, 404);

    assert_eq!(
        app.sim.received(PNID).len(),
        before_meta,
        "nothing reached Meta"
    );
    assert!(app.sim.received("100200399").is_empty());
    assert_eq!(stored(&app).await, before_stored, "nothing stored");
}

async fn an_empty_number_on_a_plugin_with_several_names_them(b: Backend) {
    let app = spawn_app(b).await;
    provision::add_channel(
        app.store.as_ref(),
        &app.key,
        ChannelInput {
            tenant_id: app.tenant_id.clone(),
            app_id: app.channel.app_id.clone(),
            phone_number_id: "100200301".into(),
            waba_id: "900100".into(),
            display_phone_number: "15550002222".into(),
            access_token: ACCESS_TOKEN.into(),
            graph_base_url: Some(app.sim.url()),
            graph_version: None,
            throughput_mps: None,
            messaging_tier: None,
            business_id: None,
        },
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .unwrap();
    app.user_writes(INDIAN_USER, "Asha", "hi").await;
    let body = json!({"messaging_product": "whatsapp", "to": INDIAN_USER, "type": "text",
                      "text": {"body": "Hello!"}});
    let r = app
        .post(
            &format!("{}/api/v19.0//messages", plugin(&app)),
            &app.api_key,
            &body,
        )
        .await;
    let e = check_error(&r, 400, 400);
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(PNID) && message.contains("100200301"),
        "{message}"
    );
    let r = app
        .post(
            &format!("{}/phoneNumber/{USER}/send-template-message", plugin(&app)),
            &app.api_key,
            &json!({"templateName": "order_update", "languageCode": "en_US"}),
        )
        .await;
    let e = check_error(&r, 400, 400);
    assert!(
        e["message"].as_str().unwrap().contains("100200301"),
        "{}",
        r.body
    );
    // Naming the number sends.
    let r = app
        .post(
            &format!("{}/api/v19.0/{PNID}/messages", plugin(&app)),
            &app.api_key,
            &body,
        )
        .await;
    let id = data(&r)["whatsappMessageId"].as_str().unwrap().to_string();
    app.wait_status(&id, "sent").await;
    assert_eq!(app.sim.received(PNID).len(), 1);
}

/// ChakraHQ's upload form: a `filename` field and the `file` part.
fn upload_form(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----openbsp-chakra-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\nlogo.png\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// GETs `url` with no key at all: the status, the content type and the bytes.
async fn fetch_public(url: &str) -> (u16, String, Vec<u8>) {
    let r = reqwest::get(url).await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

/// `upload-public-media` (ChakraHQ's form, or a raw body) stores the tenant's media and
/// answers a public link: it serves the same bytes with no key, and an altered or unsigned one
/// is not found. The media goes out by id through ChakraHQ's messages route as Meta's own copy
/// of the same bytes. `GET /v1/whatsapp/{version}/media/{id}` is the media object for its
/// tenant, and not found for another tenant.
async fn public_media_is_linked_sent_and_fetched(b: Backend) {
    let app = spawn_app(b).await;
    let bytes = png(6_000);
    let (ct, body) = upload_form(&bytes);
    let upload = format!("{}/upload-public-media", plugin(&app));
    let r = app
        .post_raw(
            &upload,
            &app.api_key,
            body,
            &[("content-type", ct.as_str())],
        )
        .await;
    let d = data(&r).clone();
    let url = d["publicMediaUrl"].as_str().expect("publicMediaUrl");
    let media_id = d["mediaId"].as_str().expect("mediaId").to_string();
    assert!(media_id.starts_with("med_"), "{d}");
    assert!(url.starts_with(&app.gateway.url()), "{url}");
    assert!(url.contains("signature="), "{url}");
    assert!(d["expiresAt"].as_i64().is_some(), "{d}");

    // Public: no key at all.
    let (status, got_ct, got) = fetch_public(url).await;
    assert_eq!(status, 200);
    assert_eq!(got_ct, "image/png");
    assert_eq!(got, bytes);
    // Altered, or without its signature: not found.
    let (head, sig) = url.split_once("signature=").unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}signature={flipped}{}", &sig[1..]);
    assert_eq!(fetch_public(&tampered).await.0, 404);
    let unsigned = url.split_once('?').unwrap().0;
    assert_eq!(fetch_public(unsigned).await.0, 404);
    let later = url.replace("expires=", "expires=1");
    assert_eq!(fetch_public(&later).await.0, 404);

    // A raw body works too; a type WhatsApp does not take is Meta's 100, nothing kept.
    let r = app
        .post_raw(
            &upload,
            &app.api_key,
            png(100),
            &[("content-type", "image/png")],
        )
        .await;
    assert!(data(&r)["mediaId"].as_str().is_some(), "{}", r.body);
    let r = app
        .post_raw(
            &upload,
            &app.api_key,
            b"hello".to_vec(),
            &[("content-type", "text/x-nope")],
        )
        .await;
    check_error(&r, 400, 100);

    // Sent by id through ChakraHQ's messages route: Meta gets its copy of the same bytes.
    app.open_window(INDIAN_USER).await;
    let r = app
        .post(
            &format!("{}/api/v19.0/{PNID}/messages", plugin(&app)),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": INDIAN_USER, "type": "image",
                    "image": {"id": media_id}}),
        )
        .await;
    let id = data(&r)["whatsappMessageId"].as_str().unwrap().to_string();
    let m = app.wait_status(&id, "sent").await;
    let sent = app
        .sim
        .received(PNID)
        .into_iter()
        .find(|s| m["wamid"] == s.wamid.as_str())
        .expect("reached Meta");
    let meta_id = sent.body["image"]["id"].as_str().expect("an image id");
    assert!(!meta_id.starts_with("med_"), "Meta's own id: {meta_id}");
    assert_eq!(app.sim.media_content(meta_id).unwrap().to_vec(), bytes);

    // The media object, for its tenant only.
    let r = app
        .get(
            &format!("/v1/whatsapp/v19.0/media/{media_id}"),
            &app.api_key,
        )
        .await;
    let d = data(&r);
    assert_eq!(d["id"], media_id.as_str(), "{d}");
    assert_eq!(d["mime_type"], "image/png", "{d}");
    assert_eq!(d["file_size"], bytes.len().to_string(), "{d}");
    assert_eq!(d["filename"], "logo.png", "{d}");
    // Its download URL needs the key: its signature opens no public link.
    let download = d["url"].as_str().unwrap();
    let (_, query) = download.split_once('?').unwrap();
    let (public, _) = url.split_once('?').unwrap();
    assert_eq!(fetch_public(&format!("{public}?{query}")).await.0, 404);
    let other = app.other_tenant_with_number().await;
    let r = app
        .get(
            &format!("/v1/whatsapp/v19.0/media/{media_id}"),
            &other.api_key,
        )
        .await;
    check_error(&r, 404, 404);
    let r = app
        .post_raw(
            &upload,
            &other.api_key,
            png(100),
            &[("content-type", "image/png")],
        )
        .await;
    check_error(&r, 404, 404);
    let r = app
        .get(&format!("/v1/whatsapp/v19.0/media/{media_id}"), "nope")
        .await;
    check_error(&r, 401, 401);
}
