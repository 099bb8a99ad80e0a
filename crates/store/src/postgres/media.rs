//! Media on PostgreSQL.

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::conn::DbResult;
use super::rows::{get, get_u32};
use super::tx::{Fail, Pg};
use super::{PgStore, emit};
use crate::error::{StoreError, StoreResult};
use crate::events as build;
use crate::media::*;
use crate::model::Message;
use crate::sql::{DOWNLOAD_COLS, MEDIA_COLS};
use crate::store::MediaStore;

static INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO media ({MEDIA_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
});
static GET_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {MEDIA_COLS} FROM media WHERE id = $1 AND tenant_id = $2"));
static DELETE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("DELETE FROM media WHERE id = $1 AND tenant_id = $2 RETURNING {MEDIA_COLS}")
});
static STALE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MEDIA_COLS} FROM media WHERE last_used_at < $1
         ORDER BY last_used_at, id LIMIT $2"
    )
});

static INSERT_DOWNLOAD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO media_downloads ({DOWNLOAD_COLS}, claimed_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, NULL, $9, $9, NULL)"
    )
});
/// Claimed with `FOR UPDATE SKIP LOCKED`: two replicas claiming at once never get the same
/// job (a job another claimed meanwhile is found claimed when locked, and left).
static CLAIM_DOWNLOADS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE media_downloads SET claimed_until = $2, attempts = attempts + 1
         WHERE message_id IN (SELECT message_id FROM media_downloads
             WHERE state = 'pending' AND next_at <= $1
                 AND (claimed_until IS NULL OR claimed_until <= $1)
             ORDER BY next_at, message_id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING {DOWNLOAD_COLS}"
    )
});
static GET_DOWNLOAD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {DOWNLOAD_COLS} FROM media_downloads WHERE media_id = $1 AND tenant_id = $2")
});
static DOWNLOAD_OF_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {DOWNLOAD_COLS} FROM media_downloads WHERE message_id = $1 AND tenant_id = $2")
});

fn download(r: &PgRow) -> StoreResult<Download> {
    let error: Option<String> = get(r, 11)?;
    Ok(Download {
        message_id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        channel_id: get(r, 2)?,
        media_id: get(r, 3)?,
        meta_media_id: get(r, 4)?,
        mime_type: get(r, 5)?,
        sha256: get(r, 6)?,
        filename: get(r, 7)?,
        state: get(r, 8)?,
        attempts: get_u32(r, 9)?,
        next_at: get(r, 10)?,
        error: error
            .map(|s| serde_json::from_str(&s).map_err(StoreError::from))
            .transpose()?,
        created_at: get(r, 12)?,
        updated_at: get(r, 13)?,
    })
}

/// The pending download job of the inbound message `m` (just stored, in the caller's
/// transaction): due at once.
pub(super) async fn insert_download(
    c: &mut PgConnection,
    m: &Message,
    d: &NewDownload,
) -> Result<(), Fail> {
    sqlx::query(INSERT_DOWNLOAD_SQL.as_str())
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.channel_id)
        .bind(&d.media_id)
        .bind(&d.meta_media_id)
        .bind(&d.mime_type)
        .bind(&d.sha256)
        .bind(&d.filename)
        .bind(m.created_at)
        .execute(&mut *c)
        .await
        .pg()?;
    Ok(())
}

fn media(r: &PgRow) -> StoreResult<Media> {
    let size: i64 = get(r, 4)?;
    Ok(Media {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        sha256: get(r, 2)?,
        mime_type: get(r, 3)?,
        file_size: size.max(0) as u64,
        filename: get(r, 5)?,
        origin: get(r, 6)?,
        created_at: get(r, 7)?,
        last_used_at: get(r, 8)?,
    })
}

/// Stores a media's metadata on `c` (the pool, or a transaction).
async fn insert_media<'c>(c: impl sqlx::PgExecutor<'c>, m: &Media) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_SQL.as_str())
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.sha256)
        .bind(&m.mime_type)
        .bind(m.file_size as i64)
        .bind(&m.filename)
        .bind(&m.origin)
        .bind(m.created_at)
        .bind(m.last_used_at)
        .execute(c)
        .await?;
    Ok(())
}

#[async_trait]
impl MediaStore for PgStore {
    async fn insert_media(&self, m: &Media) -> StoreResult<()> {
        insert_media(self.pool(), m).await.db()
    }

    async fn get_media(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Media>> {
        let row = sqlx::query(GET_SQL.as_str())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(media).transpose()
    }

    async fn touch_media(&self, tenant_id: &str, id: &str, at: i64) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE media SET last_used_at = GREATEST(last_used_at, $3)
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(at)
        .execute(self.pool())
        .await
        .db()?
        .rows_affected();
        Ok(n == 1)
    }

    async fn delete_media(&self, tenant_id: &str, id: &str) -> StoreResult<Option<MediaDeleted>> {
        let mut tx = self.pool().begin().await.db()?;
        let Some(row) = sqlx::query(DELETE_SQL.as_str())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await
            .db()?
        else {
            return Ok(None);
        };
        let found = media(&row)?;
        sqlx::query("DELETE FROM media_meta_copies WHERE media_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        let shared: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM media WHERE tenant_id = $1 AND sha256 = $2)",
        )
        .bind(tenant_id)
        .bind(&found.sha256)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(Some(MediaDeleted {
            media: found,
            object_unused: !shared,
        }))
    }

