//! Media as the store keeps it: each media's metadata (its bytes live in an object store, keyed
//! by tenant and sha256, so the same file is kept once per tenant however often it is
//! uploaded), and Meta's copies of it per channel (a Meta media id and when it was uploaded, so
//! that a send reuses it while it lives).

use serde::{Deserialize, Serialize};

/// Where a media came from.
pub mod media_origin {
    /// Uploaded by the business (native API or the Graph surface).
    pub const UPLOAD: &str = "upload";
    /// Downloaded from Meta: an inbound message's media.
    pub const INBOUND: &str = "inbound";
}

/// A media of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// `med_…`
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The bytes' SHA-256, lower-case hex: with the tenant, the object's key.
    pub sha256: String,
    /// Its MIME type (checked against the bytes).
    pub mime_type: String,
    /// Bytes.
    pub file_size: u64,
    /// The file's name, when it came with one.
    pub filename: Option<String>,
    /// [`media_origin`].
    pub origin: String,
    /// Stored (ms).
    pub created_at: i64,
    /// Last stored, sent or read (ms): retention counts from it.
    pub last_used_at: i64,
}

/// What deleting a media did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDeleted {
    /// The media as it was.
    pub media: Media,
    /// No other media of the tenant has the same bytes: the object may go.
    pub object_unused: bool,
}

/// Meta's copy of a media for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaCopy {
    /// Meta's media id.
    pub meta_media_id: String,
    /// When it was uploaded to Meta (ms): Meta keeps it for a limited time.
    pub uploaded_at: i64,
}

/// The states of a [`Download`].
pub mod download_state {
    /// To fetch (again, once `next_at` has come).
    pub const PENDING: &str = "pending";
    /// Fetched: the media is stored.
    pub const STORED: &str = "stored";
    /// Given up: the message's `error` says why.
    pub const FAILED: &str = "failed";
}

/// An inbound message's media, to fetch from Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDownload {
    /// The gateway id the media will have once fetched (`med_…`), chosen in advance.
    pub media_id: String,
    /// Meta's media id, as the webhook gave it.
    pub meta_media_id: String,
    /// The MIME type the webhook gave.
    pub mime_type: String,
    /// The bytes' SHA-256 as Meta's webhook gave it (base64), when it did.
    pub sha256: Option<String>,
    /// The file's name (documents), when it came with one.
    pub filename: Option<String>,
}

/// A download job: an inbound message's media, fetched from Meta into the object store.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    /// The inbound message (one job per message).
    pub message_id: String,
    /// Owner.
    pub tenant_id: String,
    /// The channel the message came on (whose token fetches the media).
    pub channel_id: String,
    /// The media's gateway id, `med_…` (a media of that id exists once stored).
    pub media_id: String,
    /// Meta's media id.
    pub meta_media_id: String,
    /// The MIME type the webhook gave.
    pub mime_type: String,
    /// The bytes' SHA-256 as Meta's webhook gave it (base64).
    pub sha256: Option<String>,
    /// The file's name, when it came with one.
    pub filename: Option<String>,
    /// [`download_state`].
    pub state: String,
    /// Claims so far, the latest included.
    pub attempts: u32,
    /// When it is due (ms).
    pub next_at: i64,
    /// Why the latest attempt failed, when one did.
    pub error: Option<serde_json::Value>,
    /// Created with its message (ms).
    pub created_at: i64,
    /// Last changed (ms).
    pub updated_at: i64,
}
