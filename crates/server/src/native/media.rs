//! `/v1/media`: upload (the raw bytes with their `Content-Type`, streamed), metadata, content
//! (with `Range` and `ETag`), delete (the rules are [`crate::core::media`]').

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::Multipart;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::openapi::{BadRequest, Binary, NotFound, PayloadTooLarge, TenantKey};
use crate::core::{Core, media};
use crate::http::auth::TenantAuth;
use crate::http::error::ApiError;
use crate::http::form::{FormError, media_form};
use crate::http::query::Query;
use crate::views::media::MediaView;

/// The media routes.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
        // The largest media Meta takes (a document), and a form around it.
        .routes(routes!(upload).layer(axum::extract::DefaultBodyLimit::max(
            openbsp_wire::media::INBOUND_MAX_BYTES as usize + 64 * 1024,
        )))
        .routes(routes!(get_one, remove))
        .routes(routes!(content))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// The file's name (else the form part's file name, if any).
    filename: Option<String>,
}

/// A media upload as a form (the Graph surface's shape).
#[derive(ToSchema)]
#[allow(dead_code)] // a description only: the handler streams the form's parts
struct MediaForm {
    /// The file's type, given before `file` (else the part's `Content-Type`).
    #[serde(rename = "type")]
    media_type: Option<String>,
    /// `whatsapp` (optional, ignored).
    messaging_product: Option<String>,
    /// The file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a media.
///
/// The body is the file, its `Content-Type` its type (one WhatsApp takes: `image/jpeg`,
/// `image/png`, `image/webp`, `video/mp4`, `video/3gpp`, `audio/ogg`, `audio/mpeg`,
/// `audio/mp4`, `audio/aac`, `audio/amr`, `text/plain`, `application/pdf`, Office
/// documents); or a `multipart/form-data` form whose `file` part is the file. The bytes are
/// checked against the type and its largest size (5 MB images, 16 MB video and audio, 100 MB
/// documents). Its id then sends it (`{"image": {"id": "med_…"}}`).
#[utoipa::path(post, path = "/v1/media",
    tag = "media",
    operation_id = "upload_media",
    params(UploadQuery),
    request_body(
        description = "The file, or a form with it.",
        content(
            (Binary = "*/*"),
            (MediaForm = "multipart/form-data"),
        )
    ),
    responses(
        (status = 201, description = "Stored.", body = MediaView),
        BadRequest, PayloadTooLarge, TenantKey,
    )
)]
async fn upload(
    State(core): State<Core>,
    auth: TenantAuth,
    Query(q): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    let ct = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let m = if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &core).await.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text())
        })?;
        let stored = match media_form(&core, &auth.tenant_id, &mut form, q.filename).await {
            Ok((stored, _)) => stored,
            Err(FormError::Core(e)) => return Err(e.into()),
            Err(FormError::Form(e)) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    e.body_text(),
                ));
            }
        };
        stored.ok_or_else(|| ApiError::from(media::no_file()))?
    } else {
        let stream = request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        media::upload(&core, &auth.tenant_id, &ct, q.filename, stream).await?
    };
    Ok((StatusCode::CREATED, Json(MediaView::new(&m))))
}

/// Get a media's metadata.
#[utoipa::path(get, path = "/v1/media/{id}",
    tag = "media",
    operation_id = "get_media",
    params(("id" = String, Path, description = "The media (`med_…`).")),
    responses(
        (status = 200, description = "The media.", body = MediaView),
        NotFound, TenantKey,
    )
)]
async fn get_one(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<MediaView>, ApiError> {
    Ok(Json(MediaView::new(
        &media::get(&core, &auth.tenant_id, &id).await?,
    )))
}

/// Delete a media.
///
/// Its bytes go when no other media of the tenant has them.
#[utoipa::path(delete, path = "/v1/media/{id}",
    tag = "media",
    operation_id = "delete_media",
    params(("id" = String, Path, description = "The media (`med_…`).")),
    responses(
        (status = 204, description = "Deleted."),
        NotFound, TenantKey,
    )
)]
async fn remove(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    media::delete(&core, &auth.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `Range: bytes=…` header of one range, against a file of `size` bytes: the bytes asked
/// for, `Ok(None)` for the whole file, `Err` when it cannot be served (416).
fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None); // another unit: ignored, as RFC 9110 allows
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: the whole file
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(s), Ok(e)) if s <= e => s..(e + 1).min(size),
        (Ok(s), Err(_)) if end.is_empty() => s..size,
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => size.saturating_sub(n)..size,
        _ => return Err(()),
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ContentQuery {
    /// With `signature`: when the download URL the Graph surface gave expires (Unix seconds).
    expires: Option<i64>,
    /// With `expires`: the download URL's signature.
    signature: Option<String>,
}

/// Download a media's bytes.
///
/// Streamed; one `Range` is served (206); the `ETag` is the SHA-256 (the bytes never
/// change), answered 304 when `If-None-Match` has it. With the `expires` and `signature` of a
/// URL the Graph surface gave (`GET /{version}/{media_id}`), past its 5 minutes it is not
/// found, as Meta's.
#[utoipa::path(get, path = "/v1/media/{id}/content",
    tag = "media",
    operation_id = "download_media",
    params(
        ("id" = String, Path, description = "The media (`med_…`)."),
        ContentQuery,
        ("Range" = Option<String>, Header, description = "One range of bytes (`bytes=0-1023`, `bytes=-500`)."),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` the client has."),
    ),
    responses(
        (status = 200, description = "The bytes, of the media's type.", content_type = "*/*", body = Binary,
            headers(("ETag" = String, description = "The bytes' SHA-256, quoted."))),
        (status = 206, description = "The range asked for.", content_type = "*/*", body = Binary,
            headers(("Content-Range" = String, description = "`bytes first-last/size`."))),
        (status = 304, description = "The client has these bytes (`If-None-Match`)."),
        BadRequest, NotFound,
        (status = 416, description = "The range is not in the file.",
            headers(("Content-Range" = String, description = "`bytes */size`."))),
        TenantKey,
    )
)]
async fn content(
    State(core): State<Core>,
    auth: TenantAuth,
    Path(id): Path<String>,
    Query(q): Query<ContentQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    media::check_url(&core, &id, q.expires, q.signature.as_deref())?;
    let m = media::get(&core, &auth.tenant_id, &id).await?;
    let etag = format!("\"{}\"", m.sha256);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let Ok(range) = byte_range(&headers, m.file_size) else {
        return Ok((
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{}", m.file_size))],
        )
            .into_response());
    };
    let bytes = media::content(&core, &m, range.clone()).await?;
    let stream = bytes.into_stream();
    let mut resp = Body::from_stream(stream).into_response();
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = resp.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    h.insert(header::CONTENT_TYPE, value(&m.mime_type));
    h.insert(header::ETAG, value(&etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match range {
        Some(r) => {
            h.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes {}-{}/{}", r.start, r.end - 1, m.file_size)),
            );
            h.insert(
                header::CONTENT_LENGTH,
                value(&(r.end - r.start).to_string()),
            );
        }
        None => {
            h.insert(header::CONTENT_LENGTH, value(&m.file_size.to_string()));
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        byte_range(&h, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=95-200", 100), Ok(Some(95..100)));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=5-2", 100), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range(&HeaderMap::new(), 100), Ok(None));
    }
}
