//! A business's webhook endpoint for the tests: records every request (headers, body, arrival
//! time) and answers as the test says (success, a failure with `Retry-After`, or never).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request the endpoint got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// Arrival, Unix ms.
    pub at: i64,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    /// The line an independent consumer (`tests/fixtures/*_consumer.py`) reads of this hit:
    /// which `check` to make, under `secret`.
    pub fn for_consumer(&self, check: &str, secret: &str) -> Value {
        use base64::Engine;
        serde_json::json!({
            "check": check,
            "secret": secret,
            "headers": self.headers,
            "body_b64": base64::engine::general_purpose::STANDARD.encode(&self.body),
        })
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

/// How the endpoint answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 `ok`.
    Ok,
    /// This status, with this `Retry-After` if any.
    Fail(u16, Option<String>),
    /// Never answers.
    Hang,
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    /// Answers for the next requests, in order; then `Ok`.
    script: Vec<Answer>,
    /// The answer once the script is used up.
    otherwise: Option<Answer>,
}

/// A running endpoint.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = inner.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(state, headers, body).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, inner }
    }

    /// The next requests get these answers, in order.
    pub fn script(&self, answers: Vec<Answer>) {
        self.inner.lock().unwrap().script = answers;
    }

    /// Every request after the script gets this.
    pub fn always(&self, answer: Answer) {
        self.inner.lock().unwrap().otherwise = Some(answer);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().unwrap().hits.clone()
    }

    /// Waits until `f` holds for the hits (10 s at most, else panics with `what`).
    pub async fn wait_for(&self, what: &str, f: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let start = std::time::Instant::now();
        loop {
            let hits = self.hits();
            if f(&hits) {
                return hits;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "timed out waiting for {what}; got {} requests: {:#?}",
                    hits.len(),
                    hits.iter().map(|h| h.json()).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(state: Arc<Mutex<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = {
        let mut s = state.lock().unwrap();
        s.hits.push(Hit {
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body,
            at: chrono::Utc::now().timestamp_millis(),
        });
        if s.script.is_empty() {
            s.otherwise.clone().unwrap_or(Answer::Ok)
        } else {
            s.script.remove(0)
        }
    };
    match answer {
        Answer::Ok => (StatusCode::OK, "ok").into_response(),
        Answer::Fail(code, retry_after) => {
            let status = StatusCode::from_u16(code).unwrap();
            match retry_after {
                Some(ra) => (status, [("retry-after", ra)], "busy").into_response(),
                None => (status, "busy").into_response(),
            }
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}
