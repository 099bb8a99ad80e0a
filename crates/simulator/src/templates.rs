//! Message templates, managed and reviewed as Meta does (reference §2.2–§2.4), and checked
//! on send (§2.1).
//!
//! Every WABA keeps its own templates. A WABA the simulator has not seen before (the WABA of
//! a phone number being added) starts with Meta's sample, `hello_world` (en_US, MARKETING,
//! APPROVED). A template created through the Graph API (`POST /{WABA}/message_templates`,
//! validated by [`openbsp_wire::template::parse_definition`]) or edited (`POST
//! /{template_id}`) is `PENDING`; after the review delay (`template_review_delay_ms`) its
//! review ends by the first matching [`ReviewRule`] (none: `APPROVED`), which may also
//! re-categorise it. Every change of status is told to the WABA's webhook URLs as a signed
//! `message_template_status_update`, a re-categorisation as a `template_category_update`, a
//! quality change as a `message_template_quality_update` — once per distinct URL among the
//! WABA's phone numbers, signed with that number's app secret, through the common delivery
//! (retried and logged).
//!
//! Deleting through the API sends no webhook (Meta sends `DELETED`/`PENDING_DELETION` for
//! deletions made in WhatsApp Manager); a deleted name can be created again in the same
//! language after 30 days (2388023 before). Approved templates may be edited once per 24
//! hours and 10 times per 30 days, by the simulator's clock.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::{
    Category, Definition, MAX_TEMPLATES_PER_WABA, ParameterFormat, parse_definition, subcodes,
};

use crate::envelope;
use crate::state::{SimState, TemplateCategory, WebhookKind};
use crate::webhooks;

/// The name of Meta's sample template, which every WABA starts with.
pub const HELLO_WORLD: &str = "hello_world";
/// How long a deleted template's name stays reserved in its language (30 days, in ms).
pub const NAME_REUSE_AFTER_MS: i64 = 30 * DAY_MS;
/// Edits an approved template may have in 24 hours.
pub const MAX_EDITS_PER_DAY: usize = 1;
/// Edits an approved template may have in 30 days.
pub const MAX_EDITS_PER_30_DAYS: usize = 10;
/// `limit` of a template list when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 25;

const DAY_MS: i64 = 24 * 3600 * 1000;

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
    fn status_after(self, current: TemplateStatus) -> TemplateStatus {
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

impl From<Category> for TemplateCategory {
    fn from(c: Category) -> TemplateCategory {
        match c {
            Category::Marketing => TemplateCategory::Marketing,
            Category::Utility => TemplateCategory::Utility,
            Category::Authentication => TemplateCategory::Authentication,
        }
    }
}

/// One template of a WABA, as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    /// Meta-like numeric id (`message_template_id`, `hsm_id`).
    pub id: String,
    /// The WABA it belongs to.
    pub waba_id: String,
    /// Name.
    pub name: String,
    /// Language code (`en_US`).
    pub language: String,
    /// Category.
    pub category: Category,
    /// How its variables are written.
    pub parameter_format: ParameterFormat,
    /// The components as submitted (types upper-cased).
    pub components: Value,
    /// Status.
    pub status: TemplateStatus,
    /// Quality score (`UNKNOWN` at creation).
    pub quality_score: QualityScore,
    /// When the quality score was last set (Unix ms, simulator clock).
    pub quality_updated_at_ms: i64,
    /// Why it was rejected (`NONE` unless it was).
    pub rejected_reason: String,
    /// Its category before the review re-categorised it.
    pub previous_category: Option<Category>,
    /// `message_send_ttl_seconds`, if set.
    pub message_send_ttl_seconds: Option<i64>,
    /// Locked templates cannot be edited.
    pub locked: bool,
    /// How many times it was paused.
    pub pauses: u32,
    /// When it was created (Unix ms, simulator clock).
    pub created_at_ms: i64,
    /// When it last changed (Unix ms, simulator clock).
    pub updated_at_ms: i64,
    /// When it was edited while approved (Unix ms): what the edit limits count.
    pub approved_edits_ms: Vec<i64>,
    /// When it was deleted, if it was (Unix ms).
    pub deleted_at_ms: Option<i64>,
    /// Its definition, as sends are checked against it (validated when stored).
    #[serde(skip)]
    pub(crate) definition: Definition,
    /// Bumped on every change of status: a review started earlier ends without effect.
    #[serde(skip)]
    review_seq: u64,
}

