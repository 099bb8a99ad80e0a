//! [`LeaseStore`] on PostgreSQL: one row per name, taken with an upsert whose `WHERE` admits
//! only a free, lapsed or own holding, so of two replicas taking one lease at once exactly one
//! wins (the other's upsert waits for the row lock, then finds it held).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use super::conn::DbResult;
use crate::error::StoreResult;
use crate::model::Lease;
use crate::store::LeaseStore;

/// Takes a lease that is free, lapsed or the taker's own; a new holding is the next term.
/// (`SET` reads the row as it was, so the `CASE` sees the old holder and expiry.)
const ACQUIRE_SQL: &str =
    "INSERT INTO leases (name, holder, term, expires_at) VALUES ($1, $2, 1, $3 + $4)
    ON CONFLICT (name) DO UPDATE SET
        term = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > $3
                    THEN leases.term ELSE leases.term + 1 END,
        holder = excluded.holder,
        expires_at = excluded.expires_at
    WHERE leases.expires_at <= $3 OR leases.holder = excluded.holder
    RETURNING name, holder, term, expires_at";

fn lease(r: &PgRow) -> Result<Lease, sqlx::Error> {
    Ok(Lease {
        name: r.try_get(0)?,
        holder: r.try_get(1)?,
        term: r.try_get(2)?,
        expires_at: r.try_get(3)?,
    })
}

#[async_trait]
impl LeaseStore for PgStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<Option<Lease>> {
        let row = sqlx::query(ACQUIRE_SQL)
            .bind(name)
            .bind(holder)
            .bind(now)
            .bind(ttl_ms)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(lease).transpose().db()
    }

    async fn renew_leases(
        &self,
        holder: &str,
        held: &[(String, i64)],
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<Vec<Lease>> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let (names, terms): (Vec<&str>, Vec<i64>) =
            held.iter().map(|(n, t)| (n.as_str(), *t)).unzip();
        let rows = sqlx::query(
            "UPDATE leases l SET expires_at = $3 + $4
             FROM UNNEST($1::text[], $5::bigint[]) AS h(name, term)
             WHERE l.name = h.name AND l.term = h.term AND l.holder = $2
             RETURNING l.name, l.holder, l.term, l.expires_at",
        )
        .bind(&names)
        .bind(holder)
        .bind(now)
        .bind(ttl_ms)
        .bind(&terms)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(lease).collect::<Result<_, _>>().db()
    }

    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        term: i64,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE leases SET expires_at = $4
             WHERE name = $1 AND holder = $2 AND term = $3 AND expires_at > $4",
        )
        .bind(name)
        .bind(holder)
        .bind(term)
        .bind(now)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }
}
