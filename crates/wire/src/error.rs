//! Meta's error object and error catalogue (reference `cloud-api.md` §4): codes, their
//! titles and retry classes, and the template-management subcodes with their titles.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Well-known Meta error codes.
pub mod codes {
    /// Invalid parameter.
    pub const INVALID_PARAMETER: i64 = 100;
    /// Authentication failed / access token invalid or expired.
    pub const ACCESS_TOKEN: i64 = 190;
    /// Unknown error.
    pub const UNKNOWN: i64 = 1;
    /// Service temporarily unavailable.
    pub const SERVICE_DOWN: i64 = 2;
    /// Application request limit reached.
    pub const API_TOO_MANY_CALLS: i64 = 4;
    /// Unsupported request: object does not exist or lacks permission.
    pub const UNSUPPORTED_GET_REQUEST: i64 = 33;
    /// Throughput (messages per second) exceeded.
    pub const RATE_LIMIT_HIT: i64 = 130429;
    /// Generic send failure.
    pub const SEND_FAILURE: i64 = 131000;
    /// Service unavailable.
    pub const SERVICE_UNAVAILABLE: i64 = 131016;
    /// Recipient cannot be the sender.
    pub const RECIPIENT_IS_SENDER: i64 = 131021;
    /// Message undeliverable.
    pub const UNDELIVERABLE: i64 = 131026;
    /// Required parameter is missing.
    pub const REQUIRED_PARAMETER_MISSING: i64 = 131008;
    /// Parameter value is not valid.
    pub const PARAMETER_VALUE_INVALID: i64 = 131009;
    /// Re-engagement message: more than 24 hours since the customer last replied.
    pub const REENGAGEMENT: i64 = 131047;
    /// Spam rate limit hit.
    pub const SPAM_RATE_LIMIT: i64 = 131048;
    /// Not delivered to maintain healthy ecosystem engagement: the user's marketing cap.
    pub const MARKETING_CAP: i64 = 131049;
    /// User opted out of marketing messages.
    pub const MARKETING_OPT_OUT: i64 = 131050;
    /// Unsupported message type.
    pub const UNSUPPORTED_MESSAGE_TYPE: i64 = 131051;
    /// The user's media could not be downloaded (over 100 MB, or gone).
    pub const MEDIA_DOWNLOAD: i64 = 131052;
    /// The business's media could not be uploaded or used (a wrong type, an unknown id).
    pub const MEDIA_UPLOAD: i64 = 131053;
    /// Pair rate limit hit (too many messages to the same user).
    pub const PAIR_RATE_LIMIT: i64 = 131056;
    /// Account in maintenance mode.
    pub const MAINTENANCE_MODE: i64 = 131057;
    /// Template parameters do not match the template (count or kind).
    pub const TEMPLATE_PARAM_COUNT: i64 = 132000;
    /// Template does not exist in that language, or is not approved.
    pub const TEMPLATE_MISSING: i64 = 132001;
    /// The filled-in template text is too long.
    pub const TEMPLATE_TEXT_TOO_LONG: i64 = 132005;
    /// A parameter's format does not match the template's.
    pub const TEMPLATE_PARAM_FORMAT: i64 = 132012;
    /// Template paused for low quality.
    pub const TEMPLATE_PAUSED: i64 = 132015;
    /// Template disabled for low quality.
    pub const TEMPLATE_DISABLED: i64 = 132016;
    /// Template parameters fail validation (e.g. a value with new lines or too many spaces).
    pub const TEMPLATE_PARAM_INVALID: i64 = 132018;
}

/// Meta's `error_user_title` for a template-management subcode.
pub fn subcode_title(subcode: i64) -> &'static str {
    match subcode {
        2388019 => "Message template limit reached",
        2388023 => "Message template language is being deleted",
        2388024 => "Content in this language already exists",
        2388040 => "Message template character limit exceeded",
        2388047 => "Message header format is incorrect",
        2388072 => "Message body format is incorrect",
        2388073 => "Message footer format is incorrect",
        2388293 => "Message template variable parameters ratio exceeded",
        2388299 => "Variables can't be at the start or end of the template",
        _ => "Invalid message template",
    }
}

