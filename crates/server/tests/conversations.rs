//! WhatsApp's conversational model over HTTP, on both backends: the customer service window
//! at its boundary (with a moved clock), templates outside it, opt-outs, the free entry point
//! window, contacts and their windows, sessions and their closer, Session Start, and
//! mark-as-read with the typing indicator.

mod common;

use common::*;
use openbsp_domain::Clock;
use openbsp_domain::windows::{CSW_MS, FEP_MS};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    the_window_is_open_until_24_hours_and_refused_before_meta_after => crate::the_window_is_open_until_24_hours_and_refused_before_meta_after,
    templates_go_out_of_the_window_and_open_a_session => crate::templates_go_out_of_the_window_and_open_a_session,
    opt_outs_stop_marketing_templates_before_meta => crate::opt_outs_stop_marketing_templates_before_meta,
    a_reply_to_an_ad_opens_the_free_entry_point_window => crate::a_reply_to_an_ad_opens_the_free_entry_point_window,
    contacts_show_their_windows_and_take_attributes => crate::contacts_show_their_windows_and_take_attributes,
    sessions_open_on_inbound_hold_every_message_and_close => crate::sessions_open_on_inbound_hold_every_message_and_close,
    the_closer_closes_sessions_when_their_window_lapses => crate::the_closer_closes_sessions_when_their_window_lapses,
    session_start_opens_a_conversation_in_one_call => crate::session_start_opens_a_conversation_in_one_call,
    session_start_refuses_free_form_outside_the_window_and_creates_nothing => crate::session_start_refuses_free_form_outside_the_window_and_creates_nothing,
    mark_as_read_and_typing_reach_meta => crate::mark_as_read_and_typing_reach_meta,
    bsuid_users_are_contacts_and_merge_with_their_number => crate::bsuid_users_are_contacts_and_merge_with_their_number,
    a_changed_number_moves_the_contact => crate::a_changed_number_moves_the_contact,
    a_notice_after_the_window_lapsed_joins_no_session => crate::a_notice_after_the_window_lapsed_joins_no_session,
}

const SECOND: i64 = 1_000;

fn text(body: &str) -> Value {
    json!({"type": "text", "text": {"body": body}})
}

fn graph_path() -> String {
    format!("/v23.0/{PNID}/messages")
}

fn template_body(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": "order_update", "language": {"code": "en_US"}}})
}

async fn the_window_is_open_until_24_hours_and_refused_before_meta_after(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    // Meta's timestamps have whole seconds.
    let t0 = clock.now_ms() / 1000 * 1000;
    clock.set_ms(t0);
    app.inbound_at(USER, text("hello"), t0).await;

    // One second before the 24 hours: open, on both surfaces.
    clock.set_ms(t0 + CSW_MS - SECOND);
    let r = app.send_text(USER, "just in time").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let g = app
        .post(
            &graph_path(),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "also in time"}}),
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.body);
    wait_until("both sends reach Meta", || async {
        app.sim.received(PNID).len() == 2
    })
    .await;

    // At 24 hours: closed. Refused before Meta is called, with Meta's code.
    clock.set_ms(t0 + CSW_MS);
    let before = app.store.count_messages(&app.tenant_id).await.unwrap();
    let r = app.send_text(USER, "too late").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "window_closed");
    assert_eq!(r.body["error"]["meta_code"], 131047);
    let g = app
        .post(
            &graph_path(),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "too late"}}),
        )
        .await;
    assert_eq!(g.status, 400, "{}", g.body);
    assert_eq!(g.body["error"]["code"], 131047);
    assert!(g.body["error"]["fbtrace_id"].is_string());
    // Reactions and media are free-form too.
    let r = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": PNID, "to": USER, "type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
        )
        .await;
    assert_eq!(r.body["error"]["code"], "window_closed");
    assert_eq!(
        app.store.count_messages(&app.tenant_id).await.unwrap(),
        before,
        "refused sends store nothing"
    );
    // Nothing of them was queued, so once the two accepted sends have left the outbox, Meta
    // has seen everything it ever will.
    wait_until("the outbox drains", || async {
        app.store.outbox_depth().await.unwrap() == 0
    })
    .await;
    assert_eq!(app.sim.received(PNID).len(), 2, "Meta was never called");

    // A new message from the user opens it again.
    app.inbound_at(USER, text("me again"), t0 + CSW_MS + 60 * SECOND)
        .await;
    clock.set_ms(t0 + CSW_MS + 61 * SECOND);
    assert_eq!(app.send_text(USER, "welcome back").await.status, 202);

    // A user who never wrote has no window.
    let r = app.send_text("15559990000", "cold").await;
    assert_eq!(r.body["error"]["code"], "window_closed");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("never written"),
        "{}",
        r.body
    );
}

