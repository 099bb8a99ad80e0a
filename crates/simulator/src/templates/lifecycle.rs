//! How a stored template changes after it was created: edits by Meta's rules, status events
//! and quality scores set through the control API, and the end of a review. Each change
//! returns the webhooks it calls for ([`Notice`]); the caller sends them once the store's
//! lock is released.

use serde_json::{Value, json};

use openbsp_wire::MetaError;
use openbsp_wire::template::{Category, parse_definition};

use super::notices::{
    CategoryUpdate, DisableInfo, Notice, QualityUpdate, rejection_info, status_notice,
};
use super::requests::{OtherInfo, TemplateControlError, TemplateStatusChange, invalid};
use super::status::{QualityScore, TemplateEvent, TemplateStatus, check_reason};
use super::store::{DAY_MS, TemplateStore, ttl_of};
use super::template::Template;

/// Edits an approved template may have in 24 hours.
pub const MAX_EDITS_PER_DAY: usize = 1;
/// Edits an approved template may have in 30 days.
pub const MAX_EDITS_PER_30_DAYS: usize = 10;

impl TemplateStore {
    /// `POST /{template_id}`: edits components, category or `message_send_ttl_seconds` by
    /// Meta's rules. A new content goes back to review: the template is returned then, for
    /// the caller to start its review.
    pub(crate) fn edit(
        &mut self,
        id: &str,
        body: &Value,
        now: i64,
    ) -> Result<Option<Template>, MetaError> {
        let Some(o) = body.as_object() else {
            return Err(MetaError::invalid_parameter(
                "The request body must be a JSON object.",
            ));
        };
        let components = o.get("components").filter(|v| !v.is_null());
        let category = o.get("category").filter(|v| !v.is_null());
        let ttl = ttl_of(body)?;
        if components.is_none() && category.is_none() && ttl.is_none() {
            return Err(MetaError::invalid_parameter(
                "Nothing to edit: give components, category or message_send_ttl_seconds.",
            ));
        }
        let seq = self.seq();
        let t = self
            .live_mut(id)
            .ok_or_else(|| MetaError::invalid_parameter(format!("Template {id} was deleted.")))?;
        if t.locked {
            return Err(MetaError::invalid_parameter(format!(
                "Message template \"{}\" ({}) is locked and can't be edited.",
                t.name, t.language
            )));
        }
        if !matches!(
            t.status,
            TemplateStatus::Approved | TemplateStatus::Rejected | TemplateStatus::Paused
        ) {
            return Err(MetaError::invalid_parameter(format!(
                "Message template \"{}\" ({}) is {}: only APPROVED, REJECTED or PAUSED templates can be edited.",
                t.name,
                t.language,
                t.status.as_str()
            )));
        }
        let new_category = match category {
            None => None,
            Some(Value::String(s)) => Some(Category::parse(s).ok_or_else(|| {
                MetaError::invalid_parameter(format!(
                    "Category \"{s}\" is not one of MARKETING, UTILITY, AUTHENTICATION."
                ))
            })?),
            Some(_) => {
                return Err(MetaError::invalid_parameter(
                    "Param category must be a string.",
                ));
            }
        };
        let approved = t.status == TemplateStatus::Approved;
        if approved && new_category.is_some_and(|c| c != t.category) {
            return Err(MetaError::invalid_parameter(format!(
                "The category of an approved template can't be changed: \"{}\" ({}) stays {}.",
                t.name,
                t.language,
                t.category.as_str()
            )));
        }
        let content = components.is_some() || new_category.is_some();
        if approved && content {
            let in_day = t
                .approved_edits_ms
                .iter()
                .filter(|e| now - **e < DAY_MS)
                .count();
            let in_month = t
                .approved_edits_ms
                .iter()
                .filter(|e| now - **e < 30 * DAY_MS)
                .count();
            if in_day >= MAX_EDITS_PER_DAY {
                return Err(MetaError::invalid_parameter(format!(
                    "An approved message template can be edited once in 24 hours: \"{}\" ({}) was edited less than 24 hours ago.",
                    t.name, t.language
                )));
            }
            if in_month >= MAX_EDITS_PER_30_DAYS {
                return Err(MetaError::invalid_parameter(format!(
                    "An approved message template can be edited {MAX_EDITS_PER_30_DAYS} times in 30 days: \"{}\" ({}) has reached that limit.",
                    t.name, t.language
                )));
            }
        }
        if content {
            let request = json!({
                "name": t.name,
                "language": t.language,
                "category": new_category.unwrap_or(t.category).as_str(),
                "parameter_format": o
                    .get("parameter_format")
                    .and_then(Value::as_str)
                    .unwrap_or(t.parameter_format.as_str()),
                "components": components.cloned().unwrap_or_else(|| t.components.clone()),
            });
            let def = parse_definition(&request).map_err(|e| e.to_meta())?;
            if approved {
                t.approved_edits_ms.push(now);
            }
            t.category = def.category;
            t.parameter_format = def.parameter_format;
            t.components = def.components.clone();
            t.definition = def;
            t.status = TemplateStatus::Pending;
            t.rejected_reason = "NONE".to_string();
            t.review_seq = seq;
        }
        if ttl.is_some() {
            t.message_send_ttl_seconds = ttl;
        }
        t.updated_at_ms = now;
        Ok(content.then(|| t.clone()))
    }

