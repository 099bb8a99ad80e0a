//! The sessions of a batch of outbound messages: for each (channel, contact) pair without an
//! open session to join, the open session found or a new one opened, set-based; a lapsed one
//! closed first, as the closer would have.

use std::collections::{BTreeMap, HashMap};

use openbsp_domain::ids::{new_id_at, prefix};
use sqlx::PgConnection;

use crate::error::{StoreError, StoreResult};
use crate::events::kind as ev;
use crate::model::*;
use crate::postgres::conn::{DbResult, chunks, text_bytes};
use crate::postgres::rows;
use crate::postgres::windows::CLOSE_LAPSED_BY_ID_SQL;

/// A session a message's enqueue opened or closed (its event's kind, the session as it left
/// it, when): its event is built with the message's other events, in their order (an event's
/// time is when it is built).
pub(super) type SessionChange = (&'static str, Session, i64);

/// The open session of each (channel, contact) pair, or a new one, in one statement: each pair's
/// open session is an index probe (`LATERAL` on the partial unique index `sessions_open`; the
/// `LIMIT 1` keeps the planner from flattening it into a join that, before the table has
/// statistics, may scan the channel's whole index with the contact as a filter); the
/// pairs without one get a session inserted (`ON CONFLICT … DO NOTHING`: a concurrent
/// transaction may open the same one) and returned. Returns (id, channel, contact, expires_at,
/// opened here).
const JOIN_SESSIONS_SQL: &str = "WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::bigint[], $8::bigint[])
    AS u(id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at, expires_at)
), existing AS (
    SELECT s.id, s.channel_id, s.contact_id, s.expires_at FROM input i
    CROSS JOIN LATERAL (SELECT id, channel_id, contact_id, expires_at FROM sessions
        WHERE sessions.channel_id = i.channel_id AND sessions.contact_id = i.contact_id
            AND sessions.closed_at IS NULL AND sessions.tenant_id = i.tenant_id LIMIT 1) s
), ins AS (
    INSERT INTO sessions (id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at,
        expires_at, updated_at)
    SELECT i.id, i.tenant_id, i.channel_id, i.contact_id, i.kind, i.opened_by, i.opened_at,
        i.expires_at, i.opened_at FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM existing e
        WHERE e.channel_id = i.channel_id AND e.contact_id = i.contact_id)
    ON CONFLICT (channel_id, contact_id) WHERE closed_at IS NULL DO NOTHING
    RETURNING id, channel_id, contact_id, expires_at
)
SELECT id, channel_id, contact_id, expires_at, true FROM ins
UNION ALL
SELECT id, channel_id, contact_id, expires_at, false FROM existing";

