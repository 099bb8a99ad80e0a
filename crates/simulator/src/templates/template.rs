//! One template of a WABA as the simulator holds it, and how the Graph API shows it
//! (`fields`).

use serde::Serialize;
use serde_json::{Map, Value, json};

use openbsp_wire::template::{Category, Definition, ParameterFormat};

use super::status::{QualityScore, TemplateStatus};

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
    pub(crate) review_seq: u64,
}

impl Template {
    /// Its id as a number (the store's key).
    pub(crate) fn numeric_id(&self) -> u64 {
        self.id.parse().unwrap_or_default()
    }

    /// Whether it is not deleted.
    pub(crate) fn live(&self) -> bool {
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
