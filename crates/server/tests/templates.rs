//! Templates over HTTP, on both backends: created (validated like Meta before Meta sees
//! them), reviewed by the simulator and followed through Meta's webhooks, listed, edited,
//! deleted and synced on both surfaces; and every template send checked against the stored
//! template before Meta is called, with the text the contact saw kept on the message.

mod common;

use common::*;
use openbsp_domain::Clock;
use openbsp_simulator::{QualityScore, ReviewRule, TemplateEvent, TemplateReview, TemplateSeed};
use openbsp_testkit::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends! {
    templates_are_validated_submitted_and_reviewed => crate::templates_are_validated_submitted_and_reviewed,
    templates_are_listed_edited_and_deleted_like_meta => crate::templates_are_listed_edited_and_deleted_like_meta,
    sync_imports_the_templates_of_the_waba => crate::sync_imports_the_templates_of_the_waba,
    template_sends_are_checked_before_meta => crate::template_sends_are_checked_before_meta,
    preview_renders_or_says_what_is_wrong => crate::preview_renders_or_says_what_is_wrong,
    session_start_fills_a_template_from_plain_variables => crate::session_start_fills_a_template_from_plain_variables,
    quality_and_category_changes_are_kept_in_history => crate::quality_and_category_changes_are_kept_in_history,
    every_status_event_and_reason_of_meta_is_applied => crate::every_status_event_and_reason_of_meta_is_applied,
    approved_templates_are_edited_at_most_ten_times_in_30_days => crate::approved_templates_are_edited_at_most_ten_times_in_30_days,
    a_waba_holds_at_most_250_templates => crate::a_waba_holds_at_most_250_templates,
    an_approval_that_overtakes_metas_answer_is_kept => crate::an_approval_that_overtakes_metas_answer_is_kept,
}

const WABA: &str = "900100";
const GRAPH: &str = "/v23.0/900100/message_templates";

async fn template_status(app: &TestApp, id: &str) -> String {
    app.get(&format!("/v1/templates/{id}"), &app.api_key)
        .await
        .body["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_template_status(app: &TestApp, id: &str, status: &str) {
    wait_until(&format!("template {id} is {status}"), || async {
        template_status(app, id).await == status
    })
    .await;
}

async fn templates_are_validated_submitted_and_reviewed(b: Backend) {
    let app = spawn_app(b).await;
    app.sim
        .set_template_review(TemplateReview {
            delay_ms: 300,
            rules: vec![ReviewRule::reject_name("promo", "PROMOTIONAL")],
        })
        .unwrap();
    let on_meta = || app.sim.templates(WABA).len();
    let before = on_meta();

    // Broken rules are refused before Meta sees them, naming the rule, with Meta's code.
    let mut bad = shipping("order_ready", "en_US");
    bad["components"][1]["text"] = json!("{{1}}, your order {{2}} is ready now.");
    let r = app
        .post("/v1/templates", &app.api_key, &with_channel(bad.clone()))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid_template");
    assert_eq!(r.body["error"]["meta_code"], 100);
    assert_eq!(r.body["error"]["details"][0]["rule"], "variable_at_edge");
    assert_eq!(r.body["error"]["details"][0]["field"], "components[1].text");
    assert_eq!(r.body["error"]["details"][0]["meta_subcode"], 2388299);
    let mut long = shipping("order_ready", "en_US");
    long["components"][2]["text"] = json!("f".repeat(61));
    let g = app.post(GRAPH, &app.api_key, &long).await;
    assert_eq!(g.status, 400, "{}", g.body);
    assert_eq!(g.body["error"]["code"], 100);
    assert_eq!(g.body["error"]["error_subcode"], 2388040);
    assert_eq!(
        g.body["error"]["error_user_title"],
        "Message template character limit exceeded"
    );
    assert_eq!(on_meta(), before, "nothing refused reached Meta");
    let none = app
        .get("/v1/templates?name=order_ready", &app.api_key)
        .await;
    assert_eq!(
        none.body["data"].as_array().unwrap().len(),
        0,
        "nor was stored"
    );

    // A valid one is submitted, stored PENDING with Meta's id, and approved by Meta's webhook.
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "PENDING");
    let id = r.body["id"].as_str().unwrap().to_string();
    let meta_id = r.body["meta_template_id"].as_str().unwrap().to_string();
    assert!(app.sim.template(&meta_id).is_some(), "Meta has it");
    wait_template_status(&app, &id, "APPROVED").await;
    // The same definition again is the same template; another one under that name is not.
    let again = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    assert_eq!(
        (again.status, again.body["id"].as_str()),
        (200, Some(id.as_str()))
    );
    let mut other = shipping("order_ready", "en_US");
    other["components"][2]["text"] = json!("Another footer");
    let dup = app
        .post("/v1/templates", &app.api_key, &with_channel(other.clone()))
        .await;
    assert_eq!(
        (dup.status, dup.body["error"]["code"].as_str()),
        (409, Some("template_exists")),
        "{}",
        dup.body
    );
    let dup = app.post(GRAPH, &app.api_key, &other).await;
    assert_eq!(dup.body["error"]["error_subcode"], 2388024, "{}", dup.body);

    // On the Graph surface: Meta's answer; rejected by the review rule, with the reason.
    let mut promo = shipping("spring_promo", "en_US");
    promo["category"] = json!("MARKETING");
    let g = app.post(GRAPH, &app.api_key, &promo).await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.body["status"], "PENDING");
    assert_eq!(g.body["category"], "MARKETING");
    let promo_id = g.body["id"].as_str().unwrap().to_string();
    wait_template_status(&app, &promo_id, "REJECTED").await;
    let t = app
        .get(&format!("/v1/templates/{promo_id}"), &app.api_key)
        .await;
    assert_eq!(t.body["reason"], "PROMOTIONAL");
    let h = app
        .get(&format!("/v1/templates/{promo_id}/history"), &app.api_key)
        .await;
    let kinds: Vec<(&str, &str)> = h.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(kinds, [("created", "PENDING"), ("status", "REJECTED")]);

    // Another tenant sees none of it.
    let other_key = app.other_tenant_key().await;
    assert_eq!(
        app.get(&format!("/v1/templates/{id}"), &other_key)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/v23.0/{meta_id}"), &other_key)
            .await
            .status,
        400
    );
}

