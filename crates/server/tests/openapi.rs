//! The native API's OpenAPI description (`native::openapi`, generated from the handlers'
//! `#[utoipa::path]` and the views' `ToSchema`) is a complete OpenAPI 3.1 document, agrees
//! with the routes the gateway serves, and is served as `/openapi.json` and as the `/docs`
//! page, on both backends.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::Value;

on_both_backends! {
    every_described_route_is_served => crate::every_described_route_is_served,
    the_description_is_served_as_json_and_as_a_page => crate::the_description_is_served_as_json_and_as_a_page,
}

/// The description, as JSON.
fn doc() -> Value {
    serde_json::to_value(openbsp_server::native::openapi()).unwrap()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Every operation: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// The native handlers the source annotates (`#[utoipa::path(` in `src/native/`) and those
/// it registers (the names in its `routes!(…)` lists).
fn handlers_in_source() -> (usize, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/native");
    let (mut annotated, mut registered) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let code = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        annotated += code.matches("#[utoipa::path(").count();
        for (i, _) in code.match_indices("routes!(") {
            let list = &code[i + "routes!(".len()..];
            let list = &list[..list.find(')').unwrap()];
            registered += list.split(',').filter(|h| !h.trim().is_empty()).count();
        }
    }
    (annotated, registered)
}

#[test]
fn the_description_is_a_complete_openapi_3_1_document() {
    let doc = doc();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "OpenBSP native API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["api_key"], serde_json::json!([]));
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();

    let ops = operations(&doc);
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for (method, path, op) in &ops {
        let at = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_default();
        if id.is_empty() || !ids.insert(id.to_string()) {
            problems.push(format!("{at}: operationId {id:?} missing or not unique"));
        }
        if op["summary"].as_str().unwrap_or_default().trim().is_empty() {
            problems.push(format!("{at}: no summary"));
        }
        match op["tags"].as_array().map(Vec::as_slice) {
            Some([t]) if tags.contains(t.as_str().unwrap()) => {}
            other => problems.push(format!("{at}: tags {other:?} are not one declared tag")),
        }
        if path.starts_with("/v1/")
            && op["tags"][0] == "admin"
            && !op["description"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Admin key only.")
        {
            problems.push(format!("{at}: an admin route must say so first"));
        }
        let responses = op["responses"].as_object().unwrap();
        if !responses.keys().any(|s| s.starts_with('2')) {
            problems.push(format!("{at}: no 2xx response"));
        }
        let errors: Vec<&String> = responses
            .keys()
            .filter(|s| s.starts_with('4') || s.starts_with('5'))
            .collect();
        if errors.is_empty() {
            problems.push(format!("{at}: no error response"));
        }
        // Every route is behind a key: each says how it refuses one.
        for status in ["401", "403", "429", "500"] {
            if !responses.contains_key(status) {
                problems.push(format!("{at}: no {status}"));
            }
        }
        for status in errors {
            let json = &responses[status]["content"]["application/json"];
            // 416 (a range not in the file) has no body.
            if status == "416" {
                continue;
            }
            if json["schema"]["$ref"] != "#/components/schemas/ErrorEnvelope" {
                problems.push(format!("{at}: {status} is not the error envelope"));
            }
            if json["example"]["error"]["code"].as_str().is_none() {
                problems.push(format!("{at}: {status} has no example"));
            }
        }
        // Every `{param}` of the path is a declared, required path parameter, and no other.
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                if p["required"] != true {
                    problems.push(format!("{at}: path parameter {} not required", p["name"]));
                }
                p["name"].as_str().unwrap()
            })
            .collect();
        if in_path != declared {
            problems.push(format!(
                "{at}: path parameters {in_path:?}, declared {declared:?}"
            ));
        }
        // An id can name nothing (404); a query can be malformed (400).
        if !in_path.is_empty() && !responses.contains_key("404") {
            problems.push(format!("{at}: a path parameter without 404"));
        }
        let has_query = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["in"] == "query");
        if has_query && !responses.contains_key("400") {
            problems.push(format!("{at}: query parameters without 400"));
        }
        // A body-taking operation says what the body is.
        if ["post", "patch", "put"].contains(&method.as_str())
            && op["requestBody"].is_object()
            && op["requestBody"]["content"]
                .as_object()
                .is_none_or(|c| c.is_empty())
        {
            problems.push(format!("{at}: a request body without content"));
        }
    }
    // Every `$ref` resolves to a component.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let pointer = r.strip_prefix('#').unwrap_or(r);
        if !r.starts_with("#/components/") || doc.pointer(pointer).is_none() {
            problems.push(format!("$ref {r} does not resolve"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // As many operations as handlers annotated and registered: a handler is described and
    // served together, or neither.
    let (annotated, registered) = handlers_in_source();
    assert_eq!(
        ops.len(),
        annotated,
        "operations vs #[utoipa::path] handlers"
    );
    assert_eq!(
        ops.len(),
        registered,
        "operations vs handlers in routes!(…)"
    );
}

/// Every (method, path) of the description answers on a running gateway as a route of the
/// native API: without a key, the native 401 envelope (never axum's bare 404 or 405); and an
/// undescribed method or path does not, so that this 401 says the route exists.
async fn every_described_route_is_served(b: Backend) {
    let app = spawn_app(b).await;
    let doc = doc();
    let mut wrong = BTreeMap::new();
    for (method, path, _) in operations(&doc) {
        let url = app.url(&path.replace("{id}", "x_1"));
        let req = app
            .http
            .request(method.to_uppercase().parse().unwrap(), url);
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != 401 || body["error"]["code"] != "unauthorized" {
            wrong.insert(format!("{} {path}", method.to_uppercase()), (status, body));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    for (method, path) in [("GET", "/v1/nothing/here/at/all"), ("DELETE", "/v1/events")] {
        let r = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&r.status().as_u16()),
            "{method} {path}: {}",
            r.status()
        );
    }
}

/// `s` as HTML text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `GET /openapi.json` is the description, without a key; `GET /docs` is an HTML page of its
/// own (no script, nothing fetched from elsewhere) naming every operation.
async fn the_description_is_served_as_json_and_as_a_page(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let served: Value = r.json().await.unwrap();
    assert_eq!(served, doc());

    let r = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        r.headers()
    );
    let html = r.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..100]);
    for external in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(external), "the page has {external}");
    }
    let doc = doc();
    let mut missing = Vec::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap();
        let heading = format!(
            "<h3 id=\"op-{id}\"><span class=\"m {method}\">{method}</span> <code>{path}</code></h3>"
        );
        if !html.contains(&heading) {
            missing.push(heading);
        }
        let summary = esc(op["summary"].as_str().unwrap());
        if !html.contains(&summary) {
            missing.push(summary);
        }
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        if !html.contains(&format!("id=\"schema-{name}\"")) {
            missing.push(format!("schema {name}"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