/// Fills in the session of every message `created` holds that has none yet: the open session
/// of its channel and contact, or one opened from its [`SessionSpec`] at its creation time.
/// Messages of one batch to the same pair share one session, opened from the first of them. An
/// open session that lapsed at that time is closed first. A few set-based statements per batch,
/// whatever its size; one more only when a lapsed session or a concurrent opening is met.
/// Returns the (message, session) pairs it filled in; the events of the sessions it opened
/// and closed go to `session_events`, by the index of the message they were opened (closed)
/// for.
pub(super) async fn join_sessions(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &mut [Option<Message>],
    session_events: &mut HashMap<usize, Vec<SessionChange>>,
) -> StoreResult<Vec<(String, String)>> {
    // Each pair's first message; pairs in a fixed order, so that concurrent batches opening
    // the same sessions wait for each other instead of deadlocking.
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, m) in created.iter().enumerate() {
        if let Some(m) = m
            && m.session_id.is_none()
            && let Some(contact) = &m.contact_id
        {
            pairs
                .entry((m.channel_id.clone(), contact.clone()))
                .or_insert(i);
        }
    }
    let mut found: HashMap<(String, String), String> = HashMap::with_capacity(pairs.len());
    let mut attempts = 0;
    loop {
        let todo: Vec<(&(String, String), usize)> = pairs
            .iter()
            .filter(|(k, _)| !found.contains_key(*k))
            .map(|(k, i)| (k, *i))
            .collect();
        if todo.is_empty() {
            break;
        }
        if attempts == 3 {
            // Each round finds or opens every pair's session, unless it met a lapsed one (closed
            // for the next round) or a concurrent opening (found by the next round).
            return Err(StoreError::database(
                "sessions could not be found or opened",
            ));
        }
        attempts += 1;
        let ids: Vec<String> = todo
            .iter()
            .map(|(_, i)| new_id_at(prefix::SESSION, items[*i].message.created_at))
            .collect();
        let sizes = todo.iter().map(|((ch, co), i)| {
            let new = &items[*i];
            text_bytes(Some(&new.message.tenant_id))
                + text_bytes(Some(ch))
                + text_bytes(Some(co))
                + text_bytes(new.session.kind.as_deref())
                + text_bytes(Some(&new.session.opened_by))
                + 30
                + 24
        });
        let mut lapsed: Vec<(String, i64, usize)> = Vec::new();
        for r in chunks(sizes) {
            let part = &todo[r.clone()];
            let found_rows = sqlx::query(JOIN_SESSIONS_SQL)
                .bind(&ids[r])
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].message.tenant_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(part.iter().map(|(k, _)| k.0.as_str()).collect::<Vec<_>>())
                .bind(part.iter().map(|(k, _)| k.1.as_str()).collect::<Vec<_>>())
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].session.kind.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].session.opened_by.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].message.created_at)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    part.iter()
                        .map(|(_, i)| items[*i].session.expires_at)
                        .collect::<Vec<_>>(),
                )
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &found_rows {
                let (id, channel, contact, expires_at, fresh): (String, String, String, i64, bool) = (
                    rows::get(row, 0)?,
                    rows::get(row, 1)?,
                    rows::get(row, 2)?,
                    rows::get(row, 3)?,
                    rows::get(row, 4)?,
                );
                let key = (channel, contact);
                let Some(&i) = pairs.get(&key) else {
                    continue; // not asked for (cannot happen: the statement returns its input's pairs)
                };
                let new = &items[i];
                let at = new.message.created_at;
                if fresh {
                    // Opened here, with these values.
                    let s = Session {
                        id: id.clone(),
                        tenant_id: new.message.tenant_id.clone(),
                        channel_id: key.0.clone(),
                        contact_id: key.1.clone(),
                        kind: new.session.kind.clone(),
                        opened_by: new.session.opened_by.clone(),
                        opened_at: at,
                        expires_at,
                        closed_at: None,
                        close_reason: None,
                        last_inbound_at: None,
                        updated_at: at,
                    };
                    session_events
                        .entry(i)
                        .or_default()
                        .push((ev::SESSION_OPENED, s, at));
                }
                if fresh || expires_at > at {
                    found.insert(key, id);
                } else {
                    lapsed.push((id, at, i));
                }
            }
        }
        if !lapsed.is_empty() {
            let ids: Vec<&str> = lapsed.iter().map(|l| l.0.as_str()).collect();
            let ats: Vec<i64> = lapsed.iter().map(|l| l.1).collect();
            let closed = sqlx::query(CLOSE_LAPSED_BY_ID_SQL.as_str())
                .bind(ids)
                .bind(ats)
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &closed {
                let s = rows::session(row)?;
                if let Some((_, at, i)) = lapsed.iter().find(|l| l.0 == s.id) {
                    session_events
                        .entry(*i)
                        .or_default()
                        .push((ev::SESSION_CLOSED, s, *at));
                }
            }
        }
        // A pair whose insert met a session a concurrent transaction opened (and committed
        // since this statement began), or whose session had lapsed, is done by the next round.
    }
    let mut filled = Vec::new();
    for m in created.iter_mut().flatten() {
        if m.session_id.is_none()
            && let Some(contact) = &m.contact_id
        {
            m.session_id = found.get(&(m.channel_id.clone(), contact.clone())).cloned();
            if let Some(s) = &m.session_id {
                filled.push((m.id.clone(), s.clone()));
            }
        }
    }
    Ok(filled)
}
