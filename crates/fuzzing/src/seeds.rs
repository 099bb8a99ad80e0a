//! Where each target's corpus starts: Meta's own examples (its OpenAPI description's send,
//! template and webhook examples, as the wire crate's conformance fixtures hold them) and the
//! vendors' own requests (the curl commands of their documentation pages, the seeds of
//! `crates/server/tests/fixtures/seeds/`), with a few hand-written inputs where neither has one.

use serde_json::{Value, json};

use crate::harness;

const SEND_EXAMPLES: &str = include_str!("../../wire/tests/fixtures/meta_send_examples.json");
const TEMPLATE_EXAMPLES: &str =
    include_str!("../../wire/tests/fixtures/meta_template_examples.json");
const WEBHOOK_EXAMPLES: &str = include_str!("../../wire/tests/fixtures/meta_webhook_examples.json");
const USER_PREFERENCES: &str =
    include_str!("../../wire/tests/fixtures/user_preferences_examples.json");
const VENDOR_PAGES: &[&str] = &[
    include_str!("../../server/tests/fixtures/seeds/000_b81ce41e5618c67d.txt"),
    include_str!("../../server/tests/fixtures/seeds/001_640a44d108fef173.txt"),
    include_str!("../../server/tests/fixtures/seeds/002_c26f53b8c8be1201.txt"),
    include_str!("../../server/tests/fixtures/seeds/003_fec9d227f2f8961c.txt"),
];

/// A fixture's examples.
fn examples(fixture: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(fixture).expect("a fixture is JSON");
    v["examples"]
        .as_object()
        .expect("a fixture has examples")
        .values()
        .cloned()
        .collect()
}

/// Meta's send examples, addressed to a real number (they carry a placeholder).
fn send_examples() -> Vec<Value> {
    examples(SEND_EXAMPLES)
        .into_iter()
        .map(|v| {
            let text = v
                .to_string()
                .replace("{{Recipient-Phone-Number}}", harness::USER);
            serde_json::from_str(&text).expect("still JSON")
        })
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a Value serializes")
}

/// The seeds of target `name`.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "cloud_send" => send_examples().iter().map(bytes).collect(),
        "webhook_payload" => {
            let mut out: Vec<Vec<u8>> = Vec::new();
            for v in webhook_examples() {
                let body = bytes(&v);
                // The right signature on the first line, then none.
                let mut signed =
                    openbsp_wire::signature::sign(b"fuzz-app-secret", &body).into_bytes();
                signed.push(b'\n');
                signed.extend_from_slice(&body);
                out.push(signed);
                let mut unsigned = b"msg_1,1700000000,v1,AAAA\n".to_vec();
                unsigned.extend_from_slice(&body);
                out.push(unsigned);
            }
            out
        }
        "webhook_pipeline" => webhook_examples().iter().map(bytes).collect(),
        "template_definition" => {
            let mut out: Vec<Vec<u8>> = examples(TEMPLATE_EXAMPLES).iter().map(bytes).collect();
            out.push(bytes(&json!({
                "name": "order_update", "language": "en_US", "category": "UTILITY",
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}",
                     "example": {"header_text": ["A-1"]}},
                    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships {{3}}.",
                     "example": {"body_text": [["Ana", "A-1", "today"]]}},
                    {"type": "BUTTONS", "buttons": [
                        {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}",
                         "example": ["https://example.com/t/A-1"]},
                        {"type": "QUICK_REPLY", "text": "Stop"}]}
                ],
                "send": {"name": "order_update", "language": {"code": "en_US"}, "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
                    {"type": "body", "parameters": [
                        {"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1"},
                        {"type": "text", "text": "today"}]},
                    {"type": "button", "sub_type": "url", "index": "0",
                     "parameters": [{"type": "text", "text": "A-1"}]}]},
                "values": ["Ana", "A-1", "today"]
            })));
            out.push(bytes(&json!({
                "name": "named_vars", "language": "pt_BR", "category": "MARKETING",
                "parameter_format": "NAMED",
                "components": [{"type": "BODY", "text": "Olá {{first_name}}!",
                    "example": {"body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"}]}}]
            })));
            out
        }
        "phone_number" => [
            "+1 (650) 555-1234",
            "16505551234",
            "0044 20 7946 0958",
            "(11) 98765-4321",
            "+55 11 98765-4321",
            "US.13491208655302741918",
            "+",
            "00",
            "٠١٢٣٤٥٦٧٨٩",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        "campaign_import" => {
            let csv =
                b"phone,name,code\n+16505551234,Ana,A-1\n16505551235,\"Bo, Jr\",B-2\n,missing,\n";
            let ndjson = b"{\"to\":\"+16505551234\",\"name\":\"Ana\",\"code\":\"A-1\"}\n{\"user_id\":\"US.13491208655302741918\",\"variables\":{\"name\":\"Bo\"}}\nnot json\n";
            let mut out = Vec::new();
            for columns in 0u8..3 {
                let mut c = vec![columns << 1];
                c.extend_from_slice(csv);
                out.push(c);
                let mut n = vec![(columns << 1) | 1];
                n.extend_from_slice(ndjson);
                out.push(n);
            }
            out
        }
        "surfaces" => surface_seeds(),
        other => panic!("no target {other}"),
    }
}

