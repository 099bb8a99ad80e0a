//! The two error envelopes of the HTTP surfaces: the native one
//! (`{"error": {code, message, meta_code?, details, request_id}}`) and Meta's Graph error
//! object on the Cloud-API-compatible surface (`fbtrace_id` = the request id). A 5xx is logged
//! here, once, with its cause chain, inside the request's span; clients see the request id,
//! never the cause.

use std::error::Error as StdError;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openbsp_wire::MetaError;
use serde::Serialize;
use serde_json::json;

use super::request_id;

/// A cause kept for the log, never shown.
pub type Cause = Box<dyn StdError + Send + Sync>;

/// Marks a response whose failure was already logged with its cause.
#[derive(Debug, Clone, Copy)]
pub struct Logged;

/// The cause chain of an error, outermost first (`a: b: c`).
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// The request's id, after logging a failure of the gateway's own (a 5xx) with its cause (or,
/// without one, its message): what every surface's error does before it answers.
pub fn logged_request_id(
    status: StatusCode,
    code: &str,
    cause: Option<&Cause>,
    message: &str,
) -> String {
    let request_id = request_id::current();
    if status.is_server_error() {
        let cause = cause
            .map(|c| chain(c.as_ref()))
            .unwrap_or_else(|| message.to_string());
        tracing::error!(request.id = %request_id, code, cause = %cause, "request failed");
    }
    request_id
}

/// What a vendor surface's error carries (Pingtochat's, ChakraHQ's): the HTTP status, the
/// surface's code, Meta's code and subcode when WhatsApp refuses, what exactly was wrong, and a
/// 5xx's cause.
#[derive(Debug)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// The surface's code (its own, else Meta's, else the HTTP status).
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

impl Refusal {
    /// A refusal that is not WhatsApp's.
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            meta_code: None,
            meta_subcode: None,
            details: None,
            cause: None,
        }
    }

    /// WhatsApp's refusal `m`, answered with `status` and `code`.
    pub fn meta(status: StatusCode, code: i64, m: MetaError) -> Refusal {
        Refusal {
            status,
            code,
            message: m.message,
            meta_code: Some(m.code),
            meta_subcode: m.subcode,
            details: m.details,
            cause: None,
        }
    }
}

/// A surface's error answer: `body` with `status`, after logging the failure once with its
/// `cause` when it has one (the response then marked [`Logged`]).
pub fn logged_answer<C: tracing::Value>(
    status: StatusCode,
    code: C,
    request_id: &str,
    cause: Option<&Cause>,
    body: impl Serialize,
) -> Response {
    if let Some(cause) = cause {
        tracing::error!(request.id = %request_id, code, cause = %chain(cause.as_ref()), "request failed");
    }
    let mut resp = (status, axum::Json(body)).into_response();
    if cause.is_some() {
        resp.extensions_mut().insert(Logged);
    }
    resp
}

/// An error on the native API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`not_found`, `window_closed`, …).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Meta's code, where one applies.
    pub meta_code: Option<i64>,
    /// Field-level details.
    pub details: Vec<ErrorDetail>,
    /// What caused a 5xx (logged, never shown).
    pub cause: Option<Cause>,
}

impl ApiError {
    /// An error with no Meta code and no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            meta_code: None,
            details: Vec::new(),
            cause: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 `not_found` (also for other tenants' objects: never a leak).
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 500, logged with its cause.
    pub fn internal(cause: impl Into<Cause>) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the gateway failed to handle this request; quote the request_id when reporting it",
        );
        e.cause = Some(cause.into());
        e
    }

    /// The same error about a nested object: its message says which (`message: …`).
    pub fn in_field(mut self, field: &str) -> ApiError {
        self.message = format!("{field}: {}", self.message);
        self
    }
}

/// One field-level detail of a native error: which of these it is shows in its keys.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// A template rule broken (of a definition, or of a send's parameters).
    Rule {
        /// Where: `components[1].text`, `template.components[0].parameters[1]`, `name`, ….
        field: String,
        /// What is wrong and how to fix it, for a person.
        message: String,
        /// Meta's subcode, for the rules of a definition that have one.
        #[serde(skip_serializing_if = "Option::is_none")]
        meta_subcode: Option<i64>,
        /// A stable name for the rule (`body_too_long`, `variable_at_start`, …).
        rule: &'static str,
    },
    /// Meta's subcode of a refusal of a template operation.
    // One property, so that a rule's detail (which may carry a subcode too) is never read as
    // this one: the description's `oneOf` holds for every detail.
    #[schema(max_properties = 1)]
    MetaSubcode {
        /// The subcode (`2388023`, …).
        meta_subcode: i64,
    },
}

/// The native error envelope: `{"error": {…}}`. Fields in sorted order, as the views
/// (see [`crate::views`]), so the bytes are those of the sorted `Value` it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(
    description = "The native error envelope: `{\"error\": {…}}`, every error of the native API."
)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorView,
}

/// A native error.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorView {
    /// Stable machine-readable code (`not_found`, `window_closed`, …).
    pub code: &'static str,
    /// Field-level details (empty when there are none).
    pub details: Vec<ErrorDetail>,
    /// What went wrong, for a person.
    pub message: String,
    /// Meta's code, only where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_code: Option<i64>,
    /// The request's id (`req_…`, also in `x-request-id`): quote it when reporting a
    /// problem.
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id =
            logged_request_id(self.status, self.code, self.cause.as_ref(), &self.message);
        let body = ErrorEnvelope {
            error: ErrorView {
                code: self.code,
                details: self.details,
                message: self.message,
                meta_code: self.meta_code,
                request_id,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status.is_server_error() {
            resp.extensions_mut().insert(Logged);
        }
        resp
    }
}

/// An error on the Cloud-API-compatible surface, in Meta's shape.
#[derive(Debug)]
pub struct GraphError {
    /// Meta's error object.
    pub error: MetaError,
    /// What caused a 5xx-class failure (logged, never shown).
    pub cause: Option<Cause>,
}

impl From<MetaError> for GraphError {
    fn from(error: MetaError) -> Self {
        GraphError { error, cause: None }
    }
}

/// Meta's answer for an object id that does not exist (or is not yours): 400, code 100,
/// subcode 33.
pub fn unknown_object(id: &str) -> MetaError {
    let mut e = MetaError::invalid_parameter(format!(
        "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
    ));
    e.details = None;
    e
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let trace = request_id::current();
        if let Some(cause) = &self.cause {
            tracing::error!(request.id = %trace, code = self.error.code, cause = %chain(cause.as_ref()), "request failed");
        }
        let mut body = self.error.to_graph_json(&trace);
        if self.error.code == 100 && self.error.message.contains("Unsupported post request") {
            body["error"]["error_subcode"] = json!(33);
        }
        let status =
            StatusCode::from_u16(self.error.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("OAuth \"Facebook Platform\" \"invalid_token\""),
            );
        }
        if self.cause.is_some() {
            resp.extensions_mut().insert(Logged);
        }
        resp
    }
}
