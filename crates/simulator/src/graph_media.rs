//! The Graph API's media routes, answering as Meta does (reference §5.6; the state is in
//! [`crate::media`]):
//!
//! - `POST /{version}/{phone_number_id}/media` (multipart `messaging_product`, `file`,
//!   `type`) → `{"id"}`;
//! - `GET /{version}/{media_id}[?phone_number_id=]` → `{messaging_product, url, mime_type,
//!   sha256 (hex), file_size, id}`, and `DELETE` → `{"success": true}`;
//! - the download URL, `/whatsapp_business/attachments/?mid=&ext=&hash=` (5 minutes, the
//!   bearer token of the owner's WABA; single `Range`s answered with 206);
//! - resumable uploads: `POST /{version}/{app_id}/uploads`, `POST|GET /{version}/upload:<id>`.
//!
//! `GET|DELETE /{version}/{id}` and `POST /{version}/upload:<id>` come here through
//! [`crate::graph_objects`]. The checks other routes make with media are theirs: the media
//! ids of sends in [`crate::graph`], template header samples in [`crate::graph_templates`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use openbsp_wire::MetaError;
use openbsp_wire::media::{MediaKind, TYPES, essence, matches_content};

use crate::graph::{
    GraphError, RawQuery, answer, authorize, bearer, graph_json, host, is_version, media_error,
    query_of, unknown_object_on, unknown_path,
};
use crate::media::uploads::{ChunkError, ChunkOutcome, UPLOAD_TYPES};
use crate::media::{CHUNK, Media, MediaContent, MediaOrigin, NewMedia};
use crate::state::SimState;

/// Largest request body of the media routes (uploads, chunks): more than any kind takes.
pub(crate) const MAX_UPLOAD_BODY: usize = 200 * 1024 * 1024;

fn ok(body: &Value) -> Result<Response, GraphError> {
    Ok(graph_json(StatusCode::OK, body))
}

/// The token of `Authorization: OAuth <token>` or `Bearer <token>` (or `access_token=`).
fn oauth_or_bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    let from_oauth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("oauth")
                .then(|| token.trim().to_string())
        })
        .filter(|t| !t.is_empty());
    from_oauth.or_else(|| bearer(headers, query))
}

/// The token must be that of one of the simulator's numbers (the app's).
fn check_app_token(state: &SimState, token: Option<String>) -> Result<(), GraphError> {
    let token = token.ok_or_else(MetaError::access_token)?;
    if state.all_numbers().iter().any(|p| p.access_token == token) {
        Ok(())
    } else {
        Err(MetaError::access_token().into())
    }
}

/// `POST /{version}/{phone_number_id}/media`.
pub(crate) async fn post_media(
    State(state): State<Arc<SimState>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let query = query_of(query);
    let result = upload(&state, &version, &phone_number_id, &query, &headers, form).await;
    answer(&state, result).await
}

/// What a media upload form carried.
#[derive(Default)]
struct Form {
    messaging_product: Option<String>,
    mime_type: Option<String>,
    file: Option<(Bytes, Option<String>)>,
}

async fn read_form(form: Result<Multipart, MultipartRejection>) -> Result<Form, GraphError> {
    let unreadable = |e: String| -> GraphError {
        MetaError::invalid_parameter(format!(
            "The request is not a readable multipart/form-data form: {e}"
        ))
        .into()
    };
    let mut form = form.map_err(|e| unreadable(e.body_text()))?;
    let mut out = Form::default();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| unreadable(e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "messaging_product" => {
                out.messaging_product =
                    Some(field.text().await.map_err(|e| unreadable(e.body_text()))?);
            }
            "type" => {
                out.mime_type = Some(field.text().await.map_err(|e| unreadable(e.body_text()))?);
            }
            "file" => {
                let name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(|e| unreadable(e.body_text()))?;
                out.file = Some((bytes, name));
            }
            _ => {}
        }
    }
    Ok(out)
}

