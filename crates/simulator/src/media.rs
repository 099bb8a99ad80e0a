//! Meta's media (reference §5.6), on [`SimState`]: media objects with Meta-style numeric ids,
//! owned by a phone number (and so by its WABA) — uploaded through
//! `POST /{version}/{phone_number_id}/media`, sent by users (inbound media), or put in by a
//! test — each living a while by the simulator clock (`media_id_ttl`, 30 days, for uploads;
//! `inbound_media_ttl`, 7 days, for what users sent); the signed download URLs that
//! `GET /{version}/{media_id}` hands out (valid 5 minutes); and the resumable uploads that
//! give template header samples their handles ([`uploads`]). The routes are in
//! `crate::graph_media`; the control API's in `crate::control_media`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::config::SimulatorConfig;
use crate::inbound::{InboundError, invalid};
use crate::state::SimState;

mod content;
pub mod uploads;

pub(crate) use content::CHUNK;
pub use content::{MediaContent, Recipe};

/// How long a download URL works after the `GET /{media_id}` that made it (ms).
pub const URL_TTL_MS: i64 = 5 * 60 * 1000;

/// Where a media came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaOrigin {
    /// Uploaded by the business (or put in through the control API).
    Upload,
    /// Sent by a user.
    Inbound,
}

/// A media object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Meta-style numeric id.
    pub id: String,
    /// The phone number that owns it.
    pub phone_number_id: String,
    /// That number's WABA: the numbers whose tokens may read it and whose sends may use it.
    pub waba_id: String,
    /// Where it came from.
    pub origin: MediaOrigin,
    /// Its type, as declared.
    pub mime_type: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Length in bytes.
    pub file_size: u64,
    /// The file name, when one was given.
    pub filename: Option<String>,
    /// When it was created (Unix ms, simulator clock).
    pub created_at_ms: i64,
    /// When its id stops working (Unix ms, simulator clock).
    pub expires_at_ms: i64,
    /// Whether it was deleted (`DELETE /{media_id}`).
    pub deleted: bool,
    /// Its bytes.
    pub content: MediaContent,
}

impl Media {
    /// Whether it can be read, downloaded and sent at `now`: not deleted, not expired.
    pub fn live_at(&self, now: i64) -> bool {
        !self.deleted && now < self.expires_at_ms
    }

    /// The SHA-256 as base64, as Meta's webhooks carry it.
    pub fn sha256_base64(&self) -> String {
        hex::decode(&self.sha256)
            .map(|d| STANDARD.encode(d))
            .unwrap_or_default()
    }

    /// How the control API shows it.
    pub fn control_json(&self) -> Value {
        let rfc = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|d| json!(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
                .unwrap_or(Value::Null)
        };
        json!({
            "id": self.id,
            "phone_number_id": self.phone_number_id,
            "waba_id": self.waba_id,
            "origin": self.origin,
            "mime_type": self.mime_type,
            "sha256": self.sha256,
            "file_size": self.file_size,
            "filename": self.filename,
            "generated": matches!(self.content, MediaContent::Generated(_)),
            "created_at": rfc(self.created_at_ms),
            "created_at_ms": self.created_at_ms,
            "expires_at": rfc(self.expires_at_ms),
            "expires_at_ms": self.expires_at_ms,
            "deleted": self.deleted,
        })
    }
}

/// A media to put into the simulator ([`SimState::add_media`]).
#[derive(Debug, Clone)]
pub struct NewMedia {
    /// The owner number.
    pub phone_number_id: String,
    /// Its type.
    pub mime_type: String,
    /// Its bytes.
    pub content: MediaContent,
    /// Its file name.
    pub filename: Option<String>,
    /// Upload (lives `media_id_ttl`) or inbound (lives `inbound_media_ttl`).
    pub origin: MediaOrigin,
}

/// The media, uploads and handles of one simulator.
pub(crate) struct MediaStore {
    media: HashMap<String, Media>,
    /// Ids in creation order.
    order: Vec<String>,
    pub(crate) uploads: uploads::Uploads,
    /// Signs download URLs.
    url_key: [u8; 32],
    /// The simulator's base URL (`http://host:port`), for URLs made without a request.
    base_url: Option<String>,
    media_id_ttl_seconds: u64,
    inbound_media_ttl_seconds: u64,
}

impl MediaStore {
    pub(crate) fn new(config: &SimulatorConfig) -> MediaStore {
        let mut url_key = [0u8; 32];
        rand::rng().fill(&mut url_key);
        MediaStore {
            media: HashMap::new(),
            order: Vec::new(),
            uploads: uploads::Uploads::default(),
            url_key,
            base_url: None,
            media_id_ttl_seconds: config.media_id_ttl_seconds,
            inbound_media_ttl_seconds: config.inbound_media_ttl_seconds,
        }
    }

