//! Conformance: every webhook payload example of Meta's OpenAPI description (`POST
//! /whatsapp/webhooks`, extracted by `scripts/extract-meta-examples.py`) parses into the
//! wire crate's envelope, every `messages` change into `MessagesValue`, and the typed helpers
//! read what each example is about. The `user_preferences` examples are hand-written from
//! Meta's documentation (the OpenAPI description has none).

use openbsp_wire::webhook::{
    Envelope, InboundKind, InteractiveReply, PreferenceValue, RoutingKey, routing_key,
};
use serde_json::Value;

const WEBHOOKS: &str = include_str!("fixtures/meta_webhook_examples.json");
const USER_PREFERENCES: &str = include_str!("fixtures/user_preferences_examples.json");

fn examples(fixture: &str) -> Vec<(String, Value)> {
    let v: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    v["examples"]
        .as_object()
        .expect("examples")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What the helpers must say about an example's single change.
#[derive(Debug, Default)]
struct Expect {
    field: &'static str,
    kind: Option<InboundKind>,
    context_id: Option<&'static str>,
    referral: bool,
    reaction: Option<(&'static str, Option<&'static str>)>,
    new_wa_id: Option<&'static str>,
    error_codes: Vec<i64>,
    preview: &'static str,
    has_contacts: bool,
}

fn message(kind: InboundKind, preview: &'static str) -> Expect {
    Expect {
        field: "messages",
        kind: Some(kind),
        preview,
        has_contacts: true,
        ..Expect::default()
    }
}

fn expect(name: &str) -> Option<Expect> {
    Some(match name {
        "Button Message" => Expect {
            context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA"),
            ..message(InboundKind::Button, "Unsubscribe")
        },
        "Contact Sharing Message" => message(InboundKind::Contacts, "[contact] Lucía Gómez"),
        "Image Message" => message(InboundKind::Image, "Taj Mahal"),
        "Interactive Button Reply Message" => Expect {
            context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"),
            ..message(
                InboundKind::Interactive(InteractiveReply::ButtonReply),
                "Cancel",
            )
        },
        "Interactive List Reply Message" => Expect {
            context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA"),
            ..message(
                InboundKind::Interactive(InteractiveReply::ListReply),
                "Priority Mail Express",
            )
        },
        "Location Message" => message(InboundKind::Location, "[location] Philz Coffee"),
        "Order Message" => message(InboundKind::Order, "[order] 2 items"),
        "Reaction Message" => Expect {
            reaction: Some((
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
                Some("\u{1F44D}"),
            )),
            ..message(InboundKind::Reaction, "Reacted \u{1F44D}")
        },
        "System Message" => Expect {
            new_wa_id: Some("12195555358"),
            has_contacts: false,
            ..message(
                InboundKind::System,
                "User Sheena Nelson changed from 16505551234 to 12195555358",
            )
        },
        "Text Message" => message(InboundKind::Text, "Does it come in another color?"),
        "Text Message from Click to WhatsApp Ad" => Expect {
            referral: true,
            ..message(InboundKind::Text, "Hello! Can I get more info on this?")
        },
        "Text Message with Context (Product Inquiry)" => Expect {
            context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA"),
            ..message(InboundKind::Text, "Is this still available?")
        },
        "Unsupported Message" => Expect {
            error_codes: vec![131051],
            ..message(InboundKind::Unsupported, "[unsupported]")
        },
        "Group Create Message" => Expect {
            field: "group_lifecycle_update",
            ..Expect::default()
        },
        "Group Remove Participants" => Expect {
            field: "group_participants_update",
            ..Expect::default()
        },
        "Group Settings Update" => Expect {
            field: "group_settings_update",
            ..Expect::default()
        },
        _ => return None,
    })
}

#[test]
fn every_webhook_example_of_metas_openapi_is_understood() {
    let all = examples(WEBHOOKS);
    assert_eq!(
        all.len(),
        16,
        "the fixture holds Meta's 16 webhook examples"
    );
    for (name, body) in all {
        let want = expect(&name).unwrap_or_else(|| panic!("no expectation for {name}"));
        let raw = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            routing_key(&raw),
            Some(RoutingKey::PhoneNumberId("106540352242922".into())),
            "{name}"
        );
        let env: Envelope = serde_json::from_value(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(env.object, "whatsapp_business_account", "{name}");
        assert_eq!(env.entry.len(), 1, "{name}");
        let change = &env.entry[0].changes[0];
        assert_eq!(change.field, want.field, "{name}");
        assert!(change.user_preferences().is_none(), "{name}");
        let Some(value) = change.messages() else {
            assert!(want.kind.is_none(), "{name}: not a messages change");
            continue;
        };
        let value = value.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value.metadata.display_phone_number, "15550783881", "{name}");
        assert_eq!(!value.contacts.is_empty(), want.has_contacts, "{name}");
        assert_eq!(value.messages.len(), 1, "{name}");
        let m = &value.messages[0];
        assert_eq!(m.from.as_deref(), Some("16505551234"), "{name}");
        assert!(m.id.starts_with("wamid."), "{name}");
        assert!(m.timestamp.parse::<i64>().is_ok(), "{name}");
        assert_eq!(Some(m.inbound_kind()), want.kind, "{name}");
        assert_eq!(m.context_id(), want.context_id, "{name}");
        assert_eq!(m.referral().is_some(), want.referral, "{name}");
        assert_eq!(m.reaction(), want.reaction, "{name}");
        assert_eq!(m.system_change(), want.new_wa_id, "{name}");
        let codes: Vec<i64> = m
            .errors()
            .iter()
            .filter_map(|e| e["code"].as_i64())
            .collect();
        assert_eq!(codes, want.error_codes, "{name}");
        assert_eq!(m.preview_text(), want.preview, "{name}");
        // What the gateway stores and forwards serialises back to Meta's message.
        let back = serde_json::to_value(m).unwrap();
        let orig = serde_json::to_value(&env.entry[0].changes[0].value["messages"][0]).unwrap();
        assert_eq!(back, orig, "{name}");
    }
}

