//! Sessions: every inbound kind, number changes, marketing preferences, free entry points,
//! pricing by window and template category, and Meta's policies around mark-as-read.

mod common;

use common::*;
use openbsp_simulator::{
    Enforcement, InboundRequest, PreferenceValue, SimulatorHandle, TemplateSeed,
    UserPreferenceRequest,
};
use openbsp_wire::template::Category;
use openbsp_wire::webhook::{Envelope, InboundKind, InteractiveReply};
use serde_json::{Value, json};

const ANA: &str = "16505551234";
const BOB: &str = "16505557777";

fn from(user: &str, message: Value) -> InboundRequest {
    InboundRequest {
        phone_number_id: PNID.into(),
        from: Some(user.into()),
        name: Some("Ana".into()),
        message,
        ..Default::default()
    }
}

fn template_to(to: &str, name: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}},
    })
}

/// The WABA's templates these tests send: `summer_sale` (marketing), `order_update`
/// (utility) and `login_code` (authentication), all approved, in en_US.
fn seed_templates(sim: &SimulatorHandle) {
    for (name, category, body) in [
        (
            "summer_sale",
            Category::Marketing,
            "Our summer sale is on: everything at half price!",
        ),
        (
            "order_update",
            Category::Utility,
            "Your order has shipped and arrives tomorrow.",
        ),
    ] {
        sim.seed_template(TemplateSeed::text(WABA, name, "en_US", category, body))
            .unwrap();
    }
    sim.seed_template(TemplateSeed::new(
        WABA,
        json!({"name": "login_code", "language": "en_US", "category": "AUTHENTICATION", "components": [
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy Code"}]},
        ]}),
    ))
    .unwrap();
}

/// A one-time passcode send of `login_code`.
fn login_code_to(to: &str, code: &str) -> Value {
    let mut v = template_to(to, "login_code");
    v["template"]["components"] = json!([
        {"type": "body", "parameters": [{"type": "text", "text": code}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]},
    ]);
    v
}

/// Sends `body`, expects 200, returns the wamid.
async fn accepted(sim: &SimulatorHandle, body: &Value) -> String {
    let (status, v) = send(sim, Some(TOKEN), body).await;
    assert_eq!(status, 200, "{v}");
    v["messages"][0]["id"].as_str().unwrap().to_string()
}

/// The statuses of `wamid` once `n` have arrived.
async fn statuses_of(rx: &Receiver, wamid: &str, n: usize) -> Vec<Value> {
    let of = || -> Vec<Value> {
        rx.statuses()
            .into_iter()
            .filter(|s| s["id"] == wamid)
            .collect()
    };
    wait_for(&format!("{n} statuses of {wamid}"), 10, || of().len() >= n).await;
    of()
}

fn status_named<'a>(all: &'a [Value], kind: &str) -> &'a Value {
    all.iter()
        .find(|s| s["status"] == kind)
        .unwrap_or_else(|| panic!("no {kind} status in {all:?}"))
}

/// The `messages` values of inbound webhooks received, in arrival order.
fn inbound_values(rx: &Receiver) -> Vec<Value> {
    rx.accepted()
        .into_iter()
        .map(|h| h.json["entry"][0]["changes"][0].clone())
        .filter(|c| c["field"] == "messages" && c["value"].get("messages").is_some())
        .map(|c| c["value"].clone())
        .collect()
}

