//! One request id per request: the `x-request-id` header, the native envelope's `request_id`
//! and the Cloud API surface's `fbtrace_id` are the same id, every log line of the request
//! carries it, and a 5xx is logged once, with its cause chain, under it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    a_failure_is_logged_once_under_the_id_the_client_sees => crate::a_failure_is_logged_once_under_the_id_the_client_sees,
}

/// Everything the gateway logs in this test process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let c = Captured::default();
        let writer = c.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .init();
        c
    })
}

/// The lines logged so far that mention `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    let bytes = logs().0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

async fn a_failure_is_logged_once_under_the_id_the_client_sees(b: Backend) {
    logs();
    let app = spawn_app(b).await;
    // A channel whose access token no longer decrypts: marking a message read fails inside
    // the gateway (500), before Meta is called.
    let mut broken = app.channel.clone();
    broken.access_token_enc = "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    app.store.update_channel(&broken).await.unwrap();
    app.gateway.state().invalidate();
    let receipt = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.HBgLMTU1NTEyMzAwMDEVAgASGBQzQUI="});

    // Native: the header and the envelope carry the same id; the log has it once, with the cause.
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.api_key)
        .json(&{
            let mut b = receipt.clone();
            b["channel"] = json!(PNID);
            b
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let header = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], json!(header), "{body}");
    assert_eq!(body["error"]["code"], "internal_error");
    assert!(
        !body.to_string().contains("decrypt"),
        "the cause is never shown: {body}"
    );
    let failed: Vec<String> = lines_with(&header)
        .into_iter()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(failed.len(), 1, "logged once: {failed:#?}");
    assert!(
        failed[0].contains("ERROR") && failed[0].contains("does not decrypt"),
        "with its cause: {}",
        failed[0]
    );
    // Every line logged while handling the request carries the id (here the store's and the
    // core's own lines inside the request's span).
    let inside = lines_with(&header);
    assert!(
        inside.iter().any(|l| l.contains("cannot decrypt")),
        "the core's line is in the request's span: {inside:#?}"
    );

    // Cloud API surface: Meta's fbtrace_id is the request id.
    let r = app
        .http
        .post(app.url(&format!("/v23.0/{PNID}/messages")))
        .bearer_auth(&app.api_key)
        .json(&receipt)
        .send()
        .await
        .unwrap();
    let header = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["fbtrace_id"], json!(header), "{body}");
    let failed: Vec<String> = lines_with(&header)
        .into_iter()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(failed.len(), 1, "logged once: {failed:#?}");
    assert!(failed[0].contains("does not decrypt"), "{}", failed[0]);

    // A success carries an id too, and different requests have different ids.
    let a = app.http.get(app.url("/healthz")).send().await.unwrap();
    let b2 = app.http.get(app.url("/healthz")).send().await.unwrap();
    let (ia, ib) = (&a.headers()["x-request-id"], &b2.headers()["x-request-id"]);
    assert!(ia.to_str().unwrap().starts_with("req_"));
    assert_ne!(ia, ib);
}
