//! Templates: the Graph management routes (create, list, get, edit, delete) with Meta's rules,
//! the review and its webhooks, the control routes, and template sends checked against them.

mod common;

use common::*;
use openbsp_simulator::{
    Enforcement, OtherInfo, PhoneNumberConfig, QualityScore, ReviewRule, SimulatorHandle,
    TemplateCategory, TemplateEvent, TemplateReview, TemplateSeed, TemplateStatus,
    TemplateStatusChange, WebhookKind,
};
use openbsp_wire::template::{
    Category, Definition, MAX_TEMPLATES_PER_WABA, check_send, parse_definition, subcodes,
};
use serde_json::{Value, json};

const ANA: &str = "16505551234";

/// Calls a Graph route: `method` on `{sim}/v25.0{path}` with `TOKEN` unless `token` says
/// otherwise.
async fn graph(
    sim: &SimulatorHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    graph_as(sim, method, path, body, Some(TOKEN)).await
}

async fn graph_as(
    sim: &SimulatorHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}/v25.0{path}", sim.url())
    };
    let mut req = client().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(sim: &SimulatorHandle, path: &str) -> (u16, Value) {
    graph(sim, reqwest::Method::GET, path, None).await
}

async fn post(sim: &SimulatorHandle, path: &str, body: &Value) -> (u16, Value) {
    graph(sim, reqwest::Method::POST, path, Some(body)).await
}

async fn delete(sim: &SimulatorHandle, path: &str) -> (u16, Value) {
    graph(sim, reqwest::Method::DELETE, path, None).await
}

async fn control(sim: &SimulatorHandle, path: &str, body: Option<&Value>) -> (u16, Value) {
    let url = format!("{}/_simulator{path}", sim.url());
    let req = match body {
        Some(b) => client().post(url).json(b),
        None => client().get(url),
    };
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn templates_path() -> String {
    format!("/{WABA}/message_templates")
}

/// A create request with a body that has one variable.
fn order_request(name: &str, language: &str, category: &str) -> Value {
    json!({
        "name": name,
        "language": language,
        "category": category,
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Your order"},
            {"type": "BODY", "text": "Hi {{1}}, your order has shipped and arrives tomorrow.", "example": {"body_text": [["Ana"]]}},
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
        ],
    })
}

fn text_request(name: &str, language: &str, category: &str, body: &str) -> Value {
    json!({"name": name, "language": language, "category": category,
           "components": [{"type": "BODY", "text": body}]})
}

/// The values of the template webhooks of `field` the receiver accepted, in arrival order.
fn changes(rx: &Receiver, field: &str) -> Vec<Value> {
    rx.accepted()
        .into_iter()
        .map(|h| h.json["entry"][0]["changes"][0].clone())
        .filter(|c| c["field"] == field)
        .map(|c| c["value"].clone())
        .collect()
}

fn status_updates_of(rx: &Receiver, name: &str) -> Vec<Value> {
    changes(rx, "message_template_status_update")
        .into_iter()
        .filter(|v| v["message_template_name"] == name)
        .collect()
}

/// Waits until a status webhook sent after this point has reached `rx`, so that a test can
/// then say another one was never sent: a barrier instead of a sleep. (The simulator sends
/// a webhook as soon as its cause happens, so one that should not exist would have been
/// under way before this one.)
async fn after_a_later_webhook(sim: &SimulatorHandle, rx: &Receiver) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "barrier_{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut seed = TemplateSeed::text(WABA, &name, "en_US", Category::Utility, "A later notice.");
    seed.notify = true;
    sim.seed_template(seed)
        .expect("the barrier template is valid");
    wait_status_updates(rx, &name, 1).await;
}

async fn wait_status_updates(rx: &Receiver, name: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} status updates of {name}"), 10, || {
        status_updates_of(rx, name).len() >= n
    })
    .await;
    status_updates_of(rx, name)
}

fn template_send(name: &str, language: &str, components: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "to": ANA,
        "type": "template",
        "template": {"name": name, "language": {"code": language}, "components": components},
    })
}

fn body_params(values: &[&str]) -> Value {
    let params: Vec<Value> = values
        .iter()
        .map(|v| json!({"type": "text", "text": v}))
        .collect();
    json!([{"type": "body", "parameters": params}])
}

fn seed(sim: &SimulatorHandle, request: Value, status: TemplateStatus) -> String {
    sim.seed_template(TemplateSeed::new(WABA, request).with_status(status))
        .unwrap()
        .id
}

