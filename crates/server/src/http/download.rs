//! A whole media as an HTTP answer: what the keyless public links of the vendor surfaces
//! (ChakraHQ's public media, Connectly's assets) serve.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use openbsp_store::Media;

/// The bytes of `m` (`bytes`, as the object store streams them) with its type, length and
/// ETag, `nosniff`, and private caching for the five minutes a link lasts.
pub fn whole(m: &Media, bytes: object_store::GetResult) -> Response {
    let mut resp = Body::from_stream(bytes.into_stream()).into_response();
    let h = resp.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    h.insert(header::CONTENT_TYPE, value(&m.mime_type));
    h.insert(header::CONTENT_LENGTH, value(&m.file_size.to_string()));
    h.insert(header::ETAG, value(&format!("\"{}\"", m.sha256)));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    resp
}
