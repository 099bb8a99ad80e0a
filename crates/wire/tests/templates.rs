//! Meta's template rules, each at its boundary: definitions (create/edit, code 100 with
//! Meta's subcodes) and sends (132000, 132005, 132012, 132018), plus Meta's own examples.

use openbsp_wire::template::{
    self, Category, Definition, ParameterFormat, TemplateError, check_send, components_from_values,
    parse_definition, status_error, subcodes,
};
use serde_json::{Value, json};

fn examples() -> serde_json::Map<String, Value> {
    let text = include_str!("fixtures/meta_template_examples.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["examples"].as_object().unwrap().clone()
}

/// A create request with `components`.
fn def(category: &str, components: Value) -> Value {
    json!({"name": "order_update", "language": "en_US", "category": category, "components": components})
}

fn body(text: &str, examples: &[&str]) -> Value {
    if examples.is_empty() {
        json!({"type": "BODY", "text": text})
    } else {
        json!({"type": "BODY", "text": text, "example": {"body_text": [examples]}})
    }
}

fn refused(v: &Value) -> TemplateError {
    parse_definition(v).expect_err("refused")
}

fn accepted(v: &Value) -> Definition {
    match parse_definition(v) {
        Ok(d) => d,
        Err(e) => panic!("refused: {e}\n{v:#}"),
    }
}

#[test]
fn metas_create_examples_are_accepted_and_placeholders_refused() {
    let mut ok = 0;
    for (name, example) in examples() {
        if example["name"] == "<TEMPLATE_NAME>" {
            let e = refused(&example);
            assert_eq!(
                (e.code, e.rule, e.field.as_str()),
                (100, "invalid_name", "name"),
                "{name}"
            );
            // With a real name, the flow templates are valid.
            let mut fixed = example.clone();
            fixed["name"] = json!("flow_offer");
            accepted(&fixed);
        } else {
            let d = accepted(&example);
            assert_eq!(d.name, example["name"].as_str().unwrap(), "{name}");
        }
        ok += 1;
    }
    assert_eq!(ok, 12, "every example of Meta's description is checked");
}

#[test]
fn names_languages_and_categories() {
    let good = def("UTILITY", json!([body("Your order is ready.", &[])]));
    accepted(&good);
    let with = |k: &str, v: Value| {
        let mut x = good.clone();
        x[k] = v;
        x
    };
    accepted(&with("name", json!("a".repeat(512))));
    let e = refused(&with("name", json!("a".repeat(513))));
    assert_eq!(
        (e.code, e.subcode, e.rule),
        (100, Some(subcodes::CHARACTER_LIMIT), "name_too_long")
    );
    for bad in ["Order_Update", "order-update", "order update", "ordér"] {
        assert_eq!(
            refused(&with("name", json!(bad))).rule,
            "invalid_name",
            "{bad}"
        );
    }
    assert_eq!(refused(&with("name", json!(""))).rule, "missing_name");
    for lang in ["en", "en_US", "pt_BR", "fil", "zh_CN"] {
        accepted(&with("language", json!(lang)));
    }
    for lang in ["en-US", "EN", "en_us", "english", ""] {
        assert_eq!(
            refused(&with("language", json!(lang))).rule,
            "invalid_language",
            "{lang}"
        );
    }
    for cat in ["marketing", "UTILITY", "Authentication"] {
        let _ = Category::parse(cat).unwrap();
    }
    assert_eq!(
        refused(&with("category", json!("TRANSACTIONAL"))).rule,
        "invalid_category"
    );
    assert_eq!(
        refused(&with("components", json!([]))).rule,
        "missing_components"
    );
    let e = refused(&with(
        "components",
        json!([{"type": "FOOTER", "text": "x"}]),
    ));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::BODY_FORMAT), "missing_body")
    );
}

