//! Every WABA's templates: the store, its lookups, and the changes that add or remove
//! templates (create, seed, delete) with Meta's checks. The store is plain data under the
//! simulator's lock; it never sends anything: a change returns the webhooks it calls for
//! ([`Notice`]) and the caller sends them once the lock is released.

use std::collections::{BTreeMap, HashSet};

use rand::Rng;
use serde_json::{Value, json};

use openbsp_wire::MetaError;
use openbsp_wire::error::codes;
use openbsp_wire::template::{
    Category, Definition, MAX_TEMPLATES_PER_WABA, parse_definition, subcodes,
};

use super::notices::{Notice, rejection_info, status_notice};
use super::requests::{TemplateControlError, TemplateReview, TemplateSeed, invalid};
use super::status::{QualityScore, TemplateEvent, TemplateStatus};
use super::template::Template;

/// The name of Meta's sample template, which every WABA starts with.
pub const HELLO_WORLD: &str = "hello_world";
/// How long a deleted template's name stays reserved in its language (30 days, in ms).
pub const NAME_REUSE_AFTER_MS: i64 = 30 * DAY_MS;

/// One day, in ms.
pub(super) const DAY_MS: i64 = 24 * 3600 * 1000;

/// Every WABA's templates.
pub(crate) struct TemplateStore {
    /// By numeric id: ids grow, so this is creation order.
    pub(super) by_id: BTreeMap<u64, Template>,
    /// WABAs that got their `hello_world`.
    wabas: HashSet<String>,
    pub(super) review: TemplateReview,
    next_id: u64,
    next_seq: u64,
}

/// The template a send names, as far as the send needs it.
pub(crate) struct SendTemplate {
    /// Its id.
    pub id: String,
    pub status: TemplateStatus,
    pub category: Category,
    /// Its definition.
    pub definition: Definition,
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

    /// The WABA's templates, deleted ones included, oldest first.
    pub(crate) fn all_in(&self, waba_id: &str) -> Vec<Template> {
        self.by_id
            .values()
            .filter(|t| t.waba_id == waba_id)
            .cloned()
            .collect()
    }

    /// One template (deleted ones included).
    pub(crate) fn get(&self, id: &str) -> Option<Template> {
        let n: u64 = id.parse().ok()?;
        self.by_id.get(&n).cloned()
    }

    /// The templates of `waba_id` not deleted, newest first (the Graph API's order).
    pub(crate) fn live_newest_first(&self, waba_id: &str) -> Vec<Template> {
        let mut out: Vec<Template> = self.live_in(waba_id).cloned().collect();
        out.reverse();
        out
    }

    /// How reviews end.
    pub(crate) fn review(&self) -> &TemplateReview {
        &self.review
    }

    /// Sets how reviews end (reviews under way keep the delay they started with); fails
    /// naming the first invalid rule.
    pub(crate) fn set_review(&mut self, review: TemplateReview) -> Result<(), String> {
        for (i, r) in review.rules.iter().enumerate() {
            r.validate().map_err(|e| format!("rules[{i}]: {e}"))?;
        }
        self.review = review;
        Ok(())
    }

    /// Sets how long reviews take, in ms.
    pub(crate) fn set_review_delay(&mut self, delay_ms: u64) {
        self.review.delay_ms = delay_ms;
    }

    /// `POST /{WABA}/message_templates`: validates `body` as Meta does and stores the
    /// template as `PENDING` (its review is the caller's to start).
    pub(crate) fn create(
        &mut self,
        waba_id: &str,
        body: &Value,
        now: i64,
    ) -> Result<Template, MetaError> {
        let def = parse_definition(body).map_err(|e| e.to_meta())?;
        let ttl = ttl_of(body)?;
        self.check_new(waba_id, &def.name, &def.language, now, true)?;
        Ok(self
            .insert_definition(waba_id, def, ttl, TemplateStatus::Pending, now)
            .clone())
    }

