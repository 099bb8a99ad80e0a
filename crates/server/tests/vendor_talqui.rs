//! Talqui's Session Start on the gateway (DESIGN §2.7, `docs/migrating.md`), on both
//! backends: the seed page's own curl example with only the host, the credential and its
//! placeholders changed; a model named in several languages; the refusals that matter, each in
//! Talqui's envelope with nothing stored or sent; and a free-form first message while the
//! contact's window is open.

mod common;

use std::time::Duration;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    the_seeds_curl_example_starts_a_session_with_its_model => crate::the_seeds_curl_example_starts_a_session_with_its_model,
    a_model_in_several_languages_is_named_by_its_id => crate::a_model_in_several_languages_is_named_by_its_id,
    refusals_answer_in_talquis_envelope_and_send_nothing => crate::refusals_answer_in_talquis_envelope_and_send_nothing,
    an_open_window_takes_messagevalue_as_free_form_text => crate::an_open_window_takes_messagevalue_as_free_form_text,
}

const SEED: &str = "000_b81ce41e5618c67d.txt";
const SEED_HOST: &str = "https://api.talqui.chat";

/// A POST with `authorization` as the whole `Authorization` header (none when `None`).
async fn talqui(app: &TestApp, path: &str, authorization: Option<&str>, body: String) -> Resp {
    let credential = authorization.map(|a| ("authorization", a));
    app.send_as("POST", path, credential, &body).await
}

fn sessions_path(tenant_id: &str) -> String {
    format!("/tenants/{tenant_id}/sessions")
}

/// A Session Start body on the test channel, as the seed writes it.
fn start_body(to: &str, model: Option<&str>, value: &str) -> Value {
    let mut v = json!({
        "channel": "urn:talqui:whatsapp-cloud:0",
        "pluginConnectionID": PNID,
        "contactFullName": "Ana Souza",
        "contactExternalID": to,
        "messageKey": "text",
        "messageValue": value,
        "sessionKind": "marketing",
        "sessionType": "auto",
        "campaignVariables": [],
    });
    if let Some(m) = model {
        v["campaignModelID"] = json!(m);
    }
    v
}

/// Session Start with the tenant's key.
async fn start(app: &TestApp, body: &Value) -> Resp {
    talqui(
        app,
        &sessions_path(&app.tenant_id),
        Some(&format!("PluginConnection {}", app.api_key)),
        body.to_string(),
    )
    .await
}

/// The gateway's templates called `name`, as `/v1/templates` lists them (learnt from Meta).
async fn templates_named(app: &TestApp, name: &str) -> Vec<Value> {
    let sync = app
        .post(
            "/v1/templates/sync",
            &app.api_key,
            &json!({"channel": PNID, "name": name}),
        )
        .await;
    assert_eq!(sync.status, 200, "{}", sync.body);
    let r = app
        .get(&format!("/v1/templates?name={name}"), &app.api_key)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// Asserts Talqui's error envelope: the status, the code, a message and the request id.
fn assert_refused(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "{}", r.body);
    assert!(
        !e["message"].as_str().unwrap_or_default().is_empty(),
        "{}",
        r.body
    );
    assert!(
        e["requestID"]
            .as_str()
            .unwrap_or_default()
            .starts_with("req_"),
        "{}",
        r.body
    );
}

