//! Templates on PostgreSQL: what Meta's template webhooks taught the gateway.

use sqlx::postgres::PgRow;

use super::rows::get;
use super::{DbResult, PgStore};
use crate::error::{StoreError, StoreResult};
use crate::model::*;

const TEMPLATE_COLS: &str = "id, tenant_id, waba_id, name, language, category, status, meta_template_id, components, quality_score, reason, created_at, updated_at";

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
    })
}

impl PgStore {
    /// [`crate::Store::apply_template_update`].
    pub(super) async fn apply_template_update_pg(
        &self,
        u: &TemplateUpdate,
    ) -> StoreResult<Template> {
        let id = openbsp_domain::ids::new_id_at(openbsp_domain::ids::prefix::TEMPLATE, u.at);
        let sql = format!(
            "INSERT INTO templates (id, tenant_id, waba_id, name, language, category, status, meta_template_id, reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 'UNKNOWN'), $8, $9, $10, $10)
             ON CONFLICT (waba_id, name, language) DO UPDATE SET
               category = COALESCE(EXCLUDED.category, templates.category),
               status = COALESCE($7, templates.status),
               meta_template_id = COALESCE(EXCLUDED.meta_template_id, templates.meta_template_id),
               reason = COALESCE(EXCLUDED.reason, templates.reason),
               updated_at = GREATEST(templates.updated_at, EXCLUDED.updated_at)
             WHERE templates.tenant_id = EXCLUDED.tenant_id
             RETURNING {TEMPLATE_COLS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&id)
            .bind(&u.tenant_id)
            .bind(&u.waba_id)
            .bind(&u.name)
            .bind(&u.language)
            .bind(&u.category)
            .bind(&u.status)
            .bind(&u.meta_template_id)
            .bind(&u.reason)
            .bind(u.at)
            .fetch_optional(self.pool())
            .await
            .db()?;
        match row {
            Some(r) => template(&r),
            None => Err(StoreError::Conflict(format!(
                "template {} of WABA {} belongs to another tenant",
                u.name, u.waba_id
            ))),
        }
    }

    /// [`crate::Store::find_template`].
    pub(super) async fn find_template_pg(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>> {
        let sql = format!(
            "SELECT {TEMPLATE_COLS} FROM templates WHERE tenant_id = $1 AND waba_id = $2 AND name = $3 AND language = $4"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(waba_id)
            .bind(name)
            .bind(language)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(template).transpose()
    }
}
