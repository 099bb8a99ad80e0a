//! The simulator's media operations, on [`SimState`] (the media themselves, URL signing and
//! resumable upload sessions are data in [`crate::media`]): each takes the media store's lock
//! for one step. Also what turns the `file` of a user's media message (or of a control API
//! media) into content: [`FileSpec`], and the inbound media it becomes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::inbound::{InboundError, invalid};
use crate::media::uploads::{ChunkError, ChunkOutcome};
use crate::media::{Media, MediaContent, MediaOrigin, NewMedia, Recipe};
use crate::state::SimState;

impl SimState {
    /// Stores a media for `new.phone_number_id` (no type, size or content check: the routes
    /// make those); its id lives `media_id_ttl` (uploads) or `inbound_media_ttl` (inbound)
    /// from now. Generated content is read through once here, for its SHA-256. `Err` if the
    /// number is unknown.
    pub fn add_media(&self, new: NewMedia) -> Result<Media, String> {
        let phone = self
            .phone_number(&new.phone_number_id)
            .ok_or_else(|| format!("unknown phone_number_id '{}'", new.phone_number_id))?;
        let sha256 = hex::encode(new.content.sha256());
        let now = self.now_ms();
        Ok(self.media.lock().add(new, phone, sha256, now))
    }

    /// The media of `phone_number_id` (all numbers if `None`), deleted and expired ones
    /// included, oldest first.
    pub fn media_of(&self, phone_number_id: Option<&str>) -> Vec<Media> {
        self.media.lock().all(phone_number_id)
    }

    /// One media by id, whatever its state.
    pub fn media_by_id(&self, id: &str) -> Option<Media> {
        self.media.lock().get(id)
    }

    /// A media that is neither deleted nor expired.
    pub fn live_media(&self, id: &str) -> Option<Media> {
        let now = self.now_ms();
        self.media_by_id(id).filter(|m| m.live_at(now))
    }

    /// Deletes a live media; `false` if there is none.
    pub(crate) fn delete_media(&self, id: &str) -> bool {
        let now = self.now_ms();
        self.media.lock().delete(id, now)
    }

    /// How long upload ids live (seconds).
    pub fn media_id_ttl_seconds(&self) -> u64 {
        self.media.lock().media_id_ttl_seconds()
    }

    /// Sets how long the ids of media uploaded from now on live (seconds).
    pub fn set_media_id_ttl_seconds(&self, seconds: u64) {
        self.media.lock().set_media_id_ttl_seconds(seconds);
    }

    /// How long inbound media live (seconds).
    pub fn inbound_media_ttl_seconds(&self) -> u64 {
        self.media.lock().inbound_media_ttl_seconds()
    }

    /// Sets how long media that users send from now on live (seconds).
    pub fn set_inbound_media_ttl_seconds(&self, seconds: u64) {
        self.media.lock().set_inbound_media_ttl_seconds(seconds);
    }

    /// Sets the base URL (`http://host:port`) of download URLs made without a request to
    /// take the host from (inbound media webhooks). [`crate::Simulator::start`] sets it.
    pub fn set_public_url(&self, url: &str) {
        self.media.lock().set_base_url(url);
    }

    /// The base URL of download URLs: `host` (a request's `Host`) when given, else the one
    /// set by [`SimState::set_public_url`].
    pub(crate) fn base_url(&self, host: Option<&str>) -> String {
        match host {
            Some(h) => format!("http://{h}"),
            None => self.media.lock().base_url(),
        }
    }

    /// A download URL of media `id` valid [`crate::media::URL_TTL_MS`] from now:
    /// `{base}/whatsapp_business/attachments/?mid=&ext=&hash=`.
    pub(crate) fn media_url(&self, base: &str, id: &str) -> String {
        let now = self.now_ms();
        self.media.lock().url(base, id, now)
    }

    /// The live media a download URL names, if it is genuine and not expired.
    pub(crate) fn media_of_url(&self, mid: &str, ext: &str, hash: &str) -> Option<Media> {
        let ext: i64 = ext.parse().ok()?;
        if self.now_ms() >= ext.saturating_mul(1000) {
            return None;
        }
        if !self.media.lock().signed(mid, ext, hash) {
            return None;
        }
        self.live_media(mid)
    }

