//! Meta's own examples through a running gateway, on both backends. The wire crate's
//! conformance tests (`crates/wire/tests/meta_examples.rs`, `meta_webhook_examples.rs`) say
//! each example parses; these say nothing is lost, misfiled, stored twice or sent wrong on
//! the way through: every `sendMessage` request example of Meta's OpenAPI description on the
//! Cloud API surface and natively, and every `/whatsapp/webhooks` example (with the
//! hand-written `user_preferences` ones) into the store, under the right contact and session.

mod common;

use std::collections::BTreeMap;

use common::*;
use openbsp_server::core::admin::{self as provision, ChannelInput};
use openbsp_simulator::PhoneNumberConfig;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    every_send_example_goes_through_the_gateway => crate::every_send_example_goes_through_the_gateway,
    every_webhook_example_is_stored_and_filed => crate::every_webhook_example_is_stored_and_filed,
}

const SEND_EXAMPLES: &str = include_str!("../../wire/tests/fixtures/meta_send_examples.json");
const WEBHOOK_EXAMPLES: &str = include_str!("../../wire/tests/fixtures/meta_webhook_examples.json");
const USER_PREFERENCES: &str =
    include_str!("../../wire/tests/fixtures/user_preferences_examples.json");

/// A fixture's examples by name (in name order).
fn examples(fixture: &str) -> Vec<(String, Value)> {
    let v: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    v["examples"]
        .as_object()
        .expect("examples")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How many messages the tenant has stored.
async fn stored(app: &TestApp) -> i64 {
    app.store.count_messages(&app.tenant_id).await.unwrap()
}

// --- sends ------------------------------------------------------------------------------------

/// A BSUID for examples that name their recipient in `recipient`.
const BSUID: &str = "US.13491208655302741918";

/// The send examples Meta itself would refuse, with the HTTP status and Meta code the wire
/// conformance test expects, and why (the same list as there).
fn refused(name: &str) -> Option<(u16, i64, &'static str)> {
    match name {
        n if n.ends_with("by URL") => Some((
            400,
            100,
            "its link is a placeholder, `<http(s)://…-url>`, not a URL",
        )),
        "Send Multi-Product Message" => Some((
            400,
            100,
            "its header type is a placeholder, `<HEADER_TYPE>`",
        )),
        "Send Reply to List Message" => Some((
            400,
            131008,
            "it omits `type: interactive`, so it is read as a text, which it lacks",
        )),
        "Send Flow Template Message"
        | "Send Message Template Interactive"
        | "Send Message Template Media"
        | "Send Message Template Text"
        | "Send Sample Shipping Confirmation Template"
        | "Send Sample Text Message" => Some((
            404,
            132001,
            "its template is a placeholder (`template-name`, `<TEMPLATE_NAME>`), which no WABA has",
        )),
        _ => None,
    }
}

/// The templates Meta's examples send that a WABA can have, approved on the simulator (Meta
/// gives every WABA `hello_world`): their definitions fit the examples' parameters.
fn seed_example_templates(app: &TestApp) {
    for request in [
        json!({"name": "intro_catalog_offer", "language": "en_US", "category": "MARKETING",
            "components": [
                {"type": "BODY", "text": "Now shop for your favourite products right here on WhatsApp! Get Rs {{1}} off on all orders above {{2}}Rs! Valid for your first {{3}} orders placed on WhatsApp!",
                 "example": {"body_text": [["100", "400", "3"]]}},
                {"type": "FOOTER", "text": "Best grocery deals on WhatsApp!"},
                {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "View catalog"}]}]}),
        json!({"name": "sample_issue_resolution", "language": "en_US", "category": "UTILITY",
            "components": [
                {"type": "BODY", "text": "Hi {{1}}, were we able to solve the issue that you were facing?",
                 "example": {"body_text": [["Mr. Jones"]]}},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes"}, {"type": "QUICK_REPLY", "text": "No"}]}]}),
    ] {
        app.sim
            .seed_template(openbsp_simulator::TemplateSeed::new("900100", request))
            .expect("the simulator takes the template");
    }
}

/// The example addressed to the test users: `to` becomes [`USER`], `recipient` the
/// [`BSUID`], a mark-as-read's `message_id` a real inbound wamid. Everything else is kept as
/// Meta wrote it.
fn addressed(example: &Value, inbound_wamid: &str) -> Value {
    let mut body = example.clone();
    if body.get("to").is_some() {
        body["to"] = json!(USER);
    }
    if body.get("recipient").is_some() {
        body["recipient"] = json!(BSUID);
    }
    if body["status"] == "read" {
        body["message_id"] = json!(inbound_wamid);
    }
    body
}

/// `body` with each media it names by id (Meta's placeholders, `<IMAGE_OBJECT_ID>`) replaced
/// by a media the simulator (Meta) holds for the number, as a business's upload would be.
fn with_meta_media(app: &TestApp, body: Value) -> Value {
    let mut body = body;
    for r in openbsp_wire::media::media_refs(&body.clone()) {
        let mime = match r.kind {
            openbsp_wire::media::MediaKind::Audio => "audio/ogg",
            openbsp_wire::media::MediaKind::Document => "application/pdf",
            openbsp_wire::media::MediaKind::Image => "image/jpeg",
            openbsp_wire::media::MediaKind::Sticker => "image/webp",
            openbsp_wire::media::MediaKind::Video => "video/mp4",
        };
        let m = app
            .sim
            .add_media(openbsp_simulator::NewMedia {
                phone_number_id: PNID.into(),
                mime_type: mime.into(),
                content: openbsp_simulator::MediaContent::Bytes(bytes::Bytes::from_static(b"x")),
                filename: None,
                origin: openbsp_simulator::MediaOrigin::Upload,
            })
            .unwrap();
        *body.pointer_mut(&r.pointer).unwrap() = json!(m.id);
    }
    body
}

/// The same request on the native surface.
fn native(body: &Value) -> Value {
    let mut n = body.clone();
    n["channel"] = json!(PNID);
    n
}

/// Meta's type of a send body: `type`, or `text` when it is left out (as Meta reads it).
fn type_of(body: &Value) -> &str {
    body["type"].as_str().unwrap_or("text")
}

/// What Meta (the simulator) got for a send matches the example: its type, the type's object
/// exactly as written, its reply context, and the recipient.
fn check_reached_meta(name: &str, body: &Value, got: &Value) {
    let ty = type_of(body);
    assert_eq!(got["type"], ty, "{name}: {got}");
    assert_eq!(
        got[ty], body[ty],
        "{name}: the {ty} object reaches Meta as written"
    );
    assert_eq!(
        got["context"]["message_id"], body["context"]["message_id"],
        "{name}: the reply context is passed through"
    );
    if body.get("to").is_some() {
        assert_eq!(got["to"], USER, "{name}");
    } else {
        assert_eq!(got["recipient"], BSUID, "{name}");
    }
}

async fn every_send_example_goes_through_the_gateway(b: Backend) {
    let app = spawn_app(b).await;
    // The recipients write first, so free-form messages are inside their windows; the user's
    // message is also the one the mark-as-read example marks.
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    let inbound_wamid = inbound["wamid"].as_str().unwrap().to_string();
    let bsuid_wamid = app
        .sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from_user_id: Some(BSUID.into()),
            name: Some("Hidden".into()),
            message: json!({"type": "text", "text": {"body": "hi"}}),
            ..Default::default()
        })
        .await
        .expect("simulator accepts the inbound message");
    wait_until("the BSUID user's message is stored", || async {
        app.get(&format!("/v1/messages/{bsuid_wamid}"), &app.api_key)
            .await
            .status
            == 200
    })
    .await;
    let before_all = stored(&app).await;
    assert_eq!(before_all, 2);
    seed_example_templates(&app);

    let all = examples(SEND_EXAMPLES);
    assert_eq!(all.len(), 50, "the fixture holds Meta's 50 send examples");
    let path = format!("/v23.0/{PNID}/messages");
    let mut accepted: Vec<(String, Value)> = Vec::new();
    let mut reads: Vec<String> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    for (name, example) in &all {
        let body = with_meta_media(&app, addressed(example, &inbound_wamid));
        let (stored_before, sent_before) = (stored(&app).await, app.sim.received(PNID).len());
        let r = app.post(&path, &app.api_key, &body).await;

        if let Some((status, code, why)) = refused(name) {
            assert_eq!(
                (r.status, r.body["error"]["code"].as_i64()),
                (status, Some(code)),
                "{name} ({why}): {}",
                r.body
            );
            assert!(r.body["error"]["fbtrace_id"].is_string(), "{name}");
            // The native surface refuses it the same way, with Meta's code beside its own.
            let n = app.post("/v1/messages", &app.api_key, &native(&body)).await;
            assert_eq!(
                (n.status, n.body["error"]["meta_code"].as_i64()),
                (status, Some(code)),
                "{name} natively: {}",
                n.body
            );
            assert_eq!(stored(&app).await, stored_before, "{name}: nothing stored");
            assert_eq!(
                app.sim.received(PNID).len(),
                sent_before,
                "{name}: nothing sent"
            );
            refusals.push(name.clone());
            continue;
        }

        assert_eq!(r.status, 200, "{name}: {}", r.body);
        if body["status"] == "read" {
            assert_eq!(r.body, json!({"success": true}), "{name}");
            let rec = app
                .sim
                .inbound(PNID)
                .into_iter()
                .find(|m| m.wamid == inbound_wamid)
                .expect("the user's message is known to Meta");
            assert!(rec.read_at_ms.is_some(), "{name}: Meta marked it read");
            assert_eq!(
                rec.typing_indicator,
                body.get("typing_indicator").is_some(),
                "{name}"
            );
            assert_eq!(stored(&app).await, stored_before, "{name}: not a message");
            reads.push(name.clone());
            accepted.push((name.clone(), body));
            continue;
        }
        // Meta's answer: who it went to, and Meta's wamid.
        assert_eq!(
            r.body["messaging_product"], "whatsapp",
            "{name}: {}",
            r.body
        );
        let contact = &r.body["contacts"][0];
        if body.get("to").is_some() {
            assert_eq!(contact["input"], USER, "{name}: {}", r.body);
            assert_eq!(contact["wa_id"], USER, "{name}: {}", r.body);
        } else {
            assert_eq!(contact["input"], BSUID, "{name}: {}", r.body);
            assert_eq!(contact["user_id"], BSUID, "{name}: {}", r.body);
        }
        let wamid = r.body["messages"][0]["id"].as_str().unwrap_or_default();
        assert!(wamid.starts_with("wamid."), "{name}: {}", r.body);
        let got = app
            .sim
            .received(PNID)
            .into_iter()
            .find(|m| m.wamid == wamid)
            .unwrap_or_else(|| panic!("{name}: Meta never got {wamid}"));
        check_reached_meta(name, &body, &got.body);
        // Stored once, under Meta's wamid, with its type.
        assert_eq!(stored(&app).await, stored_before + 1, "{name}");
        let m = app
            .get(&format!("/v1/messages/{wamid}"), &app.api_key)
            .await;
        assert_eq!(m.status, 200, "{name}: {}", m.body);
        assert_eq!(m.body["type"], type_of(&body), "{name}: {}", m.body);
        assert_eq!(m.body["direction"], "outbound", "{name}");
        accepted.push((name.clone(), body));
    }

    let messages = accepted.len() - reads.len();
    assert_eq!(
        (messages, reads.len(), refusals.len()),
        (31, 1, 18),
        "31 messages and 1 mark-as-read accepted, 18 placeholders refused:\nrefused: {refusals:?}"
    );
    assert_eq!(reads, ["Send typing indicator and read receipt"]);
    assert_eq!(app.sim.received(PNID).len(), messages, "Meta got each once");
    let recipient_examples = accepted
        .iter()
        .filter(|(_, b)| b.get("recipient").is_some())
        .count();
    assert_eq!(recipient_examples, 0, "no example of Meta's names a BSUID");

    // Every accepted example again, natively: queued at once, then sent as written.
    let mut queued = Vec::new();
    for (name, body) in &accepted {
        let r = app.post("/v1/messages", &app.api_key, &native(body)).await;
        if body["status"] == "read" {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(r.body["success"], true, "{name}: {}", r.body);
            assert_eq!(r.body["message_id"], inbound_wamid.as_str(), "{name}");
            continue;
        }
        assert_eq!(r.status, 202, "{name} natively: {}", r.body);
        assert_eq!(r.body["status"], "queued", "{name}: {}", r.body);
        assert_eq!(r.body["type"], type_of(body), "{name}: {}", r.body);
        queued.push((name, body, r.body["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(queued.len(), 31);
    for (name, body, id) in &queued {
        let m = app.wait_status(id, "sent").await;
        let wamid = m["wamid"].as_str().unwrap();
        let got = app
            .sim
            .received(PNID)
            .into_iter()
            .find(|r| r.wamid == wamid)
            .unwrap_or_else(|| panic!("{name}: Meta never got {wamid}"));
        assert_eq!(got.body["biz_opaque_callback_data"], id.as_str(), "{name}");
        check_reached_meta(name, body, &got.body);
    }
    assert_eq!(app.sim.received(PNID).len(), 2 * messages);
    assert_eq!(stored(&app).await, before_all + 2 * messages as i64);
}

// --- webhooks ---------------------------------------------------------------------------------

/// The business number of Meta's webhook examples.
const EX_PNID: &str = "106540352242922";
/// The WABA most of them (and the user_preferences examples) carry; routing is by number.
const EX_WABA: &str = "102290129340398";
const EX_DISPLAY: &str = "15550783881";
/// The user of the examples, and the number the system example moves them to.
const SHEENA: &str = "16505551234";
const SHEENA_NEW: &str = "12195555358";

/// A second channel on the same app (so the same secret signs) for the examples' number,
/// known to the simulator too so the gateway can send on it.
async fn add_example_channel(app: &TestApp) {
    let now = chrono::Utc::now().timestamp_millis();
    provision::add_channel(
        app.store.as_ref(),
        &app.key,
        ChannelInput {
            tenant_id: app.tenant_id.clone(),
            app_id: app.channel.app_id.clone(),
            phone_number_id: EX_PNID.into(),
            waba_id: EX_WABA.into(),
            display_phone_number: EX_DISPLAY.into(),
            access_token: ACCESS_TOKEN.into(),
            graph_base_url: Some(app.sim.url()),
            graph_version: None,
            throughput_mps: Some(80),
            messaging_tier: None,
            business_id: None,
        },
        now,
    )
    .await
    .expect("the examples' number is provisioned");
    app.sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: EX_PNID.into(),
        display_phone_number: EX_DISPLAY.into(),
        waba_id: EX_WABA.into(),
        access_token: ACCESS_TOKEN.into(),
        app_secret: APP_SECRET.into(),
        webhook_url: Some(app.url("/webhooks/whatsapp")),
        throughput_mps: Some(80),
    });
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            EX_WABA,
            json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Your order has been updated."}]}),
        ))
        .expect("the simulator takes the template");
}

