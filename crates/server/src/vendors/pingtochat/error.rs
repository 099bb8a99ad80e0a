//! Pingtochat's error envelope, and the one place where a [`CoreError`] becomes it.
//!
//! Pingtochat publishes its error codes but not the JSON they come in (`vendors.md` §2.1), so
//! the envelope is the gateway's, documented in `docs/migrating-pingtochat.md`:
//! `{"error": {"code", "message", "meta_code"?, "meta_subcode"?, "details"?, "request_id"}}`.
//! `code` is Pingtochat's own code where it has one (300 token invalid, 301 key invalid, 305
//! bad `phone_number_id`, 400 recipient required, 403 template content exists, 404 template
//! not found); else Meta's code when WhatsApp's rules refuse (131047, 132000, 100, …); else
//! the HTTP status (409, 422, 500). `meta_code` is Meta's code whenever the refusal is
//! WhatsApp's, beside Pingtochat's where both apply. A 5xx is logged here once with its cause;
//! the client sees the request id, never the cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::subcodes;
use serde::Serialize;

use crate::core::CoreError;
use crate::http::error::{Cause, Refusal, logged_answer};
use crate::http::request_id;

/// Pingtochat's codes (their errors page; `vendors.md` §2.1) that the gateway answers with.
pub mod code {
    /// The `Authorization: Bearer` token is not the key of the path.
    pub const TOKEN_INVALID: i64 = 300;
    /// The `{key}` of the path is no live API key of a tenant.
    pub const KEY_INVALID: i64 = 301;
    /// The `{phone_number_id}` of the path is none of the key's tenant's numbers.
    pub const PHONE_NUMBER_ID_INVALID: i64 = 305;
    /// A send names no recipient (`to` or `recipient`).
    pub const RECIPIENT_REQUIRED: i64 = 400;
    /// A template with this name already has content in this language.
    pub const TEMPLATE_CONTENT_EXISTS: i64 = 403;
    /// No such template (by name and language in a send, by id in an update).
    pub const TEMPLATE_NOT_FOUND: i64 = 404;
}

/// A request body, and it as JSON: unreadable (too large, cut off) in its own status, not
/// JSON or NUL in a string ([`openbsp_wire::json`]) Meta's 100.
pub fn body_json(
    body: Result<bytes::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(bytes::Bytes, serde_json::Value), PingtochatError> {
    let body = body.map_err(|e| {
        PingtochatError::unreadable(
            e.status(),
            format!("The request body could not be read: {e}"),
        )
    })?;
    let v = openbsp_wire::json::read(&body).map_err(|e| {
        PingtochatError::invalid(match e {
            openbsp_wire::json::Unreadable::Syntax(_) => {
                "The request body could not be parsed as JSON."
            }
            openbsp_wire::json::Unreadable::Nul => {
                "The request body's strings must not contain NUL (\\u0000)."
            }
        })
    })?;
    Ok((body, v))
}

/// An error on the Pingtochat surface: `code` is Pingtochat's code, else Meta's, else the HTTP
/// status (see the module doc).
#[derive(Debug)]
pub struct PingtochatError(Refusal);

impl PingtochatError {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> PingtochatError {
        PingtochatError(Refusal::new(status, code, message))
    }

    /// 300: the bearer token is not the path's key.
    pub fn token_invalid() -> PingtochatError {
        PingtochatError::new(
            StatusCode::UNAUTHORIZED,
            code::TOKEN_INVALID,
            "Token invalid: the Authorization bearer token must be the API key of the path (or be left out)",
        )
    }

    /// 301: the path's key is no live tenant key.
    pub fn key_invalid() -> PingtochatError {
        PingtochatError::new(
            StatusCode::UNAUTHORIZED,
            code::KEY_INVALID,
            "Key invalid: the {key} of the path must be a live API key of a tenant",
        )
    }

    /// 305: the path's `phone_number_id` is none of the tenant's numbers (or another
    /// tenant's: never a leak).
    pub fn phone_number_id_invalid(given: &str) -> PingtochatError {
        PingtochatError::new(
            StatusCode::NOT_FOUND,
            code::PHONE_NUMBER_ID_INVALID,
            format!("Invalid phone_number_id: {given} is not a number of this key's account"),
        )
    }

    /// 400: a send without `to` (or `recipient`).
    pub fn recipient_required() -> PingtochatError {
        PingtochatError::new(
            StatusCode::BAD_REQUEST,
            code::RECIPIENT_REQUIRED,
            "Recipient required: give the recipient's phone number in to",
        )
    }

    /// 404: no such template.
    pub fn template_not_found(what: impl Into<String>) -> PingtochatError {
        PingtochatError::new(
            StatusCode::NOT_FOUND,
            code::TEMPLATE_NOT_FOUND,
            format!("Template not found: {}", what.into()),
        )
    }

    /// 400 with Meta's code 100: the request is not readable (not JSON, a wrong type).
    pub fn invalid(message: impl Into<String>) -> PingtochatError {
        MetaError::invalid_parameter(message).into()
    }

    /// A request that could not be read (axum's refusal, or a body's): a body over the
    /// limit keeps its 413 (the code the HTTP status, as Pingtochat has none for it), anything
    /// else is Meta's 100.
    pub fn unreadable(status: StatusCode, message: impl Into<String>) -> PingtochatError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => PingtochatError::new(status, 413, message),
            _ => PingtochatError::invalid(message),
        }
    }

    /// 500, logged with its cause.
    pub fn internal(cause: impl Into<Cause>) -> PingtochatError {
        let mut e = PingtochatError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            "The gateway failed to handle this request; quote the request_id when reporting it",
        );
        e.0.cause = Some(cause.into());
        e
    }
}

