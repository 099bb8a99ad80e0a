//! [`LeaseStore`] on SQLite: leases are rows written by the one writer, so two takers never
//! both win.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::error::StoreResult;
use crate::model::Lease;
use crate::store::LeaseStore;

/// Takes a lease that is free, lapsed or the taker's own; a new holding is the next term.
/// (`SET` reads the row as it was, so the `CASE` sees the old holder and expiry.)
const ACQUIRE_SQL: &str =
    "INSERT INTO leases (name, holder, term, expires_at) VALUES (?1, ?2, 1, ?3 + ?4)
    ON CONFLICT (name) DO UPDATE SET
        term = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ?3
                    THEN leases.term ELSE leases.term + 1 END,
        holder = excluded.holder,
        expires_at = excluded.expires_at
    WHERE leases.expires_at <= ?3 OR leases.holder = excluded.holder
    RETURNING name, holder, term, expires_at";

fn lease(r: &Row) -> rusqlite::Result<Lease> {
    Ok(Lease {
        name: r.get(0)?,
        holder: r.get(1)?,
        term: r.get(2)?,
        expires_at: r.get(3)?,
    })
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<Lease>> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |c| {
            Ok(c.prepare_cached(ACQUIRE_SQL)?
                .query_row(params![name, holder, now, ttl_ms], lease)
                .optional()?)
        })
        .await
    }

    async fn renew_leases(
        &self,
        holder: &str,
        held: &[(String, i64)],
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<Lease>> {
        let (holder, names) = (holder.to_string(), held.to_vec());
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE leases SET expires_at = ?3 + ?4
                 WHERE name = ?1 AND holder = ?2 AND term = ?5
                 RETURNING name, holder, term, expires_at",
            )?;
            let mut held = Vec::with_capacity(names.len());
            for (name, term) in &names {
                if let Some(l) = stmt
                    .query_row(params![name, holder, now, ttl_ms, term], lease)
                    .optional()?
                {
                    held.push(l);
                }
            }
            Ok(held)
        })
        .await
    }

    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        term: i64,
        now: i64,
    ) -> StoreResult<()> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE leases SET expires_at = ?4
                 WHERE name = ?1 AND holder = ?2 AND term = ?3 AND expires_at > ?4",
            )?
            .execute(params![name, holder, term, now])?;
            Ok(())
        })
        .await
    }
}

/// One process on one file: nobody else to tell or hear.
#[async_trait]
impl crate::store::NoticeStore for SqliteStore {
    async fn publish(&self, _notices: &[String]) -> StoreResult<()> {
        Ok(())
    }

    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }
}
