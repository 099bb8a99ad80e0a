//! Bad input on every surface (issue 16), on both backends: malformed JSON, wrong types, bodies
//! over the limit, deep nesting, invalid UTF-8, NUL in strings, over-long strings, negative and
//! huge numbers, NaN-like literals, bad query strings. Each surface answers in its own error
//! shape (axum's own refusals included: a body over the limit is a 413 in it) with the
//! documented status and code, and stores nothing: the row count of every table of the database
//! is the same before and after the barrage (the tables listed from the catalogue, so a new
//! table is counted too), and the gateway is still ready.
//!
//! The Meta webhook receiver is the one surface that keeps something of a refused payload: a
//! payload correctly signed for a known number is Meta's to redeliver, so it is stored in the
//! inbox (once) and answered 200 whatever it holds; the processor then finds nothing it can
//! apply in it (wrong types, times that are no date, NUL in a string) and creates no message,
//! contact or status. A payload that names no number (not JSON, nested too deep, invalid UTF-8,
//! not an envelope) cannot be verified, and gets the receiver's one 401.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    native_routes_refuse_bad_input_and_store_nothing =>
        crate::native_routes_refuse_bad_input_and_store_nothing,
    list_queries_refuse_bad_values => crate::list_queries_refuse_bad_values,
    the_cloud_api_refuses_in_metas_shape_and_stores_nothing =>
        crate::the_cloud_api_refuses_in_metas_shape_and_stores_nothing,
    signed_malformed_webhooks_create_nothing => crate::signed_malformed_webhooks_create_nothing,
    vendor_routes_refuse_in_their_shapes_and_store_nothing =>
        crate::vendor_routes_refuse_in_their_shapes_and_store_nothing,
}

/// A user whose window the Cloud API and vendor tests open, so that a text to them would be
/// sent (and stored) if it were not refused.
const OPEN: &str = "15557770002";

/// A string holding NUL: valid JSON (`\u0000`), but no text the gateway keeps has one, and
/// PostgreSQL can store none.
const NUL: &str = "a\u{0}b";

/// The gateway's body limit (`max_body_bytes`), which most routes keep.
const BODY_LIMIT: usize = 1024 * 1024;

/// A body half a MiB over `limit`, valid JSON otherwise.
fn over_the_limit(limit: usize) -> Vec<u8> {
    json!({"channel": PNID, "to": USER, "type": "text",
           "text": {"body": "a".repeat(limit + 512 * 1024)}})
    .to_string()
    .into_bytes()
}

/// Which surface answers, so which error shape the answer must have.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Surface {
    /// `{"error": {"code", "message", "details", "request_id"}}`.
    Native,
    /// Meta's `{"error": {"message", "type", "code", "fbtrace_id"}}`.
    Graph,
    /// `{"error": {"code", "message", "requestID"}}`.
    Talqui,
    /// `{"error": {"code": <number>, "message", "request_id"}}`.
    Pingtochat,
    /// `{"_data": null, "_meta": {"requestId"}, "_errors": [{"code", "message", "status"}]}`.
    Chakra,
    /// `{"message", "type", "code", "userTitle", "userMessage", "cntTraceId", "details"}`.
    Connectly,
}

/// An error code: a name (native, Talqui, Connectly) or a number (Meta's, Pingtochat's,
/// ChakraHQ's).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Code {
    Name(&'static str),
    Number(i64),
}

impl Surface {
    /// The answer to a body the surface cannot read (not JSON, not UTF-8, nested too deep, a
    /// NaN): status and code.
    fn unreadable(self) -> (u16, Code) {
        match self {
            Surface::Native => (400, Code::Name("invalid_request")),
            Surface::Graph | Surface::Pingtochat | Surface::Chakra => (400, Code::Number(100)),
            Surface::Talqui => (400, Code::Name("invalid_request")),
            Surface::Connectly => (400, Code::Name("ERROR_CODE_INVALID_REQUEST")),
        }
    }

    /// The answer to a body over the limit: 413, in the surface's shape.
    fn too_large(self) -> (u16, Code) {
        match self {
            Surface::Native => (413, Code::Name("payload_too_large")),
            Surface::Graph => (413, Code::Number(100)),
            Surface::Talqui => (413, Code::Name("payload_too_large")),
            // The HTTP status where Pingtochat and ChakraHQ have no code of their own.
            Surface::Pingtochat | Surface::Chakra => (413, Code::Number(413)),
            Surface::Connectly => (413, Code::Name("ERROR_CODE_INVALID_REQUEST")),
        }
    }

    /// What is wrong with `body` as this surface's error with `status` and `code` (`None`
    /// when nothing is).
    fn misfit(self, status: u16, code: Code, body: &Value) -> Option<String> {
        let s = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
        let req = |v: &Value| v.as_str().is_some_and(|s| s.starts_with("req_"));
        let (got, shaped) = match self {
            Surface::Native => {
                let e = &body["error"];
                (
                    e["code"].clone(),
                    s(&e["message"]) && req(&e["request_id"]) && e["details"].is_array(),
                )
            }
            Surface::Graph => {
                let e = &body["error"];
                (
                    e["code"].clone(),
                    s(&e["message"]) && s(&e["type"]) && req(&e["fbtrace_id"]),
                )
            }
            Surface::Talqui => {
                let e = &body["error"];
                (e["code"].clone(), s(&e["message"]) && req(&e["requestID"]))
            }
            Surface::Pingtochat => {
                let e = &body["error"];
                (e["code"].clone(), s(&e["message"]) && req(&e["request_id"]))
            }
            Surface::Chakra => {
                let e = &body["_errors"][0];
                (
                    e["code"].clone(),
                    body["_data"].is_null()
                        && req(&body["_meta"]["requestId"])
                        && s(&e["message"])
                        && e["status"] == json!(status),
                )
            }
            Surface::Connectly => (
                body["code"].clone(),
                s(&body["message"])
                    && body["type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("ERROR_TYPE_"))
                    && s(&body["userTitle"])
                    && req(&body["cntTraceId"]),
            ),
        };
        let want = match code {
            Code::Name(n) => json!(n),
            Code::Number(n) => json!(n),
        };
        if !shaped {
            return Some(format!("not the {self:?} error shape"));
        }
        (got != want).then(|| format!("code {got}, expected {want}"))
    }
}

/// A route and how to call it: its surface, method, path, credential headers and body limit.
#[derive(Clone)]
struct Route {
    surface: Surface,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    limit: usize,
}

impl Route {
    fn new(surface: Surface, method: &'static str, path: impl Into<String>) -> Route {
        Route {
            surface,
            method,
            path: path.into(),
            headers: Vec::new(),
            limit: BODY_LIMIT,
        }
    }