impl Template {
    fn numeric_id(&self) -> u64 {
        self.id.parse().unwrap_or_default()
    }

    fn live(&self) -> bool {
        self.deleted_at_ms.is_none()
    }

    /// The text of its BODY component.
    pub fn body_text(&self) -> &str {
        self.components
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
            })
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The template as the Graph API answers it: `fields` as asked (`id` always), or the
    /// default fields.
    pub(crate) fn graph_json(&self, fields: Option<&[String]>) -> Value {
        let wanted = |f: &str| fields.is_none_or(|fs| fs.iter().any(|x| x == f));
        let mut o = Map::new();
        if wanted("name") {
            o.insert("name".into(), json!(self.name));
        }
        if wanted("parameter_format") {
            o.insert(
                "parameter_format".into(),
                json!(self.parameter_format.as_str()),
            );
        }
        if wanted("components") {
            o.insert("components".into(), self.components.clone());
        }
        if wanted("language") {
            o.insert("language".into(), json!(self.language));
        }
        if wanted("status") {
            o.insert("status".into(), json!(self.status.as_str()));
        }
        if wanted("category") {
            o.insert("category".into(), json!(self.category.as_str()));
        }
        if let Some(p) = self.previous_category
            && wanted("previous_category")
        {
            o.insert("previous_category".into(), json!(p.as_str()));
        }
        if wanted("quality_score") {
            o.insert(
                "quality_score".into(),
                json!({"score": self.quality_score.as_str(), "date": self.quality_updated_at_ms.div_euclid(1000)}),
            );
        }
        if wanted("rejected_reason") {
            o.insert("rejected_reason".into(), json!(self.rejected_reason));
        }
        if let Some(ttl) = self.message_send_ttl_seconds
            && wanted("message_send_ttl_seconds")
        {
            o.insert("message_send_ttl_seconds".into(), json!(ttl));
        }
        o.insert("id".into(), json!(self.id));
        Value::Object(o)
    }
}

/// Fields a template has on the Graph API (`?fields=`).
pub(crate) const GRAPH_FIELDS: [&str; 10] = [
    "id",
    "name",
    "language",
    "status",
    "category",
    "components",
    "parameter_format",
    "quality_score",
    "rejected_reason",
    "previous_category",
];

/// Also accepted in `?fields=`, shown only when set.
pub(crate) const OPTIONAL_GRAPH_FIELDS: [&str; 1] = ["message_send_ttl_seconds"];

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

    fn matches(&self, t: &Template) -> bool {
        self.name_contains
            .as_deref()
            .is_none_or(|n| t.name.contains(n))
            && self
                .body_contains
                .as_deref()
                .is_none_or(|b| t.body_text().contains(b))
    }
}