#[test]
fn text_lengths_at_their_limits() {
    let b = "b".repeat(1024);
    accepted(&def("UTILITY", json!([body(&b, &[])])));
    let e = refused(&def("UTILITY", json!([body(&format!("{b}b"), &[])])));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::CHARACTER_LIMIT), "body_too_long")
    );

    let header = |t: &str| json!({"type": "HEADER", "format": "TEXT", "text": t});
    accepted(&def(
        "UTILITY",
        json!([header(&"h".repeat(60)), body("Hello there.", &[])]),
    ));
    let e = refused(&def(
        "UTILITY",
        json!([header(&"h".repeat(61)), body("Hello there.", &[])]),
    ));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::CHARACTER_LIMIT), "header_too_long")
    );

    let footer = |t: &str| json!({"type": "FOOTER", "text": t});
    accepted(&def(
        "UTILITY",
        json!([body("Hello there.", &[]), footer(&"f".repeat(60))]),
    ));
    let e = refused(&def(
        "UTILITY",
        json!([body("Hello there.", &[]), footer(&"f".repeat(61))]),
    ));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::CHARACTER_LIMIT), "footer_too_long")
    );
    let e = refused(&def(
        "UTILITY",
        json!([body("Hello there.", &[]), footer("Hi {{1}} bye")]),
    ));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::FOOTER_FORMAT), "footer_variables")
    );
}

#[test]
fn variable_rules() {
    let ok = |t: &str, ex: &[&str]| accepted(&def("UTILITY", json!([body(t, ex)])));
    let no = |t: &str, ex: &[&str]| refused(&def("UTILITY", json!([body(t, ex)])));
    ok("Hello {{1}}, your order is ready.", &["Ann"]);
    // At the start or the end (punctuation after a variable still counts as the end).
    for t in [
        "{{1}}, your order is ready now.",
        "Your order is ready now, {{1}}",
        "Your order is ready now, {{1}}.",
    ] {
        let e = no(t, &["Ann"]);
        assert_eq!(
            (e.subcode, e.rule),
            (Some(subcodes::VARIABLE_AT_EDGE), "variable_at_edge"),
            "{t}"
        );
    }
    // Adjacent: nothing or only spaces between.
    for t in [
        "Dear {{1}}{{2}}, your order is ready.",
        "Dear {{1}} {{2}}, your order is ready.",
    ] {
        let e = no(t, &["Ann", "Lee"]);
        assert_eq!(
            (e.subcode, e.rule),
            (Some(subcodes::BODY_FORMAT), "adjacent_variables"),
            "{t}"
        );
    }
    ok(
        "Dear {{1}} and {{2}}, your order is ready.",
        &["Ann", "Lee"],
    );
    // Sequential from 1; any order of appearance.
    assert_eq!(
        no(
            "Hi {{1}}, gate {{3}} is open for boarding now.",
            &["a", "b"]
        )
        .rule,
        "variables_not_sequential"
    );
    ok(
        "Hi {{2}}, gate {{1}} is open for boarding now.",
        &["a", "b"],
    );
    // Ratio: n variables need 2n + 1 other words.
    let e = no("Hi {{1}} there", &["Ann"]);
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::VARIABLE_RATIO), "too_many_variables")
    );
    ok("Hello dear {{1}} friend", &["Ann"]);
    assert_eq!(
        no("Hello {{1}} and {{2}} dear friend", &["a", "b"]).rule,
        "too_many_variables"
    );
    ok("Hello {{1}} and {{2}} my dear friend", &["a", "b"]);
    // Every variable needs an example.
    let e = no("Hello {{1}}, your order is ready.", &[]);
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::BODY_FORMAT), "missing_example")
    );
    assert_eq!(
        no("Hi {{1}} and {{2}}, your order is ready.", &["a"]).rule,
        "missing_example"
    );
    // Malformed and mixed styles.
    assert_eq!(
        no("Hello {{ 1 }}, your order is ready.", &["a"]).rule,
        "malformed_variable"
    );
    assert_eq!(
        no("Hello {{name}}, your order is ready.", &["a"]).rule,
        "variable_format"
    );
}

#[test]
fn named_variables() {
    let named = |t: &str, examples: Value| {
        json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
               "parameter_format": "named",
               "components": [{"type": "BODY", "text": t, "example": {"body_text_named_params": examples}}]})
    };
    let d = accepted(&named(
        "Hi {{first_name}}, your order {{order_id}} is ready now.",
        json!([{"param_name": "first_name", "example": "Ann"}, {"param_name": "order_id", "example": "A1"}]),
    ));
    assert_eq!(d.parameter_format, ParameterFormat::Named);
    assert_eq!(d.body_variables(), ["first_name", "order_id"]);
    let e = refused(&named(
        "Hi {{first_name}}, your order {{order_id}} is ready now.",
        json!([{"param_name": "first_name", "example": "Ann"}]),
    ));
    assert_eq!(e.rule, "missing_example");
    assert!(e.message.contains("order_id"), "{e}");
    assert_eq!(
        refused(&named("Hi {{1}}, your order is ready.", json!([]))).rule,
        "variable_format"
    );
}

