//! Meta's media (reference §5.6) as data: media objects with Meta-style numeric ids, owned
//! by a phone number (and so by its WABA) — uploaded through
//! `POST /{version}/{phone_number_id}/media`, sent by users (inbound media), or put in by a
//! test — each living a while by the simulator clock (`media_id_ttl`, 30 days, for uploads;
//! `inbound_media_ttl`, 7 days, for what users sent); the signing of the download URLs that
//! `GET /{version}/{media_id}` hands out (valid 5 minutes); and the resumable uploads that
//! give template header samples their handles ([`uploads`]). The simulator's operations on
//! them are in `crate::media_ops`, the routes in `crate::graph_media`, the control API's in
//! `crate::control_media`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::config::{PhoneNumberConfig, SimulatorConfig};

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

/// A media to put into the simulator (`SimState::add_media`).
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

    /// Stores `new` as a media of `owner` with content hash `sha256` (hex), created at `now`:
    /// a fresh id living `media_id_ttl` (uploads) or `inbound_media_ttl` (inbound).
    pub(crate) fn add(
        &mut self,
        new: NewMedia,
        owner: PhoneNumberConfig,
        sha256: String,
        now: i64,
    ) -> Media {
        let ttl_s = match new.origin {
            MediaOrigin::Upload => self.media_id_ttl_seconds,
            MediaOrigin::Inbound => self.inbound_media_ttl_seconds,
        };
        let mut id = new_media_id();
        while self.media.contains_key(&id) {
            id = new_media_id();
        }
        let media = Media {
            id: id.clone(),
            phone_number_id: owner.phone_number_id,
            waba_id: owner.waba_id,
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
        self.order.push(id.clone());
        self.media.insert(id, media.clone());
        media
    }

    /// The media of `phone_number_id` (all numbers if `None`), deleted and expired ones
    /// included, oldest first.
    pub(crate) fn all(&self, phone_number_id: Option<&str>) -> Vec<Media> {
        self.order
            .iter()
            .filter_map(|id| self.media.get(id))
            .filter(|m| phone_number_id.is_none_or(|p| p == m.phone_number_id))
            .cloned()
            .collect()
    }

    /// One media by id, whatever its state.
    pub(crate) fn get(&self, id: &str) -> Option<Media> {
        self.media.get(id).cloned()
    }

    /// Deletes a media live at `now`; `false` if there is none.
    pub(crate) fn delete(&mut self, id: &str, now: i64) -> bool {
        match self.media.get_mut(id) {
            Some(m) if m.live_at(now) => {
                m.deleted = true;
                true
            }
            _ => false,
        }
    }

    /// How long upload ids live (seconds).
    pub(crate) fn media_id_ttl_seconds(&self) -> u64 {
        self.media_id_ttl_seconds
    }

    /// Sets how long the ids of media uploaded from now on live (seconds).
    pub(crate) fn set_media_id_ttl_seconds(&mut self, seconds: u64) {
        self.media_id_ttl_seconds = seconds;
    }

    /// How long inbound media live (seconds).
    pub(crate) fn inbound_media_ttl_seconds(&self) -> u64 {
        self.inbound_media_ttl_seconds
    }

    /// Sets how long media that users send from now on live (seconds).
    pub(crate) fn set_inbound_media_ttl_seconds(&mut self, seconds: u64) {
        self.inbound_media_ttl_seconds = seconds;
    }

    /// Sets the base URL (`http://host:port`) of download URLs made without a request.
    pub(crate) fn set_base_url(&mut self, url: &str) {
        self.base_url = Some(url.trim_end_matches('/').to_string());
    }

    /// The base URL of download URLs made without a request: the one set, else
    /// `http://127.0.0.1`.
    pub(crate) fn base_url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1".to_string())
    }

    /// A download URL of media `id` valid [`URL_TTL_MS`] from `now`:
    /// `{base}/whatsapp_business/attachments/?mid=&ext=&hash=`.
    pub(crate) fn url(&self, base: &str, id: &str, now: i64) -> String {
        let ext = (now + URL_TTL_MS).div_euclid(1000);
        let hash = self.sign(id, ext);
        format!("{base}/whatsapp_business/attachments/?mid={id}&ext={ext}&hash={hash}")
    }

    /// Whether `hash` is this store's signature of a download URL of `mid` expiring at `ext`
    /// (Unix seconds).
    pub(crate) fn signed(&self, mid: &str, ext: i64, hash: &str) -> bool {
        // Not constant-time: this is a test double.
        self.sign(mid, ext) == hash
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
