//! [`InboxStore`] on PostgreSQL: Meta's webhook payloads (stored through the group commit,
//! [`super::batch`], each once per app) kept until processed and pruned after the retention,
//! and what processing applies: a status update, by the
//! rules of [`crate::statuses`], and an inbound message with its effects on the contact
//! ([`super::resolve`]), its window and its session ([`super::windows`]) — see the contract on
//! [`InboxStore::insert_inbound`].

use std::sync::LazyLock;

use async_trait::async_trait;
use openbsp_domain::ids::{first_id_at, new_id_at, prefix};
use openbsp_domain::windows::CSW_MS;
use sqlx::PgConnection;

use super::conn::DbResult;
use super::tx::{Fail, Pg, RETRIES, retrying};
use super::windows::{RENEW_SESSION_CTE, SES_COLS};
use super::{PgStore, emit, media, resolve, rows, windows};
use crate::error::{StoreError, StoreResult};
use crate::events::{self as build, kind as ev};
use crate::model::*;
use crate::sql::MESSAGE_COLS;
use crate::statuses;
use crate::store::InboxStore;

#[async_trait]
impl InboxStore for PgStore {
    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<bool> {
        // Hashed by the caller, not by the batch's worker: a 3 MB body takes milliseconds.
        let digest = crate::inbox::digest(item);
        self.batcher.insert_inbox(item.clone(), digest).await
    }

    async fn prune_inbox(&self, before: i64, limit: u32) -> StoreResult<u64> {
        let pruned = sqlx::query(
            "DELETE FROM webhook_inbox WHERE id IN (
               SELECT id FROM webhook_inbox
               WHERE id < $1 AND received_at < $2 AND processed_at IS NOT NULL
               ORDER BY id LIMIT $3)",
        )
        .bind(first_id_at(prefix::INBOX, before))
        .bind(before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .db()?
        .rows_affected();
        Ok(pruned)
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
        self.apply_statuses(std::slice::from_ref(u))
            .await?
            .pop()
            .ok_or_else(|| StoreError::database("a status update gave no outcome"))
    }

    async fn apply_statuses(&self, updates: &[StatusUpdate]) -> StoreResult<Vec<StatusOutcome>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = retrying!(self.pool, |c| async {
            apply_statuses(c, updates).await.map(|o| (o, true))
        })?;
        if outcomes
            .iter()
            .any(|o| !matches!(o, StatusOutcome::UnknownMessage))
        {
            self.signal.bump();
        }
        Ok(outcomes)
    }

    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool> {
        // Not stored: the transaction is rolled back, so a duplicate changes nothing.
        let stored = retrying!(self.pool, |c| insert_inbound_marking(c, new))?;
        if stored {
            self.signal.bump();
        }
        Ok(stored)
    }

    async fn insert_inbounds(&self, news: &[NewInbound]) -> StoreResult<Vec<bool>> {
        if news.len() < 2 {
            let mut out = Vec::with_capacity(news.len());
            for n in news {
                out.push(self.insert_inbound(n).await?);
            }
            return Ok(out);
        }
        let stored = retrying!(self.pool, |c| insert_inbound_set(c, news))?;
        if stored.iter().any(|s| *s) {
            self.signal.bump();
        }
        Ok(stored)
    }
}

/// The messages statuses name, locked in id order (so two batches never lock the same rows in
/// opposite orders): by `wamid` within the channel, or (the send's answer was lost) by the
/// gateway id the callback data carries.
static BY_WAMIDS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLS} FROM messages
         WHERE (wamid, channel_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
         ORDER BY id FOR UPDATE"
    )
});
static BY_CALLBACKS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MESSAGE_COLS} FROM messages
         WHERE (id, channel_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
             AND direction = 'outbound'
         ORDER BY id FOR UPDATE"
    )
});

/// The history entries (one per message and status) the batch's messages already have.
const HISTORY_SQL: &str =
    "SELECT message_id, status FROM message_statuses WHERE message_id = ANY($1)";
