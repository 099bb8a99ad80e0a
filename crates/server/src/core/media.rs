//! Media (DESIGN §2.9): a tenant's files, streamed into the object store, checked as Meta
//! checks them (a type WhatsApp takes, within its size, the bytes of the declared type), kept
//! once per tenant by content, read back by range, deleted.

use std::ops::Range;

use bytes::Bytes;
use futures::Stream;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{Media, media_origin};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::media::{MediaKind, SAMPLE_TYPES, TYPES, essence, matches_content, sample_types};
use sha2::{Digest, Sha256};

use super::{Core, CoreError, CoreResult};
use crate::objects::ObjectError;

/// A media read marks it used at most this often.
const TOUCH_EVERY_MS: i64 = 3_600_000;
/// The longest file name kept.
const MAX_FILENAME: usize = 240;

/// Stores a tenant's upload of `mime_type` from `body` (streamed): refused when WhatsApp does
/// not take the type, past the type's largest size, or when the bytes are not of that type;
/// nothing is kept of a refused upload.
pub async fn upload(
    core: &Core,
    tenant_id: &str,
    mime_type: &str,
    filename: Option<String>,
    body: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
) -> CoreResult<Media> {
    let mime = essence(mime_type);
    let kind = MediaKind::of_type(&mime).ok_or_else(|| {
        CoreError::invalid_field(
            "type",
            format!(
                "{} is not a type WhatsApp takes: {}",
                if mime.is_empty() { "(none)" } else { &mime },
                TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let filename = filename
        .map(|f| f.trim().chars().take(MAX_FILENAME).collect::<String>())
        .filter(|f| !f.is_empty());
    let stored = match core.objects.put(tenant_id, body, kind.max_bytes()).await {
        Ok(s) => s,
        Err(ObjectError::TooLarge(max)) => {
            return Err(CoreError::invalid_field(
                "file",
                format!("{} media is at most {max} bytes", kind.name()),
            ));
        }
        Err(ObjectError::Body(e)) => return Err(CoreError::invalid_field("file", e)),
        Err(e) => return Err(CoreError::internal(e)),
    };
    let refused = if stored.size == 0 {
        Err("the file is empty".to_string())
    } else {
        matches_content(&mime, &stored.head)
    };
    if let Err(what) = refused {
        // Kept only if another media of the tenant has these bytes.
        if !core
            .store
            .media_object_used(tenant_id, &stored.sha256)
            .await?
        {
            core.objects
                .delete(tenant_id, &stored.sha256)
                .await
                .map_err(CoreError::internal)?;
        }
        return Err(CoreError::invalid_field("file", what));
    }
    let now = core.now();
    let media = Media {
        id: new_id_at(prefix::MEDIA, now),
        tenant_id: tenant_id.to_string(),
        sha256: stored.sha256,
        mime_type: mime,
        file_size: stored.size,
        filename,
        origin: media_origin::UPLOAD.to_string(),
        created_at: now,
        last_used_at: now,
    };
    core.store.insert_media(&media).await?;
    Ok(media)
}

/// A tenant's media (another tenant's id: not found). An inbound message's media still being
/// fetched from Meta is a conflict (`media_pending`): its `media.stored` event says when it
/// is there.
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Media> {
    if let Some(m) = core.store.get_media(tenant_id, id).await? {
        return Ok(m);
    }
    match core.store.get_download(tenant_id, id).await? {
        Some(d) if d.state == openbsp_store::download_state::PENDING => Err(CoreError::Conflict {
            code: "media_pending",
            message: format!(
                "media {id} is being downloaded from Meta (attempt {}); the media.stored event says when it is stored",
                d.attempts.max(1)
            ),
        }),
        _ => Err(CoreError::not_found("media", id)),
    }
}

/// A media's bytes (the `range` of them), streamed; the read counts as a use.
pub async fn content(
    core: &Core,
    media: &Media,
    range: Option<Range<u64>>,
) -> CoreResult<object_store::GetResult> {
    let bytes = match core
        .objects
        .get(&media.tenant_id, &media.sha256, range)
        .await
    {
        Ok(b) => b,
        Err(ObjectError::NotFound) => {
            return Err(CoreError::internal(format!(
                "the bytes of media {} are missing from the object store",
                media.id
            )));
        }
        Err(e) => return Err(CoreError::internal(e)),
    };
    // Retention counts in days: a read marks the media used at most once an hour (a write
    // for every read would cost every download a commit).
    let now = core.now();
    if now - media.last_used_at >= TOUCH_EVERY_MS {
        core.store
            .touch_media(&media.tenant_id, &media.id, now)
            .await?;
    }
    Ok(bytes)
}

/// Whether a media id is the gateway's (`med_…`) rather than Meta's.
pub fn is_gateway_id(id: &str) -> bool {
    id.starts_with(prefix::MEDIA) && id[prefix::MEDIA.len()..].starts_with('_')
}

/// A tenant's media as the sends that name it see it: cached briefly (a campaign names one
/// media in every recipient's send).
async fn cached(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Option<Media>> {
    let key = (tenant_id.to_string(), id.to_string());
    if let Some(m) = core.media.get(&key) {
        return Ok(m);
    }
    let found = core.store.get_media(tenant_id, id).await?;
    core.media.insert(key, found.clone());
    Ok(found)
}

/// Checks the gateway media a send's Graph body names (`med_…` ids; Meta's own ids pass as
/// they are): each must be the tenant's and of the kind its place takes, else Meta's 131053
/// (what Meta answers for a media id it does not know). Each is marked used, so that retention
/// counts from the send.
pub async fn check_send(core: &Core, tenant_id: &str, body: &serde_json::Value) -> CoreResult<()> {
    for r in openbsp_wire::media::media_refs(body) {
        if !is_gateway_id(&r.id) {
            continue;
        }
        let place = r.pointer.trim_start_matches('/').trim_end_matches("/id");
        let refused = |details: String| {
            CoreError::Refused(MetaError::new(codes::MEDIA_UPLOAD, Some(details)))
        };
        let Some(media) = cached(core, tenant_id, &r.id).await? else {
            return Err(refused(format!(
                "{place}: no media {} (upload it first with POST /v1/media)",
                r.id
            )));
        };
        if MediaKind::of_type(&media.mime_type) != Some(r.kind) {
            return Err(refused(format!(
                "{place}: media {} is {}, which WhatsApp does not send as {}",
                r.id,
                media.mime_type,
                r.kind.name()
            )));
        }
        let now = core.now();
        if now - media.last_used_at >= TOUCH_EVERY_MS {
            core.store.touch_media(tenant_id, &media.id, now).await?;
            core.media.insert(
                (tenant_id.to_string(), media.id.clone()),
                Some(Media {
                    last_used_at: now,
                    ..media
                }),
            );
        }
    }
    Ok(())
}

/// Template components as Meta is to get them: a media header's sample given as a gateway
/// media id (`example.header_handle: ["med_…"]`, in the template's header or a carousel
/// card's) is uploaded to Meta by its resumable upload, with the channel's app, and replaced
/// by Meta's handle. Any other handle passes as it is.
pub async fn template_samples(
    core: &Core,
    tenant_id: &str,
    channel: &openbsp_store::Channel,
    components: &mut serde_json::Value,
) -> CoreResult<()> {
    let samples = find_samples(components);
    let refused = |m: String| CoreError::TemplateRefused(MetaError::invalid_parameter(m));
    for (pointer, format) in samples {
        let Some(id) = components
            .pointer(&pointer)
            .and_then(serde_json::Value::as_str)
            .filter(|id| is_gateway_id(id))
            .map(str::to_string)
        else {
            continue;
        };
        let place = format!("components{}", pointer.replace('/', "."));
        let media = core
            .store
            .get_media(tenant_id, &id)
            .await?
            .ok_or_else(|| refused(format!("{place}: no media {id}")))?;
        let types = sample_types(&format).unwrap_or(&[]);
        if !types.contains(&essence(&media.mime_type).as_str()) {
            return Err(refused(format!(
                "{place}: a {format} header's sample is {}; media {id} is {}",
                types.join(" or "),
                media.mime_type
            )));
        }
        let meta_app_id = core
            .store
            .get_app(&channel.app_id)
            .await?
            .and_then(|a| a.meta_app_id)
            .ok_or_else(|| {
                CoreError::invalid_field(
                    "example",
                    format!(
                        "the channel's app has no meta_app_id: Meta's resumable upload of the sample {id} needs it (set it on the app)"
                    ),
                )
            })?;
        let bytes = core
            .objects
            .get(&media.tenant_id, &media.sha256, None)
            .await
            .map_err(CoreError::internal)?;
        let upload = crate::meta::graph::MediaUpload {
            mime_type: essence(&media.mime_type),
            filename: media.filename.clone().unwrap_or_else(|| media.id.clone()),
            size: media.file_size,
            body: reqwest::Body::wrap_stream(futures::TryStreamExt::map_err(
                bytes.into_stream(),
                std::io::Error::other,
            )),
        };
        let token = core.access_token(channel)?;
        let handle = core
            .graph
            .upload_sample(channel, &token, &meta_app_id, upload)
            .await
            .map_err(CoreError::TemplateRefused)?;
        if let Some(slot) = components.pointer_mut(&pointer) {
            *slot = serde_json::Value::String(handle);
        }
        core.store
            .touch_media(tenant_id, &media.id, core.now())
            .await?;
    }
    Ok(())
}

/// The JSON pointers of media headers' first sample handles under `v` (a template's header, a
/// carousel card's), with the header's format.
fn find_samples(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    openbsp_wire::media::visit_objects(v, &mut |pointer, o| {
        let format = o
            .get("format")
            .and_then(serde_json::Value::as_str)
            .map(str::to_ascii_uppercase);
        if let Some(f) = format.filter(|f| sample_types(f).is_some())
            && o.get("example")
                .and_then(|e| e.get("header_handle"))
                .and_then(serde_json::Value::as_array)
                .is_some_and(|h| !h.is_empty())
        {
            out.push((format!("{pointer}/example/header_handle/0"), f));
        }
    });
    out
}

/// Deletes a tenant's media, and its bytes when no other media of the tenant has them.
pub async fn delete(core: &Core, tenant_id: &str, id: &str) -> CoreResult<()> {
    let gone = core
        .store
        .delete_media(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("media", id))?;
    core.media.clear();
    if gone.object_unused {
        core.objects
            .delete(tenant_id, &gone.media.sha256)
            .await
            .map_err(CoreError::internal)?;
    }
    Ok(())
}

/// How long a media's download URL lasts (Meta's: 5 minutes).
pub const URL_LIFETIME_MS: i64 = 5 * 60 * 1000;
/// What the gateway signs its media URLs for.
const URL_PURPOSE: &str = "media-url";

/// What the gateway signs public links for: a link anyone holding it may fetch, so signed
/// apart from the download URLs (which also need the bearer key).
const PUBLIC_PURPOSE: &str = "media-public";

/// `expires=…&signature=…` for media `id`, signed for `purpose`, lasting [`URL_LIFETIME_MS`];
/// and when it expires.
fn signed_query(core: &Core, purpose: &str, id: &str) -> (String, i64) {
    let expires = core.now() + URL_LIFETIME_MS;
    let signature = core
        .config
        .master_key
        .mac(purpose, &format!("{id}:{expires}"));
    (format!("expires={expires}&signature={signature}"), expires)
}

/// Whether `expires` and `signature` are the gateway's for media `id` and `purpose`, and not
/// past; else not found, as Meta's expired URLs.
fn check_signed(
    core: &Core,
    purpose: &str,
    id: &str,
    expires: i64,
    signature: &str,
) -> CoreResult<()> {
    let valid = expires > core.now()
        && core
            .config
            .master_key
            .verify_mac(purpose, &format!("{id}:{expires}"), signature);
    if valid {
        Ok(())
    } else {
        Err(CoreError::not_found("media", id))
    }
}

/// A media's download URL on this gateway at `base`, as Meta gives one: it lasts
/// [`URL_LIFETIME_MS`] and needs the bearer key too.
pub fn download_url(core: &Core, base: &str, media: &Media) -> String {
    let (query, _) = signed_query(core, URL_PURPOSE, &media.id);
    format!("{base}/v1/media/{}/content?{query}", media.id)
}

/// Checks a download of media `id` by a URL's `expires` and `signature` (none: a plain
/// download, nothing to check): the gateway's, for this media, and not past; else not found,
/// as Meta's expired URLs.
pub fn check_url(
    core: &Core,
    id: &str,
    expires: Option<i64>,
    signature: Option<&str>,
) -> CoreResult<()> {
    match (expires, signature) {
        (None, None) => Ok(()),
        (Some(expires), Some(signature)) => check_signed(core, URL_PURPOSE, id, expires, signature),
        _ => Err(CoreError::not_found("media", id)),
    }
}

/// The query of a public link to media `id` (fetched without a key, for [`URL_LIFETIME_MS`]),
/// and when it expires: signed for links only, so a download URL is never one.
pub fn public_query(core: &Core, id: &str) -> (String, i64) {
    signed_query(core, PUBLIC_PURPOSE, id)
}

/// Checks a public link's `expires` and `signature` for media `id`.
pub fn check_public(core: &Core, id: &str, expires: i64, signature: &str) -> CoreResult<()> {
    check_signed(core, PUBLIC_PURPOSE, id, expires, signature)
}

/// The error of a form that carries no file.
pub fn no_file() -> CoreError {
    CoreError::invalid_field("file", "the form has no file part")
}

/// Media pruned per read while pruning.
const PRUNE_BATCH: u32 = 500;

/// Deletes the media of every tenant last used before `before` (stored, sent or read; a media
/// a message still uses is touched by it), and their bytes when no other media of the tenant
/// has them: the leader's retention job. How many went.
pub async fn prune(core: &Core, before: i64) -> CoreResult<u64> {
    let mut pruned = 0;
    loop {
        let stale = core.store.stale_media(before, PRUNE_BATCH).await?;
        if stale.is_empty() {
            return Ok(pruned);
        }
        for m in &stale {
            match delete(core, &m.tenant_id, &m.id).await {
                Ok(()) => pruned += 1,
                // Deleted meanwhile (by its tenant): nothing to do.
                Err(CoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        tokio::task::yield_now().await;
    }
}

/// How long a resumable upload session lasts.
const SAMPLE_UPLOAD_LIFETIME_MS: i64 = 24 * 3_600_000;
/// What the gateway signs its upload sessions for.
const SAMPLE_UPLOAD_PURPOSE: &str = "resumable-upload";

/// A resumable upload session (Meta's `POST /{app-id}/uploads`), as its id carries it: the
/// gateway keeps no state for it, its id is signed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleUpload {
    /// The tenant.
    #[serde(rename = "t")]
    pub tenant_id: String,
    /// The file's name.
    #[serde(rename = "n")]
    pub file_name: String,
    /// Its length in bytes.
    #[serde(rename = "l")]
    pub file_length: u64,
    /// Its type (`image/jpeg`, `image/png`, `video/mp4`, `application/pdf`).
    #[serde(rename = "y")]
    pub file_type: String,
    /// When the session lapses (ms).
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Starts a resumable upload of a template sample (Meta's types for it: jpeg, png, mp4, pdf):
/// its id, `upload:…`.
pub fn start_sample_upload(
    core: &Core,
    tenant_id: &str,
    file_name: &str,
    file_length: Option<u64>,
    file_type: &str,
) -> CoreResult<String> {
    let file_type = essence(file_type);
    if !SAMPLE_TYPES.contains(&file_type.as_str()) {
        return Err(CoreError::invalid_field(
            "file_type",
            "file_type must be image/jpeg, image/png, video/mp4 or application/pdf",
        ));
    }
    let kind = MediaKind::of_type(&file_type).unwrap_or(MediaKind::Document);
    let file_length = file_length
        .filter(|l| (1..=kind.max_bytes()).contains(l))
        .ok_or_else(|| {
            CoreError::invalid_field(
                "file_length",
                format!(
                    "file_length must be a number of bytes from 1 to {}",
                    kind.max_bytes()
                ),
            )
        })?;
    let session = SampleUpload {
        tenant_id: tenant_id.to_string(),
        file_name: file_name.trim().chars().take(MAX_FILENAME).collect(),
        file_length,
        file_type,
        expires_at: core.now() + SAMPLE_UPLOAD_LIFETIME_MS,
    };
    let body = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&session).map_err(CoreError::internal)?,
    );
    let mac = core.config.master_key.mac(SAMPLE_UPLOAD_PURPOSE, &body);
    Ok(format!("upload:{body}.{mac}"))
}

/// The session an upload id names, for its tenant, if it is the gateway's and not lapsed
/// (else not found, as Meta's unknown objects).
pub fn sample_upload(core: &Core, tenant_id: &str, id: &str) -> CoreResult<SampleUpload> {
    let not_found = || CoreError::not_found("upload session", id);
    let (body, mac) = id
        .strip_prefix("upload:")
        .and_then(|rest| rest.rsplit_once('.'))
        .ok_or_else(not_found)?;
    if !core
        .config
        .master_key
        .verify_mac(SAMPLE_UPLOAD_PURPOSE, body, mac)
    {
        return Err(not_found());
    }
    let session: SampleUpload =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(not_found)?;
    if session.tenant_id != tenant_id || session.expires_at <= core.now() {
        return Err(not_found());
    }
    Ok(session)
}

/// What a resumable upload's chunk came to.
#[derive(Debug)]
pub enum SampleProgress {
    /// More is to come: the bytes received so far (the next chunk's `file_offset`).
    Received(u64),
    /// The file is whole: a media of the tenant, whose id is the handle a template's
    /// `example.header_handle` takes.
    Done(Media),
}

/// The key of a session's parts in the object store.
fn session_key(id: &str) -> String {
    hex::encode(&Sha256::digest(id.as_bytes())[..16])
}

/// How many bytes of a resumable upload were received (the parts kept so far).
pub async fn sample_offset(core: &Core, id: &str, session: &SampleUpload) -> CoreResult<u64> {
    let parts = core
        .objects
        .parts(&session.tenant_id, &session_key(id))
        .await
        .map_err(CoreError::internal)?;
    Ok(received(&parts))
}

/// The bytes the parts hold from 0 without a gap.
fn received(parts: &[(u64, u64)]) -> u64 {
    parts.iter().fold(
        0,
        |end, (offset, size)| if *offset == end { end + size } else { end },
    )
}

/// Takes a chunk of resumable upload `id` (Meta's `POST /upload:<id>` with `file_offset`):
/// it must start where the bytes received so far end, and not run past `file_length`. Chunks
/// are kept as parts in the object store (so any replica takes the next one); the last one
/// makes the parts, streamed one after the other, an upload of the tenant, checked as any
/// (type, size, content). A whole file in one chunk is stored at once.
pub async fn take_sample_chunk(
    core: &Core,
    id: &str,
    session: &SampleUpload,
    file_offset: u64,
    content_length: Option<u64>,
    body: impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
) -> CoreResult<SampleProgress> {
    let key = session_key(id);
    let name = Some(session.file_name.clone()).filter(|n| !n.is_empty());
    let parts = core
        .objects
        .parts(&session.tenant_id, &key)
        .await
        .map_err(CoreError::internal)?;
    let have = received(&parts);
    if file_offset != have {
        return Err(CoreError::invalid_field(
            "file_offset",
            format!("file_offset must be {have}: the bytes received so far"),
        ));
    }
    if have == 0 && content_length == Some(session.file_length) {
        // The whole file at once: no parts.
        let media = upload(core, &session.tenant_id, &session.file_type, name, body).await?;
        return whole(core, session, media).await.map(SampleProgress::Done);
    }
    let room = session.file_length - have;
    let size = match core
        .objects
        .put_part(&session.tenant_id, &key, have, body, room)
        .await
    {
        Ok(n) => n,
        Err(ObjectError::TooLarge(_)) => {
            return Err(CoreError::invalid_field(
                "file_length",
                format!(
                    "the chunk runs past file_length {}: {room} bytes remain",
                    session.file_length
                ),
            ));
        }
        Err(ObjectError::Body(e)) => return Err(CoreError::invalid_field("file", e)),
        Err(e) => return Err(CoreError::internal(e)),
    };
    if have + size < session.file_length {
        return Ok(SampleProgress::Received(have + size));
    }
    let mut parts = parts;
    parts.push((have, size));
    let bytes = core.objects.read_parts(&session.tenant_id, &key, &parts);
    let media = upload(core, &session.tenant_id, &session.file_type, name, bytes).await;
    // Taken or refused, the parts have served.
    if let Err(e) = core.objects.delete_parts(&session.tenant_id, &key).await {
        tracing::warn!(error = %e, "could not delete a resumable upload's parts (the sweep will)");
    }
    whole(core, session, media?).await.map(SampleProgress::Done)
}

/// A finished resumable upload, as long as its session said.
async fn whole(core: &Core, session: &SampleUpload, media: Media) -> CoreResult<Media> {
    if media.file_size != session.file_length {
        delete(core, &session.tenant_id, &media.id).await?;
        return Err(CoreError::invalid_field(
            "file_length",
            format!(
                "the upload is {} bytes; the session said file_length {}",
                media.file_size, session.file_length
            ),
        ));
    }
    Ok(media)
}