    /// Opens a resumable upload session; `file_type` must be one of
    /// [`crate::media::uploads::UPLOAD_TYPES`] (the route checks). Returns its id, `upload:…`.
    pub(crate) fn start_upload(
        &self,
        app_id: &str,
        file_name: &str,
        file_length: u64,
        file_type: &str,
    ) -> String {
        self.media
            .lock()
            .uploads
            .start(app_id, file_name, file_length, file_type)
    }

    /// How many bytes session `id` has received.
    pub(crate) fn upload_offset(&self, id: &str) -> Option<u64> {
        self.media.lock().uploads.offset(id)
    }

    /// Adds `bytes` at `offset` to session `id`. When the session is complete its content
    /// is checked against its type (a mismatch ends the session) and it gets its handle.
    pub(crate) fn upload_chunk(
        &self,
        id: &str,
        offset: u64,
        bytes: &[u8],
    ) -> Result<ChunkOutcome, ChunkError> {
        let now = self.now_ms();
        self.media.lock().uploads.chunk(id, offset, bytes, now)
    }

    /// The type of the upload a handle was issued for; `None` if this simulator did not
    /// issue it.
    pub fn handle_type(&self, handle: &str) -> Option<String> {
        self.media.lock().uploads.handle_type(handle)
    }

    /// Turns the `file` of an inbound media message (`kind`'s object `obj`) into a media of
    /// `phone_number_id`, and `obj` into what Meta sends: `id`, `mime_type`, `sha256`
    /// (base64), `url`, with the kind's other fields; `file` is removed. Objects without
    /// `file` are left as they are.
    pub(crate) fn materialize_inbound_media(
        &self,
        phone_number_id: &str,
        kind: &str,
        obj: &mut Map<String, Value>,
    ) -> Result<(), InboundError> {
        let Some(file) = obj.remove("file") else {
            return Ok(());
        };
        let at = format!("message.{kind}.file");
        let declared = obj
            .get("mime_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        let spec = FileSpec::from_json(&file, &at, declared.as_deref(), default_type(kind))?;
        let filename = match kind {
            "document" => obj
                .get("filename")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        let mime_type = declared.unwrap_or_else(|| spec.mime_type.clone());
        let media = self
            .add_media(NewMedia {
                phone_number_id: phone_number_id.to_string(),
                mime_type: mime_type.clone(),
                content: spec.content,
                filename,
                origin: MediaOrigin::Inbound,
            })
            .map_err(|e| invalid("phone_number_id", e))?;
        let url = self.media_url(&self.base_url(None), &media.id);
        obj.insert("mime_type".into(), json!(mime_type));
        obj.insert("sha256".into(), json!(media.sha256_base64()));
        obj.insert("id".into(), json!(media.id));
        obj.insert("url".into(), json!(url));
        Ok(())
    }
}

/// The type a user's media of `kind` has when none is given.
fn default_type(kind: &str) -> &'static str {
    match kind {
        "image" => "image/jpeg",
        "video" => "video/mp4",
        "audio" => "audio/ogg",
        "sticker" => "image/webp",
        _ => "application/pdf",
    }
}

/// The content of a media given as JSON: `{"data_base64"} | {"generate": {"size",
/// "seed"?}}`, with `mime_type`.
pub(crate) struct FileSpec {
    /// The type: the spec's `mime_type`, else the given one, else the default.
    pub(crate) mime_type: String,
    /// The bytes.
    pub(crate) content: MediaContent,
}

impl FileSpec {
    /// Reads `{"data_base64": ..., "mime_type"?}` or `{"generate": {"size", "seed"?},
    /// "mime_type"?}` at `path`; `mime_type` falls back to `declared`, then to `default`.
    pub(crate) fn from_json(
        v: &Value,
        path: &str,
        declared: Option<&str>,
        default: &str,
    ) -> Result<FileSpec, InboundError> {
        let o = v
            .as_object()
            .ok_or_else(|| invalid(path, "must be a JSON object"))?;
        for key in o.keys() {
            if !matches!(key.as_str(), "data_base64" | "generate" | "mime_type") {
                return Err(invalid(
                    &format!("{path}.{key}"),
                    "is not a field of a file (data_base64, generate, mime_type)",
                ));
            }
        }
        let mime_type = match o.get("mime_type") {
            None | Some(Value::Null) => declared.unwrap_or(default).to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(_) => {
                return Err(invalid(
                    &format!("{path}.mime_type"),
                    "must be a non-empty string",
                ));
            }
        };
        let content = Self::content(o, path, &mime_type)?;
        Ok(FileSpec { mime_type, content })
    }

