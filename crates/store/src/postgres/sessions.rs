//! [`SessionStore`] on PostgreSQL: sessions opened ([`super::windows`]) and closed in
//! transactions of their own, each with its `session.opened` / `session.closed` event; read on
//! the pool. The closer's statement skips the sessions other writers hold, so replicas closing
//! at once never wait for each other.

use std::sync::LazyLock;

use async_trait::async_trait;

use super::conn::DbResult;
use super::filtered::{Filtered, cursor_time};
use super::tx::{Pg, retrying};
use super::{PgStore, emit, rows, windows};
use crate::error::StoreResult;
use crate::events::{self as build, kind as ev};
use crate::model::*;
use crate::sql::{NEXT_SESSION_EXPIRY_SQL, SESSION_COLS, prefixed};
use crate::store::SessionStore;

static GET_SESSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = $1 AND id = $2")
});
/// Closes a session if it is open; returns it only if it did.
static CLOSE_SESSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE sessions SET closed_at = $3, close_reason = 'closed', updated_at = $3
         WHERE tenant_id = $1 AND id = $2 AND closed_at IS NULL
         RETURNING {SESSION_COLS}"
    )
});
/// Closes up to `$2` sessions expired at `$1`, each at its own expiry. Sessions locked by a
/// concurrent writer (an inbound message renewing one, another replica's closer) are skipped:
/// the next run sees what became of them. The chosen rows are a materialised CTE: as an
/// `IN (… LIMIT …)` sub-query the planner may run the pick more than once and exceed the limit.
static CLOSE_EXPIRED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS MATERIALIZED (
            SELECT id FROM sessions WHERE closed_at IS NULL AND expires_at <= $1
            ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = $1
         FROM due
         WHERE sessions.id = due.id AND sessions.closed_at IS NULL AND sessions.expires_at <= $1
         RETURNING {}",
        prefixed("sessions", SESSION_COLS)
    )
});

#[async_trait]
impl SessionStore for PgStore {
    async fn open_session(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        spec: &SessionSpec,
        now: i64,
    ) -> StoreResult<(Session, bool)> {
        let out = retrying!(self.pool, |c| async {
            let mut new_events = Vec::new();
            let opened = windows::open_session(
                c,
                tenant_id,
                channel_id,
                contact_id,
                spec,
                now,
                &mut new_events,
            )
            .await?;
            emit::insert(c, new_events).await.pg()?;
            Ok((opened, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn get_session(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(GET_SESSION_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn list_sessions(
        &self,
        tenant_id: &str,
        f: &SessionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Session>> {
        let q = list_query(tenant_id, f);
        let Some(at) = cursor_time(&self.pool, "sessions", &q, tenant_id, page).await? else {
            return Ok(Vec::new());
        };
        let found = q.page(page, at).fetch_all(&self.pool).await.db()?;
        rows::all(found, rows::session)
    }

    async fn close_session(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let mut tx = self.pool.begin().await.db()?;
        let row = sqlx::query(CLOSE_SESSION_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if let Some(row) = row {
            let s = rows::session(&row)?;
            let event = build::session(ev::SESSION_CLOSED, &s, now);
            emit::insert(&mut tx, vec![event]).await.db()?;
            tx.commit().await.db()?;
            self.signal.bump();
            return Ok(Some(s));
        }
        drop(tx);
        self.get_session(tenant_id, id).await
    }

    async fn close_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<Vec<Session>> {
        let mut tx = self.pool.begin().await.db()?;
        let found = sqlx::query(CLOSE_EXPIRED_SQL.as_str())
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .db()?;
        let mut closed = rows::all(found, rows::session)?;
        if closed.is_empty() {
            return Ok(closed);
        }
        closed.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        let new_events = closed
            .iter()
            .map(|s| build::session(ev::SESSION_CLOSED, s, now))
            .collect();
        emit::insert(&mut tx, new_events).await.db()?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(closed)
    }

    async fn next_session_expiry(&self) -> StoreResult<Option<i64>> {
        sqlx::query_scalar(NEXT_SESSION_EXPIRY_SQL)
            .fetch_one(&self.pool)
            .await
            .db()
    }
}

/// The query of [`SessionStore::list_sessions`]: only the filters given are conditions.
pub(super) fn list_query<'a>(tenant_id: &'a str, f: &'a SessionFilter) -> Filtered<'a> {
    let mut q = Filtered::new(
        format!("SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = $1"),
        tenant_id,
    );
    q.text(f.channel_id.as_deref(), "channel_id =");
    q.text(f.contact_id.as_deref(), "contact_id =");
    match f.open {
        Some(true) => q.and("closed_at IS NULL"),
        Some(false) => q.and("closed_at IS NOT NULL"),
        None => {}
    }
    q.window("opened_at", f.opened_from, f.opened_to);
    q
}
