//! [`EndpointStore`] on PostgreSQL: tenants' webhook endpoints, plain rows on the pool. The
//! delivery cursor is kept by [`crate::EventStore::record_deliveries`] (`deliveries.rs`);
//! nothing here writes it.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::postgres::PgRow;

use super::PgStore;
use super::conn::DbResult;
use super::rows::get;
use crate::error::StoreResult;
use crate::model::*;
use crate::sql::{WEBHOOK_ENDPOINT_COLS, webhook_endpoint_cols};
use crate::store::EndpointStore;

/// The API's columns and the delivery cursor (its transaction id as a `bigint`).
const WEBHOOK_ENDPOINT_READ_COLS: &str = concat!(
    webhook_endpoint_cols!(),
    ", cursor_xid::text::bigint, cursor_seq"
);

static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO webhook_endpoints ({WEBHOOK_ENDPOINT_COLS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )
});
static GET_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {WEBHOOK_ENDPOINT_READ_COLS} FROM webhook_endpoints WHERE id = $2 AND tenant_id = $1"
    )
});
static LIST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {WEBHOOK_ENDPOINT_READ_COLS} FROM webhook_endpoints
         WHERE tenant_id = $1 AND ($2::text IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    )
});
static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE webhook_endpoints SET
           url = $3, description = $4, events = $5, format = $6, enabled = $7,
           disabled_reason = $8, secret_enc = $9, previous_secret_enc = $10,
           previous_secret_expires_at = $11, failing_since = $12, updated_at = $13, options = $14
         WHERE id = $1 AND tenant_id = $2
         RETURNING {WEBHOOK_ENDPOINT_READ_COLS}"
    )
});
const DELETE_SQL: &str = "DELETE FROM webhook_endpoints WHERE id = $2 AND tenant_id = $1";
/// The deleted endpoint's pending deliveries and log (statements of their own, after the
/// delete: each sees what a transaction recording deliveries, which the delete waited for,
/// committed).
const DELETE_RETRIES_SQL: &str = "DELETE FROM webhook_retries WHERE endpoint_id = $1";
const DELETE_ATTEMPTS_SQL: &str = "DELETE FROM webhook_attempts WHERE endpoint_id = $1";
static ENABLED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {WEBHOOK_ENDPOINT_READ_COLS} FROM webhook_endpoints WHERE enabled ORDER BY id")
});

fn webhook_endpoint(r: &PgRow) -> StoreResult<WebhookEndpoint> {
    let events: String = get(r, 4)?;
    let (xid, seq): (Option<i64>, Option<i64>) = (get(r, 15)?, get(r, 16)?);
    Ok(WebhookEndpoint {
        cursor: xid.zip(seq).map(|(xid, seq)| EventCursor { xid, seq }),
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        url: get(r, 2)?,
        description: get(r, 3)?,
        events: serde_json::from_str(&events)?,
        format: get(r, 5)?,
        enabled: get(r, 6)?,
        disabled_reason: get(r, 7)?,
        secret_enc: get(r, 8)?,
        previous_secret_enc: get(r, 9)?,
        previous_secret_expires_at: get(r, 10)?,
        failing_since: get(r, 11)?,
        created_at: get(r, 12)?,
        updated_at: get(r, 13)?,
        options: get::<Option<String>>(r, 14)?
            .map(|o| serde_json::from_str(&o))
            .transpose()?,
    })
}

#[async_trait]
impl EndpointStore for PgStore {
    async fn create_webhook_endpoint(&self, e: &WebhookEndpoint) -> StoreResult<WebhookEndpoint> {
        sqlx::query(CREATE_SQL.as_str())
            .bind(&e.id)
            .bind(&e.tenant_id)
            .bind(&e.url)
            .bind(&e.description)
            .bind(serde_json::to_string(&e.events)?)
            .bind(&e.format)
            .bind(e.enabled)
            .bind(&e.disabled_reason)
            .bind(&e.secret_enc)
            .bind(&e.previous_secret_enc)
            .bind(e.previous_secret_expires_at)
            .bind(e.failing_since)
            .bind(e.created_at)
            .bind(e.updated_at)
            .bind(options_text(e)?)
            .execute(self.pool())
            .await
            .db()?;
        Ok(WebhookEndpoint {
            cursor: None,
            ..e.clone()
        })
    }

    async fn get_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(GET_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(webhook_endpoint).transpose()
    }

    async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        let found = sqlx::query(LIST_SQL.as_str())
            .bind(tenant_id)
            .bind(&page.after)
            .bind(i64::from(page.limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        found.iter().map(webhook_endpoint).collect()
    }

    async fn update_webhook_endpoint(
        &self,
        e: &WebhookEndpoint,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let row = sqlx::query(UPDATE_SQL.as_str())
            .bind(&e.id)
            .bind(&e.tenant_id)
            .bind(&e.url)
            .bind(&e.description)
            .bind(serde_json::to_string(&e.events)?)
            .bind(&e.format)
            .bind(e.enabled)
            .bind(&e.disabled_reason)
            .bind(&e.secret_enc)
            .bind(&e.previous_secret_enc)
            .bind(e.previous_secret_expires_at)
            .bind(e.failing_since)
            .bind(e.updated_at)
            .bind(options_text(e)?)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(webhook_endpoint).transpose()
    }

    async fn delete_webhook_endpoint(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.db()?;
        let done = sqlx::query(DELETE_SQL)
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // Its log and pending deliveries go with it.
        for sql in [DELETE_RETRIES_SQL, DELETE_ATTEMPTS_SQL] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.db()?;
        }
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn enabled_webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        let found = sqlx::query(ENABLED_SQL.as_str())
            .fetch_all(self.pool())
            .await
            .db()?;
        found.iter().map(webhook_endpoint).collect()
    }
}

/// The endpoint's options as the column keeps them (JSON text).
fn options_text(e: &WebhookEndpoint) -> StoreResult<Option<String>> {
    Ok(e.options.as_ref().map(serde_json::to_string).transpose()?)
}
