//! Talqui's error envelope, and the one place where a [`CoreError`] becomes one.
//!
//! Talqui's own error format is not public (`reference/vendors.md` §1.3), so the surface keeps
//! one envelope in Talqui's field style (camelCase, `…ID` suffixes), documented in
//! `docs/migrating-talqui.md`:
//!
//! ```json
//! {"error": {"code": "campaign_model_required", "message": "…", "metaCode": 131047,
//!            "field": "campaignModelID", "requestID": "req_…"}}
//! ```
//!
//! `code` is stable for machines; `metaCode` is WhatsApp's code when the refusal is one of
//! Meta's rules (applied by the core before anything is sent); `field` names the request field
//! at fault, when one is. A 5xx is logged here with its cause chain and shown only as its
//! request id.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::TemplateError;
use serde::Serialize;

use crate::core::CoreError;
use crate::http::error::{Cause, Logged, logged_request_id};

/// An error on the Talqui surface.
#[derive(Debug)]
pub struct TalquiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`unauthorized`, `campaign_model_required`, …).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field at fault (`contactExternalID`, `campaignVariables`, …).
    pub field: Option<&'static str>,
    /// WhatsApp's (Meta's) error code, where one applies.
    pub meta_code: Option<i64>,
    /// What caused a 5xx (logged, never shown).
    pub cause: Option<Cause>,
}

impl TalquiError {
    /// An error with no field and no Meta code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> TalquiError {
        TalquiError {
            status,
            code,
            message: message.into(),
            field: None,
            meta_code: None,
            cause: None,
        }
    }

    /// 400 `invalid_request` about `field`: a missing field, a wrong type, a bad value.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> TalquiError {
        TalquiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).at(field)
    }

    /// A request that could not be read (axum's refusal): `payload_too_large` (413) for a
    /// body over the limit, else `invalid_request`, with the refusal's status.
    pub fn unreadable(status: StatusCode, message: impl Into<String>) -> TalquiError {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_request",
        };
        TalquiError::new(status, code, message)
    }

    /// 401 `unauthorized`: no `PluginConnection` credential, or not a live key.
    pub fn unauthorized() -> TalquiError {
        TalquiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid credential is required: Authorization: PluginConnection <API key>",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> TalquiError {
        TalquiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `campaign_model_not_found`.
    pub fn no_model(message: impl Into<String>) -> TalquiError {
        TalquiError::new(StatusCode::NOT_FOUND, "campaign_model_not_found", message)
            .at("campaignModelID")
    }

    /// 500, logged with its cause.
    pub fn internal(cause: impl Into<Cause>) -> TalquiError {
        let mut e = TalquiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the gateway failed to handle this request; quote the requestID when reporting it",
        );
        e.cause = Some(cause.into());
        e
    }

    /// The same error about `field`.
    pub fn at(mut self, field: &'static str) -> TalquiError {
        self.field = Some(field);
        self
    }

    /// One of Meta's rules broken by the value of `field` (a phone number, the first message):
    /// 400 with Meta's code and details.
    pub fn meta_in(field: &'static str, e: &MetaError) -> TalquiError {
        let mut out = from_meta(e).at(field);
        out.message = format!("{field}: {}", out.message);
        out
    }
}

impl From<CoreError> for TalquiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { what, .. } => not_found(&what),
            CoreError::Conflict { code, message } => {
                TalquiError::new(StatusCode::CONFLICT, code, message)
            }
            CoreError::KeyReused { first } => TalquiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!("this Idempotency-Key was used for a different request (message {first})"),
            ),
            CoreError::NotSent(id) => TalquiError::new(
                StatusCode::CONFLICT,
                "message_not_sent",
                format!("message {id} has no wamid yet"),
            ),
            CoreError::Refused(m) => from_meta(&m),
            CoreError::TemplateRule(e) => rule_error(&e),
            CoreError::TemplateRefused(m) => template_refusal(&m),
            CoreError::Invalid { field, message } => {
                let e = TalquiError::new(StatusCode::BAD_REQUEST, "invalid_request", message);
                match field {
                    // The core's name for Session Start's ordered body values.
                    Some("variables") => e.at("campaignVariables"),
                    _ => e,
                }
            }
            CoreError::Internal(cause) => TalquiError::internal(cause),
        }
    }
}

