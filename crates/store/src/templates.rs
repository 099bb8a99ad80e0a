//! Template management, the part both backends share: given the stored row (read, and on
//! PostgreSQL locked, in the caller's transaction), what the row becomes and which history
//! entry records it. The backends only read and write rows.

use openbsp_domain::ids::{new_id_at, prefix};
use serde_json::{Map, Value, json};

use crate::error::{StoreError, StoreResult};
use crate::model::*;

/// The status of a deleted template.
pub(crate) const DELETED: &str = "DELETED";

/// A history entry to insert (`template_events`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistoryEntry {
    /// `tpl_…`
    pub template_id: String,
    /// `created`, `status`, …
    pub kind: String,
    /// The new value; `""` when none (the column is part of the unique key).
    pub value: String,
    /// The old value.
    pub previous: Option<String>,
    /// Meta's reason.
    pub reason: Option<String>,
    /// A JSON object, as text.
    pub detail: String,
    /// When.
    pub at: i64,
}

impl HistoryEntry {
    fn new(t: &Template, kind: &str, value: Option<&str>, previous: Option<&str>, at: i64) -> Self {
        HistoryEntry {
            template_id: t.id.clone(),
            kind: kind.to_string(),
            value: value.unwrap_or_default().to_string(),
            previous: previous.map(str::to_string),
            reason: None,
            detail: "{}".to_string(),
            at,
        }
    }

    /// Sets the detail (`null` is stored as `{}`).
    fn detail(mut self, detail: &Value) -> Self {
        if !detail.is_null() {
            self.detail = detail.to_string();
        }
        self
    }
}

/// The event a new history entry makes, if it changed a status, quality score or category.
pub(crate) fn change_event(t: &Template, e: &HistoryEntry) -> Option<crate::model::NewEvent> {
    let value = Some(e.value.as_str()).filter(|v| !v.is_empty());
    crate::events::template_change(
        t,
        &e.kind,
        e.previous.as_deref(),
        value,
        e.reason.as_deref(),
        e.at,
    )
}

/// A history entry as stored: `value` `''` reads as `None`, a `detail` that does not parse
/// as `{}`.
pub(crate) fn event(
    template_id: String,
    kind: String,
    value: String,
    previous: Option<String>,
    reason: Option<String>,
    detail: Option<String>,
    at: i64,
) -> TemplateEvent {
    TemplateEvent {
        template_id,
        kind,
        value: Some(value).filter(|v| !v.is_empty()),
        previous,
        reason,
        detail: detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_else(|| json!({})),
        at,
    }
}

/// `deleted_at` for a row whose status becomes `status`: kept (or set to `at`) while it is
/// `DELETED`, cleared otherwise.
fn deleted_at(current: Option<i64>, status: &str, at: i64) -> Option<i64> {
    (status == DELETED).then(|| current.unwrap_or(at))
}

fn other_tenant(name: &str, waba_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "template {name} of WABA {waba_id} belongs to another tenant"
    ))
}

