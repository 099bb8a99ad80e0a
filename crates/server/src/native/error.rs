//! The native envelope of every core error: the one place where a [`CoreError`] becomes a
//! status, a stable `code` and a message on `/v1`.

use crate::core::CoreError;
use crate::http::error::{ApiError, ErrorDetail};
use axum::http::StatusCode;
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::{TemplateError, subcodes};

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { what, .. } => ApiError::not_found(&what),
            CoreError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            CoreError::KeyReused { first } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!(
                    "this Idempotency-Key was used for a different request ({} {first})",
                    if first.starts_with("cmp_") {
                        "campaign"
                    } else {
                        "message"
                    }
                ),
            ),
            CoreError::NotSent(id) => ApiError::new(
                StatusCode::CONFLICT,
                "context_not_sent",
                format!("message {id} has no wamid yet, so it cannot be replied to"),
            ),
            CoreError::Refused(m) => from_meta(&m),
            CoreError::TemplateRule(e) => rule_error(&e),
            CoreError::TemplateRefused(m) => template_refusal(&m),
            CoreError::Invalid { message, .. } => ApiError::bad_request(message),
            CoreError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// A refusal carrying Meta's code.
pub fn from_meta(e: &MetaError) -> ApiError {
    let code = match e.code {
        codes::REENGAGEMENT => "window_closed",
        codes::MARKETING_OPT_OUT => "opted_out",
        codes::UNSUPPORTED_MESSAGE_TYPE => "unsupported_message_type",
        codes::SPAM_RATE_LIMIT => "messaging_limit_reached",
        codes::API_TOO_MANY_CALLS => "rate_limited",
        _ => "validation_failed",
    };
    let status = match e.http_status {
        401 => 400,
        // The portfolio's messaging limit: a limit, to be tried again later.
        _ if e.code == codes::SPAM_RATE_LIMIT => 429,
        s => s,
    };
    let mut out = ApiError::new(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        e.details.clone().unwrap_or_else(|| e.message.clone()),
    );
    out.meta_code = Some(e.code);
    out
}

/// The native code of a template error of Meta's code.
fn template_code(code: i64) -> &'static str {
    match code {
        codes::TEMPLATE_MISSING => "template_unavailable",
        codes::TEMPLATE_PAUSED => "template_paused",
        codes::TEMPLATE_DISABLED => "template_disabled",
        codes::TEMPLATE_PARAM_COUNT
        | codes::TEMPLATE_TEXT_TOO_LONG
        | codes::TEMPLATE_PARAM_FORMAT
        | codes::TEMPLATE_PARAM_INVALID => "template_parameters",
        _ => "invalid_template",
    }
}

/// A template rule broken: the rule, the field and Meta's code (and subcode).
pub fn rule_error(e: &TemplateError) -> ApiError {
    let detail = ErrorDetail::Rule {
        field: e.field.clone(),
        message: e.message.clone(),
        meta_subcode: e.subcode,
        rule: e.rule,
    };
    let mut out = ApiError::new(
        StatusCode::BAD_REQUEST,
        template_code(e.code),
        format!("{}: {}", e.field, e.message),
    );
    out.meta_code = Some(e.code);
    out.details = vec![detail];
    out
}

/// Meta's refusal of a template operation (or of a send's template).
fn template_refusal(m: &MetaError) -> ApiError {
    let mut e = from_meta(m);
    let template_code_range = (132000..133000).contains(&m.code);
    if template_code_range || m.subcode.is_some() {
        e.code = template_code(m.code);
    } else if m.code == codes::INVALID_PARAMETER {
        e.code = "invalid_template";
    }
    if let Some(s) = m.subcode {
        e.details = vec![ErrorDetail::MetaSubcode { meta_subcode: s }];
        if s == subcodes::ALREADY_EXISTS || s == subcodes::LANGUAGE_BEING_DELETED {
            e.status = StatusCode::CONFLICT;
            e.code = "template_exists";
        }
    }
    e
}
