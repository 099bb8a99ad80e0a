//! [`TemplateStore`] on PostgreSQL: rows read (locked `FOR UPDATE` before a change) and written
//! in one transaction; what they become is decided in [`crate::templates`]. Two transactions creating
//! the same WABA, name and language at once collide on its unique key: the later one runs
//! again and finds the row the other committed.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::conn::DbResult;
use super::rows::get;
use super::tx::{Fail, Pg, retrying};
use super::{PgStore, emit};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{TEMPLATE_COLS, save_template_sql};
use crate::store::TemplateStore;
use crate::templates::{self as logic, HistoryEntry};

static BY_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE waba_id = $1 AND name = $2 AND language = $3"
    )
});
static BY_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {TEMPLATE_COLS} FROM templates WHERE id = $2 AND tenant_id = $1")
});
static BY_META_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE meta_template_id = $2 AND tenant_id = $1
         ORDER BY id LIMIT 1"
    )
});
static SAVE_SQL: LazyLock<String> = LazyLock::new(|| save_template_sql('$'));
static TO_DELETE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TEMPLATE_COLS} FROM templates
         WHERE waba_id = $1 AND name = $2 AND tenant_id = $3 AND deleted_at IS NULL
         ORDER BY id FOR UPDATE"
    )
});
/// A page of templates, ordered `order` (`ASC`; `DESC` backwards from `$10`).
fn list_sql(order: &str) -> String {
    format!(
        "SELECT {TEMPLATE_COLS} FROM templates WHERE tenant_id = $1
         AND ($2::text IS NULL OR waba_id = $2)
         AND ($3::text IS NULL OR name = $3)
         AND ($4::text IS NULL OR status = $4)
         AND ($5::text IS NULL OR category = $5)
         AND ($6::text IS NULL OR language = $6)
         AND ($7 OR deleted_at IS NULL)
         AND ($8::text IS NULL OR id > $8)
         AND ($10::text IS NULL OR id < $10)
         ORDER BY id {order} LIMIT $9"
    )
}
static LIST_SQL: LazyLock<String> = LazyLock::new(|| list_sql("ASC"));
static LIST_BACK_SQL: LazyLock<String> = LazyLock::new(|| list_sql("DESC"));
const ADD_EVENT_SQL: &str = "INSERT INTO template_events
    (template_id, kind, value, previous, reason, detail, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (template_id, kind, value, at) DO NOTHING";
const HISTORY_SQL: &str =
    "SELECT e.template_id, e.kind, e.value, e.previous, e.reason, e.detail, e.at
    FROM template_events e JOIN templates t ON t.id = e.template_id
    WHERE e.template_id = $2 AND t.tenant_id = $1
    ORDER BY e.seq";

fn template(r: &PgRow) -> StoreResult<Template> {
    let components: String = get(r, 8)?;
    Ok(Template {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        waba_id: get(r, 2)?,
        name: get(r, 3)?,
        language: get(r, 4)?,
        category: get(r, 5)?,
        status: get(r, 6)?,
        meta_template_id: get(r, 7)?,
        components: serde_json::from_str(&components)?,
        quality_score: get(r, 9)?,
        reason: get(r, 10)?,
        created_at: get(r, 11)?,
        updated_at: get(r, 12)?,
        parameter_format: get(r, 13)?,
        previous_category: get(r, 14)?,
        message_send_ttl_seconds: get(r, 15)?,
        deleted_at: get(r, 16)?,
    })
}

/// The template of a WABA, name and language, whoever owns it, locked.
async fn lock_by_key(
    c: &mut PgConnection,
    waba_id: &str,
    name: &str,
    language: &str,
) -> Result<Option<Template>, Fail> {
    let sql = format!("{} FOR UPDATE", BY_KEY_SQL.as_str());
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(waba_id)
        .bind(name)
        .bind(language)
        .fetch_optional(&mut *c)
        .await
        .pg()?;
    Ok(row.as_ref().map(template).transpose()?)
}

/// The statement finding a tenant's template by the gateway's id or Meta's.
fn by_id_sql(id: &str) -> &'static str {
    if logic::is_gateway_id(id) {
        BY_ID_SQL.as_str()
    } else {
        BY_META_ID_SQL.as_str()
    }
}

/// Writes every column of `t` (a new row, or the row with its id).
async fn save(c: &mut PgConnection, t: &Template) -> Result<(), Fail> {
    sqlx::query(SAVE_SQL.as_str())
        .bind(&t.id)
        .bind(&t.tenant_id)
        .bind(&t.waba_id)
        .bind(&t.name)
        .bind(&t.language)
        .bind(&t.category)
        .bind(&t.status)
        .bind(&t.meta_template_id)
        .bind(t.components.to_string())
        .bind(&t.quality_score)
        .bind(&t.reason)
        .bind(t.created_at)
        .bind(t.updated_at)
        .bind(&t.parameter_format)
        .bind(&t.previous_category)
        .bind(t.message_send_ttl_seconds)
        .bind(t.deleted_at)
        .execute(&mut *c)
        .await
        .pg()?;
    Ok(())
}

/// Adds a history entry, unless the same one is already there, and, if it was added, the event
/// of the change it records (if it records one).
async fn add_event(c: &mut PgConnection, t: &Template, e: &HistoryEntry) -> Result<(), Fail> {
    let done = sqlx::query(ADD_EVENT_SQL)
        .bind(&e.template_id)
        .bind(&e.kind)
        .bind(&e.value)
        .bind(&e.previous)
        .bind(&e.reason)
        .bind(&e.detail)
        .bind(e.at)
        .execute(&mut *c)
        .await
        .pg()?;
    if done.rows_affected() > 0
        && let Some(event) = logic::change_event(t, e)
    {
        emit::insert(c, vec![event]).await.pg()?;
    }
    Ok(())
}