/// Waits until every stored webhook payload has been applied.
async fn settle(app: &TestApp) {
    wait_until("every webhook payload applied", || async {
        app.store.unprocessed_inbox(1).await.unwrap().is_empty()
    })
    .await;
}

/// Posts `body` signed like Meta, twice (Meta redelivers), and waits until both are applied.
async fn deliver_twice(app: &TestApp, name: &str, body: &Value) {
    let raw = body.to_string();
    for _ in 0..2 {
        assert_eq!(
            app.post_webhook(&raw, Some(APP_SECRET)).await,
            200,
            "{name}"
        );
    }
    settle(app).await;
}

fn field_of(example: &Value) -> &str {
    example["entry"][0]["changes"][0]["field"]
        .as_str()
        .unwrap_or_default()
}

fn message_of(example: &Value) -> &Value {
    &example["entry"][0]["changes"][0]["value"]["messages"][0]
}

fn message_of_mut(example: &mut Value) -> &mut Value {
    &mut example["entry"][0]["changes"][0]["value"]["messages"][0]
}

/// Meta's time of a message (Unix seconds as a string) as the gateway shows times.
fn meta_time(m: &Value) -> String {
    let secs: i64 = m["timestamp"].as_str().unwrap().parse().unwrap();
    openbsp_domain::clock::rfc3339(secs * 1000)
}

