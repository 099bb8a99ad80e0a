//! [`AdminStore`] on SQLite: tenants, API keys, apps and channels, as plain rows.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::rows::{self, collect};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{
    API_KEY_COLS, APP_COLS, CHANNEL_COLS, CHANNEL_READ_COLS, LIST_TENANTS_SQL, TENANT_COLS,
};
use crate::store::AdminStore;

#[async_trait]
impl AdminStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await?;
        // Reads alone would answer while every write fails or waits.
        self.ping_writer().await
    }

    async fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![t.id, t.name, t.created_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?1");
            Ok(c.query_row(&sql, [id], rows::tenant).optional()?)
        })
        .await
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.read(|c| collect(c, &LIST_TENANTS_SQL, [], rows::tenant))
            .await
    }

    async fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        let k = k.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO api_keys ({API_KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    k.id,
                    k.tenant_id,
                    k.name,
                    k.key_hash,
                    k.key_prefix,
                    k.is_admin,
                    k.created_at,
                    k.revoked_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let h = key_hash.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
            );
            Ok(c.query_row(&sql, [h], rows::api_key).optional()?)
        })
        .await
    }

    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let t = tenant_id.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY id"
            );
            collect(c, &sql, [t], rows::api_key)
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<Option<ApiKey>> {
        let id = id.to_string();
        // The one writer runs this whole: nothing revokes another admin key meanwhile.
        self.write(move |c| {
            let sql = format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = ?1");
            let Some(key) = c.query_row(&sql, [&id], rows::api_key).optional()? else {
                return Ok(None);
            };
            if key.revoked_at.is_some() {
                return Ok(Some(key));
            }
            if key.is_admin {
                let others: i64 = c.query_row(
                    "SELECT COUNT(*) FROM api_keys WHERE is_admin AND revoked_at IS NULL AND id <> ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                if others == 0 {
                    return Err(StoreError::Conflict(format!(
                        "api key {id} is the last live admin key"
                    )));
                }
            }
            c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1",
                params![id, at],
            )?;
            Ok(Some(ApiKey {
                revoked_at: Some(at),
                ..key
            }))
        })
        .await
    }

    async fn create_app(&self, a: &App) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO apps ({APP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    a.id,
                    a.tenant_id,
                    a.name,
                    a.meta_app_id,
                    a.app_secret_enc,
                    a.verify_token_enc,
                    a.verify_token_hash,
                    a.created_at,
                    a.previous_secret_enc,
                    a.previous_secret_expires_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {APP_COLS} FROM apps WHERE id = ?1");
            Ok(c.query_row(&sql, [id], rows::app).optional()?)
        })
        .await
    }

    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>> {
        let t = tenant_id.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {APP_COLS} FROM apps WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY id"
            );
            collect(c, &sql, [t], rows::app)
        })
        .await
    }

    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>> {
        let h = hash.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {APP_COLS} FROM apps WHERE verify_token_hash = ?1 LIMIT 1");
            Ok(c.query_row(&sql, [h], rows::app).optional()?)
        })
        .await
    }

    async fn update_app(&self, a: &App) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE apps SET name = ?2, meta_app_id = ?3, verify_token_enc = ?4, verify_token_hash = ?5 WHERE id = ?1",
                params![a.id, a.name, a.meta_app_id, a.verify_token_enc, a.verify_token_hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("app {}", a.id)));
            }
            Ok(())
        })
        .await
    }

    async fn rotate_app_secret(
        &self,
        id: &str,
        secret_enc: &str,
        previous_expires_at: Option<i64>,
    ) -> StoreResult<Option<App>> {
        let (id, secret) = (id.to_string(), secret_enc.to_string());
        self.write(move |c| {
            // The right-hand sides read the row as it was: the current secret becomes the
            // previous one.
            let sql = format!(
                "UPDATE apps SET previous_secret_enc = CASE WHEN ?3 IS NULL THEN NULL ELSE app_secret_enc END,
                    previous_secret_expires_at = ?3, app_secret_enc = ?2
                 WHERE id = ?1 RETURNING {APP_COLS}"
            );
            Ok(c.query_row(&sql, params![id, secret, previous_expires_at], rows::app)
                .optional()?)
        })
        .await
    }

    async fn create_channel(&self, ch: &Channel) -> StoreResult<()> {
        let ch = ch.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO channels ({CHANNEL_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![ch.id, ch.tenant_id, ch.app_id, ch.phone_number_id, ch.waba_id, ch.display_phone_number, ch.access_token_enc, ch.graph_base_url, ch.graph_version, ch.throughput_mps, ch.messaging_tier, ch.created_at, ch.updated_at, ch.business_id],
            )?;
            Ok(())
        })
        .await
    }

    async fn update_channel(&self, ch: &Channel) -> StoreResult<()> {
        let ch = ch.clone();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE channels SET app_id = ?2, waba_id = ?3, display_phone_number = ?4, access_token_enc = ?5, graph_base_url = ?6, graph_version = ?7, throughput_mps = ?8, updated_at = ?9, business_id = ?10 WHERE id = ?1",
                params![ch.id, ch.app_id, ch.waba_id, ch.display_phone_number, ch.access_token_enc, ch.graph_base_url, ch.graph_version, ch.throughput_mps, ch.updated_at, ch.business_id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("channel {}", ch.id)));
            }
            Ok(())
        })
        .await
    }

    async fn set_channel_pause(
        &self,
        channel_id: &str,
        pause: Option<(i64, serde_json::Value)>,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let (id, event) = (channel_id.to_string(), event.clone());
        self.write(move |c| {
            let n = match &pause {
                Some((at, reason)) => c.execute(
                    "UPDATE channels SET paused_at = ?2, pause_reason = ?3, updated_at = MAX(updated_at, ?2)
                     WHERE id = ?1 AND paused_at IS NULL",
                    params![id, at, reason.to_string()],
                )?,
                None => c.execute(
                    "UPDATE channels SET paused_at = NULL, pause_reason = NULL WHERE id = ?1 AND paused_at IS NOT NULL",
                    [&id],
                )?,
            };
            if n > 0 {
                super::emit::insert(c, &event)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn set_portfolio_tier(
        &self,
        tenant_id: &str,
        portfolio: &str,
        tier: Option<&str>,
        now: i64,
    ) -> StoreResult<u64> {
        let (t, p, tier) = (
            tenant_id.to_string(),
            portfolio.to_string(),
            tier.map(str::to_string),
        );
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE channels SET messaging_tier = ?3, updated_at = MAX(updated_at, ?4)
                 WHERE tenant_id = ?1 AND COALESCE(business_id, waba_id) = ?2
                   AND messaging_tier IS NOT ?3",
                params![t, p, tier, now],
            )? as u64)
        })
        .await
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
        let t = tenant_id.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {CHANNEL_READ_COLS} FROM channels WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY id"
            );
            collect(c, &sql, [t], rows::channel)
        })
        .await
    }
}

impl SqliteStore {
    async fn channel_where(&self, col: &'static str, value: &str) -> StoreResult<Option<Channel>> {
        let v = value.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT {CHANNEL_READ_COLS} FROM channels WHERE {col} = ?1 ORDER BY id LIMIT 1"
            );
            Ok(c.query_row(&sql, [v], rows::channel).optional()?)
        })
        .await
    }
}