/// Meta has these messages: whatever the outbox thought, they must not be sent again.
const DELETE_OUTBOX_SQL: &str = "DELETE FROM outbox WHERE message_id = ANY($1)";
/// Sessions that learn their kind from a pricing category, if they did not know it.
const SESSION_KINDS_SQL: &str = "UPDATE sessions s SET kind = u.kind
     FROM UNNEST($1::text[], $2::text[]) AS u(id, kind)
     WHERE s.id = u.id AND s.kind IS NULL";
/// New history entries.
const HISTORY_INSERT_SQL: &str = "INSERT INTO message_statuses (message_id, status, at, error)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[])
     ON CONFLICT (message_id, status) DO NOTHING";
/// The messages as the batch leaves them.
const MESSAGES_UPDATE_SQL: &str = "UPDATE messages m SET
         wamid = COALESCE(m.wamid, u.wamid),
         status = CASE WHEN u.advanced THEN u.status ELSE m.status END,
         error = CASE WHEN u.advanced THEN u.error ELSE m.error END,
         updated_at = CASE WHEN u.advanced THEN u.updated_at ELSE m.updated_at END
     FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::bigint[])
         AS u(id, wamid, advanced, status, error, updated_at)
     WHERE m.id = u.id AND (u.advanced OR m.wamid IS NULL)";