fn webhook_examples() -> Vec<Value> {
    let mut all = examples(WEBHOOK_EXAMPLES);
    all.extend(examples(USER_PREFERENCES));
    all
}

/// One input of the `surfaces` target: route `path` (as the harness writes it), `body`.
fn on(path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = vec![harness::route_index(path)];
    out.extend_from_slice(body);
    out
}

/// Meta's send examples on the native and Cloud API routes, the vendors' documented requests
/// on theirs, and a request of each other route.
fn surface_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in send_examples() {
        let body = bytes(&v);
        out.push(on("/v23.0/{pnid}/messages", &body));
        let mut native = v.clone();
        native["channel"] = json!(harness::PNID);
        out.push(on("/v1/messages", &bytes(&native)));
    }
    for v in examples(TEMPLATE_EXAMPLES) {
        out.push(on("/v23.0/{waba}/message_templates", &bytes(&v)));
        let mut native = v.clone();
        native["channel"] = json!(harness::PNID);
        out.push(on("/v1/templates", &bytes(&native)));
    }
    for page in VENDOR_PAGES {
        for curl in openbsp_testkit::curl::commands(page) {
            let Some(body) = curl.body.as_deref() else {
                continue;
            };
            if let Some(route) = vendor_route(&curl.url) {
                out.push(on(route, body.as_bytes()));
            }
        }
    }
    let hand: &[(&str, Value)] = &[
        (
            "/v1/sessions",
            json!({"channel": harness::PNID, "to": harness::USER,
                   "template": {"name": "order_update", "language": {"code": "en_US"}}}),
        ),
        (
            "/v1/campaigns",
            json!({"name": "spring", "channel": harness::PNID,
                   "template": {"name": "order_update", "language": "en_US"}}),
        ),
        (
            "/v1/webhook-endpoints",
            json!({"url": "https://hooks.example.com/openbsp", "events": ["message.*"]}),
        ),
        (
            "/api/v1.0/{pnid}/{key}/messages",
            json!({"messaging_product": "whatsapp", "to": harness::USER, "type": "template",
                   "template": {"name": "order_update", "language": {"code": "en_US"}}}),
        ),
        (
            "/api/v1.0/{pnid}/{key}/message_templates",
            json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Your order shipped."}]}),
        ),
        (
            "/v1/ext/plugin/whatsapp/api/v19.0/{waba}/message_templates",
            json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Your order shipped."}]}),
        ),
        (
            "/v1/businesses/{tenant}/send/whatsapp_templated_messages",
            json!({"number": "+16505551234", "templateName": "order_update",
                   "language": "en_US", "parameters": [{"name": "body_1", "value": "x"}]}),
        ),
        (
            "/v1/businesses/{tenant}/create/template",
            json!({"templateName": "order_update", "category": "UTILITY",
                   "templates": [{"language": "en_US",
                                  "body": {"text": "Your order shipped."}}]}),
        ),
        (
            "/v1/businesses/{tenant}/send/campaigns",
            json!({"entries": [{"client": "+16505551234", "campaignName": "spring",
                                "variables": {"name": "Ana"}}]}),
        ),
        (
            "/v1/businesses/{tenant}/create/webhooks",
            json!({"topic": "messages", "address": "https://hooks.example.com/c"}),
        ),
    ];
    for (route, body) in hand {
        out.push(on(route, &bytes(body)));
    }
    out
}

/// The fuzzed route a vendor's documented URL is.
fn vendor_route(url: &str) -> Option<&'static str> {
    let routes: &[(&str, &str)] = &[
        ("/sessions", "/tenants/{tenant}/sessions"),
        ("/simpleMessages", "/api/v1.0/{pnid}/{key}/simpleMessages"),
        (
            "/send-template-message",
            "/v1/ext/plugin/whatsapp/{app}/phoneNumber/{user}/send-template-message",
        ),
        ("/send/messages", "/v1/businesses/{tenant}/send/messages"),
        (
            "/send/whatsapp_templated_messages",
            "/v1/businesses/{tenant}/send/whatsapp_templated_messages",
        ),
        ("/send/campaigns", "/v1/businesses/{tenant}/send/campaigns"),
        (
            "/create/template",
            "/v1/businesses/{tenant}/create/template",
        ),
        (
            "/create/webhooks",
            "/v1/businesses/{tenant}/create/webhooks",
        ),
    ];
    let path = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    if let Some((_, r)) = routes.iter().find(|(tail, _)| path.ends_with(tail)) {
        return Some(r);
    }
    if path.ends_with("/messages") {
        return Some(if path.contains("/ext/plugin/") {
            "/v1/ext/plugin/whatsapp/{app}/api/v19.0/{pnid}/messages"
        } else {
            "/api/v1.0/{pnid}/{key}/messages"
        });
    }
    None
}