/// Template-management subcodes (`error_subcode` of a code 100).
pub mod subcodes {
    /// The WABA holds as many templates as it may.
    pub const LIMIT_REACHED: i64 = 2388019;
    /// The name was deleted less than 30 days ago in that language.
    pub const LANGUAGE_BEING_DELETED: i64 = 2388023;
    /// A template of that name already exists in that language.
    pub const ALREADY_EXISTS: i64 = 2388024;
    /// A field is over its character limit.
    pub const CHARACTER_LIMIT: i64 = 2388040;
    /// The header is malformed.
    pub const HEADER_FORMAT: i64 = 2388047;
    /// The body is malformed (variables, examples, buttons and other content rules).
    pub const BODY_FORMAT: i64 = 2388072;
    /// The footer is malformed.
    pub const FOOTER_FORMAT: i64 = 2388073;
    /// Too many variables for the length of the text.
    pub const VARIABLE_RATIO: i64 = 2388293;
    /// A variable at the start or the end of the text.
    pub const VARIABLE_AT_EDGE: i64 = 2388299;
}

/// How the gateway treats a failed send, by Meta's error code (reference §4.2 "Class").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryClass {
    /// Transient: retry with backoff.
    Retry,
    /// Throttled: slow down and retry.
    Throttle,
    /// Retry much later (hours).
    Later,
    /// The request itself must change: fail at once.
    Request,
    /// The user's state or consent: fail at once, do not retry.
    User,
    /// Account or credential problem: fail, and alert an operator.
    Account,
}

impl RetryClass {
    /// The class of a Meta error code.
    pub fn of(code: i64) -> RetryClass {
        match code {
            1 | 2 | 131000 | 131016 | 131057 | 2494100 | 133004 | 134101 => RetryClass::Retry,
            4 | 80007 | 130429 | 131056 => RetryClass::Throttle,
            131048 | 131049 | 132015 | 131064 | 132069 => RetryClass::Later,
            0
            | 3
            | 10
            | 33
            | 190
            | 131005
            | 200..=299
            | 368
            | 130497
            | 131031
            | 131037
            | 131042
            | 131045
            | 133010
            | 134011 => RetryClass::Account,
            130403 | 130472 | 131026 | 131050 | 131052 => RetryClass::User,
            _ => RetryClass::Request,
        }
    }

    /// Whether a send that failed with this class should be tried again automatically.
    pub fn retryable(self) -> bool {
        matches!(self, RetryClass::Retry | RetryClass::Throttle)
    }
}

/// Meta's title for an error code, as it appears in `message` (`"(#code) title"`).
pub fn title(code: i64) -> &'static str {
    match code {
        0 => "AuthException",
        1 => "API Unknown",
        2 => "API Service",
        3 => "API Method",
        4 => "API Too Many Calls",
        10 => "API Permission Denied",
        33 => "Unsupported post request",
        100 => "Invalid parameter",
        190 => "Invalid OAuth access token - Cannot parse access token",
        130429 => "Rate limit hit",
        131000 => "Something went wrong",
        131005 => "Access denied",
        131008 => "Required parameter is missing",
        131009 => "Parameter value is not valid",
        131016 => "Service unavailable",
        131021 => "Recipient cannot be sender",
        131026 => "Message undeliverable",
        131047 => "Re-engagement message",
        131048 => "Spam rate limit hit",
        131049 => "This message was not delivered to maintain healthy ecosystem engagement.",
        131050 => "User has stopped receiving marketing messages",
        131051 => "Unsupported message type",
        131052 => "Media download error",
        131053 => "Media upload error",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        131057 => "Account in maintenance mode",
        132000 => "Number of parameters does not match the expected number of params",
        132001 => "Template name does not exist in the translation",
        132005 => "Translated text too long",
        132007 => "Template Format Character Policy Violated",
        132012 => "Parameter format does not match format in the created template",
        132015 => "Template is paused due to low quality",
        132016 => "Template is disabled due to low quality",
        132018 => "Template parameters are invalid",
        _ => "Unknown error",
    }
}

/// Meta's error, as returned synchronously by the Graph API or inside webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaError {
    /// Meta's error code (`100`, `131047`, …).
    pub code: i64,
    /// The human-readable message (`"(#100) Invalid parameter"`).
    pub message: String,
    /// `error_data.details`: what exactly was wrong, naming the field.
    pub details: Option<String>,
    /// Error type (`OAuthException` for almost everything).
    #[serde(rename = "type")]
    pub kind: String,
    /// HTTP status the Graph API answers with.
    pub http_status: u16,
    /// `error_subcode`: Meta still sends it for template management (`2388040`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcode: Option<i64>,
}