#[tokio::test]
async fn every_inbound_kind_reaches_the_gateway_as_meta_sends_it() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let kinds: Vec<(Value, InboundKind)> = vec![
        (
            json!({"type": "text", "text": {"body": "hi"}, "context": {"from": DISPLAY, "id": "wamid.Q"}}),
            InboundKind::Text,
        ),
        (
            json!({"type": "image", "image": {"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=", "caption": "Taj Mahal"}}),
            InboundKind::Image,
        ),
        (
            json!({"type": "audio", "audio": {"id": "2", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
            InboundKind::Audio { voice: true },
        ),
        (
            json!({"type": "sticker", "sticker": {"id": "3", "mime_type": "image/webp", "animated": false}}),
            InboundKind::Sticker,
        ),
        (
            json!({"type": "interactive", "interactive": {"button_reply": {"id": "yes", "title": "Yes"}}}),
            InboundKind::Interactive(InteractiveReply::ButtonReply),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{\"a\":1}", "body": "Sent", "name": "flow"}}}),
            InboundKind::Interactive(InteractiveReply::NfmReply),
        ),
        (
            json!({"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}}),
            InboundKind::Button,
        ),
        (
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}}),
            InboundKind::Reaction,
        ),
        (
            json!({"type": "location", "location": {"latitude": 37.44, "longitude": -122.16, "name": "Philz Coffee"}}),
            InboundKind::Location,
        ),
        (
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Lucía Gómez"}}]}),
            InboundKind::Contacts,
        ),
        (
            json!({"type": "order", "order": {"catalog_id": "1", "product_items": [{"product_retailer_id": "sku", "quantity": 2}]}}),
            InboundKind::Order,
        ),
        (json!({"type": "unsupported"}), InboundKind::Unsupported),
        (
            json!({"type": "system", "system": {"body": "User Ana changed from 16505551234 to 12195555358", "type": "user_changed_number", "wa_id": "12195555358"}}),
            InboundKind::System,
        ),
    ];
    let n = kinds.len();
    let mut wamids = Vec::new();
    for (message, _) in &kinds {
        wamids.push(
            sim.inject_inbound(from(ANA, message.clone()))
                .await
                .unwrap(),
        );
    }
    wait_for("every inbound webhook", 10, || rx.accepted().len() == n).await;
    assert!(rx.accepted().iter().all(|h| h.signature_ok));
    let values = inbound_values(&rx);
    for ((_, kind), wamid) in kinds.iter().zip(&wamids) {
        let value = values
            .iter()
            .find(|v| v["messages"][0]["id"] == wamid.as_str())
            .unwrap_or_else(|| panic!("no webhook for {kind:?}"));
        // What the gateway reads.
        let env: Envelope = serde_json::from_value(json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": value}]}],
        }))
        .unwrap();
        let v = env.entry[0].changes[0].messages().unwrap().unwrap();
        let m = &v.messages[0];
        assert_eq!(&m.inbound_kind(), kind);
        assert_eq!(m.from.as_deref(), Some(ANA));
        match kind {
            InboundKind::System => {
                assert!(
                    v.contacts.is_empty(),
                    "system messages come without contacts"
                );
                assert_eq!(m.system_change(), Some("12195555358"));
            }
            _ => assert_eq!(v.contacts[0].wa_id.as_deref(), Some(ANA)),
        }
        match kind {
            InboundKind::Unsupported => {
                assert_eq!(m.errors()[0]["code"], 131051);
                assert_eq!(m.errors()[0]["title"], "Message type unknown");
            }
            InboundKind::Reaction => assert_eq!(m.reaction(), Some(("wamid.X", None))),
            InboundKind::Interactive(InteractiveReply::ButtonReply) => {
                assert_eq!(m.rest["interactive"]["type"], "button_reply");
                assert_eq!(m.preview_text(), "Yes");
            }
            InboundKind::Text => assert_eq!(m.context_id(), Some("wamid.Q")),
            _ => {}
        }
    }
    // A bad kind is refused before anything is sent.
    let bad = sim
        .inject_inbound(from(ANA, json!({"type": "image", "image": {"id": "1"}})))
        .await;
    assert!(
        matches!(bad, Err(openbsp_simulator::InboundError::Invalid { ref field, .. }) if field == "message.image.mime_type"),
        "{bad:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_user_who_changes_number_is_the_same_user_at_the_new_one() {
    let (sim, rx) = setup(fast_config(), 0).await;
    sim.set_enforcement(Enforcement {
        customer_service_window: true,
        ..Enforcement::default()
    });
    const NEW: &str = "12195555358";
    sim.inject_inbound(from(ANA, json!({"type": "text", "text": {"body": "hi"}})))
        .await
        .unwrap();
    sim.inject_inbound(from(
        ANA,
        json!({"type": "system", "system": {"body": "User Ana changed from 16505551234 to 12195555358", "type": "user_changed_number", "wa_id": NEW}}),
    ))
    .await
    .unwrap();

    // The window the user opened from the old number is open at the new one.
    let to_new = accepted(&sim, &text_to(NEW, "still there?")).await;
    let s = statuses_of(&rx, &to_new, 3).await;
    assert!(s.iter().all(|s| s["status"] != "failed"), "{s:?}");
    assert_eq!(status_named(&s, "sent")["recipient_id"], NEW);

    // The old number is gone.
    let to_old = accepted(&sim, &text_to(ANA, "hello?")).await;
    let s = statuses_of(&rx, &to_old, 1).await;
    assert_eq!(s[0]["status"], "failed");
    assert_eq!(s[0]["errors"][0]["code"], 131026);
    let (_, user) = get_json(&format!(
        "{}/_simulator/users?phone_number_id={PNID}&user=%2B{ANA}",
        sim.url()
    ))
    .await;
    assert_eq!(user["changed_number_to"], NEW);
    assert_eq!(user["service_window_open"], false);

    // Someone writes from the old number again: a new owner, reachable again.
    sim.inject_inbound(from(
        ANA,
        json!({"type": "text", "text": {"body": "new phone, who dis"}}),
    ))
    .await
    .unwrap();
    let again = accepted(&sim, &text_to(ANA, "welcome")).await;
    let s = statuses_of(&rx, &again, 3).await;
    assert!(s.iter().all(|s| s["status"] != "failed"), "{s:?}");
    sim.shutdown().await;
}

