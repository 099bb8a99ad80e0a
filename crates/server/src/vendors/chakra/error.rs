//! ChakraHQ's error envelope, and the one place where a [`CoreError`] becomes it.
//!
//! ChakraHQ answers every call in `{"_data", "_meta", "_errors"}` (its "Response Format"
//! page, `vendors.md` §3.1) but does not publish the shape of an `_errors` item, so the item
//! is the gateway's, documented in `docs/migrating.md`:
//! `{"_data": null, "_meta": {"requestId"}, "_errors": [{"code", "message", "status",
//! "metaCode"?, "metaSubcode"?, "details"?}]}`. `code` is Meta's code when WhatsApp's rules
//! (or Meta) refuse (131047, 132000, 132001, 100, …), else the HTTP status (401, 404, …);
//! `metaCode` repeats Meta's code whenever the refusal is WhatsApp's. A 5xx is logged here
//! once with its cause; the client sees the request id, never the cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openbsp_wire::MetaError;
use serde::Serialize;

use crate::core::CoreError;
use crate::http::error::{Cause, Refusal, logged_answer};
use crate::http::request_id;

/// An error on the ChakraHQ surface: `code` is Meta's code when WhatsApp refuses, else the
/// HTTP status.
#[derive(Debug)]
pub struct ChakraError(Refusal);

impl ChakraError {
    fn new(status: StatusCode, message: impl Into<String>) -> ChakraError {
        ChakraError(Refusal::new(status, i64::from(status.as_u16()), message))
    }

    /// 401: no `Authorization: Bearer <API key>`, or not a live key.
    pub fn unauthorized() -> ChakraError {
        ChakraError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: send the tenant's API key as Authorization: Bearer <API key>",
        )
    }

    /// 403: an admin key, which belongs to no tenant.
    pub fn forbidden(message: impl Into<String>) -> ChakraError {
        ChakraError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: the path names nothing of this key's tenant (another tenant's: never a leak).
    pub fn not_found(message: impl Into<String>) -> ChakraError {
        ChakraError::new(StatusCode::NOT_FOUND, message)
    }

    /// 400 without Meta's code: the request is not one the gateway can route (an empty
    /// `phoneNumberId` on a plugin with several numbers, a version that is none).
    pub fn bad_request(message: impl Into<String>) -> ChakraError {
        ChakraError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 with Meta's code 100: the body is not readable (not JSON, a wrong type).
    pub fn invalid(message: impl Into<String>) -> ChakraError {
        MetaError::invalid_parameter(message).into()
    }

    /// A request that could not be read (axum's refusal, or a body's): a body over the
    /// limit keeps its 413 (the code the HTTP status, as ChakraHQ has none for it), anything
    /// else is Meta's 100.
    pub fn unreadable(status: StatusCode, message: impl Into<String>) -> ChakraError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ChakraError::new(status, message),
            _ => ChakraError::invalid(message),
        }
    }

    /// The same with the field named.
    pub fn details(mut self, details: impl Into<String>) -> ChakraError {
        self.0.details = Some(details.into());
        self
    }

    /// 500, logged with its cause.
    pub fn internal(cause: impl Into<Cause>) -> ChakraError {
        let mut e = ChakraError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The gateway failed to handle this request; quote _meta.requestId when reporting it",
        );
        e.0.cause = Some(cause.into());
        e
    }
}

/// WhatsApp's refusal: Meta's code, Meta's HTTP status.
impl From<MetaError> for ChakraError {
    fn from(m: MetaError) -> Self {
        let status = StatusCode::from_u16(m.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let code = m.code;
        ChakraError(Refusal::meta(status, code, m))
    }
}

impl From<CoreError> for ChakraError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { what, .. } => ChakraError::not_found(format!(
                "{what} not found (or not of this API key's account)"
            )),
            CoreError::Conflict { message, .. } => ChakraError::new(StatusCode::CONFLICT, message),
            CoreError::KeyReused { first } => ChakraError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "This Idempotency-Key was already used for a different request (message {first})"
                ),
            ),
            CoreError::NotSent(id) => MetaError::invalid_value(format!(
                "Param message_id refers to {id}, which has no wamid yet."
            ))
            .into(),
            CoreError::Refused(m) | CoreError::TemplateRefused(m) => m.into(),
            CoreError::TemplateRule(e) => e.to_meta().into(),
            CoreError::Invalid { message, .. } => ChakraError::invalid(message),
            e @ CoreError::Internal(_) => ChakraError::internal(e),
        }
    }
}

/// `_meta` of every answer: the request's id (also in the `x-request-id` header).
#[derive(Serialize)]
pub struct Meta {
    /// `req_…`
    #[serde(rename = "requestId")]
    pub request_id: String,
}

impl Meta {
    /// The current request's.
    pub fn current() -> Meta {
        Meta {
            request_id: request_id::current(),
        }
    }
}

#[derive(Serialize)]
struct Envelope {
    _data: Option<()>,
    _meta: Meta,
    _errors: [Item; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    code: i64,
    message: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_subcode: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<String>,
}

impl IntoResponse for ChakraError {
    fn into_response(self) -> Response {
        let meta = Meta::current();
        let e = self.0;
        let request_id = meta.request_id.clone();
        let body = Envelope {
            _data: None,
            _meta: meta,
            _errors: [Item {
                code: e.code,
                message: e.message,
                status: e.status.as_u16(),
                meta_code: e.meta_code,
                meta_subcode: e.meta_subcode,
                details: e.details,
            }],
        };
        logged_answer(e.status, e.code, &request_id, e.cause.as_ref(), body)
    }
}