async fn templates_are_listed_edited_and_deleted_like_meta(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let mut ids = Vec::new();
    for lang in ["en_US", "es", "pt_BR"] {
        let r = app
            .post(
                "/v1/templates",
                &app.api_key,
                &with_channel(shipping("order_ready", lang)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_template_status(&app, id, "APPROVED").await;
    }

    // Native list: filters and cursor paging.
    let page = app
        .get("/v1/templates?name=order_ready&limit=2", &app.api_key)
        .await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["has_more"], true);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/templates?name=order_ready&limit=2&after={cursor}"),
            &app.api_key,
        )
        .await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["has_more"], false);
    let es = app
        .get("/v1/templates?language=es&status=approved", &app.api_key)
        .await;
    assert_eq!(es.body["data"].as_array().unwrap().len(), 1, "{}", es.body);
    // Graph list: Meta's paging, `next` only when a page follows; `fields`.
    let g = app
        .get(
            &format!("{GRAPH}?name=order_ready&limit=2&fields=name,status"),
            &app.api_key,
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(g.body["data"][0]["status"], "APPROVED");
    assert!(
        g.body["data"][0].get("components").is_none(),
        "fields restricts: {}",
        g.body
    );
    let next = g.body["paging"]["next"].as_str().expect("a next page");
    let after = g.body["paging"]["cursors"]["after"].as_str().unwrap();
    assert!(next.contains(&format!("after={after}")), "{next}");
    let g2 = app
        .get(
            &format!("{GRAPH}?name=order_ready&limit=2&after={after}"),
            &app.api_key,
        )
        .await;
    assert_eq!(g2.body["data"].as_array().unwrap().len(), 1);
    assert!(g2.body["paging"].get("next").is_none(), "{}", g2.body);
    // Back by `previous` (the `before` cursor): the first page again, with nothing before it.
    let previous = g2.body["paging"]["previous"]
        .as_str()
        .expect("a previous page")
        .to_string();
    let back = app
        .get(
            previous.trim_start_matches(&app.gateway.url()),
            &app.api_key,
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let ids_of = |v: &Value| -> Vec<Value> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect()
    };
    assert_eq!(ids_of(&back.body), ids_of(&g.body), "{previous}");
    assert!(
        back.body["paging"].get("previous").is_none(),
        "{}",
        back.body
    );
    assert!(back.body["paging"]["next"].is_string(), "{}", back.body);
    assert!(g.body["paging"].get("previous").is_none(), "{}", g.body);
    let both = app
        .get(
            &format!("{GRAPH}?after={after}&before={after}"),
            &app.api_key,
        )
        .await;
    assert_eq!(both.status, 400, "{}", both.body);
    // The summary client libraries ask for on every listing (pywa's TemplatesResult).
    let sum = app
        .get(
            &format!(
                "{GRAPH}?name=order_ready&summary=total_count,message_template_count,\
                 message_template_limit,are_translations_complete"
            ),
            &app.api_key,
        )
        .await;
    assert_eq!(sum.status, 200, "{}", sum.body);
    let all = app.get(&format!("{GRAPH}?limit=1000"), &app.api_key).await;
    let in_waba = all.body["data"].as_array().unwrap().len();
    assert_eq!(
        sum.body["summary"],
        json!({"total_count": 3, "message_template_count": in_waba,
               "message_template_limit": 250,
               // order_ready is in three languages, the WABA's other templates in fewer.
               "are_translations_complete": in_waba == 3})
    );
    let one_field = app
        .get(&format!("{GRAPH}?summary=total_count"), &app.api_key)
        .await;
    assert_eq!(one_field.body["summary"], json!({"total_count": in_waba}));
    let bad = app
        .get(&format!("{GRAPH}?summary=total_count,colour"), &app.api_key)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["error"]["code"], 100, "{}", bad.body);
    // Graph get by Meta's id.
    let meta_id = app
        .get(&format!("/v1/templates/{}", ids[0]), &app.api_key)
        .await
        .body["meta_template_id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = app.get(&format!("/v23.0/{meta_id}"), &app.api_key).await;
    assert_eq!(
        (one.body["id"].as_str(), one.body["name"].as_str()),
        (Some(meta_id.as_str()), Some("order_ready"))
    );

    // Edits: an approved template goes back to review; once per 24 hours; no category change.
    let mut components = shipping("order_ready", "en_US")["components"].clone();
    components[2]["text"] = json!("Reply STOP to stop these");
    let e = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{}", ids[0]),
            &app.api_key,
            Some(&json!({"components": components})),
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.body["status"], "PENDING");
    assert_eq!(e.body["components"][2]["text"], "Reply STOP to stop these");
    let e2 = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{}", ids[0]),
            &app.api_key,
            Some(&json!({"components": components})),
        )
        .await;
    assert_eq!(
        e2.status, 400,
        "a PENDING template cannot be edited: {}",
        e2.body
    );
    wait_template_status(&app, &ids[0], "APPROVED").await;
    let e3 = app
        .post(
            &format!("/v23.0/{meta_id}"),
            &app.api_key,
            &json!({"components": components}),
        )
        .await;
    assert_eq!(
        e3.body["error"]["code"], 100,
        "once per 24 hours: {}",
        e3.body
    );
    assert!(
        e3.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("24 hours"),
        "{}",
        e3.body
    );
    // A day later on both clocks (the gateway's and Meta's), it may be edited again.
    clock.advance_ms(24 * 3600 * 1000);
    app.sim.advance_clock(24 * 3600);
    let e4 = app
        .post(
            &format!("/v23.0/{meta_id}"),
            &app.api_key,
            &json!({"components": components}),
        )
        .await;
    assert_eq!(e4.body, json!({"success": true}));
    wait_template_status(&app, &ids[0], "APPROVED").await;
    clock.advance_ms(24 * 3600 * 1000);
    app.sim.advance_clock(24 * 3600);
    let cat = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{}", ids[0]),
            &app.api_key,
            Some(&json!({"category": "MARKETING"})),
        )
        .await;
    assert_eq!(cat.status, 400, "{}", cat.body);
    assert!(
        cat.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("category"),
        "{}",
        cat.body
    );
    let invalid = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{}", ids[1]),
            &app.api_key,
            Some(&json!({"components": [{"type": "BODY", "text": "{{1}} starts"}]})),
        )
        .await;
    assert_eq!(
        invalid.body["error"]["details"][0]["rule"], "variable_at_edge",
        "{}",
        invalid.body
    );

    // Delete one language by id, then the name in every language; the name is reserved for 30 days.
    let d = app
        .call(
            Method::DELETE,
            &format!("/v1/templates/{}", ids[2]),
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(template_status(&app, &ids[2]).await, "DELETED");
    assert_eq!(template_status(&app, &ids[0]).await, "APPROVED");
    let d = app
        .call(
            Method::DELETE,
            &format!("{GRAPH}?name=order_ready"),
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(d.body, json!({"success": true}));
    for id in &ids {
        assert_eq!(template_status(&app, id).await, "DELETED");
    }
    assert!(
        app.sim
            .templates(WABA)
            .iter()
            .filter(|t| t.name == "order_ready")
            .all(|t| t.deleted_at_ms.is_some())
    );
    let again = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("order_ready", "es")),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["error"]["details"][0]["meta_subcode"], 2388023);
    assert_eq!(
        app.get("/v1/templates?name=order_ready", &app.api_key)
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let _ = clock.now_ms();
}

