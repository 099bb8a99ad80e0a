//! The Pingtochat surface (`/api/v1.0/{phone_number_id}/{key}/…`) against a running gateway
//! with the simulator as Meta, on both backends: the seed page's own curl example with only
//! the host and credentials changed, template sends with `bulk_id`, template create and
//! update, and the refusals that matter in Pingtochat's envelope with nothing sent or stored.

mod common;

use base64::Engine as _;
use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    the_seed_example_sends_once_and_answers_as_pingtochat => crate::the_seed_example_sends_once_and_answers_as_pingtochat,
    template_sends_with_a_bulk_id_go_out => crate::template_sends_with_a_bulk_id_go_out,
    templates_are_created_and_updated => crate::templates_are_created_and_updated,
    refusals_use_the_envelope_and_send_nothing => crate::refusals_use_the_envelope_and_send_nothing,
}

/// An Indian number as in Pingtochat's examples (`91xxxxxxxxxx`).
const INDIAN_USER: &str = "919880132082";

fn base(key: &str) -> String {
    format!("/api/v1.0/{PNID}/{key}")
}

/// `POST` `body` as is with `Authorization: Bearer <bearer>` (none when `None`).
async fn post(app: &TestApp, path: &str, bearer: Option<&str>, body: &str) -> Resp {
    let authorization = bearer.map(|b| format!("Bearer {b}"));
    let credential = authorization.as_deref().map(|a| ("authorization", a));
    app.send_as("POST", path, credential, body).await
}

