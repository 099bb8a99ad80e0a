//! The Graph API client behind a trait, so tests can swap it.

use std::time::Duration;

use async_trait::async_trait;
use openbsp_store::Channel;
use openbsp_wire::MetaError;
use serde_json::Value;

/// What one send attempt came to.
#[derive(Debug, Clone)]
pub enum GraphOutcome {
    /// Meta answered 200.
    Accepted {
        /// Meta's id of the message.
        wamid: String,
        /// `messages[0].message_status` when Meta gave one (paced templates: `accepted` or
        /// `held_for_quality_assessment`, reference §2.4).
        message_status: Option<String>,
    },
    /// Meta answered with an error object.
    Refused(MetaError),
    /// No answer. `maybe_sent` is false only when the request certainly never left (the
    /// connection was refused); otherwise Meta may have it.
    Transport {
        /// Whether Meta may have received the request.
        maybe_sent: bool,
        /// What happened.
        error: String,
    },
}

/// A file to upload to a channel's number (`POST /{version}/{phone_number_id}/media`).
pub struct MediaUpload {
    /// Its MIME type (the form's `type`, and the file part's).
    pub mime_type: String,
    /// The file part's name.
    pub filename: String,
    /// Its length in bytes.
    pub size: u64,
    /// The bytes, streamed.
    pub body: reqwest::Body,
}

/// Sends one message to the Graph API.
#[async_trait]
pub trait GraphClient: Send + Sync + 'static {
    /// Posts `payload` to the channel's `/{version}/{phone_number_id}/messages`.
    async fn send(&self, channel: &Channel, access_token: &str, payload: &Value) -> GraphOutcome;

    /// Posts a mark-as-read (`{"status": "read", …}`) to the same endpoint; Meta answers
    /// `{"success": true}`.
    async fn mark_read(
        &self,
        channel: &Channel,
        access_token: &str,
        payload: &Value,
    ) -> Result<(), MetaError>;

    /// Any other Graph call of the channel's app (template management): `method` on
    /// `{base}/{version}/{path}` with `query` and an optional JSON body; Meta's answer, or its
    /// error.
    async fn call(
        &self,
        channel: &Channel,
        access_token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, MetaError>;

    /// Uploads a file to the channel's number, streamed: Meta's media id.
    async fn upload_media(
        &self,
        channel: &Channel,
        access_token: &str,
        upload: MediaUpload,
    ) -> Result<String, MetaError>;

    /// Uploads a template's header sample by Meta's resumable upload (`POST /{app_id}/uploads`
    /// then `POST /upload:<id>` with the bytes): Meta's handle (`h`) for
    /// `example.header_handle`.
    async fn upload_sample(
        &self,
        channel: &Channel,
        access_token: &str,
        meta_app_id: &str,
        upload: MediaUpload,
    ) -> Result<String, MetaError>;

    /// GETs an absolute URL of Meta's (a media's download URL) with the bearer token; the
    /// response, streamed, whatever its status.
    async fn download(&self, access_token: &str, url: &str) -> Result<reqwest::Response, String>;
}

/// How long an upload or a download of `size` bytes may take: the Graph timeout, plus a
/// second per MB (a 100 MB document at 1 MB/s).
pub fn transfer_timeout(base: Duration, size: u64) -> Duration {
    base + Duration::from_secs(size / 1_000_000)
}

/// The longest `message_status` kept from Meta's answer (its values are short words).
const MAX_MESSAGE_STATUS: usize = 64;

/// Connections to one Graph host kept open for reuse.
const IDLE_CONNECTIONS: usize = 4_096;

/// An error with its causes (reqwest's own text hides them: "error sending request for url").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The real client (reqwest, rustls).
pub struct HttpGraphClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl HttpGraphClient {
    /// A client whose every request times out after `timeout`.
    pub fn new(timeout: Duration) -> reqwest::Result<HttpGraphClient> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            // Every channel posts to the one Graph host, so the pool must keep as many
            // connections as all channels have in flight together: with 64 kept, 100 channels
            // at 80 msg/s opened a new connection for most sends, ran out of local ports
            // (TIME_WAIT) and failed thousands of sends with connect errors (bench `capacity`).
            .pool_max_idle_per_host(IDLE_CONNECTIONS)
            // A proxy from the environment (`HTTPS_PROXY`, …) is honoured, unlike the client
            // for tenants' addresses (`crate::outbound`): this one calls only Meta, or the Graph
            // base URL an operator gave a channel, never an address a tenant chose, and an
            // installation may need its proxy to reach Meta at all.
            .user_agent(concat!("openbsp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpGraphClient { http, timeout })
    }
}

fn messages_url(channel: &Channel) -> String {
    format!(
        "{}/{}/{}/messages",
        channel.graph_base_url, channel.graph_version, channel.phone_number_id
    )
}

/// Meta's error from an error answer, or a generic one when the body has none.
fn refusal(status: u16, body: &Value) -> MetaError {
    MetaError::from_graph_json(status, body).unwrap_or_else(|| {
        MetaError::new(
            if status >= 500 { 2 } else { 1 },
            Some(format!("HTTP {status} without a Graph error object")),
        )
    })
}

/// Meta's answer to a Graph call: its JSON body when it succeeded, else its error (no answer
/// at all: 131016).
async fn answer(resp: reqwest::Result<reqwest::Response>) -> Result<Value, MetaError> {
    let resp = resp.map_err(|e| unavailable(with_causes(&e)))?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| unavailable(with_causes(&e)))?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(refusal(status, &body))
    }
}