async fn sync_imports_the_templates_of_the_waba(b: Backend) {
    let app = spawn_app(b).await;
    // Created elsewhere (WhatsApp Manager): only Meta has them.
    for i in 0..3 {
        app.sim
            .seed_template(TemplateSeed::new(
                WABA,
                shipping(&format!("made_elsewhere_{i}"), "en_US"),
            ))
            .unwrap();
    }
    let r = app
        .post(
            "/v1/templates/sync",
            &app.api_key,
            &json!({"channel": PNID}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let total = app.sim.templates(WABA).len();
    assert_eq!(r.body["total"], total, "{}", r.body);
    assert_eq!(r.body["created"], total, "{}", r.body);
    let listed = app
        .get("/v1/templates?name=made_elsewhere_1", &app.api_key)
        .await;
    assert_eq!(
        listed.body["data"][0]["status"], "APPROVED",
        "{}",
        listed.body
    );
    assert_eq!(
        listed.body["data"][0]["components"][1]["text"],
        "Hi {{1}}, your order {{2}} is ready now."
    );
    let r = app
        .post(
            "/v1/templates/sync",
            &app.api_key,
            &json!({"channel": PNID}),
        )
        .await;
    assert_eq!(
        (
            r.body["created"].as_u64(),
            r.body["changed"].as_u64(),
            r.body["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(total as u64)),
        "{}",
        r.body
    );

    // Edited in WhatsApp Manager: Meta's `message_template_components_update` makes the
    // gateway read it again.
    let on_meta = app
        .sim
        .templates(WABA)
        .into_iter()
        .find(|t| t.name == "made_elsewhere_1")
        .unwrap();
    let mut components = shipping("made_elsewhere_1", "en_US")["components"].clone();
    components[2]["text"] = json!("Edited in WhatsApp Manager");
    let edited = app
        .http
        .post(format!("{}/v23.0/{}", app.sim.url(), on_meta.id))
        .bearer_auth(ACCESS_TOKEN)
        .json(&json!({"components": components}))
        .send()
        .await
        .unwrap();
    assert!(edited.status().is_success(), "{:?}", edited.text().await);
    let update = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "time": 1_731_800_000,
        "changes": [{"field": "message_template_components_update", "value": {
            "message_template_id": on_meta.id.parse::<i64>().unwrap(), "message_template_name": "made_elsewhere_1",
            "message_template_language": "en_US", "message_template_element": "Hi {{1}}, your order {{2}} is ready now."}}]}]});
    assert_eq!(
        app.post_webhook(&update.to_string(), Some(APP_SECRET))
            .await,
        200
    );
    wait_until("the edit is read from Meta", || async {
        app.get("/v1/templates?name=made_elsewhere_1", &app.api_key)
            .await
            .body["data"][0]["components"][2]["text"]
            == "Edited in WhatsApp Manager"
    })
    .await;
}