#[test]
fn click_to_whatsapp_referral_fields() {
    let (_, body) = examples(WEBHOOKS)
        .into_iter()
        .find(|(n, _)| n == "Text Message from Click to WhatsApp Ad")
        .expect("the CTWA example");
    let env: Envelope = serde_json::from_value(body).unwrap();
    let value = env.entry[0].changes[0].messages().unwrap().unwrap();
    let r = value.messages[0].referral().unwrap();
    assert_eq!(r.source_type.as_deref(), Some("ad"));
    assert_eq!(r.source_id.as_deref(), Some("120226305854810726"));
    assert_eq!(r.source_url.as_deref(), Some("https://fb.me/3cr4Wqqkv"));
    assert_eq!(r.headline.as_deref(), Some("Chat with us"));
    assert_eq!(r.media_type.as_deref(), Some("image"));
    assert!(
        r.ctwa_clid
            .as_deref()
            .is_some_and(|c| c.starts_with("Aff-"))
    );
    assert_eq!(
        r.welcome_text(),
        Some("Hi there! Let us know how we can help!")
    );
}

#[test]
fn user_preferences_examples() {
    let all = examples(USER_PREFERENCES);
    assert_eq!(all.len(), 2);
    for (name, body) in all {
        let raw = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            routing_key(&raw),
            Some(RoutingKey::PhoneNumberId("106540352242922".into())),
            "{name}"
        );
        let env: Envelope = serde_json::from_value(body).unwrap();
        let change = &env.entry[0].changes[0];
        assert!(change.messages().is_none(), "{name}");
        let v = change
            .user_preferences()
            .expect("a user_preferences change")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.metadata.phone_number_id, "106540352242922");
        assert_eq!(v.contacts[0].wa_id.as_deref(), Some("16505551234"));
        let p = &v.user_preferences[0];
        assert_eq!(p.wa_id.as_deref(), Some("16505551234"));
        assert_eq!(p.category, "marketing_messages");
        match name.as_str() {
            "Marketing messages stopped" => {
                assert_eq!(p.value, PreferenceValue::Stop);
                assert_eq!(p.marketing_opt_out(), Some(true));
                assert_eq!(p.user_id.as_deref(), Some("US.13491208655302741918"));
                assert_eq!(p.timestamp, 1731705721);
            }
            "Marketing messages resumed" => {
                assert_eq!(p.value, PreferenceValue::Resume);
                assert_eq!(p.marketing_opt_out(), Some(false));
                assert_eq!(p.user_id, None);
                assert_eq!(p.timestamp, 1731792121);
            }
            other => panic!("unexpected example {other}"),
        }
    }
}
