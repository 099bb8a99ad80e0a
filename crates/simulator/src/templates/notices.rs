//! The WABA-level webhooks that template changes produce, as values in Meta's field order
//! (`message_template_status_update`, `template_category_update`,
//! `message_template_quality_update`), their bodies, and which numbers carry them.

use std::collections::HashSet;

use serde::Serialize;

use crate::config::PhoneNumberConfig;
use crate::envelope;
use crate::records::WebhookKind;

use super::requests::OtherInfo;
use super::status::TemplateEvent;
use super::template::Template;

/// The value of a `message_template_status_update`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusUpdate {
    event: &'static str,
    message_template_id: u64,
    message_template_name: String,
    message_template_language: String,
    reason: Option<String>,
    message_template_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) disable_info: Option<DisableInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) other_info: Option<OtherInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rejection_info: Option<RejectionInfo>,
}

/// `disable_info` of a status webhook.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DisableInfo {
    pub(crate) disable_date: i64,
}

/// `rejection_info` of a status webhook.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RejectionInfo {
    reason: String,
    recommendation: String,
}

/// The value of a `template_category_update`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CategoryUpdate {
    pub(crate) message_template_id: u64,
    pub(crate) message_template_name: String,
    pub(crate) message_template_language: String,
    pub(crate) previous_category: &'static str,
    pub(crate) new_category: &'static str,
}

/// The value of a `message_template_quality_update`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QualityUpdate {
    pub(crate) previous_quality_score: &'static str,
    pub(crate) new_quality_score: &'static str,
    pub(crate) message_template_id: u64,
    pub(crate) message_template_name: String,
    pub(crate) message_template_language: String,
}

/// A webhook to send once the store's lock is released, with the WABA it is about.
pub(crate) enum Notice {
    Status(String, StatusUpdate),
    Category(String, CategoryUpdate),
    Quality(String, QualityUpdate),
}

impl Notice {
    /// The WABA, the kind and the body of this webhook, `time` being when it happened (Unix
    /// seconds).
    pub(crate) fn into_webhook(self, time: i64) -> (String, WebhookKind, Vec<u8>) {
        match self {
            Notice::Status(w, v) => {
                let b = envelope::waba_change_body(&w, time, "message_template_status_update", v);
                (w, WebhookKind::TemplateStatus, b)
            }
            Notice::Category(w, v) => {
                let b = envelope::waba_change_body(&w, time, "template_category_update", v);
                (w, WebhookKind::TemplateCategory, b)
            }
            Notice::Quality(w, v) => {
                let b = envelope::waba_change_body(&w, time, "message_template_quality_update", v);
                (w, WebhookKind::TemplateQuality, b)
            }
        }
    }
}

/// The status update of `t` for `event`, without the optional parts.
pub(crate) fn status_notice(
    t: &Template,
    event: TemplateEvent,
    reason: Option<String>,
) -> StatusUpdate {
    StatusUpdate {
        event: event.as_str(),
        message_template_id: t.numeric_id(),
        message_template_name: t.name.clone(),
        message_template_language: t.language.clone(),
        reason,
        message_template_category: t.category.as_str(),
        disable_info: None,
        other_info: None,
        rejection_info: None,
    }
}

/// `rejection_info` for a rejection with `reason` (only `INVALID_FORMAT` has one).
pub(crate) fn rejection_info(reason: &str) -> Option<RejectionInfo> {
    (reason == "INVALID_FORMAT").then(|| RejectionInfo {
        reason: "The message template's content does not follow the formatting rules (variables, examples or components).".to_string(),
        recommendation: "Check the variables and their examples, then edit the template to submit it again.".to_string(),
    })
}

/// The numbers whose webhook settings carry a WABA-level webhook: the first number of every
/// distinct URL; if none has a URL, the first number (its delivery waits for one).
pub(crate) fn webhook_targets(numbers: &[PhoneNumberConfig]) -> Vec<String> {
    let mut seen = HashSet::new();
    let with_url: Vec<String> = numbers
        .iter()
        .filter(|p| {
            p.webhook_url
                .as_ref()
                .is_some_and(|u| seen.insert(u.clone()))
        })
        .map(|p| p.phone_number_id.clone())
        .collect();
    if with_url.is_empty() {
        numbers
            .first()
            .map(|p| vec![p.phone_number_id.clone()])
            .unwrap_or_default()
    } else {
        with_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_go_once_per_url() {
        let p = |id: &str, url: Option<&str>| PhoneNumberConfig {
            phone_number_id: id.into(),
            display_phone_number: "1555".into(),
            waba_id: "W".into(),
            access_token: "t".into(),
            app_secret: "s".into(),
            webhook_url: url.map(str::to_string),
            throughput_mps: None,
        };
        assert_eq!(
            webhook_targets(&[
                p("1", Some("http://a")),
                p("2", Some("http://a")),
                p("3", None),
                p("4", Some("http://b"))
            ]),
            ["1", "4"]
        );
        assert_eq!(webhook_targets(&[p("1", None), p("2", None)]), ["1"]);
        assert!(webhook_targets(&[]).is_empty());
    }
}