/// How many messages the tenant has stored.
async fn stored(app: &TestApp) -> usize {
    let r = app.get("/v1/messages?limit=100", &app.api_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().len()
}

/// Checks a send's answer as Pingtochat documents it; the gateway's message id.
fn check_answer(body: &Value, to: &str) -> String {
    assert_eq!(body["messaging_product"], "whatsapp", "{body}");
    let contact = &body["contacts"][0];
    assert_eq!(contact["input"], to, "{body}");
    assert_eq!(contact["wa_id"], to, "{body}");
    let id = body["messages"][0]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    assert!(id.starts_with("msg_"), "the gateway's message id: {body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted", "{body}");
    let status_id = contact["status_id"].as_str().expect("a status_id");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(status_id)
        .expect("status_id is base64");
    assert_eq!(String::from_utf8(decoded).unwrap(), id, "{body}");
    id
}

/// Checks Pingtochat's error envelope: the HTTP status, `code`, and Meta's code beside.
fn check_error(r: &Resp, status: u16, code: i64, meta_code: Option<i64>) {
    assert_eq!(r.status, status, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "{}", r.body);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    assert!(
        e["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{}",
        r.body
    );
    match meta_code {
        Some(m) => assert_eq!(e["meta_code"], m, "{}", r.body),
        None => assert!(e.get("meta_code").is_none(), "{}", r.body),
    }
}

async fn the_seed_example_sends_once_and_answers_as_pingtochat(b: Backend) {
    let app = spawn_app(b).await;
    app.user_writes(INDIAN_USER, "Asha", "hi").await;
    let c = &seed_curl("001_640a44d108fef173.txt");
    // Only the host and the credentials change (the gateway speaks plain HTTP in tests).
    let url = c
        .url
        .replace("https://{{your_domain}}", &app.gateway.url())
        .replace("{{phone_number_id}}", PNID)
        .replace("{{key}}", &app.api_key);
    let mut req = app.http.request(c.method.parse().unwrap(), &url);
    for (name, value) in &c.headers {
        let value = if name.eq_ignore_ascii_case("authorization") {
            format!("Bearer {}", app.api_key)
        } else {
            value.clone()
        };
        req = req.header(name.as_str(), value);
    }
    let body = c
        .body
        .as_deref()
        .unwrap()
        .replace("91xxxxxxxxxx", INDIAN_USER);
    let r = req.body(body).send().await.expect("request");
    let status = r.status().as_u16();
    let answer: Value = r.json().await.expect("a JSON answer");
    assert_eq!(status, 200, "{answer}");
    let id = check_answer(&answer, INDIAN_USER);
    let m = app.wait_status(&id, "sent").await;
    assert_eq!(m["type"], "text", "{m}");
    let got: Vec<_> = app
        .sim
        .received(PNID)
        .into_iter()
        .filter(|m| m.to == INDIAN_USER)
        .collect();
    assert_eq!(got.len(), 1, "reached Meta exactly once: {got:?}");
    assert_eq!(got[0].body["text"]["body"], "Hello!");
    assert_eq!(m["wamid"], got[0].wamid.as_str(), "{m}");
}

/// A send on the test number's messages route, with `bearer` if any.
async fn send(app: &TestApp, bearer: Option<&str>, body: &Value) -> Resp {
    let path = format!("{}/messages", base(&app.api_key));
    post(app, &path, bearer, &body.to_string()).await
}

/// Sends `body(to)` to each of `users`, each answered 200 as Pingtochat does: the message ids.
async fn send_each(
    app: &TestApp,
    bearer: Option<&str>,
    users: [&str; 2],
    body: impl Fn(&str) -> Value,
) -> Vec<String> {
    let mut ids = Vec::new();
    for to in users {
        let r = send(app, bearer, &body(to)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids.push(check_answer(&r.body, to));
    }
    ids
}

async fn template_sends_with_a_bulk_id_go_out(b: Backend) {
    let app = spawn_app(b).await;
    let users = ["919880100001", "919880100002"];
    let ids = send_each(&app, Some(&app.api_key), users, |to| {
        json!({"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": to, "type": "template", "bulk_id": "diwali-2025",
            "template": {"name": "order_update", "language": {"code": "en_US"}, "components": []}})
    })
    .await;
    assert_ne!(ids[0], ids[1]);
    for (id, to) in ids.iter().zip(users) {
        let m = app.wait_status(id, "sent").await;
        assert_eq!(m["type"], "template", "{m}");
        let got = app.sim.received(PNID);
        assert_eq!(got.iter().filter(|m| m.to == to).count(), 1, "{got:?}");
    }
    // A bulk_id that is not a string or a number is refused, and nothing is sent.
    let bad = json!({"messaging_product": "whatsapp", "to": users[0], "type": "template",
        "bulk_id": {"a": 1},
        "template": {"name": "order_update", "language": {"code": "en_US"}}});
    let r = send(&app, None, &bad).await;
    check_error(&r, 400, 100, Some(100));
    assert_eq!(app.sim.received(PNID).len(), 2);
}

/// The grouping DESIGN §2.7 asks for: template sends with one `bulk_id` are one campaign in
/// `GET /v1/campaigns` (named by it, its recipients the sends), which completes once Meta has
/// answered them; a send that is not a template cannot carry a `bulk_id`.
async fn bulk_id_groups_sends_as_one_campaign(b: Backend) {
    let app = spawn_app(b).await;
    let users = ["919880100001", "919880100002"];
    let ids = send_each(&app, None, users, |to| {
        json!({"messaging_product": "whatsapp", "to": to, "type": "template",
            "bulk_id": "diwali-2025",
            "template": {"name": "order_update", "language": {"code": "en_US"}}})
    })
    .await;
    let list = app.get("/v1/campaigns", &app.api_key).await;
    let named: Vec<&Value> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "diwali-2025")
        .collect();
    assert_eq!(named.len(), 1, "{}", list.body);
    assert_eq!(named[0]["group_key"], "diwali-2025", "{}", list.body);
    assert_eq!(
        named[0]["template"]["name"], "order_update",
        "{}",
        list.body
    );
    let path = format!("/v1/campaigns/{}", named[0]["id"].as_str().unwrap());
    let one = app.get(&path, &app.api_key).await;
    assert_eq!(one.body["counts"]["total"], 2, "{}", one.body);
    // Each reached Meta once, and each is a recipient of the campaign with its message.
    for (id, to) in ids.iter().zip(users) {
        app.wait_status(id, "delivered").await;
        let got = app.sim.received(PNID);
        assert_eq!(got.iter().filter(|m| m.to == to).count(), 1, "{got:?}");
    }
    let recipients = app.get(&format!("{path}/recipients"), &app.api_key).await;
    let listed: Vec<&str> = recipients.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["message_id"].as_str())
        .collect();
    assert_eq!(
        listed,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "{}",
        recipients.body
    );
    // Completed once Meta has answered both; the counts follow the statuses.
    wait_until("the grouped campaign completes", || async {
        let c = app.get(&path, &app.api_key).await.body;
        c["status"] == "completed"
            && c["counts"]["delivered"].as_u64().unwrap_or(0)
                + c["counts"]["read"].as_u64().unwrap_or(0)
                == 2
    })
    .await;

    // A send that is not a template cannot be grouped: Pingtochat's envelope, nothing sent.
    let before = (app.sim.received(PNID).len(), stored(&app).await);
    let text = json!({"messaging_product": "whatsapp", "to": users[0], "type": "text",
        "bulk_id": "diwali-2025", "text": {"body": "Hello!"}});
    let r = send(&app, None, &text).await;
    check_error(&r, 400, 100, Some(100));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("template")),
        "{}",
        r.body
    );
    assert_eq!((app.sim.received(PNID).len(), stored(&app).await), before);
    let one = app.get(&path, &app.api_key).await;
    assert_eq!(one.body["counts"]["total"], 2, "{}", one.body);
}

