//! Connectly's error shape, and the one place where a [`CoreError`] becomes it.
//!
//! Connectly answers errors as (`vendors.md` §4.2):
//! `{"message", "type": "ERROR_TYPE_…", "code": "ERROR_CODE_…", "userTitle", "userMessage",
//! "cntTraceId", "details": {}}`. `cntTraceId` is the gateway's request id. `code` is one of
//! Connectly's documented names where one fits (outside the window, opted out, template not
//! found, template input invalid, bad number, invalid sender, …); the rest are named in the
//! same style and listed in `docs/migrating.md`. Whenever WhatsApp's rules (or Meta) refuse,
//! Meta's code is beside it in `details.metaCode` (and `details.metaSubcode`,
//! `details.metaDetails`). A 5xx is logged here once with its cause; the client sees the
//! trace id, never the cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::subcodes;
use serde_json::{Map, Value, json};

use crate::core::CoreError;
use crate::http::error::{Cause, logged_answer};
use crate::http::request_id;

/// Connectly's error codes the gateway answers with (their error-codes page, `vendors.md`
/// §4.2, and a few in their style where they document none).
pub mod code {
    /// No `X-API-Key` header.
    pub const KEY_SECRET_ABSENT: &str = "ERROR_CODE_BUSINESS_KEY_SECRET_ABSENT";
    /// The `X-API-Key` is no live API key.
    pub const UNAUTHORIZED: &str = "ERROR_CODE_UNAUTHORIZED";
    /// The key is not a key of the path's `{businessId}` (or is an admin key).
    pub const PERMISSION_DENIED: &str = "ERROR_CODE_PERMISSION_DENIED";
    /// `sender` is none of the business's numbers.
    pub const INVALID_SENDER_ID: &str = "ERROR_CODE_INVALID_SENDER_ID";
    /// No `sender`, and the business has no number or several.
    pub const MISSES_MATCHING_CHANNEL: &str = "ERROR_CODE_BUSINESS_MISSES_MATCHING_CHANNEL";
    /// `number` is no phone number (nor `bsuid:…`).
    pub const PHONE_NUMBER_BAD_FORMAT: &str = "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT";
    /// WhatsApp cannot deliver to that number.
    pub const PHONE_NUMBER_INVALID: &str = "ERROR_CODE_MESSAGE_PHONE_NUMBER_INVALID";
    /// The business writes to its own number.
    pub const SELF_INVALID: &str = "ERROR_CODE_MESSAGE_SELF_INVALID";
    /// Not exactly one attachment.
    pub const ATTACHMENTS_NUMBER_INVALID: &str = "ERROR_CODE_MESSAGE_ATTACHMENTS_NUMBER_INVALID";
    /// An attachment without a `url`.
    pub const ATTACHMENT_EMPTY: &str = "ERROR_CODE_MESSAGE_ATTACHMENT_EMPTY";
    /// An attachment of an unknown type.
    pub const ATTACHMENT_INVALID: &str = "ERROR_CODE_MESSAGE_ATTACHMENT_INVALID";
    /// An empty `text`.
    pub const TEXT_EMPTY: &str = "ERROR_CODE_MESSAGE_TEXT_EMPTY";
    /// No approved template of that name in that language (Meta's 132001).
    pub const TEMPLATE_NOT_FOUND: &str = "ERROR_CODE_MESSAGE_TEMPLATE_NOT_FOUND";
    /// The `parameters` do not fit the template (Meta's 132000, 132005, 132012, 132018).
    pub const TEMPLATE_INPUT_INVALID: &str = "ERROR_CODE_MESSAGE_TEMPLATE_INPUT_INVALID";
    /// The customer service window is closed (Meta's 131047).
    pub const OUTSIDE_OF_ELIGIBILITY_WINDOW: &str =
        "ERROR_CODE_MESSAGE_OUTSIDE_OF_ELIGIBILITY_WINDOW";
    /// The customer opted out of marketing messages (Meta's 131050).
    pub const CUSTOMER_OPTED_OUT: &str = "ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT";
    /// Meta limits the business (spam rate limit, 131048).
    pub const BUSINESS_REACHED_LIMITS: &str = "ERROR_CODE_BUSINESS_REACHED_LIMITS";
    /// Too many requests (Meta's throughput and pair limits).
    pub const RATE_LIMITED: &str = "ERROR_CODE_RATE_LIMITED";
    /// A template of that name already exists in that language.
    pub const ALREADY_EXISTS: &str = "ERROR_CODE_ALREADY_EXISTS";
    /// The request is not well-formed, or WhatsApp refuses it for a reason with no code above.
    pub const INVALID_REQUEST: &str = "ERROR_CODE_INVALID_REQUEST";
    /// No such object.
    pub const NOT_FOUND: &str = "ERROR_CODE_NOT_FOUND";
    /// The request conflicts with the state of things.
    pub const CONFLICT: &str = "ERROR_CODE_CONFLICT";
    /// No campaign of that name (and version) to send out.
    pub const CAMPAIGN_NOT_FOUND: &str = "ERROR_CODE_CAMPAIGN_NOT_FOUND";
    /// The named campaign cannot be sent out: cancelled, or its template not approved.
    pub const CAMPAIGN_NOT_PUBLISHED: &str = "ERROR_CODE_CAMPAIGN_NOT_PUBLISHED";
    /// A campaign entry whose `client` another entry of the same campaign already names.
    pub const CAMPAIGN_ENTRY_DUPLICATE: &str = "ERROR_CODE_CAMPAIGN_ENTRY_DUPLICATE";
    /// An asset's source could not be fetched (unreachable, or not a success).
    pub const ASSET_SOURCE_UNREACHABLE: &str = "ERROR_CODE_ASSET_SOURCE_UNREACHABLE";
    /// The gateway (or Meta) failed.
    pub const INTERNAL: &str = "ERROR_CODE_INTERNAL";
}