async fn get_json(url: &str) -> (u16, Value) {
    let resp = client().get(url).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let resp = client().post(url).json(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn marketing_stop_and_resume_are_delivered_and_enforced() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed_templates(&sim);
    let base = format!("{}/_simulator", sim.url());

    let (status, v) = post_json(
        &format!("{base}/user-preferences"),
        &json!({"phone_number_id": PNID, "wa_id": ANA, "user_id": "US.13491208655302741918", "name": "Ana", "value": "stop"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let ts = v["timestamp"].as_i64().unwrap();
    wait_for("the user_preferences webhook", 10, || {
        rx.accepted().len() == 1
    })
    .await;
    let hit = &rx.accepted()[0];
    assert!(hit.signature_ok);
    let env: Envelope = serde_json::from_slice(&hit.raw).unwrap();
    assert_eq!(env.entry[0].id, WABA);
    let change = &env.entry[0].changes[0];
    assert_eq!(change.field, "user_preferences");
    let prefs = change.user_preferences().unwrap().unwrap();
    assert_eq!(prefs.metadata.phone_number_id, PNID);
    assert_eq!(prefs.contacts[0].wa_id.as_deref(), Some(ANA));
    assert_eq!(
        prefs.contacts[0].profile.as_ref().unwrap().name.as_deref(),
        Some("Ana")
    );
    let p = &prefs.user_preferences[0];
    assert_eq!(p.marketing_opt_out(), Some(true));
    assert_eq!(p.user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(
        p.detail.as_deref(),
        Some("User requested to stop marketing messages")
    );
    assert_eq!(p.timestamp, ts);
    assert!(
        hit.json["entry"][0]["changes"][0]["value"]["user_preferences"][0]["timestamp"].is_i64()
    );

    // Marketing templates fail with 131050, to the number and to the BSUID; utility ones go.
    let promo = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    let s = statuses_of(&rx, &promo, 1).await;
    assert_eq!(
        (s[0]["status"].as_str(), s[0]["errors"][0]["code"].as_i64()),
        (Some("failed"), Some(131050))
    );
    let mut by_bsuid = template_to(ANA, "summer_sale");
    by_bsuid.as_object_mut().unwrap().remove("to");
    by_bsuid["recipient"] = json!("US.13491208655302741918");
    let promo = accepted(&sim, &by_bsuid).await;
    assert_eq!(
        statuses_of(&rx, &promo, 1).await[0]["errors"][0]["code"],
        131050
    );
    let (status, v) = post_json(
        &format!("{base}/template-categories"),
        &json!({"name": "order_update", "category": "utility"}),
    )
    .await;
    assert_eq!(
        (status, &v["data"]),
        (
            200,
            &json!([{"name": "order_update", "category": "utility"}])
        )
    );
    let update = accepted(&sim, &template_to(ANA, "order_update")).await;
    let s = statuses_of(&rx, &update, 3).await;
    assert_eq!(
        status_named(&s, "sent")["pricing"],
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"})
    );

    // Resumed: marketing goes again.
    sim.deliver_user_preference(UserPreferenceRequest::marketing(PNID, ANA, false))
        .await
        .unwrap();
    let promo = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    let s = statuses_of(&rx, &promo, 3).await;
    assert_eq!(status_named(&s, "sent")["pricing"]["category"], "marketing");
    let resumed = rx
        .accepted()
        .into_iter()
        .filter(|h| h.json["entry"][0]["changes"][0]["field"] == "user_preferences")
        .nth(1)
        .unwrap();
    assert_eq!(
        resumed.json["entry"][0]["changes"][0]["value"]["user_preferences"][0]["value"],
        "resume"
    );

    // Bad requests name the field.
    let (status, v) = post_json(
        &format!("{base}/user-preferences"),
        &json!({"phone_number_id": PNID, "wa_id": ANA, "value": "pause"}),
    )
    .await;
    assert_eq!((status, v["error"]["field"].as_str()), (400, Some("value")));
    let (status, _) = post_json(
        &format!("{base}/user-preferences"),
        &json!({"phone_number_id": "nope", "wa_id": ANA, "value": "stop"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, v) = post_json(
        &format!("{base}/template-categories"),
        &json!({"name": "x", "category": "promo"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let bad = sim
        .deliver_user_preference(UserPreferenceRequest {
            value: PreferenceValue::Other("later".into()),
            ..UserPreferenceRequest::marketing(PNID, ANA, true)
        })
        .await;
    assert!(bad.is_err());
    sim.shutdown().await;
}

fn from_ad(user: &str) -> InboundRequest {
    from(
        user,
        json!({
            "type": "text",
            "text": {"body": "Hello! Can I get more info on this?"},
            "referral": {"source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120226305854810726", "source_type": "ad", "headline": "Chat with us", "ctwa_clid": "Aff-n8ZT"},
        }),
    )
}

#[tokio::test]
async fn answering_a_user_from_an_ad_opens_a_free_entry_point_window() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed_templates(&sim);
    sim.inject_inbound(from_ad(ANA)).await.unwrap();
    sim.advance_clock(3600);
    assert!(
        sim.entry_point_window(PNID, ANA).is_none(),
        "opened by the answer, not the ad"
    );

    let first = accepted(&sim, &text_to(ANA, "Sure! What would you like to know?")).await;
    let w = sim.entry_point_window(PNID, ANA).expect("a window");
    assert_eq!(w.expires_at_ms - w.opened_at_ms, 72 * 3600 * 1000);
    let free = json!({"billable": false, "pricing_model": "PMP", "type": "free_entry_point", "category": "referral_conversion"});
    let s = statuses_of(&rx, &first, 3).await;
    let sent = status_named(&s, "sent");
    assert_eq!(sent["pricing"], free);
    assert_eq!(
        sent["conversation"],
        json!({"id": w.conversation_id, "expiration_timestamp": (w.expires_at_ms / 1000).to_string(), "origin": {"type": "referral_conversion"}})
    );
    let delivered = status_named(&s, "delivered");
    assert_eq!(delivered["pricing"], free);
    assert_eq!(
        delivered["conversation"],
        json!({"id": w.conversation_id, "origin": {"type": "referral_conversion"}}),
        "expiration_timestamp only on sent"
    );
    let read = status_named(&s, "read");
    assert!(read.get("pricing").is_none() && read.get("conversation").is_none());

    // Two days later the service window is closed, the entry point still open: a template
    // is free, in the same conversation.
    sim.advance_clock(48 * 3600);
    let later = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    let s = statuses_of(&rx, &later, 2).await;
    assert_eq!(status_named(&s, "sent")["pricing"], free);
    assert_eq!(
        status_named(&s, "sent")["conversation"]["id"],
        w.conversation_id.as_str()
    );

    // Past 72 hours: charged again, no conversation.
    sim.advance_clock(24 * 3600);
    let charged = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    let s = statuses_of(&rx, &charged, 2).await;
    assert_eq!(
        status_named(&s, "sent")["pricing"],
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"})
    );
    assert!(status_named(&s, "sent").get("conversation").is_none());

    // An ad answered more than 24 hours later opens nothing.
    const BEA: &str = "5511987654321";
    sim.inject_inbound(from_ad(BEA)).await.unwrap();
    sim.advance_clock(24 * 3600 + 1);
    let late = accepted(&sim, &template_to(BEA, "summer_sale")).await;
    let s = statuses_of(&rx, &late, 2).await;
    assert_eq!(status_named(&s, "sent")["pricing"]["type"], "regular");
    assert!(sim.entry_point_window(PNID, BEA).is_none());

    // A message without a referral after the ad: the user's last message decides.
    const CAL: &str = "447911123456";
    sim.inject_inbound(from_ad(CAL)).await.unwrap();
    sim.inject_inbound(from(CAL, json!({"type": "text", "text": {"body": "also"}})))
        .await
        .unwrap();
    let plain = accepted(&sim, &text_to(CAL, "hi")).await;
    let s = statuses_of(&rx, &plain, 2).await;
    assert_eq!(
        status_named(&s, "sent")["pricing"]["type"],
        "free_customer_service"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pricing_follows_the_window_and_the_template_category() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed_templates(&sim);
    sim.inject_inbound(from(ANA, json!({"type": "text", "text": {"body": "hi"}})))
        .await
        .unwrap();
    let pricing = |kind: &str, category: &str| json!({"billable": kind == "regular", "pricing_model": "PMP", "type": kind, "category": category});
    let cases_in_window = [
        (
            text_to(ANA, "hello"),
            pricing("free_customer_service", "service"),
        ),
        (
            template_to(ANA, "order_update"),
            pricing("free_customer_service", "utility"),
        ),
        (
            template_to(ANA, "summer_sale"),
            pricing("regular", "marketing"),
        ),
        (
            login_code_to(ANA, "123456"),
            pricing("regular", "authentication"),
        ),
    ];
    for (body, want) in cases_in_window {
        let wamid = accepted(&sim, &body).await;
        let s = statuses_of(&rx, &wamid, 2).await;
        assert_eq!(status_named(&s, "sent")["pricing"], want, "{body}");
        assert_eq!(status_named(&s, "delivered")["pricing"], want, "{body}");
        assert!(status_named(&s, "sent").get("conversation").is_none());
    }
    sim.advance_clock(24 * 3600 + 1);
    let wamid = accepted(&sim, &template_to(ANA, "order_update")).await;
    let s = statuses_of(&rx, &wamid, 2).await;
    assert_eq!(
        status_named(&s, "sent")["pricing"],
        pricing("regular", "utility")
    );
    sim.shutdown().await;
}

fn read_of(wamid: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}})
}

#[tokio::test]
async fn the_24_hour_window_applies_to_messages_not_to_mark_as_read() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed_templates(&sim);
    sim.set_enforcement(Enforcement {
        customer_service_window: true,
        ..Enforcement::default()
    });
    let wamid = sim
        .inject_inbound(from(ANA, json!({"type": "text", "text": {"body": "hi"}})))
        .await
        .unwrap();
    let inside = accepted(&sim, &text_to(ANA, "inside")).await;
    assert!(
        statuses_of(&rx, &inside, 3)
            .await
            .iter()
            .all(|s| s["status"] != "failed")
    );

    sim.advance_clock(24 * 3600 + 1);
    let outside = accepted(&sim, &text_to(ANA, "outside")).await;
    let s = statuses_of(&rx, &outside, 1).await;
    assert_eq!(
        (s[0]["status"].as_str(), s[0]["errors"][0]["code"].as_i64()),
        (Some("failed"), Some(131047))
    );
    // Templates may open a conversation outside the window.
    let template = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    let s = statuses_of(&rx, &template, 3).await;
    assert!(s.iter().all(|s| s["status"] != "failed"), "{s:?}");
    // Mark-as-read is no message: the window does not apply.
    let (status, v) = send(&sim, Some(TOKEN), &read_of(&wamid)).await;
    assert_eq!((status, v), (200, json!({"success": true})));
    assert!(sim.inbound(PNID)[0].typing_indicator);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_pair_rate_limit_counts_messages_not_mark_as_read() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    sim.set_enforcement(Enforcement {
        pair_rate_limit: true,
        ..Enforcement::default()
    });
    let wamid = sim
        .inject_inbound(from(ANA, json!({"type": "text", "text": {"body": "hi"}})))
        .await
        .unwrap();
    for _ in 0..50 {
        let (status, _) = send(&sim, Some(TOKEN), &read_of(&wamid)).await;
        assert_eq!(status, 200);
    }
    // The whole burst of 45 is still there after 50 mark-as-reads.
    let mut codes = Vec::new();
    for i in 0..46 {
        let (status, v) = send(&sim, Some(TOKEN), &text_to(ANA, &format!("{i}"))).await;
        codes.push((status, v["error"]["code"].as_i64()));
    }
    assert!(codes[..45].iter().all(|c| c.0 == 200), "{codes:?}");
    assert_eq!(codes[45], (400, Some(131056)));
    // Another user is not limited, and mark-as-read still works for the limited one.
    assert_eq!(
        send(&sim, Some(TOKEN), &text_to("447911123456", "x"))
            .await
            .0,
        200
    );
    let (status, v) = send(&sim, Some(TOKEN), &read_of(&wamid)).await;
    assert_eq!((status, v), (200, json!({"success": true})));
    sim.shutdown().await;
}

#[tokio::test]
async fn numbers_without_plus_get_the_business_country_code() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    // The business number, 15550783881, is in the US.
    for (to, wa_id) in [
        ("(650) 555-1234", "16505551234"),
        ("1 650 555 1234", "16505551234"),
        ("16505551234", "16505551234"),
        ("+44 7911 123456", "447911123456"),
        ("011 44 7911 123456", "447911123456"),
        ("447911123456", "447911123456"),
    ] {
        let (status, v) = send(&sim, Some(TOKEN), &text_to(to, "x")).await;
        assert_eq!(status, 200, "{to}: {v}");
        assert_eq!(
            v["contacts"][0],
            json!({"input": to, "wa_id": wa_id}),
            "{to}"
        );
    }
    let (status, v) = send(&sim, Some(TOKEN), &text_to("+999 1234 5678", "x")).await;
    assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(131009)));
    // The business itself is the sender, however written. (Written nationally it is not
    // rewritten: 555 numbers are fictional, so no valid national number.)
    let (status, v) = send(&sim, Some(TOKEN), &text_to("+1 (555) 078-3881", "x")).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(131021)),
        "{v}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_marketing_cap_fails_what_a_user_gets_past_it_for_a_day() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed_templates(&sim);
    sim.set_enforcement(Enforcement {
        marketing_cap: 2,
        ..Enforcement::default()
    });
    let failed = |s: &[Value]| {
        s.iter()
            .find(|s| s["status"] == "failed")
            .and_then(|s| s["errors"][0]["code"].as_i64())
    };
    // Two marketing templates reach the user; the third fails with 131049.
    for _ in 0..2 {
        let w = accepted(&sim, &template_to(ANA, "summer_sale")).await;
        assert_eq!(failed(&statuses_of(&rx, &w, 3).await), None);
    }
    let third = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    assert_eq!(failed(&statuses_of(&rx, &third, 1).await), Some(131049));
    // Another user is not capped; a day later this one is not either.
    let other = accepted(&sim, &template_to(BOB, "summer_sale")).await;
    assert_eq!(failed(&statuses_of(&rx, &other, 3).await), None);
    sim.advance_clock(24 * 3600 + 1);
    let later = accepted(&sim, &template_to(ANA, "summer_sale")).await;
    assert_eq!(failed(&statuses_of(&rx, &later, 3).await), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_paced_template_holds_its_sends_until_meta_decides() {
    let (sim, rx) = setup(fast_config(), 0).await;
    seed_templates(&sim);
    let id = sim
        .templates(WABA)
        .into_iter()
        .find(|t| t.name == "summer_sale")
        .unwrap()
        .id;
    sim.pace_template(&id).unwrap();
    let (status, v) = send(&sim, Some(TOKEN), &template_to(ANA, "summer_sale")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["messages"][0]["message_status"],
        "held_for_quality_assessment"
    );
    let held = v["messages"][0]["id"].as_str().unwrap().to_string();
    // Other templates are not paced.
    let (_, other) = send(&sim, Some(TOKEN), &template_to(ANA, "order_update")).await;
    assert_eq!(other["messages"][0].get("message_status"), None);
    // Nothing about the held send until Meta decides (a wait: statuses come 10-30 ms after a
    // send here, and their absence has no event to wait on); then it is delivered.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(statuses_of(&rx, &held, 0).await.is_empty());
    assert_eq!(
        sim.end_pacing(&id, openbsp_simulator::PacingOutcome::Release)
            .unwrap(),
        1
    );
    let s = statuses_of(&rx, &held, 2).await;
    assert!(s.iter().any(|s| s["status"] == "delivered"), "{s:?}");
    // Paced again and paused: the template is PAUSED, the held send fails with 132015.
    sim.pace_template(&id).unwrap();
    let (_, v) = send(&sim, Some(TOKEN), &template_to(BOB, "summer_sale")).await;
    let held = v["messages"][0]["id"].as_str().unwrap().to_string();
    sim.end_pacing(&id, openbsp_simulator::PacingOutcome::Pause)
        .unwrap();
    let s = statuses_of(&rx, &held, 1).await;
    assert_eq!(
        (s[0]["status"].as_str(), s[0]["errors"][0]["code"].as_i64()),
        (Some("failed"), Some(132015))
    );
    assert_eq!(sim.template(&id).unwrap().status.as_str(), "PAUSED");
    sim.shutdown().await;
}
