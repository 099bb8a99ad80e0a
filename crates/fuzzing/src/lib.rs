//! The bodies of the fuzz targets in `fuzz/` (cargo fuzz, nightly), kept here on the stable
//! toolchain so that the test suite runs each of them on its seeds and on every input a fuzzer
//! ever broke on (`fuzz/regressions/<target>/`, `tests/regressions.rs`).
//!
//! Each target takes any bytes and must neither panic nor break the invariant it states: the
//! parsers answer `Ok` or a clear error, the gateway answers a client's mistake with a 4xx and
//! never a 500, and a payload Meta delivers is applied or recorded as refused, never left to be
//! replayed forever.

pub mod harness;
pub mod seeds;

use openbsp_server::core::campaigns::rows::{self, Format, Line};
use openbsp_wire::send::{
    Outgoing, ParseContext, Surface, normalize_phone, normalize_phone_in, parse_bsuid,
    parse_outgoing_in,
};
use openbsp_wire::{ids::WaId, signature, standard_webhooks, template, webhook};
use serde_json::Value;

/// A target's body: any bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name its `fuzz/fuzz_targets/<name>.rs` and its corpus folders carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("cloud_send", cloud_send),
    ("webhook_payload", webhook_payload),
    ("webhook_pipeline", webhook_pipeline),
    ("template_definition", template_definition),
    ("phone_number", phone_number),
    ("campaign_import", campaign_import),
    ("surfaces", surfaces),
];

/// Writes target `name`'s seeds (one file each, named by a hash of its content) into the
/// folder `OPENBSP_FUZZ_SEEDS` names, when it names one: the fuzz binaries call it before
/// libFuzzer reads its corpus (`fuzz/run.sh` points it at `fuzz/corpus/<target>/`), so the
/// seeds come from the fixtures and are never kept twice.
pub fn write_seeds(name: &str) {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let Some(dir) = std::env::var_os("OPENBSP_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the seeds' folder");
    for seed in seeds::seeds(name) {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        std::fs::write(dir.join(format!("seed-{:016x}", h.finish())), seed)
            .expect("a seed is written");
    }
}

/// A target by its name.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The Cloud API send parser (`POST /{version}/{phone_number_id}/messages` and `/v1/messages`):
/// any JSON body, on both surfaces, with and without the business's number. Parsing is a
/// function of its input: the same body gives the same answer twice.
pub fn cloud_send(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let contexts = [
        ParseContext::default(),
        ParseContext::for_business("15550783881"),
        ParseContext::for_business("447700900123"),
    ];
    for surface in [Surface::Graph, Surface::Native] {
        for ctx in &contexts {
            let first = parse_outgoing_in(&v, surface, ctx);
            let again = parse_outgoing_in(&v, surface, ctx);
            assert_eq!(
                format!("{first:?}"),
                format!("{again:?}"),
                "the send parser gave two answers for one body"
            );
            if let Ok(Outgoing::Message(req)) = first {
                // What the sender does with an accepted request must hold too.
                let _ = format!("{req:?}");
            }
        }
    }
}

/// Meta's webhook payloads as the receiver and the processor read them (the routing key, the
/// envelope, each change's value and each message's accessors), and both signature checks:
/// Meta's `X-Hub-Signature-256` and the gateway's own Standard Webhooks header.
///
/// The input's first line is a signature header to check, the rest the body.
pub fn webhook_payload(data: &[u8]) {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let header = String::from_utf8_lossy(header);
    // Meta's signature: the right one verifies, any other does not.
    let secret = b"fuzz-app-secret";
    let right = signature::sign(secret, body);
    assert!(signature::verify(secret, body, &right));
    assert_eq!(signature::verify(secret, body, &header), header == right);
    // The gateway's own signature, with the header's fields as id, timestamp and signatures.
    let sw = standard_webhooks::Secret::from_bytes(b"fuzz-endpoint-secret-0123456789");
    let mut parts = header.splitn(3, ',');
    let (id, ts, sigs) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let now = 1_700_000_000;
    let _ = standard_webhooks::verify(&sw, id, ts, sigs, body, now, 300);
    let signed = standard_webhooks::signature_header(&[&sw], id, now, body);
    assert!(
        standard_webhooks::verify(&sw, id, &now.to_string(), &signed, body, now, 300).is_ok(),
        "a signature the gateway made does not verify"
    );

    let _ = webhook::routing_key(body);
    let Ok(env) = serde_json::from_slice::<webhook::Envelope>(body) else {
        return;
    };
    for entry in &env.entry {
        for change in &entry.changes {
            let _ = webhook::field_label(&change.field);
            if let Some(Ok(value)) = change.messages() {
                for m in &value.messages {
                    let _ = (m.text_body(), m.payload(), m.context_id(), m.context_from());
                    let _ = (m.forwarded(), m.reaction(), m.system_change(), m.errors());
                    let _ = m.referral().map(|r| r.welcome_text().map(str::len));
                    let kind = m.inbound_kind();
                    let _ = (kind.type_name(), kind.metric_label(), kind.has_media());
                    let _ = m.preview_text();
                }
                for s in &value.statuses {
                    let _ = s
                        .timestamp
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .and_then(openbsp_domain::clock::seconds_to_ms);
                }
            }
            if let Some(Ok(prefs)) = change.user_preferences() {
                for p in &prefs.user_preferences {
                    let _ = p.marketing_opt_out();
                }
            }
        }
    }
}