#[test]
fn headers() {
    let with_header = |h: Value| def("UTILITY", json!([h, body("Your order is ready.", &[])]));
    let e = refused(&with_header(json!({"type": "HEADER", "format": "IMAGE"})));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::HEADER_FORMAT), "missing_header_example")
    );
    for f in ["IMAGE", "VIDEO", "DOCUMENT"] {
        accepted(&with_header(
            json!({"type": "HEADER", "format": f, "example": {"header_handle": ["4::aW1h"]}}),
        ));
    }
    accepted(&with_header(
        json!({"type": "HEADER", "format": "LOCATION"}),
    ));
    assert_eq!(
        refused(&with_header(json!({"type": "HEADER", "format": "AUDIO"}))).rule,
        "invalid_header_format"
    );
    let e = refused(&with_header(
        json!({"type": "HEADER", "format": "TEXT", "text": "Hi {{1}} and {{2}}", "example": {"header_text": ["a"]}}),
    ));
    assert_eq!(e.rule, "header_too_many_variables");
    assert_eq!(
        refused(&with_header(
            json!({"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"})
        ))
        .rule,
        "missing_example"
    );
    accepted(&with_header(
        json!({"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}", "example": {"header_text": ["Ann"]}}),
    ));
    let two = def(
        "UTILITY",
        json!([{"type": "HEADER", "format": "LOCATION"}, {"type": "HEADER", "format": "LOCATION"}, body("Hi there.", &[])]),
    );
    assert_eq!(refused(&two).rule, "duplicate_component");
}

fn with_buttons(buttons: Value) -> Value {
    def(
        "MARKETING",
        json!([body("Your order is ready.", &[]), {"type": "BUTTONS", "buttons": buttons}]),
    )
}

fn qr(text: &str) -> Value {
    json!({"type": "QUICK_REPLY", "text": text})
}

fn url(text: &str) -> Value {
    json!({"type": "URL", "text": text, "url": "https://example.com/a"})
}

#[test]
fn button_counts_labels_and_grouping() {
    accepted(&with_buttons(Value::Array(
        (0..10).map(|i| qr(&format!("Reply {i}"))).collect(),
    )));
    let e = refused(&with_buttons(Value::Array(
        (0..11).map(|i| qr(&format!("Reply {i}"))).collect(),
    )));
    assert_eq!(e.rule, "too_many_buttons");
    accepted(&with_buttons(json!([url("One"), url("Two")])));
    assert_eq!(
        refused(&with_buttons(json!([url("One"), url("Two"), url("Three")]))).rule,
        "too_many_buttons_of_kind"
    );
    let phone =
        |t: &str| json!({"type": "PHONE_NUMBER", "text": t, "phone_number": "+15551234567"});
    assert_eq!(
        refused(&with_buttons(json!([phone("a"), phone("b")]))).rule,
        "too_many_buttons_of_kind"
    );
    let e = refused(&with_buttons(
        json!([{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "1".repeat(21)}]),
    ));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::CHARACTER_LIMIT), "phone_number_too_long")
    );
    accepted(&with_buttons(
        json!([{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "1".repeat(20)}]),
    ));
    accepted(&with_buttons(json!([qr(&"x".repeat(25))])));
    let e = refused(&with_buttons(json!([qr(&"x".repeat(26))])));
    assert_eq!(
        (e.subcode, e.rule),
        (Some(subcodes::CHARACTER_LIMIT), "button_text_too_long")
    );
    accepted(&with_buttons(json!([qr("a"), qr("b"), url("c")])));
    accepted(&with_buttons(json!([url("c"), qr("a"), qr("b")])));
    assert_eq!(
        refused(&with_buttons(json!([qr("a"), url("c"), qr("b")]))).rule,
        "quick_replies_not_grouped"
    );
    // Dynamic URLs: one {{1}} at the end, with a sample.
    let dynamic = |u: &str, example: Option<&str>| {
        let mut b = json!({"type": "URL", "text": "Track", "url": u});
        if let Some(e) = example {
            b["example"] = json!([e]);
        }
        with_buttons(json!([b]))
    };
    accepted(&dynamic(
        "https://example.com/track/{{1}}",
        Some("https://example.com/track/A1"),
    ));
    assert_eq!(
        refused(&dynamic("https://example.com/track/{{1}}", None)).rule,
        "missing_example"
    );
    assert_eq!(
        refused(&dynamic("https://example.com/{{1}}/track", Some("x"))).rule,
        "url_variable"
    );
    assert_eq!(
        refused(&dynamic("ftp://example.com/x", None)).rule,
        "invalid_url"
    );
    let e = refused(&with_buttons(
        json!([{"type": "COPY_CODE", "example": "1234567890123456"}]),
    ));
    assert_eq!(e.rule, "copy_code_example");
    accepted(&with_buttons(
        json!([{"type": "COPY_CODE", "example": "123456789012345"}]),
    ));
    assert_eq!(
        refused(&with_buttons(json!([{"type": "SHOUT", "text": "x"}]))).rule,
        "invalid_button_type"
    );
    assert_eq!(
        refused(&with_buttons(
            json!([{"type": "OTP", "otp_type": "COPY_CODE"}])
        ))
        .rule,
        "otp_outside_authentication"
    );
}