async fn upload(
    state: &SimState,
    version: &str,
    phone_number_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!("/{version}/{phone_number_id}/media")));
    }
    let token = bearer(headers, query).ok_or_else(MetaError::access_token)?;
    let phone = state
        .phone_number(phone_number_id)
        .ok_or_else(|| unknown_object_on(phone_number_id, "post"))?;
    authorize(state, &phone.waba_id, &token, || {
        unknown_object_on(phone_number_id, "post")
    })?;
    let form = read_form(form).await?;
    if form.messaging_product.as_deref().map(str::trim) != Some("whatsapp") {
        return Err(MetaError::invalid_parameter(
            "The parameter messaging_product is required and must be whatsapp.",
        )
        .into());
    }
    let Some((bytes, filename)) = form.file else {
        return Err(MetaError::invalid_parameter("The parameter file is required.").into());
    };
    let mime_type = form
        .mime_type
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| MetaError::invalid_parameter("The parameter type is required."))?;
    let kind = MediaKind::of_type(&mime_type).ok_or_else(|| {
        let types: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
        MetaError::invalid_parameter(format!(
            "Param type must be one of {{{}}}, got \"{mime_type}\".",
            types.join(", ")
        ))
    })?;
    let size = bytes.len() as u64;
    if size == 0 {
        return Err(MetaError::invalid_parameter("The parameter file is empty.").into());
    }
    if size > kind.max_bytes() {
        return Err(MetaError::invalid_parameter(format!(
            "The file is {size} bytes; {} media of type {} must be at most {} bytes.",
            kind.name(),
            essence(&mime_type),
            kind.max_bytes()
        ))
        .into());
    }
    matches_content(&mime_type, &bytes).map_err(|why| {
        media_error(format!(
            "The uploaded file is not of the declared type {}: {why}.",
            essence(&mime_type)
        ))
    })?;
    let media = state
        .add_media(NewMedia {
            phone_number_id: phone.phone_number_id.clone(),
            mime_type,
            content: MediaContent::Bytes(bytes),
            filename,
            origin: MediaOrigin::Upload,
        })
        .map_err(|_| unknown_object_on(phone_number_id, "post"))?;
    ok(&json!({"id": media.id}))
}

/// `GET /{version}/{id}` when `id` is a media or an upload session: `None` otherwise.
pub(crate) fn get_object(
    state: &SimState,
    version: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Option<Result<Response, GraphError>> {
    if id.starts_with("upload:") {
        return Some(upload_status(state, version, id, query, headers));
    }
    let media = state.media_by_id(id)?;
    Some((|| {
        let m = media_for(state, version, media, query, headers, "get")?;
        let url = state.media_url(&state.base_url(host(headers)), &m.id);
        ok(&json!({
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": m.mime_type,
            "sha256": m.sha256,
            "file_size": m.file_size,
            "id": m.id,
        }))
    })())
}

/// The media of a `GET`/`DELETE /{version}/{media_id}` with the caller's rights checked:
/// a token of the owner's WABA (190), a live media and, when given, the owner as
/// `phone_number_id` (unknown object otherwise).
fn media_for(
    state: &SimState,
    version: &str,
    m: Media,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    method: &str,
) -> Result<Media, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!("/{version}/{}", m.id)));
    }
    let token = bearer(headers, query).ok_or_else(MetaError::access_token)?;
    let unknown = || unknown_object_on(&m.id, method);
    if !m.live_at(state.now_ms()) {
        return Err(unknown());
    }
    authorize(state, &m.waba_id, &token, unknown)?;
    if query
        .get("phone_number_id")
        .is_some_and(|p| *p != m.phone_number_id)
    {
        return Err(unknown());
    }
    Ok(m)
}

/// `DELETE /{version}/{media_id}[?phone_number_id=]`.
pub(crate) fn delete_object(
    state: &SimState,
    version: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!("/{version}/{id}")));
    }
    let media = state
        .media_by_id(id)
        .ok_or_else(|| unknown_object_on(id, "delete"))?;
    let m = media_for(state, version, media, query, headers, "delete")?;
    if !state.delete_media(&m.id) {
        return Err(unknown_object_on(id, "delete"));
    }
    ok(&json!({"success": true}))
}

/// `POST /{version}/{app_id}/uploads?file_name=&file_length=&file_type=`: opens a
/// resumable upload session.
pub(crate) async fn post_uploads(
    State(state): State<Arc<SimState>>,
    Path((version, app_id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_of(query);
    let result = (|| -> Result<Response, GraphError> {
        if !is_version(&version) {
            return Err(unknown_path(&format!("/{version}/{app_id}/uploads")));
        }
        check_app_token(&state, oauth_or_bearer(&headers, &query))?;
        let file_length = query
            .get("file_length")
            .and_then(|l| l.trim().parse::<u64>().ok())
            .filter(|l| *l > 0)
            .ok_or_else(|| {
                MetaError::invalid_parameter(
                    "The parameter file_length is required and must be a positive integer.",
                )
            })?;
        let file_type = query
            .get("file_type")
            .map(|t| essence(t))
            .unwrap_or_default();
        if !UPLOAD_TYPES.contains(&file_type.as_str()) {
            return Err(MetaError::invalid_parameter(format!(
                "Param file_type must be one of {{{}}}, got \"{file_type}\".",
                UPLOAD_TYPES.join(", ")
            ))
            .into());
        }
        let file_name = query.get("file_name").map_or("file", String::as_str);
        let id = state.start_upload(&app_id, file_name, file_length, &file_type);
        ok(&json!({"id": id}))
    })();
    answer(&state, result).await
}

/// `GET /{version}/upload:<id>`: `{"id", "file_offset"}`.
fn upload_status(
    state: &SimState,
    version: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!("/{version}/{id}")));
    }
    check_app_token(state, oauth_or_bearer(headers, query))?;
    let offset = state
        .upload_offset(id)
        .ok_or_else(|| unknown_object_on(id, "get"))?;
    ok(&json!({"id": id, "file_offset": offset}))
}

