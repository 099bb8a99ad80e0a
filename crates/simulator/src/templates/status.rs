//! A template's status, the events of `message_template_status_update` that change it, its
//! quality score, and the rejection reasons Meta gives.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rejection reasons Meta gives (reference §2.4).
pub const REASONS: [&str; 8] = [
    "ABUSIVE_CONTENT",
    "CATEGORY_NOT_AVAILABLE",
    "INCORRECT_CATEGORY",
    "INVALID_FORMAT",
    "NONE",
    "PROMOTIONAL",
    "SCAM",
    "TAG_CONTENT_MISMATCH",
];

/// A template's status, as the Graph API lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    /// May be sent.
    Approved,
    /// In review.
    Pending,
    /// Refused by the review (`rejected_reason` says why).
    Rejected,
    /// Paused for low quality: sends fail with 132015.
    Paused,
    /// Disabled for low quality: sends fail with 132016.
    Disabled,
    /// Its rejection is being appealed.
    InAppeal,
    /// Being deleted.
    PendingDeletion,
    /// Deleted.
    Deleted,
    /// The WABA is at its template limit.
    LimitExceeded,
    /// Archived.
    Archived,
}

impl TemplateStatus {
    /// Meta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Approved => "APPROVED",
            TemplateStatus::Pending => "PENDING",
            TemplateStatus::Rejected => "REJECTED",
            TemplateStatus::Paused => "PAUSED",
            TemplateStatus::Disabled => "DISABLED",
            TemplateStatus::InAppeal => "IN_APPEAL",
            TemplateStatus::PendingDeletion => "PENDING_DELETION",
            TemplateStatus::Deleted => "DELETED",
            TemplateStatus::LimitExceeded => "LIMIT_EXCEEDED",
            TemplateStatus::Archived => "ARCHIVED",
        }
    }

    /// Meta's spelling, any case.
    pub fn parse(s: &str) -> Option<TemplateStatus> {
        serde_json::from_value(Value::String(s.to_ascii_uppercase())).ok()
    }
}

/// An event of `message_template_status_update` (reference §2.4): what the control API's
/// `POST /_simulator/templates/{id}/status` makes happen. Most set the status of the same
/// name; `REINSTATED` and `UNARCHIVED` make it `APPROVED` again, `FLAGGED` leaves it as it
/// is (a warning), `LOCKED` leaves it and forbids edits, `DELETED` deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateEvent {
    /// Approved (or unpaused).
    Approved,
    /// Rejected.
    Rejected,
    /// Back in review.
    Pending,
    /// Paused for low quality (`other_info.title` FIRST_PAUSE, then SECOND_PAUSE).
    Paused,
    /// Disabled for low quality (`disable_info.disable_date`).
    Disabled,
    /// At risk of being disabled; the status does not change.
    Flagged,
    /// No longer flagged or disabled: approved.
    Reinstated,
    /// In appeal.
    InAppeal,
    /// The WABA is at its template limit.
    LimitExceeded,
    /// Locked: it cannot be edited any more.
    Locked,
    /// Archived.
    Archived,
    /// Unarchived: approved.
    Unarchived,
    /// Deleted.
    Deleted,
    /// Being deleted (`reason` is `null`).
    PendingDeletion,
}

impl TemplateEvent {
    /// Meta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateEvent::Approved => "APPROVED",
            TemplateEvent::Rejected => "REJECTED",
            TemplateEvent::Pending => "PENDING",
            TemplateEvent::Paused => "PAUSED",
            TemplateEvent::Disabled => "DISABLED",
            TemplateEvent::Flagged => "FLAGGED",
            TemplateEvent::Reinstated => "REINSTATED",
            TemplateEvent::InAppeal => "IN_APPEAL",
            TemplateEvent::LimitExceeded => "LIMIT_EXCEEDED",
            TemplateEvent::Locked => "LOCKED",
            TemplateEvent::Archived => "ARCHIVED",
            TemplateEvent::Unarchived => "UNARCHIVED",
            TemplateEvent::Deleted => "DELETED",
            TemplateEvent::PendingDeletion => "PENDING_DELETION",
        }
    }

    /// The status a template in `current` has after this event.
    pub(crate) fn status_after(self, current: TemplateStatus) -> TemplateStatus {
        match self {
            TemplateEvent::Approved | TemplateEvent::Reinstated | TemplateEvent::Unarchived => {
                TemplateStatus::Approved
            }
            TemplateEvent::Rejected => TemplateStatus::Rejected,
            TemplateEvent::Pending => TemplateStatus::Pending,
            TemplateEvent::Paused => TemplateStatus::Paused,
            TemplateEvent::Disabled => TemplateStatus::Disabled,
            TemplateEvent::InAppeal => TemplateStatus::InAppeal,
            TemplateEvent::LimitExceeded => TemplateStatus::LimitExceeded,
            TemplateEvent::Archived => TemplateStatus::Archived,
            TemplateEvent::Deleted => TemplateStatus::Deleted,
            TemplateEvent::PendingDeletion => TemplateStatus::PendingDeletion,
            TemplateEvent::Flagged | TemplateEvent::Locked => current,
        }
    }
}

impl From<TemplateStatus> for TemplateEvent {
    fn from(s: TemplateStatus) -> TemplateEvent {
        match s {
            TemplateStatus::Approved => TemplateEvent::Approved,
            TemplateStatus::Pending => TemplateEvent::Pending,
            TemplateStatus::Rejected => TemplateEvent::Rejected,
            TemplateStatus::Paused => TemplateEvent::Paused,
            TemplateStatus::Disabled => TemplateEvent::Disabled,
            TemplateStatus::InAppeal => TemplateEvent::InAppeal,
            TemplateStatus::PendingDeletion => TemplateEvent::PendingDeletion,
            TemplateStatus::Deleted => TemplateEvent::Deleted,
            TemplateStatus::LimitExceeded => TemplateEvent::LimitExceeded,
            TemplateStatus::Archived => TemplateEvent::Archived,
        }
    }
}

/// A template's quality score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualityScore {
    /// Not rated yet (every template starts so).
    #[default]
    Unknown,
    /// High quality.
    Green,
    /// Medium quality.
    Yellow,
    /// Low quality.
    Red,
}

impl QualityScore {
    /// Meta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QualityScore::Unknown => "UNKNOWN",
            QualityScore::Green => "GREEN",
            QualityScore::Yellow => "YELLOW",
            QualityScore::Red => "RED",
        }
    }
}

/// Checks that `r` is one of Meta's rejection [`REASONS`].
pub(crate) fn check_reason(r: &str) -> Result<(), String> {
    if REASONS.contains(&r) {
        Ok(())
    } else {
        Err(format!(
            "reason must be one of {}, got {r}",
            REASONS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_lead_to_statuses() {
        use TemplateEvent as E;
        use TemplateStatus as S;
        assert_eq!(E::Reinstated.status_after(S::Disabled), S::Approved);
        assert_eq!(E::Unarchived.status_after(S::Archived), S::Approved);
        assert_eq!(E::Flagged.status_after(S::Approved), S::Approved);
        assert_eq!(E::Locked.status_after(S::Rejected), S::Rejected);
        assert_eq!(E::Paused.status_after(S::Approved), S::Paused);
        assert_eq!(TemplateStatus::parse("in_appeal"), Some(S::InAppeal));
        assert_eq!(TemplateStatus::parse("FLAGGED"), None);
        for s in [S::Approved, S::PendingDeletion, S::LimitExceeded] {
            assert_eq!(E::from(s).as_str(), s.as_str());
        }
    }
}
