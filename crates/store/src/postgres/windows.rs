//! Sessions on PostgreSQL, as sends and inbound messages need them: the open session of a
//! channel and contact found or opened, or renewed by an inbound message, and one whose window
//! lapsed closed first, as the closer would have. The open session of a pair is only ever
//! created or renewed by `INSERT … ON CONFLICT` on the partial unique index `sessions_open`,
//! which is atomic against the group-commit workers opening sessions for outbound messages.
//! Every function runs inside the caller's transaction.

use std::sync::LazyLock;

use openbsp_domain::ids::{new_id_at, prefix};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::rows;
use super::tx::{Fail, Pg, RETRIES};
use crate::error::StoreError;
use crate::events::{self as build, kind as ev};
use crate::model::*;
use crate::sql::{SESSION_COLS, SESSION_N, prefixed};

/// Closes the open sessions (`s`) that `which` names whose window lapsed at `at` (the closer
/// has not reached them yet): at their expiry, reason `expired`, as the closer would have; `from`
/// brings in what `which` and `at` refer to. Returns them as closed ([`SESSION_COLS`]).
fn close_lapsed_sql(from: &str, which: &str, at: &str) -> String {
    format!(
        "UPDATE sessions AS s SET closed_at = s.expires_at, close_reason = 'expired', updated_at = {at}
         {from}
         WHERE {which} AND s.closed_at IS NULL AND s.expires_at <= {at}
         RETURNING {}",
        prefixed("s", SESSION_COLS)
    )
}

/// The open session of a channel and contact, if its window lapsed at `$4`: $1 tenant,
/// $2 channel, $3 contact.
static CLOSE_LAPSED_SQL: LazyLock<String> = LazyLock::new(|| {
    close_lapsed_sql(
        "",
        "s.channel_id = $2 AND s.contact_id = $3 AND s.tenant_id = $1",
        "$4",
    )
});

/// The sessions `$1` (ids), each if its window lapsed at its time in `$2`: for a batch.
pub(super) static CLOSE_LAPSED_BY_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    close_lapsed_sql(
        "FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at)",
        "s.id = u.id",
        "u.at",
    )
});

/// [`CLOSE_LAPSED_SQL`], with the `session.closed` event of what it closed (at `now`).
pub(super) async fn close_lapsed(
    c: &mut PgConnection,
    tenant_id: &str,
    channel_id: &str,
    contact_id: &str,
    now: i64,
    events: &mut Vec<NewEvent>,
) -> Result<(), Fail> {
    let closed = sqlx::query(CLOSE_LAPSED_SQL.as_str())
        .bind(tenant_id)
        .bind(channel_id)
        .bind(contact_id)
        .bind(now)
        .fetch_all(&mut *c)
        .await
        .pg()?;
    closed_events(&closed, now, events)
}

/// The `session.closed` events (at `now`) of the sessions a statement closed and returned.
pub(super) fn closed_events(
    closed: &[PgRow],
    now: i64,
    events: &mut Vec<NewEvent>,
) -> Result<(), Fail> {
    for row in closed {
        events.push(build::session(
            ev::SESSION_CLOSED,
            &rows::session(row)?,
            now,
        ));
    }
    Ok(())
}

/// A new open session of a channel and contact, unless it has one: $1 id, $2 tenant,
/// $3 channel, $4 contact, $5 kind, $6 opened by, $7 opened at, $8 expires at.
static OPEN_SESSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO sessions (id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at,
            expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)
         ON CONFLICT (channel_id, contact_id) WHERE closed_at IS NULL DO NOTHING
         RETURNING {SESSION_COLS}"
    )
});

/// The open session of a channel ($1) and contact ($2) of a tenant ($3).
static OPEN_SESSION_ROW_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SESSION_COLS} FROM sessions
         WHERE channel_id = $1 AND contact_id = $2 AND closed_at IS NULL AND tenant_id = $3"
    )
});

/// The open session of a channel and contact, or one opened with `spec` at `now` (inside the
/// caller's transaction); and whether it was opened here. An open session whose window lapsed
/// at `now` is closed first (reason `expired`), as the closer would have. The events of the
/// sessions closed and opened go to `events`.
pub(super) async fn open_session(
    c: &mut PgConnection,
    tenant_id: &str,
    channel_id: &str,
    contact_id: &str,
    spec: &SessionSpec,
    now: i64,
    events: &mut Vec<NewEvent>,
) -> Result<(Session, bool), Fail> {
    for _ in 0..RETRIES {
        close_lapsed(c, tenant_id, channel_id, contact_id, now, events).await?;
        let row = sqlx::query(OPEN_SESSION_SQL.as_str())
            .bind(new_id_at(prefix::SESSION, now))
            .bind(tenant_id)
            .bind(channel_id)
            .bind(contact_id)
            .bind(&spec.kind)
            .bind(&spec.opened_by)
            .bind(now)
            .bind(spec.expires_at)
            .fetch_optional(&mut *c)
            .await
            .pg()?;
        if let Some(row) = row {
            let s = rows::session(&row)?;
            events.push(build::session(ev::SESSION_OPENED, &s, now));
            return Ok((s, true));
        }
        let row = sqlx::query(OPEN_SESSION_ROW_SQL.as_str())
            .bind(channel_id)
            .bind(contact_id)
            .bind(tenant_id)
            .fetch_optional(&mut *c)
            .await
            .pg()?;
        if let Some(row) = row {
            return Ok((rows::session(&row)?, false));
        }
        // Closed between the two statements: try again.
    }
    Err(Fail::Again(StoreError::database(
        "a session could not be found or opened",
    )))
}

/// An inbound message's open session renewed, or a new one opened (`$4` its id, `$5` the
/// message's time, `$6` the window's length), if `$7` (the message opens the window). An open
/// session whose window lapsed before the message (the closer has not reached it yet) is
/// neither renewed nor returned: the caller closes it and runs this again. $1 tenant,
/// $2 channel, $3 contact. Returns the session as it now is ([`SESSION_COLS`]) and `opened`,
/// whether this inserted it (a row an `ON CONFLICT` update returns has `xmax` set).
pub(super) static RENEW_SESSION_CTE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO sessions AS s (id, tenant_id, channel_id, contact_id,
            kind, opened_by, opened_at, expires_at, last_inbound_at, updated_at)
        SELECT $4, $1, $2, $3, 'service', 'inbound', $5, $5 + $6, $5, $5 WHERE $7
        ON CONFLICT (channel_id, contact_id) WHERE closed_at IS NULL DO UPDATE SET
            expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at),
            last_inbound_at = GREATEST(s.last_inbound_at, EXCLUDED.last_inbound_at),
            updated_at = GREATEST(s.updated_at, EXCLUDED.updated_at)
        WHERE s.expires_at > EXCLUDED.opened_at
        RETURNING {SESSION_COLS}, (xmax = 0) AS opened"
    )
});

/// [`SESSION_COLS`] of the session aliased `ses`, then `opened`.
pub(super) static SES_COLS: LazyLock<String> =
    LazyLock::new(|| format!("{}, ses.opened", prefixed("ses", SESSION_COLS)));

/// The session columns of a row of a statement that ends with [`SES_COLS`]
/// (from column `at`): the session, if the statement opened it.
pub(super) fn opened_session(
    row: &sqlx::postgres::PgRow,
    at: usize,
) -> Result<Option<Session>, Fail> {
    let id: Option<String> = rows::get(row, at)?;
    let opened: Option<bool> = rows::get(row, at + SESSION_N)?;
    if id.is_none() || opened != Some(true) {
        return Ok(None);
    }
    Ok(Some(rows::session_at(row, at)?))
}
