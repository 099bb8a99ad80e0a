//! Axum's own refusals of a request, answered again in the surface's envelope.
//!
//! An extractor refuses a request before any handler runs (a body over the limit, a query
//! string or a path that does not parse, a form that is not one) and answers it in plain text.
//! Every surface answers every failure in its own envelope (the native one, Meta's, each
//! vendor's), so each surface's routes are layered with [`envelope`] and the surface's maker of
//! errors: the refusal keeps its status and its text, in the envelope the surface's clients
//! read. A new extractor on a surface's route is covered without a change here.

use axum::body::to_bytes;
use axum::http::{StatusCode, header};
use axum::middleware::{MapResponseLayer, map_response};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::Pin;

/// The most of a refusal's text kept (axum's are a line long).
const TEXT_MAX: usize = 4 * 1024;

/// Whether `resp` is an extractor's refusal: a client error in plain text. The surfaces' own
/// errors are JSON, and their other client errors (a `416`, a `405`) have no body.
fn is_refusal(resp: &Response) -> bool {
    resp.status().is_client_error()
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"))
}

/// `resp` as is, or, when it is an extractor's refusal, `answer(status, text)`.
pub async fn rewrap<E: IntoResponse>(
    resp: Response,
    answer: impl FnOnce(StatusCode, String) -> E,
) -> Response {
    if !is_refusal(&resp) {
        return resp;
    }
    let status = resp.status();
    let text = to_bytes(resp.into_body(), TEXT_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request could not be read")
            .to_string()
    } else {
        text
    };
    answer(status, text).into_response()
}

/// The future [`envelope`]'s layer runs on each answer.
type Rewrapped = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A layer answering the extractors' refusals on a surface's routes as `answer` makes its
/// errors, from the refusal's status and text.
pub fn envelope<E: IntoResponse + 'static>(
    answer: fn(StatusCode, String) -> E,
) -> MapResponseLayer<impl Fn(Response) -> Rewrapped + Clone, (), ()> {
    map_response(move |resp: Response| -> Rewrapped { Box::pin(rewrap(resp, answer)) })
}

/// A refusal on the native API: `payload_too_large` (413), `unsupported_media_type` (415),
/// else `invalid_request`, with axum's text as the message.
pub fn native(status: StatusCode, text: String) -> super::error::ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_request",
    };
    super::error::ApiError::new(status, code, text)
}

/// A refusal on the Cloud-API-compatible surface: Meta's code 100 (what Meta answers a request
/// it cannot read), with the refusal's status.
pub fn graph(status: StatusCode, text: String) -> super::error::GraphError {
    let mut e = openbsp_wire::MetaError::invalid_parameter(text);
    e.http_status = status.as_u16();
    e.into()
}
