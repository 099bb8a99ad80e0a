//! [`SessionStore`] on SQLite: sessions opened and closed on the writer (each with its
//! `session.opened` / `session.closed` event), read on a reader.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::filtered::Filtered;
use super::rows::{self, collect};
use super::{SqliteStore, emit, windows};
use crate::error::StoreResult;
use crate::events::kind as ev;
use crate::model::*;
use crate::sql::{NEXT_SESSION_EXPIRY_SQL, SESSION_COLS};
use crate::store::SessionStore;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn open_session(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        spec: &SessionSpec,
        now: i64,
    ) -> StoreResult<(Session, bool)> {
        let (t, ch, con) = (
            tenant_id.to_string(),
            channel_id.to_string(),
            contact_id.to_string(),
        );
        let spec = spec.clone();
        self.write(move |c| {
            let (s, opened) = windows::open_session(c, &t, &ch, &con, &spec, now)?;
            if opened {
                emit::insert(c, &crate::events::session(ev::SESSION_OPENED, &s, now))?;
            }
            Ok((s, opened))
        })
        .await
    }

    async fn get_session(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Session>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| rows::session_by_id(c, &t, &id)).await
    }

    async fn list_sessions(
        &self,
        tenant_id: &str,
        f: &SessionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Session>> {
        let (t, f, page) = (tenant_id.to_string(), f.clone(), page.clone());
        self.read(move |c| list_query(&t, &f).fetch(c, &t, &page, rows::session))
            .await
    }

    async fn close_session(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| close_session(c, &t, &id, now)).await
    }

    async fn close_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<Vec<Session>> {
        self.write(move |c| close_expired(c, now, limit)).await
    }

    async fn next_session_expiry(&self) -> StoreResult<Option<i64>> {
        self.read(|c| Ok(c.query_row(NEXT_SESSION_EXPIRY_SQL, [], |r| r.get(0))?))
            .await
    }
}

/// The query of [`SessionStore::list_sessions`]. Most selective first: the first given claims
/// the index (see `filtered`). A contact's sessions are few, and sorted by time under a
/// window; otherwise a window claims `sessions_opened` before a channel (which may hold most
/// of the tenant's sessions) and the open/closed test.
pub(super) fn list_query(tenant: &str, f: &SessionFilter) -> Filtered {
    let mut q = Filtered::new(
        format!("SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = ?1"),
        tenant,
    );
    q.eq(f.contact_id.as_deref(), "contact_id");
    q.window("sessions", "opened_at", f.opened_from, f.opened_to);
    q.eq(f.channel_id.as_deref(), "channel_id");
    q.null(f.open, "closed_at");
    q
}

/// [`SessionStore::close_session`], on the writer.
fn close_session(c: &Connection, tenant: &str, id: &str, now: i64) -> StoreResult<Option<Session>> {
    let closed = c
        .prepare_cached(
            "UPDATE sessions SET closed_at = ?3, close_reason = 'closed', updated_at = ?3
         WHERE id = ?1 AND tenant_id = ?2 AND closed_at IS NULL",
        )?
        .execute(params![id, tenant, now])?;
    if closed > 0 {
        emit::session(c, ev::SESSION_CLOSED, id, now)?;
    }
    rows::session_by_id(c, tenant, id)
}

/// [`SessionStore::close_expired_sessions`], on the writer.
fn close_expired(c: &Connection, now: i64, limit: u32) -> StoreResult<Vec<Session>> {
    let sql = format!(
        "UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = ?1
         WHERE id IN (SELECT id FROM sessions WHERE closed_at IS NULL AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2)
         RETURNING {SESSION_COLS}"
    );
    let closed = collect(c, &sql, params![now, limit], rows::session)?;
    for s in &closed {
        emit::session(c, ev::SESSION_CLOSED, &s.id, now)?;
    }
    Ok(closed)
}