async fn templates_go_out_of_the_window_and_open_a_session(b: Backend) {
    let app = spawn_app(b).await;
    let cold = "15559990001";
    let r = app
        .post(&graph_path(), &app.api_key, &template_body(cold))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let wamid = r.body["messages"][0]["id"].as_str().unwrap().to_string();
    let m = app
        .get(&format!("/v1/messages/{wamid}"), &app.api_key)
        .await
        .body;
    let session_id = m["session_id"]
        .as_str()
        .expect("every message has a session");
    let s = app
        .get(&format!("/v1/sessions/{session_id}"), &app.api_key)
        .await
        .body;
    assert_eq!(s["status"], "open");
    assert_eq!(s["opened_by"], "message");
    assert_eq!(s["contact_id"], m["contact_id"]);
    // Its kind is the template's category, which the gateway looked up on Meta before the
    // first send of a template it did not know.
    assert_eq!(s["kind"], "utility");
    // Free-form to that user is still refused: a template does not open the window.
    let r = app.send_text(cold, "hi").await;
    assert_eq!(r.body["error"]["code"], "window_closed");

    // Meta re-categorises the template (`template_category_update`): the next session is of
    // the new kind at once.
    let recategorised = json!({"object": "whatsapp_business_account", "entry": [{"id": "900100", "time": 1731705722, "changes": [{"field": "template_category_update", "value": {
        "message_template_id": 1234567, "message_template_name": "order_update",
        "message_template_language": "en_US", "previous_category": "UTILITY", "new_category": "MARKETING"
    }}]}]});
    assert_eq!(
        app.post_webhook(&recategorised.to_string(), Some(APP_SECRET))
            .await,
        200
    );
    wait_until("the new category is known", || async {
        app.store
            .find_template(&app.tenant_id, "900100", "order_update", "en_US")
            .await
            .unwrap()
            .is_some_and(|t| t.category.as_deref() == Some("MARKETING"))
    })
    .await;
    let r = app
        .post(&graph_path(), &app.api_key, &template_body("15559990007"))
        .await;
    let wamid = r.body["messages"][0]["id"].as_str().unwrap().to_string();
    let m = app
        .get(&format!("/v1/messages/{wamid}"), &app.api_key)
        .await
        .body;
    let s = app
        .get(
            &format!("/v1/sessions/{}", m["session_id"].as_str().unwrap()),
            &app.api_key,
        )
        .await
        .body;
    assert_eq!(s["kind"], "marketing");
}

/// A `user_preferences` webhook for the test channel.
fn preferences(wa_id: &str, value: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900100", "changes": [{"field": "user_preferences", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
        "contacts": [{"wa_id": wa_id, "profile": {"name": "Pat"}}],
        "user_preferences": [{"wa_id": wa_id, "detail": "User requested to stop marketing messages", "category": "marketing_messages", "value": value, "timestamp": 1731705721}]
    }}]}]})
    .to_string()
}

/// A `message_template_status_update` webhook telling the template's category.
fn template_approved(name: &str, category: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900100", "time": 1731705721, "changes": [{"field": "message_template_status_update", "value": {
        "event": "APPROVED", "message_template_id": 1234567, "message_template_name": name,
        "message_template_language": "en_US", "message_template_category": category, "reason": "NONE"
    }}]}]})
    .to_string()
}

