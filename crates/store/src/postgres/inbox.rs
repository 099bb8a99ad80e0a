//! [`InboxStore`] on PostgreSQL: Meta's webhook payloads (stored through the group commit,
//! [`super::batch`]) kept until processed, and what processing applies: a status update, by the
//! rules of [`crate::statuses`], and an inbound message with its effects on the contact
//! ([`super::resolve`]), its window and its session ([`super::windows`]) — see the contract on
//! [`InboxStore::insert_inbound`].

use std::sync::LazyLock;

use async_trait::async_trait;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::CSW_MS;
use sqlx::PgConnection;

use super::conn::DbResult;
use super::tx::{Fail, Pg, RETRIES, retrying};
use super::windows::{RENEW_SESSION_CTE, SES_COLS};
use super::{PgStore, emit, resolve, rows, windows};
use crate::error::{StoreError, StoreResult};
use crate::events::{self as build, kind as ev};
use crate::model::*;
use crate::sql::MESSAGE_COLS;
use crate::statuses;
use crate::store::InboxStore;

#[async_trait]
impl InboxStore for PgStore {
    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<()> {
        self.batcher.insert_inbox(item.clone()).await
    }

    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>> {
        let found = sqlx::query(
            "SELECT id, app_id, received_at, body FROM webhook_inbox WHERE processed_at IS NULL
             ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows::all(found, rows::inbox_item)
    }

    async fn claim_inbox(
        &self,
        holder: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> StoreResult<Vec<InboxItem>> {
        let found = sqlx::query(
            "UPDATE webhook_inbox SET claimed_by = $1, claimed_until = $3
             WHERE id IN (SELECT id FROM webhook_inbox
                 WHERE processed_at IS NULL
                     AND (claimed_until IS NULL OR claimed_until <= $2 OR claimed_by = $1)
                 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING id, app_id, received_at, body",
        )
        .bind(holder)
        .bind(now)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut items = rows::all(found, rows::inbox_item)?;
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    async fn mark_inbox_processed(
        &self,
        done: &[(String, Vec<NewEvent>)],
        at: i64,
    ) -> StoreResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = done.iter().map(|(id, _)| id.as_str()).collect();
        let mut tx = self.pool.begin().await.db()?;
        let marked: Vec<String> = sqlx::query_scalar(
            "UPDATE webhook_inbox SET processed_at = $2 WHERE id = ANY($1) AND processed_at IS NULL
             RETURNING id",
        )
        .bind(&ids)
        .bind(at)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let marked: std::collections::HashSet<String> = marked.into_iter().collect();
        let new_events: Vec<NewEvent> = done
            .iter()
            .filter(|(id, _)| marked.contains(id))
            .flat_map(|(_, e)| e.iter().cloned())
            .collect();
        emit::insert(&mut tx, new_events.clone()).await.db()?;
        tx.commit().await.db()?;
        if !new_events.is_empty() {
            self.signal.bump();
        }
        Ok(())
    }

    async fn apply_status(&self, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
        let mut tx = self.pool.begin().await.db()?;
        let outcome = apply_status(&mut tx, u).await?;
        tx.commit().await.db()?;
        if !matches!(outcome, StatusOutcome::UnknownMessage) {
            self.signal.bump();
        }
        Ok(outcome)
    }

    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool> {
        // Not stored: the transaction is rolled back, so a duplicate changes nothing.
        let stored = retrying!(self.pool, |c| insert_inbound(c, new))?;
        if stored {
            self.signal.bump();
        }
        Ok(stored)
    }
}

/// The outbox row goes (Meta has the message), the history entry is added (and, if it is
/// new and `$15`, its event `$9`…`$14`), the message learns its `wamid` and moves forward, and
/// its session (`$8`) learns its kind from the pricing category (`$7`) if it did not know it —
/// one statement.
const APPLY_STATUS_SQL: &str = "WITH d AS (
    DELETE FROM outbox WHERE message_id = $1
), k AS (
    UPDATE sessions SET kind = $7 WHERE id = $8 AND kind IS NULL AND $7 IS NOT NULL
), h AS (
    INSERT INTO message_statuses (message_id, status, at, error) VALUES ($1, $2, $3, $4)
    ON CONFLICT (message_id, status) DO NOTHING
    RETURNING message_id
), ev AS (
    INSERT INTO events (id, tenant_id, type, format, created_at, data)
    SELECT $9::text, $10::text, $11::text, $12::text, $13::bigint, $14::text FROM h WHERE $15
)
UPDATE messages SET
    wamid = COALESCE(wamid, $5),
    status = CASE WHEN $6 THEN $2 ELSE status END,
    error = CASE WHEN $6 THEN COALESCE($4, error) ELSE error END,
    updated_at = CASE WHEN $6 THEN GREATEST(updated_at, $3) ELSE updated_at END
WHERE id = $1 AND ($6 OR wamid IS NULL)";

/// The message a status names, locked: by `wamid`, or (the send's answer was lost) by the
/// gateway id the callback data carries.
static BY_WAMID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE wamid = $1 AND channel_id = $2 FOR UPDATE")
});
static BY_CALLBACK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLS} FROM messages
         WHERE id = $1 AND channel_id = $2 AND direction = 'outbound' FOR UPDATE"
    )
});