/// Connectly's error types (`vendors.md` §4.2).
pub mod kind {
    /// A request that cannot be served as it is.
    pub const INVALID_REQUEST: &str = "ERROR_TYPE_INVALID_REQUEST";
    /// What Connectly's own example gives for the closed window.
    pub const DEADLINE_EXCEEDED: &str = "ERROR_TYPE_DEADLINE_EXCEEDED";
    /// Anything else (the gateway's or Meta's failures).
    pub const UNSPECIFIED: &str = "ERROR_TYPE_UNSPECIFIED";
}

/// An error on the Connectly surface.
#[derive(Debug)]
pub struct ConnectlyError {
    /// HTTP status.
    pub status: StatusCode,
    /// `type`: one of [`kind`].
    pub kind: &'static str,
    /// `code`: one of [`code`].
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Meta's error, when WhatsApp's rules (or Meta) refuse.
    pub meta: Option<Box<MetaError>>,
    /// The request field at fault, when known.
    pub field: Option<String>,
    /// What caused a 5xx (logged, never shown).
    pub cause: Option<Cause>,
}

impl ConnectlyError {
    /// An error without Meta's code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let kind = if status.is_server_error() {
            kind::UNSPECIFIED
        } else {
            kind::INVALID_REQUEST
        };
        ConnectlyError {
            status,
            kind,
            code,
            message: message.into(),
            meta: None,
            field: None,
            cause: None,
        }
    }

    /// The same, naming the request field at fault.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `ERROR_CODE_INVALID_REQUEST`: not JSON, a missing or mistyped field, not exactly
    /// one kind of message.
    pub fn invalid(message: impl Into<String>) -> Self {
        ConnectlyError::new(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, message)
    }

    /// A request that could not be read (axum's refusal, or a body's):
    /// `ERROR_CODE_INVALID_REQUEST` with the refusal's status (413 for a body over the limit).
    pub fn unreadable(status: StatusCode, message: impl Into<String>) -> Self {
        ConnectlyError::new(status, code::INVALID_REQUEST, message)
    }

    /// 400 with one of Connectly's codes for a bad message.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ConnectlyError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no `X-API-Key`.
    pub fn key_absent() -> Self {
        ConnectlyError::new(
            StatusCode::UNAUTHORIZED,
            code::KEY_SECRET_ABSENT,
            "Missing X-API-Key header: send the business's API key in it",
        )
    }

    /// 401: not a live key.
    pub fn unauthorized() -> Self {
        ConnectlyError::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "The X-API-Key is not a valid API key",
        )
    }

    /// 403: the key is not a key of that business (the same whether it exists or not).
    pub fn permission_denied(message: impl Into<String>) -> Self {
        ConnectlyError::new(StatusCode::FORBIDDEN, code::PERMISSION_DENIED, message)
    }

    /// 404: no approved template of that name and language.
    pub fn template_not_found(message: impl Into<String>) -> Self {
        ConnectlyError::new(StatusCode::NOT_FOUND, code::TEMPLATE_NOT_FOUND, message)
    }

    /// 400: the `parameters` do not fit the template (before Meta's rules are applied).
    pub fn template_input(message: impl Into<String>) -> Self {
        ConnectlyError::bad(code::TEMPLATE_INPUT_INVALID, message).at("parameters")
    }

    /// 400: `sender` is none of the business's numbers (another tenant's: never a leak).
    pub fn invalid_sender(given: &str) -> Self {
        ConnectlyError::bad(
            code::INVALID_SENDER_ID,
            format!("sender {given} is not a WhatsApp number of this business"),
        )
        .at("sender")
    }

    /// 500, logged with its cause.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        let mut e = ConnectlyError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "The gateway failed to handle this request; quote the cntTraceId when reporting it",
        );
        e.cause = Some(cause.into());
        e
    }

    /// 404: no campaign of that name (or that version of it).
    pub fn campaign_not_found(message: impl Into<String>) -> Self {
        ConnectlyError::new(StatusCode::NOT_FOUND, code::CAMPAIGN_NOT_FOUND, message)
    }

    /// 409: the named campaign is not one that can be sent out (Connectly's unpublished).
    pub fn campaign_not_published(message: impl Into<String>) -> Self {
        ConnectlyError::new(StatusCode::CONFLICT, code::CAMPAIGN_NOT_PUBLISHED, message)
    }

    /// Meta's refusal, under `code` when given, else Connectly's code for Meta's.
    pub fn meta_as(m: MetaError, forced: Option<&'static str>) -> Self {
        let mut e = ConnectlyError::from(m);
        if let Some(c) = forced {
            e.code = c;
        }
        e
    }
}