mod bulk_id_groups_sends_as_one_campaign {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        crate::bulk_id_groups_sends_as_one_campaign(openbsp_testkit::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        crate::bulk_id_groups_sends_as_one_campaign(openbsp_testkit::Backend::Postgres).await
    }
}

async fn templates_are_created_and_updated(b: Backend) {
    let app = spawn_app(b).await;
    let path = format!("{}/message_templates", base(&app.api_key));
    let mut create = shipping("order_ready", "en_US");
    create["allow_category_change"] = json!(true);
    let r = post(&app, &path, Some(&app.api_key), &create.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["category"], "UTILITY", "{}", r.body);
    assert!(
        ["PENDING", "APPROVED"].contains(&r.body["status"].as_str().unwrap()),
        "{}",
        r.body
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(app.sim.template(&id).is_some(), "Meta has it by that id");
    wait_until("the template is approved", || async {
        app.get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body["status"]
            == "APPROVED"
    })
    .await;
    // The same content again: Pingtochat's 403, Meta's code beside.
    let again = post(&app, &path, None, &create.to_string()).await;
    check_error(&again, 403, 403, Some(100));
    assert_eq!(
        again.body["error"]["meta_subcode"], 2388024,
        "{}",
        again.body
    );

    // The update: new components, reviewed again.
    let mut components = shipping("order_ready", "en_US")["components"].clone();
    components[2]["text"] = json!("Reply STOP to unsubscribe");
    let r = post(
        &app,
        &format!("{}/{id}/template_update", base(&app.api_key)),
        Some(&app.api_key),
        &json!({"components": components}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["success"], true, "{}", r.body);
    let t = app.get(&format!("/v1/templates/{id}"), &app.api_key).await;
    assert_eq!(
        t.body["components"][2]["text"], "Reply STOP to unsubscribe",
        "{}",
        t.body
    );
    // A broken update is refused with Meta's code, and changes nothing.
    let mut broken = components.clone();
    broken[1]["text"] = json!("{{1}}, your order {{2}} is ready now.");
    let r = post(
        &app,
        &format!("{}/{id}/template_update", base(&app.api_key)),
        None,
        &json!({"components": broken}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["meta_code"], 100, "{}", r.body);
    // An unknown template id: 404.
    let r = post(
        &app,
        &format!("{}/999999999/template_update", base(&app.api_key)),
        None,
        &json!({"components": components}).to_string(),
    )
    .await;
    check_error(&r, 404, 404, None);
}

async fn refusals_use_the_envelope_and_send_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let key = app.api_key.clone();
    let messages = format!("{}/messages", base(&key));
    let simple = format!("{}/simpleMessages", base(&key));
    let text = |to: &str| {
        json!({"messaging_product": "whatsapp", "to": to, "type": "text",
               "text": {"body": "Hello!"}})
        .to_string()
    };
    let template = |name: &str, components: Value| {
        json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
               "template": {"name": name, "language": {"code": "en_US"}, "components": components}})
        .to_string()
    };
    // A template the gateway knows, and one message stored, to see that nothing changes.
    let ours = app
        .post(
            "/v1/templates",
            &key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    assert_eq!(ours.status, 201, "{}", ours.body);
    let template_id = ours.body["meta_template_id"].as_str().unwrap().to_string();
    let before_meta = app.sim.received(PNID).len();
    let before_stored = stored(&app).await;

    // Text outside the window (the user never wrote): Meta's 131047, before Meta.
    let r = post(&app, &simple, Some(&key), &text(USER)).await;
    check_error(&r, 400, 131047, Some(131047));
    // An unknown template: Pingtochat's 404, Meta's 132001.
    let r = post(
        &app,
        &messages,
        Some(&key),
        &template("no_such_template", json!([])),
    )
    .await;
    check_error(&r, 404, 404, Some(132001));
    // A parameter the template does not have: Meta's 132000.
    let extra = json!([{"type": "body", "parameters": [{"type": "text", "text": "x"}]}]);
    let r = post(
        &app,
        &messages,
        Some(&key),
        &template("order_update", extra),
    )
    .await;
    check_error(&r, 400, 132000, Some(132000));
    // A number that is no number.
    let r = post(&app, &messages, Some(&key), &text("not-a-number")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["error"]["code"], r.body["error"]["meta_code"],
        "{}",
        r.body
    );
    // No recipient: Pingtochat's 400.
    let r = post(
        &app,
        &messages,
        Some(&key),
        &json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "Hello!"}})
            .to_string(),
    )
    .await;
    check_error(&r, 400, 400, None);
    // Not JSON.
    let r = post(&app, &messages, Some(&key), "{\"to\": ").await;
    check_error(&r, 400, 100, Some(100));
    // A wrong key: 301, whatever the bearer.
    let wrong = format!("/api/v1.0/{PNID}/not-a-key/messages");
    let r = post(&app, &wrong, None, &text(USER)).await;
    check_error(&r, 401, 301, None);
    let r = post(&app, &wrong, Some(&key), &text(USER)).await;
    check_error(&r, 401, 301, None);
    // A bearer that is not the key: 300.
    let r = post(&app, &messages, Some("another-token"), &text(USER)).await;
    check_error(&r, 401, 300, None);
    // A number that is not the key's tenant's (another tenant's, or none): 305.
    let other = app.other_tenant_with_number().await.api_key;
    for path in [
        format!("{}/messages", base(&other)),
        format!("/api/v1.0/999999/{key}/messages"),
    ] {
        let r = post(&app, &path, None, &text(USER)).await;
        check_error(&r, 404, 305, None);
    }
    // Another tenant's template id, on that tenant's own number: not found, unchanged.
    let r = post(
        &app,
        &format!("/api/v1.0/100200399/{other}/{template_id}/template_update"),
        Some(&other),
        &json!({"components": [{"type": "BODY", "text": "Hijacked"}]}).to_string(),
    )
    .await;
    check_error(&r, 404, 404, None);
    let t = app.get(&format!("/v1/templates/{template_id}"), &key).await;
    assert_eq!(t.body["components"], ours.body["components"], "{}", t.body);
    // And another tenant cannot send on its number a template only this tenant has.
    let r = post(
        &app,
        &format!("/api/v1.0/100200399/{other}/messages"),
        None,
        &template("order_ready", json!([])),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["error"]["code"], 404, "{}", r.body);

    assert_eq!(
        app.sim.received(PNID).len(),
        before_meta,
        "nothing reached Meta"
    );
    assert_eq!(stored(&app).await, before_stored, "nothing was stored");
}