/// WhatsApp's refusal, with Pingtochat's code where it has one for it.
impl From<MetaError> for PingtochatError {
    fn from(m: MetaError) -> Self {
        let (status, code) = if m.code == codes::TEMPLATE_MISSING {
            (StatusCode::NOT_FOUND, code::TEMPLATE_NOT_FOUND)
        } else if m.subcode == Some(subcodes::ALREADY_EXISTS) {
            (StatusCode::FORBIDDEN, code::TEMPLATE_CONTENT_EXISTS)
        } else {
            let status = StatusCode::from_u16(m.http_status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, m.code)
        };
        PingtochatError(Refusal::meta(status, code, m))
    }
}

impl From<CoreError> for PingtochatError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { what, id } => {
                if what.starts_with("template") {
                    PingtochatError::template_not_found(id.trim_start_matches("template "))
                } else if what.starts_with("channel") {
                    PingtochatError::phone_number_id_invalid(&id)
                } else {
                    // Any other object (a media, a replied-to message): Meta's unknown object.
                    let mut e = PingtochatError::invalid(format!("{what} not found"));
                    e.0.status = StatusCode::NOT_FOUND;
                    e
                }
            }
            CoreError::Conflict { message, .. } => {
                PingtochatError::new(StatusCode::CONFLICT, 409, message)
            }
            CoreError::KeyReused { first } => PingtochatError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                422,
                format!(
                    "This Idempotency-Key was already used for a different request (message {first})"
                ),
            ),
            CoreError::NotSent(id) => MetaError::invalid_value(format!(
                "Param context.message_id refers to {id}, which has no wamid yet."
            ))
            .into(),
            CoreError::Refused(m) | CoreError::TemplateRefused(m) => m.into(),
            CoreError::TemplateRule(e) => e.to_meta().into(),
            CoreError::Invalid { message, .. } => PingtochatError::invalid(message),
            e @ CoreError::Internal(_) => PingtochatError::internal(e),
        }
    }
}

/// The envelope, as serialized.
#[derive(Serialize)]
struct Envelope {
    error: Body,
}

#[derive(Serialize)]
struct Body {
    code: i64,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_subcode: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<String>,
    request_id: String,
}

impl IntoResponse for PingtochatError {
    fn into_response(self) -> Response {
        let request_id = request_id::current();
        let e = self.0;
        let body = Envelope {
            error: Body {
                code: e.code,
                message: e.message,
                meta_code: e.meta_code,
                meta_subcode: e.meta_subcode,
                details: e.details,
                request_id: request_id.clone(),
            },
        };
        logged_answer(e.status, e.code, &request_id, e.cause.as_ref(), body)
    }
}
