//! Media on PostgreSQL.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::postgres::PgRow;

use super::PgStore;
use super::conn::DbResult;
use super::rows::get;
use crate::error::StoreResult;
use crate::media::*;
use crate::sql::MEDIA_COLS;
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

#[async_trait]
impl MediaStore for PgStore {
    async fn insert_media(&self, m: &Media) -> StoreResult<()> {
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
            .execute(self.pool())
            .await
            .db()?;
        Ok(())
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
}
