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
    a_field_described_as_nullable_takes_null => crate::a_field_described_as_nullable_takes_null,
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

/// `$ref` resolved (repeatedly) in `doc`.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = doc
            .pointer(r.strip_prefix('#').unwrap_or(r))
            .unwrap_or_else(|| panic!("$ref {r} does not resolve"));
    }
    schema
}

/// Whether `v` is of the JSON Schema type `t`.
fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// The properties `schema` declares, through `$ref`s and `allOf` (a flattened view's).
fn declared_properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    let schema = resolve(doc, schema);
    if let Some(props) = schema["properties"].as_object() {
        out.extend(props.keys().cloned());
    }
    for member in schema["allOf"].as_array().into_iter().flatten() {
        declared_properties(doc, member, out);
    }
}

/// What is wrong with `v` as an instance of `schema` (JSON Schema, as utoipa writes it), each
/// at its JSON pointer. Stricter than JSON Schema on one point: an object whose schema lists
/// its properties and says nothing of others has no others (the views serialize exactly
/// their fields).
fn check(doc: &Value, v: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(members) = schema["allOf"].as_array() {
        for member in members {
            check_open(doc, v, member, at, errors);
        }
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(members) = schema[keyword].as_array() {
            let passing = members
                .iter()
                .filter(|m| {
                    let mut e = Vec::new();
                    check(doc, v, m, at, &mut e);
                    e.is_empty()
                })
                .count();
            if passing == 0 || (exactly_one && passing > 1) {
                errors.push(format!("{at}: {passing} of {keyword} match {v}"));
            }
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| is_type(v, t)) {
        errors.push(format!("{at}: {v} is not {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {allowed:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errors.push(format!("{at}: {v} is not {c}"));
    }
    if let Value::Object(obj) = v {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errors.push(format!("{at}: required {r} is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, x) in obj {
            let here = format!("{at}/{k}");
            match (
                props.and_then(|p| p.get(k)),
                &schema["additionalProperties"],
            ) {
                (Some(s), _) => check(doc, x, s, &here, errors),
                (None, extra @ Value::Object(_)) => check(doc, x, extra, &here, errors),
                (None, Value::Bool(true)) => {}
                (None, _) => {
                    let mut declared = BTreeSet::new();
                    declared_properties(doc, schema, &mut declared);
                    if !declared.is_empty() && !declared.contains(k) {
                        errors.push(format!("{here}: not a property of the schema"));
                    }
                }
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
        for (i, x) in items.iter().enumerate() {
            check(doc, x, s, &format!("{at}/{i}"), errors);
        }
    }
}

/// [`check`] for a member of an `allOf`: the other members' properties are allowed.
fn check_open(doc: &Value, v: &Value, member: &Value, at: &str, errors: &mut Vec<String>) {
    let member = resolve(doc, member);
    let mut open = member.clone();
    if open["properties"].is_object() && open.get("additionalProperties").is_none() {
        open["additionalProperties"] = Value::Bool(true);
    }
    check(doc, v, &open, at, errors);
}

/// Every success answer with a body: (operation, status, media type, content).
fn success_contents(doc: &Value) -> Vec<(String, String, String, Value)> {
    let mut out = Vec::new();
    for (method, path, op) in operations(doc) {
        let at = format!("{} {path}", method.to_uppercase());
        for (status, response) in op["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                continue;
            }
            for (media_type, content) in response["content"].as_object().into_iter().flatten() {
                out.push((
                    at.clone(),
                    status.clone(),
                    media_type.clone(),
                    content.clone(),
                ));
            }
        }
    }
    out
}

/// Every success answer that has a body has an example (a file's bytes excepted: an example
/// of a JPEG's bytes says nothing), and the operations' own examples name operations and
/// statuses that exist.
#[test]
fn every_success_answer_has_an_example() {
    let doc = doc();
    let mut missing = Vec::new();
    let contents = success_contents(&doc);
    assert!(contents.len() > 50, "{} success bodies", contents.len());
    for (at, status, media_type, content) in &contents {
        let schema = resolve(&doc, &content["schema"]);
        if schema["format"] == "binary" || schema["contentMediaType"] == "application/octet-stream"
        {
            continue;
        }
        if content.get("example").is_none_or(Value::is_null) {
            missing.push(format!("{at} {status} {media_type}: {}", content["schema"]));
        }
    }
    assert!(
        missing.is_empty(),
        "success answers without an example: {missing:#?}"
    );

    let ids: BTreeMap<String, Value> = operations(&doc)
        .into_iter()
        .map(|(_, _, op)| (op["operationId"].as_str().unwrap().to_string(), op))
        .collect();
    for (id, status) in openbsp_server::views::examples::operation_examples().keys() {
        assert!(
            ids.get(*id)
                .is_some_and(|op| op["responses"][*status].is_object()),
            "the example of {id} {status} names no operation's answer"
        );
    }
}

/// Each success answer's example is an instance of the answer's schema (every required
/// property there, no property the schema does not have, each of its type), and so is
/// each request body's example.
#[test]
fn every_example_is_valid_for_its_schema() {
    let doc = doc();
    let mut errors = Vec::new();
    let mut checked = 0;
    for (at, status, media_type, content) in success_contents(&doc) {
        if let Some(example) = content.get("example") {
            checked += 1;
            let mut e = Vec::new();
            check(&doc, example, &content["schema"], "", &mut e);
            errors.extend(
                e.into_iter()
                    .map(|e| format!("{at} {status} {media_type}: {e}")),
            );
        }
    }
    for (method, path, op) in operations(&doc) {
        for (media_type, content) in op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let schema = &content["schema"];
            let example = content
                .get("example")
                .or_else(|| resolve(&doc, schema).get("example"));
            if let Some(example) = example
                && media_type == "application/json"
            {
                checked += 1;
                let mut e = Vec::new();
                check(&doc, example, schema, "", &mut e);
                let at = format!("{} {path} request {media_type}", method.to_uppercase());
                errors.extend(e.into_iter().map(|e| format!("{at}: {e}")));
            }
        }
    }
    assert!(checked > 60, "{checked} examples checked");
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The checker itself refuses what it should: a missing required property, a property the
/// schema lacks, a wrong type, a `null` where the schema has none, through `$ref`s.
#[test]
fn the_example_checker_catches_what_is_wrong() {
    let doc = serde_json::json!({"components": {"schemas": {
        "A": {"type": "object", "required": ["id", "n"], "properties": {
            "id": {"type": "string"}, "n": {"type": "integer"},
            "b": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/B"}]}}},
        "B": {"type": "object", "required": ["x"], "properties": {"x": {"type": ["string", "null"]}}}
    }}});
    let a = serde_json::json!({"$ref": "#/components/schemas/A"});
    let errors = |v: Value| {
        let mut e = Vec::new();
        check(&doc, &v, &a, "", &mut e);
        e
    };
    assert!(errors(serde_json::json!({"id": "a", "n": 1, "b": null})).is_empty());
    assert!(errors(serde_json::json!({"id": "a", "n": 1, "b": {"x": null}})).is_empty());
    for bad in [
        serde_json::json!({"id": "a"}),
        serde_json::json!({"id": "a", "n": 1, "z": 1}),
        serde_json::json!({"id": "a", "n": 1.5}),
        serde_json::json!({"id": null, "n": 1}),
        serde_json::json!({"id": "a", "n": 1, "b": {}}),
        serde_json::json!({"id": "a", "n": 1, "b": {"x": 1}}),
    ] {
        assert!(!errors(bad.clone()).is_empty(), "{bad} passed");
    }
}

/// `/openapi.json` and `/docs` are rendered once per process: every router built after the
/// first serves the same bytes, not a new rendering of the half-megabyte page.
#[test]
fn the_description_is_rendered_once() {
    use openbsp_server::http::openapi::pages;
    let spec = openbsp_server::native::openapi();
    let (first, second) = (pages(spec), pages(spec));
    assert!(first.html.len() > 100_000, "{} bytes", first.html.len());
    assert_eq!(
        first.html.as_ptr(),
        second.html.as_ptr(),
        "the page was rendered again"
    );
    assert_eq!(
        first.json.as_ptr(),
        second.json.as_ptr(),
        "the JSON was rendered again"
    );
}

/// Whether `schema` allows `null`.
fn nullable(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    let typed = match &schema["type"] {
        Value::String(t) => t == "null",
        Value::Array(ts) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    typed
        || ["oneOf", "anyOf"].iter().any(|k| {
            schema[*k]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| nullable(doc, m)))
        })
}

/// The object schema of `schema` for a value that is an object: itself, or its non-null
/// `oneOf`/`anyOf` member.
fn object_schema<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(doc, schema);
    if schema["properties"].is_object() {
        return Some(schema);
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| schema[*k].as_array())
        .flatten()
        .find_map(|m| object_schema(doc, m))
}

/// `example` with, one at a time, each property the schema says may be `null` set to `null`
/// (at any depth of the example's objects): (its JSON pointer, the example with it `null`,
/// the example without it).
fn null_variants(doc: &Value, example: &Value, schema: &Value) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    let Some(schema) = object_schema(doc, schema) else {
        return out;
    };
    let Some(obj) = example.as_object() else {
        return out;
    };
    for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
        if nullable(doc, prop) {
            let (mut null, mut absent) = (obj.clone(), obj.clone());
            null.insert(name.clone(), Value::Null);
            absent.remove(name);
            out.push((
                format!("/{name}"),
                Value::Object(null),
                Value::Object(absent),
            ));
        }
        if let Some(inner) = obj.get(name) {
            for (at, null, absent) in null_variants(doc, inner, prop) {
                let within = |v: Value| {
                    let mut o = obj.clone();
                    o.insert(name.clone(), v);
                    Value::Object(o)
                };
                out.push((format!("/{name}{at}"), within(null), within(absent)));
            }
        }
    }
    out
}

/// A field the description marks nullable takes `null`: for each operation whose JSON body
/// has an example, the example is sent as it is, then with each nullable field (at any
/// depth) set to `null`; where the gateway refuses the `null` as invalid (400) but takes the
/// example without the field, the description promised what the parser refuses. (A `null`
/// refused like the field's absence, as a recipient that one of two fields must give, is
/// the absence it stands for.) A client generated from the description sends `null` for a
/// field it has no value for.
async fn a_field_described_as_nullable_takes_null(b: Backend) {
    let app = spawn_app(b).await;
    let ids = app.one_of_each().await;

    let doc = doc();
    let mut ops = operations(&doc);
    // The installation's routes last: a channel's or an app's change does not disturb the
    // tenant's.
    ops.sort_by_key(|(_, _, op)| op["tags"][0] == "admin");
    let (mut tried, mut refused) = (0, Vec::new());
    let mut unexercised = Vec::new();
    for (method, path, op) in ops {
        let content = &op["requestBody"]["content"]["application/json"];
        let schema = &content["schema"];
        let Some(mut example) = content
            .get("example")
            .or_else(|| resolve(&doc, schema).get("example"))
            .cloned()
        else {
            continue;
        };
        // The examples fitted to the test's gateway: its simulator's `order_update` has no
        // body variable, and no name resolves here but the loopback's.
        match op["operationId"].as_str().unwrap() {
            "start_session" => {
                example.as_object_mut().unwrap().remove("variables");
            }
            "create_webhook_endpoint" => example["url"] = "http://127.0.0.1:9/hooks".into(),
            _ => {}
        }
        let variants = null_variants(&doc, &example, schema);
        if variants.is_empty() {
            continue;
        }
        let path = match ids.iter().find(|(prefix, _)| path.starts_with(prefix)) {
            Some((prefix, id)) if path.contains("{id}") => {
                format!("{prefix}{id}{}", &path[prefix.len() + "{id}".len()..])
            }
            _ => path.clone(),
        };
        let key = if op["tags"][0] == "admin" {
            &app.admin_key
        } else {
            &app.api_key
        };
        let method: reqwest::Method = method.to_uppercase().parse().unwrap();
        let first = app.call(method.clone(), &path, key, Some(&example)).await;
        if first.status == 400 {
            unexercised.push(format!("{method} {path} {example}: {}", first.body));
            continue;
        }
        for (at, null, absent) in variants {
            tried += 1;
            let r = app.call(method.clone(), &path, key, Some(&null)).await;
            if r.status != 400 {
                continue;
            }
            let without = app.call(method.clone(), &path, key, Some(&absent)).await;
            if without.status != 400 {
                refused.push(format!(
                    "{method} {path} {at} = null: {} (without it: {})",
                    r.body["error"]["message"], without.status
                ));
            }
        }
    }
    assert!(
        unexercised.is_empty(),
        "examples the gateway refuses, so their nullable fields go untested: {unexercised:#?}"
    );
    assert!(tried > 20, "{tried} nullable fields tried");
    assert!(
        refused.is_empty(),
        "described as nullable, refused as null: {refused:#?}"
    );
}
