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
use crate::http::error::{Cause, Logged, chain};
use crate::http::request_id;

/// An error on the ChakraHQ surface.
#[derive(Debug)]
pub struct ChakraError {
    /// HTTP status.
    pub status: StatusCode,
    /// Meta's code when WhatsApp refuses, else the HTTP status.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
    /// Meta's code, when WhatsApp's rules (or Meta) refuse.
    pub meta_code: Option<i64>,
    /// Meta's subcode (template management), when it has one.
    pub meta_subcode: Option<i64>,
    /// What exactly was wrong, naming the field, when known.
    pub details: Option<String>,
    /// What caused a 5xx (logged, never shown).
    pub cause: Option<Cause>,
}

impl ChakraError {
    fn new(status: StatusCode, message: impl Into<String>) -> ChakraError {
        ChakraError {
            status,
            code: i64::from(status.as_u16()),
            message: message.into(),
            meta_code: None,
            meta_subcode: None,
            details: None,
            cause: None,
        }
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

    /// The same with the field named.
    pub fn details(mut self, details: impl Into<String>) -> ChakraError {
        self.details = Some(details.into());
        self
    }

    /// 500, logged with its cause.
    pub fn internal(cause: impl Into<Cause>) -> ChakraError {
        let mut e = ChakraError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The gateway failed to handle this request; quote _meta.requestId when reporting it",
        );
        e.cause = Some(cause.into());
        e
    }
}

/// WhatsApp's refusal: Meta's code, Meta's HTTP status.
impl From<MetaError> for ChakraError {
    fn from(m: MetaError) -> Self {
        ChakraError {
            status: StatusCode::from_u16(m.http_status).unwrap_or(StatusCode::BAD_REQUEST),
            code: m.code,
            message: m.message,
            meta_code: Some(m.code),
            meta_subcode: m.subcode,
            details: m.details,
            cause: None,
        }
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
        let logged = self.cause.is_some();
        if let Some(cause) = &self.cause {
            tracing::error!(request.id = %meta.request_id, code = self.code, cause = %chain(cause.as_ref()), "request failed");
        }
        let body = Envelope {
            _data: None,
            _meta: meta,
            _errors: [Item {
                code: self.code,
                message: self.message,
                status: self.status.as_u16(),
                meta_code: self.meta_code,
                meta_subcode: self.meta_subcode,
                details: self.details,
            }],
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if logged {
            resp.extensions_mut().insert(Logged);
        }
        resp
    }
}
