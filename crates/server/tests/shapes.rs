//! The shape of the gateway's HTTP contracts, pinned with insta snapshots on both backends:
//! every native `/v1` answer (successes and their errors), every Meta error object of the
//! Cloud-API-compatible surface, Meta's webhook receiver and the health routes. Each snapshot
//! holds the HTTP status, the headers that are part of the contract (`content-type`,
//! `x-request-id`, `www-authenticate`, `allow`, when present) and the body: parsed when its
//! `content-type` is JSON, else its text. A snapshot's name never names the backend: SQLite
//! and PostgreSQL must both match the same file, so the snapshots also show that the two
//! answer identically.
//!
//! Only what varies between runs is redacted, by its form (a value that does not have the
//! expected form is left as it is, and so fails the comparison):
//!
//! * gateway ids (`msg_` + a ULID, and `ten_ key_ app_ chn_ con_ ses_ evt_ tpl_ whk_ whe_
//!   req_`) become `[msg_id]`, `[ses_id]`, …; delivery attempt ids (`att_` + a number)
//!   `[att_id]`;
//! * Meta's ids: `wamid.…` becomes `[wamid]`, a 16-digit template id `[meta_template_id]`;
//! * timestamps (RFC 3339, milliseconds, UTC: the gateway's one spelling) `[timestamp]`;
//! * secrets: API keys (`obsp_` + 43 characters) `[api_key]`, their 12-character `prefix`
//!   `[api_key_prefix]`, endpoint secrets (`whsec_` + 44) `[whsec_secret]`;
//! * `fbtrace_id` (16 URL-safe characters) `[fbtrace_id]`, `latency_ms` (a number)
//!   `[latency_ms]`, an inbound message's `timestamp` (Unix seconds) `[unix_seconds]`, a
//!   numeric `message_template_id` `[meta_template_id: number]`;
//! * the random ports of the test servers (`127.0.0.1:[port]`).
//!
//! These rules apply inside longer strings too (an error message quoting a message id), so
//! every fixed word of a message stays visible. Keys, types, nesting, status codes, error
//! codes and messages are all kept: any change to them fails a snapshot.
//!
//! To write the snapshots again after an intended change: `INSTA_UPDATE=always cargo nextest
//! run -p openbsp-server --test shapes sqlite`, review the diff, then run both backends
//! without `INSTA_UPDATE`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::receiver::Receiver;
use common::*;
use insta::internals::{Content, ContentPath};
use openbsp_testkit::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends! {
    messages => crate::messages,
    sessions => crate::sessions,
    contacts => crate::contacts,
    templates => crate::templates,
    endpoints => crate::endpoints,
    events => crate::events,
    admin => crate::admin,
    cloud_api => crate::cloud_api,
    cloud_api_templates => crate::cloud_api_templates,
    meta_webhooks => crate::meta_webhooks,
    health => crate::health,
}

// ---------------------------------------------------------------------------------------------
// Requests and snapshots.

/// The response headers that are part of the contract, shown when present.
const SHOWN_HEADERS: &[&str] = &["content-type", "x-request-id", "www-authenticate", "allow"];

/// A response as a snapshot shows it.
struct Shot {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
}

impl Shot {
    fn json(&self) -> Value {
        json!({"status": self.status, "headers": self.headers, "body": self.body})
    }

    /// The body's `id` (panics, showing the answer, when there is none).
    fn id(&self) -> String {
        self.str_at("/id")
    }

    /// The string at a JSON pointer of the body.
    fn str_at(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer}: {} {}", self.status, self.body))
            .to_string()
    }
}

/// Requests as one caller: a bearer key (or none) and extra request headers.
struct Api<'a> {
    app: &'a TestApp,
    key: Option<String>,
    headers: Vec<(&'static str, String)>,
    /// A client of its own (no connection shared with the other requests of the test).
    own_client: Option<reqwest::Client>,
}