/// [`InboxStore::apply_statuses`] on `c` (inside the caller's transaction), by the rules of
/// [`crate::statuses`], with set-based statements: the messages are found and locked, the
/// updates applied in order to the messages as read (a message named twice in the batch sees
/// its first update when the second is judged, as if they came one by one), and what they
/// change written once per table: outbox rows removed, session kinds, history entries with
/// their `message.status` events (for an entry that is new), and the messages' new state.
async fn apply_statuses(
    c: &mut PgConnection,
    updates: &[StatusUpdate],
) -> Result<Vec<StatusOutcome>, Fail> {
    use std::collections::{HashMap, HashSet};
    let wamids: Vec<&str> = updates.iter().map(|u| u.wamid.as_str()).collect();
    let channels: Vec<&str> = updates.iter().map(|u| u.channel_id.as_str()).collect();
    // (wamid, channel) → message id, and the messages by id as the batch leaves them.
    let mut found: HashMap<(String, String), String> = HashMap::new();
    let mut by_id: HashMap<String, Message> = HashMap::new();
    for row in sqlx::query(BY_WAMIDS_SQL.as_str())
        .bind(&wamids)
        .bind(&channels)
        .fetch_all(&mut *c)
        .await
        .pg()?
    {
        let m = rows::message_at(&row, 0, Some(statuses::UNKNOWN_READS_AS))?;
        if let Some(w) = &m.wamid {
            found.insert((w.clone(), m.channel_id.clone()), m.id.clone());
        }
        by_id.insert(m.id.clone(), m);
    }
    // Statuses of sends whose answer was lost: found by their callback data.
    let (ids, id_channels): (Vec<&str>, Vec<&str>) = updates
        .iter()
        .filter(|u| !found.contains_key(&(u.wamid.clone(), u.channel_id.clone())))
        .filter_map(|u| Some((statuses::callback_id(u)?, u.channel_id.as_str())))
        .unzip();
    if !ids.is_empty() {
        for row in sqlx::query(BY_CALLBACKS_SQL.as_str())
            .bind(&ids)
            .bind(&id_channels)
            .fetch_all(&mut *c)
            .await
            .pg()?
        {
            let m = rows::message_at(&row, 0, Some(statuses::UNKNOWN_READS_AS))?;
            by_id.entry(m.id.clone()).or_insert(m);
        }
    }
    let message_ids: Vec<&str> = by_id.keys().map(String::as_str).collect();
    let mut history: HashSet<(String, String)> = HashSet::new();
    if !message_ids.is_empty() {
        for (id, status) in sqlx::query_as::<_, (String, String)>(HISTORY_SQL)
            .bind(&message_ids)
            .fetch_all(&mut *c)
            .await
            .pg()?
        {
            history.insert((id, status));
        }
    }

    // The updates in order, on the messages as the earlier ones leave them.
    let mut outcomes = Vec::with_capacity(updates.len());
    let mut touched: Vec<String> = Vec::new();
    let mut advanced: HashSet<String> = HashSet::new();
    let mut kinds: Vec<(String, String)> = Vec::new();
    let mut entries: Vec<(String, &'static str, i64, Option<String>)> = Vec::new();
    let mut events = Vec::new();
    for u in updates {
        let id = match found.get(&(u.wamid.clone(), u.channel_id.clone())) {
            Some(id) => Some(id.clone()),
            None => statuses::callback_id(u)
                .filter(|id| by_id.get(*id).is_some_and(|m| m.channel_id == u.channel_id))
                .map(str::to_string),
        };
        let Some(m) = id.and_then(|id| by_id.get_mut(&id)) else {
            outcomes.push(StatusOutcome::UnknownMessage);
            continue;
        };
        let write = statuses::apply(m.status, m.wamid.as_deref(), u);
        let after = statuses::changed(m, u.status, write.wamid, u.at, u.error.as_ref());
        if !touched.contains(&m.id) {
            touched.push(m.id.clone());
        }
        if write.forward {
            advanced.insert(m.id.clone());
        }
        if let Some(w) = write.wamid {
            // Later statuses of the batch find it by this wamid, as they would one by one.
            found.insert((w.to_string(), m.channel_id.clone()), m.id.clone());
        }
        if let (Some(kind), Some(session)) = (write.session_kind, &m.session_id)
            && !kinds.iter().any(|(s, _)| s == session)
        {
            kinds.push((session.clone(), kind.to_string()));
        }
        if history.insert((m.id.clone(), u.status.as_str().to_string())) {
            entries.push((
                m.id.clone(),
                u.status.as_str(),
                u.at,
                u.error.as_ref().map(|e| e.to_string()),
            ));
            if statuses::writes_event(u.status) {
                events.push(build::message_status(
                    &after,
                    u.status,
                    u.at,
                    u.error.as_ref(),
                    u.pricing_category.as_deref(),
                ));
            }
        }
        outcomes.push(write.outcome(m.id.clone()));
        *m = after;
    }
    if touched.is_empty() {
        return Ok(outcomes);
    }

    sqlx::query(DELETE_OUTBOX_SQL)
        .bind(&touched)
        .execute(&mut *c)
        .await
        .pg()?;
    if !kinds.is_empty() {
        let (sessions, kinds): (Vec<String>, Vec<String>) = kinds.into_iter().unzip();
        sqlx::query(SESSION_KINDS_SQL)
            .bind(&sessions)
            .bind(&kinds)
            .execute(&mut *c)
            .await
            .pg()?;
    }
    if !entries.is_empty() {
        let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, status, at, error) in entries {
            cols.0.push(id);
            cols.1.push(status);
            cols.2.push(at);
            cols.3.push(error);
        }
        sqlx::query(HISTORY_INSERT_SQL)
            .bind(&cols.0)
            .bind(&cols.1)
            .bind(&cols.2)
            .bind(&cols.3)
            .execute(&mut *c)
            .await
            .pg()?;
    }
    emit::insert(c, events).await.pg()?;
    // Only what moved: a status stored by a later version (read as queued) stays as it is
    // unless a status moved past it.
    let mut cols = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for id in &touched {
        let m = &by_id[id];
        cols.0.push(m.id.as_str());
        cols.1.push(m.wamid.as_deref());
        cols.2.push(advanced.contains(id));
        cols.3.push(m.status.as_str());
        cols.4.push(m.error.as_ref().map(|e| e.to_string()));
        cols.5.push(m.updated_at);
    }
    sqlx::query(MESSAGES_UPDATE_SQL)
        .bind(&cols.0)
        .bind(&cols.1)
        .bind(&cols.2)
        .bind(&cols.3)
        .bind(&cols.4)
        .bind(&cols.5)
        .execute(&mut *c)
        .await
        .pg()?;
    Ok(outcomes)
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
                NULL, NULL, NULL, NULL)
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
/// [`insert_inbound`] for each of `news` in one transaction (one commit for all). The `wamid`s
/// already stored, and repeats within `news`, are found first; a message then found stored
/// meanwhile (a concurrent delivery of the same `wamid` won after some of this one's writes)
/// fails the whole set, to run again (the next run finds it stored).
async fn insert_inbound_set(
    c: &mut PgConnection,
    news: &[NewInbound],
) -> Result<(Vec<bool>, bool), Fail> {
    let wamids: Vec<&str> = news
        .iter()
        .filter_map(|n| n.message.wamid.as_deref())
        .collect();
    let known: Vec<String> = sqlx::query_scalar("SELECT wamid FROM messages WHERE wamid = ANY($1)")
        .bind(&wamids)
        .fetch_all(&mut *c)
        .await
        .pg()?;
    let mut seen: std::collections::HashSet<String> = known.into_iter().collect();
    let mut out = Vec::with_capacity(news.len());
    for new in news {
        if let Some(w) = &new.message.wamid
            && !seen.insert(w.clone())
        {
            out.push(false);
            continue;
        }
        match insert_inbound(c, new).await? {
            (true, true) => out.push(true),
            _ => {
                return Err(Fail::Again(StoreError::database(
                    "an inbound message of the set was stored meanwhile",
                )));
            }
        }
    }
    mark_replies(
        c,
        news.iter().zip(&out).filter(|(_, s)| **s).map(|(n, _)| n),
    )
    .await?;
    let any = out.iter().any(|s| *s);
    Ok((out, any))
}

