//! What every HTTP surface shares: the API-key extractors, reading a body and its
//! `Idempotency-Key`, a media form, cursor paging, time filters, the request id, the two error envelopes
//! (and axum's own refusals answered again in a surface's) and the health routes. Nothing here
//! knows an area's rules: those are the core's.

pub mod auth;
pub mod body;
pub mod download;
pub mod error;
pub mod form;
pub mod health;
pub mod openapi;
pub mod paging;
pub mod query;
pub mod rejection;
pub mod request_id;
pub mod time;

/// This gateway's URL as the client reached it (`Host`, and `X-Forwarded-Proto` behind a
/// proxy): for absolute URLs in answers (Meta's `paging.next`, a media's download URL).
pub fn base_url(headers: &axum::http::HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host").unwrap_or("localhost");
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}")
}

/// Adds `Retry-After: 1` to a 429 that has none (a rate limit's refusal, on any surface and in
/// any envelope): the limits are per second, so a second is when to try again.
pub async fn retry_after(mut resp: axum::response::Response) -> axum::response::Response {
    if resp.status() == axum::http::StatusCode::TOO_MANY_REQUESTS
        && !resp.headers().contains_key(axum::http::header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    resp
}
