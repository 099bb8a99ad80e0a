//! Media on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::rows::{collect, json_col};
use super::{SqliteStore, emit};
use crate::error::StoreResult;
use crate::events as build;
use crate::media::*;
use crate::model::Message;
use crate::sql::{DOWNLOAD_COLS, MEDIA_COLS};
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

fn download(r: &Row) -> rusqlite::Result<Download> {
    Ok(Download {
        message_id: r.get(0)?,
        tenant_id: r.get(1)?,
        channel_id: r.get(2)?,
        media_id: r.get(3)?,
        meta_media_id: r.get(4)?,
        mime_type: r.get(5)?,
        sha256: r.get(6)?,
        filename: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        next_at: r.get(10)?,
        error: json_col(r, 11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

/// Stores a media's metadata, in the current transaction.
fn insert_media(c: &Connection, m: &Media) -> StoreResult<()> {
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
}

/// The pending download job of the inbound message `m` (just stored, in the current
/// transaction): due at once.
pub(super) fn insert_download(c: &Connection, m: &Message, d: &NewDownload) -> StoreResult<()> {
    c.prepare_cached(&format!(
        "INSERT INTO media_downloads ({DOWNLOAD_COLS}, claimed_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, NULL, ?9, ?9, NULL)"
    ))?
    .execute(params![
        m.id,
        m.tenant_id,
        m.channel_id,
        d.media_id,
        d.meta_media_id,
        d.mime_type,
        d.sha256,
        d.filename,
        m.created_at
    ])?;
    Ok(())
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media(&self, m: &Media) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| insert_media(c, &m)).await
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

    async fn claim_downloads(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Download>> {
        // One job of the writer: two workers never claim the same job.
        self.write(move |c| {
            let mut claimed = collect(
                c,
                &format!(
                    "UPDATE media_downloads SET claimed_until = ?2, attempts = attempts + 1
                     WHERE message_id IN (SELECT message_id FROM media_downloads
                         WHERE state = 'pending' AND next_at <= ?1
                         AND (claimed_until IS NULL OR claimed_until <= ?1)
                         ORDER BY next_at, message_id LIMIT ?3)
                     RETURNING {DOWNLOAD_COLS}"
                ),
                params![now, now + lease_ms, limit],
                download,
            )?;
            claimed.sort_by(|a, b| (a.next_at, &a.message_id).cmp(&(b.next_at, &b.message_id)));
            Ok(claimed)
        })
        .await
    }

    async fn finish_download(&self, message_id: &str, m: &Media, at: i64) -> StoreResult<bool> {
        let (id, m) = (message_id.to_string(), m.clone());
        self.write(move |c| {
            let Some(channel) = c
                .prepare_cached(
                    "UPDATE media_downloads SET state = 'stored', claimed_until = NULL,
                       error = NULL, updated_at = ?4
                     WHERE message_id = ?1 AND tenant_id = ?2 AND media_id = ?3
                       AND state = 'pending'
                     RETURNING channel_id",
                )?
                .query_row(params![id, m.tenant_id, m.id, at], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
            else {
                return Ok(false);
            };
            insert_media(c, &m)?;
            emit::insert(c, &build::media_stored(&id, &channel, &m))?;
            Ok(true)
        })
        .await
    }

    async fn retry_download(
        &self,
        message_id: &str,
        next_at: i64,
        error: &Value,
        at: i64,
    ) -> StoreResult<()> {
        let (id, error) = (message_id.to_string(), error.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE media_downloads SET claimed_until = NULL, next_at = ?2, error = ?3,
                   updated_at = ?4
                 WHERE message_id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, next_at, error, at])?;
            Ok(())
        })
        .await
    }

    async fn fail_download(&self, message_id: &str, error: &Value, at: i64) -> StoreResult<bool> {
        let (id, error) = (message_id.to_string(), error.clone());
        self.write(move |c| {
            let Some((tenant, channel, media_id)) = c
                .prepare_cached(
                    "UPDATE media_downloads SET state = 'failed', claimed_until = NULL,
                       error = ?2, updated_at = ?3
                     WHERE message_id = ?1 AND state = 'pending'
                     RETURNING tenant_id, channel_id, media_id",
                )?
                .query_row(params![id, error.to_string(), at], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .optional()?
            else {
                return Ok(false);
            };
            // An inbound message keeps Meta's errors array in `error`: the download's joins it.
            c.prepare_cached(
                "UPDATE messages SET error = ?2, updated_at = MAX(updated_at, ?3) WHERE id = ?1",
            )?
            .execute(params![
                id,
                Value::Array(vec![error.clone()]).to_string(),
                at
            ])?;
            emit::insert(
                c,
                &build::media_failed(&tenant, &id, &channel, &media_id, &error),
            )?;
            Ok(true)
        })
        .await
    }

    async fn get_download(&self, tenant_id: &str, media_id: &str) -> StoreResult<Option<Download>> {
        let (t, m) = (tenant_id.to_string(), media_id.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {DOWNLOAD_COLS} FROM media_downloads WHERE media_id = ?1 AND tenant_id = ?2"
            ))?
            .query_row([&m, &t], download)
            .optional()?)
        })
        .await
    }

    async fn download_of(
        &self,
        tenant_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<Download>> {
        let (t, id) = (tenant_id.to_string(), message_id.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {DOWNLOAD_COLS} FROM media_downloads
                 WHERE message_id = ?1 AND tenant_id = ?2"
            ))?
            .query_row([&id, &t], download)
            .optional()?)
        })
        .await
    }
}
