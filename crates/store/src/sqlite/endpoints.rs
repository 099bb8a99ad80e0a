//! [`EndpointStore`] on SQLite: tenants' webhook endpoints, plain rows written on the writer
//! connection and read on a reader. The delivery cursor is kept by
//! [`crate::EventStore::record_deliveries`]; nothing here writes it.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::rows::{self, WEBHOOK_ENDPOINT_READ_COLS, collect};
use crate::error::StoreResult;
use crate::model::*;
use crate::sql::WEBHOOK_ENDPOINT_COLS;
use crate::store::EndpointStore;

#[async_trait]
impl EndpointStore for SqliteStore {
    async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        let e = endpoint.clone();
        self.write(move |c| create(c, &e)).await
    }

    async fn get_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| get(c, &t, &id)).await
    }

    async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        let (t, page) = (tenant_id.to_string(), page.clone());
        self.read(move |c| list(c, &t, &page)).await
    }

    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let e = endpoint.clone();
        self.write(move |c| update(c, &e)).await
    }

    async fn delete_webhook_endpoint(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| delete(c, &t, &id)).await
    }

    async fn enabled_webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        self.read(enabled).await
    }
}

/// [`EndpointStore::create_webhook_endpoint`].
fn create(c: &Connection, e: &WebhookEndpoint) -> StoreResult<WebhookEndpoint> {
    let sql = format!(
        "INSERT INTO webhook_endpoints ({WEBHOOK_ENDPOINT_COLS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    );
    c.prepare_cached(&sql)?.execute(params![
        e.id,
        e.tenant_id,
        e.url,
        e.description,
        serde_json::to_string(&e.events)?,
        e.format,
        e.enabled,
        e.disabled_reason,
        e.secret_enc,
        e.previous_secret_enc,
        e.previous_secret_expires_at,
        e.failing_since,
        e.created_at,
        e.updated_at,
        options_text(e)?,
    ])?;
    Ok(WebhookEndpoint {
        cursor: None,
        ..e.clone()
    })
}

/// [`EndpointStore::get_webhook_endpoint`].
fn get(c: &Connection, tenant_id: &str, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
    let sql = format!(
        "SELECT {WEBHOOK_ENDPOINT_READ_COLS} FROM webhook_endpoints WHERE id = ?2 AND tenant_id = ?1"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant_id, id], rows::webhook_endpoint)
        .optional()?)
}

/// [`EndpointStore::list_webhook_endpoints`].
fn list(c: &Connection, tenant_id: &str, page: &Page) -> StoreResult<Vec<WebhookEndpoint>> {
    let sql = format!(
        "SELECT {WEBHOOK_ENDPOINT_READ_COLS} FROM webhook_endpoints
         WHERE tenant_id = ?1 AND (?2 IS NULL OR id > ?2)
         ORDER BY id LIMIT ?3"
    );
    collect(
        c,
        &sql,
        params![tenant_id, page.after, page.limit],
        rows::webhook_endpoint,
    )
}

/// [`EndpointStore::update_webhook_endpoint`].
fn update(c: &Connection, e: &WebhookEndpoint) -> StoreResult<Option<WebhookEndpoint>> {
    let sql = format!(
        "UPDATE webhook_endpoints SET
           url = ?3, description = ?4, events = ?5, format = ?6, enabled = ?7,
           disabled_reason = ?8, secret_enc = ?9, previous_secret_enc = ?10,
           previous_secret_expires_at = ?11, failing_since = ?12, updated_at = ?13, options = ?14
         WHERE id = ?1 AND tenant_id = ?2
         RETURNING {WEBHOOK_ENDPOINT_READ_COLS}"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row(
            params![
                e.id,
                e.tenant_id,
                e.url,
                e.description,
                serde_json::to_string(&e.events)?,
                e.format,
                e.enabled,
                e.disabled_reason,
                e.secret_enc,
                e.previous_secret_enc,
                e.previous_secret_expires_at,
                e.failing_since,
                e.updated_at,
                options_text(e)?,
            ],
            rows::webhook_endpoint,
        )
        .optional()?)
}

/// [`EndpointStore::delete_webhook_endpoint`].
fn delete(c: &Connection, tenant_id: &str, id: &str) -> StoreResult<bool> {
    let n = c
        .prepare_cached("DELETE FROM webhook_endpoints WHERE id = ?2 AND tenant_id = ?1")?
        .execute([tenant_id, id])?;
    if n > 0 {
        // Its log and pending deliveries go with it.
        c.prepare_cached("DELETE FROM webhook_retries WHERE endpoint_id = ?1")?
            .execute([id])?;
        c.prepare_cached("DELETE FROM webhook_attempts WHERE endpoint_id = ?1")?
            .execute([id])?;
    }
    Ok(n > 0)
}

/// [`EndpointStore::enabled_webhook_endpoints`].
fn enabled(c: &Connection) -> StoreResult<Vec<WebhookEndpoint>> {
    let sql = format!(
        "SELECT {WEBHOOK_ENDPOINT_READ_COLS} FROM webhook_endpoints WHERE enabled ORDER BY id"
    );
    collect(c, &sql, [], rows::webhook_endpoint)
}

/// The endpoint's options as the column keeps them (JSON text).
fn options_text(e: &WebhookEndpoint) -> StoreResult<Option<String>> {
    Ok(e.options.as_ref().map(serde_json::to_string).transpose()?)
}