impl<'a> Api<'a> {
    fn tenant(app: &'a TestApp) -> Api<'a> {
        Api::with_key(app, &app.api_key)
    }

    fn admin(app: &'a TestApp) -> Api<'a> {
        Api::with_key(app, &app.admin_key)
    }

    fn with_key(app: &'a TestApp, key: &str) -> Api<'a> {
        Api {
            app,
            key: Some(key.to_string()),
            headers: Vec::new(),
            own_client: None,
        }
    }

    /// No `Authorization` header at all.
    fn anonymous(app: &'a TestApp) -> Api<'a> {
        Api {
            app,
            key: None,
            headers: Vec::new(),
            own_client: None,
        }
    }

    /// The same caller on connections of its own: for requests the gateway answers by closing
    /// the connection (an oversized body), so that no later request of the test is sent on a
    /// connection the gateway closed.
    fn alone(mut self) -> Api<'a> {
        self.own_client = Some(reqwest::Client::new());
        self
    }

    /// The same caller with an extra request header.
    fn header(mut self, name: &'static str, value: &str) -> Api<'a> {
        self.headers.push((name, value.to_string()));
        self
    }

    async fn send(&self, method: Method, path: &str, body: Option<String>) -> Shot {
        self.try_send(method, path, body).await.expect("request")
    }

    /// The request, or the transport's error.
    async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Shot, reqwest::Error> {
        let client = self.own_client.as_ref().unwrap_or(&self.app.http);
        let mut req = client.request(method, self.app.url(path));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let headers: BTreeMap<String, String> = SHOWN_HEADERS
            .iter()
            .filter_map(|h| {
                r.headers().get(*h).map(|v| {
                    (
                        h.to_string(),
                        v.to_str().unwrap_or("<not ASCII>").to_string(),
                    )
                })
            })
            .collect();
        let text = r.text().await.unwrap_or_default();
        // A JSON body as JSON; any other (and JSON that does not parse) as its text.
        let json = headers
            .get("content-type")
            .is_some_and(|t: &String| t.contains("json"));
        let body = match serde_json::from_str(&text) {
            Ok(v) if json => v,
            _ => Value::String(text),
        };
        Ok(Shot {
            status,
            headers,
            body,
        })
    }

    async fn get(&self, path: &str) -> Shot {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Shot {
        self.send(Method::POST, path, Some(body.to_string())).await
    }

    /// A POST of these bytes as they are (invalid JSON, a replayed body).
    async fn post_raw(&self, path: &str, body: &str) -> Shot {
        self.send(Method::POST, path, Some(body.to_string())).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Shot {
        self.send(Method::PATCH, path, Some(body.to_string())).await
    }

    async fn delete(&self, path: &str) -> Shot {
        self.send(Method::DELETE, path, None).await
    }
}

/// Asserts the snapshot `name` (shared by both backends) of a response.
fn snap(name: &str, shot: &Shot) {
    snap_value(name, shot.json());
}

/// Asserts the snapshot `name` of several responses, each under what it shows.
fn snap_cases(name: &str, cases: &[(&str, Shot)]) {
    let v: Vec<Value> = cases
        .iter()
        .map(|(case, shot)| {
            let mut v = shot.json();
            v["case"] = json!(case);
            v
        })
        .collect();
    snap_value(name, Value::Array(v));
}

fn snap_value(name: &str, value: Value) {
    insta::assert_json_snapshot!(name, value, {
        ".**.fbtrace_id" => insta::dynamic_redaction(fbtrace_id),
        ".**.latency_ms" => insta::dynamic_redaction(latency_ms),
        ".**.prefix" => insta::dynamic_redaction(api_key_prefix),
        ".**.timestamp" => insta::dynamic_redaction(unix_seconds),
        ".**.message_template_id" => insta::dynamic_redaction(numeric_template_id),
        "." => insta::dynamic_redaction(scrub_tree),
    });
}

/// The gateway's `fbtrace_id`: 16 URL-safe base64 characters.
fn fbtrace_id(value: Content, _: ContentPath<'_>) -> Content {
    match value.as_str() {
        Some(s) if s.len() == 16 && s.bytes().all(is_url_safe) => "[fbtrace_id]".into(),
        _ => value,
    }
}

/// A delivery attempt's latency: any whole number of milliseconds.
fn latency_ms(value: Content, _: ContentPath<'_>) -> Content {
    match value {
        Content::U64(_) | Content::I64(_) => "[latency_ms]".into(),
        other => other,
    }
}

/// An API key's shown prefix: `obsp_` and 7 characters of the key.
fn api_key_prefix(value: Content, _: ContentPath<'_>) -> Content {
    match value.as_str() {
        Some(s) if s.len() == 12 && s.starts_with("obsp_") && s.bytes().all(is_url_safe) => {
            "[api_key_prefix]".into()
        }
        _ => value,
    }
}

/// Meta's `timestamp` of an inbound message: Unix seconds, as a string of 10 digits.
fn unix_seconds(value: Content, _: ContentPath<'_>) -> Content {
    match value.as_str() {
        Some(s) if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) => {
            "[unix_seconds]".into()
        }
        _ => value,
    }
}

/// Meta's template id where Meta's webhooks carry it as a number (16 digits).
fn numeric_template_id(value: Content, _: ContentPath<'_>) -> Content {
    match value {
        Content::U64(n) if n.to_string().len() == 16 => "[meta_template_id: number]".into(),
        Content::I64(n) if n.to_string().len() == 16 => "[meta_template_id: number]".into(),
        other => other,
    }
}

/// Every string of the tree, with its varying parts replaced by their placeholders.
fn scrub_tree(value: Content, _: ContentPath<'_>) -> Content {
    scrub(value)
}

fn scrub(value: Content) -> Content {
    match value {
        Content::String(s) => Content::String(scrub_str(&s)),
        Content::Seq(items) => Content::Seq(items.into_iter().map(scrub).collect()),
        Content::Map(entries) => {
            Content::Map(entries.into_iter().map(|(k, v)| (k, scrub(v))).collect())
        }
        other => other,
    }
}

/// Gateway id prefixes (`openbsp_domain::ids::prefix`) and the request id's.
const ID_PREFIXES: &[&str] = &[
    "ten", "key", "app", "chn", "con", "msg", "ses", "evt", "tpl", "whk", "whe", "req",
];

fn is_url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

fn is_crockford(b: u8) -> bool {
    b.is_ascii_digit() || (b.is_ascii_lowercase() && !matches!(b, b'i' | b'l' | b'o' | b'u'))
}

/// How many leading bytes of `s` satisfy `f`.
fn run(s: &str, f: impl Fn(u8) -> bool) -> usize {
    s.bytes().take_while(|b| f(*b)).count()
}

/// Whether `s` starts with `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn starts_with_timestamp(s: &str) -> bool {
    const FORM: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    s.len() >= FORM.len()
        && s.bytes().zip(FORM).all(|(b, f)| match f {
            b'd' => b.is_ascii_digit(),
            other => b == *other,
        })
}

/// The varying token at the start of `t`, if any: its length and placeholder.
fn token_at(t: &str) -> Option<(usize, String)> {
    let ends_here = |rest: &str, n: usize| !rest.as_bytes().get(n).is_some_and(|b| is_url_safe(*b));
    for p in ID_PREFIXES {
        if let Some(rest) = t.strip_prefix(p).and_then(|r| r.strip_prefix('_'))
            && run(rest, is_crockford) == 26
            && ends_here(rest, 26)
        {
            return Some((p.len() + 27, format!("[{p}_id]")));
        }
    }
    if let Some(rest) = t.strip_prefix("att_") {
        let n = run(rest, |b| b.is_ascii_digit());
        if n > 0 && ends_here(rest, n) {
            return Some((4 + n, "[att_id]".into()));
        }
    }
    if let Some(rest) = t.strip_prefix("wamid.") {
        let n = run(rest, |b| is_base64(b) || b == b'-' || b == b'_');
        if n >= 16 {
            return Some((6 + n, "[wamid]".into()));
        }
    }
    if let Some(rest) = t.strip_prefix("obsp_")
        && run(rest, is_url_safe) == 43
    {
        return Some((5 + 43, "[api_key]".into()));
    }
    if let Some(rest) = t.strip_prefix("whsec_")
        && run(rest, is_base64) == 44
    {
        return Some((6 + 44, "[whsec_secret]".into()));
    }
    if starts_with_timestamp(t) {
        return Some((24, "[timestamp]".into()));
    }
    if run(t, |b| b.is_ascii_digit()) == 16 {
        return Some((16, "[meta_template_id]".into()));
    }
    if let Some(rest) = t.strip_prefix("127.0.0.1:") {
        let n = run(rest, |b| b.is_ascii_digit());
        if n > 0 {
            return Some((10 + n, "127.0.0.1:[port]".into()));
        }
    }
    None
}

/// `s` with every varying token (at a word boundary) replaced by its placeholder.
fn scrub_str(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && let Some((len, placeholder)) = token_at(&s[i..])
        {
            out.push_str(&placeholder);
            i += len;
            continue;
        }
        let c = s[i..]
            .chars()
            .next()
            .expect("a character at a char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

const WABA: &str = "900100";
const COLD: &str = "15559990000";

/// The parameters `shipping` needs.
fn shipping_parameters() -> Value {
    json!([
        {"type": "header", "parameters": [{"type": "text", "text": "B2"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Bo"}, {"type": "text", "text": "B2"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "B2"}]}
    ])
}

async fn wait_template_status(app: &TestApp, id: &str, status: &str) {
    wait_until(&format!("template {id} is {status}"), || async {
        app.get(&format!("/v1/templates/{id}"), &app.api_key)
            .await
            .body["status"]
            == status
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Native: messages.

async fn messages(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    let inbound_id = inbound["id"].as_str().unwrap().to_string();
    snap(
        "messages_get_inbound",
        &t.get(&format!("/v1/messages/{inbound_id}")).await,
    );

    // 202 queued; 200 for a retry under the same Idempotency-Key (once the first is read, so
    // the answer is stable); 409 for another request under it.
    let body = json!({"channel": PNID, "to": "+1 (555) 123-0001", "type": "text",
        "text": {"body": "hello", "preview_url": true}, "biz_opaque_callback_data": "order-42"})
    .to_string();
    let keyed = Api::tenant(&app).header("idempotency-key", "order-1");
    let created = keyed.post_raw("/v1/messages", &body).await;
    snap("messages_create_accepted", &created);
    let id = created.id();
    app.wait_status(&id, "read").await;
    snap(
        "messages_create_idempotent_replay",
        &keyed.post_raw("/v1/messages", &body).await,
    );
    let other = json!({"channel": PNID, "to": USER, "type": "text", "text": {"body": "twice?"}});
    snap(
        "messages_create_idempotency_key_reused",
        &keyed.post("/v1/messages", &other).await,
    );
    // The message with its status history.
    snap(
        "messages_get_with_statuses",
        &t.get(&format!("/v1/messages/{id}")).await,
    );

    // A template send keeps the template and the text the contact saw.
    let tpl = t
        .post(
            "/v1/messages",
            &json!({"channel": PNID, "to": "15559990001", "type": "template",
                    "template": {"name": "order_update", "language": {"code": "en_US"}}}),
        )
        .await;
    snap("messages_create_template", &tpl);
    app.wait_status(&tpl.id(), "read").await;

    // A read receipt is answered at once.
    snap(
        "messages_read_receipt",
        &t.post(
            "/v1/messages",
            &json!({"channel": PNID, "status": "read", "message_id": inbound_id}),
        )
        .await,
    );

    // Refused sends.
    let text = |to: &str, body: &str| json!({"channel": PNID, "to": to, "type": "text", "text": {"body": body}});
    let long_key = "k".repeat(256);
    snap_cases(
        "messages_create_errors",
        &[
            (
                "invalid JSON",
                t.post_raw("/v1/messages", "{not json").await,
            ),
            ("truncated JSON", t.post_raw("/v1/messages", "[").await),
            (
                "no channel",
                t.post("/v1/messages", &json!({"to": USER, "text": {"body": "x"}}))
                    .await,
            ),
            (
                "channel not a string",
                t.post(
                    "/v1/messages",
                    &json!({"channel": 7, "to": USER, "text": {"body": "x"}}),
                )
                .await,
            ),
            (
                "unknown channel",
                t.post(
                    "/v1/messages",
                    &json!({"channel": "999", "to": USER, "text": {"body": "x"}}),
                )
                .await,
            ),
            (
                "text too long (Meta 100)",
                t.post("/v1/messages", &text(USER, &"a".repeat(4097))).await,
            ),
            (
                "text without its object (Meta 131008)",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "to": USER, "type": "text"}),
                )
                .await,
            ),
            (
                "recipient not a number (Meta 131009)",
                t.post("/v1/messages", &text("call me", "x")).await,
            ),
            (
                "media with two sources (Meta 100)",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "to": USER, "type": "image",
                            "image": {"id": "1", "link": "https://example.com/x.png"}}),
                )
                .await,
            ),
            (
                "window closed (Meta 131047)",
                t.post("/v1/messages", &text(COLD, "cold")).await,
            ),
            (
                "reaction outside the window (Meta 131047)",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "to": COLD, "type": "reaction",
                            "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
                )
                .await,
            ),
            (
                "unknown template (Meta 132001)",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "to": USER, "type": "template",
                            "template": {"name": "no_such_template", "language": {"code": "en_US"}}}),
                )
                .await,
            ),
            (
                "reply context naming no message",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "to": USER, "type": "text", "text": {"body": "x"},
                            "context": {"message_id": "msg_01aaaaaaaaaaaaaaaaaaaaaaaa"}}),
                )
                .await,
            ),
            (
                "read receipt of an outbound message",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "status": "read", "message_id": id}),
                )
                .await,
            ),
            (
                "Idempotency-Key too long",
                Api::tenant(&app)
                    .header("idempotency-key", &long_key)
                    .post("/v1/messages", &text(USER, "x"))
                    .await,
            ),
        ],
    );
    // Over the configured body limit (1 MiB): refused before it is read. The gateway answers
    // and closes the connection while the client may still be sending, and the reset can
    // cost the client that answer (HTTP/1.1): ask again until the answer arrives.
    let huge = text(USER, &"a".repeat(1536 * 1024)).to_string();
    let mut too_large = None;
    for _ in 0..20 {
        if let Ok(shot) = Api::tenant(&app)
            .alone()
            .try_send(Method::POST, "/v1/messages", Some(huge.clone()))
            .await
        {
            too_large = Some(shot);
            break;
        }
    }
    snap(
        "messages_create_body_too_large",
        &too_large.expect("an answer to the oversized body"),
    );

    // Keys.
    snap_cases(
        "messages_auth_errors",
        &[
            ("no key", Api::anonymous(&app).get("/v1/messages").await),
            (
                "not a bearer token",
                Api::anonymous(&app)
                    .header("authorization", "Basic dXNlcjpwdw==")
                    .get("/v1/messages")
                    .await,
            ),
            (
                "unknown key",
                Api::with_key(&app, "obsp_wrong").get("/v1/messages").await,
            ),
            (
                "admin key on a tenant route",
                Api::admin(&app)
                    .post("/v1/messages", &text(USER, "x"))
                    .await,
            ),
            ("tenant key on an admin route", t.get("/v1/tenants").await),
        ],
    );

    // Lists (every message has reached its last status).
    snap("messages_list", &t.get("/v1/messages").await);
    snap("messages_list_page", &t.get("/v1/messages?limit=1").await);
    snap(
        "messages_list_filtered",
        &t.get("/v1/messages?direction=inbound&to=%2B1%20555%20123%200001")
            .await,
    );
    snap_cases(
        "messages_list_errors",
        &[
            ("limit 0", t.get("/v1/messages?limit=0").await),
            ("limit 101", t.get("/v1/messages?limit=101").await),
            ("limit not a number", t.get("/v1/messages?limit=abc").await),
            (
                "unknown status",
                t.get("/v1/messages?status=teleported").await,
            ),
            (
                "unknown direction",
                t.get("/v1/messages?direction=sideways").await,
            ),
            (
                "bad time",
                t.get("/v1/messages?created_after=yesterday").await,
            ),
            ("unknown channel", t.get("/v1/messages?channel=999").await),
        ],
    );
    let other_tenant = app.other_tenant_key().await;
    snap_cases(
        "messages_get_errors",
        &[
            ("unknown id", t.get("/v1/messages/msg_nope").await),
            (
                "another tenant's message",
                Api::with_key(&app, &other_tenant)
                    .get(&format!("/v1/messages/{id}"))
                    .await,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Native: sessions and Session Start.

async fn sessions(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    let lucia = "15559990004";

    // Session Start with a template opens a session (201); the same key again is answered
    // with the first message (200); another request under the key is refused (409).
    let start = json!({
        "channel": PNID,
        "contact": {"phone": "+1 (555) 999-0004", "name": "Lucía"},
        "message": {"type": "template", "template": {"name": "order_update", "language": {"code": "es"}}},
    });
    let keyed = Api::tenant(&app).header("idempotency-key", "start-1");
    let opened = keyed.post("/v1/sessions", &start).await;
    snap("sessions_start_opened", &opened);
    let session_id = opened.str_at("/session/id");
    app.wait_status(&opened.str_at("/message/id"), "read").await;
    snap(
        "sessions_start_replayed",
        &keyed.post("/v1/sessions", &start).await,
    );
    let mut other = start.clone();
    other["message"]["template"]["language"]["code"] = json!("en_US");
    snap(
        "sessions_start_idempotency_key_reused",
        &keyed.post("/v1/sessions", &other).await,
    );

    // Once the user answers, free-form joins the open session (200, reused).
    app.user_writes(lucia, "Lucía", "¡Hola!").await;
    let reused = t
        .post(
            "/v1/sessions",
            &json!({"channel": PNID, "contact": {"wa_id": lucia},
                    "message": {"type": "text", "text": {"body": "¿En qué te ayudo?"}}}),
        )
        .await;
    snap("sessions_start_reused", &reused);
    assert_eq!(reused.str_at("/session/id"), session_id);
    app.wait_status(&reused.str_at("/message/id"), "read").await;

    let text = json!({"type": "text", "text": {"body": "x"}});
    snap_cases(
        "sessions_start_errors",
        &[
            (
                "window closed (Meta 131047)",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": COLD, "name": "Cold"}, "message": text}),
                )
                .await,
            ),
            (
                "no contact",
                t.post("/v1/sessions", &json!({"channel": PNID, "message": text}))
                    .await,
            ),
            (
                "contact with no key",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"name": "Nobody"}, "message": text}),
                )
                .await,
            ),
            (
                "contact with an unknown field",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"email": "a@b.c"}, "message": text}),
                )
                .await,
            ),
            (
                "contact with wa_id and phone",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia, "phone": lucia}, "message": text}),
                )
                .await,
            ),
            (
                "contact wa_id not a string",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": 1555}, "message": text}),
                )
                .await,
            ),
            (
                "contact phone not a number",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"phone": "call me"}, "message": text}),
                )
                .await,
            ),
            (
                "contact user_id not a BSUID",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"user_id": "nope"}, "message": text}),
                )
                .await,
            ),
            (
                "contact name too long",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia, "name": "n".repeat(257)}, "message": text}),
                )
                .await,
            ),
            (
                "no message",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia}}),
                )
                .await,
            ),
            (
                "message not an object",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia}, "message": "hi"}),
                )
                .await,
            ),
            (
                "message with a recipient",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia},
                            "message": {"to": "1", "type": "text", "text": {"body": "x"}}}),
                )
                .await,
            ),
            (
                "message invalid (Meta 131008)",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia}, "message": {"type": "text"}}),
                )
                .await,
            ),
            (
                "variables without a template",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia}, "message": text, "variables": ["a"]}),
                )
                .await,
            ),
            (
                "variables not a list",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia}, "message": text, "variables": "a"}),
                )
                .await,
            ),
            (
                "unknown top-level field",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": PNID, "contact": {"wa_id": lucia}, "message": text, "to": lucia}),
                )
                .await,
            ),
            (
                "body not an object",
                t.post("/v1/sessions", &json!(["channel"])).await,
            ),
            ("invalid JSON", t.post_raw("/v1/sessions", "{").await),
            (
                "no channel",
                t.post(
                    "/v1/sessions",
                    &json!({"contact": {"wa_id": lucia}, "message": text}),
                )
                .await,
            ),
            (
                "unknown channel",
                t.post(
                    "/v1/sessions",
                    &json!({"channel": "999", "contact": {"wa_id": lucia}, "message": text}),
                )
                .await,
            ),
        ],
    );

    // A session opened by the user; a reply by the session's route.
    let first = app.user_writes(USER, "Ana", "hi").await;
    let sid = first["session_id"].as_str().unwrap().to_string();
    let reply = t
        .post(
            &format!("/v1/sessions/{sid}/messages"),
            &json!({"type": "text", "text": {"body": "yes!"}}),
        )
        .await;
    snap("sessions_reply", &reply);
    app.wait_status(&reply.id(), "read").await;
    snap("sessions_get", &t.get(&format!("/v1/sessions/{sid}")).await);
    snap(
        "sessions_get_page",
        &t.get(&format!("/v1/sessions/{sid}?limit=1")).await,
    );
    snap(
        "sessions_messages",
        &t.get(&format!("/v1/sessions/{sid}/messages")).await,
    );
    snap(
        "sessions_messages_page",
        &t.get(&format!("/v1/sessions/{sid}/messages?limit=1")).await,
    );

    // Closed on request; replies are refused.
    snap(
        "sessions_close",
        &t.post(&format!("/v1/sessions/{sid}/close"), &json!({}))
            .await,
    );
    snap_cases(
        "sessions_reply_errors",
        &[
            (
                "session closed",
                t.post(
                    &format!("/v1/sessions/{sid}/messages"),
                    &json!({"type": "text", "text": {"body": "late"}}),
                )
                .await,
            ),
            (
                "reply with a recipient",
                t.post(
                    &format!("/v1/sessions/{session_id}/messages"),
                    &json!({"to": "15550000000", "type": "text", "text": {"body": "x"}}),
                )
                .await,
            ),
            (
                "reply invalid (Meta 131008)",
                t.post(
                    &format!("/v1/sessions/{session_id}/messages"),
                    &json!({"type": "text"}),
                )
                .await,
            ),
            (
                "invalid JSON",
                t.post_raw(&format!("/v1/sessions/{session_id}/messages"), "{")
                    .await,
            ),
            (
                "unknown session",
                t.post(
                    "/v1/sessions/ses_nope/messages",
                    &json!({"type": "text", "text": {"body": "x"}}),
                )
                .await,
            ),
        ],
    );

    // Lists.
    snap("sessions_list", &t.get("/v1/sessions").await);
    snap("sessions_list_page", &t.get("/v1/sessions?limit=1").await);
    snap(
        "sessions_list_filtered",
        &t.get(&format!(
            "/v1/sessions?status=open&contact={lucia}&channel={PNID}"
        ))
        .await,
    );
    snap_cases(
        "sessions_errors",
        &[
            ("unknown status", t.get("/v1/sessions?status=maybe").await),
            ("limit 0", t.get("/v1/sessions?limit=0").await),
            (
                "unknown contact",
                t.get("/v1/sessions?contact=con_nope").await,
            ),
            (
                "bad time",
                t.get("/v1/sessions?opened_after=yesterday").await,
            ),
            ("unknown session", t.get("/v1/sessions/ses_nope").await),
            (
                "unknown session's messages",
                t.get("/v1/sessions/ses_nope/messages").await,
            ),
            (
                "close an unknown session",
                t.post("/v1/sessions/ses_nope/close", &json!({})).await,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Native: contacts.

async fn contacts(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    let id = inbound["contact_id"].as_str().unwrap().to_string();
    app.user_writes("15559990002", "Bruno", "hello").await;

    snap("contacts_get", &t.get(&format!("/v1/contacts/{id}")).await);
    snap(
        "contacts_get_by_phone",
        &t.get("/v1/contacts/+1%20555%20123%200001").await,
    );
    snap("contacts_list", &t.get("/v1/contacts").await);
    snap("contacts_list_page", &t.get("/v1/contacts?limit=1").await);
    snap(
        "contacts_list_search",
        &t.get("/v1/contacts?name=ana").await,
    );

    let path = format!("/v1/contacts/{id}");
    snap(
        "contacts_patch",
        &t.patch(
            &path,
            &json!({"name": "Ana P.", "attributes": {"plan": "gold", "city": "Lima", "vip": true}}),
        )
        .await,
    );
    snap(
        "contacts_patch_remove_attribute_and_opt_out",
        &t.patch(
            &path,
            &json!({"attributes": {"city": null}, "marketing_opt_out": true}),
        )
        .await,
    );
    // Opted out: marketing templates are refused before Meta, on both surfaces.
    let spring_sale = json!({"name": "spring_sale", "language": {"code": "en_US"}});
    snap_cases(
        "contacts_opted_out_sends",
        &[
            (
                "native",
                t.post(
                    "/v1/messages",
                    &json!({"channel": PNID, "to": USER, "type": "template", "template": spring_sale}),
                )
                .await,
            ),
            (
                "Cloud API (131050)",
                t.post(
                    &format!("/v23.0/{PNID}/messages"),
                    &json!({"messaging_product": "whatsapp", "to": USER, "type": "template", "template": spring_sale}),
                )
                .await,
            ),
        ],
    );
    snap_cases(
        "contacts_errors",
        &[
            (
                "unknown field",
                t.patch(&path, &json!({"wa_id": "1"})).await,
            ),
            (
                "attributes not an object",
                t.patch(&path, &json!({"attributes": [1]})).await,
            ),
            (
                "attributes too large",
                t.patch(&path, &json!({"attributes": {"a": "x".repeat(17 * 1024)}}))
                    .await,
            ),
            ("empty name", t.patch(&path, &json!({"name": " "})).await),
            (
                "marketing_opt_out not a boolean",
                t.patch(&path, &json!({"marketing_opt_out": "yes"})).await,
            ),
            ("body not an object", t.patch(&path, &json!([1])).await),
            (
                "invalid JSON",
                t.send(Method::PATCH, &path, Some("{".into())).await,
            ),
            (
                "patch an unknown contact",
                t.patch("/v1/contacts/con_nope", &json!({"name": "x"}))
                    .await,
            ),
            ("unknown contact", t.get("/v1/contacts/con_nope").await),
            ("unknown number", t.get("/v1/contacts/15550000000").await),
            (
                "list by a wa_id that is not a number",
                t.get("/v1/contacts?wa_id=abc").await,
            ),
            ("list limit 0", t.get("/v1/contacts?limit=0").await),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Native: templates.

async fn templates(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);

    // Sync first: the gateway knows nothing yet; Meta holds the three seeded templates.
    snap(
        "templates_sync",
        &t.post("/v1/templates/sync", &json!({"channel": PNID}))
            .await,
    );
    snap(
        "templates_sync_again",
        &t.post(
            "/v1/templates/sync",
            &json!({"channel": PNID, "name": "order_update"}),
        )
        .await,
    );

    let mut at_edge = shipping("order_ready", "en_US");
    at_edge["components"][1]["text"] = json!("{{1}}, your order {{2}} is ready now.");
    let mut long_footer = shipping("order_ready", "en_US");
    long_footer["components"][2]["text"] = json!("f".repeat(61));
    let mut no_category = shipping("order_ready", "en_US");
    no_category.as_object_mut().unwrap().remove("category");
    snap_cases(
        "templates_create_errors",
        &[
            (
                "variable at the edge (rule)",
                t.post("/v1/templates", &with_channel(at_edge)).await,
            ),
            (
                "footer too long (rule)",
                t.post("/v1/templates", &with_channel(long_footer)).await,
            ),
            (
                "no category",
                t.post("/v1/templates", &with_channel(no_category)).await,
            ),
            (
                "no channel",
                t.post("/v1/templates", &shipping("order_ready", "en_US"))
                    .await,
            ),
            (
                "unknown channel",
                t.post(
                    "/v1/templates",
                    &json!({"channel": "999", "name": "x", "language": "en_US"}),
                )
                .await,
            ),
            ("invalid JSON", t.post_raw("/v1/templates", "{").await),
        ],
    );

    // Created PENDING (201), approved by Meta's review; the same definition again is the same
    // template (200); another one under the name is refused (409).
    let created = t
        .post(
            "/v1/templates",
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await;
    snap("templates_create", &created);
    let id = created.id();
    wait_template_status(&app, &id, "APPROVED").await;
    snap(
        "templates_get",
        &t.get(&format!("/v1/templates/{id}")).await,
    );
    snap(
        "templates_create_same_definition",
        &t.post(
            "/v1/templates",
            &with_channel(shipping("order_ready", "en_US")),
        )
        .await,
    );
    let mut other = shipping("order_ready", "en_US");
    other["components"][2]["text"] = json!("Another footer");
    snap(
        "templates_create_exists",
        &t.post("/v1/templates", &with_channel(other)).await,
    );
    let es = t
        .post(
            "/v1/templates",
            &with_channel(shipping("order_ready", "es")),
        )
        .await;
    let es_id = es.id();
    wait_template_status(&app, &es_id, "APPROVED").await;
    snap(
        "templates_list",
        &t.get("/v1/templates?name=order_ready").await,
    );
    snap(
        "templates_list_page",
        &t.get("/v1/templates?name=order_ready&limit=1").await,
    );
    snap(
        "templates_list_filtered",
        &t.get(&format!(
            "/v1/templates?channel={PNID}&status=approved&category=utility&language=es"
        ))
        .await,
    );

    // Preview.
    let preview = format!("/v1/templates/{id}/preview");
    snap(
        "templates_preview",
        &t.post(&preview, &json!({"components": shipping_parameters()}))
            .await,
    );
    snap_cases(
        "templates_preview_errors",
        &[
            (
                "too few variables (Meta 132000)",
                t.post(&preview, &json!({"variables": ["Bo"]})).await,
            ),
            (
                "variables leave the header and the button empty (Meta 132000)",
                t.post(&preview, &json!({"variables": ["Bo", "B2"]})).await,
            ),
            (
                "components and variables",
                t.post(&preview, &json!({"variables": [], "components": []}))
                    .await,
            ),
            (
                "variables not a list",
                t.post(&preview, &json!({"variables": "Bo"})).await,
            ),
            (
                "variable not a string",
                t.post(&preview, &json!({"variables": [true]})).await,
            ),
            (
                "unknown template",
                t.post("/v1/templates/tpl_nope/preview", &json!({})).await,
            ),
        ],
    );

    // Edits: back to review; a PENDING template cannot be edited; once per 24 hours.
    let path = format!("/v1/templates/{id}");
    let mut components = shipping("order_ready", "en_US")["components"].clone();
    components[2]["text"] = json!("Reply STOP to stop these");
    // Meta's webhooks tell time in whole seconds, and the history keeps one entry per kind,
    // value and time (a redelivery adds nothing): a minute later on Meta's clock, the approval
    // of the edit is not taken for a redelivery of the first approval.
    app.sim.advance_clock(60);
    snap(
        "templates_edit",
        &t.patch(&path, &json!({"components": components})).await,
    );
    let pending = t.patch(&path, &json!({"components": components})).await;
    wait_template_status(&app, &id, "APPROVED").await;
    snap_cases(
        "templates_edit_errors",
        &[
            ("a PENDING template", pending),
            (
                "twice in 24 hours",
                t.patch(&path, &json!({"components": components})).await,
            ),
            (
                "a category change",
                t.patch(
                    &format!("/v1/templates/{es_id}"),
                    &json!({"category": "MARKETING"}),
                )
                .await,
            ),
            (
                "broken components (rule)",
                t.patch(
                    &format!("/v1/templates/{es_id}"),
                    &json!({"components": [{"type": "BODY", "text": "{{1}} starts"}]}),
                )
                .await,
            ),
            (
                "invalid JSON",
                t.send(Method::PATCH, &path, Some("{".into())).await,
            ),
            (
                "unknown template",
                t.patch("/v1/templates/tpl_nope", &json!({"components": []}))
                    .await,
            ),
        ],
    );
    snap(
        "templates_history",
        &t.get(&format!("/v1/templates/{id}/history")).await,
    );

    // Deletes: one language; then the name in every language left.
    snap(
        "templates_delete_one",
        &t.delete(&format!("/v1/templates/{es_id}")).await,
    );
    snap(
        "templates_delete_by_name",
        &t.delete(&format!("/v1/templates?channel={PNID}&name=order_ready"))
            .await,
    );
    snap("templates_get_deleted", &t.get(&path).await);
    snap_cases(
        "templates_errors",
        &[
            ("delete a deleted template", t.delete(&path).await),
            (
                "delete by name without a name",
                t.delete(&format!("/v1/templates?channel={PNID}")).await,
            ),
            (
                "delete by name without a channel",
                t.delete("/v1/templates?name=order_ready").await,
            ),
            ("unknown template", t.get("/v1/templates/tpl_nope").await),
            (
                "unknown template's history",
                t.get("/v1/templates/tpl_nope/history").await,
            ),
            ("list limit 0", t.get("/v1/templates?limit=0").await),
            (
                "list of an unknown channel",
                t.get("/v1/templates?channel=999").await,
            ),
            (
                "sync without a channel",
                t.post("/v1/templates/sync", &json!({})).await,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Native: webhook endpoints.

async fn endpoints(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    const BASE: &str = "/v1/webhook-endpoints";

    // Created with its secret, shown this once.
    let created = t
        .post(
            BASE,
            &json!({"url": "http://127.0.0.1:9/hooks", "events": ["template.*", "session.opened"], "description": "CRM"}),
        )
        .await;
    snap("endpoints_create", &created);
    let id = created.id();
    let one = format!("{BASE}/{id}");
    snap("endpoints_get", &t.get(&one).await);
    t.post(
        BASE,
        &json!({"url": "http://127.0.0.1:9/meta", "events": ["*"], "format": "meta", "enabled": false}),
    )
    .await;
    snap("endpoints_list", &t.get(BASE).await);
    snap(
        "endpoints_list_page",
        &t.get(&format!("{BASE}?limit=1")).await,
    );

    // Updates: disabling keeps why; enabling clears it.
    snap(
        "endpoints_update_disable",
        &t.patch(
            &one,
            &json!({"events": ["template.*"], "format": "meta", "description": null, "enabled": false}),
        )
        .await,
    );
    snap(
        "endpoints_update_enable",
        &t.patch(
            &one,
            &json!({"enabled": true, "url": "http://127.0.0.1:9/other"}),
        )
        .await,
    );

    // Rotation: a new secret, the previous one signing for the overlap (or not at all).
    let rotate = format!("{one}/rotate-secret");
    snap(
        "endpoints_rotate_secret",
        &t.post(&rotate, &json!({"overlap_seconds": 3600})).await,
    );
    snap(
        "endpoints_rotate_secret_no_overlap",
        &t.post(&rotate, &json!({"overlap_seconds": 0})).await,
    );

    snap_cases(
        "endpoints_create_errors",
        &[
            (
                "no url",
                t.post(BASE, &json!({"events": ["*"]})).await,
            ),
            (
                "no events",
                t.post(BASE, &json!({"url": "http://127.0.0.1:9/"})).await,
            ),
            (
                "no event types",
                t.post(BASE, &json!({"url": "http://127.0.0.1:9/", "events": []}))
                    .await,
            ),
            (
                "a pattern that selects nothing",
                t.post(
                    BASE,
                    &json!({"url": "http://127.0.0.1:9/", "events": ["messages.*"]}),
                )
                .await,
            ),
            (
                "a private network",
                t.post(
                    BASE,
                    &json!({"url": "http://10.1.2.3/hooks", "events": ["*"]}),
                )
                .await,
            ),
            (
                "a link-local address",
                t.post(
                    BASE,
                    &json!({"url": "http://169.254.169.254/latest/meta-data", "events": ["*"]}),
                )
                .await,
            ),
            (
                "not http",
                t.post(BASE, &json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}))
                    .await,
            ),
            (
                "credentials in the url",
                t.post(
                    BASE,
                    &json!({"url": "http://user:pw@127.0.0.1:9/", "events": ["*"]}),
                )
                .await,
            ),
            (
                "not a url",
                t.post(BASE, &json!({"url": "not a url", "events": ["*"]}))
                    .await,
            ),
            (
                "unknown format",
                t.post(
                    BASE,
                    &json!({"url": "http://127.0.0.1:9/", "events": ["*"], "format": "xml"}),
                )
                .await,
            ),
            (
                "description too long",
                t.post(
                    BASE,
                    &json!({"url": "http://127.0.0.1:9/", "events": ["*"], "description": "d".repeat(501)}),
                )
                .await,
            ),
            (
                "unknown field",
                t.post(
                    BASE,
                    &json!({"url": "http://127.0.0.1:9/", "events": ["*"], "colour": "red"}),
                )
                .await,
            ),
            ("invalid JSON", t.post_raw(BASE, "{").await),
        ],
    );
    snap_cases(
        "endpoints_errors",
        &[
            (
                "update to a private network",
                t.patch(&one, &json!({"url": "http://192.168.0.10/"})).await,
            ),
            (
                "rotate with too long an overlap",
                t.post(&rotate, &json!({"overlap_seconds": 8 * 86400}))
                    .await,
            ),
            (
                "rotate with an unknown field",
                t.post(&rotate, &json!({"overlap": 1})).await,
            ),
            ("unknown endpoint", t.get(&format!("{BASE}/whe_nope")).await),
            (
                "update an unknown endpoint",
                t.patch(&format!("{BASE}/whe_nope"), &json!({"enabled": true}))
                    .await,
            ),
            (
                "rotate an unknown endpoint",
                t.post(&format!("{BASE}/whe_nope/rotate-secret"), &json!({}))
                    .await,
            ),
            ("list limit 0", t.get(&format!("{BASE}?limit=0")).await),
        ],
    );

    // Deliveries: an endpoint that gets one event (a contact renamed after it was created).
    let contact = app.user_writes(USER, "Ann", "hello").await["contact_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rx = Receiver::start().await;
    let live = t
        .post(BASE, &json!({"url": rx.url, "events": ["contact.updated"]}))
        .await;
    let live_id = live.id();
    let renamed = t
        .patch(
            &format!("/v1/contacts/{contact}"),
            &json!({"name": "Ann B"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let hits = rx.wait_for("the rename", |h| !h.is_empty()).await;
    let event_id = hits[0].header("webhook-id").to_string();
    let log = format!("{BASE}/{live_id}/deliveries");
    wait_until("the attempt logged", || async {
        t.get(&log).await.body["data"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    snap("endpoints_deliveries", &t.get(&log).await);
    snap(
        "endpoints_deliveries_filtered",
        &t.get(&format!("{log}?status=failed&event_id={event_id}"))
            .await,
    );
    let replay = format!("{BASE}/{live_id}/replay");
    snap(
        "endpoints_replay",
        &t.post(&replay, &json!({"event_id": event_id})).await,
    );
    snap(
        "endpoints_replay_period",
        &t.post(&replay, &json!({"since": "2020-01-01T00:00:00Z"}))
            .await,
    );
    snap_cases(
        "endpoints_deliveries_errors",
        &[
            (
                "unknown status",
                t.get(&format!("{log}?status=maybe")).await,
            ),
            ("bad cursor", t.get(&format!("{log}?after=nope")).await),
            (
                "unknown query field",
                t.get(&format!("{log}?colour=red")).await,
            ),
            (
                "unknown endpoint",
                t.get(&format!("{BASE}/whe_nope/deliveries")).await,
            ),
            ("replay nothing", t.post(&replay, &json!({})).await),
            (
                "replay an event and a period",
                t.post(
                    &replay,
                    &json!({"event_id": event_id, "since": "2020-01-01T00:00:00Z"}),
                )
                .await,
            ),
            (
                "replay from a bad time",
                t.post(&replay, &json!({"since": "yesterday"})).await,
            ),
            (
                "replay an empty period",
                t.post(
                    &replay,
                    &json!({"since": "2020-01-02T00:00:00Z", "until": "2020-01-01T00:00:00Z"}),
                )
                .await,
            ),
            (
                "replay an unknown event",
                t.post(&replay, &json!({"event_id": "evt_nope"})).await,
            ),
            (
                "replay with an unknown field",
                t.post(&replay, &json!({"events": []})).await,
            ),
        ],
    );

    // Deleted: 204 with no body, then not found.
    snap("endpoints_delete", &t.delete(&one).await);
    snap("endpoints_delete_again", &t.delete(&one).await);
}

// ---------------------------------------------------------------------------------------------
// Native: events.

async fn events(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    let inbound = app.user_writes(USER, "Ann", "hello").await;
    let contact = inbound["contact_id"].as_str().unwrap().to_string();
    let renamed = t
        .patch(
            &format!("/v1/contacts/{contact}"),
            &json!({"name": "Ann B"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);

    let all = t.get("/v1/events").await;
    snap("events_list", &all);
    let newest = all.str_at("/data/0/id");
    snap("events_get", &t.get(&format!("/v1/events/{newest}")).await);
    snap("events_list_page", &t.get("/v1/events?limit=1").await);
    snap(
        "events_list_filtered",
        &t.get("/v1/events?types=session.*,message.received&since=2020-01-01T00:00:00Z")
            .await,
    );
    snap_cases(
        "events_errors",
        &[
            ("unknown type", t.get("/v1/events?types=nope").await),
            (
                "a pattern that selects nothing",
                t.get("/v1/events?types=messages.*").await,
            ),
            ("bad time", t.get("/v1/events?since=yesterday").await),
            ("limit 0", t.get("/v1/events?limit=0").await),
            ("unknown query field", t.get("/v1/events?colour=red").await),
            ("unknown event", t.get("/v1/events/evt_nope").await),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Admin.

async fn admin(b: Backend) {
    let app = spawn_app(b).await;
    let a = Api::admin(&app);

    let tenant = a.post("/v1/tenants", &json!({"name": "Globex"})).await;
    snap("admin_tenants_create", &tenant);
    let tenant_id = tenant.id();
    snap("admin_tenants_list", &a.get("/v1/tenants").await);
    snap(
        "admin_tenants_get",
        &a.get(&format!("/v1/tenants/{tenant_id}")).await,
    );

    snap(
        "admin_api_keys_create",
        &a.post(
            "/v1/api-keys",
            &json!({"tenant_id": tenant_id, "name": "main"}),
        )
        .await,
    );
    snap(
        "admin_api_keys_create_admin",
        &a.post("/v1/api-keys", &json!({"admin": true, "name": "ops"}))
            .await,
    );
    snap("admin_api_keys_list", &a.get("/v1/api-keys").await);

    let created_app = a
        .post(
            "/v1/apps",
            &json!({"tenant_id": tenant_id, "name": "globex", "app_secret": "gsecret",
                    "verify_token": "gvt", "meta_app_id": "4455"}),
        )
        .await;
    snap("admin_apps_create", &created_app);
    let app_id = created_app.id();
    snap("admin_apps_list", &a.get("/v1/apps").await);
    let one_app = format!("/v1/apps/{app_id}");
    snap("admin_apps_get", &a.get(&one_app).await);
    snap(
        "admin_apps_update",
        &a.patch(
            &one_app,
            &json!({"name": "globex main", "verify_token": "gvt2"}),
        )
        .await,
    );
    // Rotation: the previous secret verifying for the overlap (or not at all).
    snap(
        "admin_apps_rotate_secret",
        &a.post(
            &format!("{one_app}/rotate-secret"),
            &json!({"app_secret": "gsecret2", "overlap_seconds": 3600}),
        )
        .await,
    );
    snap(
        "admin_apps_rotate_secret_no_overlap",
        &a.post(
            &format!("{one_app}/rotate-secret"),
            &json!({"app_secret": "gsecret3", "overlap_seconds": 0}),
        )
        .await,
    );
    let main_key = a.get("/v1/api-keys").await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "main")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    snap(
        "admin_api_keys_revoke",
        &a.delete(&format!("/v1/api-keys/{main_key}")).await,
    );

    let channel = a
        .post(
            "/v1/channels",
            &json!({"tenant_id": tenant_id, "app_id": app_id, "phone_number_id": "700800",
                    "waba_id": "7008", "display_phone_number": "+1 555 000 2222",
                    "access_token": "globex-token", "graph_base_url": app.sim.url(),
                    "graph_version": "v22.0", "throughput_mps": 20, "messaging_tier": "TIER_1K"}),
        )
        .await;
    snap("admin_channels_create", &channel);
    let channel_id = channel.id();
    snap("admin_channels_list", &a.get("/v1/channels").await);
    snap(
        "admin_channels_get",
        &a.get(&format!("/v1/channels/{channel_id}")).await,
    );

    let channel_body = |pnid: &str| {
        json!({"tenant_id": tenant_id, "app_id": app_id, "phone_number_id": pnid, "waba_id": "1",
               "display_phone_number": "15550002222", "access_token": "t"})
    };
    let mut bad_url = channel_body("700801");
    bad_url["graph_base_url"] = json!("not a url");
    let mut no_token = channel_body("700802");
    no_token.as_object_mut().unwrap().remove("access_token");
    snap_cases(
        "admin_errors",
        &[
            ("no key", Api::anonymous(&app).get("/v1/tenants").await),
            (
                "tenant key",
                Api::tenant(&app).post("/v1/tenants", &json!({"name": "x"})).await,
            ),
            (
                "tenant without a name",
                a.post("/v1/tenants", &json!({})).await,
            ),
            (
                "tenant with an empty name",
                a.post("/v1/tenants", &json!({"name": " "})).await,
            ),
            (
                "tenant name not a string",
                a.post("/v1/tenants", &json!({"name": 7})).await,
            ),
            ("invalid JSON", a.post_raw("/v1/tenants", "{").await),
            ("unknown tenant", a.get("/v1/tenants/ten_nope").await),
            (
                "api key of an unknown tenant",
                a.post("/v1/api-keys", &json!({"tenant_id": "ten_nope"}))
                    .await,
            ),
            (
                "api key with no tenant and not admin",
                a.post("/v1/api-keys", &json!({"name": "x"})).await,
            ),
            (
                "app without its secret",
                a.post(
                    "/v1/apps",
                    &json!({"tenant_id": tenant_id, "verify_token": "v"}),
                )
                .await,
            ),
            (
                "app of an unknown tenant",
                a.post(
                    "/v1/apps",
                    &json!({"tenant_id": "ten_nope", "app_secret": "s", "verify_token": "v"}),
                )
                .await,
            ),
            (
                "channel with a phone number id that is not a number",
                a.post("/v1/channels", &channel_body("abc")).await,
            ),
            (
                "channel already provisioned",
                a.post("/v1/channels", &channel_body(PNID)).await,
            ),
            (
                "channel without its token",
                a.post("/v1/channels", &no_token).await,
            ),
            (
                "channel with a bad graph_base_url",
                a.post("/v1/channels", &bad_url).await,
            ),
            (
                "channel of an unknown app",
                a.post(
                    "/v1/channels",
                    &json!({"tenant_id": tenant_id, "app_id": "app_nope", "phone_number_id": "700803",
                            "waba_id": "1", "display_phone_number": "15550002222", "access_token": "t"}),
                )
                .await,
            ),
            ("unknown channel", a.get("/v1/channels/chn_nope").await),
            (
                "revoking an unknown api key",
                a.delete("/v1/api-keys/key_nope").await,
            ),
            (
                "revoking with a tenant key",
                Api::tenant(&app).delete("/v1/api-keys/key_nope").await,
            ),
            ("unknown app", a.get("/v1/apps/app_nope").await),
            (
                "app update with its secret",
                a.patch(&format!("/v1/apps/{app_id}"), &json!({"app_secret": "s"}))
                    .await,
            ),
            (
                "rotation without the new secret",
                a.post(&format!("/v1/apps/{app_id}/rotate-secret"), &json!({}))
                    .await,
            ),
            (
                "rotation with too long an overlap",
                a.post(
                    &format!("/v1/apps/{app_id}/rotate-secret"),
                    &json!({"app_secret": "s", "overlap_seconds": 604_801}),
                )
                .await,
            ),
            (
                "rotation of an unknown app",
                a.post("/v1/apps/app_nope/rotate-secret", &json!({"app_secret": "s"}))
                    .await,
            ),
        ],
    );
    // The last live admin key (the one making the requests, once the other is revoked),
    // which cannot be revoked.
    let admins: Vec<Value> = a.get("/v1/api-keys").await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["admin"] == true && k["revoked_at"].is_null())
        .cloned()
        .collect();
    for other in admins.iter().filter(|k| k["name"] != "admin") {
        let r = a
            .delete(&format!("/v1/api-keys/{}", other["id"].as_str().unwrap()))
            .await;
        assert_eq!(r.status, 200);
    }
    let own = admins.iter().find(|k| k["name"] == "admin").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    snap(
        "admin_api_keys_revoke_last_admin",
        &a.delete(&format!("/v1/api-keys/{own}")).await,
    );
}

// ---------------------------------------------------------------------------------------------
// The Cloud-API-compatible surface: messages.

async fn cloud_api(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    let path = format!("/v23.0/{PNID}/messages");
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    let inbound_wamid = inbound["wamid"].as_str().unwrap().to_string();

    // Meta's answer, with Meta's wamid.
    snap(
        "cloud_api_send",
        &t.post(
            &path,
            &json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551230001",
                    "type": "text", "text": {"body": "reply"}, "context": {"message_id": inbound_wamid}}),
        )
        .await,
    );
    snap(
        "cloud_api_send_template",
        &t.post(
            &path,
            &json!({"messaging_product": "whatsapp", "to": "+1 555 999 0001", "type": "template",
                    "template": {"name": "order_update", "language": {"code": "en_US"}}}),
        )
        .await,
    );
    snap(
        "cloud_api_mark_read",
        &t.post(
            &path,
            &json!({"messaging_product": "whatsapp", "status": "read", "message_id": inbound_wamid,
                    "typing_indicator": {"type": "text"}}),
        )
        .await,
    );

    // Under an Idempotency-Key: the retry gets the first answer; another body is refused.
    let keyed = Api::tenant(&app).header("idempotency-key", "graph-1");
    let once = json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "once"}});
    let first = keyed.post(&path, &once).await;
    snap("cloud_api_send_keyed", &first);
    let again = keyed.post(&path, &once).await;
    assert_eq!(again.body, first.body, "a retry gets the first answer");

    let ok =
        json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}});
    let admin_key = app.admin_key.clone();
    let other_tenant = app.other_tenant_key().await;
    snap_cases(
        "cloud_api_send_errors",
        &[
            ("no token (190)", Api::anonymous(&app).post(&path, &ok).await),
            (
                "unknown token (190)",
                Api::with_key(&app, "obsp_wrong").post(&path, &ok).await,
            ),
            (
                "admin key (190)",
                Api::with_key(&app, &admin_key).post(&path, &ok).await,
            ),
            (
                "version not v{major}.{minor} (100)",
                t.post(&format!("/latest/{PNID}/messages"), &ok).await,
            ),
            (
                "bad version before a missing token (100)",
                Api::anonymous(&app)
                    .post(&format!("/latest/{PNID}/messages"), &ok)
                    .await,
            ),
            (
                "unknown phone number id (100/33)",
                t.post("/v23.0/999999/messages", &ok).await,
            ),
            (
                "another tenant's phone number id (100/33)",
                Api::with_key(&app, &other_tenant).post(&path, &ok).await,
            ),
            ("invalid JSON (100)", t.post_raw(&path, "{not json").await),
            (
                "no messaging_product (100)",
                t.post(&path, &json!({"to": USER, "text": {"body": "x"}}))
                    .await,
            ),
            (
                "no recipient (100)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "text": {"body": "x"}}),
                )
                .await,
            ),
            (
                "text without its object (131008)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": USER, "type": "text"}),
                )
                .await,
            ),
            (
                "text body not a string (100)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": 3}}),
                )
                .await,
            ),
            (
                "text too long (100)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "a".repeat(4097)}}),
                )
                .await,
            ),
            (
                "recipient not a number (131009)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": "call me", "text": {"body": "x"}}),
                )
                .await,
            ),
            (
                "window closed (131047)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": COLD, "text": {"body": "x"}}),
                )
                .await,
            ),
            (
                "unknown template (132001)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                            "template": {"name": "no_such_template", "language": {"code": "en_US"}}}),
                )
                .await,
            ),
            (
                "template parameters that do not fit (132000)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                            "template": {"name": "order_update", "language": {"code": "en_US"},
                                         "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}]}}),
                )
                .await,
            ),
            (
                "mark read with another status (100)",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "status": "delivered", "message_id": inbound_wamid}),
                )
                .await,
            ),
            (
                "mark read of a message Meta does not know",
                t.post(
                    &path,
                    &json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.unknown"}),
                )
                .await,
            ),
            (
                "Idempotency-Key reused for another body (100)",
                keyed
                    .post(
                        &path,
                        &json!({"messaging_product": "whatsapp", "to": USER, "text": {"body": "twice?"}}),
                    )
                    .await,
            ),
            (
                "Idempotency-Key too long (100)",
                Api::tenant(&app)
                    .header("idempotency-key", &"k".repeat(256))
                    .post(&path, &ok)
                    .await,
            ),
            (
                "a path of neither surface",
                t.get("/v1/nothing-here").await,
            ),
            (
                "a method the route does not have",
                t.delete("/v1/messages").await,
            ),
        ],
    );

    // Meta refuses the send (131026, undeliverable): the caller gets Meta's error.
    app.sim.set_faults(openbsp_simulator::Faults {
        error_rate: 1.0,
        error_code: 131026,
        ..Default::default()
    });
    snap("cloud_api_send_refused_by_meta", &t.post(&path, &ok).await);
    app.sim.set_faults(openbsp_simulator::Faults::default());

    // Meta has not accepted the send when the gateway stops waiting: the gateway's id, and
    // `message_status: queued`.
    let slow = spawn_app_configured(b, |c| c.cloud_api_wait = Duration::from_millis(200)).await;
    slow.open_window(USER).await;
    // Meta refuses every attempt with a transient error (retried for over a second).
    slow.sim.set_faults(openbsp_simulator::Faults {
        error_rate: 1.0,
        error_code: 131000,
        ..Default::default()
    });
    snap(
        "cloud_api_send_queued",
        &Api::tenant(&slow).post(&path, &ok).await,
    );
}