/// `POST /{version}/upload:<id>` (header `file_offset`, the raw bytes as body): `None` when
/// `id` is not an upload session id. Complete: `{"h": handle}`; not yet: `{"id",
/// "file_offset"}` (the offset reached).
pub(crate) fn post_object(
    state: &SimState,
    version: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Result<Response, GraphError>> {
    if !id.starts_with("upload:") {
        return None;
    }
    Some((|| {
        if !is_version(version) {
            return Err(unknown_path(&format!("/{version}/{id}")));
        }
        check_app_token(state, oauth_or_bearer(headers, query))?;
        let offset = match headers.get("file_offset").map(|v| v.to_str()) {
            None => 0,
            Some(v) => v
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    MetaError::invalid_parameter(
                        "The file_offset header must be a number of bytes.",
                    )
                })?,
        };
        match state.upload_chunk(id, offset, body) {
            Ok(ChunkOutcome::Complete(h)) => ok(&json!({"h": h})),
            Ok(ChunkOutcome::Partial(n)) => ok(&json!({"id": id, "file_offset": n})),
            Err(ChunkError::Unknown) => Err(unknown_object_on(id, "post")),
            Err(ChunkError::Offset(at)) => Err(MetaError::invalid_parameter(format!(
                "The file_offset header is {offset} but the upload has received {at} bytes: resume at {at}."
            ))
            .into()),
            Err(ChunkError::TooLong(len)) => Err(MetaError::invalid_parameter(format!(
                "The bytes go past file_length ({len} bytes)."
            ))
            .into()),
            Err(ChunkError::Content(why)) => Err(media_error(format!(
                "The uploaded file is not of its file_type: {why}."
            ))),
        }
    })())
}

/// `GET /whatsapp_business/attachments/?mid=&ext=&hash=`: the bytes of a media, with the
/// bearer token of one of its WABA's numbers (401 otherwise); 404 for an expired, forged or
/// unknown URL.
pub(crate) async fn download(
    State(state): State<Arc<SimState>>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_of(query);
    let param = |k: &str| query.get(k).map_or("", String::as_str);
    let Some(media) = state.media_of_url(param("mid"), param("ext"), param("hash")) else {
        return graph_json(
            StatusCode::NOT_FOUND,
            &json!({"error": {
                "message": "URL signature expired or not valid: get a new URL with GET /{media_id}.",
                "type": "NotFound",
                "code": 404,
            }}),
        );
    };
    let token = bearer(&headers, &HashMap::new());
    let authorized = token.is_some_and(|t| {
        authorize(&state, &media.waba_id, &t, || {
            unknown_object_on(&media.id, "get")
        })
        .is_ok()
    });
    if !authorized {
        return GraphError::from(MetaError::access_token()).into_response();
    }
    content_response(&media, &headers)
}

/// A single `Range: bytes=…` of a `len`-byte content: `None` to ignore it (absent, multiple
/// ranges, unreadable), `Some(Err)` when it cannot be satisfied, else the inclusive bounds.
fn range_of(headers: &HeaderMap, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .trim()
        .strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len - 1)));
    }
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        len.saturating_sub(1)
    } else {
        b.parse::<u64>().ok()?.min(len.saturating_sub(1))
    };
    if start >= len || end < start {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

/// The bytes `start..end` of `content` as a body: a slice of bytes held, or streamed as
/// generated ([`CHUNK`]s at a time).
fn body_of(content: &MediaContent, start: u64, end: u64) -> Body {
    match content {
        MediaContent::Bytes(_) => Body::from(content.range(start, end)),
        MediaContent::Generated(_) => {
            let content = content.clone();
            let chunks = futures::stream::unfold(start, move |pos| {
                let content = content.clone();
                async move {
                    (pos < end).then(|| {
                        let next = (pos + CHUNK as u64).min(end);
                        (Ok::<_, Infallible>(content.range(pos, next)), next)
                    })
                }
            });
            Body::from_stream(chunks)
        }
    }
}

/// The content of a media as an HTTP answer: `Content-Type`, `Content-Length`, a single
/// `Range` answered with 206 (416 when it cannot be satisfied).
pub(crate) fn content_response(m: &Media, headers: &HeaderMap) -> Response {
    let len = m.file_size;
    let content_type = HeaderValue::from_str(&m.mime_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let (status, start, end) = match range_of(headers, len) {
        None => (StatusCode::OK, 0, len),
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        Some(Err(())) => {
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return resp;
        }
    };
    let mut resp = Response::new(body_of(&m.content, start, end));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(h: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(h).unwrap());
        range_of(&headers, len)
    }

    #[test]
    fn ranges_are_read_like_http() {
        assert_eq!(range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(range("bytes=100-", 100), Some(Err(())));
        assert_eq!(range("bytes=5-4", 100), Some(Err(())));
        assert_eq!(range("bytes=0-1,5-6", 100), None);
        assert_eq!(range("items=0-1", 100), None);
    }
}