/// [`crate::TemplateStore::apply_template_update`]: `old` is the row of the update's WABA, name and
/// language, if there is one.
pub(crate) fn apply_update(
    old: Option<&Template>,
    u: &TemplateUpdate,
) -> StoreResult<(Template, HistoryEntry)> {
    if let Some(old) = old
        && old.tenant_id != u.tenant_id
    {
        return Err(other_tenant(&u.name, &u.waba_id));
    }
    let mut t = match old {
        Some(old) => old.clone(),
        None => Template {
            id: new_id_at(prefix::TEMPLATE, u.at),
            tenant_id: u.tenant_id.clone(),
            waba_id: u.waba_id.clone(),
            name: u.name.clone(),
            language: u.language.clone(),
            category: None,
            status: "UNKNOWN".to_string(),
            meta_template_id: None,
            components: json!([]),
            quality_score: None,
            reason: None,
            created_at: u.at,
            updated_at: u.at,
            parameter_format: None,
            previous_category: None,
            message_send_ttl_seconds: None,
            deleted_at: None,
        },
    };
    let set = |field: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            field.clone_from(value);
        }
    };
    set(&mut t.category, &u.category);
    set(&mut t.meta_template_id, &u.meta_template_id);
    set(&mut t.quality_score, &u.quality_score);
    set(&mut t.previous_category, &u.previous_category);
    if let Some(status) = &u.status {
        // A new status comes with its own reason (or none): an old rejection's reason does
        // not outlive the approval that follows.
        t.status.clone_from(status);
        t.reason.clone_from(&u.reason);
        t.deleted_at = deleted_at(t.deleted_at, status, u.at);
    } else {
        set(&mut t.reason, &u.reason);
    }
    t.updated_at = t.updated_at.max(u.at);
    let pick = |t: &Template| match u.event.as_str() {
        "status" => Some(t.status.clone()),
        "quality" => t.quality_score.clone(),
        "category" => t.category.clone(),
        _ => None,
    };
    let previous = old.and_then(pick);
    let value = pick(&t);
    let mut e = HistoryEntry::new(&t, &u.event, value.as_deref(), previous.as_deref(), u.at)
        .detail(&u.detail);
    e.reason.clone_from(&u.reason);
    Ok((t, e))
}

/// [`crate::TemplateStore::create_template`]: `old` is the row of the same WABA, name and language.
pub(crate) fn create(
    old: Option<&Template>,
    n: &NewTemplate,
) -> StoreResult<(Template, HistoryEntry)> {
    if let Some(old) = old {
        if old.tenant_id != n.tenant_id {
            return Err(other_tenant(&n.name, &n.waba_id));
        }
        if old.status != DELETED {
            return Err(StoreError::Conflict(format!(
                "template {} ({}) already exists in WABA {}",
                n.name, n.language, n.waba_id
            )));
        }
    }
    let t = Template {
        id: old.map_or_else(|| new_id_at(prefix::TEMPLATE, n.at), |o| o.id.clone()),
        tenant_id: n.tenant_id.clone(),
        waba_id: n.waba_id.clone(),
        name: n.name.clone(),
        language: n.language.clone(),
        category: Some(n.category.clone()),
        status: n.status.clone(),
        meta_template_id: n.meta_template_id.clone(),
        components: n.components.clone(),
        quality_score: None,
        reason: None,
        created_at: n.at,
        updated_at: n.at,
        parameter_format: Some(n.parameter_format.clone()),
        previous_category: None,
        message_send_ttl_seconds: n.message_send_ttl_seconds,
        deleted_at: deleted_at(None, &n.status, n.at),
    };
    let previous = old.map(|o| o.status.as_str());
    let e = HistoryEntry::new(&t, "created", Some(&t.status), previous, n.at);
    Ok((t, e))
}

/// [`crate::TemplateStore::edit_template`] on the stored row `old`.
pub(crate) fn edit(old: &Template, e: &TemplateEdit) -> (Template, HistoryEntry) {
    let mut t = old.clone();
    let mut detail = Map::new();
    if let Some(components) = &e.components
        && *components != old.components
    {
        t.components = components.clone();
        detail.insert("components".into(), components.clone());
    }
    if let Some(category) = &e.category
        && old.category.as_ref() != Some(category)
    {
        t.category = Some(category.clone());
        detail.insert("category".into(), json!(category));
    }
    if let Some(ttl) = e.message_send_ttl_seconds
        && old.message_send_ttl_seconds != Some(ttl)
    {
        t.message_send_ttl_seconds = Some(ttl);
        detail.insert("message_send_ttl_seconds".into(), json!(ttl));
    }
    let mut previous = None;
    if let Some(status) = &e.status {
        previous = Some(old.status.as_str());
        t.status.clone_from(status);
        t.deleted_at = deleted_at(t.deleted_at, status, e.at);
    }
    t.updated_at = t.updated_at.max(e.at);
    let ev = HistoryEntry::new(&t, "edited", e.status.as_deref(), previous, e.at)
        .detail(&Value::Object(detail));
    (t, ev)
}

