//! The media fetcher (DESIGN §2.9): every inbound message with media gets a download job in
//! the transaction that stores it; this worker, on every replica, claims due jobs (a claim
//! lasts `media_fetch.lease`: a replica that dies mid-download leaves the job to the next
//! claim) and fetches each from Meta as Meta's media guide says — `GET /{media-id}` on the
//! channel's Graph URL for a URL that lasts 5 minutes, then the URL with the bearer token (a
//! 404 there means: ask for a fresh URL) — streamed into the object store, checked against
//! the webhook's `sha256`, and stored under the gateway id the message already names
//! (`media.stored`). A media over WhatsApp's inbound limit (100 MB), or one Meta no longer
//! has (it keeps them 7 days), fails the job with Meta's 131052, recorded on the message
//! (`media.failed`); anything else is tried again with backoff, up to `max_attempts`.

use std::sync::Arc;

use base64::Engine;
use futures::TryStreamExt;
use openbsp_domain::backoff::retry_delay_ms;
use openbsp_store::{Download, Media, media_origin};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::media::INBOUND_MAX_BYTES;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::core::Core;
use crate::objects::ObjectError;

/// Fresh URLs asked for in one attempt when Meta's download URL answers 404.
const URL_TRIES: u32 = 3;

/// Runs the fetcher until `shutdown` turns true.
pub async fn run(state: Core, mut shutdown: watch::Receiver<bool>) {
    let cfg = state.config.media_fetch.clone();
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = slots.available_permits();
        let mut claimed = 0;
        if free > 0 {
            match state
                .store
                .claim_downloads(state.now(), cfg.lease.as_millis() as i64, free as u32)
                .await
            {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        let state = state.clone();
                        tokio::spawn(async move {
                            settle(&state, &job, fetch(&state, &job).await).await;
                            drop(permit);
                            state.media_wake.notify_one();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the media fetcher could not claim downloads"),
            }
        }
        if claimed > 0 && claimed == free {
            // Perhaps more are due: look again once a slot frees.
            tokio::select! {
                _ = state.media_wake.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        tokio::select! {
            _ = state.media_wake.notified() => {}
            _ = tokio::time::sleep(cfg.poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Downloads under way finish (or their claims lapse if the process ends first).
    let _ = slots.acquire_many(cfg.concurrency.max(1) as u32).await;
}

/// Why a download did not come to a stored media.
#[derive(Debug)]
enum Missed {
    /// It never will: Meta's 131052 (too large, or gone from Meta).
    Never(MetaError),
    /// Not now: try again later.
    Again(String),
}

/// Records what became of a job.
async fn settle(state: &Core, job: &Download, outcome: Result<Media, Missed>) {
    let cfg = &state.config.media_fetch;
    let now = state.now();
    let result = match outcome {
        Ok(media) => {
            let done = state
                .store
                .finish_download(&job.message_id, &media, now)
                .await;
            if matches!(done, Ok(true)) {
                metrics::counter!("openbsp_media_downloads_total", "result" => "stored")
                    .increment(1);
                tracing::info!(message.id = %job.message_id, media.id = %media.id, bytes = media.file_size, "inbound media stored");
            }
            done.map(|_| ())
        }
        Err(Missed::Never(error)) => {
            metrics::counter!("openbsp_media_downloads_total", "result" => "failed").increment(1);
            tracing::info!(message.id = %job.message_id, code = error.code, details = ?error.details, "inbound media cannot be downloaded");
            fail(state, job, &error, now).await
        }
        Err(Missed::Again(reason)) if job.attempts >= cfg.max_attempts => {
            metrics::counter!("openbsp_media_downloads_total", "result" => "failed").increment(1);
            tracing::warn!(message.id = %job.message_id, attempts = job.attempts, %reason, "inbound media download given up");
            let error = MetaError::new(
                codes::MEDIA_DOWNLOAD,
                Some(format!(
                    "the media could not be downloaded from Meta after {} attempts: {reason}",
                    job.attempts
                )),
            );
            fail(state, job, &error, now).await
        }
        Err(Missed::Again(reason)) => {
            metrics::counter!("openbsp_media_downloads_total", "result" => "retry").increment(1);
            tracing::info!(message.id = %job.message_id, attempt = job.attempts, %reason, "inbound media download will be tried again");
            let delay = retry_delay_ms(
                job.attempts,
                cfg.retry_base.as_millis() as u64,
                cfg.retry_max.as_millis() as u64,
                rand::random::<f64>(),
            ) as i64;
            state
                .store
                .retry_download(
                    &job.message_id,
                    now + delay,
                    &json!({ "reason": reason }),
                    now,
                )
                .await
        }
    };
    if let Err(e) = result {
        // The claim lapses and the job is taken again.
        tracing::warn!(message.id = %job.message_id, error = %e, "could not record the media download's outcome");
    }
}

async fn fail(
    state: &Core,
    job: &Download,
    error: &MetaError,
    now: i64,
) -> Result<(), openbsp_store::StoreError> {
    let json = serde_json::to_value(error).unwrap_or_default();
    state
        .store
        .fail_download(&job.message_id, &json, now)
        .await
        .map(|_| ())
}

/// Meta's 131052 with `details`.
fn never(details: String) -> Missed {
    Missed::Never(MetaError::new(codes::MEDIA_DOWNLOAD, Some(details)))
}

/// What `GET /{media-id}` says of a media.
struct MediaInfo {
    url: String,
    mime_type: Option<String>,
    sha256: Option<String>,
    file_size: Option<u64>,
}

/// Fetches a job's media into the object store: the media to store.
async fn fetch(state: &Core, job: &Download) -> Result<Media, Missed> {
    let channel = match state.store.get_channel(&job.channel_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(never("the channel no longer exists".into())),
        Err(e) => return Err(Missed::Again(e.to_string())),
    };
    let token = state
        .config
        .master_key
        .decrypt(&channel.access_token_enc)
        .map_err(|e| Missed::Again(format!("the channel's access token: {e}")))?;
    for _ in 0..URL_TRIES {
        let info = info(state, &channel, &token, &job.meta_media_id).await?;
        if let Some(size) = info.file_size
            && size > INBOUND_MAX_BYTES
        {
            return Err(too_large(size));
        }
        let resp = state
            .graph
            .download(&token, &info.url)
            .await
            .map_err(Missed::Again)?;
        match resp.status().as_u16() {
            200..=299 => {}
            // The URL lapsed (they last 5 minutes): a fresh one.
            404 => continue,
            s => return Err(Missed::Again(format!("the download URL answered HTTP {s}"))),
        }
        if let Some(len) = resp.content_length()
            && len > INBOUND_MAX_BYTES
        {
            return Err(too_large(len));
        }
        let body = resp.bytes_stream().map_err(std::io::Error::other);
        let stored = match state
            .objects
            .put(&job.tenant_id, body, INBOUND_MAX_BYTES)
            .await
        {
            Ok(s) => s,
            Err(ObjectError::TooLarge(_)) => {
                return Err(never(format!(
                    "the media is over WhatsApp's inbound limit of {INBOUND_MAX_BYTES} bytes"
                )));
            }
            Err(e) => return Err(Missed::Again(e.to_string())),
        };
        let expected = job.sha256.as_deref().or(info.sha256.as_deref());
        if let Some(expected) = expected
            && !same_digest(expected, &stored.sha256)
        {
            // Not this media's bytes: dropped unless another media of the tenant has them.
            if !state
                .store
                .media_object_used(&job.tenant_id, &stored.sha256)
                .await
                .unwrap_or(true)
            {
                let _ = state.objects.delete(&job.tenant_id, &stored.sha256).await;
            }
            return Err(Missed::Again(format!(
                "the bytes' sha256 {} is not Meta's {expected}",
                stored.sha256
            )));
        }
        let now = state.now();
        let mime_type = Some(job.mime_type.clone())
            .filter(|m| !m.is_empty())
            .or(info.mime_type)
            .unwrap_or_else(|| "application/octet-stream".into());
        return Ok(Media {
            id: job.media_id.clone(),
            tenant_id: job.tenant_id.clone(),
            sha256: stored.sha256,
            mime_type,
            file_size: stored.size,
            filename: job.filename.clone(),
            origin: media_origin::INBOUND.to_string(),
            created_at: now,
            last_used_at: now,
        });
    }
    Err(Missed::Again(format!(
        "the download URL answered 404 {URL_TRIES} times"
    )))
}

fn too_large(size: u64) -> Missed {
    never(format!(
        "the media is {size} bytes, over WhatsApp's inbound limit of {INBOUND_MAX_BYTES}"
    ))
}

/// `GET /{media-id}?phone_number_id=` on the channel's Graph URL.
async fn info(
    state: &Core,
    channel: &openbsp_store::Channel,
    token: &str,
    meta_media_id: &str,
) -> Result<MediaInfo, Missed> {
    if meta_media_id.is_empty()
        || !meta_media_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(never(format!("{meta_media_id:?} is not a media id")));
    }
    let body = state
        .graph
        .call(
            channel,
            token,
            reqwest::Method::GET,
            meta_media_id,
            &[("phone_number_id".into(), channel.phone_number_id.clone())],
            None,
        )
        .await
        .map_err(|e| {
            if e.code == codes::INVALID_PARAMETER && e.subcode == Some(33) || e.http_status == 404 {
                never(format!(
                    "Meta no longer has media {meta_media_id} (it keeps a user's media 7 days): {}",
                    e.message
                ))
            } else {
                Missed::Again(format!("GET /{meta_media_id}: {}", e.message))
            }
        })?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let url = text("url")
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or_else(|| Missed::Again(format!("GET /{meta_media_id} gave no url")))?;
    let file_size = match body.get("file_size") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(MediaInfo {
        url,
        mime_type: text("mime_type"),
        sha256: text("sha256"),
        file_size,
    })
}

/// Whether Meta's digest (base64 in webhooks, hex elsewhere) is the bytes' (hex).
fn same_digest(meta: &str, hex_digest: &str) -> bool {
    let meta = meta.trim();
    if meta.eq_ignore_ascii_case(hex_digest) {
        return true;
    }
    let Ok(ours) = hex::decode(hex_digest) else {
        return false;
    };
    [
        base64::engine::general_purpose::STANDARD.decode(meta),
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(meta),
        base64::engine::general_purpose::URL_SAFE.decode(meta),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(meta),
    ]
    .into_iter()
    .any(|d| d.is_ok_and(|d| d == ours))
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_in_hex_or_base64() {
        let hex = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            hex::decode(hex).unwrap(),
        );
        assert!(super::same_digest(hex, hex));
        assert!(super::same_digest(&hex.to_uppercase(), hex));
        assert!(super::same_digest(&b64, hex));
        assert!(!super::same_digest("AAAA", hex));
        assert!(!super::same_digest(&b64[1..], hex));
    }
}
