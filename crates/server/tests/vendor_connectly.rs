//! The Connectly surface (`/v1/businesses/{businessId}/…` with `X-API-Key`) against a running
//! gateway with the simulator as Meta, on both backends: session messages (text, an
//! attachment), a templated message with parameters by name, template create and list, and
//! the refusals that matter in Connectly's error shape with nothing sent or stored.

mod common;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    session_messages_reach_meta_once => crate::session_messages_reach_meta_once,
    templated_messages_fill_parameters_by_name => crate::templated_messages_fill_parameters_by_name,
    templates_are_created_and_listed => crate::templates_are_created_and_listed,
    refusals_use_connectly_errors_and_send_nothing => crate::refusals_use_connectly_errors_and_send_nothing,
}

/// The gateway's message id of a send's answer (`{"id"}`).
fn sent_id(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["id"].as_str().expect("an id").to_string();
    assert!(
        id.starts_with("msg_"),
        "the gateway's message id: {}",
        r.body
    );
    id
}

/// Checks Connectly's error shape: the HTTP status, `code`, and Meta's code beside.
fn check_error(r: &Resp, status: u16, code: &str, meta_code: Option<i64>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(
        r.body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("ERROR_TYPE_")),
        "{}",
        r.body
    );
    for f in ["message", "userTitle", "userMessage", "cntTraceId"] {
        assert!(
            r.body[f].as_str().is_some_and(|m| !m.is_empty()),
            "{f}: {}",
            r.body
        );
    }
    assert!(r.body["details"].is_object(), "{}", r.body);
    match meta_code {
        Some(c) => assert_eq!(r.body["details"]["metaCode"], c, "{}", r.body),
        None => assert!(r.body["details"].get("metaCode").is_none(), "{}", r.body),
    }
}

/// How many messages the tenant has stored.
async fn stored(app: &TestApp) -> usize {
    let r = app.get("/v1/messages?limit=100", &app.api_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().len()
}

/// The messages Meta received for `to`.
fn at_meta(app: &TestApp, to: &str) -> Vec<openbsp_simulator::ReceivedMessage> {
    app.sim
        .received(PNID)
        .into_iter()
        .filter(|m| m.to == to)
        .collect()
}

async fn session_messages_reach_meta_once(b: Backend) {
    let app = spawn_app(b).await;
    app.user_writes(USER, "Ana", "hi").await;
    // The flat shape, with the number as E.164 and the sender by its display number.
    let r = x_api_key_post(
        &app,
        "send/messages",
        &json!({"number": format!("+{USER}"), "sender": "+15550001111", "text": "Hello Ana!"}),
    )
    .await;
    let id = sent_id(&r);
    let m = app.wait_status(&id, "sent").await;
    assert_eq!(m["type"], "text", "{m}");
    let got = at_meta(&app, USER);
    assert_eq!(got.len(), 1, "reached Meta exactly once: {got:?}");
    assert_eq!(got[0].body["text"]["body"], "Hello Ana!");
    assert_eq!(m["wamid"], got[0].wamid.as_str(), "{m}");

    // Connectly's documented shape: recipient, message, one attachment.
    let r = x_api_key_post(
        &app,
        "send/messages",
        &json!({"sender": {"id": PNID, "channelType": "whatsapp"},
                "recipient": {"id": format!("+{USER}"), "channelType": "whatsapp"},
                "message": {"attachments": [{"type": "image",
                    "url": "https://cdn.example.com/a.jpg", "caption": "Your receipt"}]}}),
    )
    .await;
    let id = sent_id(&r);
    let m = app.wait_status(&id, "sent").await;
    assert_eq!(m["type"], "image", "{m}");
    let got = at_meta(&app, USER);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].body["type"], "image");
    assert_eq!(
        got[1].body["image"]["link"],
        "https://cdn.example.com/a.jpg"
    );
    assert_eq!(got[1].body["image"]["caption"], "Your receipt");

    // Reply buttons, in the documented shape.
    let r = x_api_key_post(
        &app,
        "send/messages",
        &json!({"number": USER, "message": {"replyButtonMessage": {
            "text": "Did it arrive?", "buttons": [{"id": "yes", "text": "Yes"}, {"id": "no", "text": "No"}]}}}),
    )
    .await;
    let id = sent_id(&r);
    app.wait_status(&id, "sent").await;
    let got = at_meta(&app, USER);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].body["interactive"]["type"], "button");
    assert_eq!(
        got[2].body["interactive"]["action"]["buttons"][1]["reply"]["title"],
        "No"
    );
}