/// [`InboxStore::apply_status`] on `c` (inside the caller's transaction), by the rules of
/// [`crate::statuses`]; the message's row is locked first, so its status is still current
/// when the one statement writes.
async fn apply_status(c: &mut PgConnection, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
    let by_wamid = sqlx::query(BY_WAMID_SQL.as_str())
        .bind(&u.wamid)
        .bind(&u.channel_id)
        .fetch_optional(&mut *c)
        .await
        .db()?;
    let found = match (by_wamid, statuses::callback_id(u)) {
        (Some(row), _) => Some(row),
        (None, Some(id)) => sqlx::query(BY_CALLBACK_SQL.as_str())
            .bind(id)
            .bind(&u.channel_id)
            .fetch_optional(&mut *c)
            .await
            .db()?,
        (None, None) => None,
    };
    let Some(row) = found else {
        return Ok(StatusOutcome::UnknownMessage);
    };
    let m = rows::message_at(&row, 0, Some(statuses::UNKNOWN_READS_AS))?;
    let write = statuses::apply(m.status, m.wamid.as_deref(), u);
    // The message as this leaves it, for its event.
    let after = statuses::changed(&m, u.status, write.wamid, u.at, u.error.as_ref());
    let event = build::message_status(
        &after,
        u.status,
        u.at,
        u.error.as_ref(),
        u.pricing_category.as_deref(),
    );
    sqlx::query(APPLY_STATUS_SQL)
        .bind(&m.id)
        .bind(u.status.as_str())
        .bind(u.at)
        .bind(u.error.as_ref().map(|e| e.to_string()))
        .bind(write.wamid)
        .bind(write.forward)
        .bind(write.session_kind)
        .bind(&m.session_id)
        .bind(&event.id)
        .bind(&event.tenant_id)
        .bind(&event.kind)
        .bind(&event.format)
        .bind(event.created_at)
        .bind(event.data.to_string())
        .bind(statuses::writes_event(u.status))
        .execute(&mut *c)
        .await
        .db()?;
    Ok(write.outcome(m.id))
}