async fn template_sends_are_checked_before_meta(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app
        .sim
        .seed_template(TemplateSeed::new(WABA, shipping("order_ready", "en_US")))
        .unwrap();
    let path = format!("/v23.0/{PNID}/messages");
    let body = |components: Value| {
        json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
               "template": {"name": "order_ready", "language": {"code": "en_US"}, "components": components}})
    };
    let good = json!([
        {"type": "header", "parameters": [{"type": "text", "text": "A1"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "A1"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A1"}]}
    ]);
    let sent = || app.sim.received(PNID).len();
    let before = sent();
    let refusals = [
        (
            json!([good[0], {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}, good[2]]),
            132000,
            "template_parameters",
        ),
        (json!([good[0], good[1]]), 132000, "template_parameters"),
        (
            json!([good[0], {"type": "body", "parameters": [{"type": "text", "text": "x".repeat(1000)}, {"type": "text", "text": "A1"}]}, good[2]]),
            132005,
            "template_parameters",
        ),
        (
            json!([good[0], {"type": "body", "parameters": [{"type": "image", "image": {"id": "1"}}, {"type": "text", "text": "A1"}]}, good[2]]),
            132012,
            "template_parameters",
        ),
        (
            json!([good[0], {"type": "body", "parameters": [{"type": "text", "text": "two\nlines"}, {"type": "text", "text": "A1"}]}, good[2]]),
            132018,
            "template_parameters",
        ),
    ];
    for (components, code, native_code) in &refusals {
        let r = app
            .post(&path, &app.api_key, &body(components.clone()))
            .await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_i64()),
            (400, Some(*code)),
            "{}",
            r.body
        );
        let mut n = body(components.clone());
        n["channel"] = json!(PNID);
        let r = app.post("/v1/messages", &app.api_key, &n).await;
        assert_eq!(
            (
                r.body["error"]["code"].as_str(),
                r.body["error"]["meta_code"].as_i64()
            ),
            (Some(*native_code), Some(*code)),
            "{}",
            r.body
        );
    }
    // Unknown names and languages: 132001, saying which languages exist.
    let mut unknown = body(good.clone());
    unknown["template"]["name"] = json!("no_such_template");
    let r = app.post(&path, &app.api_key, &unknown).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_i64()),
        (404, Some(132001)),
        "{}",
        r.body
    );
    let mut wrong_lang = body(good.clone());
    wrong_lang["template"]["language"]["code"] = json!("fr");
    let r = app.post(&path, &app.api_key, &wrong_lang).await;
    assert_eq!(r.body["error"]["code"], 132001, "{}", r.body);
    assert!(
        r.body["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("en_US"),
        "{}",
        r.body
    );
    assert_eq!(sent(), before, "nothing refused reached Meta");
    assert_eq!(
        app.store.count_messages(&app.tenant_id).await.unwrap(),
        0,
        "nor was stored"
    );

    // A fitting send goes, and keeps the text the contact saw.
    let r = app.post(&path, &app.api_key, &body(good.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let wamid = r.body["messages"][0]["id"].as_str().unwrap();
    let m = app
        .get(&format!("/v1/messages/{wamid}"), &app.api_key)
        .await;
    assert_eq!(
        m.body["template"]["rendered_text"],
        "Order A1\n\nHi Ann, your order A1 is ready now.\n\nReply STOP to opt out\n\n[Track] [Thanks]",
        "{}",
        m.body
    );
    assert!(
        m.body["template"]["id"]
            .as_str()
            .unwrap()
            .starts_with("tpl_")
    );

    // A native send under an Idempotency-Key, to retry once the template is paused.
    let mut keyed = body(good.clone());
    keyed["channel"] = json!(PNID);
    let first = app
        .post_raw(
            "/v1/messages",
            &app.api_key,
            keyed.to_string(),
            &[("idempotency-key", "tpl-retry-1")],
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.body);

    // Paused, then disabled, by Meta's webhooks: 132015, then 132016, before Meta.
    let gateway_id = m.body["template"]["id"].as_str().unwrap().to_string();
    app.sim
        .set_template_status(&seeded.id, TemplateEvent::Paused)
        .unwrap();
    wait_template_status(&app, &gateway_id, "PAUSED").await;
    // The retry is answered with the first message, as every retry is.
    let retry = app
        .post_raw(
            "/v1/messages",
            &app.api_key,
            keyed.to_string(),
            &[("idempotency-key", "tpl-retry-1")],
        )
        .await;
    assert_eq!(
        (retry.status, retry.body["id"].as_str()),
        (200, first.body["id"].as_str()),
        "{}",
        retry.body
    );
    let before = sent();
    let r = app.post(&path, &app.api_key, &body(good.clone())).await;
    assert_eq!(r.body["error"]["code"], 132015, "{}", r.body);
    let mut n = body(good.clone());
    n["channel"] = json!(PNID);
    let r = app.post("/v1/messages", &app.api_key, &n).await;
    assert_eq!(r.body["error"]["code"], "template_paused", "{}", r.body);
    app.sim
        .set_template_status(&seeded.id, TemplateEvent::Disabled)
        .unwrap();
    wait_template_status(&app, &gateway_id, "DISABLED").await;
    let r = app.post(&path, &app.api_key, &body(good.clone())).await;
    assert_eq!(r.body["error"]["code"], 132016, "{}", r.body);
    assert_eq!(sent(), before, "nothing paused or disabled reached Meta");
}

async fn preview_renders_or_says_what_is_wrong(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let p = app
        .post(&format!("/v1/templates/{id}/preview"), &app.api_key, &json!({"components": [
            {"type": "header", "parameters": [{"type": "text", "text": "B2"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Bo"}, {"type": "text", "text": "B2"}]},
            {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "B2"}]}]}))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["body"], "Hi Bo, your order B2 is ready now.");
    assert_eq!(p.body["header"], "Order B2");
    assert_eq!(p.body["buttons"], json!(["Track", "Thanks"]));
    let wrong = app
        .post(
            &format!("/v1/templates/{id}/preview"),
            &app.api_key,
            &json!({"variables": ["Bo"]}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(wrong.body["error"]["meta_code"], 132000);
    assert_eq!(
        wrong.body["error"]["details"][0]["rule"],
        "parameter_mismatch"
    );
    assert!(
        wrong.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 body variable(s)"),
        "{}",
        wrong.body
    );
    let missing = app
        .post(
            &format!("/v1/templates/{id}/preview"),
            &app.api_key,
            &json!({"variables": ["Bo", "B2"]}),
        )
        .await;
    assert_eq!(
        missing.body["error"]["meta_code"], 132000,
        "the header and the URL still need theirs: {}",
        missing.body
    );
}

async fn session_start_fills_a_template_from_plain_variables(b: Backend) {
    let app = spawn_app(b).await;
    app.sim
        .seed_template(TemplateSeed::new(WABA, json!({"name": "welcome_back", "language": "pt_BR", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Oi {{1}}, seu pedido {{2}} chegou hoje!", "example": {"body_text": [["Ana", "A1"]]}}]})))
        .unwrap();
    let start = |vars: Value| {
        json!({"channel": PNID, "contact": {"wa_id": "5511999990001", "name": "Ana"},
               "message": {"type": "template", "template": {"name": "welcome_back", "language": {"code": "pt_BR"}}},
               "variables": vars})
    };
    let r = app
        .post("/v1/sessions", &app.api_key, &start(json!(["Ana"])))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["meta_code"].as_i64()),
        (400, Some(132000)),
        "{}",
        r.body
    );
    let contacts = app
        .get("/v1/contacts?wa_id=5511999990001", &app.api_key)
        .await;
    assert_eq!(
        contacts.body["data"].as_array().unwrap().len(),
        0,
        "a refused start creates nothing"
    );
    let r = app
        .post("/v1/sessions", &app.api_key, &start(json!(["Ana", 42])))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["message"]["template"]["rendered_text"],
        "Oi Ana, seu pedido 42 chegou hoje!"
    );
    assert_eq!(r.body["session"]["kind"], "marketing");
    let id = r.body["message"]["id"].as_str().unwrap();
    let m = app.wait_status(id, "sent").await;
    let got = app
        .sim
        .received(PNID)
        .into_iter()
        .find(|x| Some(x.wamid.as_str()) == m["wamid"].as_str())
        .unwrap();
    assert_eq!(
        got.body["template"]["components"][0]["parameters"][1],
        json!({"type": "text", "text": "42"})
    );
}

async fn quality_and_category_changes_are_kept_in_history(b: Backend) {
    let app = spawn_app(b).await;
    app.sim
        .set_template_review(TemplateReview {
            delay_ms: 300,
            rules: vec![ReviewRule {
                name_contains: Some("order".into()),
                body_contains: None,
                status: openbsp_simulator::TemplateStatus::Approved,
                reason: None,
                category: Some(openbsp_wire::template::Category::Marketing),
            }],
        })
        .unwrap();
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let meta_id = r.body["meta_template_id"].as_str().unwrap().to_string();
    wait_template_status(&app, &id, "APPROVED").await;
    // The status update already says MARKETING; the category update also says what it was.
    wait_until("re-categorised", || async {
        let t = app
            .get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body;
        t["category"] == "MARKETING" && t["previous_category"] == "UTILITY"
    })
    .await;
    app.sim
        .set_template_quality(&meta_id, QualityScore::Red)
        .unwrap();
    wait_until("quality known", || async {
        app.get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body["quality_score"]
            == "RED"
    })
    .await;
    let t = app.get(&format!("/v1/templates/{id}"), &app.api_key).await;
    assert_eq!(t.body["previous_category"], "UTILITY", "{}", t.body);
    let h = app
        .get(&format!("/v1/templates/{id}/history"), &app.api_key)
        .await;
    let kinds: Vec<&str> = h.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"category") && kinds.contains(&"quality"),
        "{kinds:?}"
    );
    // Meta redelivers: the history does not grow.
    let quality = app
        .sim
        .webhook_log()
        .into_iter()
        .rev()
        .find(|a| a.body.contains("message_template_quality_update"))
        .expect("the quality webhook");
    let n = kinds.len();
    assert_eq!(app.post_webhook(&quality.body, Some(APP_SECRET)).await, 200);
    let h = app
        .get(&format!("/v1/templates/{id}/history"), &app.api_key)
        .await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), n, "{}", h.body);
}

/// A signed `message_template_status_update` for `order_ready` (en_US) at `time` (seconds).
fn status_update(meta_id: &str, event: &str, reason: Value, time: i64, extra: Value) -> String {
    let mut value = json!({
        "event": event, "message_template_id": meta_id.parse::<i64>().unwrap(),
        "message_template_name": "order_ready", "message_template_language": "en_US",
        "reason": reason,
    });
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            value[k] = v.clone();
        }
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "time": time,
        "changes": [{"field": "message_template_status_update", "value": value}]}]})
    .to_string()
}