/// Checks a stored inbound message against the example it came from; returns it.
async fn check_stored(app: &TestApp, name: &str, example: &Value) -> Value {
    let m = message_of(example);
    let wamid = m["id"].as_str().unwrap();
    let r = app
        .get(&format!("/v1/messages/{wamid}"), &app.api_key)
        .await;
    assert_eq!(r.status, 200, "{name}: {wamid} is stored: {}", r.body);
    let s = r.body;
    assert_eq!(s["wamid"], wamid, "{name}");
    assert_eq!(s["type"], m["type"], "{name}: {s}");
    assert_eq!(s["direction"], "inbound", "{name}: {s}");
    assert_eq!(s["status"], "received", "{name}: {s}");
    assert_eq!(s["from"], m["from"], "{name}: {s}");
    assert_eq!(
        s["created_at"],
        meta_time(m),
        "{name}: Meta's time is the message's"
    );
    let ty = m["type"].as_str().unwrap();
    // A media is named by the gateway's id too, beside Meta's (the fetcher stores it there).
    let mut content = s["content"].clone();
    if let Some(media) = content
        .get_mut(ty)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove("media_id"))
    {
        assert!(media.as_str().unwrap().starts_with("med_"), "{name}: {s}");
        assert!(
            m[ty]["id"].is_string(),
            "{name}: only media Meta names get one"
        );
    }
    assert_eq!(content[ty], m[ty], "{name}: the {ty} object is kept");
    assert_eq!(&content, m, "{name}: the whole payload is kept");
    assert!(s["contact_id"].is_string(), "{name}: {s}");
    s
}