/// The window, the session and the message of an inbound message, in one statement. With `$7`
/// (it opens the window): the window's `last_inbound_at` (and `entry_point_at` with `$8`) move
/// forward and the open session is renewed or opened ([`RENEW_SESSION_CTE`]); without, the
/// message joins the open session if there is one. `$9`…`$21`: the message; `$22`: the `wamid`
/// it replies to, resolved to the gateway's id if known. Nothing is inserted into `messages`
/// (and no row returned) if its `wamid` is already stored: the caller then rolls back. Returns
/// the message's session (`NULL` with `$7`: the open session had lapsed), its context as
/// stored, and the session as [`RENEW_SESSION_CTE`] returns it (`NULL`s without `$7`).
static INSERT_INBOUND_SQL: LazyLock<String> = LazyLock::new(|| {
    let (renew, ses_cols) = (RENEW_SESSION_CTE.as_str(), SES_COLS.as_str());
    format!(
        "WITH win AS (
            INSERT INTO contact_windows AS w (channel_id, contact_id, tenant_id, last_inbound_at,
                entry_point_at)
            SELECT $2, $3, $1, $5, CASE WHEN $8 THEN $5 END WHERE $7
            ON CONFLICT (channel_id, contact_id) DO UPDATE SET
                last_inbound_at = GREATEST(w.last_inbound_at, EXCLUDED.last_inbound_at),
                entry_point_at = GREATEST(w.entry_point_at, EXCLUDED.entry_point_at)
         ), ses AS (
            {renew}
         ), m AS (
            INSERT INTO messages ({MESSAGE_COLS}, request_hash)
            VALUES ($9, $1, $2, $3, $10, $11, $12, $13, $14, $15, $16, $17,
                COALESCE((SELECT id FROM messages WHERE wamid = $22 AND tenant_id = $1), $22, $18),
                $19, $20, $21,
                CASE WHEN $7 THEN (SELECT id FROM ses) ELSE (SELECT id FROM sessions
                    WHERE channel_id = $2 AND contact_id = $3 AND closed_at IS NULL
                      AND expires_at > $5) END,
                NULL, NULL, NULL)
            ON CONFLICT (wamid) WHERE wamid IS NOT NULL DO NOTHING
            RETURNING id, status, created_at, session_id, context_message_id
         ), h AS (
            INSERT INTO message_statuses (message_id, status, at)
            SELECT id, status, created_at FROM m
            ON CONFLICT (message_id, status) DO NOTHING
         )
         SELECT m.session_id, m.context_message_id, {ses_cols}
         FROM m LEFT JOIN ses ON ses.id = m.session_id"
    )
});

/// After its lapsed session is closed ([`windows::close_lapsed`]): the inbound message `$8` gets the session opened for it.
/// Returns its session and the session's columns as [`INSERT_INBOUND_SQL`] does.
static REOPEN_FOR_INBOUND_SQL: LazyLock<String> = LazyLock::new(|| {
    let (renew, ses_cols) = (RENEW_SESSION_CTE.as_str(), SES_COLS.as_str());
    format!(
        "WITH ses AS ({renew}), u AS (
            UPDATE messages SET session_id = (SELECT id FROM ses) WHERE id = $8
            RETURNING session_id
         )
         SELECT u.session_id, {ses_cols} FROM u LEFT JOIN ses ON ses.id = u.session_id"
    )
});