/// Waits until the simulator received `n` messages from the test number, then a little
/// longer to see that no more come.
async fn received_exactly(app: &TestApp, n: usize) -> Vec<openbsp_simulator::ReceivedMessage> {
    wait_until("the send reaches Meta", || async {
        app.sim.received(PNID).len() >= n
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = app.sim.received(PNID);
    assert_eq!(got.len(), n, "{got:#?}");
    got
}

async fn the_seeds_curl_example_starts_a_session_with_its_model(b: Backend) {
    let app = spawn_app(b).await;
    let curl = &seed_curl(SEED);
    let phone = "5527999990001";
    let url = curl
        .url
        .replace(SEED_HOST, &app.gateway.url())
        .replace("<TENANT_ID>", &app.tenant_id);
    let mut req = app.http.request(curl.method.parse().unwrap(), url);
    for (name, value) in &curl.headers {
        req = req.header(
            name.as_str(),
            value.replace("<PLUGIN_CONNECTION_TOKEN>", &app.api_key),
        );
    }
    // The model by name: spring_sale exists in one language, which the gateway learns from
    // Meta on the way.
    let body = curl
        .body
        .clone()
        .unwrap()
        .replace("<PLUGIN_CONNECTION_ID>", &app.channel.id)
        .replace("<CONTACT_FULL_NAME>", "Ana Souza")
        .replace("<PHONE_NUMBER>", phone)
        .replace("<CAMPAIGN_MODEL_ID>", "spring_sale");
    let r = req.body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.unwrap();

    let (contact, session, message) = (&v["contact"], &v["session"], &v["message"]);
    assert!(
        contact["contactID"].as_str().unwrap().starts_with("con_"),
        "{v}"
    );
    assert_eq!(contact["tenantID"], app.tenant_id.as_str());
    assert_eq!(contact["contactFullName"], "Ana Souza");
    assert_eq!(contact["contactExternalID"], phone);
    assert_eq!(contact["contactMeta"]["windowOpen"], false);
    assert!(contact["createdAt"].is_string() && contact["updatedAt"].is_string());

    assert!(
        session["sessionID"].as_str().unwrap().starts_with("ses_"),
        "{v}"
    );
    assert_eq!(session["tenantID"], app.tenant_id.as_str());
    assert_eq!(session["contactID"], contact["contactID"]);
    assert_eq!(session["sessionActive"], true);
    assert_eq!(session["sessionChannel"], "whatsapp");
    assert_eq!(session["sessionKind"], "marketing");
    assert_eq!(session["sessionType"], "auto");
    assert_eq!(session["sessionStatus"], 0);
    assert_eq!(session["sessionLastMessageID"], message["messageID"]);
    assert_eq!(session["sessionMeta"]["category"], "marketing");
    assert_eq!(session["sessionMeta"]["openedBy"], "session_start");
    assert_eq!(
        session["sessionMeta"]["pluginConnectionID"],
        app.channel.id.as_str()
    );
    assert!(session["createdAt"].is_string() && session["updatedAt"].is_string());

    let id = message["messageID"].as_str().unwrap();
    assert!(id.starts_with("msg_"), "{v}");
    assert_eq!(message["sessionID"], session["sessionID"]);
    assert_eq!(message["contactID"], contact["contactID"]);
    assert_eq!(message["messageKey"], "text");
    assert_eq!(message["messageValue"], "Order update notification");
    assert_eq!(message["messageStatus"], "queued");
    assert_eq!(message["messageMeta"]["type"], "template");
    assert_eq!(
        message["messageMeta"]["renderedText"],
        "Our spring sale starts today."
    );
    assert!(message["createdAt"].is_string());

    // The model reaches Meta once, as a template; the label stays with the gateway.
    let got = received_exactly(&app, 1).await;
    assert_eq!(got[0].to, phone);
    assert_eq!(got[0].body["type"], "template");
    assert_eq!(got[0].body["template"]["name"], "spring_sale");
    assert_eq!(got[0].body["template"]["language"]["code"], "en_US");
    assert_eq!(got[0].body["biz_opaque_callback_data"], id);
    let stored = app.wait_status(id, "sent").await;
    assert_eq!(
        stored["biz_opaque_callback_data"],
        "Order update notification"
    );
    assert_eq!(stored["session_id"], session["sessionID"]);
    let c = app
        .get(&format!("/v1/contacts/{phone}"), &app.api_key)
        .await;
    assert_eq!(c.body["name"], "Ana Souza", "{}", c.body);
}

async fn a_model_in_several_languages_is_named_by_its_id(b: Backend) {
    let app = spawn_app(b).await;
    // order_update is approved in en_US and es: its name alone does not say which.
    let r = start(
        &app,
        &start_body("5527999990002", Some("order_update"), "Pedido"),
    )
    .await;
    assert_refused(&r, 400, "campaign_model_ambiguous");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("en_US (tpl_") && message.contains("es (tpl_"),
        "{message}"
    );
    assert_eq!(r.body["error"]["field"], "campaignModelID");
    assert!(app.sim.received(PNID).is_empty());

    let known = templates_named(&app, "order_update").await;
    let lang = |l: &str| {
        known
            .iter()
            .find(|t| t["language"] == l)
            .unwrap_or_else(|| panic!("no {l} in {known:?}"))
            .clone()
    };
    // The gateway's id of the Spanish one.
    let es = lang("es");
    let r = start(
        &app,
        &start_body("5527999990002", es["id"].as_str(), "Pedido"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["message"]["messageMeta"]["templateID"], es["id"]);
    // Meta's id of the English one.
    let en = lang("en_US");
    let r = start(
        &app,
        &start_body("5527999990003", en["meta_template_id"].as_str(), "Order"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["message"]["messageMeta"]["templateID"], en["id"]);

    let got = received_exactly(&app, 2).await;
    let sent: Vec<(&str, &Value)> = got
        .iter()
        .map(|m| (m.to.as_str(), &m.body["template"]["language"]["code"]))
        .collect();
    assert!(sent.contains(&("5527999990002", &json!("es"))), "{sent:?}");
    assert!(
        sent.contains(&("5527999990003", &json!("en_US"))),
        "{sent:?}"
    );
}

/// A second tenant with its own number (on another WABA) and an approved model the gateway
/// has learnt: its tenant id, API key, channel id and template id.
async fn other_tenant(app: &TestApp) -> (String, String, String, String) {
    let other = app.other_tenant_with_number().await;
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            OTHER_WABA,
            json!({"name": "other_model", "language": "pt_BR", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Seu pedido chegou."}]}),
        ))
        .unwrap();
    let sync = app
        .post(
            "/v1/templates/sync",
            &other.api_key,
            &json!({"channel": OTHER_PNID}),
        )
        .await;
    assert_eq!(sync.status, 200, "{}", sync.body);
    let list = app
        .get("/v1/templates?name=other_model", &other.api_key)
        .await;
    let template_id = list.body["data"][0]["id"].as_str().unwrap().to_string();
    (
        other.tenant_id,
        other.api_key,
        other.channel.id,
        template_id,
    )
}

async fn refusals_answer_in_talquis_envelope_and_send_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let to = "5527999990004";
    let own = format!("PluginConnection {}", app.api_key);
    let path = sessions_path(&app.tenant_id);

    // A closed window needs a model.
    let r = start(&app, &start_body(to, None, "Olá, tudo bem?")).await;
    assert_refused(&r, 422, "campaign_model_required");
    assert_eq!(r.body["error"]["metaCode"], 131047);
    assert_eq!(r.body["error"]["field"], "campaignModelID");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaignModelID")
    );

    // An unknown model: by name, by gateway id, by Meta id.
    for unknown in ["no_such_model", "tpl_0000000000000000000000", "123456789"] {
        let r = start(&app, &start_body(to, Some(unknown), "x")).await;
        assert_refused(&r, 404, "campaign_model_not_found");
        assert_eq!(r.body["error"]["field"], "campaignModelID");
    }

    // The wrong number of variables for the model (spring_sale has none).
    let mut body = start_body(to, Some("spring_sale"), "Sale");
    body["campaignVariables"] = json!(["Ana"]);
    let r = start(&app, &body).await;
    assert_refused(&r, 400, "campaign_variables_mismatch");
    assert_eq!(r.body["error"]["metaCode"], 132000);
    assert_eq!(r.body["error"]["field"], "campaignVariables");

    // A bad phone number.
    let r = start(
        &app,
        &start_body("55-not-a-number", Some("spring_sale"), "x"),
    )
    .await;
    assert_refused(&r, 400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "contactExternalID");

    // Bad JSON, a missing field, a wrong type, an unknown field.
    let r = talqui(&app, &path, Some(&own), "{\"channel\":".into()).await;
    assert_refused(&r, 400, "invalid_request");
    let mut body = start_body(to, Some("spring_sale"), "x");
    body.as_object_mut().unwrap().remove("contactExternalID");
    let r = start(&app, &body).await;
    assert_refused(&r, 400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "contactExternalID");
    let mut body = start_body(to, Some("spring_sale"), "x");
    body["campaignVariables"] = json!("Ana");
    assert_refused(&start(&app, &body).await, 400, "invalid_request");
    let mut body = start_body(to, None, "x");
    body["campaignModelId"] = json!("spring_sale");
    assert_refused(&start(&app, &body).await, 400, "invalid_request");

    // Channels other than the Cloud API.
    for urn in ["urn:talqui:whatsapp-internal:0", "urn:talqui:instagram:0"] {
        let mut body = start_body(to, Some("spring_sale"), "x");
        body["channel"] = json!(urn);
        let r = start(&app, &body).await;
        assert_refused(&r, 422, "unsupported_channel");
        assert_eq!(r.body["error"]["field"], "channel");
    }

    // The credential: none, a wrong key, the gateway's admin key.
    let body = start_body(to, Some("spring_sale"), "x").to_string();
    assert_refused(
        &talqui(&app, &path, None, body.clone()).await,
        401,
        "unauthorized",
    );
    let wrong = talqui(&app, &path, Some("PluginConnection nope"), body.clone()).await;
    assert_refused(&wrong, 401, "unauthorized");
    let admin = format!("PluginConnection {}", app.admin_key);
    assert_refused(
        &talqui(&app, &path, Some(&admin), body.clone()).await,
        403,
        "forbidden",
    );

    // Another tenant: its key on this tenant's path, this key on its path, its number and its
    // model with this tenant's key.
    let stranger = format!("PluginConnection {}", app.other_tenant_key().await);
    let r = talqui(&app, &path, Some(&stranger), body.clone()).await;
    assert_refused(&r, 403, "forbidden");
    let (other_id, _, other_channel, other_template) = other_tenant(&app).await;
    let r = talqui(&app, &sessions_path(&other_id), Some(&own), body.clone()).await;
    assert_refused(&r, 403, "forbidden");
    for number in [other_channel.as_str(), "100200399"] {
        let mut b = start_body(to, Some("spring_sale"), "x");
        b["pluginConnectionID"] = json!(number);
        let r = start(&app, &b).await;
        assert_refused(&r, 404, "plugin_connection_not_found");
        assert_eq!(r.body["error"]["field"], "pluginConnectionID");
    }
    let r = start(&app, &start_body(to, Some(&other_template), "x")).await;
    assert_refused(&r, 404, "campaign_model_not_found");

    // Nothing was stored, nothing reached Meta (each refusal was answered before anything
    // was queued).
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 0);
    assert!(app.sim.received(PNID).is_empty());
    assert!(app.sim.received("100200399").is_empty());
    assert_eq!(
        app.get(&format!("/v1/contacts/{to}"), &app.api_key)
            .await
            .status,
        404
    );
}

