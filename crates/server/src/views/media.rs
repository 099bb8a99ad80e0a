//! How a media looks on the native API.

use openbsp_domain::clock::rfc3339;
use openbsp_store::Media;
use serde::Serialize;

/// A media (fields in sorted order: see [`crate::views`]).
#[derive(Debug, Clone, Serialize)]
pub struct MediaView {
    /// Stored.
    pub created_at: String,
    /// Bytes.
    pub file_size: u64,
    /// The file's name, when it came with one.
    pub filename: Option<String>,
    /// `med_…`
    pub id: String,
    /// Last stored, sent or read: retention counts from it.
    pub last_used_at: String,
    /// Its type.
    pub mime_type: String,
    /// Always `"media"`.
    pub object: &'static str,
    /// `upload` or `inbound`.
    pub origin: String,
    /// The bytes' SHA-256, hex.
    pub sha256: String,
}

impl MediaView {
    /// The view of a media.
    pub fn new(m: &Media) -> MediaView {
        MediaView {
            created_at: rfc3339(m.created_at),
            file_size: m.file_size,
            filename: m.filename.clone(),
            id: m.id.clone(),
            last_used_at: rfc3339(m.last_used_at),
            mime_type: m.mime_type.clone(),
            object: "media",
            origin: m.origin.clone(),
            sha256: m.sha256.clone(),
        }
    }
}