    /// With a body limit of its own.
    fn limit(mut self, limit: usize) -> Route {
        self.limit = limit;
        self
    }

    /// With `Authorization: Bearer <key>`.
    fn bearer(self, key: &str) -> Route {
        self.header("authorization", format!("Bearer {key}"))
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Route {
        self.headers.push((name, value.into()));
        self
    }
}

/// One row of a table: a request and the answer it must get.
struct Case {
    what: String,
    route: Route,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: Code,
}

/// The cases of `body` sent to `route` as `content_type` that must get `status` and `code`.
fn row(
    route: &Route,
    what: &str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    (status, code): (u16, Code),
) -> Case {
    Case {
        what: what.to_string(),
        route: route.clone(),
        content_type,
        body: body.into(),
        status,
        code,
    }
}

/// A JSON body `body` to `route`, answered with `status` and `code`.
fn json_row(route: &Route, what: &str, body: impl ToString, answer: (u16, Code)) -> Case {
    row(
        route,
        what,
        "application/json",
        body.to_string().into_bytes(),
        answer,
    )
}

/// Bodies no JSON route can read, each answered as the surface answers an unreadable body.
fn unreadable_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut invalid_utf8 = br#"{"channel": ""#.to_vec();
    invalid_utf8.extend([0xff, 0xfe, 0xc3]);
    invalid_utf8.extend(br#"", "to": "15551230001"}"#);
    vec![
        (
            "malformed JSON",
            br#"{"channel": "100200300", "to": "#.to_vec(),
        ),
        ("not JSON at all", b"hello".to_vec()),
        ("deep nesting: 100 000 [", "[".repeat(100_000).into_bytes()),
        (
            "deep nesting: 50 000 objects",
            format!("{}1{}", r#"{"a":"#.repeat(50_000), "}".repeat(50_000)).into_bytes(),
        ),
        ("invalid UTF-8", invalid_utf8),
        (
            "a lone surrogate escape",
            br#"{"channel": "\ud800", "to": "15551230001"}"#.to_vec(),
        ),
        ("NaN", br#"{"channel": NaN}"#.to_vec()),
        ("Infinity", br#"{"channel": Infinity}"#.to_vec()),
        ("-Infinity", br#"{"rate_limit": -Infinity}"#.to_vec()),
        ("a number past f64", br#"{"rate_limit": 1e400}"#.to_vec()),
        ("a trailing comma", br#"{"channel": "100200300",}"#.to_vec()),
        ("two documents", br#"{} {}"#.to_vec()),
    ]
}

/// Every unreadable body and the body over the limit, to `route`.
fn garbage(route: &Route) -> Vec<Case> {
    let mut cases: Vec<Case> = unreadable_bodies()
        .into_iter()
        .map(|(what, body)| {
            row(
                route,
                what,
                "application/json",
                body,
                route.surface.unreadable(),
            )
        })
        .collect();
    cases.push(row(
        route,
        "a body over the limit",
        "application/json",
        over_the_limit(route.limit),
        route.surface.too_large(),
    ));
    cases
}

/// Sends `case` on a connection of its own, asked again while the gateway's early answer to a
/// body it will not read is lost to the reset of the connection (HTTP/1.1): status and body.
async fn send(app: &TestApp, case: &Case) -> (u16, Value) {
    for _ in 0..20 {
        let http = reqwest::Client::new();
        let mut req = http
            .request(
                case.route.method.parse().unwrap(),
                app.url(&case.route.path),
            )
            .header("content-type", case.content_type)
            .body(case.body.clone());
        for (k, v) in &case.route.headers {
            req = req.header(*k, v);
        }
        if let Ok(r) = req.send().await {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return (status, body);
        }
    }
    panic!("{}: no answer", case.what);
}

/// Runs every case; panics listing each whose answer is not the one of its row.
async fn run(app: &TestApp, cases: &[Case]) {
    let mut wrong = Vec::new();
    for case in cases {
        let (status, body) = send(app, case).await;
        let misfit = if status != case.status {
            Some(format!("status {status}, expected {}", case.status))
        } else {
            case.route.surface.misfit(status, case.code, &body)
        };
        if let Some(m) = misfit {
            let shown: String = body.to_string().chars().take(300).collect();
            wrong.push(format!(
                "{} {} — {}: {m}: {shown}",
                case.route.method, case.route.path, case.what
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases answered wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// The row counts of every table once they stop changing (what a test set up has settled:
/// statuses arrived, events written).
async fn settled_counts(app: &TestApp) -> BTreeMap<String, i64> {
    let mut last = app.db.row_counts().await;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = app.db.row_counts().await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the database never settled: {last:?}");
}

/// The tables whose row counts differ between `before` and `after`, with both counts.
fn changed(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
) -> BTreeMap<String, (i64, i64)> {
    let tables: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    tables
        .into_iter()
        .filter_map(|t| {
            let (b, a) = (
                before.get(t).copied().unwrap_or(0),
                after.get(t).copied().unwrap_or(0),
            );
            (a != b).then(|| (t.clone(), (b, a)))
        })
        .collect()
}

/// Asserts that nothing was stored since `before`, and that the gateway is still ready.
async fn nothing_stored(app: &TestApp, before: &BTreeMap<String, i64>) {
    let after = settled_counts(app).await;
    assert!(before.len() > 20, "every table is counted: {before:?}");
    assert_eq!(
        changed(before, &after),
        BTreeMap::new(),
        "bad input stored rows (table: (before, after))"
    );
    still_ready(app).await;
}

/// `GET /readyz` answers 200.
async fn still_ready(app: &TestApp) {
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "the gateway is still ready");
}

/// The content type of the forms of [`form`].
const FORM: &str = "multipart/form-data; boundary=XbadinputX";

/// A multipart form ([`FORM`]) with `parts` (`(name, filename, content type, bytes)`), whose
/// last part starts and never ends when `truncated`.
fn form(parts: &[(&str, Option<&str>, &str, &[u8])], truncated: bool) -> Vec<u8> {
    let boundary = "XbadinputX";
    let mut body = Vec::new();
    for (name, filename, ct, bytes) in parts {
        body.extend(format!("--{boundary}\r\n").into_bytes());
        match filename {
            Some(f) => body.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
                    .into_bytes(),
            ),
            None => body.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n").into_bytes(),
            ),
        }
        body.extend(format!("Content-Type: {ct}\r\n\r\n").into_bytes());
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    if truncated {
        // A part that starts and never ends.
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-da").into_bytes());
    } else {
        body.extend(format!("--{boundary}--\r\n").into_bytes());
    }
    body
}

/// The multipart cases of a media upload `route`, a form that is not one refused with
/// `unreadable` and a file of no WhatsApp type with `refused`, storing nothing: in particular
/// a form that breaks after its file part keeps no media.
fn media_form_cases(route: &Route, unreadable: (u16, Code), refused: (u16, Code)) -> Vec<Case> {
    let png = png(64);
    let mut cases = Vec::new();
    let body = form(
        &[
            ("messaging_product", None, "text/plain", b"whatsapp"),
            ("file", Some("a.png"), "image/png", &png),
        ],
        true,
    );
    cases.push(row(
        route,
        "a form that breaks after its file",
        FORM,
        body,
        unreadable,
    ));
    cases.push(row(
        route,
        "a form without its boundary",
        "multipart/form-data",
        b"--x\r\n\r\n".to_vec(),
        unreadable,
    ));
    cases.push(row(
        route,
        "bytes that are no form",
        FORM,
        vec![0xff, 0x00, 0xfe, 0x01],
        unreadable,
    ));
    let body = form(
        &[
            ("messaging_product", None, "text/plain", b"whatsapp"),
            (
                "file",
                Some("a.exe"),
                "application/x-msdownload",
                b"MZ\x90\x00",
            ),
        ],
        false,
    );
    cases.push(row(
        route,
        "a file of no WhatsApp type",
        FORM,
        body,
        refused,
    ));
    cases
}

/// The ids of one of everything a native route acts on.
struct Objects {
    contact: String,
    session: String,
    campaign: String,
    endpoint: String,
    template: String,
}

/// Sets up one of everything a native route acts on: the templates, an open window and its
/// contact, a session with its first message (read, so no status is still to come), a
/// campaign draft, a disabled endpoint (so no event is delivered to it).
async fn objects(app: &TestApp) -> Objects {
    seed_spring_offer(app, "MARKETING");
    let r = app
        .post(
            "/v1/templates/sync",
            &app.api_key,
            &json!({"channel": PNID}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .get(
            "/v1/templates?name=order_update&language=en_US",
            &app.api_key,
        )
        .await;
    let template = r.body["data"][0]["id"].as_str().unwrap().to_string();
    app.open_window(USER).await;
    let contact = app.get(&format!("/v1/contacts/{USER}"), &app.api_key).await;
    assert_eq!(contact.status, 200, "{}", contact.body);
    let r = app
        .post(
            "/v1/sessions",
            &app.api_key,
            &json!({"channel": PNID, "contact": {"wa_id": USER},
                    "message": {"type": "text", "text": {"body": "hello"}}}),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    let session = r.body["session"]["id"].as_str().unwrap().to_string();
    let message = r.body["message"]["id"].as_str().unwrap().to_string();
    app.wait_status(&message, "read").await;
    let r = app
        .post(
            "/v1/campaigns",
            &app.api_key,
            &json!({"name": "Spring", "channel": PNID,
                    "template": {"name": "spring_offer", "language": "en_US",
                                 "variables": ["{{first_name}}", "{{discount}}"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let campaign = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/v1/webhook-endpoints",
            &app.api_key,
            &json!({"url": "http://127.0.0.1:9/hooks", "events": ["message.*"],
                    "enabled": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    Objects {
        contact: contact.body["id"].as_str().unwrap().to_string(),
        session,
        campaign,
        endpoint: r.body["id"].as_str().unwrap().to_string(),
        template,
    }
}

async fn native_routes_refuse_bad_input_and_store_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let o = objects(&app).await;
    let (tenant, admin) = (app.api_key.clone(), app.admin_key.clone());
    let n = |method, path: &str| Route::new(Surface::Native, method, path).bearer(&tenant);
    let a = |method, path: &str| Route::new(Surface::Native, method, path).bearer(&admin);
    let bad = (400, Code::Name("invalid_request"));
    let failed = (400, Code::Name("validation_failed"));
    let json_routes = [
        n("POST", "/v1/messages"),
        n("POST", "/v1/sessions"),
        n("POST", &format!("/v1/sessions/{}/messages", o.session)),
        n("POST", "/v1/campaigns"),
        n("POST", &format!("/v1/campaigns/{}/retry", o.campaign)),
        n("POST", "/v1/templates"),
        n("POST", "/v1/templates/sync"),
        n("PATCH", &format!("/v1/templates/{}", o.template)),
        n("POST", &format!("/v1/templates/{}/preview", o.template)),
        n("POST", "/v1/webhook-endpoints"),
        n("PATCH", &format!("/v1/webhook-endpoints/{}", o.endpoint)),
        n(
            "POST",
            &format!("/v1/webhook-endpoints/{}/rotate-secret", o.endpoint),
        ),
        n(
            "POST",
            &format!("/v1/webhook-endpoints/{}/replay", o.endpoint),
        ),
        n("PATCH", &format!("/v1/contacts/{}", o.contact)),
        a("POST", "/v1/tenants"),
        a("POST", "/v1/api-keys"),
        a("POST", "/v1/apps"),
        a("PATCH", &format!("/v1/apps/{}", app.channel.app_id)),
        a(
            "POST",
            &format!("/v1/apps/{}/rotate-secret", app.channel.app_id),
        ),
        a("POST", "/v1/channels"),
        a("PATCH", &format!("/v1/channels/{}", app.channel.id)),
    ];
    let mut cases: Vec<Case> = json_routes.iter().flat_map(garbage).collect();

    // Wrong types, over-long strings, negative and huge numbers, route by route.
    let messages = n("POST", "/v1/messages");
    let text = |body: Value| with_channel(json!({"to": USER, "type": "text", "text": body}));
    for (what, body, answer) in [
        (
            "channel a number",
            json!({"channel": 100200300, "to": USER, "type": "text", "text": {"body": "x"}}),
            bad,
        ),
        (
            "to a number",
            with_channel(json!({"to": 15551230001_u64, "type": "text", "text": {"body": "x"}})),
            failed,
        ),
        (
            "text a string",
            with_channel(json!({"to": USER, "type": "text", "text": "x"})),
            failed,
        ),
        ("text.body a number", text(json!({"body": 5})), failed),
        ("text.body an array", text(json!({"body": ["x"]})), failed),
        ("text.body null", text(json!({"body": null})), failed),
        (
            "text.body over 4096",
            text(json!({"body": "a".repeat(4097)})),
            failed,
        ),
        (
            "type a number",
            with_channel(json!({"to": USER, "type": 1, "text": {"body": "x"}})),
            failed,
        ),
        ("a body that is an array", json!([]), bad),
        ("a body that is null", json!(null), bad),
        ("a body that is a string", json!("text"), bad),
        (
            "a 1 MB recipient",
            with_channel(
                json!({"to": "1".repeat(1_000_000), "type": "text", "text": {"body": "x"}}),
            ),
            failed,
        ),
        (
            "a negative latitude past -90",
            with_channel(
                json!({"to": USER, "type": "location", "location": {"latitude": -1e300, "longitude": 1}}),
            ),
            failed,
        ),
        (
            "a huge longitude",
            with_channel(
                json!({"to": USER, "type": "location", "location": {"latitude": 1, "longitude": 99999999999999999999_f64}}),
            ),
            failed,
        ),
    ] {
        cases.push(json_row(&messages, what, body, answer));
    }
    let reply = n("POST", &format!("/v1/sessions/{}/messages", o.session));
    for (what, body, answer) in [
        (
            "type a number",
            json!({"type": 1, "text": {"body": "x"}}),
            failed,
        ),
        (
            "text.body over 4096",
            json!({"type": "text", "text": {"body": "a".repeat(4097)}}),
            failed,
        ),
        (
            "text.body an object",
            json!({"type": "text", "text": {"body": {}}}),
            failed,
        ),
    ] {
        cases.push(json_row(&reply, what, body, answer));
    }
    let sessions = n("POST", "/v1/sessions");
    for (what, body) in [
        (
            "contact a string",
            json!({"channel": PNID, "contact": USER, "message": {"type": "text", "text": {"body": "x"}}}),
        ),
        (
            "contact.wa_id a number",
            json!({"channel": PNID, "contact": {"wa_id": 15551230001_u64}, "message": {"type": "text", "text": {"body": "x"}}}),
        ),
        (
            "message an array",
            json!({"channel": PNID, "contact": {"wa_id": USER}, "message": []}),
        ),
        (
            "a 1 MB contact name",
            json!({"channel": PNID, "contact": {"wa_id": USER, "name": "n".repeat(1_000_000)}, "message": {"type": "text", "text": {"body": "x"}}}),
        ),
    ] {
        let (status, body) = (bad.0, body);
        cases.push(json_row(&sessions, what, body, (status, bad.1)));
    }
    let campaigns = n("POST", "/v1/campaigns");
    let campaign = |extra: Value| {
        let mut v = json!({"name": "Bad", "channel": PNID,
            "template": {"name": "spring_offer", "language": "en_US", "variables": ["a", "b"]}});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    for (what, body) in [
        ("rate_limit negative", campaign(json!({"rate_limit": -1}))),
        (
            "rate_limit huge",
            campaign(json!({"rate_limit": 99999999999999999999_u128 as f64})),
        ),
        (
            "rate_limit past u32",
            campaign(json!({"rate_limit": 4294967296_u64})),
        ),
        ("rate_limit a float", campaign(json!({"rate_limit": 1.5}))),
        ("rate_limit a string", campaign(json!({"rate_limit": "10"}))),
        ("rate_limit zero", campaign(json!({"rate_limit": 0}))),
        ("name a number", campaign(json!({"name": 7}))),
        (
            "a 1 MB name",
            campaign(json!({"name": "n".repeat(1_000_000)})),
        ),
        (
            "template a string",
            campaign(json!({"template": "spring_offer"})),
        ),
        (
            "start_at a date that is none",
            campaign(json!({"start_at": "yesterday"})),
        ),
        (
            "start_at past any year",
            campaign(json!({"start_at": "99999999999999999"})),
        ),
        ("an unknown field", campaign(json!({"rate": 5}))),
    ] {
        cases.push(json_row(&campaigns, what, body, bad));
    }
    let endpoints = n("POST", "/v1/webhook-endpoints");
    for (what, body) in [
        ("url a number", json!({"url": 5, "events": ["message.*"]})),
        (
            "events a string",
            json!({"url": "http://127.0.0.1:9/x", "events": "message.*"}),
        ),
        (
            "enabled a string",
            json!({"url": "http://127.0.0.1:9/x", "events": ["message.*"], "enabled": "yes"}),
        ),
        (
            "a 1 MB url",
            json!({"url": format!("http://127.0.0.1:9/{}", "x".repeat(1_000_000)), "events": ["message.*"]}),
        ),
        (
            "a 1 MB description",
            json!({"url": "http://127.0.0.1:9/x", "events": ["message.*"], "description": "d".repeat(1_000_000)}),
        ),
        (
            "a url that is none",
            json!({"url": "not a url", "events": ["message.*"]}),
        ),
    ] {
        cases.push(json_row(&endpoints, what, body, bad));
    }
    let replay = n(
        "POST",
        &format!("/v1/webhook-endpoints/{}/replay", o.endpoint),
    );
    for (what, body) in [
        ("since a date that is none", json!({"since": "yesterday"})),
        (
            "since past any year",
            json!({"since": "-99999999999999999"}),
        ),
        ("event_ids a string", json!({"event_ids": "evt_1"})),
    ] {
        cases.push(json_row(&replay, what, body, bad));
    }
    let contact = n("PATCH", &format!("/v1/contacts/{}", o.contact));
    for (what, body) in [
        ("name a number", json!({"name": 5})),
        ("name over 256 characters", json!({"name": "n".repeat(257)})),
        ("a 1 MB name", json!({"name": "n".repeat(1_000_000)})),
        ("attributes an array", json!({"attributes": [1]})),
        (
            "attributes over 16 KiB",
            json!({"attributes": {"a": "x".repeat(17 * 1024)}}),
        ),
        (
            "marketing_opt_out a string",
            json!({"marketing_opt_out": "true"}),
        ),
        ("an unknown field", json!({"phone": "x"})),
    ] {
        cases.push(json_row(&contact, what, body, bad));
    }
    let templates = n("POST", "/v1/templates");
    for (what, body, answer) in [
        (
            "components a string",
            json!({"channel": PNID, "name": "bad_one", "language": "en_US", "category": "UTILITY", "components": "BODY"}),
            (400, Code::Name("invalid_template")),
        ),
        (
            "a 1 MB name",
            json!({"channel": PNID, "name": "n".repeat(1_000_000), "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "Hi"}]}),
            (400, Code::Name("invalid_template")),
        ),
        (
            "channel a number",
            json!({"channel": 100200300, "name": "bad_one", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "Hi"}]}),
            bad,
        ),
    ] {
        cases.push(json_row(&templates, what, body, answer));
    }
    let sync = n("POST", "/v1/templates/sync");
    cases.push(json_row(
        &sync,
        "name a number",
        json!({"channel": PNID, "name": 5}),
        bad,
    ));
    let tenants = a("POST", "/v1/tenants");
    for (what, body) in [
        ("name a number", json!({"name": 5})),
        ("a 1 MB name", json!({"name": "n".repeat(1_000_000)})),
        ("an empty name", json!({"name": ""})),
    ] {
        cases.push(json_row(&tenants, what, body, bad));
    }
    let a_megabyte = "x".repeat(1_000_000);
    let app_path = format!("/v1/apps/{}", app.channel.app_id);
    let rotate = format!("/v1/apps/{}/rotate-secret", app.channel.app_id);
    let channel_path = format!("/v1/channels/{}", app.channel.id);
    for (route, what, body) in [
        (
            a("POST", "/v1/api-keys"),
            "a 1 MB name",
            json!({"tenant_id": app.tenant_id, "name": a_megabyte}),
        ),
        (
            a("POST", "/v1/apps"),
            "a 1 MB name",
            json!({"tenant_id": app.tenant_id, "name": a_megabyte, "app_secret": "s", "verify_token": "v"}),
        ),
        (
            a("POST", "/v1/apps"),
            "a 1 MB app secret",
            json!({"tenant_id": app.tenant_id, "name": "n", "app_secret": a_megabyte, "verify_token": "v"}),
        ),
        (
            a("PATCH", &app_path),
            "a 1 MB verify token",
            json!({"verify_token": a_megabyte}),
        ),
        (
            a("PATCH", &app_path),
            "a 1 MB name",
            json!({"name": a_megabyte}),
        ),
        (
            a("POST", &rotate),
            "a 1 MB app secret",
            json!({"app_secret": a_megabyte}),
        ),
        (
            a("POST", &rotate),
            "overlap_seconds negative",
            json!({"app_secret": "new", "overlap_seconds": -1}),
        ),
        (
            a("POST", &rotate),
            "overlap_seconds past i64",
            json!({"app_secret": "new", "overlap_seconds": 99999999999999999999_f64}),
        ),
        (
            a("POST", "/v1/channels"),
            "a 1 MB access token",
            json!({"tenant_id": app.tenant_id, "app_id": app.channel.app_id, "phone_number_id": "100200301", "waba_id": "900100", "display_phone_number": "15550001112", "access_token": a_megabyte}),
        ),
        (
            a("PATCH", &channel_path),
            "a 1 MB access token",
            json!({"access_token": a_megabyte}),
        ),
        (
            a("PATCH", &channel_path),
            "a 1 MB business id",
            json!({"business_id": a_megabyte}),
        ),
        (
            n("POST", "/v1/webhook-endpoints"),
            "a thousand event patterns",
            json!({"url": "http://127.0.0.1:9/x", "events": vec!["message.*"; 1000]}),
        ),
    ] {
        cases.push(json_row(&route, what, body, bad));
    }
    // NUL in a string that would be stored.
    for (route, body) in [
        (
            n("POST", "/v1/messages"),
            with_channel(json!({"to": USER, "type": "text", "text": {"body": NUL}})),
        ),
        (
            n("PATCH", &format!("/v1/contacts/{}", o.contact)),
            json!({"name": NUL}),
        ),
        (
            n("PATCH", &format!("/v1/contacts/{}", o.contact)),
            json!({"attributes": {NUL: 1}}),
        ),
        (
            n("POST", "/v1/webhook-endpoints"),
            json!({"url": "http://127.0.0.1:9/x", "events": ["message.*"], "description": NUL}),
        ),
        (a("POST", "/v1/tenants"), json!({"name": NUL})),
    ] {
        cases.push(json_row(&route, "NUL in a string", body, bad));
    }
    let channels = a("PATCH", &format!("/v1/channels/{}", app.channel.id));
    for (what, body) in [
        ("throughput_mps negative", json!({"throughput_mps": -5})),
        (
            "throughput_mps past u32",
            json!({"throughput_mps": 99999999999_u64}),
        ),
        ("throughput_mps a string", json!({"throughput_mps": "80"})),
    ] {
        cases.push(json_row(&channels, what, body, bad));
    }

    // Campaign recipients: neither CSV nor NDJSON, or rows that are all refused.
    let upload = n("POST", &format!("/v1/campaigns/{}/recipients", o.campaign));
    cases.push(row(
        &upload,
        "JSON is not a recipients format",
        "application/json",
        b"[]".to_vec(),
        (415, Code::Name("unsupported_media_type")),
    ));
    let mut bad_utf8 = b"phone,first_name\n".to_vec();
    bad_utf8.extend([0xff, 0xfe, b',', b'x', b'\n']);
    for (what, ct, body) in [
        ("CSV of invalid UTF-8", "text/csv", bad_utf8),
        (
            "CSV without a phone column",
            "text/csv",
            b"name\nAnn\n".to_vec(),
        ),
        (
            "NDJSON nested 100 000 deep",
            "application/x-ndjson",
            "[".repeat(100_000).into_bytes(),
        ),
    ] {
        cases.push(row(&upload, what, ct, body, bad));
    }

    // Media: forms that are not forms, a file of no WhatsApp type.
    let media = n("POST", "/v1/media");
    cases.extend(media_form_cases(&media, bad, bad));

    let before = settled_counts(&app).await;
    run(&app, &cases).await;
    // Rows are refused one by one, in a report, and none is stored.
    for (ct, body) in [
        (
            "application/x-ndjson",
            "{\"phone\": \n[[[\nNaN\n{\"phone\": -1}\n{\"phone\": 1e400}\n",
        ),
        (
            "text/csv",
            "phone,first_name,discount\n-1,a,5%\n99999999999999999999999999,b,5%\nNaN,c,-1e400\n",
        ),
        // NUL in a variable: no text the gateway keeps holds one.
        (
            "application/x-ndjson",
            "{\"phone\": \"15551230002\", \"variables\": {\"first_name\": \"a\\u0000b\", \"discount\": \"5%\"}}\n",
        ),
        (
            "text/csv",
            "phone,first_name,discount\n15551230002,a\u{0}b,5%\n",
        ),
    ] {
        let path = format!("/v1/campaigns/{}/recipients", o.campaign);
        let r = app
            .post_raw(&path, &app.api_key, body, &[("content-type", ct)])
            .await;
        assert_eq!(r.status, 200, "{ct}: {}", r.body);
        assert_eq!(r.body["accepted"], 0, "{ct}: {}", r.body);
        let lines = body.lines().filter(|l| !l.starts_with("phone,")).count();
        assert_eq!(r.body["rejected"], lines, "{ct}: {}", r.body);
    }
    nothing_stored(&app, &before).await;
}

async fn list_queries_refuse_bad_values(b: Backend) {
    let app = spawn_app(b).await;
    let o = objects(&app).await;
    let key = app.api_key.clone();
    let bad = (400, Code::Name("invalid_request"));
    let lists = [
        "/v1/messages".to_string(),
        "/v1/sessions".to_string(),
        format!("/v1/sessions/{}/messages", o.session),
        "/v1/contacts".to_string(),
        "/v1/campaigns".to_string(),
        format!("/v1/campaigns/{}/recipients", o.campaign),
        "/v1/templates".to_string(),
        "/v1/webhook-endpoints".to_string(),
        format!("/v1/webhook-endpoints/{}/deliveries", o.endpoint),
        "/v1/events".to_string(),
    ];
    let mut cases = Vec::new();
    for list in &lists {
        for limit in [
            "-1",
            "0",
            "101",
            "99999999999999999999",
            "1e3",
            "abc",
            "%FF",
            "",
        ] {
            let route =
                Route::new(Surface::Native, "GET", format!("{list}?limit={limit}")).bearer(&key);
            cases.push(row(&route, &format!("limit={limit}"), "", Vec::new(), bad));
        }
    }
    for (path, what) in [
        (
            "/v1/messages?created_after=yesterday",
            "a date that is none",
        ),
        (
            "/v1/messages?created_before=99999999999999999999",
            "seconds past i64",
        ),
        (
            "/v1/messages?created_after=9223372036854775807",
            "seconds past any year",
        ),
        (
            "/v1/messages?created_after=-9223372036854775808",
            "seconds before any year",
        ),
        ("/v1/messages?status=nope", "an unknown status"),
        ("/v1/messages?direction=sideways", "an unknown direction"),
        (
            "/v1/sessions?opened_after=2024-13-45T99:00:00Z",
            "a date that is none",
        ),
        ("/v1/sessions?status=maybe", "an unknown status"),
        ("/v1/events?since=tomorrow", "a date that is none"),
        ("/v1/events?until=%FF%FE", "invalid UTF-8"),
        ("/v1/contacts?opted_out=perhaps", "a boolean that is none"),
        ("/v1/templates?include_deleted=2", "a boolean that is none"),
    ] {
        let route = Route::new(Surface::Native, "GET", path).bearer(&key);
        cases.push(row(&route, what, "", Vec::new(), bad));
    }
    let recipients = format!("/v1/campaigns/{}/recipients", o.campaign);
    for after in ["abc", "99999999999999999999", "1.5"] {
        let route = Route::new(
            Surface::Native,
            "GET",
            format!("{recipients}?after={after}"),
        )
        .bearer(&key);
        cases.push(row(&route, &format!("after={after}"), "", Vec::new(), bad));
    }
    let before = settled_counts(&app).await;
    run(&app, &cases).await;
    // A cursor that is no row's id is no error: the rows after it in id order, or none.
    for list in &lists[..5] {
        for after in [
            "garbage",
            "%FF%FE",
            &"z".repeat(10_000),
            "'; DROP TABLE messages; --",
        ] {
            let r = app.get(&format!("{list}?after={after}"), &key).await;
            assert!(
                r.status == 200 && r.body["data"].is_array(),
                "{list}?after={}: {} {}",
                &after[..after.len().min(20)],
                r.status,
                r.body
            );
        }
    }
    nothing_stored(&app, &before).await;
}

async fn the_cloud_api_refuses_in_metas_shape_and_stores_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let key = app.api_key.clone();
    let r = app
        .post("/v1/templates/sync", &key, &json!({"channel": PNID}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .get("/v21.0/900100/message_templates?name=order_update", &key)
        .await;
    let template = r.body["data"][0]["id"].as_str().unwrap().to_string();
    let g = |method, path: &str| Route::new(Surface::Graph, method, path).bearer(&key);
    let messages = g("POST", &format!("/v21.0/{PNID}/messages"));
    let templates = g("POST", "/v21.0/900100/message_templates");
    let edit = g("POST", &format!("/v21.0/{template}"));
    let mut cases: Vec<Case> = [messages.clone(), templates.clone(), edit]
        .iter()
        .flat_map(garbage)
        .collect();
    let invalid = (400, Code::Number(100));
    // A resumable upload's length, negative, zero or past any size.
    for length in ["-1", "0", "99999999999999999999", "1e3"] {
        let start = g(
            "POST",
            &format!(
                "/v21.0/{META_APP_ID}/uploads?file_name=a.png&file_type=image/png&file_length={length}"
            ),
        );
        cases.push(row(
            &start,
            &format!("file_length={length}"),
            "",
            Vec::new(),
            invalid,
        ));
    }
    let meta = |code| (400, Code::Number(code));
    let text = |body: Value| json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": body});
    for (what, body, answer) in [
        (
            "to a number",
            json!({"messaging_product": "whatsapp", "to": 15551230001_u64, "type": "text", "text": {"body": "x"}}),
            invalid,
        ),
        (
            "text a string",
            json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": "x"}),
            invalid,
        ),
        ("text.body a number", text(json!({"body": 5})), invalid),
        (
            "text.body over 4096",
            text(json!({"body": "a".repeat(4097)})),
            invalid,
        ),
        ("a body that is an array", json!([]), invalid),
        (
            "messaging_product a number",
            json!({"messaging_product": 1, "to": USER, "type": "text", "text": {"body": "x"}}),
            invalid,
        ),
        (
            "a 1 MB recipient",
            json!({"messaging_product": "whatsapp", "to": "1".repeat(1_000_000), "type": "text", "text": {"body": "x"}}),
            meta(131009),
        ),
        (
            "a latitude of -1e300",
            json!({"messaging_product": "whatsapp", "to": USER, "type": "location", "location": {"latitude": -1e300, "longitude": 1}}),
            invalid,
        ),
    ] {
        cases.push(json_row(&messages, what, body, answer));
    }
    for (what, body, answer) in [
        (
            "components a string",
            json!({"name": "bad_one", "language": "en_US", "category": "UTILITY", "components": "BODY"}),
            invalid,
        ),
        (
            "a 1 MB name",
            json!({"name": "n".repeat(1_000_000), "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "Hi"}]}),
            invalid,
        ),
        (
            "a body over 1024 characters",
            json!({"name": "bad_one", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "b".repeat(1025)}]}),
            invalid,
        ),
        (
            "message_send_ttl_seconds negative",
            json!({"name": "bad_one", "language": "en_US", "category": "UTILITY", "message_send_ttl_seconds": -5, "components": [{"type": "BODY", "text": "Hi"}]}),
            invalid,
        ),
    ] {
        cases.push(json_row(&templates, what, body, answer));
    }
    let list = |q: &str| g("GET", &format!("/v21.0/900100/message_templates?{q}"));
    for q in ["limit=-1", "limit=99999999999999999999", "limit=abc"] {
        cases.push(row(&list(q), q, "", Vec::new(), invalid));
    }
    let media = g("POST", &format!("/v21.0/{PNID}/media"));
    cases.extend(media_form_cases(&media, invalid, invalid));
    // NUL in a text that would otherwise go out (the user's window is open), in a template.
    app.open_window(OPEN).await;
    cases.push(json_row(
        &messages,
        "NUL in the text",
        json!({"messaging_product": "whatsapp", "to": OPEN, "type": "text", "text": {"body": NUL}}),
        invalid,
    ));
    cases.push(json_row(
        &templates,
        "NUL in the body",
        json!({"name": "nul_body", "language": "en_US", "category": "UTILITY",
               "components": [{"type": "BODY", "text": format!("Hello {NUL} there")}]}),
        invalid,
    ));
    let before = settled_counts(&app).await;
    run(&app, &cases).await;
    nothing_stored(&app, &before).await;
}

/// A `messages` change for the test number holding `value`'s fields (`metadata` added).
fn change(value: Value) -> String {
    envelope(value)
}

async fn signed_malformed_webhooks_create_nothing(b: Backend) {
    let app = spawn_app(b).await;
    app.open_window(USER).await;
    let before = settled_counts(&app).await;
    let msg = |m: Value| {
        change(
            json!({"contacts": [{"profile": {"name": "U"}, "wa_id": "15557770001"}],
                      "messages": [m]}),
        )
    };
    let text = json!({"from": "15557770001", "id": "wamid.bad", "timestamp": "1700000000",
                      "type": "text", "text": {"body": "hi"}});
    // Each with a wamid of its own, so that none is a duplicate of another that was kept.
    let with = |k: &str, v: Value| {
        let mut m = text.clone();
        m["id"] = json!(format!("wamid.bad-{k}-{}", v.to_string().len()));
        m[k] = v;
        msg(m)
    };
    let mut invalid_utf8 = envelope(json!({})).into_bytes();
    let at = invalid_utf8.len() - 4;
    invalid_utf8.splice(at..at, [b',', b'"', 0xff, 0xfe, b'"', b':', b'1']);
    // Routable: signed for a known number, so stored and answered 200; nothing applied.
    let kept: Vec<(&str, Vec<u8>)> = vec![
        ("messages a string", change(json!({"messages": "nope"})).into_bytes()),
        ("a message id a number", with("id", json!(5)).into_bytes()),
        ("a message without id", {
            let mut m = text.clone();
            m.as_object_mut().unwrap().remove("id");
            msg(m).into_bytes()
        }),
        ("timestamp a number", with("timestamp", json!(1700000000)).into_bytes()),
        ("timestamp past any year", with("timestamp", json!("99999999999999999")).into_bytes()),
        ("timestamp past i64", with("timestamp", json!("-9223372036854775808")).into_bytes()),
        ("from a number", with("from", json!(15557770001_u64)).into_bytes()),
        ("NUL in a text", with("text", json!({"body": NUL})).into_bytes()),
        ("NUL in a profile name", {
            let mut m = text.clone();
            m["id"] = json!("wamid.bad-profile");
            change(json!({"contacts": [{"profile": {"name": NUL}, "wa_id": "15557770001"}], "messages": [m]})).into_bytes()
        }),
        ("type an object", with("type", json!({})).into_bytes()),
        ("statuses of wrong types", change(json!({"statuses": [{"id": 1, "status": ["read"], "timestamp": {}, "recipient_id": null}]})).into_bytes()),
        ("a status time past any year", change(json!({"statuses": [{"id": "wamid.nope", "status": "read", "timestamp": "99999999999999999", "recipient_id": USER}]})).into_bytes()),
        ("contacts a number", change(json!({"contacts": 5, "messages": [text.clone()]})).into_bytes()),
        ("metadata without its number but the entry's WABA", br#"{"object":"whatsapp_business_account","entry":[{"id":"900100","changes":[{"field":"messages","value":{"metadata":{},"messages":[{"from":"15557770001","id":"wamid.x","timestamp":"1700000000","type":"text","text":{"body":"hi"}}]}}]}]}"#.to_vec()),
        ("a template update of wrong types", br#"{"object":"whatsapp_business_account","entry":[{"id":"900100","time":99999999999999999,"changes":[{"field":"message_template_status_update","value":{"event":5,"message_template_id":[],"message_template_name":{}}}]}]}"#.to_vec()),
    ];
    // Unroutable: no number to find the secret by, so refused unverified.
    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"hello".to_vec()),
        ("deep nesting", "[".repeat(100_000).into_bytes()),
        (
            "entry a string",
            br#"{"object":"whatsapp_business_account","entry":"x"}"#.to_vec(),
        ),
        ("NaN", br#"{"entry": NaN}"#.to_vec()),
        ("invalid UTF-8 in a key", invalid_utf8),
        (
            "an unknown number",
            envelope(json!({})).replace(PNID, "999999").into_bytes(),
        ),
    ];
    let post = |body: &[u8]| {
        let http = reqwest::Client::new();
        let req = http
            .post(app.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                openbsp_wire::signature::sign(APP_SECRET.as_bytes(), body),
            )
            .body(body.to_vec());
        async move {
            let r = req.send().await.expect("an answer");
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    for (what, body) in &kept {
        assert_eq!(
            post(body).await,
            (200, "EVENT_RECEIVED".to_string()),
            "{what}"
        );
    }
    for (what, body) in &refused {
        assert_eq!(
            post(body).await,
            (401, "invalid signature".to_string()),
            "{what}"
        );
    }
    // Over Meta's 3 MB: refused before it is read (Meta reads only the status).
    let huge = change(
        json!({"messages": [{"from": USER, "id": "wamid.huge", "timestamp": "1700000000",
                                           "type": "text", "text": {"body": "a".repeat(3 * 1024 * 1024)}}]}),
    );
    let mut status = None;
    for _ in 0..20 {
        let http = reqwest::Client::new();
        let sent = http
            .post(app.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                openbsp_wire::signature::sign(APP_SECRET.as_bytes(), huge.as_bytes()),
            )
            .body(huge.clone())
            .send()
            .await;
        if let Ok(r) = sent {
            status = Some(r.status().as_u16());
            break;
        }
    }
    assert_eq!(status, Some(413));
    // The same malformed payload again is answered alike and not kept twice.
    assert_eq!(post(&kept[0].1).await.0, 200);

    // Each kept payload is processed (marked, so never claimed again) and applied as nothing.
    let inbox = "webhook_inbox";
    wait_until("the payloads processed", || async {
        app.db.row_counts().await[inbox] == before[inbox] + kept.len() as i64
    })
    .await;
    let processed = kept.len() as i64;
    wait_until("every payload marked processed", || async {
        unprocessed(&app).await == 0
    })
    .await;
    let after = settled_counts(&app).await;
    // The inbox's tables (SQLite keeps the bodies apart) hold each payload once; no other
    // table changed.
    let expected: BTreeMap<String, (i64, i64)> = before
        .iter()
        .filter(|(t, _)| t.starts_with(inbox))
        .map(|(t, n)| (t.clone(), (*n, n + processed)))
        .collect();
    assert_eq!(
        changed(&before, &after),
        expected,
        "only the inbox keeps the signed payloads (table: (before, after))"
    );
    let r = app.get("/v1/contacts?limit=100", &app.api_key).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
    still_ready(&app).await;
}

/// How many stored payloads are not processed yet.
async fn unprocessed(app: &TestApp) -> i64 {
    app.db
        .query_i64("SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL")
        .await
}

async fn vendor_routes_refuse_in_their_shapes_and_store_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let key = app.api_key.clone();
    let r = app
        .post("/v1/templates/sync", &key, &json!({"channel": PNID}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let talqui = Route::new(
        Surface::Talqui,
        "POST",
        format!("/tenants/{}/sessions", app.tenant_id),
    )
    .header("authorization", format!("PluginConnection {key}"));
    let ping = |route: &str| {
        Route::new(
            Surface::Pingtochat,
            "POST",
            format!("/api/v1.0/{PNID}/{key}/{route}"),
        )
    };
    let plugin = format!("/v1/ext/plugin/whatsapp/{}", app.channel.app_id);
    let chakra = |path: String| Route::new(Surface::Chakra, "POST", path).bearer(&key);
    let connectly = |route: &str| {
        Route::new(
            Surface::Connectly,
            "POST",
            business_path(&app.tenant_id, route),
        )
        .header("x-api-key", key.clone())
    };
    let routes = [
        talqui.clone(),
        ping("simpleMessages"),
        ping("messages"),
        ping("message_templates"),
        chakra(format!("{plugin}/api/v19.0/{PNID}/messages")),
        chakra(format!("{plugin}/phoneNumber/{USER}/send-template-message")),
        chakra("/v1/ext/plugin/whatsapp/api/v19.0/900100/message_templates".into()),
        connectly("send/messages"),
        connectly("send/whatsapp_templated_messages"),
        connectly("create/template"),
        connectly("send/campaigns").limit(8 * 1024 * 1024),
        connectly("create/webhooks"),
        connectly("assets"),
    ];
    let mut cases: Vec<Case> = routes.iter().flat_map(garbage).collect();
    // ChakraHQ's upload: a form it cannot read is a 400 of its own, a file of no WhatsApp
    // type Meta's 100.
    let upload = chakra(format!("{plugin}/upload-public-media"));
    cases.extend(media_form_cases(
        &upload,
        (400, Code::Number(400)),
        (400, Code::Number(100)),
    ));
    let talqui_bad = (400, Code::Name("invalid_request"));
    let start = |k: &str, v: Value| {
        let mut body = json!({"channel": "urn:talqui:whatsapp-cloud:0", "pluginConnectionID": PNID,
            "contactFullName": "Ana", "contactExternalID": USER, "messageKey": "text",
            "messageValue": "hi", "sessionKind": "marketing", "sessionType": "auto",
            "campaignVariables": []});
        body[k] = v;
        body
    };
    for (what, body) in [
        (
            "contactExternalID an array",
            start("contactExternalID", json!([15551230001_u64])),
        ),
        (
            "campaignVariables a string",
            start("campaignVariables", json!("a,b")),
        ),
        ("messageValue an object", start("messageValue", json!({}))),
        (
            "a 1 MB contactFullName",
            start("contactFullName", json!("n".repeat(1_000_000))),
        ),
    ] {
        cases.push(json_row(&talqui, what, body, talqui_bad));
    }
    let simple = ping("simpleMessages");
    for (what, body) in [
        (
            "to a number",
            json!({"to": 15551230001_u64, "type": "text", "text": {"body": "x"}}),
        ),
        (
            "text.body over 4096",
            json!({"to": USER, "type": "text", "text": {"body": "a".repeat(4097)}}),
        ),
    ] {
        cases.push(json_row(&simple, what, body, (400, Code::Number(100))));
    }
    let chakra_messages = chakra(format!("{plugin}/api/v19.0/{PNID}/messages"));
    for (what, body) in [
        (
            "to a number",
            json!({"messaging_product": "whatsapp", "to": 15551230001_u64, "type": "text", "text": {"body": "x"}}),
        ),
        (
            "text.body over 4096",
            json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "a".repeat(4097)}}),
        ),
    ] {
        cases.push(json_row(
            &chakra_messages,
            what,
            body,
            (400, Code::Number(100)),
        ));
    }
    let send = connectly("send/messages");
    for (what, body, code) in [
        (
            "number a number",
            json!({"number": 15551230001_u64, "message": {"text": "x"}}),
            "ERROR_CODE_INVALID_REQUEST",
        ),
        (
            "text a number",
            json!({"number": format!("+{USER}"), "message": {"text": 5}}),
            "ERROR_CODE_INVALID_REQUEST",
        ),
    ] {
        cases.push(json_row(&send, what, body, (400, Code::Name(code))));
    }
    // NUL in a text that would otherwise go out (the user's window is open).
    app.open_window(OPEN).await;
    let mut nul_start = start("contactExternalID", json!(OPEN));
    nul_start["messageValue"] = json!(NUL);
    let meta_text = json!({"messaging_product": "whatsapp", "to": OPEN, "type": "text",
                           "text": {"body": NUL}});
    for (route, body, answer) in [
        (talqui.clone(), nul_start, talqui_bad),
        (simple.clone(), meta_text.clone(), (400, Code::Number(100))),
        (chakra_messages.clone(), meta_text, (400, Code::Number(100))),
        (
            send.clone(),
            json!({"number": format!("+{OPEN}"), "message": {"text": NUL}}),
            (400, Code::Name("ERROR_CODE_INVALID_REQUEST")),
        ),
    ] {
        cases.push(json_row(&route, "NUL in the text", body, answer));
    }
    let before = settled_counts(&app).await;
    run(&app, &cases).await;
    nothing_stored(&app, &before).await;
}
