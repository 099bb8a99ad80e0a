//! Templates on SQLite: rows read and written on the writer (or a reader) connection; what
//! they become is decided in [`crate::templates`].

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, TEMPLATE_COLS};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::templates::{self as logic, HistoryEntry};

/// The template of a WABA, name and language, whoever owns it.
pub(super) fn by_key(
    c: &Connection,
    waba_id: &str,
    name: &str,
    language: &str,
) -> StoreResult<Option<Template>> {
    let sql = format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE waba_id = ?1 AND name = ?2 AND language = ?3"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row([waba_id, name, language], rows::template)
        .optional()?)
}

/// A tenant's template by the gateway's id or Meta's.
pub(super) fn get(c: &Connection, tenant_id: &str, id: &str) -> StoreResult<Option<Template>> {
    let col = if logic::is_gateway_id(id) {
        "id"
    } else {
        "meta_template_id"
    };
    let sql = format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE {col} = ?2 AND tenant_id = ?1 ORDER BY id LIMIT 1"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant_id, id], rows::template)
        .optional()?)
}

/// Writes every column of `t` (a new row, or the row with its id).
fn save(c: &Connection, t: &Template) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO templates ({TEMPLATE_COLS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET
           category = excluded.category, status = excluded.status,
           meta_template_id = excluded.meta_template_id, components = excluded.components,
           quality_score = excluded.quality_score, reason = excluded.reason,
           created_at = excluded.created_at, updated_at = excluded.updated_at,
           parameter_format = excluded.parameter_format,
           previous_category = excluded.previous_category,
           message_send_ttl_seconds = excluded.message_send_ttl_seconds,
           deleted_at = excluded.deleted_at"
    );
    c.prepare_cached(&sql)?.execute(params![
        t.id,
        t.tenant_id,
        t.waba_id,
        t.name,
        t.language,
        t.category,
        t.status,
        t.meta_template_id,
        t.components.to_string(),
        t.quality_score,
        t.reason,
        t.created_at,
        t.updated_at,
        t.parameter_format,
        t.previous_category,
        t.message_send_ttl_seconds,
        t.deleted_at,
    ])?;
    Ok(())
}

/// Adds a history entry, unless the same one is already there.
fn add_event(c: &Connection, t: &Template, e: &HistoryEntry) -> StoreResult<()> {
    let added = c
        .prepare_cached(
            "INSERT INTO template_events (template_id, kind, value, previous, reason, detail, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (template_id, kind, value, at) DO NOTHING",
        )?
        .execute(params![
            e.template_id,
            e.kind,
            e.value,
            e.previous,
            e.reason,
            e.detail,
            e.at
        ])?;
    if added > 0
        && let Some(event) = logic::change_event(t, e)
    {
        super::events::insert(c, &event)?;
    }
    Ok(())
}

/// [`crate::Store::apply_template_update`].
pub(super) fn apply_update(c: &Connection, u: &TemplateUpdate) -> StoreResult<Template> {
    let old = by_key(c, &u.waba_id, &u.name, &u.language)?;
    let (t, e) = logic::apply_update(old.as_ref(), u)?;
    save(c, &t)?;
    add_event(c, &t, &e)?;
    Ok(t)
}

/// [`crate::Store::create_template`].
pub(super) fn create(c: &Connection, n: &NewTemplate) -> StoreResult<Template> {
    let old = by_key(c, &n.waba_id, &n.name, &n.language)?;
    let (t, e) = logic::create(old.as_ref(), n)?;
    save(c, &t)?;
    add_event(c, &t, &e)?;
    Ok(t)
}

/// [`crate::Store::edit_template`].
pub(super) fn edit(c: &Connection, edit: &TemplateEdit) -> StoreResult<Option<Template>> {
    let Some(old) = get(c, &edit.tenant_id, &edit.id)? else {
        return Ok(None);
    };
    let (t, e) = logic::edit(&old, edit);
    save(c, &t)?;
    add_event(c, &t, &e)?;
    Ok(Some(t))
}

/// [`crate::Store::sync_template`].
pub(super) fn sync(c: &Connection, s: &SyncedTemplate) -> StoreResult<SyncOutcome> {
    let old = by_key(c, &s.waba_id, &s.name, &s.language)?;
    match logic::sync(old.as_ref(), s)? {
        Some((t, created, e)) => {
            save(c, &t)?;
            add_event(c, &t, &e)?;
            Ok(SyncOutcome {
                template: t,
                created,
                changed: true,
            })
        }
        None => Ok(SyncOutcome {
            template: old.ok_or_else(|| StoreError::Corrupt("unchanged and unknown".into()))?,
            created: false,
            changed: false,
        }),
    }
}

/// [`crate::Store::delete_templates`].
pub(super) fn delete(
    c: &Connection,
    tenant_id: &str,
    waba_id: &str,
    name: &str,
    id: Option<&str>,
    at: i64,
) -> StoreResult<Vec<Template>> {
    let sql = format!(
        "SELECT {TEMPLATE_COLS} FROM templates
         WHERE waba_id = ?1 AND name = ?2 AND tenant_id = ?3 AND deleted_at IS NULL ORDER BY id"
    );
    let found = c
        .prepare_cached(&sql)?
        .query_map([waba_id, name, tenant_id], rows::template)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for old in found.iter().filter(|t| logic::matches_id(t, id)) {
        let (t, e) = logic::delete(old, at);
        save(c, &t)?;
        add_event(c, &t, &e)?;
        out.push(t);
    }
    Ok(out)
}

/// [`crate::Store::list_templates`].
pub(super) fn list(c: &Connection, f: &TemplateFilter) -> StoreResult<Vec<Template>> {
    // The WABA filter as a plain equality when given, so that the (tenant, WABA, id) index
    // serves it.
    let by_waba = if f.waba_id.is_some() {
        "waba_id = ?2"
    } else {
        "?2 IS NULL"
    };
    let sql = format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE tenant_id = ?1 AND {by_waba}
         AND (?3 IS NULL OR name = ?3)
         AND (?4 IS NULL OR status = ?4)
         AND (?5 IS NULL OR category = ?5)
         AND (?6 IS NULL OR language = ?6)
         AND (?7 OR deleted_at IS NULL)
         AND (?8 IS NULL OR id > ?8)
         ORDER BY id LIMIT ?9"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let found = stmt.query_map(
        params![
            f.tenant_id,
            f.waba_id,
            f.name,
            f.status,
            f.category,
            f.language,
            f.include_deleted,
            f.after,
            f.limit
        ],
        rows::template,
    )?;
    Ok(found.collect::<Result<Vec<_>, _>>()?)
}

/// [`crate::Store::count_templates`].
pub(super) fn count(c: &Connection, waba_id: &str) -> StoreResult<u64> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM templates WHERE waba_id = ?1 AND deleted_at IS NULL")?
        .query_row([waba_id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// [`crate::Store::template_history`].
pub(super) fn history(
    c: &Connection,
    tenant_id: &str,
    template_id: &str,
) -> StoreResult<Vec<TemplateEvent>> {
    let mut stmt = c.prepare_cached(
        "SELECT e.template_id, e.kind, e.value, e.previous, e.reason, e.detail, e.at
         FROM template_events e JOIN templates t ON t.id = e.template_id
         WHERE e.template_id = ?2 AND t.tenant_id = ?1
         ORDER BY e.seq",
    )?;
    let found = stmt.query_map([tenant_id, template_id], |r| {
        Ok(logic::event(
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })?;
    Ok(found.collect::<Result<Vec<_>, _>>()?)
}