/// Marks, for each stored inbound message that may answer a campaign, the recipient of the
/// user's latest campaign message on the channel sent since then (and before the answer's
/// second ended: Meta's times are whole seconds) replied at the answer's time; the earliest
/// answer's time stands, whatever order answers are stored in. In the caller's transaction,
/// with the messages.
const MARK_REPLIES_SQL: &str = "UPDATE campaign_recipients AS r SET replied_at = x.at
    FROM (SELECT y.mid, MIN(y.at) AS at FROM (
            SELECT u.at, (SELECT m.id FROM messages m WHERE m.channel_id = u.channel_id
                AND m.recipient = u.recipient AND m.campaign_id IS NOT NULL
                AND m.created_at >= u.since AND m.created_at < u.at + 1000
                ORDER BY m.created_at DESC LIMIT 1) AS mid
            FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                AS u(channel_id, recipient, since, at)) AS y
        WHERE y.mid IS NOT NULL GROUP BY y.mid) AS x
    WHERE r.message_id = x.mid AND (r.replied_at IS NULL OR r.replied_at > x.at)";

async fn mark_replies<'a>(
    c: &mut PgConnection,
    stored: impl Iterator<Item = &'a NewInbound>,
) -> Result<(), Fail> {
    let (mut channels, mut users, mut since, mut at) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in stored {
        if let Some(s) = n.replies_since {
            channels.push(n.message.channel_id.as_str());
            users.push(n.message.recipient.as_str());
            since.push(s);
            at.push(n.message.created_at);
        }
    }
    if channels.is_empty() {
        return Ok(());
    }
    sqlx::query(MARK_REPLIES_SQL)
        .bind(channels)
        .bind(users)
        .bind(since)
        .bind(at)
        .execute(&mut *c)
        .await
        .pg()?;
    Ok(())
}

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
    if let Some(d) = &new.media {
        media::insert_download(c, m, d).await?;
    }
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

/// [`insert_inbound`] alone: the message, and the campaign recipient it answers.
async fn insert_inbound_marking(
    c: &mut PgConnection,
    new: &NewInbound,
) -> Result<(bool, bool), Fail> {
    let stored = insert_inbound(c, new).await?;
    if stored.0 {
        mark_replies(c, std::iter::once(new)).await?;
    }
    Ok(stored)
}