    async fn media_object_used(&self, tenant_id: &str, sha256: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM media WHERE tenant_id = $1 AND sha256 = $2)",
        )
        .bind(tenant_id)
        .bind(sha256)
        .fetch_one(self.pool())
        .await
        .db()
    }

    async fn stale_media(&self, before: i64, limit: u32) -> StoreResult<Vec<Media>> {
        let rows = sqlx::query(STALE_SQL.as_str())
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        rows.iter().map(media).collect()
    }

    async fn meta_copy(&self, media_id: &str, channel_id: &str) -> StoreResult<Option<MetaCopy>> {
        let found: Option<(String, i64)> = sqlx::query_as(
            "SELECT meta_media_id, uploaded_at FROM media_meta_copies
             WHERE media_id = $1 AND channel_id = $2",
        )
        .bind(media_id)
        .bind(channel_id)
        .fetch_optional(self.pool())
        .await
        .db()?;
        Ok(found.map(|(meta_media_id, uploaded_at)| MetaCopy {
            meta_media_id,
            uploaded_at,
        }))
    }

    async fn set_meta_copy(
        &self,
        media_id: &str,
        channel_id: &str,
        copy: &MetaCopy,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO media_meta_copies (media_id, channel_id, meta_media_id, uploaded_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (media_id, channel_id)
             DO UPDATE SET meta_media_id = excluded.meta_media_id,
             uploaded_at = excluded.uploaded_at",
        )
        .bind(media_id)
        .bind(channel_id)
        .bind(&copy.meta_media_id)
        .bind(copy.uploaded_at)
        .execute(self.pool())
        .await
        .db()?;
        Ok(())
    }

    async fn forget_meta_copy(&self, media_id: &str, channel_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM media_meta_copies WHERE media_id = $1 AND channel_id = $2")
            .bind(media_id)
            .bind(channel_id)
            .execute(self.pool())
            .await
            .db()?;
        Ok(())
    }

    async fn claim_downloads(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Download>> {
        let found = sqlx::query(CLAIM_DOWNLOADS_SQL.as_str())
            .bind(now)
            .bind(now + lease_ms)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        let mut claimed = found
            .iter()
            .map(download)
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by(|a, b| (a.next_at, &a.message_id).cmp(&(b.next_at, &b.message_id)));
        Ok(claimed)
    }

    async fn finish_download(&self, message_id: &str, m: &Media, at: i64) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.db()?;
        let Some(channel) = sqlx::query_scalar::<_, String>(
            "UPDATE media_downloads SET state = 'stored', claimed_until = NULL, error = NULL,
               updated_at = $4
             WHERE message_id = $1 AND tenant_id = $2 AND media_id = $3 AND state = 'pending'
             RETURNING channel_id",
        )
        .bind(message_id)
        .bind(&m.tenant_id)
        .bind(&m.id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .db()?
        else {
            return Ok(false);
        };
        insert_media(&mut *tx, m).await.db()?;
        emit::insert(&mut tx, vec![build::media_stored(message_id, &channel, m)])
            .await
            .db()?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(true)
    }

    async fn retry_download(
        &self,
        message_id: &str,
        next_at: i64,
        error: &Value,
        at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE media_downloads SET claimed_until = NULL, next_at = $2, error = $3,
               updated_at = $4
             WHERE message_id = $1 AND state = 'pending'",
        )
        .bind(message_id)
        .bind(next_at)
        .bind(error.to_string())
        .bind(at)
        .execute(self.pool())
        .await
        .db()?;
        Ok(())
    }

    async fn fail_download(&self, message_id: &str, error: &Value, at: i64) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.db()?;
        let Some((tenant, channel, media_id)) = sqlx::query_as::<_, (String, String, String)>(
            "UPDATE media_downloads SET state = 'failed', claimed_until = NULL, error = $2,
               updated_at = $3
             WHERE message_id = $1 AND state = 'pending'
             RETURNING tenant_id, channel_id, media_id",
        )
        .bind(message_id)
        .bind(error.to_string())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .db()?
        else {
            return Ok(false);
        };
        // An inbound message keeps Meta's errors array in `error`: the download's joins it.
        sqlx::query(
            "UPDATE messages SET error = $2, updated_at = GREATEST(updated_at, $3) WHERE id = $1",
        )
        .bind(message_id)
        .bind(Value::Array(vec![error.clone()]).to_string())
        .bind(at)
        .execute(&mut *tx)
        .await
        .db()?;
        let e = build::media_failed(&tenant, message_id, &channel, &media_id, error);
        emit::insert(&mut tx, vec![e]).await.db()?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(true)
    }

    async fn get_download(&self, tenant_id: &str, media_id: &str) -> StoreResult<Option<Download>> {
        let row = sqlx::query(GET_DOWNLOAD_SQL.as_str())
            .bind(media_id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(download).transpose()
    }

    async fn download_of(
        &self,
        tenant_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<Download>> {
        let row = sqlx::query(DOWNLOAD_OF_SQL.as_str())
            .bind(message_id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(download).transpose()
    }
}