// ---------------------------------------------------------------------------------------------
// The Cloud-API-compatible surface: templates.

async fn cloud_api_templates(b: Backend) {
    let app = spawn_app(b).await;
    let t = Api::tenant(&app);
    let list = format!("/v23.0/{WABA}/message_templates");

    let created = t.post(&list, &shipping("graph_ready", "en_US")).await;
    snap("cloud_api_templates_create", &created);
    let meta_id = created.id();
    let es = t.post(&list, &shipping("graph_ready", "es")).await;
    let es_meta_id = es.id();
    for id in [&meta_id, &es_meta_id] {
        wait_template_status(&app, id, "APPROVED").await;
    }
    snap(
        "cloud_api_templates_list",
        &t.get(&format!("{list}?name=graph_ready")).await,
    );
    snap(
        "cloud_api_templates_list_page",
        &t.get(&format!(
            "{list}?name=graph_ready&limit=1&fields=name,status"
        ))
        .await,
    );
    snap(
        "cloud_api_templates_get",
        &t.get(&format!("/v23.0/{meta_id}")).await,
    );

    let mut components = shipping("graph_ready", "en_US")["components"].clone();
    components[2]["text"] = json!("Reply STOP to stop these");
    snap(
        "cloud_api_templates_edit",
        &t.post(
            &format!("/v23.0/{meta_id}"),
            &json!({"components": components}),
        )
        .await,
    );
    let pending_edit = t
        .post(
            &format!("/v23.0/{meta_id}"),
            &json!({"components": components}),
        )
        .await;

    let mut long_footer = shipping("graph_other", "en_US");
    long_footer["components"][2]["text"] = json!("f".repeat(61));
    let mut at_edge = shipping("graph_other", "en_US");
    at_edge["components"][1]["text"] = json!("{{1}}, your order {{2}} is ready now.");
    let mut exists = shipping("graph_ready", "es");
    exists["components"][2]["text"] = json!("Another footer");
    let admin_key = app.admin_key.clone();
    snap_cases(
        "cloud_api_templates_errors",
        &[
            ("edit a PENDING template", pending_edit),
            (
                "create with a footer too long (100/2388040)",
                t.post(&list, &long_footer).await,
            ),
            (
                "create with a variable at the edge (100/2388299)",
                t.post(&list, &at_edge).await,
            ),
            (
                "create another under a name and language (100/2388024)",
                t.post(&list, &exists).await,
            ),
            (
                "create from invalid JSON (100)",
                t.post_raw(&list, "{").await,
            ),
            (
                "unknown WABA (100/33)",
                t.get("/v23.0/123/message_templates").await,
            ),
            (
                "bad version (100)",
                t.get(&format!("/latest/{WABA}/message_templates")).await,
            ),
            ("no token (190)", Api::anonymous(&app).get(&list).await),
            (
                "admin key (190)",
                Api::with_key(&app, &admin_key).get(&list).await,
            ),
            (
                "limit out of range (100)",
                t.get(&format!("{list}?limit=0")).await,
            ),
            ("delete without a name (100)", t.delete(&list).await),
            (
                "delete an unknown hsm_id (100/33)",
                t.delete(&format!("{list}?name=graph_ready&hsm_id=42"))
                    .await,
            ),
            ("unknown template id (100/33)", t.get("/v23.0/424242").await),
            (
                "edit an unknown template id (100/33)",
                t.post("/v23.0/424242", &json!({"components": []})).await,
            ),
        ],
    );

    // Deleted by name: every language.
    snap(
        "cloud_api_templates_delete",
        &t.delete(&format!("{list}?name=graph_ready")).await,
    );
    snap(
        "cloud_api_templates_get_deleted",
        &t.get(&format!("/v23.0/{meta_id}")).await,
    );
}