fn check_reason(r: &str) -> Result<(), String> {
    if REASONS.contains(&r) {
        Ok(())
    } else {
        Err(format!(
            "reason must be one of {}, got {r}",
            REASONS.join(", ")
        ))
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

fn invalid(field: &str, message: impl Into<String>) -> TemplateControlError {
    TemplateControlError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

// --- webhook values, in Meta's field order -------------------------------------------------

#[derive(Debug, Clone, Serialize)]
struct StatusUpdate {
    event: &'static str,
    message_template_id: u64,
    message_template_name: String,
    message_template_language: String,
    reason: Option<String>,
    message_template_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_info: Option<DisableInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_info: Option<OtherInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection_info: Option<RejectionInfo>,
}

#[derive(Debug, Clone, Serialize)]
struct DisableInfo {
    disable_date: i64,
}

#[derive(Debug, Clone, Serialize)]
struct RejectionInfo {
    reason: String,
    recommendation: String,
}

#[derive(Debug, Clone, Serialize)]
struct CategoryUpdate {
    message_template_id: u64,
    message_template_name: String,
    message_template_language: String,
    previous_category: &'static str,
    new_category: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct QualityUpdate {
    previous_quality_score: &'static str,
    new_quality_score: &'static str,
    message_template_id: u64,
    message_template_name: String,
    message_template_language: String,
}

/// A webhook to send once the store's lock is released.
enum Notice {
    Status(String, StatusUpdate),
    Category(String, CategoryUpdate),
    Quality(String, QualityUpdate),
}

fn status_notice(t: &Template, event: TemplateEvent, reason: Option<String>) -> StatusUpdate {
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

fn rejection_info(reason: &str) -> Option<RejectionInfo> {
    (reason == "INVALID_FORMAT").then(|| RejectionInfo {
        reason: "The message template's content does not follow the formatting rules (variables, examples or components).".to_string(),
        recommendation: "Check the variables and their examples, then edit the template to submit it again.".to_string(),
    })
}

// --- the store -----------------------------------------------------------------------------

/// Every WABA's templates.
pub(crate) struct TemplateStore {
    /// By numeric id: ids grow, so this is creation order.
    by_id: BTreeMap<u64, Template>,
    /// WABAs that got their `hello_world`.
    wabas: HashSet<String>,
    review: TemplateReview,
    next_id: u64,
    next_seq: u64,
}

impl TemplateStore {
    pub(crate) fn new(review_delay_ms: u64) -> TemplateStore {
        TemplateStore {
            by_id: BTreeMap::new(),
            wabas: HashSet::new(),
            review: TemplateReview {
                delay_ms: review_delay_ms,
                rules: Vec::new(),
            },
            // Meta's template ids are 15–16 digits and fit a JavaScript number.
            next_id: rand::rng().random_range(1_000_000_000_000_000..1_500_000_000_000_000),
            next_seq: 1,
        }
    }

    /// Gives a WABA seen for the first time Meta's sample template.
    pub(crate) fn ensure_waba(&mut self, waba_id: &str, now: i64) {
        if !self.wabas.insert(waba_id.to_string()) {
            return;
        }
        let hello = json!({
            "name": HELLO_WORLD, "language": "en_US", "category": "MARKETING",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."},
                {"type": "FOOTER", "text": "WhatsApp Business API Team"},
            ],
        });
        let def = parse_definition(&hello).expect("Meta's sample template follows Meta's rules");
        self.insert_definition(waba_id, def, None, TemplateStatus::Approved, now);
    }

    /// Stores a validated definition under a fresh Meta-like id.
    fn insert_definition(
        &mut self,
        waba_id: &str,
        def: Definition,
        ttl: Option<i64>,
        status: TemplateStatus,
        now: i64,
    ) -> &mut Template {
        self.next_id += rand::rng().random_range(1..5000);
        let seq = self.seq();
        let t = Template {
            id: self.next_id.to_string(),
            waba_id: waba_id.to_string(),
            name: def.name.clone(),
            language: def.language.clone(),
            category: def.category,
            parameter_format: def.parameter_format,
            components: def.components.clone(),
            status,
            quality_score: QualityScore::Unknown,
            quality_updated_at_ms: now,
            rejected_reason: "NONE".to_string(),
            previous_category: None,
            message_send_ttl_seconds: ttl,
            locked: false,
            pauses: 0,
            created_at_ms: now,
            updated_at_ms: now,
            approved_edits_ms: Vec::new(),
            deleted_at_ms: None,
            definition: def,
            review_seq: seq,
        };
        self.by_id.entry(self.next_id).or_insert(t)
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn live_in(&self, waba_id: &str) -> impl Iterator<Item = &Template> {
        self.by_id
            .values()
            .filter(move |t| t.waba_id == waba_id && t.live())
    }

    /// Meta's checks before a new template: the WABA's limit (2388019), the same name in the
    /// same language (2388024), a deletion of it less than 30 days ago (2388023).
    fn check_new(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        now: i64,
        limit: bool,
    ) -> Result<(), MetaError> {
        if limit && self.live_in(waba_id).count() >= MAX_TEMPLATES_PER_WABA {
            return Err(subcoded(
                subcodes::LIMIT_REACHED,
                format!(
                    "This WhatsApp Business Account already has {MAX_TEMPLATES_PER_WABA} message templates, its limit: delete some before creating more."
                ),
            ));
        }
        if self
            .live_in(waba_id)
            .any(|t| t.name == name && t.language == language)
        {
            return Err(subcoded(
                subcodes::ALREADY_EXISTS,
                format!(
                    "There is already {language} content for this template. You can create a new template and try again."
                ),
            ));
        }
        let deleted_recently = self.by_id.values().any(|t| {
            t.waba_id == waba_id
                && t.name == name
                && t.language == language
                && t.deleted_at_ms
                    .is_some_and(|d| now - d < NAME_REUSE_AFTER_MS)
        });
        if deleted_recently {
            return Err(subcoded(
                subcodes::LANGUAGE_BEING_DELETED,
                format!(
                    "New {language} content can't be added while the existing {language} content is being deleted. Try again in 4 weeks or create a new message template."
                ),
            ));
        }
        Ok(())
    }

    fn live_mut(&mut self, id: &str) -> Option<&mut Template> {
        let n: u64 = id.parse().ok()?;
        self.by_id.get_mut(&n).filter(|t| t.live())
    }
}

fn subcoded(subcode: i64, details: String) -> MetaError {
    MetaError::with_subcode(codes::INVALID_PARAMETER, subcode, details)
}

/// `message_send_ttl_seconds` of a create or edit request, if given.
fn ttl_of(body: &Value) -> Result<Option<i64>, MetaError> {
    match body.get("message_send_ttl_seconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().filter(|n| *n >= -1).map(Some).ok_or_else(|| {
            MetaError::invalid_parameter("Param message_send_ttl_seconds must be an integer.")
        }),
    }
}

/// The template a send names, as far as the send needs it.
pub(crate) struct SendTemplate {
    pub status: TemplateStatus,
    pub category: Category,
    /// Its definition.
    pub definition: Definition,
}

impl SimState {
    /// The WABA's templates, deleted ones included, oldest first.
    pub fn templates(&self, waba_id: &str) -> Vec<Template> {
        self.templates
            .lock()
            .by_id
            .values()
            .filter(|t| t.waba_id == waba_id)
            .cloned()
            .collect()
    }

    /// One template (deleted ones included).
    pub fn template(&self, id: &str) -> Option<Template> {
        let n: u64 = id.parse().ok()?;
        self.templates.lock().by_id.get(&n).cloned()
    }

    /// The templates of `waba_id` not deleted, newest first (the Graph API's order).
    pub(crate) fn live_templates(&self, waba_id: &str) -> Vec<Template> {
        let store = self.templates.lock();
        let mut out: Vec<Template> = store.live_in(waba_id).cloned().collect();
        out.reverse();
        out
    }

    /// A template not deleted.
    pub(crate) fn live_template(&self, id: &str) -> Option<Template> {
        self.template(id).filter(Template::live)
    }

    /// How reviews end.
    pub fn template_review(&self) -> TemplateReview {
        self.templates.lock().review.clone()
    }

    /// Sets how reviews end (reviews under way keep the delay they started with).
    pub fn set_template_review(&self, review: TemplateReview) -> Result<(), String> {
        for (i, r) in review.rules.iter().enumerate() {
            r.validate().map_err(|e| format!("rules[{i}]: {e}"))?;
        }
        self.templates.lock().review = review;
        Ok(())
    }

    /// Sets how long reviews take, in ms.
    pub fn set_template_review_delay(&self, delay_ms: u64) {
        self.templates.lock().review.delay_ms = delay_ms;
    }

    /// `POST /{WABA}/message_templates`: validates `body` as Meta does, stores the template
    /// as `PENDING` and starts its review.
    pub(crate) fn create_template(
        self: &Arc<Self>,
        waba_id: &str,
        body: &Value,
    ) -> Result<Template, MetaError> {
        let def = parse_definition(body).map_err(|e| e.to_meta())?;
        let ttl = ttl_of(body)?;
        let now = self.now_ms();
        let t = {
            let mut store = self.templates.lock();
            store.check_new(waba_id, &def.name, &def.language, now, true)?;
            store
                .insert_definition(waba_id, def, ttl, TemplateStatus::Pending, now)
                .clone()
        };
        self.schedule_review(&t);
        Ok(t)
    }

    /// `POST /{template_id}`: edits components, category or `message_send_ttl_seconds` by
    /// Meta's rules; a new content goes back to review.
    pub(crate) fn edit_template(self: &Arc<Self>, id: &str, body: &Value) -> Result<(), MetaError> {
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
        let now = self.now_ms();
        let edited = {
            let mut store = self.templates.lock();
            let seq = store.seq();
            let t = store.live_mut(id).ok_or_else(|| {
                MetaError::invalid_parameter(format!("Template {id} was deleted."))
            })?;
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
            content.then(|| t.clone())
        };
        if let Some(t) = edited {
            self.schedule_review(&t);
        }
        Ok(())
    }

    /// `DELETE /{WABA}/message_templates?name=[&hsm_id=]`: every language of `name`, or the
    /// one template `hsm_id`. Disabled templates cannot be deleted. Returns how many were.
    pub(crate) fn delete_templates(
        &self,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<usize, MetaError> {
        let now = self.now_ms();
        let mut store = self.templates.lock();
        let ids: Vec<u64> = store
            .live_in(waba_id)
            .filter(|t| t.name == name && hsm_id.is_none_or(|h| h == t.id))
            .map(Template::numeric_id)
            .collect();
        if ids.is_empty() {
            return Err(MetaError::invalid_parameter(match hsm_id {
                Some(h) => format!(
                    "No message template {h} named \"{name}\" in this WhatsApp Business Account."
                ),
                None => format!(
                    "No message template named \"{name}\" in this WhatsApp Business Account."
                ),
            }));
        }
        if let Some(t) = ids
            .iter()
            .filter_map(|id| store.by_id.get(id))
            .find(|t| t.status == TemplateStatus::Disabled)
        {
            return Err(MetaError::invalid_parameter(format!(
                "Message template \"{}\" ({}) is DISABLED: disabled templates can't be deleted.",
                t.name, t.language
            )));
        }
        let seq = store.seq();
        for id in &ids {
            if let Some(t) = store.by_id.get_mut(id) {
                t.deleted_at_ms = Some(now);
                t.status = TemplateStatus::Deleted;
                t.updated_at_ms = now;
                t.review_seq = seq;
            }
        }
        Ok(ids.len())
    }

    /// Puts a template straight into a WABA with the seed's status: validated as a create
    /// request, no review, a status webhook only if `notify`.
    pub fn seed_template(
        self: &Arc<Self>,
        seed: TemplateSeed,
    ) -> Result<Template, TemplateControlError> {
        if self.waba_numbers(&seed.waba_id).is_empty() {
            return Err(TemplateControlError::NotFound(format!(
                "no phone number of WABA {} is configured",
                seed.waba_id
            )));
        }
        let def = parse_definition(&seed.request).map_err(|e| TemplateControlError::Invalid {
            field: e.field.clone(),
            message: e.message.clone(),
        })?;
        let ttl = ttl_of(&seed.request)
            .map_err(|e| invalid("message_send_ttl_seconds", e.to_string()))?;
        let now = self.now_ms();
        let t = {
            let mut store = self.templates.lock();
            store.ensure_waba(&seed.waba_id, now);
            store
                .check_new(&seed.waba_id, &def.name, &def.language, now, false)
                .map_err(|e| invalid("name", e.details.unwrap_or(e.message)))?;
            let t = store.insert_definition(&seed.waba_id, def, ttl, seed.status, now);
            if seed.status == TemplateStatus::Rejected {
                t.rejected_reason = "INVALID_FORMAT".to_string();
            }
            if seed.status == TemplateStatus::Deleted {
                t.deleted_at_ms = Some(now);
            }
            t.clone()
        };
        if seed.notify {
            let event = TemplateEvent::from(seed.status);
            let mut n = status_notice(&t, event, Some(t.rejected_reason.clone()));
            if event == TemplateEvent::Rejected {
                n.rejection_info = rejection_info(&t.rejected_reason);
            }
            self.notify(vec![Notice::Status(t.waba_id.clone(), n)]);
        }
        Ok(t)
    }

    /// Changes a template's status as Meta would (pause, disable, reinstate, ...) and sends
    /// the `message_template_status_update`.
    pub fn set_template_status(
        self: &Arc<Self>,
        id: &str,
        change: TemplateStatusChange,
    ) -> Result<Template, TemplateControlError> {
        if let Some(r) = &change.reason {
            check_reason(r).map_err(|e| invalid("reason", e))?;
        }
        let now = self.now_ms();
        let event = change.status;
        let (t, notice) = {
            let mut store = self.templates.lock();
            let seq = store.seq();
            let t = store
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
                        let until =
                            chrono::DateTime::from_timestamp_millis(now + hours * 3600 * 1000)
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
                        description: "Your WhatsApp message template has been unpaused."
                            .to_string(),
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
            (t.clone(), Notice::Status(t.waba_id.clone(), n))
        };
        self.notify(vec![notice]);
        Ok(t)
    }

    /// Sets a template's quality score and sends the `message_template_quality_update`.
    pub fn set_template_quality(
        self: &Arc<Self>,
        id: &str,
        score: QualityScore,
    ) -> Result<Template, TemplateControlError> {
        let now = self.now_ms();
        let (t, notice) = {
            let mut store = self.templates.lock();
            let t = store
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
            (t.clone(), Notice::Quality(t.waba_id.clone(), n))
        };
        self.notify(vec![notice]);
        Ok(t)
    }

    /// The template a send names: `None` if the WABA has no such template in that language.
    pub(crate) fn template_for_send(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Option<SendTemplate> {
        let mut store = self.templates.lock();
        let n = store
            .live_in(waba_id)
            .find(|t| t.name == name && t.language == language)
            .map(Template::numeric_id)?;
        let t = store.by_id.get_mut(&n)?;
        Some(SendTemplate {
            status: t.status,
            category: t.category,
            definition: t.definition.clone(),
        })
    }

    fn schedule_review(self: &Arc<Self>, t: &Template) {
        let delay = self.templates.lock().review.delay_ms;
        let (id, seq) = (t.numeric_id(), t.review_seq);
        let st = self.clone();
        self.tasks.spawn(async move {
            if delay > 0 && !st.tasks.sleep(Duration::from_millis(delay)).await {
                return;
            }
            st.finish_review(id, seq);
        });
    }

    /// Ends the review `seq` of template `id`, unless something changed it since.
    fn finish_review(self: &Arc<Self>, id: u64, seq: u64) {
        let now = self.now_ms();
        let notices = {
            let mut store = self.templates.lock();
            let rule = match store.by_id.get(&id) {
                Some(t)
                    if t.review_seq == seq && t.status == TemplateStatus::Pending && t.live() =>
                {
                    store.review.rules.iter().find(|r| r.matches(t)).cloned()
                }
                _ => return,
            };
            let Some(t) = store.by_id.get_mut(&id) else {
                return;
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
        };
        self.notify(notices);
    }

    /// Sends WABA-level webhooks to every distinct webhook URL of the WABA's numbers.
    fn notify(self: &Arc<Self>, notices: Vec<Notice>) {
        let time = self.now_ms().div_euclid(1000);
        for notice in notices {
            let (waba_id, kind, body) = match notice {
                Notice::Status(w, v) => {
                    let b =
                        envelope::waba_change_body(&w, time, "message_template_status_update", v);
                    (w, WebhookKind::TemplateStatus, b)
                }
                Notice::Category(w, v) => {
                    let b = envelope::waba_change_body(&w, time, "template_category_update", v);
                    (w, WebhookKind::TemplateCategory, b)
                }
                Notice::Quality(w, v) => {
                    let b =
                        envelope::waba_change_body(&w, time, "message_template_quality_update", v);
                    (w, WebhookKind::TemplateQuality, b)
                }
            };
            for pnid in webhook_targets(&self.waba_numbers(&waba_id)) {
                webhooks::enqueue(self, &pnid, kind, body.clone());
            }
        }
    }
}

/// The numbers whose webhook settings carry a WABA-level webhook: the first number of every
/// distinct URL; if none has a URL, the first number (its delivery waits for one).
fn webhook_targets(numbers: &[crate::config::PhoneNumberConfig]) -> Vec<String> {
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

/// Meta's cursor for position `i` of a list: the base64 of the decimal index, `=` written
/// `ZD` (`0` → `MAZDZD`, `24` → `MjQZD`).
pub(crate) fn cursor(i: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(i.to_string())
        .replace('=', "ZD")
}

/// The position a cursor stands for.
pub(crate) fn parse_cursor(c: &str) -> Option<usize> {
    use base64::Engine;
    let mut s = c.to_string();
    let mut pad = 0;
    while let Some(rest) = s.strip_suffix("ZD") {
        s = rest.to_string();
        pad += 1;
    }
    s.push_str(&"=".repeat(pad));
    let raw = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PhoneNumberConfig;

    #[test]
    fn cursors_are_metas() {
        assert_eq!(cursor(0), "MAZDZD");
        assert_eq!(cursor(24), "MjQZD");
        for i in [0, 1, 24, 25, 99, 100, 12345] {
            assert_eq!(parse_cursor(&cursor(i)), Some(i));
        }
        assert_eq!(parse_cursor("not a cursor!"), None);
    }

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

    #[test]
    fn rules_validate_and_match() {
        let r: ReviewRule = serde_json::from_value(
            json!({"name_contains": "promo", "status": "REJECTED", "reason": "PROMOTIONAL"}),
        )
        .unwrap();
        assert!(r.validate().is_ok());
        let bad: ReviewRule = serde_json::from_value(json!({"status": "PAUSED"})).unwrap();
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("APPROVED, REJECTED or PENDING")
        );
        let bad: ReviewRule = serde_json::from_value(json!({"reason": "UGLY"})).unwrap();
        assert!(bad.validate().unwrap_err().contains("reason"));
        assert!(serde_json::from_value::<ReviewRule>(json!({"nam": "x"})).is_err());
        let mut store = TemplateStore::new(0);
        store.ensure_waba("W", 0);
        let hello = store.live_in("W").next().unwrap().clone();
        assert!(!r.matches(&hello));
        let body_rule: ReviewRule =
            serde_json::from_value(json!({"body_contains": "congratulations"})).unwrap();
        assert!(body_rule.matches(&hello));
    }

    #[test]
    fn every_waba_starts_with_hello_world_once() {
        let mut store = TemplateStore::new(0);
        store.ensure_waba("W", 5);
        store.ensure_waba("W", 6);
        let all: Vec<_> = store.live_in("W").collect();
        assert_eq!(all.len(), 1);
        let t = all[0];
        assert_eq!(
            (t.name.as_str(), t.language.as_str(), t.status, t.category),
            (
                HELLO_WORLD,
                "en_US",
                TemplateStatus::Approved,
                Category::Marketing
            )
        );
        assert!(
            t.id.len() == 16 && t.numeric_id() < (1u64 << 53),
            "{}",
            t.id
        );
        let g = t.graph_json(None);
        assert_eq!(g["components"][0]["text"], "Hello World");
        assert_eq!(g["quality_score"]["score"], "UNKNOWN");
        let only = t.graph_json(Some(&["name".to_string()]));
        assert_eq!(only, json!({"name": HELLO_WORLD, "id": t.id}));
    }

    #[test]
    fn new_templates_are_checked_against_the_waba() {
        let mut store = TemplateStore::new(0);
        store.ensure_waba("W", 0);
        let e = store
            .check_new("W", HELLO_WORLD, "en_US", 0, true)
            .unwrap_err();
        assert_eq!((e.code, e.subcode), (100, Some(subcodes::ALREADY_EXISTS)));
        assert!(store.check_new("W", HELLO_WORLD, "pt_BR", 0, true).is_ok());
        assert!(store.check_new("V", HELLO_WORLD, "en_US", 0, true).is_ok());
        let id = store.live_in("W").next().unwrap().numeric_id();
        store.by_id.get_mut(&id).unwrap().deleted_at_ms = Some(1000);
        let e = store
            .check_new(
                "W",
                HELLO_WORLD,
                "en_US",
                1000 + NAME_REUSE_AFTER_MS - 1,
                true,
            )
            .unwrap_err();
        assert_eq!(e.subcode, Some(subcodes::LANGUAGE_BEING_DELETED));
        assert!(
            store
                .check_new("W", HELLO_WORLD, "en_US", 1000 + NAME_REUSE_AFTER_MS, true)
                .is_ok()
        );
    }

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