fn card(format: &str, buttons: Value) -> Value {
    json!({"components": [
        {"type": "HEADER", "format": format, "example": {"header_handle": ["4::aW1h"]}},
        {"type": "BODY", "text": "A fine card."},
        {"type": "BUTTONS", "buttons": buttons}
    ]})
}

fn carousel(category: &str, cards: Vec<Value>) -> Value {
    def(
        category,
        json!([body("See our new collection.", &[]), {"type": "CAROUSEL", "cards": cards}]),
    )
}

#[test]
fn carousels() {
    let c = || card("IMAGE", json!([qr("Buy")]));
    accepted(&carousel("MARKETING", vec![c(), c()]));
    accepted(&carousel("MARKETING", (0..10).map(|_| c()).collect()));
    assert_eq!(
        refused(&carousel("MARKETING", vec![c()])).rule,
        "carousel_cards"
    );
    assert_eq!(
        refused(&carousel("MARKETING", (0..11).map(|_| c()).collect())).rule,
        "carousel_cards"
    );
    assert_eq!(
        refused(&carousel("UTILITY", vec![c(), c()])).rule,
        "carousel_category"
    );
    assert_eq!(
        refused(&carousel(
            "MARKETING",
            vec![c(), card("VIDEO", json!([qr("Buy")]))]
        ))
        .rule,
        "cards_differ"
    );
    assert_eq!(
        refused(&carousel(
            "MARKETING",
            vec![c(), card("IMAGE", json!([url("Buy")]))]
        ))
        .rule,
        "cards_differ"
    );
    assert_eq!(
        refused(&carousel(
            "MARKETING",
            vec![card("IMAGE", json!([qr("a"), qr("b"), qr("c")])), c()]
        ))
        .rule,
        "too_many_buttons"
    );
}

fn auth(components: Value) -> Value {
    json!({"name": "login_code", "language": "en_US", "category": "AUTHENTICATION", "components": components})
}

