//! A request id for every request: made by a middleware, carried by a tracing span (so every
//! log line of the request has it), sent back in `x-request-id`, and used as the native
//! envelope's `request_id` and as the Cloud API surface's `fbtrace_id`.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled (a fresh one outside any request, e.g. in a unit test).
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| openbsp_domain::ids::new_id("req"))
}

/// Gives the request its id and span, and its response the `x-request-id` header.
pub async fn middleware(req: Request, next: Next) -> Response {
    let id = openbsp_domain::ids::new_id("req");
    // The id alone: the request line (`track_requests`) names the method and the route, and
    // every field here is formatted for every request.
    let span = tracing::info_span!("request", request.id = %id);
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