/// A core "not found", named after the Talqui field that names the object.
fn not_found(what: &str) -> TalquiError {
    let (code, field) = if what.starts_with("channel") {
        ("plugin_connection_not_found", Some("pluginConnectionID"))
    } else if what.starts_with("template") {
        ("campaign_model_not_found", Some("campaignModelID"))
    } else {
        ("not_found", None)
    };
    let mut e = TalquiError::new(StatusCode::NOT_FOUND, code, format!("{what} not found"));
    e.field = field;
    e
}

/// A refusal with Meta's code, in Talqui's words where Talqui has a rule for it.
pub fn from_meta(e: &MetaError) -> TalquiError {
    let details = e.details.clone().unwrap_or_else(|| e.message.clone());
    let (status, code, message, field) = match e.code {
        codes::REENGAGEMENT => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "campaign_model_required",
            format!(
                "the contact's 24-hour customer service window is closed: on \
                 urn:talqui:whatsapp-cloud:0 a Session Start must then name an approved model in \
                 campaignModelID (messageValue is only its label); free-form text is allowed only \
                 while the contact's window is open ({details})"
            ),
            Some("campaignModelID"),
        ),
        codes::MARKETING_OPT_OUT => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "contact_opted_out",
            details,
            None,
        ),
        codes::SPAM_RATE_LIMIT => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", details, None),
        _ => (
            match e.http_status {
                // Meta's 401 is about its token, never the caller's credential here.
                401 => StatusCode::BAD_REQUEST,
                s => StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST),
            },
            "invalid_request",
            details,
            None,
        ),
    };
    TalquiError {
        status,
        code,
        message,
        field,
        meta_code: Some(e.code),
        cause: None,
    }
}

/// The Talqui code of a template error of Meta's code.
fn template_code(code: i64) -> (&'static str, &'static str) {
    match code {
        codes::TEMPLATE_PARAM_COUNT => ("campaign_variables_mismatch", "campaignVariables"),
        codes::TEMPLATE_TEXT_TOO_LONG
        | codes::TEMPLATE_PARAM_FORMAT
        | codes::TEMPLATE_PARAM_INVALID => ("invalid_campaign_variables", "campaignVariables"),
        codes::TEMPLATE_MISSING => ("campaign_model_not_found", "campaignModelID"),
        codes::TEMPLATE_PAUSED | codes::TEMPLATE_DISABLED => {
            ("campaign_model_unavailable", "campaignModelID")
        }
        _ => ("invalid_campaign_model", "campaignModelID"),
    }
}

/// A template rule broken by the send (the variables' count, length, format).
fn rule_error(e: &TemplateError) -> TalquiError {
    let (code, field) = template_code(e.code);
    TalquiError {
        status: StatusCode::BAD_REQUEST,
        code,
        message: format!("{field}: {} ({})", e.message, e.field),
        field: Some(field),
        meta_code: Some(e.code),
        cause: None,
    }
}

/// Meta's refusal of the model (unknown in that language, paused, disabled…).
fn template_refusal(m: &MetaError) -> TalquiError {
    let mut e = from_meta(m);
    let (code, field) = template_code(m.code);
    e.code = code;
    e.field = Some(field);
    e
}

/// The envelope: `{"error": {…}}`.
#[derive(Debug, Serialize)]
struct Envelope {
    error: ErrorOut,
}

/// One error, in Talqui's field style.
#[derive(Debug, Serialize)]
struct ErrorOut {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    #[serde(rename = "metaCode", skip_serializing_if = "Option::is_none")]
    meta_code: Option<i64>,
    #[serde(rename = "requestID")]
    request_id: String,
}

impl IntoResponse for TalquiError {
    fn into_response(self) -> Response {
        let request_id =
            logged_request_id(self.status, self.code, self.cause.as_ref(), &self.message);
        let body = Envelope {
            error: ErrorOut {
                code: self.code,
                message: self.message,
                field: self.field,
                meta_code: self.meta_code,
                request_id,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("PluginConnection"),
            );
        }
        if self.status.is_server_error() {
            resp.extensions_mut().insert(Logged);
        }
        resp
    }
}
