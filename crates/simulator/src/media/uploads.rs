//! Meta's resumable uploads (reference §5.6), which give template header samples their
//! handles: a session (`upload:<id>`) of a declared name, length and type
//! (`image/jpeg`, `image/png`, `video/mp4`, `application/pdf`), filled in chunks at
//! increasing offsets; once complete, its content is checked against its type and it gets
//! a handle (`4::<base64 of the type>:AR…`) that a template's `example.header_handle` may
//! name.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openbsp_wire::media::{essence, matches_content};
use rand::Rng;

/// The types a resumable upload takes.
pub use openbsp_wire::media::SAMPLE_TYPES as UPLOAD_TYPES;

/// A resumable upload session.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// The app it was opened on (it goes into the handle).
    pub(crate) app_id: String,
    pub(crate) file_length: u64,
    pub(crate) file_type: String,
    pub(crate) data: Vec<u8>,
    /// Its handle, once complete.
    pub(crate) handle: Option<String>,
}

/// Sessions by id (`upload:…`) and the handles issued, with their type.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    sessions: HashMap<String, Upload>,
    handles: HashMap<String, String>,
}

/// Why a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// No such session.
    Unknown,
    /// `file_offset` is not where the upload stands (it stands at `.0`).
    Offset(u64),
    /// The bytes go past `file_length`.
    TooLong(u64),
    /// The complete content is not of the declared type (why).
    Content(String),
}

/// Where a session stands after a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkOutcome {
    /// More bytes are expected; the offset reached.
    Partial(u64),
    /// Complete: the handle.
    Complete(String),
}

fn random_b64(n: usize) -> String {
    let mut raw = vec![0u8; n];
    rand::rng().fill(raw.as_mut_slice());
    URL_SAFE_NO_PAD.encode(raw)
}

impl Uploads {
    /// Opens a session; `file_type` must be one of [`UPLOAD_TYPES`] (the route checks).
    /// Returns its id, `upload:…`.
    pub(crate) fn start(
        &mut self,
        app_id: &str,
        file_name: &str,
        file_length: u64,
        file_type: &str,
    ) -> String {
        let raw = format!("1:{}?file_name={file_name}", random_b64(12));
        let id = format!("upload:{}", URL_SAFE_NO_PAD.encode(raw));
        self.sessions.insert(
            id.clone(),
            Upload {
                app_id: app_id.to_string(),
                file_length,
                file_type: essence(file_type),
                data: Vec::new(),
                handle: None,
            },
        );
        id
    }

    /// How many bytes session `id` has received.
    pub(crate) fn offset(&self, id: &str) -> Option<u64> {
        self.sessions.get(id).map(|u| u.data.len() as u64)
    }

    /// Adds `bytes` at `offset` to session `id`. When the session is complete its content
    /// is checked against its type (a mismatch ends the session) and it gets its handle,
    /// which expires 30 days after `now_ms`.
    pub(crate) fn chunk(
        &mut self,
        id: &str,
        offset: u64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<ChunkOutcome, ChunkError> {
        let u = self.sessions.get_mut(id).ok_or(ChunkError::Unknown)?;
        let at = u.data.len() as u64;
        if let Some(h) = &u.handle
            && bytes.is_empty()
        {
            return Ok(ChunkOutcome::Complete(h.clone()));
        }
        if offset != at || u.handle.is_some() {
            return Err(ChunkError::Offset(at));
        }
        if at + bytes.len() as u64 > u.file_length {
            return Err(ChunkError::TooLong(u.file_length));
        }
        u.data.extend_from_slice(bytes);
        let reached = u.data.len() as u64;
        if reached < u.file_length {
            return Ok(ChunkOutcome::Partial(reached));
        }
        if let Err(why) = matches_content(&u.file_type, &u.data) {
            self.sessions.remove(id);
            return Err(ChunkError::Content(why));
        }
        let handle = format!(
            "4::{}:AR{}:e:{}:{}:{}:AR{}",
            STANDARD.encode(u.file_type.as_bytes()),
            random_b64(60),
            (now_ms / 1000) + 30 * 24 * 3600,
            u.app_id,
            rand::rng().random_range(100_000_000_000_000u64..200_000_000_000_000),
            random_b64(30),
        );
        u.handle = Some(handle.clone());
        let file_type = u.file_type.clone();
        self.handles.insert(handle.clone(), file_type);
        Ok(ChunkOutcome::Complete(handle))
    }

    /// The type of the upload a handle was issued for; `None` if it was not issued here.
    pub(crate) fn handle_type(&self, handle: &str) -> Option<String> {
        self.handles.get(handle).cloned()
    }
}