    fn sign(&self, mid: &str, ext: i64) -> String {
        // Any key length is valid for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.url_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("{mid}:{ext}").as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..24])
    }
}

/// A new media id, like Meta's (16 digits; above the template ids' range).
fn new_media_id() -> String {
    rand::rng()
        .random_range(1_600_000_000_000_000u64..2_000_000_000_000_000)
        .to_string()
}

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
        let mut store = self.media.lock();
        let ttl_s = match new.origin {
            MediaOrigin::Upload => store.media_id_ttl_seconds,
            MediaOrigin::Inbound => store.inbound_media_ttl_seconds,
        };
        let mut id = new_media_id();
        while store.media.contains_key(&id) {
            id = new_media_id();
        }
        let media = Media {
            id: id.clone(),
            phone_number_id: phone.phone_number_id,
            waba_id: phone.waba_id,
            origin: new.origin,
            mime_type: new.mime_type,
            sha256,
            file_size: new.content.len(),
            filename: new.filename,
            created_at_ms: now,
            expires_at_ms: now
                .saturating_add(i64::try_from(ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX)),
            deleted: false,
            content: new.content,
        };
        store.order.push(id.clone());
        store.media.insert(id, media.clone());
        Ok(media)
    }

    /// The media of `phone_number_id` (all numbers if `None`), deleted and expired ones
    /// included, oldest first.
    pub fn media_of(&self, phone_number_id: Option<&str>) -> Vec<Media> {
        let store = self.media.lock();
        store
            .order
            .iter()
            .filter_map(|id| store.media.get(id))
            .filter(|m| phone_number_id.is_none_or(|p| p == m.phone_number_id))
            .cloned()
            .collect()
    }

    /// One media by id, whatever its state.
    pub fn media_by_id(&self, id: &str) -> Option<Media> {
        self.media.lock().media.get(id).cloned()
    }

    /// A media that is neither deleted nor expired.
    pub fn live_media(&self, id: &str) -> Option<Media> {
        let now = self.now_ms();
        self.media_by_id(id).filter(|m| m.live_at(now))
    }

    /// Deletes a live media; `false` if there is none.
    pub(crate) fn delete_media(&self, id: &str) -> bool {
        let now = self.now_ms();
        match self.media.lock().media.get_mut(id) {
            Some(m) if m.live_at(now) => {
                m.deleted = true;
                true
            }
            _ => false,
        }
    }

    /// How long upload ids live (seconds).
    pub fn media_id_ttl_seconds(&self) -> u64 {
        self.media.lock().media_id_ttl_seconds
    }

    /// Sets how long the ids of media uploaded from now on live (seconds).
    pub fn set_media_id_ttl_seconds(&self, seconds: u64) {
        self.media.lock().media_id_ttl_seconds = seconds;
    }

    /// How long inbound media live (seconds).
    pub fn inbound_media_ttl_seconds(&self) -> u64 {
        self.media.lock().inbound_media_ttl_seconds
    }

    /// Sets how long media that users send from now on live (seconds).
    pub fn set_inbound_media_ttl_seconds(&self, seconds: u64) {
        self.media.lock().inbound_media_ttl_seconds = seconds;
    }

    /// Sets the base URL (`http://host:port`) of download URLs made without a request to
    /// take the host from (inbound media webhooks). [`crate::Simulator::start`] sets it.
    pub fn set_public_url(&self, url: &str) {
        self.media.lock().base_url = Some(url.trim_end_matches('/').to_string());
    }

    /// The base URL of download URLs: `host` (a request's `Host`) when given, else the one
    /// set by [`SimState::set_public_url`].
    pub(crate) fn base_url(&self, host: Option<&str>) -> String {
        match host {
            Some(h) => format!("http://{h}"),
            None => self
                .media
                .lock()
                .base_url
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1".to_string()),
        }
    }

    /// A download URL of media `id` valid [`URL_TTL_MS`] from now:
    /// `{base}/whatsapp_business/attachments/?mid=&ext=&hash=`.
    pub(crate) fn media_url(&self, base: &str, id: &str) -> String {
        let ext = (self.now_ms() + URL_TTL_MS).div_euclid(1000);
        let hash = self.media.lock().sign(id, ext);
        format!("{base}/whatsapp_business/attachments/?mid={id}&ext={ext}&hash={hash}")
    }

    /// The live media a download URL names, if it is genuine and not expired.
    pub(crate) fn media_of_url(&self, mid: &str, ext: &str, hash: &str) -> Option<Media> {
        let ext: i64 = ext.parse().ok()?;
        if self.now_ms() >= ext.saturating_mul(1000) {
            return None;
        }
        let expected = self.media.lock().sign(mid, ext);
        // Not constant-time: this is a test double.
        if expected != hash {
            return None;
        }
        self.live_media(mid)
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
    use super::*;
    use crate::config::PhoneNumberConfig;

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

    use bytes::Bytes;
}