// ---------------------------------------------------------------------------------------------
// Meta's webhooks: the verification handshake and the receiver's answers.

async fn meta_webhooks(b: Backend) {
    let app = spawn_app(b).await;
    let handshake = |token: &str| {
        format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        )
    };
    let wamid = "wamid.shapes-webhook-0001";
    let body = envelope(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": USER}],
        "messages": [{"from": USER, "id": wamid, "timestamp": "1731705721", "type": "text", "text": {"body": "hi"}}],
    }));
    let signed = openbsp_wire::signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
    let elsewhere = body.replace(PNID, "999999");
    let signed_elsewhere =
        openbsp_wire::signature::sign(APP_SECRET.as_bytes(), elsewhere.as_bytes());
    let signed_empty = openbsp_wire::signature::sign(APP_SECRET.as_bytes(), b"{}");
    let receiver = "/webhooks/whatsapp";
    let with_signature = |sig: &str| Api::anonymous(&app).header("x-hub-signature-256", sig);
    snap_cases(
        "meta_webhooks",
        &[
            (
                "handshake",
                Api::anonymous(&app).get(&handshake(VERIFY_TOKEN)).await,
            ),
            (
                "handshake with another token",
                Api::anonymous(&app).get(&handshake("nope")).await,
            ),
            (
                "handshake without its parameters",
                Api::anonymous(&app).get(receiver).await,
            ),
            (
                "signed payload",
                with_signature(&signed).post_raw(receiver, &body).await,
            ),
            (
                "unsigned payload",
                Api::anonymous(&app).post_raw(receiver, &body).await,
            ),
            (
                "bad signature",
                with_signature(&format!("sha256={}", "0".repeat(64)))
                    .post_raw(receiver, &body)
                    .await,
            ),
            (
                "unknown phone number",
                with_signature(&signed_elsewhere)
                    .post_raw(receiver, &elsewhere)
                    .await,
            ),
            (
                "unroutable payload",
                with_signature(&signed_empty).post_raw(receiver, "{}").await,
            ),
        ],
    );
    // The accepted payload is applied (nothing is left running behind the test).
    wait_until("the webhook's message stored", || async {
        app.get(&format!("/v1/messages/{wamid}"), &app.api_key)
            .await
            .status
            == 200
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Health.

async fn health(b: Backend) {
    let app = spawn_app(b).await;
    let anyone = Api::anonymous(&app);
    snap("health_healthz", &anyone.get("/healthz").await);
    snap("health_readyz", &anyone.get("/readyz").await);
}