/// A payload signed by the app of a number the gateway serves, through the receiver and the
/// processor of an in-process gateway: the receiver answers 200 or 401, never a 5xx, and every
/// payload it accepted is processed (applied, or recorded as refused), none left to be
/// replayed forever. Each change is addressed to the gateway's number, so that the fuzzer's
/// mutations reach the processor rather than the receiver's refusal of unknown numbers.
pub fn webhook_pipeline(data: &[u8]) {
    webhook_pipeline_on(harness::Harness::get(), data);
}

/// [`webhook_pipeline`] on a given gateway (the regression test's, on each backend).
pub fn webhook_pipeline_on(h: &harness::Harness, data: &[u8]) {
    let body = match serde_json::from_slice::<Value>(data) {
        Ok(mut v) => {
            harness::address_to_gateway(&mut v);
            serde_json::to_vec(&v).expect("a Value serializes")
        }
        Err(_) => data.to_vec(),
    };
    h.webhook(&body);
}

/// The template definition parser (`POST /message_templates`, `/v1/templates`) and what is
/// built on a definition: its variables, the check of a send against it, and the components
/// a campaign builds from values. The input is a definition, optionally with a `send` (the
/// `template` object of a message) and `values` (a campaign row's values).
pub fn template_definition(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = template::validate_name(s);
            let _ = template::validate_language(s);
        }
        return;
    };
    if let Some(name) = v.get("name").and_then(Value::as_str) {
        let _ = template::validate_name(name);
    }
    if let Some(lang) = v.get("language").and_then(Value::as_str) {
        let _ = template::validate_language(lang);
    }
    let Ok(def) = template::parse_definition(&v) else {
        return;
    };
    let _ = def.body_variables();
    if let Some(send) = v.get("send") {
        let _ = template::check_send(&def, send);
    }
    let values: Vec<String> = match v.get("values") {
        Some(Value::Array(a)) => a.iter().map(|x| x.to_string()).collect(),
        _ => def.body_variables(),
    };
    if let Ok(components) = template::components_from_values(&def, &values) {
        // What a campaign builds must pass the check every send passes.
        let send = serde_json::json!({
            "name": v.get("name").cloned().unwrap_or(Value::Null),
            "language": {"code": v.get("language").cloned().unwrap_or(Value::Null)},
            "components": components,
        });
        let _ = template::check_send(&def, &send);
    }
}

/// The phone number and user id parsers: a normalized number normalizes to itself.
pub fn phone_number(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = parse_bsuid(&s);
    let _ = WaId::parse(&s);
    for ctx in [
        ParseContext::for_business("15550783881"),
        ParseContext::for_business("5511987654321"),
    ] {
        let _ = WaId::parse_in(&s, &ctx);
        let _ = normalize_phone_in(&s, &ctx);
    }
    if let Ok(n) = normalize_phone(&s) {
        assert_eq!(
            normalize_phone(&n).as_deref(),
            Ok(n.as_str()),
            "{s:?} normalized to {n:?}, which normalizes to something else"
        );
    }
}

/// The campaign recipients import (CSV and NDJSON): the first byte picks the format and the
/// columns the campaign needs; lines come out in order, each once, and the count returned is
/// the lines handed on.
pub fn campaign_import(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = if pick & 1 == 0 {
        Format::Csv
    } else {
        Format::Ndjson
    };
    let columns: Vec<String> = ["name", "code", "1", "city"]
        .iter()
        .take(usize::from(pick >> 1) % 5)
        .map(|c| c.to_string())
        .collect();
    let mut last = 0u64;
    let mut seen = 0u64;
    let read = rows::read(file, format, &columns, |batch| {
        for l in batch {
            let line = match l {
                Line::Row { line, .. } | Line::Bad { line, .. } => line,
            };
            assert!(line > last, "line {line} came after line {last}");
            last = line;
            seen += 1;
        }
        true
    });
    if let Ok(n) = read {
        assert!(n >= seen, "read {n} lines but handed on {seen}");
    }
}

/// Every write route of every surface with a body (native, Cloud API, the four vendors),
/// through an in-process gateway: the first byte picks the route, the rest is the body. A
/// client's input never makes a 500.
pub fn surfaces(data: &[u8]) {
    surfaces_on(harness::Harness::get(), data);
}

/// [`surfaces`] on a given gateway (the regression test's, on each backend).
pub fn surfaces_on(h: &harness::Harness, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    h.call(pick, body);
}