async fn an_open_window_takes_messagevalue_as_free_form_text(b: Backend) {
    let app = spawn_app(b).await;
    let to = "5527999990005";
    app.user_writes(to, "Ana", "Oi!").await;
    let r = start(&app, &start_body(to, None, "Olá Ana, como podemos ajudar?")).await;
    // The user's message opened the session: the start joins it.
    assert_eq!(r.status, 200, "{}", r.body);
    let v = &r.body;
    assert_eq!(v["contact"]["contactMeta"]["windowOpen"], true);
    assert_eq!(v["session"]["sessionMeta"]["openedBy"], "inbound");
    assert_eq!(v["session"]["sessionMeta"]["reused"], true);
    assert_eq!(v["session"]["sessionActive"], true);
    assert_eq!(v["message"]["messageMeta"]["type"], "text");
    assert_eq!(
        v["message"]["messageValue"],
        "Olá Ana, como podemos ajudar?"
    );
    let got = received_exactly(&app, 1).await;
    assert_eq!(got[0].to, to);
    assert_eq!(got[0].body["type"], "text");
    assert_eq!(got[0].body["text"]["body"], "Olá Ana, como podemos ajudar?");
    app.wait_status(v["message"]["messageID"].as_str().unwrap(), "sent")
        .await;
}
