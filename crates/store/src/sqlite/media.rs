//! Media on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use super::rows::collect;
use crate::error::StoreResult;
use crate::media::*;
use crate::sql::MEDIA_COLS;
use crate::store::MediaStore;

fn media(r: &Row) -> rusqlite::Result<Media> {
    Ok(Media {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        sha256: r.get(2)?,
        mime_type: r.get(3)?,
        file_size: r.get::<_, i64>(4)?.max(0) as u64,
        filename: r.get(5)?,
        origin: r.get(6)?,
        created_at: r.get(7)?,
        last_used_at: r.get(8)?,
    })
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media(&self, m: &Media) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO media ({MEDIA_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                m.id,
                m.tenant_id,
                m.sha256,
                m.mime_type,
                m.file_size as i64,
                m.filename,
                m.origin,
                m.created_at,
                m.last_used_at
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_media(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Media>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MEDIA_COLS} FROM media WHERE id = ?1 AND tenant_id = ?2"
            ))?
            .query_row([&id, &t], media)
            .optional()?)
        })
        .await
    }

    async fn touch_media(&self, tenant_id: &str, id: &str, at: i64) -> StoreResult<bool> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE media SET last_used_at = MAX(last_used_at, ?3)
                     WHERE id = ?1 AND tenant_id = ?2",
                )?
                .execute(params![id, t, at])?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_media(&self, tenant_id: &str, id: &str) -> StoreResult<Option<MediaDeleted>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| {
            let Some(found) = c
                .prepare_cached(&format!(
                    "SELECT {MEDIA_COLS} FROM media WHERE id = ?1 AND tenant_id = ?2"
                ))?
                .query_row([&id, &t], media)
                .optional()?
            else {
                return Ok(None);
            };
            c.prepare_cached("DELETE FROM media_meta_copies WHERE media_id = ?1")?
                .execute([&id])?;
            c.prepare_cached("DELETE FROM media WHERE id = ?1")?
                .execute([&id])?;
            let shared: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM media WHERE tenant_id = ?1 AND sha256 = ?2)",
                )?
                .query_row([&t, &found.sha256], |r| r.get(0))?;
            Ok(Some(MediaDeleted {
                media: found,
                object_unused: !shared,
            }))
        })
        .await
    }

    async fn media_object_used(&self, tenant_id: &str, sha256: &str) -> StoreResult<bool> {
        let (t, sha) = (tenant_id.to_string(), sha256.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM media WHERE tenant_id = ?1 AND sha256 = ?2)",
            )?
            .query_row([&t, &sha], |r| r.get(0))?)
        })
        .await
    }

    async fn stale_media(&self, before: i64, limit: u32) -> StoreResult<Vec<Media>> {
        self.read(move |c| {
            collect(
                c,
                &format!(
                    "SELECT {MEDIA_COLS} FROM media WHERE last_used_at < ?1
                     ORDER BY last_used_at, id LIMIT ?2"
                ),
                params![before, limit],
                media,
            )
        })
        .await
    }

    async fn meta_copy(&self, media_id: &str, channel_id: &str) -> StoreResult<Option<MetaCopy>> {
        let (m, ch) = (media_id.to_string(), channel_id.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT meta_media_id, uploaded_at FROM media_meta_copies
                 WHERE media_id = ?1 AND channel_id = ?2",
            )?
            .query_row([&m, &ch], |r| {
                Ok(MetaCopy {
                    meta_media_id: r.get(0)?,
                    uploaded_at: r.get(1)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn set_meta_copy(
        &self,
        media_id: &str,
        channel_id: &str,
        copy: &MetaCopy,
    ) -> StoreResult<()> {
        let (m, ch, copy) = (media_id.to_string(), channel_id.to_string(), copy.clone());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO media_meta_copies (media_id, channel_id, meta_media_id, uploaded_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (media_id, channel_id)
                 DO UPDATE SET meta_media_id = excluded.meta_media_id,
                 uploaded_at = excluded.uploaded_at",
            )?
            .execute(params![m, ch, copy.meta_media_id, copy.uploaded_at])?;
            Ok(())
        })
        .await
    }

    async fn forget_meta_copy(&self, media_id: &str, channel_id: &str) -> StoreResult<()> {
        let (m, ch) = (media_id.to_string(), channel_id.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM media_meta_copies WHERE media_id = ?1 AND channel_id = ?2",
            )?
            .execute([&m, &ch])?;
            Ok(())
        })
        .await
    }
}
