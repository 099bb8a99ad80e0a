//! Reading a native request's URL: its query string ([`Query`]) and the NUL a path may hold
//! ([`nul_in_path`]).
//!
//! No text the API takes holds NUL (`%00`), and PostgreSQL can store or compare none (its
//! `text` refuses it): a filter or an id with one is answered here, alike on both backends,
//! rather than failing in the store.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Whether a raw (percent-encoded) path or query holds an encoded NUL.
fn encodes_nul(raw: &str) -> bool {
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// A query string read into `T`, or 400 in the native envelope: one that does not parse
/// (axum's text as the message), or one that holds NUL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.query().is_some_and(encodes_nul) {
            return Err(ApiError::bad_request(
                "query parameters must not contain NUL (%00)",
            ));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// A middleware for the native routes: a path holding NUL names nothing that exists (no id
/// has one), so it is not found, as an unknown id is.
pub async fn nul_in_path(request: Request, next: Next) -> Response {
    if encodes_nul(request.uri().path()) {
        return ApiError::not_found("an id with NUL (%00)").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::encodes_nul;

    #[test]
    fn an_encoded_nul_is_seen() {
        assert!(encodes_nul("name=a%00b"));
        assert!(encodes_nul("/v1/messages/%00"));
        assert!(!encodes_nul("name=%E2%82%AC&limit=100"));
        assert!(!encodes_nul("/v1/messages/msg_100"));
    }
}