/// Saves a row, its history entry and its event.
async fn write(c: &mut PgConnection, t: &Template, e: &HistoryEntry) -> Result<(), Fail> {
    save(c, t).await?;
    add_event(c, t, e).await
}

#[async_trait]
impl TemplateStore for PgStore {
    async fn apply_template_update(&self, u: &TemplateUpdate) -> StoreResult<Template> {
        let out = retrying!(self.pool(), |c| async {
            let old = lock_by_key(c, &u.waba_id, &u.name, &u.language).await?;
            let (t, e) = logic::apply_update(old.as_ref(), u)?;
            write(c, &t, &e).await?;
            Ok((t, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn find_template(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>> {
        let row = sqlx::query(BY_KEY_SQL.as_str())
            .bind(waba_id)
            .bind(name)
            .bind(language)
            .fetch_optional(self.pool())
            .await
            .db()?;
        Ok(row
            .as_ref()
            .map(template)
            .transpose()?
            .filter(|t| t.tenant_id == tenant_id))
    }

    async fn create_template(&self, n: &NewTemplate) -> StoreResult<Template> {
        let out = retrying!(self.pool(), |c| async {
            let old = lock_by_key(c, &n.waba_id, &n.name, &n.language).await?;
            let (t, e) = logic::create(old.as_ref(), n)?;
            write(c, &t, &e).await?;
            Ok((t, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Template>> {
        let row = sqlx::query(by_id_sql(id))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(template).transpose()
    }

    async fn list_templates(&self, f: &TemplateFilter) -> StoreResult<Vec<Template>> {
        let sql = if f.before.is_some() {
            &LIST_BACK_SQL
        } else {
            &LIST_SQL
        };
        let found = sqlx::query(sql.as_str())
            .bind(&f.tenant_id)
            .bind(&f.waba_id)
            .bind(&f.name)
            .bind(&f.status)
            .bind(&f.category)
            .bind(&f.language)
            .bind(f.include_deleted)
            .bind(&f.after)
            .bind(i64::from(f.limit))
            .bind(&f.before)
            .fetch_all(self.pool())
            .await
            .db()?;
        let mut rows = found
            .iter()
            .map(template)
            .collect::<StoreResult<Vec<_>>>()?;
        if f.before.is_some() {
            // Backwards from `before`: the nearest rows came first.
            rows.reverse();
        }
        Ok(rows)
    }

    async fn count_templates(&self, waba_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM templates WHERE waba_id = $1 AND deleted_at IS NULL",
        )
        .bind(waba_id)
        .fetch_one(self.pool())
        .await
        .db()?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn edit_template(&self, edit: &TemplateEdit) -> StoreResult<Option<Template>> {
        let out = retrying!(self.pool(), |c| async {
            let sql = format!("{} FOR UPDATE", by_id_sql(&edit.id));
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&edit.tenant_id)
                .bind(&edit.id)
                .fetch_optional(&mut *c)
                .await
                .pg()?;
            let Some(old) = row.as_ref().map(template).transpose()? else {
                return Ok((None, false));
            };
            let (t, e) = logic::edit(&old, edit);
            write(c, &t, &e).await?;
            Ok((Some(t), true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn sync_template(&self, s: &SyncedTemplate) -> StoreResult<SyncOutcome> {
        let out = retrying!(self.pool(), |c| async {
            let old = lock_by_key(c, &s.waba_id, &s.name, &s.language).await?;
            match logic::sync(old.as_ref(), s)? {
                Some((t, created, e)) => {
                    write(c, &t, &e).await?;
                    let outcome = SyncOutcome {
                        template: t,
                        created,
                        changed: true,
                    };
                    Ok((outcome, true))
                }
                None => {
                    let template = old
                        .ok_or_else(|| Fail::Stop(StoreError::corrupt("unchanged and unknown")))?;
                    let outcome = SyncOutcome {
                        template,
                        created: false,
                        changed: false,
                    };
                    Ok((outcome, false))
                }
            }
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn delete_templates(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        id: Option<&str>,
        at: i64,
    ) -> StoreResult<Vec<Template>> {
        let out = retrying!(self.pool(), |c| async {
            let found = sqlx::query(TO_DELETE_SQL.as_str())
                .bind(waba_id)
                .bind(name)
                .bind(tenant_id)
                .fetch_all(&mut *c)
                .await
                .pg()?;
            let mut out = Vec::new();
            for row in &found {
                let old = template(row)?;
                if !logic::matches_id(&old, id) {
                    continue;
                }
                let (t, e) = logic::delete(&old, at);
                write(c, &t, &e).await?;
                out.push(t);
            }
            let commit = !out.is_empty();
            Ok((out, commit))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn template_history(
        &self,
        tenant_id: &str,
        template_id: &str,
    ) -> StoreResult<Vec<TemplateEvent>> {
        let found = sqlx::query(HISTORY_SQL)
            .bind(tenant_id)
            .bind(template_id)
            .fetch_all(self.pool())
            .await
            .db()?;
        found
            .iter()
            .map(|r| {
                Ok(logic::event(
                    get(r, 0)?,
                    get(r, 1)?,
                    get(r, 2)?,
                    get(r, 3)?,
                    get(r, 4)?,
                    get(r, 5)?,
                    get(r, 6)?,
                ))
            })
            .collect()
    }
}
