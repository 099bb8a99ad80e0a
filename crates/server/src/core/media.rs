//! Media (DESIGN §2.9): a tenant's files, streamed into the object store, checked as Meta
//! checks them (a type WhatsApp takes, within its size, the bytes of the declared type), kept
//! once per tenant by content, read back by range, deleted.

use std::ops::Range;

use bytes::Bytes;
use futures::Stream;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{Media, media_origin};
use openbsp_wire::media::{MediaKind, TYPES, essence, matches_content};

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

/// A tenant's media (another tenant's id: not found).
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Media> {
    core.store
        .get_media(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("media", id))
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

/// Deletes a tenant's media, and its bytes when no other media of the tenant has them.
pub async fn delete(core: &Core, tenant_id: &str, id: &str) -> CoreResult<()> {
    let gone = core
        .store
        .delete_media(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("media", id))?;
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

/// A media's download URL on this gateway at `base`, as Meta gives one: it lasts
/// [`URL_LIFETIME_MS`] and needs the bearer key too.
pub fn download_url(core: &Core, base: &str, media: &Media) -> String {
    let expires = core.now() + URL_LIFETIME_MS;
    let signature = core
        .config
        .master_key
        .mac(URL_PURPOSE, &format!("{}:{expires}", media.id));
    format!(
        "{base}/v1/media/{}/content?expires={expires}&signature={signature}",
        media.id
    )
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
    let valid = match (expires, signature) {
        (None, None) => true,
        (Some(expires), Some(signature)) => {
            expires > core.now()
                && core.config.master_key.verify_mac(
                    URL_PURPOSE,
                    &format!("{id}:{expires}"),
                    signature,
                )
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(CoreError::not_found("media", id))
    }
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
