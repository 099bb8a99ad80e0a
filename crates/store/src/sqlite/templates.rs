//! [`TemplateStore`] on SQLite: rows read and written on the writer (or a reader) connection;
//! what they become is decided in [`crate::templates`].

use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, collect};
use super::{SqliteStore, emit};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{TEMPLATE_COLS, save_template_sql};
use crate::store::TemplateStore;
use crate::templates::{self as logic, HistoryEntry};

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn apply_template_update(&self, u: &TemplateUpdate) -> StoreResult<Template> {
        let u = u.clone();
        self.write(move |c| apply_update(c, &u)).await
    }

    async fn find_template(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>> {
        let args = [tenant_id, waba_id, name, language].map(str::to_string);
        self.read(move |c| {
            let [t, w, n, l] = &args;
            Ok(by_key(c, w, n, l)?.filter(|found| &found.tenant_id == t))
        })
        .await
    }

    async fn create_template(&self, new: &NewTemplate) -> StoreResult<Template> {
        let new = new.clone();
        self.write(move |c| create(c, &new)).await
    }

    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Template>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| get(c, &t, &id)).await
    }

    async fn list_templates(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>> {
        let f = filter.clone();
        self.read(move |c| list(c, &f)).await
    }

    async fn count_templates(&self, waba_id: &str) -> StoreResult<u64> {
        let w = waba_id.to_string();
        self.read(move |c| count(c, &w)).await
    }

    async fn edit_template(&self, edit: &TemplateEdit) -> StoreResult<Option<Template>> {
        let edit = edit.clone();
        self.write(move |c| apply_edit(c, &edit)).await
    }

    async fn sync_template(&self, template: &SyncedTemplate) -> StoreResult<SyncOutcome> {
        let s = template.clone();
        self.write(move |c| sync(c, &s)).await
    }

    async fn delete_templates(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        meta_template_id: Option<&str>,
        at: i64,
    ) -> StoreResult<Vec<Template>> {
        let args = [tenant_id, waba_id, name].map(str::to_string);
        let id = meta_template_id.map(str::to_string);
        self.write(move |c| {
            let [t, w, n] = &args;
            delete(c, t, w, n, id.as_deref(), at)
        })
        .await
    }

    async fn template_history(
        &self,
        tenant_id: &str,
        template_id: &str,
    ) -> StoreResult<Vec<TemplateEvent>> {
        let (t, id) = (tenant_id.to_string(), template_id.to_string());
        self.read(move |c| history(c, &t, &id)).await
    }
}

/// The template of a WABA, name and language, whoever owns it.
fn by_key(
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
fn get(c: &Connection, tenant_id: &str, id: &str) -> StoreResult<Option<Template>> {
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

/// How a template row is saved.
static SAVE_SQL: LazyLock<String> = LazyLock::new(|| save_template_sql('?'));

/// Writes every column of `t` (a new row, or the row with its id).
fn save(c: &Connection, t: &Template) -> StoreResult<()> {
    c.prepare_cached(&SAVE_SQL)?.execute(params![
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
        emit::insert(c, &event)?;
    }
    Ok(())
}

/// [`TemplateStore::apply_template_update`].
fn apply_update(c: &Connection, u: &TemplateUpdate) -> StoreResult<Template> {
    let old = by_key(c, &u.waba_id, &u.name, &u.language)?;
    let (t, e) = logic::apply_update(old.as_ref(), u)?;
    save(c, &t)?;
    add_event(c, &t, &e)?;
    Ok(t)
}

/// [`TemplateStore::create_template`].
fn create(c: &Connection, n: &NewTemplate) -> StoreResult<Template> {
    let old = by_key(c, &n.waba_id, &n.name, &n.language)?;
    let (t, e) = logic::create(old.as_ref(), n)?;
    save(c, &t)?;
    add_event(c, &t, &e)?;
    Ok(t)
}

/// [`TemplateStore::edit_template`].
fn apply_edit(c: &Connection, edit: &TemplateEdit) -> StoreResult<Option<Template>> {
    let Some(old) = get(c, &edit.tenant_id, &edit.id)? else {
        return Ok(None);
    };
    let (t, e) = logic::edit(&old, edit);
    save(c, &t)?;
    add_event(c, &t, &e)?;
    Ok(Some(t))
}

/// [`TemplateStore::sync_template`].
fn sync(c: &Connection, s: &SyncedTemplate) -> StoreResult<SyncOutcome> {
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
            template: old.ok_or_else(|| StoreError::corrupt("unchanged and unknown"))?,
            created: false,
            changed: false,
        }),
    }
}

/// [`TemplateStore::delete_templates`].
fn delete(
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
    let found = collect(c, &sql, [waba_id, name, tenant_id], rows::template)?;
    let mut out = Vec::new();
    for old in found.iter().filter(|t| logic::matches_id(t, id)) {
        let (t, e) = logic::delete(old, at);
        save(c, &t)?;
        add_event(c, &t, &e)?;
        out.push(t);
    }
    Ok(out)
}

/// [`TemplateStore::list_templates`].
fn list(c: &Connection, f: &TemplateFilter) -> StoreResult<Vec<Template>> {
    // The WABA filter as a plain equality when given, so that the (tenant, WABA, id) index
    // serves it.
    let by_waba = if f.waba_id.is_some() {
        "waba_id = ?2"
    } else {
        "?2 IS NULL"
    };
    // Backwards from `before`: the nearest rows first, turned round below.
    let order = if f.before.is_some() { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE tenant_id = ?1 AND {by_waba}
         AND (?3 IS NULL OR name = ?3)
         AND (?4 IS NULL OR status = ?4)
         AND (?5 IS NULL OR category = ?5)
         AND (?6 IS NULL OR language = ?6)
         AND (?7 OR deleted_at IS NULL)
         AND (?8 IS NULL OR id > ?8)
         AND (?10 IS NULL OR id < ?10)
         ORDER BY id {order} LIMIT ?9"
    );
    let mut found = collect(
        c,
        &sql,
        params![
            f.tenant_id,
            f.waba_id,
            f.name,
            f.status,
            f.category,
            f.language,
            f.include_deleted,
            f.after,
            f.limit,
            f.before
        ],
        rows::template,
    )?;
    if f.before.is_some() {
        found.reverse();
    }
    Ok(found)
}

/// [`TemplateStore::count_templates`].
fn count(c: &Connection, waba_id: &str) -> StoreResult<u64> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM templates WHERE waba_id = ?1 AND deleted_at IS NULL")?
        .query_row([waba_id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// [`TemplateStore::template_history`].
fn history(c: &Connection, tenant_id: &str, template_id: &str) -> StoreResult<Vec<TemplateEvent>> {
    collect(
        c,
        "SELECT e.template_id, e.kind, e.value, e.previous, e.reason, e.detail, e.at
         FROM template_events e JOIN templates t ON t.id = e.template_id
         WHERE e.template_id = ?2 AND t.tenant_id = ?1
         ORDER BY e.seq",
        [tenant_id, template_id],
        |r| {
            Ok(logic::event(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )
}
