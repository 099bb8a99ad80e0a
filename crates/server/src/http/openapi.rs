//! The native API's description, served: `GET /openapi.json` (the OpenAPI document as the
//! code generates it) and `GET /docs` (a page rendered here from the same document, HTML
//! and a little CSS with no script and nothing fetched from elsewhere, so it reads the same
//! offline and behind any content security policy). Both are rendered once per process
//! (the first time a router is built, [`pages`]) and need no key: the description holds nothing that is not in the
//! source. Nothing here knows a route: it only reads the document it is given.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Map, Value};
use utoipa::openapi::OpenApi;

/// `GET /openapi.json` and `GET /docs`, for `spec`.
pub fn routes<S: Clone + Send + Sync + 'static>(spec: &'static OpenApi) -> Router<S> {
    let Pages { json, html } = pages(spec);
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json).into_response() }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let html = html.clone();
                async move {
                    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
                }
            }),
        )
}

/// A description as served: the JSON and the page, each rendered once.
#[derive(Clone)]
pub struct Pages {
    /// `/openapi.json`'s body.
    pub json: Bytes,
    /// `/docs`' body.
    pub html: Bytes,
}

/// `spec` rendered, once per process: the page is half a megabyte of HTML, and the gateway
/// builds its router more than once (each test, each listener), so it is rendered the first
/// time and shared after (the bytes are reference counted). Kept per document, by its
/// address: every document given is a `'static` one, built once itself.
pub fn pages(spec: &'static OpenApi) -> Pages {
    static RENDERED: OnceLock<Mutex<BTreeMap<usize, Pages>>> = OnceLock::new();
    let mut rendered = RENDERED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    rendered
        .entry(std::ptr::from_ref(spec) as usize)
        .or_insert_with(|| {
            let doc = serde_json::to_value(spec).expect("an OpenAPI document serializes to JSON");
            Pages {
                json: Bytes::from(
                    serde_json::to_vec_pretty(&doc).expect("a JSON value serializes"),
                ),
                html: Bytes::from(render(&doc)),
            }
        })
        .clone()
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1c1c1c}\
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f5f5f4;padding:.6rem;overflow:auto;border-radius:4px}\
h2{border-bottom:2px solid #ddd;margin-top:2.5rem}h3{margin:1.8rem 0 .3rem}\
.op{border-left:4px solid #ccc;padding-left:1rem;margin:1.5rem 0}.m{font-weight:700;text-transform:uppercase;padding:0 .4rem;border-radius:3px;color:#fff}\
.get{background:#2f6f9f}.post{background:#2f8f4f}.patch{background:#9f7f2f}.delete{background:#9f2f2f}.put{background:#6f2f9f}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}\
nav ul{columns:2}";

/// The page: the document's info, a contents list, then each tag's operations and every
/// schema the operations refer to.
fn render(doc: &Value) -> String {
    let empty = Map::new();
    let info = doc.get("info").and_then(Value::as_object).unwrap_or(&empty);
    let title = text(info.get("title"));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <h1>{t} <small>{v}</small></h1><p>OpenAPI {o}: <a href=\"/openapi.json\">/openapi.json</a></p>{d}",
        t = esc(&title),
        v = esc(&text(info.get("version"))),
        o = esc(&text(doc.get("openapi"))),
        d = prose(&text(info.get("description"))),
    );
    if let Some(schemes) = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
    {
        out.push_str("<h2 id=\"auth\">Authentication</h2>");
        for (name, s) in schemes {
            let _ = write!(
                out,
                "<p><code>{}</code>: {} {}</p>{}",
                esc(name),
                esc(&text(s.get("type"))),
                esc(&text(s.get("scheme"))),
                prose(&text(s.get("description")))
            );
        }
    }
    let ops = operations(doc);
    let tags = tags(doc, &ops);
    out.push_str("<nav><h2>Contents</h2>");
    for (tag, _) in &tags {
        let _ = write!(
            out,
            "<h4><a href=\"#tag-{a}\">{t}</a></h4><ul>",
            a = anchor(tag),
            t = esc(tag)
        );
        for op in ops.iter().filter(|o| &o.tag == tag) {
            let _ = write!(
                out,
                "<li><a href=\"#op-{a}\"><code>{m} {p}</code></a> {s}</li>",
                a = anchor(&op.id),
                m = op.method.to_uppercase(),
                p = esc(op.path),
                s = esc(&text(op.value.get("summary")))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</nav>");
    for (tag, description) in &tags {
        let _ = write!(
            out,
            "<h2 id=\"tag-{a}\">{t}</h2>{d}",
            a = anchor(tag),
            t = esc(tag),
            d = prose(description)
        );
        for op in ops.iter().filter(|o| &o.tag == tag) {
            operation(&mut out, op);
        }
    }
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        out.push_str("<h2 id=\"schemas\">Schemas</h2>");
        for (name, schema) in schemas {
            let _ = write!(
                out,
                "<h3 id=\"schema-{a}\">{n}</h3>{d}{j}",
                a = anchor(name),
                n = esc(name),
                d = prose(&text(schema.get("description"))),
                j = json_block(schema)
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// One operation of the document.
struct Op<'a> {
    method: &'a str,
    path: &'a str,
    tag: String,
    id: String,
    value: &'a Value,
}

/// Every operation, in the document's path order.
fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, value) in item {
            if ![
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            out.push(Op {
                method,
                path,
                tag: value
                    .pointer("/tags/0")
                    .and_then(Value::as_str)
                    .unwrap_or("other")
                    .to_string(),
                id: value
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("{method}-{path}"), str::to_string),
                value,
            });
        }
    }
    out
}

/// The tags in the document's order with their descriptions, then any an operation has that
/// the document does not list.
fn tags(doc: &Value, ops: &[Op<'_>]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| (text(t.get("name")), text(t.get("description"))))
        .collect();
    for op in ops {
        if !out.iter().any(|(t, _)| t == &op.tag) {
            out.push((op.tag.clone(), String::new()));
        }
    }
    out
}

/// One operation: its method and path, summary and description, parameters, request body
/// and responses, each schema as JSON and each example.
fn operation(out: &mut String, op: &Op<'_>) {
    let v = op.value;
    let _ = write!(
        out,
        "<div class=\"op\"><h3 id=\"op-{a}\"><span class=\"m {m}\">{m}</span> <code>{p}</code></h3>\
         <p><b>{s}</b> <small>(<code>{id}</code>)</small></p>{d}",
        a = anchor(&op.id),
        m = esc(op.method),
        p = esc(op.path),
        s = esc(&text(v.get("summary"))),
        id = esc(&op.id),
        d = prose(&text(v.get("description")))
    );
    if let Some(params) = v.get("parameters").and_then(Value::as_array)
        && !params.is_empty()
    {
        out.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&text(p.get("name"))),
                esc(&text(p.get("in"))),
                p.get("required").and_then(Value::as_bool).unwrap_or(false),
                linked(&esc(&compact(p.get("schema").unwrap_or(&Value::Null)))),
                prose(&text(p.get("description")))
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = v.get("requestBody") {
        out.push_str("<h4>Request body</h4>");
        out.push_str(&prose(&text(body.get("description"))));
        content(out, body.get("content"));
    }
    if let Some(responses) = v.get("responses").and_then(Value::as_object) {
        out.push_str("<h4>Responses</h4>");
        for (status, r) in responses {
            let _ = write!(
                out,
                "<p><b>{}</b> {}</p>",
                esc(status),
                prose_inline(&text(r.get("description")))
            );
            if let Some(headers) = r.get("headers").and_then(Value::as_object) {
                for (name, h) in headers {
                    let _ = write!(
                        out,
                        "<p>Header <code>{}</code>: {}</p>",
                        esc(name),
                        prose_inline(&text(h.get("description")))
                    );
                }
            }
            content(out, r.get("content"));
        }
    }
    out.push_str("</div>");
}

/// A body's content: each media type with its schema and example.
fn content(out: &mut String, content: Option<&Value>) {
    let Some(content) = content.and_then(Value::as_object) else {
        return;
    };
    for (media_type, c) in content {
        let _ = write!(out, "<p><code>{}</code></p>", esc(media_type));
        if let Some(schema) = c.get("schema") {
            out.push_str(&json_block(schema));
        }
        if let Some(example) = c.get("example") {
            out.push_str("<p>Example:</p>");
            out.push_str(&match example {
                Value::String(s) => format!("<pre>{}</pre>", esc(s)),
                other => json_block(other),
            });
        }
        if let Some(examples) = c.get("examples").and_then(Value::as_object) {
            for (name, e) in examples {
                let _ = write!(out, "<p>Example <i>{}</i>:</p>", esc(name));
                out.push_str(&json_block(e.get("value").unwrap_or(e)));
            }
        }
    }
}

/// A value as pretty JSON, its `$ref`s linked to the schemas below.
fn json_block(v: &Value) -> String {
    let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
    format!("<pre>{}</pre>", linked(&esc(&pretty)))
}

/// A value as one line of JSON.
fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Escaped JSON with each `"#/components/schemas/Name"` made a link to the schema.
fn linked(escaped: &str) -> String {
    const REF: &str = "&quot;#/components/schemas/";
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(i) = rest.find(REF) {
        out.push_str(&rest[..i]);
        let after = &rest[i + REF.len()..];
        let end = after.find("&quot;").unwrap_or(after.len());
        let name = &after[..end];
        let _ = write!(
            out,
            "&quot;<a href=\"#schema-{}\">#/components/schemas/{name}</a>",
            anchor(name)
        );
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A string field's text, or nothing.
fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

/// HTML-escaped text.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id for an anchor: letters, digits, `-` and `_`.
fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The doc comments' prose as paragraphs (split at blank lines), `code` spans kept.
fn prose(s: &str) -> String {
    s.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", prose_inline(p)))
        .collect()
}

/// One paragraph: escaped, with `` `code` `` spans as `<code>`.
fn prose_inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_escapes_text_and_links_schemas() {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "T <1>", "version": "1", "description": "Use `a<b`."},
            "tags": [{"name": "x", "description": "X things."}],
            "paths": {"/v1/x/{id}": {"get": {
                "tags": ["x"], "operationId": "get_x", "summary": "Get an x.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "It.", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/X"}, "example": {"id": "<x>"}}}}}
            }}},
            "components": {"schemas": {"X": {"type": "object"}}}
        });
        let html = render(&doc);
        assert!(html.contains("<h1>T &lt;1&gt;"), "{html}");
        assert!(html.contains("<code>a&lt;b</code>"), "{html}");
        assert!(html.contains("id=\"op-get_x\""), "{html}");
        assert!(
            html.contains("<a href=\"#schema-X\">#/components/schemas/X</a>"),
            "{html}"
        );
        assert!(html.contains("&quot;&lt;x&gt;&quot;"), "{html}");
        assert!(html.contains("id=\"schema-X\""), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }
}