async fn every_status_event_and_reason_of_meta_is_applied(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app
        .sim
        .seed_template(TemplateSeed::new(WABA, shipping("order_ready", "en_US")))
        .unwrap();
    app.post(
        "/v1/templates/sync",
        &app.api_key,
        &json!({"channel": PNID}),
    )
    .await;
    let id = app
        .get("/v1/templates?name=order_ready", &app.api_key)
        .await
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut time = 1_731_700_000;
    let mut apply = |event: &str, reason: Value, extra: Value| {
        time += 60;
        status_update(&seeded.id, event, reason, time, extra)
    };
    // Every rejection reason of reference §2.4, each kept with the status.
    for reason in [
        "ABUSIVE_CONTENT",
        "INCORRECT_CATEGORY",
        "INVALID_FORMAT",
        "PROMOTIONAL",
        "SCAM",
        "TAG_CONTENT_MISMATCH",
        "CATEGORY_NOT_AVAILABLE",
    ] {
        let body = apply(
            "REJECTED",
            json!(reason),
            json!({"rejection_info": {"reason": reason, "recommendation": "Fix it"}}),
        );
        assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
        wait_until(&format!("rejected for {reason}"), || async {
            let t = app
                .get(&format!("/v1/templates/{id}"), &app.api_key)
                .await
                .body;
            t["status"] == "REJECTED" && t["reason"] == reason
        })
        .await;
    }
    // Every event, and the status it leaves (FLAGGED and LOCKED leave it as it was).
    for (event, reason, extra, status) in [
        ("APPROVED", json!("NONE"), json!({}), "APPROVED"),
        (
            "FLAGGED",
            json!("NONE"),
            json!({"disable_info": {"disable_date": 1_732_000_000}}),
            "APPROVED",
        ),
        (
            "PAUSED",
            json!("NONE"),
            json!({"other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours"}}),
            "PAUSED",
        ),
        (
            "REINSTATED",
            json!("NONE"),
            json!({"other_info": {"title": "UNPAUSE", "description": "Unpaused"}}),
            "APPROVED",
        ),
        (
            "DISABLED",
            json!("NONE"),
            json!({"disable_info": {"disable_date": 1_732_000_000}}),
            "DISABLED",
        ),
        ("IN_APPEAL", json!("NONE"), json!({}), "IN_APPEAL"),
        ("PENDING", json!("NONE"), json!({}), "PENDING"),
        ("APPROVED", json!("NONE"), json!({}), "APPROVED"),
        ("LOCKED", json!("NONE"), json!({}), "APPROVED"),
        ("LIMIT_EXCEEDED", json!("NONE"), json!({}), "LIMIT_EXCEEDED"),
        ("ARCHIVED", json!("NONE"), json!({}), "ARCHIVED"),
        ("UNARCHIVED", json!("NONE"), json!({}), "APPROVED"),
        (
            "PENDING_DELETION",
            Value::Null,
            json!({}),
            "PENDING_DELETION",
        ),
        ("DELETED", Value::Null, json!({}), "DELETED"),
    ] {
        let history_len = || async {
            app.get(&format!("/v1/templates/{id}/history"), &app.api_key)
                .await
                .body["data"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0)
        };
        let before = history_len().await;
        let body = apply(event, reason, extra);
        assert_eq!(app.post_webhook(&body, Some(APP_SECRET)).await, 200);
        wait_until(&format!("{event} applied"), || async {
            history_len().await > before
        })
        .await;
        let t = app
            .get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body;
        assert_eq!(t["status"], status, "after {event}: {t}");
        assert_eq!(
            t["reason"],
            Value::Null,
            "after {event}, the rejection's reason is gone: {t}"
        );
    }
    let h = app
        .get(&format!("/v1/templates/{id}/history"), &app.api_key)
        .await
        .body;
    let kinds: Vec<&str> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"flagged") && kinds.contains(&"locked"),
        "{kinds:?}"
    );
    let paused = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["value"] == "PAUSED")
        .unwrap();
    assert_eq!(
        paused["detail"]["other_info"]["title"], "FIRST_PAUSE",
        "Meta's extra information is kept"
    );
    // Meta redelivers an old APPROVED days later: it does not undo what came after it.
    let late = status_update(
        &seeded.id,
        "APPROVED",
        json!("NONE"),
        1_731_700_100,
        json!({}),
    );
    assert_eq!(app.post_webhook(&late, Some(APP_SECRET)).await, 200);
    wait_until("the late update is processed", || async {
        app.store.unprocessed_inbox(1).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(template_status(&app, &id).await, "DELETED");
}

async fn approved_templates_are_edited_at_most_ten_times_in_30_days(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    wait_template_status(&app, &id, "APPROVED").await;
    let edit = |n: usize| {
        let mut components = shipping("order_ready", "en_US")["components"].clone();
        components[2]["text"] = json!(format!("Reply STOP to opt out ({n})"));
        json!({"components": components})
    };
    // A new time-to-live is not new content: no review, and no edit counted.
    let ttl = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{id}"),
            &app.api_key,
            Some(&json!({"message_send_ttl_seconds": 600})),
        )
        .await;
    assert_eq!(
        (ttl.status, ttl.body["status"].as_str()),
        (200, Some("APPROVED")),
        "{}",
        ttl.body
    );
    assert_eq!(ttl.body["message_send_ttl_seconds"], 600);
    let day = 25 * 3600;
    for n in 0..10 {
        clock.advance_ms(day * 1000);
        app.sim.advance_clock(day);
        let e = app
            .call(
                Method::PATCH,
                &format!("/v1/templates/{id}"),
                &app.api_key,
                Some(&edit(n)),
            )
            .await;
        assert_eq!(e.status, 200, "edit {n}: {}", e.body);
        wait_template_status(&app, &id, "APPROVED").await;
    }
    clock.advance_ms(day * 1000);
    app.sim.advance_clock(day);
    let meta_edits_before = app
        .sim
        .template(r.body["meta_template_id"].as_str().unwrap())
        .unwrap()
        .components;
    let e = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{id}"),
            &app.api_key,
            Some(&edit(10)),
        )
        .await;
    assert_eq!(e.status, 400, "{}", e.body);
    assert!(
        e.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10 times per 30 days"),
        "{}",
        e.body
    );
    let on_meta = app
        .sim
        .template(r.body["meta_template_id"].as_str().unwrap())
        .unwrap()
        .components;
    assert_eq!(
        on_meta, meta_edits_before,
        "the gateway refused before Meta"
    );
    // Once the oldest edit is 30 days old, one more goes.
    clock.advance_ms(30 * 24 * 3600 * 1000 - 10 * day * 1000);
    app.sim.advance_clock(30 * 24 * 3600 - 10 * day);
    let e = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{id}"),
            &app.api_key,
            Some(&edit(10)),
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
}

