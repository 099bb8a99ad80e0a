//! Conformance: every request example of Meta's `sendMessage` operation (extracted from Meta's
//! OpenAPI description by `scripts/extract-meta-examples.py`) goes through the parser of the
//! send route. Each is accepted once its recipient placeholder is filled in, except the few
//! listed below, which are refused with the code Meta gives for what they contain.

use openbsp_wire::send::{
    Outgoing, ParseContext, ReadReceipt, SendRequest, Surface, parse_outgoing_in,
};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/meta_send_examples.json");

fn examples() -> Vec<(String, Value)> {
    let v: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    v["examples"]
        .as_object()
        .expect("examples")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Examples that stay refused, with the code and why.
fn refused(name: &str) -> Option<(i64, &'static str)> {
    match name {
        n if n.ends_with("by URL") => Some((
            100,
            "its link is a placeholder, `<http(s)://…-url>`, not a URL",
        )),
        "Send Multi-Product Message" => {
            Some((100, "its header type is a placeholder, `<HEADER_TYPE>`"))
        }
        "Send Reply to List Message" => Some((
            131008,
            "it omits `type: interactive`, so it is read as a text, which it lacks",
        )),
        _ => None,
    }
}

#[test]
fn every_send_example_of_metas_openapi_is_handled() {
    let all = examples();
    assert_eq!(all.len(), 50, "the fixture holds Meta's 50 send examples");
    let mut report = Vec::new();
    let mut reads = Vec::new();
    for (name, mut body) in all {
        // As published, `to` is a Postman variable: a phone number with braces in it.
        if let Some(to) = body.get("to").and_then(Value::as_str)
            && to.starts_with("{{")
        {
            let e = SendRequest::parse(&body, Surface::Graph).expect_err(&name);
            assert_eq!(
                e.code, 131009,
                "{name}: a placeholder recipient is not a phone number"
            );
            body["to"] = json!("+1 650 555 1234");
        }
        let ctx = ParseContext::for_business("15550783881");
        let got = parse_outgoing_in(&body, Surface::Graph, &ctx);
        match (refused(&name), got) {
            (None, Ok(Outgoing::Message(req))) => {
                // What the gateway would send to Meta parses back to the same message.
                let again =
                    SendRequest::parse(&req.to_graph_body(None, Some("msg_1")), Surface::Graph)
                        .unwrap();
                assert_eq!(again.body, req.body, "{name}");
                assert_eq!(again.recipient, req.recipient, "{name}");
            }
            (None, Ok(Outgoing::Read(read))) => {
                reads.push(name.clone());
                let again =
                    ReadReceipt::parse(&read.to_graph_body(&read.message_id), Surface::Graph)
                        .unwrap();
                assert_eq!(again, read, "{name}");
            }
            (Some((code, why)), Err(e)) => assert_eq!(e.code, code, "{name} ({why}): {e}"),
            (None, Err(e)) => report.push(format!("{name}: refused with {e}")),
            (Some((_, why)), Ok(_)) => {
                report.push(format!("{name}: accepted, but expected a refusal ({why})"))
            }
        }
    }
    assert_eq!(
        reads,
        ["Send typing indicator and read receipt"],
        "the one mark-as-read example is read as one"
    );
    assert!(report.is_empty(), "\n{}", report.join("\n"));
}