#[test]
fn authentication_templates_have_metas_fixed_shape() {
    let otp = json!({"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]});
    let d = accepted(&auth(json!([
        {"type": "BODY", "add_security_recommendation": true},
        {"type": "FOOTER", "code_expiration_minutes": 90}, otp.clone()])));
    assert_eq!(
        d.body,
        "{{1}} is your verification code. For your security, do not share this code."
    );
    assert_eq!(
        d.footer.as_deref(),
        Some("This code expires in 90 minutes.")
    );
    for minutes in [0, 91] {
        let e = refused(&auth(
            json!([{"type": "BODY"}, {"type": "FOOTER", "code_expiration_minutes": minutes}, otp.clone()]),
        ));
        assert_eq!(e.rule, "code_expiration_minutes", "{minutes}");
    }
    accepted(&auth(
        json!([{"type": "BODY"}, {"type": "FOOTER", "code_expiration_minutes": 1}, otp.clone()]),
    ));
    assert_eq!(
        refused(&auth(
            json!([{"type": "BODY", "text": "Your code is {{1}}"}, otp.clone()])
        ))
        .rule,
        "authentication_body_text"
    );
    assert_eq!(
        refused(&auth(json!([{"type": "HEADER", "format": "TEXT", "text": "Code"}, {"type": "BODY"}, otp.clone()]))).rule,
        "authentication_header"
    );
    assert_eq!(
        refused(&auth(json!([{"type": "BODY"}]))).rule,
        "authentication_buttons"
    );
    assert_eq!(
        refused(&auth(
            json!([{"type": "BODY"}, {"type": "BUTTONS", "buttons": [qr("Yes")]}])
        ))
        .rule,
        "authentication_buttons"
    );
    let e = refused(&auth(
        json!([{"type": "BODY"}, {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "ONE_TAP"}]}]),
    ));
    assert_eq!(e.rule, "otp_app");
    assert_eq!(
        refused(&auth(json!([{"type": "BODY"}, {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "SMS"}]}]))).rule,
        "invalid_otp_type"
    );
}

#[test]
fn errors_carry_metas_code_and_subcode_on_the_graph_api() {
    let e = refused(&def("UTILITY", json!([body(&"b".repeat(1025), &[])])));
    let v = e.to_meta().to_graph_json("trace");
    assert_eq!(v["error"]["code"], 100);
    assert_eq!(v["error"]["error_subcode"], 2388040);
    assert_eq!(
        v["error"]["error_user_title"],
        "Message template character limit exceeded"
    );
    assert!(
        v["error"]["error_user_msg"]
            .as_str()
            .unwrap()
            .contains("1024")
    );
}

// --- sends -------------------------------------------------------------------------------

fn stored(v: Value) -> Definition {
    let d = accepted(&v);
    Definition::from_stored(
        &d.name,
        &d.language,
        Some(d.category.as_str()),
        Some(d.parameter_format.as_str()),
        &d.components,
    )
    .unwrap()
}