    /// The content of `o`: exactly one of `data_base64` and `generate`.
    pub(crate) fn content(
        o: &Map<String, Value>,
        path: &str,
        mime_type: &str,
    ) -> Result<MediaContent, InboundError> {
        match (o.get("data_base64"), o.get("generate")) {
            (Some(data), None) => {
                let data = data.as_str().ok_or_else(|| {
                    invalid(&format!("{path}.data_base64"), "must be a base64 string")
                })?;
                let bytes = STANDARD
                    .decode(data.trim())
                    .or_else(|_| URL_SAFE_NO_PAD.decode(data.trim()))
                    .map_err(|e| invalid(&format!("{path}.data_base64"), format!("{e}")))?;
                Ok(MediaContent::Bytes(bytes.into()))
            }
            (None, Some(g)) => {
                let at = format!("{path}.generate");
                let g = g
                    .as_object()
                    .ok_or_else(|| invalid(&at, "must be a JSON object: {\"size\", \"seed\"?}"))?;
                let size = g.get("size").and_then(Value::as_u64).ok_or_else(|| {
                    invalid(&format!("{at}.size"), "is required: a number of bytes")
                })?;
                let seed = match g.get("seed") {
                    None | Some(Value::Null) => rand::rng().random(),
                    Some(s) => s.as_u64().ok_or_else(|| {
                        invalid(&format!("{at}.seed"), "must be a non-negative integer")
                    })?,
                };
                Ok(MediaContent::Generated(Recipe {
                    mime_type: mime_type.to_string(),
                    size,
                    seed,
                }))
            }
            (Some(_), Some(_)) => Err(invalid(
                path,
                "give one of data_base64 and generate, not both",
            )),
            (None, None) => Err(invalid(path, "needs data_base64 or generate")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;

    use super::*;
    use crate::config::{PhoneNumberConfig, SimulatorConfig};

    fn state() -> std::sync::Arc<SimState> {
        let s = SimState::new(SimulatorConfig::default()).unwrap();
        s.add_phone_number(PhoneNumberConfig {
            phone_number_id: "P".into(),
            display_phone_number: "15550001111".into(),
            waba_id: "W".into(),
            access_token: "t".into(),
            app_secret: "s".into(),
            webhook_url: None,
            throughput_mps: None,
        });
        s
    }

    #[test]
    fn urls_are_signed_and_expire() {
        let s = state();
        let m = s
            .add_media(NewMedia {
                phone_number_id: "P".into(),
                mime_type: "text/plain".into(),
                content: MediaContent::Bytes(Bytes::from_static(b"hello")),
                filename: None,
                origin: MediaOrigin::Upload,
            })
            .unwrap();
        assert_eq!(
            m.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            m.sha256_base64(),
            "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
        let url = s.media_url("http://h", &m.id);
        let q: HashMap<String, String> = reqwest::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert!(s.media_of_url(&m.id, &q["ext"], &q["hash"]).is_some());
        assert!(s.media_of_url(&m.id, &q["ext"], "forged").is_none());
        let later = (q["ext"].parse::<i64>().unwrap() + 1).to_string();
        assert!(s.media_of_url(&m.id, &later, &q["hash"]).is_none());
        s.advance_clock(301);
        assert!(s.media_of_url(&m.id, &q["ext"], &q["hash"]).is_none());
        assert!(s.delete_media(&m.id));
        assert!(!s.delete_media(&m.id));
        assert!(s.live_media(&m.id).is_none());
    }
}