impl MetaError {
    /// An error with Meta's standard message for `code` and the given details.
    pub fn new(code: i64, details: impl Into<Option<String>>) -> MetaError {
        let http_status = match code {
            0 | 190 => 401,
            132001 => 404,
            1 | 2 | 131000 | 131016 | 131057 => 500,
            10 | 200..=299 | 368 | 131031 => 403,
            _ => 400,
        };
        MetaError {
            code,
            message: format!("(#{code}) {}", title(code)),
            details: details.into(),
            kind: "OAuthException".to_string(),
            http_status,
            subcode: None,
        }
    }

    /// `code` with a subcode, as Meta answers a template it will not accept (`details`
    /// and `error_user_msg` say why; `error_user_title` is the subcode's title).
    pub fn with_subcode(code: i64, subcode: i64, details: impl Into<String>) -> MetaError {
        let mut e = MetaError::new(code, Some(details.into()));
        e.subcode = Some(subcode);
        e
    }

    /// Code 100 with Meta's own message text (e.g. `"The parameter to is required."`).
    pub fn invalid_parameter(message: impl Into<String>) -> MetaError {
        let message = message.into();
        let mut e = MetaError::new(codes::INVALID_PARAMETER, Some(message.clone()));
        e.message = format!("(#100) {message}");
        e
    }

    /// 131008: a required parameter is missing; `details` names it.
    pub fn missing(field: &str) -> MetaError {
        MetaError::new(
            codes::REQUIRED_PARAMETER_MISSING,
            Some(format!("The parameter {field} is required.")),
        )
    }

    /// 131009: a parameter's value is not valid; `details` says which and why.
    pub fn invalid_value(details: impl Into<String>) -> MetaError {
        MetaError::new(codes::PARAMETER_VALUE_INVALID, Some(details.into()))
    }

    /// 190: missing or invalid access token (HTTP 401).
    pub fn access_token() -> MetaError {
        MetaError::new(codes::ACCESS_TOKEN, None)
    }

    /// The retry class of this error.
    pub fn retry_class(&self) -> RetryClass {
        RetryClass::of(self.code)
    }

    /// The Graph API error body: `{"error": {message, type, code, error_data, fbtrace_id}}`.
    pub fn to_graph_json(&self, fbtrace_id: &str) -> Value {
        let mut err = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": fbtrace_id,
        });
        if let Some(details) = &self.details {
            err["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        if let Some(subcode) = self.subcode {
            err["error_subcode"] = json!(subcode);
            err["is_transient"] = json!(false);
            if subcode >= 2_000_000 {
                err["error_user_title"] = json!(subcode_title(subcode));
                if let Some(details) = &self.details {
                    err["error_user_msg"] = json!(details);
                }
            }
        }
        json!({ "error": err })
    }

    /// The error as it appears inside webhooks (`statuses[].errors[]`).
    pub fn to_webhook_json(&self) -> Value {
        json!({
            "code": self.code,
            "title": title(self.code),
            "message": title(self.code),
            "error_data": {"details": self.details.clone().unwrap_or_else(|| title(self.code).to_string())},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        })
    }

    /// Parses a Graph API error body; `None` if it is not one.
    pub fn from_graph_json(http_status: u16, body: &Value) -> Option<MetaError> {
        let err = body.get("error")?;
        let code = err.get("code")?.as_i64()?;
        Some(MetaError {
            code,
            message: err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or(title(code))
                .to_string(),
            details: err
                .pointer("/error_data/details")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind: err
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("OAuthException")
                .to_string(),
            http_status,
            subcode: err.get("error_subcode").and_then(Value::as_i64),
        })
    }
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.details {
            Some(d) => write!(f, "{}: {d}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for MetaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_json_round_trips() {
        let e = MetaError::invalid_parameter("The parameter to is required.");
        let v = e.to_graph_json("trace");
        assert_eq!(v["error"]["code"], 100);
        assert_eq!(
            v["error"]["message"],
            "(#100) The parameter to is required."
        );
        assert_eq!(
            v["error"]["error_data"]["details"],
            "The parameter to is required."
        );
        let back = MetaError::from_graph_json(400, &v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn retry_classes_follow_the_reference() {
        assert_eq!(RetryClass::of(130429), RetryClass::Throttle);
        assert_eq!(RetryClass::of(131000), RetryClass::Retry);
        assert_eq!(RetryClass::of(131047), RetryClass::Request);
        assert_eq!(RetryClass::of(131026), RetryClass::User);
        assert_eq!(RetryClass::of(190), RetryClass::Account);
        assert!(!RetryClass::of(100).retryable());
    }

    #[test]
    fn auth_errors_are_401() {
        assert_eq!(MetaError::access_token().http_status, 401);
    }
}