async fn templated_messages_fill_parameters_by_name(b: Backend) {
    let app = spawn_app(b).await;
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            "900100",
            json!({"name": "order_shipped", "language": "en_US", "category": "UTILITY",
                   "components": [
                       {"type": "HEADER", "format": "IMAGE",
                        "example": {"header_handle": ["https://cdn.example.com/h.jpg"]}},
                       {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.",
                        "example": {"body_text": [["Ann", "A1"]]}}]}),
        ))
        .unwrap();
    let r = app
        .post(
            "/v1/templates/sync",
            &app.api_key,
            &json!({"channel": PNID}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // No window needed for a template.
    let r = x_api_key_post(
        &app,
        "send/whatsapp_templated_messages",
        &json!({"number": format!("+{USER}"), "templateName": "order_shipped", "language": "en_US",
                "parameters": [{"name": "body_1", "value": "Ana"}, {"name": "body_2", "value": "B-42"},
                               {"name": "header_image", "value": "https://cdn.example.com/box.jpg"}],
                "callbackData": {"order": 42}, "campaignName": "shipping"}),
    )
    .await;
    let id = sent_id(&r);
    let m = app.wait_status(&id, "sent").await;
    assert_eq!(m["type"], "template", "{m}");
    let got = at_meta(&app, USER);
    assert_eq!(got.len(), 1, "reached Meta exactly once: {got:?}");
    let t = &got[0].body["template"];
    assert_eq!(t["name"], "order_shipped", "{t}");
    assert_eq!(t["language"]["code"], "en_US", "{t}");
    let components = t["components"].as_array().unwrap();
    let of = |kind: &str| {
        components
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {t}"))
    };
    assert_eq!(
        of("header")["parameters"][0]["image"]["link"],
        "https://cdn.example.com/box.jpg"
    );
    let body = &of("body")["parameters"];
    assert_eq!(body[0]["text"], "Ana", "{t}");
    assert_eq!(body[1]["text"], "B-42", "{t}");
    // callbackData is kept on the message (Meta gets the gateway's id for correlation).
    let kept = app
        .store
        .get_message(&app.tenant_id, &id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        kept.biz_opaque_callback_data.as_deref(),
        Some("{\"order\":42}"),
        "callbackData kept on the message"
    );
    // Up to Connectly's 1024 bytes are kept whole (more than Meta's 512 for its own field:
    // Meta is never given it).
    let data = "y".repeat(1024);
    let long = json!({"number": format!("+{USER}"), "templateName": "order_update",
                      "language": "en_US", "callbackData": data});
    let r = x_api_key_post(&app, "send/whatsapp_templated_messages", &long).await;
    let long_id = sent_id(&r);
    let long_kept = app
        .store
        .get_message(&app.tenant_id, &long_id)
        .await
        .unwrap();
    assert_eq!(long_kept.unwrap().biz_opaque_callback_data, Some(data));
    // campaignName: the send is a recipient of the number's campaign of that name.
    let campaigns = app.get("/v1/campaigns", &app.api_key).await.body;
    let shipping: Vec<&Value> = campaigns["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["group_key"] == "shipping")
        .collect();
    assert_eq!(shipping.len(), 1, "{campaigns}");
    let one = app
        .get(
            &format!("/v1/campaigns/{}", shipping[0]["id"].as_str().unwrap()),
            &app.api_key,
        )
        .await
        .body;
    assert_eq!(one["counts"]["total"], 1, "{one}");
    assert_eq!(kept.campaign_id.as_deref(), shipping[0]["id"].as_str());

    // A template without parameters, with the language as an object.
    let r = x_api_key_post(
        &app,
        "send/whatsapp_templated_messages",
        &json!({"number": "+15551230002", "templateName": "order_update", "language": {"code": "es"}}),
    )
    .await;
    let id = sent_id(&r);
    app.wait_status(&id, "sent").await;
    let got = at_meta(&app, "15551230002");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["template"]["language"]["code"], "es");
}

async fn templates_are_created_and_listed(b: Backend) {
    let app = spawn_app(b).await;
    // The gateway lists what it knows: learn the WABA's templates from Meta first.
    let r = app
        .post(
            "/v1/templates/sync",
            &app.api_key,
            &json!({"channel": PNID}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let create = json!({"name": "order_ready", "language": {"code": "en_US"},
        "category": "MESSAGE_TEMPLATE_GROUP_CATEGORY_UTILITY",
        "template_components": [
            {"body": {"text": {"text": "Hi {{1}}, your order is ready.", "example": ["Ann"]}}},
            {"footer": {"text": {"text": "Reply STOP to opt out"}}}]});
    let r = x_api_key_post(&app, "create/template", &create).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entity = &r.body["entity"];
    assert_eq!(entity["name"], "order_ready", "{entity}");
    assert_eq!(
        entity["category"], "MESSAGE_TEMPLATE_GROUP_CATEGORY_UTILITY",
        "{entity}"
    );
    let t = &entity["templates"][0];
    assert_eq!(t["language"]["code"], "en_US", "{t}");
    assert!(
        t["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("MESSAGE_TEMPLATE_STATUS_")),
        "{t}"
    );
    let id = t["id"].as_str().unwrap().to_string();
    let at_sim = app.sim.template(&id).expect("Meta has it by that id");
    assert_eq!(at_sim.name, "order_ready");
    assert_eq!(
        t["templateComponents"][0]["body"]["text"]["text"],
        "Hi {{1}}, your order is ready."
    );
    // The same again: 409, Meta's code beside.
    let again = x_api_key_post(&app, "create/template", &create).await;
    check_error(&again, 409, "ERROR_CODE_ALREADY_EXISTS", Some(100));

    // The list, by GET and by POST without a body: grouped by name across languages.
    for method in ["GET", "POST"] {
        let r = x_api_key_call(
            &app,
            method,
            &business_path(&app.tenant_id, "get/templates"),
            Some(&app.api_key),
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let groups = r.body["entity"]["templateGroups"].as_array().unwrap();
        let group = |name: &str| {
            groups
                .iter()
                .find(|g| g["name"] == name)
                .unwrap_or_else(|| panic!("no {name} in {}", r.body))
        };
        let update = group("order_update");
        let languages: Vec<&str> = update["templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["language"]["code"].as_str().unwrap())
            .collect();
        assert_eq!(languages, ["en_US", "es"], "{update}");
        assert_eq!(
            update["templates"][0]["status"], "MESSAGE_TEMPLATE_STATUS_APPROVED",
            "{update}"
        );
        assert_eq!(
            update["templates"][0]["externalTemplate"]["whatsapp"]["name"], "order_update",
            "{update}"
        );
        assert_eq!(group("order_ready")["templates"][0]["id"], id.as_str());
    }
    // Another tenant's list holds none of these.
    let OtherTenant {
        tenant_id: other_tenant,
        api_key: other_key,
        ..
    } = app.other_tenant_with_number().await;
    let r = x_api_key_call(
        &app,
        "GET",
        &business_path(&other_tenant, "get/templates"),
        Some(&other_key),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entity"]["templateGroups"], json!([]), "{}", r.body);
}

async fn refusals_use_connectly_errors_and_send_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let key = app.api_key.clone();
    let business = app.tenant_id.clone();
    // A template only this tenant has, and the state to compare with at the end.
    let ours = app
        .post(
            "/v1/templates",
            &key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    assert_eq!(ours.status, 201, "{}", ours.body);
    let OtherTenant {
        tenant_id: other_tenant,
        api_key: other_key,
        ..
    } = app.other_tenant_with_number().await;
    let before_meta = app.sim.received(PNID).len();
    let before_stored = stored(&app).await;
    let text = json!({"number": format!("+{USER}"), "text": "Hello!"});
    let templated = |name: &str, params: Value| {
        json!({"number": format!("+{USER}"), "templateName": name, "language": "en_US",
               "parameters": params})
    };

    // Text outside the window (the user never wrote): Meta's 131047, before Meta.
    let r = x_api_key_post(&app, "send/messages", &text).await;
    check_error(
        &r,
        400,
        "ERROR_CODE_MESSAGE_OUTSIDE_OF_ELIGIBILITY_WINDOW",
        Some(131047),
    );
    assert_eq!(r.body["type"], "ERROR_TYPE_DEADLINE_EXCEEDED", "{}", r.body);
    // An unknown template: Meta's 132001. A parameter the template does not have (order_update
    // has none), or too few (order_ready wants a header and two body variables): Meta's
    // 132000, from the core.
    let one_param = json!([{"name": "body_1", "value": "x"}]);
    for (name, params, status, code, meta_code) in [
        (
            "no_such_template",
            json!([]),
            404,
            "ERROR_CODE_MESSAGE_TEMPLATE_NOT_FOUND",
            132001,
        ),
        (
            "order_update",
            one_param.clone(),
            400,
            "ERROR_CODE_MESSAGE_TEMPLATE_INPUT_INVALID",
            132000,
        ),
        (
            "order_ready",
            one_param,
            400,
            "ERROR_CODE_MESSAGE_TEMPLATE_INPUT_INVALID",
            132000,
        ),
    ] {
        let r = x_api_key_post(
            &app,
            "send/whatsapp_templated_messages",
            &templated(name, params),
        )
        .await;
        check_error(&r, status, code, Some(meta_code));
    }
    // A number that is no number.
    for route in ["send/messages", "send/whatsapp_templated_messages"] {
        let r = x_api_key_post(
            &app,
            route,
            &json!({"number": "not-a-number", "text": "Hello!", "templateName": "order_update",
                    "language": "en_US"}),
        )
        .await;
        check_error(&r, 400, "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT", Some(131009));
    }
    // Two kinds of message at once, and none.
    let r = x_api_key_post(
        &app,
        "send/messages",
        &json!({"number": format!("+{USER}"), "text": "Hello!",
                "location": {"latitude": 1.0, "longitude": 2.0}}),
    )
    .await;
    check_error(&r, 400, "ERROR_CODE_INVALID_REQUEST", None);
    let r = x_api_key_post(
        &app,
        "send/messages",
        &json!({"number": format!("+{USER}")}),
    )
    .await;
    check_error(&r, 400, "ERROR_CODE_INVALID_REQUEST", None);
    // Two attachments.
    let r = x_api_key_post(
        &app,
        "send/messages",
        &json!({"number": format!("+{USER}"), "attachments": [
            {"type": "image", "url": "https://cdn.example.com/a.jpg"},
            {"type": "image", "url": "https://cdn.example.com/b.jpg"}]}),
    )
    .await;
    check_error(
        &r,
        400,
        "ERROR_CODE_MESSAGE_ATTACHMENTS_NUMBER_INVALID",
        None,
    );
    // callbackData past Connectly's 1024 bytes.
    let mut long = templated("order_update", json!([]));
    long["callbackData"] = json!("x".repeat(1025));
    let r = x_api_key_post(&app, "send/whatsapp_templated_messages", &long).await;
    check_error(&r, 400, "ERROR_CODE_INVALID_REQUEST", None);
    assert_eq!(r.body["details"]["field"], "callbackData", "{}", r.body);
    // Not JSON.
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&business, "send/messages"),
        Some(&key),
        "{\"number\": ",
    )
    .await;
    check_error(&r, 400, "ERROR_CODE_INVALID_REQUEST", None);
    // No key, a wrong key.
    let body = text.to_string();
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&business, "send/messages"),
        None,
        &body,
    )
    .await;
    check_error(&r, 401, "ERROR_CODE_BUSINESS_KEY_SECRET_ABSENT", None);
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&business, "send/messages"),
        Some("not-a-key"),
        &body,
    )
    .await;
    check_error(&r, 401, "ERROR_CODE_UNAUTHORIZED", None);
    // Another tenant's businessId, whichever way round, and one that does not exist: 403.
    for (b, k) in [
        (business.as_str(), other_key.as_str()),
        (other_tenant.as_str(), key.as_str()),
        ("ten_doesnotexist", key.as_str()),
    ] {
        let r = x_api_key_call(
            &app,
            "POST",
            &business_path(b, "send/messages"),
            Some(k),
            &body,
        )
        .await;
        check_error(&r, 403, "ERROR_CODE_PERMISSION_DENIED", None);
        let r = x_api_key_call(&app, "GET", &business_path(b, "get/templates"), Some(k), "").await;
        check_error(&r, 403, "ERROR_CODE_PERMISSION_DENIED", None);
    }
    // Another tenant's number as sender (by phone number id or display number), or none.
    for sender in ["100200399", "+15550009999", "999999"] {
        let mut with_sender = templated("order_update", json!([]));
        with_sender["sender"] = json!(sender);
        let r = x_api_key_post(&app, "send/whatsapp_templated_messages", &with_sender).await;
        check_error(&r, 400, "ERROR_CODE_INVALID_SENDER_ID", None);
    }
    // Another tenant cannot send, on its own number, a template only this tenant has.
    let r = x_api_key_call(
        &app,
        "POST",
        &business_path(&other_tenant, "send/whatsapp_templated_messages"),
        Some(&other_key),
        &templated("order_ready", json!([])).to_string(),
    )
    .await;
    check_error(
        &r,
        404,
        "ERROR_CODE_MESSAGE_TEMPLATE_NOT_FOUND",
        Some(132001),
    );

    assert_eq!(
        app.sim.received(PNID).len(),
        before_meta,
        "nothing reached Meta"
    );
    assert!(
        app.sim.received("100200399").is_empty(),
        "nor on the other number"
    );
    assert_eq!(stored(&app).await, before_stored, "nothing was stored");
}