async fn every_webhook_example_is_stored_and_filed(b: Backend) {
    let app = spawn_app(b).await;
    add_example_channel(&app).await;

    let all = examples(WEBHOOK_EXAMPLES);
    assert_eq!(
        all.len(),
        16,
        "the fixture holds Meta's 16 webhook examples"
    );
    for (name, ex) in &all {
        assert_eq!(
            ex["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"], EX_PNID,
            "{name}"
        );
    }
    let text_example = all
        .iter()
        .find(|(n, _)| n == "Text Message")
        .map(|(_, e)| e.clone())
        .unwrap();
    let system_example = all
        .iter()
        .find(|(n, _)| n == "System Message")
        .map(|(_, e)| e.clone())
        .unwrap();

    // Every example but the number change (which comes last, so the others find the user at
    // their number), in the fixture's order, each delivered twice.
    let mut first_of_wamid: BTreeMap<String, (String, Value)> = BTreeMap::new();
    let mut contact_id: Option<String> = None;
    let (mut stored_examples, mut renamed, mut groups) = (0, Vec::new(), Vec::new());
    for (i, (name, example)) in all.iter().enumerate() {
        if name == "System Message" {
            continue;
        }
        let before = stored(&app).await;
        if field_of(example) != "messages" {
            // Group fields: nothing the gateway applies, no message; and what comes next is
            // still processed.
            assert!(field_of(example).starts_with("group_"), "{name}");
            deliver_twice(&app, name, example).await;
            assert_eq!(stored(&app).await, before, "{name}: stores no message");
            let mut next = text_example.clone();
            let m = message_of_mut(&mut next);
            m["id"] = json!(format!("wamid.after-group-{i}"));
            m["text"]["body"] = json!(format!("still there after {name}?"));
            deliver_twice(&app, "a text after a group example", &next).await;
            assert_eq!(stored(&app).await, before + 1, "the text after {name}");
            check_stored(&app, &format!("the text after {name}"), &next).await;
            groups.push(name.clone());
            continue;
        }

        let mut example = example.clone();
        let wamid = message_of(&example)["id"].as_str().unwrap().to_string();
        if let Some((first, first_example)) = first_of_wamid.get(&wamid) {
            // Meta's examples reuse one wamid for different messages. A wamid names one
            // message, so the gateway takes this for a redelivery of the first: nothing new
            // is stored and the first is left as it was.
            deliver_twice(&app, name, &example).await;
            assert_eq!(stored(&app).await, before, "{name}: {wamid} is {first}'s");
            check_stored(&app, first, first_example).await;
            // With a wamid of its own it is a message like the others.
            message_of_mut(&mut example)["id"] = json!(format!("{wamid}-{i}"));
            renamed.push(name.clone());
        } else {
            first_of_wamid.insert(wamid, (name.clone(), example.clone()));
        }
        deliver_twice(&app, name, &example).await;
        assert_eq!(stored(&app).await, before + 1, "{name}: stored once");
        let s = check_stored(&app, name, &example).await;
        stored_examples += 1;

        // Filed under the example's user, one contact for all of them, in a session.
        let cid = s["contact_id"].as_str().unwrap().to_string();
        assert_eq!(
            *contact_id.get_or_insert_with(|| cid.clone()),
            cid,
            "{name}: every example is the same user's"
        );
        let c = app
            .get(&format!("/v1/contacts/{cid}"), &app.api_key)
            .await
            .body;
        let profile = &example["entry"][0]["changes"][0]["value"]["contacts"][0];
        assert_eq!(c["wa_id"], profile["wa_id"], "{name}: {c}");
        assert_eq!(c["name"], profile["profile"]["name"], "{name}: {c}");
        let sid = s["session_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: a user message is in a session: {s}"));
        let listed = app
            .get(&format!("/v1/messages?session={sid}"), &app.api_key)
            .await
            .body;
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"] == s["id"]),
            "{name}: listed in its session: {listed}"
        );

        // What each kind is about.
        let m = message_of(&example);
        match m["context"]["id"].as_str() {
            // A reply to a message the gateway does not know keeps Meta's wamid.
            Some(ctx) => assert_eq!(s["context"], json!({"message_id": ctx}), "{name}"),
            None => assert_eq!(s["context"], Value::Null, "{name}"),
        }
        match name.as_str() {
            "Unsupported Message" => {
                assert_eq!(s["error"], m["errors"], "{name}: Meta's error is kept");
                assert_eq!(s["error"][0]["code"], 131051, "{name}");
            }
            // Meta's examples name media the simulator (Meta) does not hold: its download
            // ends in Meta's 131052, recorded on the message, once the fetcher has tried.
            _ if s["content"][s["type"].as_str().unwrap()]["media_id"].is_string() => assert!(
                s["error"].is_null() || s["error"][0]["code"] == 131052,
                "{name}: {s}"
            ),
            _ => assert_eq!(s["error"], Value::Null, "{name}: {s}"),
        }
        if name == "Reaction Message" {
            assert_eq!(s["type"], "reaction");
            assert_eq!(s["content"]["reaction"]["emoji"], "\u{1F44D}");
        }
        if name == "Contact Sharing Message" {
            // A shared contact card is content, not a contact of the business.
            assert_eq!(
                app.get("/v1/contacts/19835552319", &app.api_key)
                    .await
                    .status,
                404
            );
        }
        let window = c["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["phone_number_id"] == EX_PNID)
            .unwrap_or_else(|| panic!("{name}: a window on the examples' number: {c}"))
            .clone();
        if name == "Text Message from Click to WhatsApp Ad" {
            // A reply to an ad is an entry point: the free entry point bookkeeping starts.
            assert_eq!(
                window["free_entry_point"]["entry_point_at"],
                meta_time(m),
                "{name}: {c}"
            );
        }
    }
    assert_eq!(
        (stored_examples, renamed.len(), groups.len()),
        (12, 3, 3),
        "12 messages examples stored (3 after a wamid of their own), 3 group examples; \
         renamed: {renamed:?}"
    );
    let sheena = contact_id.expect("the examples' user is a contact");
    assert_eq!(
        app.get(&format!("/v1/contacts/{SHEENA}"), &app.api_key)
            .await
            .body["id"],
        sheena.as_str()
    );

    // Marketing preferences: stop, then resume.
    let prefs = examples(USER_PREFERENCES);
    assert_eq!(prefs.len(), 2);
    let pref = |n: &str| prefs.iter().find(|(x, _)| x == n).unwrap().1.clone();
    let before = stored(&app).await;
    deliver_twice(&app, "stop", &pref("Marketing messages stopped")).await;
    let c = app
        .get(&format!("/v1/contacts/{SHEENA}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["id"], sheena.as_str(), "{c}");
    assert_eq!(c["marketing_opt_out"]["opted_out"], true, "{c}");
    assert_eq!(c["marketing_opt_out"]["source"], "user_preferences", "{c}");
    assert_eq!(
        c["marketing_opt_out"]["since"],
        openbsp_domain::clock::rfc3339(1731705721 * 1000),
        "{c}"
    );
    deliver_twice(&app, "resume", &pref("Marketing messages resumed")).await;
    let c = app
        .get(&format!("/v1/contacts/{SHEENA}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["marketing_opt_out"]["opted_out"], false, "{c}");
    assert_eq!(stored(&app).await, before, "preferences are not messages");

    // The number change, after the user's other examples. Meta's timestamps are from 2025,
    // so every session of the user's has lapsed; once the closer has closed them, the notice
    // (which opens no window or session, and joins an open one) is in none.
    wait_until("the user's lapsed sessions are closed", || async {
        app.get(
            &format!("/v1/sessions?contact={sheena}&status=open"),
            &app.api_key,
        )
        .await
        .body["data"]
            .as_array()
            .is_some_and(|d| d.is_empty())
    })
    .await;
    let before = stored(&app).await;
    deliver_twice(&app, "System Message", &system_example).await;
    assert_eq!(
        stored(&app).await,
        before + 1,
        "System Message: stored once"
    );
    let s = check_stored(&app, "System Message", &system_example).await;
    assert_eq!(s["contact_id"], sheena.as_str(), "{s}");
    assert_eq!(s["session_id"], Value::Null, "no open session to join: {s}");
    assert_eq!(s["context"], Value::Null);
    assert_eq!(
        app.get(&format!("/v1/contacts/{SHEENA}"), &app.api_key)
            .await
            .status,
        404,
        "the old number is nobody's now"
    );
    let c = app
        .get(&format!("/v1/contacts/{SHEENA_NEW}"), &app.api_key)
        .await
        .body;
    assert_eq!(c["id"], sheena.as_str(), "{c}");
    assert_eq!(c["wa_id"], SHEENA_NEW, "{c}");
    assert_eq!(c["name"], "Sheena Nelson", "{c}");
    assert!(
        c["previous_wa_ids"]
            .as_array()
            .is_some_and(|p| p.contains(&json!(SHEENA))),
        "{c}"
    );

    // A reply to a message the gateway sent itself names the gateway's own message: the
    // gateway sends a template to the user's new number, the user replies to it.
    let sent = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": EX_PNID, "to": SHEENA_NEW, "type": "template",
                    "template": {"name": "order_update", "language": {"code": "en_US"}}}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let ours = sent.body["id"].as_str().unwrap().to_string();
    let ours_sent = app.wait_status(&ours, "sent").await;
    assert_eq!(ours_sent["contact_id"], sheena.as_str(), "{ours_sent}");
    let ours_wamid = ours_sent["wamid"].as_str().unwrap().to_string();
    // A template opens a session whatever the window.
    let session = ours_sent["session_id"].as_str().unwrap().to_string();
    settle(&app).await;
    let (_, button) = all.iter().find(|(n, _)| n == "Button Message").unwrap();
    let mut reply = button.clone();
    let value = &mut reply["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = json!(SHEENA_NEW);
    let m = &mut value["messages"][0];
    m["from"] = json!(SHEENA_NEW);
    m["id"] = json!("wamid.reply-to-the-gateways-own");
    m["context"]["id"] = json!(ours_wamid);
    m["timestamp"] = json!(chrono::Utc::now().timestamp().to_string());
    let before = stored(&app).await;
    deliver_twice(&app, "a reply to the gateway's message", &reply).await;
    assert_eq!(stored(&app).await, before + 1);
    let s = check_stored(&app, "a reply to the gateway's message", &reply).await;
    assert_eq!(
        s["context"],
        json!({"message_id": ours}),
        "the context resolves to the gateway's id"
    );
    assert_eq!(s["content"]["context"]["id"], ours_wamid.as_str());
    assert_eq!(
        s["contact_id"],
        sheena.as_str(),
        "the same user at the new number"
    );
    assert_eq!(
        s["session_id"],
        session.as_str(),
        "the reply joins the template's session"
    );

    // Nothing else was stored: the examples, the texts after the group examples, the
    // gateway's own template and the reply to it.
    assert_eq!(stored(&app).await, 12 + 3 + 1 + 1 + 1);
}