async fn opt_outs_stop_marketing_templates_before_meta(b: Backend) {
    let app = spawn_app(b).await;
    let (pat, sam) = ("15559990002", "15559990003");
    assert_eq!(
        app.post_webhook(
            &template_approved("spring_sale", "MARKETING"),
            Some(APP_SECRET)
        )
        .await,
        200
    );
    assert_eq!(
        app.post_webhook(
            &template_approved("order_update", "UTILITY"),
            Some(APP_SECRET)
        )
        .await,
        200
    );
    // Pat opts out through Meta's webhook, before ever being a contact.
    assert_eq!(
        app.post_webhook(&preferences(pat, "stop"), Some(APP_SECRET))
            .await,
        200
    );
    wait_until("the opt-out is recorded", || async {
        app.get(&format!("/v1/contacts/{pat}"), &app.api_key)
            .await
            .body["marketing_opt_out"]["opted_out"]
            == true
    })
    .await;
    let c = app
        .get(&format!("/v1/contacts/{pat}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["marketing_opt_out"]["source"], "user_preferences");

    let marketing = |to: &str| {
        json!({"messaging_product": "whatsapp", "to": to, "type": "template",
               "template": {"name": "spring_sale", "language": {"code": "en_US"}}})
    };
    let g = app.post(&graph_path(), &app.api_key, &marketing(pat)).await;
    assert_eq!(g.status, 400, "{}", g.body);
    assert_eq!(g.body["error"]["code"], 131050);
    let mut native = marketing(pat);
    native["channel"] = json!(PNID);
    let r = app.post("/v1/messages", &app.api_key, &native).await;
    assert_eq!(r.body["error"]["code"], "opted_out");
    assert_eq!(r.body["error"]["meta_code"], 131050);
    // Utility templates still go, and nothing marketing reached Meta.
    let u = app
        .post(&graph_path(), &app.api_key, &template_body(pat))
        .await;
    assert_eq!(u.status, 200, "{}", u.body);
    assert_eq!(app.sim.received(PNID).len(), 1);

    // Sam opts out with the STOP keyword, then back in with START.
    app.user_writes(sam, "Sam", "  stop ").await;
    let c = app
        .get(&format!("/v1/contacts/{sam}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["marketing_opt_out"]["source"], "keyword", "{c}");
    let g = app.post(&graph_path(), &app.api_key, &marketing(sam)).await;
    assert_eq!(g.body["error"]["code"], 131050);
    app.user_writes(sam, "Sam", "START").await;
    let g = app.post(&graph_path(), &app.api_key, &marketing(sam)).await;
    assert_eq!(g.status, 200, "{}", g.body);

    // Meta's `resume` clears Pat's opt-out.
    app.post_webhook(&preferences(pat, "resume"), Some(APP_SECRET))
        .await;
    wait_until("the opt-in is recorded", || async {
        app.get(&format!("/v1/contacts/{pat}"), &app.api_key)
            .await
            .body["marketing_opt_out"]["opted_out"]
            == false
    })
    .await;
}

async fn a_reply_to_an_ad_opens_the_free_entry_point_window(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let t0 = clock.now_ms() / 1000 * 1000;
    clock.set_ms(t0);
    let mut m = text("Can I get more info on this?");
    m["referral"] = json!({"source_url": "https://fb.me/x", "source_id": "1202", "source_type": "ad",
        "body": "Summer Succulents", "headline": "Chat with us", "media_type": "image",
        "image_url": "https://example.com/i.png", "ctwa_clid": "Aff-n8Z"});
    let inbound = app.inbound_at(USER, m, t0).await;
    let contact_id = inbound["contact_id"].as_str().unwrap().to_string();
    let c = app
        .get(&format!("/v1/contacts/{contact_id}"), &app.api_key)
        .await
        .body;
    let w = &c["windows"][0];
    assert_eq!(w["free_entry_point"]["open"], false, "{c}");
    assert!(w["free_entry_point"]["entry_point_at"].is_string());

    // The business replies 23 hours later: 72 hours free from the reply.
    let reply_at = t0 + 23 * 3_600_000;
    clock.set_ms(reply_at);
    let r = app.send_text(USER, "Here you go").await;
    assert_eq!(r.status, 202, "{}", r.body);
    let c = app
        .get(&format!("/v1/contacts/{contact_id}"), &app.api_key)
        .await
        .body;
    let fep = &c["windows"][0]["free_entry_point"];
    assert_eq!(fep["open"], true, "{c}");
    assert_eq!(
        fep["expires_at"],
        openbsp_domain::clock::rfc3339(reply_at + FEP_MS)
    );
    // A second reply does not move it.
    clock.set_ms(reply_at + 1_800_000);
    assert_eq!(app.send_text(USER, "Anything else?").await.status, 202);
    let c = app
        .get(&format!("/v1/contacts/{contact_id}"), &app.api_key)
        .await
        .body;
    assert_eq!(
        c["windows"][0]["free_entry_point"]["expires_at"],
        openbsp_domain::clock::rfc3339(reply_at + FEP_MS)
    );
    // It closes at 72 hours.
    clock.set_ms(reply_at + FEP_MS);
    let c = app
        .get(&format!("/v1/contacts/{contact_id}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["windows"][0]["free_entry_point"]["open"], false);
}

async fn contacts_show_their_windows_and_take_attributes(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let t0 = clock.now_ms() / 1000 * 1000;
    clock.set_ms(t0);
    let inbound = app.inbound_at(USER, text("hi"), t0).await;
    let id = inbound["contact_id"].as_str().unwrap().to_string();
    let c = app
        .get(&format!("/v1/contacts/{id}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["wa_id"], USER);
    assert_eq!(c["name"], "Test User");
    let csw = &c["windows"][0]["customer_service"];
    assert_eq!(csw["open"], true, "{c}");
    assert_eq!(
        csw["expires_at"],
        openbsp_domain::clock::rfc3339(t0 + CSW_MS)
    );
    assert_eq!(c["windows"][0]["phone_number_id"], PNID);
    clock.set_ms(t0 + CSW_MS);
    let c = app
        .get(&format!("/v1/contacts/{id}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["windows"][0]["customer_service"]["open"], false);

    // Found by wa_id (any spelling) and by search.
    let by_phone = app
        .get("/v1/contacts/+1%20555%20123%200001", &app.api_key)
        .await;
    assert_eq!(by_phone.body["id"], id.as_str(), "{}", by_phone.body);
    let list = app
        .get(&format!("/v1/contacts?wa_id={USER}"), &app.api_key)
        .await
        .body;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let list = app
        .get("/v1/contacts?name=test%20us", &app.api_key)
        .await
        .body;
    assert_eq!(list["data"][0]["id"], id.as_str());
    // A name search needs a trigram (3 characters): a shorter one is refused, not walked.
    let short = app.get("/v1/contacts?name=us", &app.api_key).await;
    assert_eq!(short.status, 400, "{}", short.body);
    assert_eq!(
        short.body["error"]["code"], "invalid_request",
        "{}",
        short.body
    );
    let none = app
        .get("/v1/contacts?wa_id=15550000000", &app.api_key)
        .await
        .body;
    assert!(none["data"].as_array().unwrap().is_empty());

    // Attributes merge key by key; null removes.
    let patch = |body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            let r = app
                .http
                .patch(app.url(&format!("/v1/contacts/{id}")))
                .bearer_auth(&app.api_key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, c) = patch(json!({"attributes": {"plan": "gold", "city": "Lima"}})).await;
    assert_eq!(s, 200, "{c}");
    let (_, c) = patch(json!({"attributes": {"city": null, "vip": true}, "name": "Ana P."})).await;
    assert_eq!(c["attributes"], json!({"plan": "gold", "vip": true}));
    assert_eq!(c["name"], "Ana P.");
    let (s, c) = patch(json!({"wa_id": "1"})).await;
    assert_eq!(
        (s, c["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (s, c) = patch(json!({"attributes": [1]})).await;
    assert_eq!(s, 400, "{c}");

    // Another tenant sees nothing.
    let now = chrono::Utc::now().timestamp_millis();
    let other = openbsp_server::core::admin::create_tenant(app.store.as_ref(), "Other", now)
        .await
        .unwrap();
    let (_, other_key) = openbsp_server::core::admin::create_api_key(
        app.store.as_ref(),
        Some(&other.id),
        "k",
        false,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        app.get(&format!("/v1/contacts/{id}"), &other_key)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/v1/contacts/{USER}"), &other_key)
            .await
            .status,
        404
    );
    let sid = inbound["session_id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/sessions/{sid}"), &other_key)
            .await
            .status,
        404
    );
    let r = app
        .post(&format!("/v1/sessions/{sid}/close"), &other_key, &json!({}))
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .post(
            &format!("/v1/sessions/{sid}/messages"),
            &other_key,
            &json!({"type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(
        app.get("/v1/sessions", &other_key).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = app
        .http
        .patch(app.url(&format!("/v1/contacts/{id}")))
        .bearer_auth(&other_key)
        .json(&json!({"name": "stolen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let list = app.get("/v1/contacts", &other_key).await.body;
    assert!(list["data"].as_array().unwrap().is_empty());
}

async fn sessions_open_on_inbound_hold_every_message_and_close(b: Backend) {
    let app = spawn_app(b).await;
    let first = app.user_writes(USER, "Ana", "hi").await;
    let sid = first["session_id"]
        .as_str()
        .expect("inbound has a session")
        .to_string();
    let second = app.user_writes(USER, "Ana", "are you there?").await;
    assert_eq!(
        second["session_id"],
        sid.as_str(),
        "one open session per contact"
    );
    let s = app
        .get(&format!("/v1/sessions/{sid}"), &app.api_key)
        .await
        .body;
    assert_eq!(s["status"], "open");
    assert_eq!(s["kind"], "service");
    assert_eq!(s["opened_by"], "inbound");

    // A reply inside the session, by the session's route.
    let r = app
        .post(
            &format!("/v1/sessions/{sid}/messages"),
            &app.api_key,
            &json!({"type": "text", "text": {"body": "yes!"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["session_id"], sid.as_str());
    assert_eq!(r.body["to"], USER);
    // And by /v1/messages: the same session.
    let r2 = app.send_text(USER, "how can I help?").await;
    assert_eq!(r2.body["session_id"], sid.as_str());
    app.wait_status(r.body["id"].as_str().unwrap(), "sent")
        .await;

    // The session lists its messages, newest first, paginated.
    let page = app
        .get(&format!("/v1/sessions/{sid}?limit=3"), &app.api_key)
        .await
        .body;
    let msgs = page["messages"]["data"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["id"], r2.body["id"]);
    assert_eq!(page["messages"]["has_more"], true);
    let cursor = page["messages"]["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/sessions/{sid}/messages?limit=3&after={cursor}"),
            &app.api_key,
        )
        .await
        .body;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["id"], first["id"]);

    // A reply must not name a recipient.
    let r = app
        .post(
            &format!("/v1/sessions/{sid}/messages"),
            &app.api_key,
            &json!({"to": "15550000000", "type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Closed on request; replies are refused; the next inbound opens a new session.
    let c = app
        .post(
            &format!("/v1/sessions/{sid}/close"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(c.body["status"], "closed");
    assert_eq!(c.body["close_reason"], "closed");
    let r = app
        .post(
            &format!("/v1/sessions/{sid}/messages"),
            &app.api_key,
            &json!({"type": "text", "text": {"body": "late"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (409, Some("session_closed"))
    );
    let again = app.user_writes(USER, "Ana", "hello again").await;
    let sid2 = again["session_id"].as_str().unwrap();
    assert_ne!(sid2, sid);

    // Listing and filters.
    let open = app.get("/v1/sessions?status=open", &app.api_key).await.body;
    assert_eq!(open["data"].as_array().unwrap().len(), 1);
    assert_eq!(open["data"][0]["id"], sid2);
    let closed = app
        .get("/v1/sessions?status=closed", &app.api_key)
        .await
        .body;
    assert_eq!(closed["data"][0]["id"], sid.as_str());
    let by_contact = app
        .get(&format!("/v1/sessions?contact={USER}"), &app.api_key)
        .await
        .body;
    assert_eq!(by_contact["data"].as_array().unwrap().len(), 2);
    let by_channel = app
        .get(
            &format!("/v1/sessions?channel={PNID}&limit=1"),
            &app.api_key,
        )
        .await
        .body;
    assert_eq!(by_channel["has_more"], true);
    assert_eq!(
        app.get("/v1/sessions?status=maybe", &app.api_key)
            .await
            .status,
        400
    );
    assert_eq!(
        app.get("/v1/sessions/ses_nope", &app.api_key).await.status,
        404
    );
}

async fn the_closer_closes_sessions_when_their_window_lapses(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let t0 = clock.now_ms() / 1000 * 1000;
    clock.set_ms(t0);
    let m = app.inbound_at(USER, text("hi"), t0).await;
    let sid = m["session_id"].as_str().unwrap().to_string();
    // Renewed by the next message.
    app.inbound_at(USER, text("still there?"), t0 + 3_600_000)
        .await;
    let s = app
        .get(&format!("/v1/sessions/{sid}"), &app.api_key)
        .await
        .body;
    assert_eq!(
        s["expires_at"],
        openbsp_domain::clock::rfc3339(t0 + 3_600_000 + CSW_MS)
    );
    clock.set_ms(t0 + 3_600_000 + CSW_MS - SECOND);
    // A closer pass at this time closes nothing.
    let closed = openbsp_server::closer::close_due(&app.gateway.state)
        .await
        .unwrap();
    assert_eq!(closed, 0);
    let stored = app
        .store
        .get_session(&app.tenant_id, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.closed_at, None,
        "open one second before its window lapses"
    );
    clock.set_ms(t0 + 3_600_000 + CSW_MS);
    wait_until("the closer closes the session", || async {
        app.store
            .get_session(&app.tenant_id, &sid)
            .await
            .unwrap()
            .unwrap()
            .closed_at
            .is_some()
    })
    .await;
    let s = app
        .get(&format!("/v1/sessions/{sid}"), &app.api_key)
        .await
        .body;
    assert_eq!(s["close_reason"], "expired");
    assert_eq!(
        s["closed_at"],
        openbsp_domain::clock::rfc3339(t0 + 3_600_000 + CSW_MS)
    );
}

async fn session_start_opens_a_conversation_in_one_call(b: Backend) {
    let app = spawn_app(b).await;
    let body = json!({
        "channel": PNID,
        "contact": {"phone": "+1 (555) 999-0004", "name": "Lucía"},
        "message": {"type": "template", "template": {"name": "order_update", "language": {"code": "es"}}},
    })
    .to_string();
    let r = app
        .post_raw(
            "/v1/sessions",
            &app.api_key,
            body.clone(),
            &[("idempotency-key", "start-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (contact, session, message) = (&r.body["contact"], &r.body["session"], &r.body["message"]);
    assert_eq!(contact["wa_id"], "15559990004");
    assert_eq!(contact["name"], "Lucía");
    assert_eq!(session["status"], "open");
    assert_eq!(session["opened_by"], "session_start");
    assert_eq!(session["reused"], false);
    assert_eq!(message["status"], "queued");
    assert_eq!(message["session_id"], session["id"]);
    assert_eq!(message["contact_id"], contact["id"]);
    app.wait_status(message["id"].as_str().unwrap(), "sent")
        .await;

    // The same key again: the first answer, nothing else.
    let again = app
        .post_raw(
            "/v1/sessions",
            &app.api_key,
            body,
            &[("idempotency-key", "start-1")],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["message"]["id"], message["id"]);
    assert_eq!(again.body["session"]["id"], session["id"]);
    assert_eq!(again.body["contact"]["id"], contact["id"]);
    // The replay stored nothing: one message, already sent, none waiting.
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 1);
    assert_eq!(app.store.outbox_depth().await.unwrap(), 0);
    assert_eq!(app.sim.received(PNID).len(), 1, "sent once");

    // Once the user answers, a start with free-form reuses the open session.
    app.user_writes("15559990004", "Lucía", "¡Hola!").await;
    let r = app
        .post(
            "/v1/sessions",
            &app.api_key,
            &json!({"channel": PNID, "contact": {"wa_id": "15559990004"}, "message": {"type": "text", "text": {"body": "¿En qué te ayudo?"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["session"]["reused"], true);
    assert_eq!(r.body["session"]["id"], session["id"]);
    assert_eq!(
        r.body["contact"]["windows"][0]["customer_service"]["open"],
        true
    );

    // Concurrent starts to a new contact: one opens the session (201, not reused), the
    // others join it (200, reused), all in the one session.
    let body = json!({
        "channel": PNID,
        "contact": {"wa_id": "15559990014"},
        "message": {"type": "template", "template": {"name": "order_update", "language": {"code": "es"}}},
    });
    let answers =
        futures::future::join_all((0..6).map(|_| app.post("/v1/sessions", &app.api_key, &body)))
            .await;
    let mut statuses: Vec<(u16, bool)> = answers
        .iter()
        .map(|r| (r.status, r.body["session"]["reused"].as_bool().unwrap()))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (200, true),
            (200, true),
            (200, true),
            (200, true),
            (200, true),
            (201, false)
        ],
        "{:#?}",
        answers.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|r| r.body["session"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");

    // Bad requests name what is wrong.
    for (bad, what) in [
        (
            json!({"channel": PNID, "message": {"type": "text", "text": {"body": "x"}}}),
            "contact",
        ),
        (
            json!({"channel": PNID, "contact": {"wa_id": "15559990004"}}),
            "message",
        ),
        (
            json!({"channel": PNID, "contact": {"wa_id": "15559990004"}, "message": {"to": "1", "type": "text", "text": {"body": "x"}}}),
            "to",
        ),
        (
            json!({"channel": PNID, "contact": {"user_id": "nope"}, "message": {"type": "text", "text": {"body": "x"}}}),
            "contact",
        ),
        (
            json!({"contact": {"wa_id": "15559990004"}, "message": {"type": "text", "text": {"body": "x"}}}),
            "channel",
        ),
    ] {
        let r = app.post("/v1/sessions", &app.api_key, &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(what),
            "{bad}: {}",
            r.body
        );
    }
    let r = app
        .post(
            "/v1/sessions",
            &app.api_key,
            &json!({"channel": "999", "contact": {"wa_id": "15559990004"}, "message": {"type": "text", "text": {"body": "x"}}}),
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn session_start_refuses_free_form_outside_the_window_and_creates_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post(
            "/v1/sessions",
            &app.api_key,
            &json!({"channel": PNID, "contact": {"wa_id": "15559990005", "name": "Cold"}, "message": {"type": "text", "text": {"body": "hi"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "window_closed");
    assert_eq!(r.body["error"]["meta_code"], 131047);
    assert_eq!(
        app.get("/v1/contacts/15559990005", &app.api_key)
            .await
            .status,
        404
    );
    let sessions = app.get("/v1/sessions", &app.api_key).await.body;
    assert!(sessions["data"].as_array().unwrap().is_empty());
    assert_eq!(app.store.count_messages(&app.tenant_id).await.unwrap(), 0);
}

async fn mark_as_read_and_typing_reach_meta(b: Backend) {
    let app = spawn_app(b).await;
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    let wamid = inbound["wamid"].as_str().unwrap();
    let g = app
        .post(
            &graph_path(),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}}),
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.body);
    assert_eq!(g.body, json!({"success": true}));
    let rec = app
        .sim
        .inbound(PNID)
        .into_iter()
        .find(|r| r.wamid == wamid)
        .unwrap();
    assert!(rec.read_at_ms.is_some() && rec.typing_indicator);

    // Natively, by the gateway's id.
    let second = app.user_writes(USER, "Ana", "hello?").await;
    let r = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": PNID, "status": "read", "message_id": second["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rec = app
        .sim
        .inbound(PNID)
        .into_iter()
        .find(|r| Some(r.wamid.as_str()) == second["wamid"].as_str())
        .unwrap();
    assert!(rec.read_at_ms.is_some() && !rec.typing_indicator);

    // Bad ones are Meta's errors; an outbound message cannot be marked read by its id.
    let g = app
        .post(
            &graph_path(),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "status": "delivered", "message_id": wamid}),
        )
        .await;
    assert_eq!(
        (g.status, g.body["error"]["code"].as_i64()),
        (400, Some(100))
    );
    let sent = app.send_text(USER, "mine").await;
    let r = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": PNID, "status": "read", "message_id": sent.body["id"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A wamid Meta does not know: Meta's own refusal comes back.
    let g = app
        .post(
            &graph_path(),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.unknown"}),
        )
        .await;
    assert_eq!(g.status, 400, "{}", g.body);
}

async fn bsuid_users_are_contacts_and_merge_with_their_number(b: Backend) {
    let app = spawn_app(b).await;
    let bsuid = "US.13491208655302741918";
    let wamid = app
        .sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from_user_id: Some(bsuid.into()),
            name: Some("Hidden".into()),
            message: text("no number here"),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_until("inbound stored", || async {
        app.get(&format!("/v1/messages/{wamid}"), &app.api_key)
            .await
            .status
            == 200
    })
    .await;
    let by_bsuid = app
        .get(&format!("/v1/contacts/{bsuid}"), &app.api_key)
        .await
        .body;
    assert_eq!(by_bsuid["user_id"], bsuid);
    assert_eq!(by_bsuid["wa_id"], Value::Null);
    let hidden_id = by_bsuid["id"].as_str().unwrap().to_string();
    // Replies go to the BSUID, in `recipient`.
    let r = app
        .post(
            &graph_path(),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "recipient": bsuid, "type": "text", "text": {"body": "hi!"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["contacts"][0]["user_id"], bsuid);

    // The same person is also known by number; a webhook carrying both merges them.
    let known = app.user_writes("15559990006", "Known", "by number").await;
    let number_id = known["contact_id"].as_str().unwrap().to_string();
    assert_ne!(number_id, hidden_id);
    let both = envelope(json!({
        "contacts": [{"profile": {"name": "Both"}, "wa_id": "15559990006", "user_id": bsuid}],
        "messages": [{"from": "15559990006", "from_user_id": bsuid, "id": "wamid.both-1", "timestamp": (chrono::Utc::now().timestamp()).to_string(), "type": "text", "text": {"body": "both"}}]
    }));
    assert_eq!(app.post_webhook(&both, Some(APP_SECRET)).await, 200);
    wait_until("merged", || async {
        app.get("/v1/messages/wamid.both-1", &app.api_key)
            .await
            .status
            == 200
    })
    .await;
    let merged = app
        .get(&format!("/v1/contacts/{bsuid}"), &app.api_key)
        .await
        .body;
    assert_eq!(merged["wa_id"], "15559990006");
    assert_eq!(merged["user_id"], bsuid);
    let survivor = merged["id"].as_str().unwrap();
    assert_eq!(survivor, hidden_id.clone().min(number_id.clone()));
    let gone = if survivor == hidden_id {
        &number_id
    } else {
        &hidden_id
    };
    assert_eq!(
        app.get(&format!("/v1/contacts/{gone}"), &app.api_key)
            .await
            .status,
        404
    );
    // Every message of both now belongs to the survivor.
    let first = app
        .get(&format!("/v1/messages/{wamid}"), &app.api_key)
        .await
        .body;
    assert_eq!(first["contact_id"], survivor);
    let open = app
        .get(
            &format!("/v1/sessions?contact={survivor}&status=open"),
            &app.api_key,
        )
        .await
        .body;
    assert_eq!(open["data"].as_array().unwrap().len(), 1, "{open}");
}

async fn a_changed_number_moves_the_contact(b: Backend) {
    let app = spawn_app(b).await;
    let before = app.user_writes("16505551234", "Sheena", "hi").await;
    let id = before["contact_id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    app.inbound_at(
        "16505551234",
        json!({"type": "system", "system": {"body": "User Sheena Nelson changed from 16505551234 to 12195555358", "wa_id": "12195555358", "type": "user_changed_number"}}),
        now,
    )
    .await;
    let c = app
        .get(&format!("/v1/contacts/{id}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["wa_id"], "12195555358", "{c}");
    assert_eq!(c["previous_wa_ids"], json!(["16505551234"]));
    assert_eq!(
        app.get("/v1/contacts/16505551234", &app.api_key)
            .await
            .status,
        404
    );
    // The new number writes: the same contact.
    let after = app.user_writes("12195555358", "Sheena", "new phone").await;
    assert_eq!(after["contact_id"], id.as_str());
}

async fn a_notice_after_the_window_lapsed_joins_no_session(b: Backend) {
    let (app, clock) = spawn_app_clocked(b).await;
    let t0 = clock.now_ms() / 1000 * 1000;
    clock.set_ms(t0 + 3_600_000);
    let first = app.inbound_at(USER, text("hi"), t0).await;
    assert!(first["session_id"].is_string());
    // Meta's notice comes a day later, before the closer (whose clock still says t0 + 1 h)
    // has closed the lapsed session: it must not be filed into it.
    let notice = app
        .inbound_at(
            USER,
            json!({"type": "system", "system": {"body": "changed", "wa_id": "15551230099", "type": "user_changed_number"}}),
            t0 + CSW_MS + 3_600_000,
        )
        .await;
    assert_eq!(notice["session_id"], Value::Null, "{notice}");
    // A notice inside the window joins the open session.
    let again = app
        .inbound_at("15551230099", text("new phone"), t0 + CSW_MS + 7_200_000)
        .await;
    let sid = again["session_id"].clone();
    let inside = app
        .inbound_at(
            "15551230099",
            json!({"type": "system", "system": {"body": "changed back", "wa_id": USER, "type": "user_changed_number"}}),
            t0 + CSW_MS + 7_300_000,
        )
        .await;
    assert_eq!(inside["session_id"], sid);
}
