//! [`AdminStore`] on PostgreSQL: tenants, API keys, apps and channels, as plain rows on the
//! pool.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::conn::DbResult;
use super::{PgStore, rows};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{
    API_KEY_COLS, APP_COLS, CHANNEL_COLS, CHANNEL_READ_COLS, LIST_TENANTS_SQL, TENANT_COLS,
};
use crate::store::AdminStore;

static GET_TENANT_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"));
static CREATE_API_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO api_keys ({API_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
});
static FIND_API_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
});
static LIST_API_KEYS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {API_KEY_COLS} FROM api_keys WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id"
    )
});
static API_KEY_FOR_REVOCATION_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1 FOR UPDATE"));
static ROTATE_APP_SECRET_SQL: LazyLock<String> = LazyLock::new(|| {
    // The right-hand sides read the row as it was: the current secret becomes the previous one.
    format!(
        "UPDATE apps SET previous_secret_enc = CASE WHEN $3::bigint IS NULL THEN NULL ELSE app_secret_enc END,
            previous_secret_expires_at = $3, app_secret_enc = $2
         WHERE id = $1 RETURNING {APP_COLS}"
    )
});
static CREATE_APP_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
});
static GET_APP_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {APP_COLS} FROM apps WHERE id = $1"));
static LIST_APPS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {APP_COLS} FROM apps WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id")
});
static FIND_APP_BY_TOKEN_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {APP_COLS} FROM apps WHERE verify_token_hash = $1 ORDER BY id LIMIT 1")
});
static CREATE_CHANNEL_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO channels ({CHANNEL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    )
});
static LIST_CHANNELS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CHANNEL_READ_COLS} FROM channels WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id"
    )
});