fn send(components: Value) -> Value {
    json!({"name": "order_update", "language": {"code": "en_US"}, "components": components})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn send_err(d: &Definition, components: Value) -> TemplateError {
    check_send(d, &send(components)).expect_err("refused")
}

#[test]
fn body_parameters_count_kind_and_length() {
    let d = stored(def(
        "UTILITY",
        json!([
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A1"]}},
            body("Hi {{1}}, your order of {{2}} ships on {{3}} as planned.", &["Ann", "$5", "Monday"]),
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
            {"type": "BUTTONS", "buttons": [qr("Thanks")]}
        ]),
    ));
    let header = json!({"type": "header", "parameters": [text("A1")]});
    let params = json!([text("Ann"),
        {"type": "currency", "currency": {"fallback_value": "$5.00", "code": "USD", "amount_1000": 5000}},
        {"type": "date_time", "date_time": {"fallback_value": "Monday"}}]);
    let r = check_send(
        &d,
        &send(json!([header.clone(), {"type": "body", "parameters": params}])),
    )
    .unwrap();
    assert_eq!(
        r.body,
        "Hi Ann, your order of $5.00 ships on Monday as planned."
    );
    assert_eq!(r.header.as_deref(), Some("Order A1"));
    assert_eq!(
        r.text,
        "Order A1\n\nHi Ann, your order of $5.00 ships on Monday as planned.\n\nReply STOP to opt out\n\n[Thanks]"
    );

    for n in [2, 4] {
        let ps: Vec<Value> = (0..n).map(|i| text(&format!("v{i}"))).collect();
        let e = send_err(
            &d,
            json!([header.clone(), {"type": "body", "parameters": ps}]),
        );
        assert_eq!(
            (e.code, e.rule),
            (132000, "parameter_mismatch"),
            "{n} parameters"
        );
        assert!(e.message.contains("3 parameter(s)"), "{e}");
    }
    let e = send_err(
        &d,
        json!([{"type": "body", "parameters": [text("a"), text("b"), text("c")]}]),
    );
    assert_eq!(e.code, 132000, "the header's parameter is missing");
    let e = send_err(
        &d,
        json!([header.clone(), {"type": "body", "parameters": [text("a"), {"type": "image", "image": {"id": "1"}}, text("c")]}]),
    );
    assert_eq!(e.code, 132012);
    let e = send_err(
        &d,
        json!([header.clone(), {"type": "body", "parameters": [text("a"), {"type": "currency", "currency": {"fallback_value": "$5"}}, text("c")]}]),
    );
    assert_eq!(e.code, 132018);
    for bad in ["two\nlines", "tab\there", "five     spaces", " "] {
        let e = send_err(
            &d,
            json!([header.clone(), {"type": "body", "parameters": [text(bad), text("b"), text("c")]}]),
        );
        assert_eq!(e.code, 132018, "{bad:?}");
    }
    // Filled-in length: 1024 goes, 1025 is 132005.
    let fixed = "Hi {{1}}, your order of {{2}} ships on {{3}} as planned.".len() - 15;
    let long = "x".repeat(1024 - fixed - 2);
    check_send(&d, &send(json!([header.clone(), {"type": "body", "parameters": [text(&long), text("b"), text("c")]}]))).unwrap();
    let e = send_err(
        &d,
        json!([header.clone(), {"type": "body", "parameters": [text(&format!("{long}x")), text("b"), text("c")]}]),
    );
    assert_eq!((e.code, e.rule), (132005, "text_too_long"));
    let e = send_err(
        &d,
        json!([{"type": "header", "parameters": [text(&"h".repeat(55))]}, {"type": "body", "parameters": [text("a"), text("b"), text("c")]}]),
    );
    assert_eq!(e.code, 132005, "header over 60 once filled in");
}

#[test]
fn named_parameters_go_by_name() {
    let d = stored(
        json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "parameter_format": "named",
        "components": [{"type": "BODY", "text": "Hi {{first_name}}, your order {{order_id}} is ready now.",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ann"}, {"param_name": "order_id", "example": "A1"}]}}]}),
    );
    let named = |n: &str, v: &str| json!({"type": "text", "parameter_name": n, "text": v});
    let r = check_send(&d, &send(json!([{"type": "body", "parameters": [named("order_id", "B2"), named("first_name", "Bo")]}]))).unwrap();
    assert_eq!(r.body, "Hi Bo, your order B2 is ready now.");
    let e = send_err(
        &d,
        json!([{"type": "body", "parameters": [named("order", "B2"), named("first_name", "Bo")]}]),
    );
    assert_eq!(e.code, 132000);
    assert!(e.message.contains("{{order}}"), "{e}");
    let e = send_err(
        &d,
        json!([{"type": "body", "parameters": [text("B2"), text("Bo")]}]),
    );
    assert_eq!(e.code, 132012);
    let e = send_err(
        &d,
        json!([{"type": "body", "parameters": [named("first_name", "B2"), named("first_name", "Bo")]}]),
    );
    assert_eq!(e.code, 132000);
}

#[test]
fn media_and_location_headers() {
    let d = stored(def(
        "UTILITY",
        json!([{"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::x"]}}, body("Your receipt is attached.", &[])]),
    ));
    let doc = json!({"type": "header", "parameters": [{"type": "document", "document": {"link": "https://x.test/r.pdf"}}]});
    assert_eq!(
        check_send(&d, &send(json!([doc])))
            .unwrap()
            .header
            .as_deref(),
        Some("[DOCUMENT]")
    );
    let e = send_err(
        &d,
        json!([{"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]}]),
    );
    assert_eq!(e.code, 132012);
    assert_eq!(send_err(&d, json!([])).code, 132000);
    let e = send_err(
        &d,
        json!([{"type": "header", "parameters": [{"type": "document", "document": {}}]}]),
    );
    assert_eq!(e.code, 132018);

    let d = stored(def(
        "UTILITY",
        json!([{"type": "HEADER", "format": "LOCATION"}, body("Your order is on its way.", &[])]),
    ));
    let loc = json!({"type": "header", "parameters": [{"type": "location", "location": {"latitude": "37.48", "longitude": "-122.14", "name": "Shop"}}]});
    assert_eq!(
        check_send(&d, &send(json!([loc])))
            .unwrap()
            .header
            .as_deref(),
        Some("[LOCATION: Shop]")
    );
    assert_eq!(send_err(&d, json!([{"type": "header", "parameters": [{"type": "location", "location": {"name": "x"}}]}])).code, 132018);

    let d = stored(def("UTILITY", json!([body("Your order is ready.", &[])])));
    assert_eq!(
        send_err(&d, json!([{"type": "header", "parameters": [text("x")]}])).code,
        132000
    );
}

#[test]
fn buttons_by_index_and_sub_type() {
    let d = stored(with_buttons(json!([
        {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}", "example": ["https://example.com/t/1"]},
        {"type": "COPY_CODE", "example": "SAVE10"},
        qr("Stop")
    ])));
    let url_param = |index: Value| json!({"type": "button", "sub_type": "url", "index": index, "parameters": [text("A1")]});
    let code = json!({"type": "button", "sub_type": "copy_code", "index": 1, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]});
    for index in [json!("0"), json!(0)] {
        let r = check_send(&d, &send(json!([url_param(index), code.clone()]))).unwrap();
        assert_eq!(r.buttons, ["Track", "Copy code SAVE10", "Stop"]);
    }
    assert_eq!(
        send_err(&d, json!([code.clone()])).code,
        132000,
        "the URL suffix is missing"
    );
    assert_eq!(
        send_err(&d, json!([url_param(json!(0))])).code,
        132000,
        "the coupon code is missing"
    );
    assert_eq!(
        send_err(&d, json!([url_param(json!(3)), code.clone()])).code,
        132000
    );
    let e = send_err(
        &d,
        json!([{"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "x"}]}, code.clone()]),
    );
    assert_eq!(e.code, 132012);
    let e = send_err(
        &d,
        json!([url_param(json!(0)), {"type": "button", "sub_type": "copy_code", "index": 1, "parameters": [{"type": "coupon_code", "coupon_code": "1234567890123456"}]}]),
    );
    assert_eq!(e.code, 132018);
    let e = send_err(
        &d,
        json!([url_param(json!(0)), code.clone(), url_param(json!(0))]),
    );
    assert_eq!(e.code, 132000, "index given twice");
    let payload = json!({"type": "button", "sub_type": "quick_reply", "index": "2", "parameters": [{"type": "payload", "payload": "STOP"}]});
    check_send(
        &d,
        &send(json!([url_param(json!(0)), code.clone(), payload])),
    )
    .unwrap();
}

#[test]
fn authentication_sends_the_code_twice() {
    let d = stored(auth(
        json!([{"type": "BODY", "add_security_recommendation": true}, {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]),
    ));
    let send_code = |body: &str, button: &str| {
        send(json!([
            {"type": "body", "parameters": [text(body)]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text(button)]}
        ]))
    };
    let r = check_send(&d, &send_code("123456", "123456")).unwrap();
    assert!(
        r.body.starts_with("123456 is your verification code."),
        "{}",
        r.body
    );
    assert_eq!(
        check_send(&d, &send_code("123456", "654321"))
            .unwrap_err()
            .code,
        132018
    );
    assert_eq!(
        check_send(&d, &send_code(&"1".repeat(16), &"1".repeat(16)))
            .unwrap_err()
            .code,
        132018
    );
    let e = check_send(
        &d,
        &send(json!([{"type": "body", "parameters": [text("123456")]}])),
    )
    .unwrap_err();
    assert_eq!(e.code, 132000, "the button's copy of the code is missing");
}

#[test]
fn carousel_sends() {
    let c = || {
        card(
            "IMAGE",
            json!([{"type": "URL", "text": "Buy", "url": "https://example.com/p/{{1}}", "example": ["https://example.com/p/1"]}]),
        )
    };
    let d = stored(carousel("MARKETING", vec![c(), c()]));
    let card_send = |i: u64, media: &str| {
        json!({"card_index": i, "components": [
            {"type": "header", "parameters": [{"type": media, media: {"id": "123"}}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("p1")]}
        ]})
    };
    let ok = send(
        json!([{"type": "carousel", "cards": [card_send(0, "image"), card_send(1, "image")]}]),
    );
    let r = check_send(&d, &ok).unwrap();
    assert_eq!(r.cards.len(), 2);
    assert_eq!(
        send_err(
            &d,
            json!([{"type": "carousel", "cards": [card_send(0, "image")]}])
        )
        .code,
        132000
    );
    assert_eq!(
        send_err(
            &d,
            json!([{"type": "carousel", "cards": [card_send(0, "image"), card_send(1, "video")]}])
        )
        .code,
        132012
    );
    assert_eq!(
        send_err(
            &d,
            json!([{"type": "carousel", "cards": [card_send(0, "image"), card_send(0, "image")]}])
        )
        .code,
        132000
    );
    assert_eq!(send_err(&d, json!([])).code, 132000);
    let twice =
        json!({"type": "carousel", "cards": [card_send(0, "image"), card_send(1, "image")]});
    assert_eq!(
        send_err(&d, json!([twice.clone(), twice])).code,
        132000,
        "a second carousel"
    );
}

#[test]
fn statuses_decide_whether_a_template_may_go() {
    assert!(status_error("APPROVED", "t", "en").is_none());
    assert!(status_error("FLAGGED", "t", "en").is_none());
    assert_eq!(status_error("PAUSED", "t", "en").unwrap().code, 132015);
    assert_eq!(status_error("DISABLED", "t", "en").unwrap().code, 132016);
    for s in [
        "PENDING",
        "REJECTED",
        "IN_APPEAL",
        "DELETED",
        "PENDING_DELETION",
        "ARCHIVED",
        "LIMIT_EXCEEDED",
    ] {
        let e = status_error(s, "t", "en").unwrap();
        assert_eq!((e.code, e.http_status), (132001, 404), "{s}");
        assert!(e.details.unwrap().contains(s));
    }
}

#[test]
fn plain_values_fill_the_body_in_order() {
    let d = stored(def(
        "UTILITY",
        json!([body(
            "Hi {{1}}, your order {{2}} is ready now.",
            &["a", "b"]
        )]),
    ));
    let c = components_from_values(&d, &["Ann".into(), "A1".into()]).unwrap();
    let r = check_send(&d, &send(c)).unwrap();
    assert_eq!(r.body, "Hi Ann, your order A1 is ready now.");
    let e = components_from_values(&d, &["Ann".into()]).unwrap_err();
    assert_eq!(e.code, 132000);
    let named = stored(
        json!({"name": "order_update", "language": "en_US", "category": "UTILITY", "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Hi {{name}}, your order {{id}} is ready now.",
            "example": {"body_text_named_params": [{"param_name": "name", "example": "Ann"}, {"param_name": "id", "example": "A1"}]}}]}),
    );
    let c = components_from_values(&named, &["Bo".into(), "B2".into()]).unwrap();
    assert_eq!(
        check_send(&named, &send(c)).unwrap().body,
        "Hi Bo, your order B2 is ready now."
    );
    let _ = template::MAX_TEMPLATES_PER_WABA;
}

#[test]
fn metas_template_send_examples_fit_metas_template_examples() {
    // The edit example (2023_april_promo) with the body parameters a send would give.
    let ex = examples();
    let promo = stored(ex["Edit: Edit template"].clone());
    let r = check_send(
        &promo,
        &send(json!([{"type": "body", "parameters": [text("Mark"), text("FALL25")]}])),
    )
    .unwrap();
    assert!(
        r.text
            .starts_with("Fall Sale\n\nHi Mark, our Fall Sale is on! Use promo code FALL25"),
        "{}",
        r.text
    );
    assert!(r.text.ends_with("[Stop promotions]"), "{}", r.text);
    // The Tuscan getaway offer: image header, three body variables, a dynamic URL.
    let tuscan = stored(
        ex["Create template w/ image header, text body, text footer, and 2 call-to-action buttons"]
            .clone(),
    );
    let ok = send(json!([
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "2762702990552401"}}]},
        {"type": "body", "parameters": [text("Pablo"), text("Tuscan Getaway package"), text("$800")]},
        {"type": "button", "sub_type": "url", "index": 1, "parameters": [text("summer2023")]}
    ]));
    let r = check_send(&tuscan, &ok).unwrap();
    assert_eq!(r.buttons, ["Call", "Shop Now"]);
}