    /// Changes a template's status as Meta would (pause, disable, reinstate, ...); returns
    /// it with its `message_template_status_update`.
    pub(crate) fn set_status(
        &mut self,
        id: &str,
        change: TemplateStatusChange,
        now: i64,
    ) -> Result<(Template, Notice), TemplateControlError> {
        if let Some(r) = &change.reason {
            check_reason(r).map_err(|e| invalid("reason", e))?;
        }
        let event = change.status;
        let seq = self.seq();
        let t = self
            .live_mut(id)
            .ok_or_else(|| TemplateControlError::NotFound(format!("no template {id}")))?;
        let before = t.status;
        t.status = event.status_after(before);
        t.review_seq = seq;
        t.updated_at_ms = now;
        let reason = match (event, &change.reason) {
            (_, Some(r)) => Some(r.clone()),
            (TemplateEvent::Rejected, None) => Some("INVALID_FORMAT".to_string()),
            (TemplateEvent::PendingDeletion, None) => None,
            _ => Some("NONE".to_string()),
        };
        let mut other_info = change.other_info.clone();
        let mut disable_info = None;
        let mut rejection = None;
        match event {
            TemplateEvent::Rejected => {
                t.rejected_reason = reason.clone().unwrap_or_else(|| "NONE".into());
                rejection = rejection_info(&t.rejected_reason);
            }
            TemplateEvent::Paused => {
                t.pauses += 1;
                if other_info.is_none() {
                    let (title, hours) = if t.pauses == 1 {
                        ("FIRST_PAUSE", 3)
                    } else {
                        ("SECOND_PAUSE", 6)
                    };
                    let until = chrono::DateTime::from_timestamp_millis(now + hours * 3600 * 1000)
                        .map(|d| d.format("%b %-d at %-I:%M %p UTC").to_string())
                        .unwrap_or_default();
                    other_info = Some(OtherInfo {
                        title: title.to_string(),
                        description: format!(
                            "Your WhatsApp message template has been paused for {hours} hours until {until} because it had issues."
                        ),
                    });
                }
            }
            TemplateEvent::Disabled => {
                disable_info = Some(DisableInfo {
                    disable_date: now.div_euclid(1000),
                });
            }
            TemplateEvent::Approved | TemplateEvent::Reinstated
                if before == TemplateStatus::Paused && other_info.is_none() =>
            {
                other_info = Some(OtherInfo {
                    title: "UNPAUSE".to_string(),
                    description: "Your WhatsApp message template has been unpaused.".to_string(),
                });
            }
            TemplateEvent::Locked => t.locked = true,
            TemplateEvent::Deleted => t.deleted_at_ms = Some(now),
            _ => {}
        }
        if t.status != TemplateStatus::Rejected {
            t.rejected_reason = "NONE".to_string();
        }
        let mut n = status_notice(t, event, reason);
        n.disable_info = disable_info;
        n.other_info = other_info;
        n.rejection_info = rejection;
        Ok((t.clone(), Notice::Status(t.waba_id.clone(), n)))
    }

    /// Sets a template's quality score; returns it with its
    /// `message_template_quality_update`.
    pub(crate) fn set_quality(
        &mut self,
        id: &str,
        score: QualityScore,
        now: i64,
    ) -> Result<(Template, Notice), TemplateControlError> {
        let t = self
            .live_mut(id)
            .ok_or_else(|| TemplateControlError::NotFound(format!("no template {id}")))?;
        let previous = t.quality_score;
        t.quality_score = score;
        t.quality_updated_at_ms = now;
        t.updated_at_ms = now;
        let n = QualityUpdate {
            previous_quality_score: previous.as_str(),
            new_quality_score: score.as_str(),
            message_template_id: t.numeric_id(),
            message_template_name: t.name.clone(),
            message_template_language: t.language.clone(),
        };
        Ok((t.clone(), Notice::Quality(t.waba_id.clone(), n)))
    }

    /// Ends the review `seq` of template `id`, unless something changed it since; returns
    /// the webhooks the outcome calls for (none if the review ended without effect).
    pub(crate) fn finish_review(&mut self, id: u64, seq: u64, now: i64) -> Vec<Notice> {
        let rule = match self.by_id.get(&id) {
            Some(t) if t.review_seq == seq && t.status == TemplateStatus::Pending && t.live() => {
                self.review.rules.iter().find(|r| r.matches(t)).cloned()
            }
            _ => return Vec::new(),
        };
        let Some(t) = self.by_id.get_mut(&id) else {
            return Vec::new();
        };
        let (status, reason, category) = match rule {
            None => (TemplateStatus::Approved, "NONE".to_string(), None),
            Some(r) => {
                let default = if r.status == TemplateStatus::Rejected {
                    "INVALID_FORMAT"
                } else {
                    "NONE"
                };
                (
                    r.status,
                    r.reason.unwrap_or_else(|| default.to_string()),
                    r.category,
                )
            }
        };
        let mut notices = Vec::new();
        if let Some(c) = category
            && c != t.category
        {
            notices.push(Notice::Category(
                t.waba_id.clone(),
                CategoryUpdate {
                    message_template_id: id,
                    message_template_name: t.name.clone(),
                    message_template_language: t.language.clone(),
                    previous_category: t.category.as_str(),
                    new_category: c.as_str(),
                },
            ));
            t.previous_category = Some(t.category);
            t.category = c;
            t.definition.category = c;
        }
        if status != TemplateStatus::Pending {
            t.status = status;
            t.rejected_reason = if status == TemplateStatus::Rejected {
                reason.clone()
            } else {
                "NONE".to_string()
            };
            let mut n = status_notice(t, TemplateEvent::from(status), Some(reason.clone()));
            if status == TemplateStatus::Rejected {
                n.rejection_info = rejection_info(&reason);
            }
            notices.push(Notice::Status(t.waba_id.clone(), n));
        }
        t.updated_at_ms = now;
        notices
    }
}