#[async_trait]
impl AdminStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        Ok(())
    }

    async fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.created_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(GET_TENANT_SQL.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::tenant).transpose()
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let found = sqlx::query(LIST_TENANTS_SQL.as_str())
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::tenant)
    }

    async fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        sqlx::query(CREATE_API_KEY_SQL.as_str())
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(&k.name)
            .bind(&k.key_hash)
            .bind(&k.key_prefix)
            .bind(k.is_admin)
            .bind(k.created_at)
            .bind(k.revoked_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query(FIND_API_KEY_SQL.as_str())
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let found = sqlx::query(LIST_API_KEYS_SQL.as_str())
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::api_key)
    }

    async fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<Option<ApiKey>> {
        let mut tx = self.pool.begin().await.db()?;
        // Every live admin key is locked first, in one order, so that revocations at once
        // neither both pass the last-admin check nor wait on each other in a circle.
        let live_admins: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM api_keys WHERE is_admin AND revoked_at IS NULL ORDER BY id FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let row = sqlx::query(API_KEY_FOR_REVOCATION_SQL.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        let Some(key) = row.as_ref().map(rows::api_key).transpose()? else {
            return Ok(None);
        };
        if key.revoked_at.is_some() {
            return Ok(Some(key));
        }
        if key.is_admin && live_admins.iter().all(|a| a == id) {
            return Err(StoreError::Conflict(format!(
                "api key {id} is the last live admin key"
            )));
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(Some(ApiKey {
            revoked_at: Some(at),
            ..key
        }))
    }

    async fn create_app(&self, a: &App) -> StoreResult<()> {
        sqlx::query(CREATE_APP_SQL.as_str())
            .bind(&a.id)
            .bind(&a.tenant_id)
            .bind(&a.name)
            .bind(&a.meta_app_id)
            .bind(&a.app_secret_enc)
            .bind(&a.verify_token_enc)
            .bind(&a.verify_token_hash)
            .bind(a.created_at)
            .bind(&a.previous_secret_enc)
            .bind(a.previous_secret_expires_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query(GET_APP_SQL.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::app).transpose()
    }

    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>> {
        let found = sqlx::query(LIST_APPS_SQL.as_str())
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::app)
    }

    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query(FIND_APP_BY_TOKEN_SQL.as_str())
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::app).transpose()
    }

    async fn update_app(&self, a: &App) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE apps SET name = $2, meta_app_id = $3, verify_token_enc = $4, verify_token_hash = $5
             WHERE id = $1",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(&a.meta_app_id)
        .bind(&a.verify_token_enc)
        .bind(&a.verify_token_hash)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {}", a.id)));
        }
        Ok(())
    }

    async fn rotate_app_secret(
        &self,
        id: &str,
        secret_enc: &str,
        previous_expires_at: Option<i64>,
    ) -> StoreResult<Option<App>> {
        let row = sqlx::query(ROTATE_APP_SECRET_SQL.as_str())
            .bind(id)
            .bind(secret_enc)
            .bind(previous_expires_at)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::app).transpose()
    }

    async fn create_channel(&self, ch: &Channel) -> StoreResult<()> {
        sqlx::query(CREATE_CHANNEL_SQL.as_str())
            .bind(&ch.id)
            .bind(&ch.tenant_id)
            .bind(&ch.app_id)
            .bind(&ch.phone_number_id)
            .bind(&ch.waba_id)
            .bind(&ch.display_phone_number)
            .bind(&ch.access_token_enc)
            .bind(&ch.graph_base_url)
            .bind(&ch.graph_version)
            .bind(i64::from(ch.throughput_mps))
            .bind(&ch.messaging_tier)
            .bind(ch.created_at)
            .bind(ch.updated_at)
            .bind(&ch.business_id)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn update_channel(&self, ch: &Channel) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE channels SET app_id = $2, waba_id = $3, display_phone_number = $4, access_token_enc = $5,
             graph_base_url = $6, graph_version = $7, throughput_mps = $8, updated_at = $9,
             business_id = $10 WHERE id = $1",
        )
        .bind(&ch.id)
        .bind(&ch.app_id)
        .bind(&ch.waba_id)
        .bind(&ch.display_phone_number)
        .bind(&ch.access_token_enc)
        .bind(&ch.graph_base_url)
        .bind(&ch.graph_version)
        .bind(i64::from(ch.throughput_mps))
        .bind(ch.updated_at)
        .bind(&ch.business_id)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("channel {}", ch.id)));
        }
        Ok(())
    }

    async fn set_channel_pause(
        &self,
        channel_id: &str,
        pause: Option<(i64, serde_json::Value)>,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.db()?;
        let done = match &pause {
            Some((at, reason)) => sqlx::query(
                "UPDATE channels SET paused_at = $2, pause_reason = $3, updated_at = GREATEST(updated_at, $2)
                 WHERE id = $1 AND paused_at IS NULL",
            )
            .bind(channel_id)
            .bind(at)
            .bind(reason.to_string())
            .execute(&mut *tx)
            .await
            .db()?,
            None => sqlx::query(
                "UPDATE channels SET paused_at = NULL, pause_reason = NULL WHERE id = $1 AND paused_at IS NOT NULL",
            )
            .bind(channel_id)
            .execute(&mut *tx)
            .await
            .db()?,
        };
        let changed = done.rows_affected() > 0;
        if changed {
            super::emit::insert(&mut tx, vec![event.clone()])
                .await
                .db()?;
        }
        tx.commit().await.db()?;
        if changed {
            self.signal.bump();
        }
        Ok(changed)
    }

    async fn set_portfolio_tier(
        &self,
        tenant_id: &str,
        portfolio: &str,
        tier: Option<&str>,
        now: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE channels SET messaging_tier = $3, updated_at = GREATEST(updated_at, $4)
             WHERE tenant_id = $1 AND COALESCE(business_id, waba_id) = $2
               AND messaging_tier IS DISTINCT FROM $3",
        )
        .bind(tenant_id)
        .bind(portfolio)
        .bind(tier)
        .bind(now)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }

    async fn get_channel(&self, id: &str) -> StoreResult<Option<Channel>> {
        self.channel_where("id", id).await
    }

    async fn find_channel_by_phone_number_id(&self, pnid: &str) -> StoreResult<Option<Channel>> {
        self.channel_where("phone_number_id", pnid).await
    }

    async fn find_channel_by_waba(&self, waba_id: &str) -> StoreResult<Option<Channel>> {
        self.channel_where("waba_id", waba_id).await
    }

    async fn list_channels(&self, tenant_id: Option<&str>) -> StoreResult<Vec<Channel>> {
        let found = sqlx::query(LIST_CHANNELS_SQL.as_str())
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::channel)
    }
}

impl PgStore {
    /// The first channel (by id) whose column `col` is `value`.
    async fn channel_where(&self, col: &'static str, value: &str) -> StoreResult<Option<Channel>> {
        let sql = format!(
            "SELECT {CHANNEL_READ_COLS} FROM channels WHERE {col} = $1 ORDER BY id LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::channel).transpose()
    }
}
