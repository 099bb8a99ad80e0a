//! schemathesis (PyPI) against a running gateway, on both backends: it reads `/openapi.json`,
//! generates requests for every operation (valid and invalid, from the description's
//! schemas, examples and boundaries) and checks each answer: no server error, the status,
//! content type and body the description gives. A finding fails the test with schemathesis's
//! report of it (the request, a `curl` to replay it and what was wrong).
//!
//! schemathesis comes from `scripts/ensure-schemathesis.sh` (a venv in the user's cache,
//! made on first use): if it cannot be installed the test fails, it never skips.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    schemathesis_finds_nothing => crate::schemathesis_finds_nothing,
    what_schemathesis_found_stays_fixed => crate::what_schemathesis_found_stays_fixed,
}

/// The checks run on every answer (`status_code_conformance`: only the statuses the
/// description lists; the others: what each status's description says it holds).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Test cases per operation and phase: enough to reach every field's boundaries, few
/// enough that a backend's run stays near a minute on two cores. A longer search:
/// `OPENBSP_SCHEMATHESIS_MAX_EXAMPLES=200`.
const MAX_EXAMPLES: &str = "12";

fn max_examples() -> String {
    std::env::var("OPENBSP_SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into())
}

/// A fixed seed: the same requests every run, so a finding reproduces. Another search:
/// `OPENBSP_SCHEMATHESIS_SEED=…`.
const SEED: &str = "16";

fn seed_value() -> String {
    std::env::var("OPENBSP_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into())
}

/// The path of a `schemathesis` executable, installed if missing.
fn schemathesis() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ensure-schemathesis.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .expect("bash runs ensure-schemathesis.sh");
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "schemathesis could not be installed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The folder of the hooks module schemathesis loads.
fn hooks_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemathesis")
}

/// Runs schemathesis with `config` on the operations `filter` selects, as `key`; its output
/// when it found something.
async fn run(
    exe: &str,
    app: &TestApp,
    config: &str,
    key: &str,
    filter: &[&str],
) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut cmd = tokio::process::Command::new(exe);
    cmd.current_dir(dir.path())
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &max_examples()])
        .args(["--seed", &seed_value()])
        .args(["--generation-database", "none"])
        // One worker: hypothesis parses its strategies' source with `ast`, which CPython 3.11
        // does not allow from two threads at once ("AST constructor recursion depth
        // mismatch", an error of schemathesis's, not a finding).
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--max-failures", "20"])
        .arg("--no-color")
        .args(filter)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        // Serializers schemathesis lacks (`fixtures/schemathesis/openbsp_hooks.py`).
        .env("PYTHONPATH", hooks_dir())
        .env("SCHEMATHESIS_HOOKS", "openbsp_hooks")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// schemathesis's configuration that sends the ids of one object of each kind
/// ([`TestApp::one_of_each`]) to the routes that take one (`path.id`), so that those routes
/// are tested on something that exists rather than answering 404 to every generated id; and
/// the channel to every body that names one. (The 404s of unknown ids are `isolation.rs`'s.)
async fn seed(app: &TestApp) -> String {
    let ids = app.one_of_each().await;
    let mut config = format!("[parameters]\n\"body.channel\" = \"{PNID}\"\n");
    for (prefix, id) in ids {
        config.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = \"^{prefix}\\\\{{id\\\\}}\"\nparameters = {{ \"path.id\" = \"{id}\" }}\n"
        ));
    }
    config
}

async fn schemathesis_finds_nothing(b: Backend) {
    let exe = schemathesis();
    let app = spawn_app(b).await;
    let config = seed(&app).await;
    let started = Instant::now();
    // The tenant's routes with the tenant's key, the admin routes with the admin key.
    let tenant = run(
        &exe,
        &app,
        &config,
        &app.api_key,
        &["--exclude-tag", "admin"],
    )
    .await;
    let admin = run(
        &exe,
        &app,
        &config,
        &app.admin_key,
        &["--include-tag", "admin"],
    )
    .await;
    let elapsed = started.elapsed();
    let mut failures = Vec::new();
    for (who, result) in [("tenant key", tenant), ("admin key", admin)] {
        match result {
            Ok(report) => {
                // A run that tested nothing passes too: it must have tested the operations.
                assert!(
                    report.contains("passed") && !report.contains("No operations"),
                    "{who}: schemathesis tested nothing:\n{report}"
                );
                eprintln!("schemathesis, {who}:\n{report}");
            }
            Err(report) => failures.push(format!("=== {who} ===\n{report}")),
        }
    }
    assert!(
        failures.is_empty(),
        "schemathesis found problems ({elapsed:?}):\n{}",
        failures.join("\n")
    );
    // The gateway is still up after it all.
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{elapsed:?}");
}

/// What schemathesis found, each as the request that showed it: text holding NUL reached
/// PostgreSQL (whose `text` and `jsonb` refuse it) and failed there with a 500, in a query
/// filter, a body or an id; now the native API answers it alike on both backends: 400 for a
/// query or a body, 404 for an id (nothing has one). And a query integer past its type was
/// an undocumented 400 (now described).
async fn what_schemathesis_found_stays_fixed(b: Backend) {
    let app = spawn_app(b).await;
    let inbound = app.user_writes(USER, "Ana", "hello").await;
    let contact = inbound["contact_id"].as_str().unwrap();
    let key = &app.api_key;
    let bad = |r: &Resp, status: u16, what: &str| {
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert_eq!(
            r.body["error"]["code"],
            if status == 404 {
                "not_found"
            } else {
                "invalid_request"
            },
            "{what}: {}",
            r.body
        );
    };
    for query in [
        "/v1/templates?name=Seed&language=%00%F3%9A%A6%9B",
        "/v1/messages?to=%00",
        "/v1/contacts?name=a%00b",
        "/v1/events?types=message.%00",
    ] {
        bad(&app.get(query, key).await, 400, query);
    }
    for path in [
        "/v1/contacts/%00",
        "/v1/sessions/ses_%00",
        "/v1/templates/%00",
    ] {
        bad(&app.get(path, key).await, 404, path);
    }
    let nul = "a\u{0}b";
    for (method, path, body) in [
        (
            "POST",
            "/v1/campaigns",
            json!({"name": nul, "channel": PNID,
                   "template": {"name": "order_update", "language": "en_US"}}),
        ),
        (
            "PATCH",
            &format!("/v1/contacts/{contact}") as &str,
            json!({"name": nul}),
        ),
        (
            "PATCH",
            &format!("/v1/contacts/{contact}"),
            json!({"attributes": {nul: 1}}),
        ),
        (
            "POST",
            "/v1/messages",
            json!({"channel": PNID, "to": USER, "type": "text", "text": {"body": nul}}),
        ),
    ] {
        let r = app
            .call(method.parse().unwrap(), path, key, Some(&body))
            .await;
        bad(&r, 400, &format!("{method} {path} {body}"));
    }
    // Nothing of it was stored: the contact is as it was, no campaign exists.
    let c = app.get(&format!("/v1/contacts/{contact}"), key).await;
    assert_eq!(c.body["name"], "Ana", "{}", c.body);
    let campaigns = app.get("/v1/campaigns", key).await;
    assert_eq!(campaigns.body["data"], json!([]), "{}", campaigns.body);

    let r = app
        .get("/v1/media/med_1/content?expires=9223372036854775808", key)
        .await;
    bad(&r, 400, "an expiry past i64");
    let doc = serde_json::to_value(openbsp_server::native::openapi()).unwrap();
    assert!(
        doc["paths"]["/v1/media/{id}/content"]["get"]["responses"]["400"].is_object(),
        "the download's 400 is described"
    );
}