async fn a_waba_holds_at_most_250_templates(b: Backend) {
    let app = spawn_app(b).await;
    let now = chrono::Utc::now().timestamp_millis();
    for i in 0..249 {
        app.store
            .create_template(&openbsp_store::NewTemplate {
                tenant_id: app.tenant_id.clone(),
                waba_id: WABA.into(),
                name: format!("bulk_{i}"),
                language: "en_US".into(),
                category: "UTILITY".into(),
                parameter_format: "POSITIONAL".into(),
                components: json!([{"type": "BODY", "text": "Hello there."}]),
                status: "APPROVED".into(),
                meta_template_id: None,
                message_send_ttl_seconds: None,
                at: now,
            })
            .await
            .unwrap();
    }
    let on_meta = app.sim.templates(WABA).len();
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(shipping("the_250th", "en_US")),
        )
        .await;
    assert_eq!(r.status, 201, "the 250th fits: {}", r.body);
    let r = app
        .post(GRAPH, &app.api_key, &shipping("the_251st", "en_US"))
        .await;
    assert_eq!(
        (
            r.body["error"]["code"].as_i64(),
            r.body["error"]["error_subcode"].as_i64()
        ),
        (Some(100), Some(2388019)),
        "{}",
        r.body
    );
    assert_eq!(
        app.sim.templates(WABA).len(),
        on_meta + 1,
        "only the 250th reached Meta"
    );
    // Deleting one makes room again.
    let d = app
        .call(
            Method::DELETE,
            &format!("{GRAPH}?name=the_250th"),
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(d.body, json!({"success": true}));
    let r = app
        .post(GRAPH, &app.api_key, &shipping("the_251st", "en_US"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn an_approval_that_overtakes_metas_answer_is_kept(b: Backend) {
    let app = spawn_app(b).await;
    // Meta reviews at once: its webhook may reach the gateway before its answer to the
    // creation does. Either way the template is created, approved, with its definition.
    app.sim
        .set_template_review(TemplateReview {
            delay_ms: 0,
            rules: vec![],
        })
        .unwrap();
    for i in 0..15 {
        let name = format!("fast_review_{i}");
        let r = app
            .post(
                "/v1/templates",
                &app.api_key,
                &with_channel(shipping(&name, "en_US")),
            )
            .await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        wait_template_status(&app, &id, "APPROVED").await;
        let t = app
            .get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body;
        assert_eq!(
            t["components"][1]["text"], "Hi {{1}}, your order {{2}} is ready now.",
            "{t}"
        );
        assert_eq!(t["category"], "UTILITY", "{t}");
    }
}
