//! Gateway media in sends: a send's body names media by the gateway's ids (`med_…`); Meta
//! knows them only by ids of its own, per number, which it forgets. Just before a send is
//! posted, each gateway id is replaced by Meta's id of the channel's copy, uploaded first when
//! the channel has none or its copy is older than Meta keeps one (reference §5.6: trust a
//! Meta media id 7 days at most). When Meta answers that it does not know a copy it was given,
//! the copy is forgotten and the send tried again, so the next attempt uploads a new one.
//!
//! The body stored with the send keeps the gateway ids: every attempt resolves them anew.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use openbsp_store::{Channel, Media, MetaCopy, OutboxItem};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use serde_json::Value;

use crate::core::Core;
use crate::core::media::is_gateway_id;
use crate::meta::graph::{GraphClient, MediaUpload};

/// How long a copy uploaded to Meta is used (Meta's page says 30 days, a vendor reports
/// a week since 2025; a day's margin under the week, so a send queued near the end still goes
/// out with a live one).
pub const META_COPY_LIFETIME_MS: i64 = 6 * 24 * 3_600_000;
/// A send marks its media used at most this often (retention counts in days).
const TOUCH_EVERY_MS: i64 = 3_600_000;

/// Uploads under way on this replica, by channel and media: sends of one media on one channel
/// (a campaign's header image) wait for a single upload rather than each making its own.
#[derive(Clone, Default)]
pub(crate) struct Uploads(Arc<parking_lot::Mutex<HashMap<UploadKey, Arc<tokio::sync::Mutex<()>>>>>);

/// A channel id and a media id.
type UploadKey = (String, String);

impl Uploads {
    async fn lock(&self, key: &UploadKey) -> UploadTurn {
        let m = self.0.lock().entry(key.clone()).or_default().clone();
        let guard = m.clone().lock_owned().await;
        UploadTurn {
            uploads: self.clone(),
            key: key.clone(),
            mutex: m,
            guard: Some(guard),
        }
    }
}

/// One upload's turn; the entry goes when nobody else waits for it.
struct UploadTurn {
    uploads: Uploads,
    key: UploadKey,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for UploadTurn {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.uploads.0.lock();
        // The map's reference and this turn's: nobody else waits.
        if Arc::strong_count(&self.mutex) == 2 {
            map.remove(&self.key);
        }
    }
}

/// A send's body as Meta is to get it.
pub(super) struct ForMeta {
    /// The body, Meta's media ids in place of the gateway's.
    pub body: Value,
    /// Media whose Meta copy was reused (not uploaded for this attempt): forgotten if Meta
    /// says it does not know them.
    pub reused: Vec<String>,
}

/// Why a send's media could not be made Meta's.
pub(super) enum NotReady {
    /// Meta (or the gateway) refused: an upload's error, or a media deleted since the send
    /// was accepted (131053).
    Refused(MetaError),
    /// The bytes could not be read, or Meta did not answer the upload: try again later.
    Transient(String),
}

/// The body of `item` as Meta is to get it: each gateway media id replaced by the channel's
/// live Meta copy, uploaded now if needed.
pub(super) async fn for_meta(
    state: &Core,
    client: &dyn GraphClient,
    uploads: &Uploads,
    channel: &Channel,
    token: &str,
    item: &OutboxItem,
) -> Result<ForMeta, NotReady> {
    let refs: Vec<_> = openbsp_wire::media::media_refs(&item.payload)
        .into_iter()
        .filter(|r| is_gateway_id(&r.id))
        .collect();
    let mut out = ForMeta {
        body: Value::Null,
        reused: Vec::new(),
    };
    if refs.is_empty() {
        out.body = item.payload.clone();
        return Ok(out);
    }
    let mut body = item.payload.clone();
    for r in refs {
        let media = match state.store.get_media(&item.tenant_id, &r.id).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(NotReady::Refused(MetaError::new(
                    codes::MEDIA_UPLOAD,
                    Some(format!(
                        "media {} was deleted before the send went out",
                        r.id
                    )),
                )));
            }
            Err(e) => return Err(NotReady::Transient(e.to_string())),
        };
        let (meta_id, reused) = copy_for(state, client, uploads, channel, token, &media).await?;
        if reused && !out.reused.contains(&media.id) {
            out.reused.push(media.id.clone());
        }
        if let Some(slot) = body.pointer_mut(&r.pointer) {
            *slot = Value::String(meta_id);
        }
        let now = state.now();
        if now - media.last_used_at >= TOUCH_EVERY_MS
            && let Err(e) = state
                .store
                .touch_media(&media.tenant_id, &media.id, now)
                .await
        {
            tracing::warn!(media.id = %media.id, error = %e, "could not mark the media used");
        }
    }
    out.body = body;
    Ok(out)
}