    /// Puts a template straight into a WABA with the seed's status: validated as a create
    /// request, no review; the status webhook to send if `seed.notify`.
    pub(crate) fn seed(
        &mut self,
        seed: TemplateSeed,
        now: i64,
    ) -> Result<(Template, Option<Notice>), TemplateControlError> {
        let def = parse_definition(&seed.request).map_err(|e| TemplateControlError::Invalid {
            field: e.field.clone(),
            message: e.message.clone(),
        })?;
        let ttl = ttl_of(&seed.request)
            .map_err(|e| invalid("message_send_ttl_seconds", e.to_string()))?;
        self.ensure_waba(&seed.waba_id, now);
        self.check_new(&seed.waba_id, &def.name, &def.language, now, false)
            .map_err(|e| invalid("name", e.details.unwrap_or(e.message)))?;
        let t = self.insert_definition(&seed.waba_id, def, ttl, seed.status, now);
        if seed.status == TemplateStatus::Rejected {
            t.rejected_reason = "INVALID_FORMAT".to_string();
        }
        if seed.status == TemplateStatus::Deleted {
            t.deleted_at_ms = Some(now);
        }
        let t = t.clone();
        let notice = seed.notify.then(|| {
            let event = TemplateEvent::from(seed.status);
            let mut n = status_notice(&t, event, Some(t.rejected_reason.clone()));
            if event == TemplateEvent::Rejected {
                n.rejection_info = rejection_info(&t.rejected_reason);
            }
            Notice::Status(t.waba_id.clone(), n)
        });
        Ok((t, notice))
    }

    /// `DELETE /{WABA}/message_templates?name=[&hsm_id=]`: every language of `name`, or the
    /// one template `hsm_id`. Disabled templates cannot be deleted. Returns how many were.
    pub(crate) fn delete(
        &mut self,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
        now: i64,
    ) -> Result<usize, MetaError> {
        let ids: Vec<u64> = self
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
            .filter_map(|id| self.by_id.get(id))
            .find(|t| t.status == TemplateStatus::Disabled)
        {
            return Err(MetaError::invalid_parameter(format!(
                "Message template \"{}\" ({}) is DISABLED: disabled templates can't be deleted.",
                t.name, t.language
            )));
        }
        let seq = self.seq();
        for id in &ids {
            if let Some(t) = self.by_id.get_mut(id) {
                t.deleted_at_ms = Some(now);
                t.status = TemplateStatus::Deleted;
                t.updated_at_ms = now;
                t.review_seq = seq;
            }
        }
        Ok(ids.len())
    }

    /// The template a send names: `None` if the WABA has no such template in that language.
    pub(crate) fn for_send(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Option<SendTemplate> {
        let t = self
            .live_in(waba_id)
            .find(|t| t.name == name && t.language == language)?;
        Some(SendTemplate {
            id: t.id.clone(),
            status: t.status,
            category: t.category,
            definition: t.definition.clone(),
        })
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

    /// The next review sequence number: a change of status takes one, so that a review
    /// started earlier ends without effect.
    pub(super) fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(super) fn live_in(&self, waba_id: &str) -> impl Iterator<Item = &Template> {
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

    pub(super) fn live_mut(&mut self, id: &str) -> Option<&mut Template> {
        let n: u64 = id.parse().ok()?;
        self.by_id.get_mut(&n).filter(|t| t.live())
    }
}

fn subcoded(subcode: i64, details: String) -> MetaError {
    MetaError::with_subcode(codes::INVALID_PARAMETER, subcode, details)
}

/// `message_send_ttl_seconds` of a create or edit request, if given.
pub(super) fn ttl_of(body: &Value) -> Result<Option<i64>, MetaError> {
    match body.get("message_send_ttl_seconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().filter(|n| *n >= -1).map(Some).ok_or_else(|| {
            MetaError::invalid_parameter("Param message_send_ttl_seconds must be an integer.")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::requests::ReviewRule;

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
}