/// [`crate::TemplateStore::sync_template`]: the row as it becomes (`None` when nothing changed),
/// whether it was created, and its history entry.
pub(crate) fn sync(
    old: Option<&Template>,
    s: &SyncedTemplate,
) -> StoreResult<Option<(Template, bool, HistoryEntry)>> {
    if let Some(old) = old
        && old.tenant_id != s.tenant_id
    {
        return Err(other_tenant(&s.name, &s.waba_id));
    }
    let mut t = match old {
        Some(old) => old.clone(),
        None => Template {
            id: new_id_at(prefix::TEMPLATE, s.at),
            tenant_id: s.tenant_id.clone(),
            waba_id: s.waba_id.clone(),
            name: s.name.clone(),
            language: s.language.clone(),
            category: None,
            status: String::new(),
            meta_template_id: None,
            components: json!([]),
            quality_score: None,
            reason: None,
            created_at: s.at,
            updated_at: s.at,
            parameter_format: None,
            previous_category: None,
            message_send_ttl_seconds: None,
            deleted_at: None,
        },
    };
    let mut detail = Map::new();
    let mut put = |key: &str, field: &mut Option<String>, value: &Option<String>| {
        if field != value {
            field.clone_from(value);
            detail.insert(key.into(), json!(value));
        }
    };
    put("category", &mut t.category, &s.category);
    put(
        "meta_template_id",
        &mut t.meta_template_id,
        &Some(s.meta_template_id.clone()),
    );
    put(
        "parameter_format",
        &mut t.parameter_format,
        &s.parameter_format,
    );
    put("quality_score", &mut t.quality_score, &s.quality_score);
    put("reason", &mut t.reason, &s.reason);
    put(
        "previous_category",
        &mut t.previous_category,
        &s.previous_category,
    );
    if t.status != s.status {
        t.status.clone_from(&s.status);
        detail.insert("status".into(), json!(s.status));
    }
    if t.components != s.components {
        t.components = s.components.clone();
        detail.insert("components".into(), s.components.clone());
    }
    if t.message_send_ttl_seconds != s.message_send_ttl_seconds {
        t.message_send_ttl_seconds = s.message_send_ttl_seconds;
        detail.insert(
            "message_send_ttl_seconds".into(),
            json!(s.message_send_ttl_seconds),
        );
    }
    let deleted = deleted_at(t.deleted_at, &t.status, s.at);
    if deleted != t.deleted_at {
        t.deleted_at = deleted;
        detail.insert("deleted_at".into(), json!(deleted));
    }
    let created = old.is_none();
    if !created && detail.is_empty() {
        return Ok(None);
    }
    t.updated_at = t.updated_at.max(s.at);
    let previous = old.map(|o| o.status.as_str());
    let e = HistoryEntry::new(&t, "synced", Some(&t.status), previous, s.at)
        .detail(&Value::Object(detail));
    Ok(Some((t, created, e)))
}

/// [`crate::TemplateStore::delete_templates`] on one stored row.
pub(crate) fn delete(old: &Template, at: i64) -> (Template, HistoryEntry) {
    let mut t = old.clone();
    t.status = DELETED.to_string();
    t.deleted_at = Some(old.deleted_at.unwrap_or(at));
    t.updated_at = t.updated_at.max(at);
    let e = HistoryEntry::new(&t, "deleted", Some(DELETED), Some(&old.status), at);
    (t, e)
}

/// Whether a row matches the optional id of [`crate::TemplateStore::delete_templates`]: the gateway's
/// id or Meta's.
pub(crate) fn matches_id(t: &Template, id: Option<&str>) -> bool {
    id.is_none_or(|id| t.id == id || t.meta_template_id.as_deref() == Some(id))
}

/// Whether an id is the gateway's (`tpl_…`) rather than Meta's.
pub(crate) fn is_gateway_id(id: &str) -> bool {
    openbsp_domain::ids::TemplateId::parse(id).is_ok()
}