/// The channel's live Meta copy of `media` (and whether it was reused), uploaded now when
/// there is none.
async fn copy_for(
    state: &Core,
    client: &dyn GraphClient,
    uploads: &Uploads,
    channel: &Channel,
    token: &str,
    media: &Media,
) -> Result<(String, bool), NotReady> {
    let live = |c: &Option<MetaCopy>| {
        c.as_ref()
            .filter(|c| state.now() - c.uploaded_at < META_COPY_LIFETIME_MS)
            .map(|c| c.meta_media_id.clone())
    };
    let stored = || async {
        state
            .store
            .meta_copy(&media.id, &channel.id)
            .await
            .map_err(|e| NotReady::Transient(e.to_string()))
    };
    if let Some(id) = live(&stored().await?) {
        return Ok((id, true));
    }
    let _turn = uploads.lock(&(channel.id.clone(), media.id.clone())).await;
    // Another send may have uploaded it while this one waited.
    if let Some(id) = live(&stored().await?) {
        return Ok((id, false));
    }
    let bytes = state
        .objects
        .get(&media.tenant_id, &media.sha256, None)
        .await
        .map_err(|e| NotReady::Transient(format!("media {}: {e}", media.id)))?;
    let stream = bytes.into_stream().map_err(std::io::Error::other);
    let upload = MediaUpload {
        mime_type: media.mime_type.clone(),
        filename: media
            .filename
            .clone()
            .unwrap_or_else(|| format!("{}.{}", media.id, extension(&media.mime_type))),
        size: media.file_size,
        body: reqwest::Body::wrap_stream(stream),
    };
    let started = std::time::Instant::now();
    let meta_id = client
        .upload_media(channel, token, upload)
        .await
        .map_err(|e| {
            if e.retry_class().retryable() {
                NotReady::Transient(format!(
                    "uploading media {} to Meta: {}",
                    media.id, e.message
                ))
            } else {
                NotReady::Refused(e)
            }
        })?;
    metrics::counter!("openbsp_media_uploads_to_meta_total").increment(1);
    tracing::info!(channel.id = %channel.id, media.id = %media.id, bytes = media.file_size, ms = started.elapsed().as_millis() as u64, "media uploaded to Meta");
    let copy = MetaCopy {
        meta_media_id: meta_id.clone(),
        uploaded_at: state.now(),
    };
    if let Err(e) = state
        .store
        .set_meta_copy(&media.id, &channel.id, &copy)
        .await
    {
        // The send goes on with it; the next one uploads again.
        tracing::warn!(media.id = %media.id, error = %e, "could not record Meta's copy of the media");
    }
    Ok((meta_id, false))
}

/// Whether Meta's refusal of a send says it does not know (or no longer has) a media id it
/// was given: 131053, or 100 naming a media id.
pub(super) fn unknown_media(e: &MetaError) -> bool {
    let text = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("media") && (s.contains("id") || s.contains("attachment"))
    };
    e.code == codes::MEDIA_UPLOAD
        || (e.code == codes::INVALID_PARAMETER
            && (text(&e.message) || e.details.as_deref().is_some_and(text)))
}

/// Forgets the channel's copies of `media` (Meta said it does not know one of them).
pub(super) async fn forget(state: &Core, channel: &Channel, media: &[String]) {
    for id in media {
        if let Err(e) = state.store.forget_meta_copy(id, &channel.id).await {
            tracing::warn!(media.id = %id, error = %e, "could not forget Meta's copy of the media");
        }
    }
}

/// A file name's extension for a type (Meta shows documents' names).
fn extension(mime: &str) -> &'static str {
    match openbsp_wire::media::essence(mime).as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        "audio/ogg" => "ogg",
        "text/plain" => "txt",
        "application/pdf" => "pdf",
        "application/msword" => "doc",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.ms-powerpoint" => "ppt",
        m if m.ends_with("wordprocessingml.document") => "docx",
        m if m.ends_with("spreadsheetml.sheet") => "xlsx",
        m if m.ends_with("presentationml.presentation") => "pptx",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use openbsp_wire::MetaError;

    #[test]
    fn meta_saying_it_does_not_know_a_media() {
        assert!(super::unknown_media(&MetaError::new(131053, None)));
        assert!(super::unknown_media(&MetaError::invalid_parameter(
            "Param image['id'] is not a valid whatsapp business account media attachment ID"
        )));
        assert!(!super::unknown_media(&MetaError::invalid_parameter(
            "Param to is invalid"
        )));
        assert!(!super::unknown_media(&MetaError::new(131047, None)));
    }

    #[test]
    fn extensions() {
        assert_eq!(super::extension("image/jpeg"), "jpg");
        assert_eq!(
            super::extension(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            ),
            "docx"
        );
    }
}
