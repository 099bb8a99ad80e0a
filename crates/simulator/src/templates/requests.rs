//! What tests and the control API ask of the template store: review rules and how reviews
//! end, templates seeded without review, status changes, and why such a request failed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use openbsp_wire::template::Category;

use super::status::{TemplateEvent, TemplateStatus, check_reason};
use super::template::Template;

/// One review rule: a template whose name and body contain the given texts ends its review
/// with `status` (`APPROVED`, `REJECTED` with `reason`, or `PENDING`: it stays in review),
/// re-categorised to `category` if one is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRule {
    /// Matches templates whose name contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_contains: Option<String>,
    /// Matches templates whose BODY text contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// `APPROVED` (default), `REJECTED` or `PENDING`.
    #[serde(default = "approved")]
    pub status: TemplateStatus,
    /// The rejection reason (default `INVALID_FORMAT` when rejected, `NONE` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The category the review gives the template (a `template_category_update` is sent
    /// when it differs from the submitted one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
}

fn approved() -> TemplateStatus {
    TemplateStatus::Approved
}

impl ReviewRule {
    /// A rule rejecting templates whose name contains `name_contains`.
    pub fn reject_name(name_contains: &str, reason: &str) -> ReviewRule {
        ReviewRule {
            name_contains: Some(name_contains.to_string()),
            body_contains: None,
            status: TemplateStatus::Rejected,
            reason: Some(reason.to_string()),
            category: None,
        }
    }

    /// Checks the status and the reason.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(
            self.status,
            TemplateStatus::Approved | TemplateStatus::Rejected | TemplateStatus::Pending
        ) {
            return Err(format!(
                "status must be APPROVED, REJECTED or PENDING, got {}",
                self.status.as_str()
            ));
        }
        if let Some(r) = &self.reason {
            check_reason(r)?;
        }
        Ok(())
    }

    /// Whether the rule applies to `t`.
    pub(crate) fn matches(&self, t: &Template) -> bool {
        self.name_contains
            .as_deref()
            .is_none_or(|n| t.name.contains(n))
            && self
                .body_contains
                .as_deref()
                .is_none_or(|b| t.body_text().contains(b))
    }
}

/// How template reviews end: after `delay_ms`, by the first rule that matches (none:
/// approved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateReview {
    /// How long a review takes, in ms.
    pub delay_ms: u64,
    /// The rules, first match wins.
    #[serde(default)]
    pub rules: Vec<ReviewRule>,
}

/// A template put straight into a WABA (no review), as a test needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSeed {
    /// The WABA (of a phone number the simulator serves).
    pub waba_id: String,
    /// A create request: `{name, language, category, parameter_format?, components,
    /// message_send_ttl_seconds?}`, validated as Meta validates it.
    pub request: Value,
    /// Its status (default `APPROVED`).
    pub status: TemplateStatus,
    /// Whether to send the `message_template_status_update` of that status.
    pub notify: bool,
}

impl TemplateSeed {
    /// An approved template from a create request, without a webhook.
    pub fn new(waba_id: &str, request: Value) -> TemplateSeed {
        TemplateSeed {
            waba_id: waba_id.to_string(),
            request,
            status: TemplateStatus::Approved,
            notify: false,
        }
    }

    /// An approved template with only a BODY of `body` (no variables unless `body` has
    /// them, with examples then required as Meta requires them).
    pub fn text(
        waba_id: &str,
        name: &str,
        language: &str,
        category: Category,
        body: &str,
    ) -> TemplateSeed {
        TemplateSeed::new(
            waba_id,
            json!({
                "name": name,
                "language": language,
                "category": category.as_str(),
                "components": [{"type": "BODY", "text": body}],
            }),
        )
    }

    /// The same seed with another status.
    pub fn with_status(mut self, status: TemplateStatus) -> TemplateSeed {
        self.status = status;
        self
    }
}

/// A status change made through the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateStatusChange {
    /// The event (and the status it leads to).
    pub status: TemplateEvent,
    /// The webhook's `reason` (default `INVALID_FORMAT` for a rejection, `null` for a
    /// pending deletion, `NONE` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The webhook's `other_info` (default for PAUSED: FIRST_PAUSE or SECOND_PAUSE; for an
    /// unpause: UNPAUSE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_info: Option<OtherInfo>,
}

impl From<TemplateEvent> for TemplateStatusChange {
    fn from(status: TemplateEvent) -> TemplateStatusChange {
        TemplateStatusChange {
            status,
            reason: None,
            other_info: None,
        }
    }
}

/// `other_info` of a status webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherInfo {
    /// `FIRST_PAUSE`, `SECOND_PAUSE`, `RATE_LIMITING_PAUSE`, `UNPAUSE`, `DISABLED`.
    pub title: String,
    /// For a person.
    pub description: String,
}

/// Why a control request on templates failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateControlError {
    /// No such template, WABA or phone number.
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong; `field` names what.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// An [`TemplateControlError::Invalid`] naming `field`.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> TemplateControlError {
    TemplateControlError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}