/// Connectly's code (and HTTP status) for one of WhatsApp's refusals.
fn for_meta(m: &MetaError) -> (StatusCode, &'static str) {
    let meta_status = StatusCode::from_u16(m.http_status).unwrap_or(StatusCode::BAD_REQUEST);
    if m.subcode == Some(subcodes::ALREADY_EXISTS) {
        return (StatusCode::CONFLICT, code::ALREADY_EXISTS);
    }
    match m.code {
        codes::REENGAGEMENT => (StatusCode::BAD_REQUEST, code::OUTSIDE_OF_ELIGIBILITY_WINDOW),
        codes::MARKETING_OPT_OUT => (StatusCode::BAD_REQUEST, code::CUSTOMER_OPTED_OUT),
        codes::TEMPLATE_MISSING => (StatusCode::NOT_FOUND, code::TEMPLATE_NOT_FOUND),
        codes::TEMPLATE_PARAM_COUNT
        | codes::TEMPLATE_TEXT_TOO_LONG
        | codes::TEMPLATE_PARAM_FORMAT
        | codes::TEMPLATE_PARAM_INVALID => (StatusCode::BAD_REQUEST, code::TEMPLATE_INPUT_INVALID),
        codes::RECIPIENT_IS_SENDER => (StatusCode::BAD_REQUEST, code::SELF_INVALID),
        codes::UNDELIVERABLE => (StatusCode::BAD_REQUEST, code::PHONE_NUMBER_INVALID),
        codes::SPAM_RATE_LIMIT => (meta_status, code::BUSINESS_REACHED_LIMITS),
        codes::RATE_LIMIT_HIT | codes::PAIR_RATE_LIMIT | codes::API_TOO_MANY_CALLS => {
            (StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED)
        }
        _ if meta_status.is_server_error() => (meta_status, code::INTERNAL),
        _ => (meta_status, code::INVALID_REQUEST),
    }
}

/// WhatsApp's refusal, with Connectly's code for it and Meta's beside.
impl From<MetaError> for ConnectlyError {
    fn from(m: MetaError) -> Self {
        let (status, code) = for_meta(&m);
        let mut e = ConnectlyError::new(status, code, m.message.clone());
        if code == code::OUTSIDE_OF_ELIGIBILITY_WINDOW {
            e.kind = kind::DEADLINE_EXCEEDED;
        }
        if let Some(d) = &m.details {
            e.message = format!("{}: {d}", e.message);
        }
        e.meta = Some(Box::new(m));
        e
    }
}

