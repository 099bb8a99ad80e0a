//! Test helpers: a webhook receiver that checks `X-Hub-Signature-256` on its own (HMAC
//! computed here, not with the wire crate), and a simulator with one phone number.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::Value;
use sha2::Sha256;

use openbsp_simulator::{
    PhoneNumberConfig, Simulator, SimulatorConfig, SimulatorHandle, StatusDelays,
};

pub const PNID: &str = "106540352242922";
pub const DISPLAY: &str = "15550783881";
pub const WABA: &str = "102290129340398";
pub const TOKEN: &str = "EAAG-test-token";
pub const SECRET: &str = "app-secret-123";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub raw: Vec<u8>,
    pub json: Value,
    pub signature_ok: bool,
    pub content_type: Option<String>,
    pub answered: u16,
}

pub struct RecvState {
    secret: String,
    fail_remaining: AtomicUsize,
    hits: Mutex<Vec<Hit>>,
}

/// A webhook receiver on 127.0.0.1:0.
pub struct Receiver {
    pub url: String,
    pub state: Arc<RecvState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn receive(State(st): State<Arc<RecvState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let signature_ok = sig.as_deref() == Some(expected_signature(&st.secret, &body).as_str());
    let fail = st
        .fail_remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let answered = if fail { 500 } else { 200 };
    st.hits.lock().push(Hit {
        raw: body.to_vec(),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signature_ok,
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

impl Receiver {
    /// A receiver that answers 500 to its first `fail_first` requests, then 200.
    pub async fn start(secret: &str, fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve(listener, secret, fail_first)
    }

    pub fn serve(listener: tokio::net::TcpListener, secret: &str, fail_first: usize) -> Receiver {
        let url = format!(
            "http://{}/webhooks/whatsapp",
            listener.local_addr().unwrap()
        );
        let state = Arc::new(RecvState {
            secret: secret.to_string(),
            fail_remaining: AtomicUsize::new(fail_first),
            hits: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/webhooks/whatsapp", post(receive))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            url,
            state,
            _stop: tx,
        }
    }

    /// Every request received, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().clone()
    }

    /// Requests answered 200, in arrival order.
    pub fn accepted(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.answered == 200)
            .collect()
    }

    /// Statuses of accepted requests, in arrival order, as `(wamid, status, whole status)`.
    pub fn statuses(&self) -> Vec<Value> {
        self.accepted()
            .iter()
            .flat_map(|h| {
                h.json["entry"][0]["changes"][0]["value"]["statuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `secs` seconds.
pub async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn fast_config() -> SimulatorConfig {
    SimulatorConfig {
        status_delays: StatusDelays {
            sent_ms: 10,
            delivered_ms: 40,
            read_ms: Some(80),
        },
        webhook_retry_base_ms: 20,
        webhook_retry_max_ms: 100,
        webhook_retry_for_ms: 60_000,
        ..SimulatorConfig::default()
    }
}

pub fn phone(webhook_url: Option<String>) -> PhoneNumberConfig {
    PhoneNumberConfig {
        phone_number_id: PNID.into(),
        display_phone_number: DISPLAY.into(),
        waba_id: WABA.into(),
        access_token: TOKEN.into(),
        app_secret: SECRET.into(),
        webhook_url,
        throughput_mps: None,
    }
}

/// A simulator with one phone number whose webhooks go to a fresh receiver.
pub async fn setup(config: SimulatorConfig, fail_first: usize) -> (SimulatorHandle, Receiver) {
    let rx = Receiver::start(SECRET, fail_first).await;
    let sim = Simulator::start(config).await.unwrap();
    sim.add_phone_number(phone(Some(rx.url.clone())));
    (sim, rx)
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub fn messages_url(sim: &SimulatorHandle) -> String {
    format!("{}/v25.0/{PNID}/messages", sim.url())
}

/// Posts `body` to the send route with `token`; returns status and JSON.
pub async fn send(sim: &SimulatorHandle, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = client().post(messages_url(sim)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

pub fn text_to(to: &str, body: &str) -> Value {
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    })
}