/// Stores an inbound message with its effects (inside the caller's transaction); `false` if
/// its `wamid` is already stored, in which case the caller rolls back whatever was changed on
/// the way (the answer is then committed by nobody).
async fn insert_inbound(c: &mut PgConnection, new: &NewInbound) -> Result<(bool, bool), Fail> {
    let m = &new.message;
    if let Some(wamid) = &m.wamid {
        let seen: bool =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM messages WHERE wamid = $1)")
                .bind(wamid)
                .fetch_one(&mut *c)
                .await
                .pg()?;
        if seen {
            return Ok((false, false));
        }
    }
    let now = m.created_at;
    let mut r = resolve::resolve(
        c,
        &m.tenant_id,
        &new.contact,
        new.also.as_ref(),
        new.changed_number.as_deref(),
        (new.profile_name.as_deref(), new.username.as_deref()),
        now,
    )
    .await?;
    // The profile of the user's latest message wins, whatever order Meta's webhooks are
    // applied in: an older message (a redelivery, or one processed beside a newer one) does
    // not bring back an old name. Asked only when the profile would change.
    let differs = new.profile_name.is_some() && new.profile_name != r.contact.profile_name
        || new.username.is_some() && new.username != r.contact.username;
    let newer_seen = !r.created
        && differs
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS(SELECT 1 FROM contact_windows WHERE contact_id = $1 AND last_inbound_at > $2)",
        )
        .bind(&r.contact.id)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .pg()?;
    if !newer_seen {
        r.set_name(new.profile_name.as_deref());
        r.set_username(new.username.as_deref());
    }
    if let Some(change) = &new.opt_out {
        r.set_opt_out(change);
    }
    if r.dirty {
        resolve::save(c, &mut r.contact, now).await?;
    }
    // The events, in the order SQLite writes them: sessions closed by a merge, the contact's
    // change, a lapsed session closed and one opened, the message.
    let mut new_events = std::mem::take(&mut r.events);
    let before = r.before.0.clone().or_else(|| r.before.1.clone());
    new_events.extend(r.contact_event(before.as_ref(), now));
    let contact_id = r.contact.id.as_str();
    let session_id = new_id_at(prefix::SESSION, now);
    let row = sqlx::query(INSERT_INBOUND_SQL.as_str())
        .bind(&m.tenant_id)
        .bind(&m.channel_id)
        .bind(contact_id)
        .bind(&session_id)
        .bind(now)
        .bind(CSW_MS)
        .bind(new.opens_window)
        .bind(new.entry_point)
        .bind(&m.id)
        .bind(m.direction.as_str())
        .bind(&m.recipient)
        .bind(&m.msg_type)
        .bind(m.content.to_string())
        .bind(&m.wamid)
        .bind(m.status.as_str())
        .bind(m.error.as_ref().map(|e| e.to_string()))
        .bind(&m.biz_opaque_callback_data)
        .bind(&m.context_message_id)
        .bind(&m.idempotency_key)
        .bind(m.created_at)
        .bind(m.updated_at)
        .bind(&new.context_wamid)
        .fetch_optional(&mut *c)
        .await
        .pg()?;
    let Some(row) = row else {
        return Ok((false, false)); // a concurrent delivery of the same wamid won
    };
    let mut joined: Option<String> = rows::get(&row, 0)?;
    let context: Option<String> = rows::get(&row, 1)?;
    new_events.extend(
        windows::opened_session(&row, 2)?.map(|s| build::session(ev::SESSION_OPENED, &s, now)),
    );
    if new.opens_window && joined.is_none() {
        // The open session had lapsed: it is closed, as the closer would have, and the message
        // opens a new one.
        for _ in 0..RETRIES {
            windows::close_lapsed(
                c,
                &m.tenant_id,
                &m.channel_id,
                contact_id,
                now,
                &mut new_events,
            )
            .await?;
            let row = sqlx::query(REOPEN_FOR_INBOUND_SQL.as_str())
                .bind(&m.tenant_id)
                .bind(&m.channel_id)
                .bind(contact_id)
                .bind(new_id_at(prefix::SESSION, now))
                .bind(now)
                .bind(CSW_MS)
                .bind(true)
                .bind(&m.id)
                .fetch_one(&mut *c)
                .await
                .pg()?;
            joined = rows::get(&row, 0)?;
            new_events.extend(
                windows::opened_session(&row, 1)?
                    .map(|s| build::session(ev::SESSION_OPENED, &s, now)),
            );
            if joined.is_some() {
                break;
            }
        }
        if joined.is_none() {
            return Err(Fail::Again(StoreError::database(
                "no session could be opened for an inbound message",
            )));
        }
    }
    // The message as stored (an inbound message has no template).
    let mut stored = m.clone();
    stored.contact_id = Some(r.contact.id.clone());
    stored.session_id = joined;
    stored.context_message_id = context;
    stored.template_id = None;
    stored.rendered_text = None;
    new_events.push(build::message_received(&stored, Some(&r.contact)));
    emit::insert(c, new_events).await.pg()?;
    Ok((true, true))
}