#[tokio::test]
async fn every_waba_starts_with_hello_world_and_can_send_it() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let (status, v) = get(&sim, &templates_path()).await;
    assert_eq!(status, 200, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let hello = &data[0];
    assert_eq!(hello["name"], "hello_world");
    assert_eq!(hello["language"], "en_US");
    assert_eq!(hello["status"], "APPROVED");
    assert_eq!(hello["category"], "MARKETING");
    assert_eq!(hello["parameter_format"], "POSITIONAL");
    assert_eq!(hello["quality_score"]["score"], "UNKNOWN");
    assert_eq!(
        hello["components"],
        json!([
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
            {"type": "FOOTER", "text": "WhatsApp Business API Team"},
        ])
    );
    let id = hello["id"].as_str().unwrap();
    assert!(
        id.bytes().all(|b| b.is_ascii_digit()) && id.len() >= 15,
        "{id}"
    );
    assert_eq!(
        v["paging"]["cursors"],
        json!({"before": "MAZDZD", "after": "MAZDZD"})
    );
    assert!(v["paging"].get("next").is_none());
    let (status, one) = get(&sim, &format!("/{id}")).await;
    assert_eq!((status, &one), (200, hello));

    let (status, v) = send(
        &sim,
        Some(TOKEN),
        &template_send("hello_world", "en_US", json!([])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // Priced by the stored category.
    wait_for("its sent status", 10, || !rx.statuses().is_empty()).await;
    assert_eq!(rx.statuses()[0]["pricing"]["category"], "marketing");
    // A second number of the same WABA does not add a second hello_world.
    sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: "106540352242923".into(),
        ..phone(None)
    });
    assert_eq!(sim.templates(WABA).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_created_template_is_pending_then_approved_with_a_signed_webhook_per_url() {
    let (sim, rx) = setup(fast_config(), 0).await;
    // A second number with its own receiver and secret, a third sharing the first's URL.
    let rx2 = Receiver::start("other-secret", 0).await;
    sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: "200".into(),
        display_phone_number: "15550000200".into(),
        app_secret: "other-secret".into(),
        webhook_url: Some(rx2.url.clone()),
        ..phone(None)
    });
    sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: "300".into(),
        display_phone_number: "15550000300".into(),
        ..phone(Some(rx.url.clone()))
    });
    let (status, _) = control(
        &sim,
        "/config",
        Some(&json!({"template_review_delay_ms": 300})),
    )
    .await;
    assert_eq!(status, 200);

    let (status, v) = post(
        &sim,
        &templates_path(),
        &order_request("order_update", "en_US", "UTILITY"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        v,
        json!({"id": id, "status": "PENDING", "category": "UTILITY"})
    );
    let (_, one) = get(&sim, &format!("/{id}")).await;
    assert_eq!(one["status"], "PENDING");
    // Not sendable while in review.
    let (status, e) = send(
        &sim,
        Some(TOKEN),
        &template_send("order_update", "en_US", body_params(&["Ana"])),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_i64()),
        (404, Some(132001)),
        "{e}"
    );

    let updates = wait_status_updates(&rx, "order_update", 1).await;
    assert_eq!(
        updates[0],
        json!({
            "event": "APPROVED",
            "message_template_id": id.parse::<u64>().unwrap(),
            "message_template_name": "order_update",
            "message_template_language": "en_US",
            "reason": "NONE",
            "message_template_category": "UTILITY",
        })
    );
    let hit = rx
        .accepted()
        .into_iter()
        .find(|h| h.json["entry"][0]["changes"][0]["field"] == "message_template_status_update")
        .unwrap();
    assert!(hit.signature_ok);
    assert_eq!(hit.json["object"], "whatsapp_business_account");
    assert_eq!(hit.json["entry"][0]["id"], WABA);
    assert!(hit.json["entry"][0]["time"].is_i64());
    wait_status_updates(&rx2, "order_update", 1).await;
    assert!(
        rx2.accepted().iter().all(|h| h.signature_ok),
        "signed with the second app's secret"
    );
    // Once per distinct URL: the third number shares the first one's.
    after_a_later_webhook(&sim, &rx).await;
    assert_eq!(status_updates_of(&rx, "order_update").len(), 1);
    assert!(
        sim.webhook_log()
            .iter()
            .any(|a| a.kind == WebhookKind::TemplateStatus)
    );

    let (_, one) = get(&sim, &format!("/{id}")).await;
    assert_eq!(one["status"], "APPROVED");
    let (status, v) = send(
        &sim,
        Some(TOKEN),
        &template_send("order_update", "en_US", body_params(&["Ana"])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    sim.shutdown().await;
}

#[tokio::test]
async fn review_rules_reject_keep_pending_and_recategorise() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let rules = json!({"rules": [
        {"name_contains": "promo", "status": "REJECTED", "reason": "PROMOTIONAL"},
        {"body_contains": "discount", "category": "MARKETING"},
        {"name_contains": "slow", "status": "PENDING"},
    ]});
    let (status, v) = control(&sim, "/template-review", Some(&rules)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rules"][0]["reason"], "PROMOTIONAL");
    assert_eq!(v["delay_ms"], 20);
    assert_eq!(control(&sim, "/template-review", None).await.1, v);
    for bad in [
        json!({"rules": [{"status": "PAUSED"}]}),
        json!({"rules": [{"status": "REJECTED", "reason": "UGLY"}]}),
        json!({"rules": [{"name": "x"}]}),
    ] {
        let (status, e) = control(&sim, "/template-review", Some(&bad)).await;
        assert_eq!(status, 400, "{bad}: {e}");
    }

    let (_, promo) = post(
        &sim,
        &templates_path(),
        &text_request(
            "spring_promo",
            "en_US",
            "MARKETING",
            "Spring is here and so are our new arrivals.",
        ),
    )
    .await;
    let (_, util) = post(
        &sim,
        &templates_path(),
        &text_request(
            "account_notice",
            "en_US",
            "UTILITY",
            "Get a discount on your next order this week.",
        ),
    )
    .await;
    let (_, slow) = post(
        &sim,
        &templates_path(),
        &text_request(
            "slow_review",
            "en_US",
            "UTILITY",
            "Your appointment is confirmed.",
        ),
    )
    .await;

    let rejected = wait_status_updates(&rx, "spring_promo", 1).await;
    assert_eq!(rejected[0]["event"], "REJECTED");
    assert_eq!(rejected[0]["reason"], "PROMOTIONAL");
    let (_, t) = get(&sim, &format!("/{}", promo["id"].as_str().unwrap())).await;
    assert_eq!(
        (t["status"].as_str(), t["rejected_reason"].as_str()),
        (Some("REJECTED"), Some("PROMOTIONAL"))
    );

    let approved = wait_status_updates(&rx, "account_notice", 1).await;
    assert_eq!(approved[0]["event"], "APPROVED");
    assert_eq!(approved[0]["message_template_category"], "MARKETING");
    wait_for("the category update", 10, || {
        !changes(&rx, "template_category_update").is_empty()
    })
    .await;
    assert_eq!(
        changes(&rx, "template_category_update")[0],
        json!({
            "message_template_id": util["id"].as_str().unwrap().parse::<u64>().unwrap(),
            "message_template_name": "account_notice",
            "message_template_language": "en_US",
            "previous_category": "UTILITY",
            "new_category": "MARKETING",
        })
    );
    let (_, t) = get(&sim, &format!("/{}", util["id"].as_str().unwrap())).await;
    assert_eq!(
        (t["category"].as_str(), t["previous_category"].as_str()),
        (Some("MARKETING"), Some("UTILITY"))
    );
    // Its messages are priced as marketing now.
    let (status, _) = send(
        &sim,
        Some(TOKEN),
        &template_send("account_notice", "en_US", json!([])),
    )
    .await;
    assert_eq!(status, 200);
    wait_for("its sent status", 10, || !rx.statuses().is_empty()).await;
    assert_eq!(rx.statuses()[0]["pricing"]["category"], "marketing");

    // The slow one stays in review, with no webhook; neither it nor the rejected one can go.
    after_a_later_webhook(&sim, &rx).await;
    assert!(status_updates_of(&rx, "slow_review").is_empty());
    let (_, t) = get(&sim, &format!("/{}", slow["id"].as_str().unwrap())).await;
    assert_eq!(t["status"], "PENDING");
    for name in ["slow_review", "spring_promo"] {
        let (status, e) = send(&sim, Some(TOKEN), &template_send(name, "en_US", json!([]))).await;
        assert_eq!(
            (status, e["error"]["code"].as_i64()),
            (404, Some(132001)),
            "{name}: {e}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn creation_follows_metas_rules_and_errors() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    // The wire crate's validation, with its code and subcode.
    let too_long = text_request("long_body", "en_US", "UTILITY", &"a".repeat(1025));
    let want = parse_definition(&too_long).unwrap_err().to_meta();
    let (status, v) = post(&sim, &templates_path(), &too_long).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], want.code);
    assert_eq!(v["error"]["error_subcode"].as_i64(), want.subcode);
    assert_eq!(
        v["error"]["error_data"]["details"].as_str(),
        want.details.as_deref()
    );
    let (status, v) = post(&sim, &templates_path(), &json!({"name": "Bad Name", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]})).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );

    // The same name in the same language; in another language it is fine.
    let (status, v) = post(
        &sim,
        &templates_path(),
        &text_request("hello_world", "en_US", "MARKETING", "Hi there"),
    )
    .await;
    assert_eq!(
        (status, v["error"]["error_subcode"].as_i64()),
        (400, Some(subcodes::ALREADY_EXISTS)),
        "{v}"
    );
    let (status, _) = post(
        &sim,
        &templates_path(),
        &text_request("hello_world", "pt_BR", "MARKETING", "Oi!"),
    )
    .await;
    assert_eq!(status, 200);

    // Credentials and objects, as on the send route.
    let (status, v) = graph_as(&sim, reqwest::Method::GET, &templates_path(), None, None).await;
    assert_eq!((status, v["error"]["code"].as_i64()), (401, Some(190)));
    let (status, v) = graph_as(
        &sim,
        reqwest::Method::GET,
        &templates_path(),
        None,
        Some("nope"),
    )
    .await;
    assert_eq!((status, v["error"]["code"].as_i64()), (401, Some(190)));
    let (status, v) = get(&sim, "/999000/message_templates").await;
    assert_eq!(
        (
            status,
            v["error"]["code"].as_i64(),
            v["error"]["error_subcode"].as_i64()
        ),
        (400, Some(100), Some(33))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unsupported get request")
    );
    let (status, v) = get(&sim, "/999000").await;
    assert_eq!(
        (status, v["error"]["error_subcode"].as_i64()),
        (400, Some(33))
    );
    let resp = client()
        .get(format!("{}/latest/{WABA}/message_templates", sim.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], 2500);
    // The send route still answers.
    assert_eq!(send(&sim, Some(TOKEN), &text_to(ANA, "hi")).await.0, 200);

    // The WABA's limit.
    for i in sim.templates(WABA).len()..MAX_TEMPLATES_PER_WABA {
        seed(
            &sim,
            text_request(
                &format!("filler_{i}"),
                "en_US",
                "UTILITY",
                "Your code is ready.",
            ),
            TemplateStatus::Approved,
        );
    }
    let (status, v) = post(
        &sim,
        &templates_path(),
        &text_request("one_more", "en_US", "UTILITY", "Hi there"),
    )
    .await;
    assert_eq!(
        (status, v["error"]["error_subcode"].as_i64()),
        (400, Some(subcodes::LIMIT_REACHED)),
        "{v}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn lists_filter_select_fields_and_page_like_meta() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    seed(
        &sim,
        order_request("order_update", "en_US", "UTILITY"),
        TemplateStatus::Approved,
    );
    seed(
        &sim,
        order_request("order_update", "pt_BR", "UTILITY"),
        TemplateStatus::Approved,
    );
    seed(
        &sim,
        text_request("spring_sale", "en_US", "MARKETING", "Spring sale!"),
        TemplateStatus::Rejected,
    );
    seed(
        &sim,
        text_request("summer_sale", "en_US", "MARKETING", "Summer sale!"),
        TemplateStatus::Paused,
    );
    seed(
        &sim,
        text_request("winter_sale", "es", "MARKETING", "Rebajas de invierno"),
        TemplateStatus::Approved,
    );
    seed(
        &sim,
        text_request("shipping_notice", "en_US", "UTILITY", "Shipped."),
        TemplateStatus::Pending,
    );
    // 7 with hello_world; newest first.
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}/{}",
                    t["name"].as_str().unwrap(),
                    t["language"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (_, p1) = get(&sim, &format!("{}?limit=3", templates_path())).await;
    assert_eq!(
        names(&p1),
        [
            "shipping_notice/en_US",
            "winter_sale/es",
            "summer_sale/en_US"
        ]
    );
    assert_eq!(
        p1["paging"]["cursors"],
        json!({"before": "MAZDZD", "after": "MgZDZD"})
    );
    assert!(p1["paging"].get("previous").is_none());
    let next = p1["paging"]["next"].as_str().unwrap().to_string();
    assert!(
        next.contains("after=MgZDZD") && next.contains("limit=3"),
        "{next}"
    );
    let (_, p2) = get(&sim, &next).await;
    assert_eq!(
        names(&p2),
        [
            "spring_sale/en_US",
            "order_update/pt_BR",
            "order_update/en_US"
        ]
    );
    let (_, p3) = get(&sim, p2["paging"]["next"].as_str().unwrap()).await;
    assert_eq!(names(&p3), ["hello_world/en_US"]);
    assert!(
        p3["paging"].get("next").is_none(),
        "no next page after the last"
    );
    // Back with `before`.
    let (_, back) = get(&sim, p3["paging"]["previous"].as_str().unwrap()).await;
    assert_eq!(names(&back), names(&p2));
    let (_, all) = get(&sim, &templates_path()).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 7);
    assert!(all["paging"].get("next").is_none());

    let cases = [
        ("status=REJECTED", vec!["spring_sale/en_US"]),
        (
            "status=PAUSED,PENDING",
            vec!["shipping_notice/en_US", "summer_sale/en_US"],
        ),
        (
            "category=utility",
            vec![
                "shipping_notice/en_US",
                "order_update/pt_BR",
                "order_update/en_US",
            ],
        ),
        ("language=pt_BR", vec!["order_update/pt_BR"]),
        (
            "name=_sale",
            vec!["winter_sale/es", "summer_sale/en_US", "spring_sale/en_US"],
        ),
        (
            "name=order_update&language=en_US",
            vec!["order_update/en_US"],
        ),
        ("content=invierno", vec!["winter_sale/es"]),
        ("name=nothing_like_it", vec![]),
    ];
    for (q, want) in cases {
        let (status, v) = get(&sim, &format!("{}?{q}", templates_path())).await;
        assert_eq!(status, 200, "{q}: {v}");
        assert_eq!(names(&v), want, "{q}");
    }
    let (_, v) = get(&sim, &format!("{}?name=nothing_like_it", templates_path())).await;
    assert!(v.get("paging").is_none(), "{v}");

    let (_, v) = get(
        &sim,
        &format!("{}?fields=name,status&limit=1", templates_path()),
    )
    .await;
    let first = &v["data"][0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "name", "status"]);
    let id = first["id"].as_str().unwrap();
    let (_, one) = get(&sim, &format!("/{id}?fields=quality_score,rejected_reason")).await;
    assert_eq!(
        one,
        json!({"id": id, "quality_score": one["quality_score"], "rejected_reason": "NONE"})
    );
    for bad in [
        "fields=name,secret",
        "status=GOOD",
        "limit=0",
        "after=garbage!",
    ] {
        let (status, v) = get(&sim, &format!("{}?{bad}", templates_path())).await;
        assert_eq!(
            (status, v["error"]["code"].as_i64()),
            (400, Some(100)),
            "{bad}: {v}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn edits_follow_metas_rules() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let id = seed(
        &sim,
        order_request("order_update", "en_US", "UTILITY"),
        TemplateStatus::Approved,
    );
    let path = format!("/{id}");
    let new_components = json!([
        {"type": "BODY", "text": "Hi {{1}}, your parcel is on its way.", "example": {"body_text": [["Ana"]]}},
    ]);

    // No category change once approved.
    let (status, v) = post(&sim, &path, &json!({"category": "MARKETING"})).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("category"),
        "{v}"
    );
    // Invalid content gets the wire crate's error; nothing changes.
    let bad = json!([{"type": "BODY", "text": "a".repeat(1025)}]);
    let (status, v) = post(&sim, &path, &json!({"components": bad})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(sim.template(&id).unwrap().status, TemplateStatus::Approved);
    let (status, v) = post(&sim, &path, &json!({})).await;
    assert_eq!(status, 400, "{v}");

    // A good edit: back to review, then approved again.
    let (status, v) = post(&sim, &path, &json!({"components": new_components})).await;
    assert_eq!((status, &v), (200, &json!({"success": true})));
    let t = sim.template(&id).unwrap();
    assert_eq!(t.components, new_components);
    wait_status_updates(&rx, "order_update", 1).await;
    assert_eq!(sim.template(&id).unwrap().status, TemplateStatus::Approved);
    // The send is checked against the new content.
    let (status, _) = send(
        &sim,
        Some(TOKEN),
        &template_send("order_update", "en_US", body_params(&["Ana"])),
    )
    .await;
    assert_eq!(status, 200);

    // Once per 24 hours for an approved template (by the simulator's clock).
    let (status, v) = post(&sim, &path, &json!({"components": new_components})).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("24 hours"),
        "{v}"
    );
    sim.advance_clock(24 * 3600 + 1);
    let (status, v) = post(&sim, &path, &json!({"components": new_components})).await;
    assert_eq!(status, 200, "{v}");
    // Not while it is in review.
    sim.set_template_review_delay(60_000);
    sim.advance_clock(24 * 3600 + 1);
    let other = seed(
        &sim,
        text_request("shipping_notice", "en_US", "UTILITY", "Shipped."),
        TemplateStatus::Approved,
    );
    let (status, _) = post(
        &sim,
        &format!("/{other}"),
        &json!({"components": [{"type": "BODY", "text": "Shipped today."}]}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, v) = post(
        &sim,
        &format!("/{other}"),
        &json!({"components": [{"type": "BODY", "text": "Shipped!"}]}),
    )
    .await;
    assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(100)));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("PENDING"),
        "{v}"
    );

    // A rejected template may change category and be edited again and again.
    let rejected = seed(
        &sim,
        text_request("promo_notice", "en_US", "UTILITY", "New arrivals!"),
        TemplateStatus::Rejected,
    );
    for text in ["New arrivals today!", "New arrivals this week!"] {
        let (status, v) = post(
            &sim,
            &format!("/{rejected}"),
            &json!({"category": "MARKETING", "components": [{"type": "BODY", "text": text}]}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        sim.set_template_status(&rejected, TemplateEvent::Rejected)
            .unwrap();
    }
    assert_eq!(
        sim.template(&rejected).unwrap().category,
        Category::Marketing
    );
    // A locked template cannot be edited.
    sim.set_template_status(&rejected, TemplateEvent::Locked)
        .unwrap();
    let (status, v) = post(
        &sim,
        &format!("/{rejected}"),
        &json!({"components": [{"type": "BODY", "text": "x y z"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("locked"),
        "{v}"
    );
    // Another WABA's token cannot touch it.
    sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: "900".into(),
        waba_id: "900900".into(),
        access_token: "other-token".into(),
        ..phone(None)
    });
    let (status, v) = graph_as(&sim, reqwest::Method::GET, &path, None, Some("other-token")).await;
    assert_eq!((status, v["error"]["code"].as_i64()), (401, Some(190)));
    sim.shutdown().await;
}

#[tokio::test]
async fn approved_templates_get_ten_edits_in_thirty_days() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    sim.set_template_review(TemplateReview {
        delay_ms: 0,
        rules: vec![],
    })
    .unwrap();
    let id = seed(
        &sim,
        text_request("daily_digest", "en_US", "UTILITY", "Your digest is ready."),
        TemplateStatus::Approved,
    );
    for i in 0..10 {
        let (status, v) = post(&sim, &format!("/{id}"), &json!({"components": [{"type": "BODY", "text": format!("Your digest number {i} is ready.")}]})).await;
        assert_eq!(status, 200, "edit {i}: {v}");
        wait_for("the approval", 10, || {
            sim.template(&id).unwrap().status == TemplateStatus::Approved
        })
        .await;
        sim.advance_clock(25 * 3600);
    }
    let (status, v) = post(
        &sim,
        &format!("/{id}"),
        &json!({"components": [{"type": "BODY", "text": "One more."}]}),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10 times in 30 days"),
        "{v}"
    );
    // The TTL alone is no content edit.
    let (status, _) = post(
        &sim,
        &format!("/{id}"),
        &json!({"message_send_ttl_seconds": 3600}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, t) = get(&sim, &format!("/{id}")).await;
    assert_eq!(t["message_send_ttl_seconds"], 3600);
    assert_eq!(t["status"], "APPROVED");
    // Once the oldest edits are 30 days old, it may be edited again.
    sim.advance_clock(30 * 24 * 3600 - 9 * 25 * 3600);
    let (status, v) = post(
        &sim,
        &format!("/{id}"),
        &json!({"components": [{"type": "BODY", "text": "One more."}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    sim.shutdown().await;
}

#[tokio::test]
async fn deletes_by_name_or_id_and_reserve_the_name_for_thirty_days() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let en = seed(
        &sim,
        order_request("order_update", "en_US", "UTILITY"),
        TemplateStatus::Approved,
    );
    let pt = seed(
        &sim,
        order_request("order_update", "pt_BR", "UTILITY"),
        TemplateStatus::Approved,
    );
    let es = seed(
        &sim,
        order_request("order_update", "es", "UTILITY"),
        TemplateStatus::Approved,
    );
    let live = |sim: &SimulatorHandle| -> Vec<String> {
        sim.templates(WABA)
            .into_iter()
            .filter(|t| t.deleted_at_ms.is_none())
            .map(|t| t.id)
            .collect()
    };

    let (status, v) = delete(
        &sim,
        &format!("{}?name=order_update&hsm_id={pt}", templates_path()),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({"success": true})));
    assert!(!live(&sim).contains(&pt) && live(&sim).contains(&en));
    let (status, v) = get(&sim, &format!("/{pt}")).await;
    assert_eq!(
        (status, v["error"]["error_subcode"].as_i64()),
        (400, Some(33))
    );
    let (status, _) = delete(&sim, &format!("{}?name=order_update", templates_path())).await;
    assert_eq!(status, 200);
    assert!(!live(&sim).contains(&en) && !live(&sim).contains(&es));
    let (_, list) = get(&sim, &templates_path()).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only hello_world: {list}"
    );
    let (status, e) = send(
        &sim,
        Some(TOKEN),
        &template_send("order_update", "en_US", body_params(&["Ana"])),
    )
    .await;
    assert_eq!((status, e["error"]["code"].as_i64()), (404, Some(132001)));
    assert_eq!(sim.template(&en).unwrap().status, TemplateStatus::Deleted);

    // Nothing more to delete; no name.
    let (status, _) = delete(&sim, &format!("{}?name=order_update", templates_path())).await;
    assert_eq!(status, 400);
    let (status, _) = delete(&sim, &templates_path()).await;
    assert_eq!(status, 400);

    // The name is reserved in those languages for 30 days.
    let (status, v) = post(
        &sim,
        &templates_path(),
        &order_request("order_update", "en_US", "UTILITY"),
    )
    .await;
    assert_eq!(
        (status, v["error"]["error_subcode"].as_i64()),
        (400, Some(subcodes::LANGUAGE_BEING_DELETED)),
        "{v}"
    );
    let (status, _) = post(
        &sim,
        &templates_path(),
        &order_request("order_update", "fr", "UTILITY"),
    )
    .await;
    assert_eq!(status, 200, "another language is free");
    sim.advance_clock(30 * 24 * 3600);
    let (status, v) = post(
        &sim,
        &templates_path(),
        &order_request("order_update", "en_US", "UTILITY"),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    // Disabled templates cannot be deleted.
    let disabled = seed(
        &sim,
        text_request("old_promo", "en_US", "MARKETING", "Old promo"),
        TemplateStatus::Disabled,
    );
    let (status, v) = delete(&sim, &format!("{}?name=old_promo", templates_path())).await;
    assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(100)));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("DISABLED"),
        "{v}"
    );
    assert!(live(&sim).contains(&disabled));
    // API deletes send no webhook.
    after_a_later_webhook(&sim, &rx).await;
    assert!(
        changes(&rx, "message_template_status_update")
            .iter()
            .all(|v| v["event"] != "DELETED")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn template_sends_are_checked_against_the_wabas_templates() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    seed(
        &sim,
        order_request("order_update", "en_US", "UTILITY"),
        TemplateStatus::Approved,
    );
    seed(
        &sim,
        text_request("in_review", "en_US", "UTILITY", "In review."),
        TemplateStatus::Pending,
    );
    seed(
        &sim,
        text_request("refused", "en_US", "UTILITY", "Refused."),
        TemplateStatus::Rejected,
    );
    let paused = seed(
        &sim,
        text_request("paused_one", "en_US", "MARKETING", "Paused."),
        TemplateStatus::Approved,
    );
    let disabled = seed(
        &sim,
        text_request("disabled_one", "en_US", "MARKETING", "Disabled."),
        TemplateStatus::Approved,
    );
    sim.set_template_status(&paused, TemplateEvent::Paused)
        .unwrap();
    sim.set_template_status(&disabled, TemplateEvent::Disabled)
        .unwrap();

    let good = template_send("order_update", "en_US", body_params(&["Ana"]));
    let def = Definition::from_stored(
        "order_update",
        "en_US",
        Some("UTILITY"),
        Some("POSITIONAL"),
        &order_request("order_update", "en_US", "UTILITY")["components"],
    )
    .unwrap();
    let no_params = template_send("order_update", "en_US", json!([]));
    let want = check_send(&def, &no_params["template"])
        .unwrap_err()
        .to_meta();
    assert_eq!(want.code, 132000);
    let cases = [
        (
            template_send("never_created", "en_US", json!([])),
            404,
            132001,
        ),
        (
            template_send("order_update", "pt_BR", body_params(&["Ana"])),
            404,
            132001,
        ),
        (template_send("in_review", "en_US", json!([])), 404, 132001),
        (template_send("refused", "en_US", json!([])), 404, 132001),
        (template_send("paused_one", "en_US", json!([])), 400, 132015),
        (
            template_send("disabled_one", "en_US", json!([])),
            400,
            132016,
        ),
        (no_params.clone(), 400, 132000),
        (
            template_send("order_update", "en_US", body_params(&["Ana", "extra"])),
            400,
            132000,
        ),
    ];
    for (body, http, code) in &cases {
        let (status, v) = send(&sim, Some(TOKEN), body).await;
        assert_eq!(
            (status, v["error"]["code"].as_i64()),
            (*http, Some(*code)),
            "{body}: {v}"
        );
    }
    let (_, v) = send(&sim, Some(TOKEN), &no_params).await;
    assert_eq!(
        v["error"]["error_data"]["details"].as_str(),
        want.details.as_deref()
    );
    assert_eq!(v["error"]["message"], want.message.as_str());
    assert_eq!(send(&sim, Some(TOKEN), &good).await.0, 200);
    assert_eq!(sim.received(PNID).len(), 1, "nothing refused was accepted");

    // Reinstated, the paused one goes again.
    sim.set_template_status(&paused, TemplateEvent::Reinstated)
        .unwrap();
    assert_eq!(
        send(
            &sim,
            Some(TOKEN),
            &template_send("paused_one", "en_US", json!([]))
        )
        .await
        .0,
        200
    );

    // With the enforcement off, anything goes.
    let (status, c) = control(
        &sim,
        "/config",
        Some(&json!({"enforcement": {"templates": false}})),
    )
    .await;
    assert_eq!(
        (status, &c["enforcement"]["templates"]),
        (200, &json!(false))
    );
    for (body, _, _) in &cases {
        let (status, v) = send(&sim, Some(TOKEN), body).await;
        assert_eq!(status, 200, "{body}: {v}");
    }
    sim.set_enforcement(Enforcement::default());
    assert_eq!(send(&sim, Some(TOKEN), &cases[0].0).await.0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn pricing_takes_the_stored_category_unless_overridden() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed(
        &sim,
        text_request("shipping_notice", "en_US", "UTILITY", "Shipped."),
        TemplateStatus::Approved,
    );
    seed(
        &sim,
        text_request("flash_sale", "en_US", "MARKETING", "Flash sale!"),
        TemplateStatus::Approved,
    );
    sim.set_template_category("flash_sale", TemplateCategory::Utility);
    for name in ["shipping_notice", "flash_sale"] {
        assert_eq!(
            send(&sim, Some(TOKEN), &template_send(name, "en_US", json!([])))
                .await
                .0,
            200
        );
    }
    wait_for("two sent statuses", 10, || {
        rx.statuses()
            .iter()
            .filter(|s| s["status"] == "sent")
            .count()
            == 2
    })
    .await;
    let cats: Vec<Value> = rx
        .statuses()
        .iter()
        .filter(|s| s["status"] == "sent")
        .map(|s| s["pricing"]["category"].clone())
        .collect();
    assert_eq!(cats, [json!("utility"), json!("utility")]);
    sim.shutdown().await;
}

#[tokio::test]
async fn status_and_quality_changes_send_metas_webhooks() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let id = seed(
        &sim,
        text_request("weekly_offer", "en_US", "MARKETING", "This week's offer."),
        TemplateStatus::Approved,
    );
    let numeric: u64 = id.parse().unwrap();

    sim.set_template_status(&id, TemplateEvent::Paused).unwrap();
    let u = wait_status_updates(&rx, "weekly_offer", 1).await;
    assert_eq!(u[0]["event"], "PAUSED");
    assert_eq!(u[0]["reason"], "NONE");
    assert_eq!(u[0]["message_template_id"], numeric);
    assert_eq!(u[0]["other_info"]["title"], "FIRST_PAUSE");
    assert!(
        u[0]["other_info"]["description"]
            .as_str()
            .unwrap()
            .contains("3 hours")
    );
    sim.set_template_status(&id, TemplateEvent::Approved)
        .unwrap();
    let u = wait_status_updates(&rx, "weekly_offer", 2).await;
    let unpause = u.iter().find(|v| v["event"] == "APPROVED").unwrap();
    assert_eq!(unpause["other_info"]["title"], "UNPAUSE");
    // Over HTTP: the second pause, then a disable.
    let (status, t) = control(
        &sim,
        &format!("/templates/{id}/status"),
        Some(&json!({"status": "PAUSED"})),
    )
    .await;
    assert_eq!((status, &t["status"]), (200, &json!("PAUSED")), "{t}");
    let u = wait_status_updates(&rx, "weekly_offer", 3).await;
    assert!(
        u.iter().any(|v| v["other_info"]["title"] == "SECOND_PAUSE"),
        "{u:?}"
    );
    let (status, _) = control(
        &sim,
        &format!("/templates/{id}/status"),
        Some(&json!({"status": "DISABLED"})),
    )
    .await;
    assert_eq!(status, 200);
    let u = wait_status_updates(&rx, "weekly_offer", 4).await;
    let disabled = u.iter().find(|v| v["event"] == "DISABLED").unwrap();
    assert!(
        disabled["disable_info"]["disable_date"].is_i64(),
        "{disabled}"
    );
    assert_eq!(sim.template(&id).unwrap().status, TemplateStatus::Disabled);
    // A rejection with a reason of its own, and custom other_info.
    sim.set_template_status(
        &id,
        TemplateStatusChange {
            status: TemplateEvent::Flagged,
            reason: None,
            other_info: Some(OtherInfo {
                title: "RATE_LIMITING_PAUSE".into(),
                description: "Slow down.".into(),
            }),
        },
    )
    .unwrap();
    let u = wait_status_updates(&rx, "weekly_offer", 5).await;
    let flagged = u.iter().find(|v| v["event"] == "FLAGGED").unwrap();
    assert_eq!(
        flagged["other_info"],
        json!({"title": "RATE_LIMITING_PAUSE", "description": "Slow down."})
    );
    assert_eq!(
        sim.template(&id).unwrap().status,
        TemplateStatus::Disabled,
        "a flag changes no status"
    );
    let (status, t) = control(
        &sim,
        &format!("/templates/{id}/status"),
        Some(&json!({"status": "REJECTED", "reason": "SCAM"})),
    )
    .await;
    assert_eq!((status, &t["rejected_reason"]), (200, &json!("SCAM")));
    let u = wait_status_updates(&rx, "weekly_offer", 6).await;
    assert!(u.iter().any(|v| v["event"] == "REJECTED"
        && v["reason"] == "SCAM"
        && v.get("rejection_info").is_none()));
    for (path, body, want) in [
        (
            format!("/templates/{id}/status"),
            json!({"status": "PAUSED", "reason": "UGLY"}),
            400,
        ),
        (
            format!("/templates/{id}/status"),
            json!({"status": "SLEEPING"}),
            400,
        ),
        (
            "/templates/1/status".to_string(),
            json!({"status": "PAUSED"}),
            404,
        ),
        (
            format!("/templates/{id}/quality"),
            json!({"score": "BLUE"}),
            400,
        ),
        (
            "/templates/1/quality".to_string(),
            json!({"score": "RED"}),
            404,
        ),
    ] {
        assert_eq!(
            control(&sim, &path, Some(&body)).await.0,
            want,
            "{path} {body}"
        );
    }

    // Quality.
    let (status, t) = control(
        &sim,
        &format!("/templates/{id}/quality"),
        Some(&json!({"score": "YELLOW"})),
    )
    .await;
    assert_eq!((status, &t["quality_score"]), (200, &json!("YELLOW")));
    sim.set_template_quality(&id, QualityScore::Red).unwrap();
    wait_for("two quality updates", 10, || {
        changes(&rx, "message_template_quality_update").len() == 2
    })
    .await;
    let q = changes(&rx, "message_template_quality_update");
    let first = q
        .iter()
        .find(|v| v["new_quality_score"] == "YELLOW")
        .unwrap();
    assert_eq!(
        first,
        &json!({"previous_quality_score": "UNKNOWN", "new_quality_score": "YELLOW", "message_template_id": numeric, "message_template_name": "weekly_offer", "message_template_language": "en_US"})
    );
    assert!(
        q.iter()
            .any(|v| v["previous_quality_score"] == "YELLOW" && v["new_quality_score"] == "RED")
    );
    let (_, g) = get(&sim, &format!("/{id}?fields=quality_score")).await;
    assert_eq!(g["quality_score"]["score"], "RED");
    assert!(rx.accepted().iter().all(|h| h.signature_ok));
    sim.shutdown().await;
}

#[tokio::test]
async fn control_routes_seed_and_list_templates() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let mut body = order_request("order_update", "en_US", "UTILITY");
    body["phone_number_id"] = json!(PNID);
    body["status"] = json!("PAUSED");
    body["notify"] = json!(true);
    let (status, t) = control(&sim, "/templates", Some(&body)).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (
            t["status"].as_str(),
            t["waba_id"].as_str(),
            t["category"].as_str()
        ),
        (Some("PAUSED"), Some(WABA), Some("UTILITY"))
    );
    let u = wait_status_updates(&rx, "order_update", 1).await;
    assert_eq!(u[0]["event"], "PAUSED");
    // Without notify, no webhook; the default status is APPROVED.
    let mut quiet = text_request("quiet_one", "en_US", "UTILITY", "Shh.");
    quiet["waba_id"] = json!(WABA);
    let (status, t) = control(&sim, "/templates", Some(&quiet)).await;
    assert_eq!((status, t["status"].as_str()), (200, Some("APPROVED")));

    let (status, list) = control(&sim, &format!("/templates?waba_id={WABA}"), None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["hello_world", "order_update", "quiet_one"],
        "oldest first"
    );
    assert_eq!(
        control(&sim, &format!("/templates?phone_number_id={PNID}"), None)
            .await
            .1,
        list
    );

    for (b, want, field) in [
        (
            json!({"name": "x_y", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
            400,
            Some("waba_id"),
        ),
        (
            json!({"waba_id": WABA, "name": "Bad", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
            400,
            Some("name"),
        ),
        (
            json!({"waba_id": WABA, "name": "quiet_one", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
            400,
            Some("name"),
        ),
        (
            json!({"waba_id": WABA, "status": "GREAT", "name": "x_y", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
            400,
            Some("status"),
        ),
        (
            json!({"phone_number_id": "404", "name": "x_y", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
            404,
            None,
        ),
        (
            json!({"waba_id": "404", "name": "x_y", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "x"}]}),
            404,
            None,
        ),
    ] {
        let (status, v) = control(&sim, "/templates", Some(&b)).await;
        assert_eq!(status, want, "{b}: {v}");
        if let Some(f) = field {
            assert_eq!(v["error"]["field"], f, "{b}: {v}");
        }
    }
    assert_eq!(control(&sim, "/templates", None).await.0, 400);
    after_a_later_webhook(&sim, &rx).await;
    assert!(status_updates_of(&rx, "quiet_one").is_empty());

    // The review rules through the handle.
    sim.set_template_review(TemplateReview {
        delay_ms: 5,
        rules: vec![ReviewRule::reject_name("bad", "SCAM")],
    })
    .unwrap();
    assert_eq!(sim.template_review().rules.len(), 1);
    assert!(
        sim.set_template_review(TemplateReview {
            delay_ms: 5,
            rules: vec![ReviewRule::reject_name("bad", "NOPE")]
        })
        .is_err()
    );
    let (status, v) = post(
        &sim,
        &templates_path(),
        &text_request("bad_idea", "en_US", "UTILITY", "Send us your password."),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let u = wait_status_updates(&rx, "bad_idea", 1).await;
    assert_eq!(
        (u[0]["event"].as_str(), u[0]["reason"].as_str()),
        (Some("REJECTED"), Some("SCAM"))
    );
    // The config shows the review delay.
    let (_, c) = control(&sim, "/config", None).await;
    assert_eq!(c["template_review_delay_ms"], 5);
    assert_eq!(c["enforcement"]["templates"], true);
    sim.shutdown().await;
}