impl From<CoreError> for ConnectlyError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { what, id } => {
                if what.starts_with("template") {
                    ConnectlyError::template_not_found(format!("template {id} not found"))
                } else if what.starts_with("channel") {
                    ConnectlyError::invalid_sender(&id)
                } else if what.starts_with("media") {
                    ConnectlyError::new(
                        StatusCode::NOT_FOUND,
                        code::NOT_FOUND,
                        format!("asset {id} not found"),
                    )
                } else {
                    ConnectlyError::new(
                        StatusCode::NOT_FOUND,
                        code::NOT_FOUND,
                        format!("{what} not found"),
                    )
                }
            }
            CoreError::Conflict { message, .. } => {
                ConnectlyError::new(StatusCode::CONFLICT, code::CONFLICT, message)
            }
            CoreError::KeyReused { first } => ConnectlyError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::INVALID_REQUEST,
                format!("This message id was already used for a different message ({first})"),
            )
            .at("message.id"),
            CoreError::NotSent(id) => ConnectlyError::invalid(format!(
                "message {id} has no WhatsApp id yet and cannot be replied to"
            )),
            CoreError::Refused(m) | CoreError::TemplateRefused(m) => m.into(),
            CoreError::TemplateRule(t) => {
                let field = t.field.clone();
                let mut e = ConnectlyError::from(t.to_meta());
                e.field = Some(field);
                e
            }
            CoreError::Invalid { field, message } => {
                let e = ConnectlyError::invalid(message);
                match field {
                    Some(f) => e.at(f),
                    None => e,
                }
            }
            e @ CoreError::Internal(_) => ConnectlyError::internal(e),
        }
    }
}

impl ConnectlyError {
    /// The error object Connectly answers (also what a campaign sendout's report gives for
    /// each refused entry), under the request's trace id.
    pub fn body(&self, trace_id: &str) -> Value {
        let mut details = Map::new();
        if let Some(f) = &self.field {
            details.insert("field".into(), json!(f));
        }
        if let Some(m) = &self.meta {
            details.insert("metaCode".into(), json!(m.code));
            if let Some(s) = m.subcode {
                details.insert("metaSubcode".into(), json!(s));
            }
            if let Some(d) = &m.details {
                details.insert("metaDetails".into(), json!(d));
            }
        }
        // Outside a request (a delivery status's error) there is no trace id to pass along.
        let user_message = if trace_id.is_empty() {
            title(self.code).to_string()
        } else {
            format!(
                "Pass along the trace id {trace_id} to the gateway's operator if you need help."
            )
        };
        json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "userTitle": title(self.code),
            "userMessage": user_message,
            "cntTraceId": trace_id,
            "details": Value::Object(details),
        })
    }
}

impl IntoResponse for ConnectlyError {
    fn into_response(self) -> Response {
        let trace_id = request_id::current();
        let body = self.body(&trace_id);
        logged_answer(self.status, self.code, &trace_id, self.cause.as_ref(), body)
    }
}

/// `userTitle`: a short title for a person.
fn title(c: &str) -> &'static str {
    match c {
        code::KEY_SECRET_ABSENT | code::UNAUTHORIZED => "Not authenticated",
        code::PERMISSION_DENIED => "Not allowed",
        code::OUTSIDE_OF_ELIGIBILITY_WINDOW => "Outside of the 24-hour window",
        code::CUSTOMER_OPTED_OUT => "Customer opted out",
        code::TEMPLATE_NOT_FOUND => "Template not found",
        code::TEMPLATE_INPUT_INVALID => "Template parameters invalid",
        code::PHONE_NUMBER_BAD_FORMAT | code::PHONE_NUMBER_INVALID => "Invalid phone number",
        code::INVALID_SENDER_ID | code::MISSES_MATCHING_CHANNEL => "Invalid sender",
        code::RATE_LIMITED | code::BUSINESS_REACHED_LIMITS => "Limit reached",
        code::CAMPAIGN_NOT_FOUND => "Campaign not found",
        code::CAMPAIGN_NOT_PUBLISHED => "Campaign not published",
        code::CAMPAIGN_ENTRY_DUPLICATE => "Duplicate entry",
        code::ASSET_SOURCE_UNREACHABLE => "Asset source unreachable",
        code::NOT_FOUND => "Not found",
        code::INTERNAL => "Something went wrong",
        _ => "Invalid request",
    }
}