/// Meta did not answer: 503, a failure upstream that a client may retry, not the 500 of a
/// failure of the gateway's own (Meta answers its 131016 with 500; every surface answered
/// that until the `surfaces` fuzz target, with Meta a closed port, called it a server error).
fn unavailable(e: String) -> MetaError {
    let mut m = MetaError::new(
        openbsp_wire::error::codes::SERVICE_UNAVAILABLE,
        Some(format!("the Graph API did not answer: {e}")),
    );
    m.http_status = 503;
    m
}

#[async_trait]
impl GraphClient for HttpGraphClient {
    async fn call(
        &self,
        channel: &Channel,
        access_token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, MetaError> {
        let url = format!(
            "{}/{}/{}",
            channel.graph_base_url, channel.graph_version, path
        );
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(access_token)
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await).await
    }

    async fn upload_media(
        &self,
        channel: &Channel,
        access_token: &str,
        upload: MediaUpload,
    ) -> Result<String, MetaError> {
        let url = format!(
            "{}/{}/{}/media",
            channel.graph_base_url, channel.graph_version, channel.phone_number_id
        );
        let file = reqwest::multipart::Part::stream_with_length(upload.body, upload.size)
            .file_name(upload.filename)
            .mime_str(&upload.mime_type)
            .map_err(|e| MetaError::invalid_parameter(format!("type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", upload.mime_type)
            .part("file", file);
        let resp = self
            .http
            .post(url)
            .bearer_auth(access_token)
            .timeout(transfer_timeout(self.timeout, upload.size))
            .multipart(form)
            .send()
            .await;
        let body = answer(resp).await?;
        match body.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && id.len() <= 256 => Ok(id.to_string()),
            _ => Err(unavailable(format!("an answer without a media id: {body}"))),
        }
    }

    async fn upload_sample(
        &self,
        channel: &Channel,
        access_token: &str,
        meta_app_id: &str,
        upload: MediaUpload,
    ) -> Result<String, MetaError> {
        let session = self
            .call(
                channel,
                access_token,
                reqwest::Method::POST,
                &format!("{meta_app_id}/uploads"),
                &[
                    ("file_name".into(), upload.filename.clone()),
                    ("file_length".into(), upload.size.to_string()),
                    ("file_type".into(), upload.mime_type.clone()),
                ],
                None,
            )
            .await?;
        let id = session
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with("upload:") && !id.contains('/'))
            .ok_or_else(|| unavailable("the upload session has no id".into()))?;
        let resp = self
            .http
            .post(format!(
                "{}/{}/{id}",
                channel.graph_base_url, channel.graph_version
            ))
            .header("authorization", format!("OAuth {access_token}"))
            .header("file_offset", "0")
            .timeout(transfer_timeout(self.timeout, upload.size))
            .body(upload.body)
            .send()
            .await;
        let body = answer(resp).await?;
        body.get("h")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .ok_or_else(|| unavailable(format!("an answer without a handle: {body}")))
    }

    async fn download(&self, access_token: &str, url: &str) -> Result<reqwest::Response, String> {
        self.http
            .get(url)
            .bearer_auth(access_token)
            // The body is streamed: its own pace is the reader's to bound.
            .timeout(transfer_timeout(
                self.timeout,
                openbsp_wire::media::INBOUND_MAX_BYTES,
            ))
            .send()
            .await
            .map_err(|e| with_causes(&e))
    }

    async fn mark_read(
        &self,
        channel: &Channel,
        access_token: &str,
        payload: &Value,
    ) -> Result<(), MetaError> {
        let path = format!("{}/messages", channel.phone_number_id);
        let body = self
            .call(
                channel,
                access_token,
                reqwest::Method::POST,
                &path,
                &[],
                Some(payload),
            )
            .await?;
        if body.get("success") == Some(&Value::Bool(true)) {
            Ok(())
        } else {
            Err(refusal(200, &body))
        }
    }

    async fn send(&self, channel: &Channel, access_token: &str, payload: &Value) -> GraphOutcome {
        let resp = match self
            .http
            .post(messages_url(channel))
            .bearer_auth(access_token)
            .json(payload)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return GraphOutcome::Transport {
                    maybe_sent: !e.is_connect(),
                    error: with_causes(&e),
                };
            }
        };
        let status = resp.status().as_u16();
        let body: Value = match resp.json().await {
            Ok(b) => b,
            Err(e) => {
                return GraphOutcome::Transport {
                    maybe_sent: status < 300,
                    error: format!("HTTP {status} with an unreadable body: {e}"),
                };
            }
        };
        if (200..300).contains(&status) {
            return match body.pointer("/messages/0/id").and_then(Value::as_str) {
                Some(w) => GraphOutcome::Accepted {
                    wamid: w.to_string(),
                    message_status: body
                        .pointer("/messages/0/message_status")
                        .and_then(Value::as_str)
                        .filter(|s| s.len() <= MAX_MESSAGE_STATUS)
                        .map(str::to_string),
                },
                None => GraphOutcome::Transport {
                    maybe_sent: true,
                    error: format!("HTTP {status} without messages[0].id"),
                },
            };
        }
        GraphOutcome::Refused(refusal(status, &body))
    }
}
