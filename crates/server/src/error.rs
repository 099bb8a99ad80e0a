//! The two error shapes of the gateway: the native envelope
//! (`{"error": {code, message, meta_code?, details, request_id}}`) and Meta's Graph error
//! object on the Cloud-API-compatible surface. 5xx causes are logged with a request id and
//! never shown to clients.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openbsp_store::StoreError;
use openbsp_wire::MetaError;
use serde_json::{Value, json};

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
    pub details: Vec<Value>,
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
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the gateway failed to handle this request; quote the request_id when reporting it",
        );
        e.details = vec![json!({"cause": cause.to_string()})];
        e
    }

    /// The same error about a nested object: its message says which (`message: …`).
    pub fn in_field(mut self, field: &str) -> ApiError {
        self.message = format!("{field}: {}", self.message);
        self
    }

    /// A validation failure carrying Meta's code.
    pub fn from_meta(e: &MetaError) -> ApiError {
        let code = match e.code {
            131047 => "window_closed",
            131050 => "opted_out",
            131051 => "unsupported_message_type",
            _ => "validation_failed",
        };
        ApiError {
            status: StatusCode::from_u16(if e.http_status == 401 {
                400
            } else {
                e.http_status
            })
            .unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: e.details.clone().unwrap_or_else(|| e.message.clone()),
            meta_code: Some(e.code),
            details: Vec::new(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(&what),
            StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = openbsp_domain::ids::new_id("req");
        let details = if self.status.is_server_error() {
            let cause = self.details.first().cloned().unwrap_or_default();
            tracing::error!(request.id = %request_id, code = self.code, cause = %cause, "request failed");
            Vec::new()
        } else {
            self.details
        };
        let mut err = json!({
            "code": self.code,
            "message": self.message,
            "details": details,
            "request_id": request_id,
        });
        if let Some(m) = self.meta_code {
            err["meta_code"] = json!(m);
        }
        let mut resp = (self.status, axum::Json(json!({ "error": err }))).into_response();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }
}

/// An error on the Cloud-API-compatible surface, in Meta's shape.
#[derive(Debug)]
pub struct GraphError(pub MetaError);

impl From<MetaError> for GraphError {
    fn from(e: MetaError) -> Self {
        GraphError(e)
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> Self {
        let trace = openbsp_domain::ids::new_id("req");
        tracing::error!(request.id = %trace, error = %e, "store failed on the Graph surface");
        GraphError(MetaError::new(openbsp_wire::error::codes::UNKNOWN, None))
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
        let trace = openbsp_domain::crypto::random_token(12);
        let mut body = self.0.to_graph_json(&trace);
        if self.0.code == 100 && self.0.message.contains("Unsupported post request") {
            body["error"]["error_subcode"] = json!(33);
        }
        let status = StatusCode::from_u16(self.0.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("OAuth \"Facebook Platform\" \"invalid_token\""),
            );
        }
        resp
    }
}
