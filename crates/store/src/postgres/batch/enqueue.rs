//! A batch of outbound messages stored set-based, in the order a one-by-one run would: the
//! idempotency keys looked up first, the send policy asked for each request that has a check,
//! then the contacts, sessions, FEP windows, messages and their events written for the batch at
//! once (see [`super`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use openbsp_domain::windows::Refusal;
use sqlx::PgConnection;

use super::Checked;
use super::contacts::resolve_contacts;
use super::outbound::{SET_SESSIONS_SQL, insert_outbound, open_fep_windows};
use super::sessions::{SessionChange, join_sessions};
use crate::error::{StoreError, StoreResult};
use crate::events as build;
use crate::events::kind as ev;
use crate::model::*;
use crate::policy::SendCheck;
use crate::postgres::conn::{DbResult, chunks, text_bytes};
use crate::postgres::reach::Ledger;
use crate::postgres::{emit, reads, rows};
use crate::sql::{MESSAGE_COLS, MESSAGE_N, contact_key};
use crate::statuses;

/// What a request of the batch turns into.
enum Plan {
    /// A new message to store.
    Insert,
    /// Its idempotency key is already stored: that message and its request hash.
    Found(Box<Message>, Option<String>),
    /// Its idempotency key is that of the message this earlier request of the batch stores.
    Follow(usize),
    /// The send policy refused it: nothing is stored.
    Refused(Refusal),
}

pub(in crate::postgres) static LOOKUP_KEYS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT m.* FROM UNNEST($1::text[], $2::text[]) AS u(t, k)
         CROSS JOIN LATERAL (SELECT {MESSAGE_COLS}, request_hash FROM messages
             WHERE tenant_id = u.t AND idempotency_key = u.k LIMIT 1) m"
    )
});

/// Stores a batch of outbound messages on `c` (inside the caller's transaction), in the
/// order a one-by-one run would: a request whose idempotency key is already stored (or stored
/// by an earlier request of the batch) is answered with that message; any other request with a
/// send check is judged by the policy on its conversation, read in this transaction (a refusal
/// stores nothing, and the policy's plan replaces the request's session and FEP window).
pub(in crate::postgres) async fn enqueue_set(
    c: &mut PgConnection,
    items: &mut [NewOutbound],
    checks: &[Option<SendCheck>],
) -> StoreResult<Vec<Checked>> {
    // The keys already stored, with their messages and request hashes.
    let mut distinct: Vec<(&str, &str)> = items
        .iter()
        .filter_map(|n| {
            let m = &n.message;
            m.idempotency_key
                .as_deref()
                .map(|k| (m.tenant_id.as_str(), k))
        })
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut stored: HashMap<(String, String), (Message, Option<String>)> = HashMap::new();
    if !distinct.is_empty() {
        let (tenants, keys): (Vec<&str>, Vec<&str>) = distinct.iter().copied().unzip();
        let ranges = chunks(
            distinct
                .iter()
                .map(|(t, k)| text_bytes(Some(t)) + text_bytes(Some(k))),
        );
        for r in &ranges {
            let found = sqlx::query(LOOKUP_KEYS_SQL.as_str())
                .bind(&tenants[r.clone()])
                .bind(&keys[r.clone()])
                .fetch_all(&mut *c)
                .await
                .db()?;
            for row in &found {
                let msg = rows::message(row)?;
                let hash: Option<String> = rows::get(row, MESSAGE_N)?;
                let key = msg.idempotency_key.clone().unwrap_or_default();
                stored.insert((msg.tenant_id.clone(), key), (msg, hash));
            }
        }
    }
    let key_of = |n: &NewOutbound| {
        n.message
            .idempotency_key
            .as_ref()
            .map(|k| (n.message.tenant_id.clone(), k.clone()))
    };

    // The conversations the policy will judge, read at once.
    let judged: Vec<usize> = (0..items.len())
        .filter(|&i| {
            checks.get(i).is_some_and(Option::is_some)
                && !key_of(&items[i]).is_some_and(|k| stored.contains_key(&k))
        })
        .collect();
    let mut conversations: HashMap<usize, Conversation> = HashMap::with_capacity(judged.len());
    if !judged.is_empty() {
        let wanted: Vec<(&str, &str, &ContactKey)> = judged
            .iter()
            .map(|&i| {
                let n = &items[i];
                (
                    n.message.tenant_id.as_str(),
                    n.message.channel_id.as_str(),
                    &n.contact,
                )
            })
            .collect();
        let read = reads::read_conversations(c, &wanted).await?;
        conversations.extend(judged.iter().copied().zip(read));
    }

    // The messaging limits of the portfolios they may count against, locked and read at once.
    let reach_wanted: Vec<(&str, &str, &str)> = judged
        .iter()
        .filter_map(|&i| {
            let r = checks.get(i)?.as_ref()?.reach.as_ref()?;
            // A tier not known yet refuses nothing: its sends are only recorded.
            r.limit?;
            let m = &items[i].message;
            Some((
                m.tenant_id.as_str(),
                r.portfolio.as_str(),
                m.recipient.as_str(),
            ))
        })
        .collect();
    let mut ledger = match judged.iter().map(|&i| items[i].message.created_at).min() {
        Some(earliest) if !reach_wanted.is_empty() => {
            Ledger::read(c, &reach_wanted, earliest).await?
        }
        _ => Ledger::default(),
    };

    // Each request in order, as if alone.
    let mut leaders: HashMap<(String, String), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(items.len());
    for (i, new) in items.iter_mut().enumerate() {
        let key = key_of(new);
        if let Some(k) = &key {
            if let Some((msg, hash)) = stored.get(k) {
                plans.push(Plan::Found(Box::new(msg.clone()), hash.clone()));
                continue;
            }
            if let Some(&j) = leaders.get(k) {
                plans.push(Plan::Follow(j));
                continue;
            }
        }
        if let Some(Some(check)) = checks.get(i) {
            let conversation = conversations.remove(&i).unwrap_or_default();
            match crate::policy::plan(&conversation, check, new.priority, new.message.created_at) {
                Ok(plan) => {
                    match ledger.judge(new, &plan) {
                        Ok(wait) => new.reach_wait = wait,
                        Err(refusal) => {
                            plans.push(Plan::Refused(refusal));
                            continue;
                        }
                    }
                    new.session = plan.session;
                    new.open_fep_until = plan.open_fep_until;
                    new.priority = plan.priority;
                }
                Err(refusal) => {
                    plans.push(Plan::Refused(refusal));
                    continue;
                }
            }
        }
        if let Some(k) = key {
            leaders.insert(k, i);
        }
        plans.push(Plan::Insert);
    }
    let items: &[NewOutbound] = items;
    ledger.write(c).await?;

    // The messages to create, with their contacts.
    let inserts: Vec<usize> = (0..items.len())
        .filter(|&i| matches!(plans[i], Plan::Insert))
        .collect();
    let wanted: Vec<(&str, &ContactKey, i64)> = inserts
        .iter()
        .map(|&i| {
            let m = &items[i].message;
            (m.tenant_id.as_str(), &items[i].contact, m.created_at)
        })
        .collect();
    let (contacts, mut new_contacts) = resolve_contacts(c, &wanted).await?;
    let mut created: Vec<Option<Message>> = vec![None; items.len()];
    for &i in &inserts {
        let mut m = items[i].message.clone();
        let (col, value) = contact_key(&items[i].contact);
        let id = contacts.get(&(m.tenant_id.clone(), col, value.to_string()));
        m.contact_id = Some(
            id.cloned()
                .ok_or_else(|| StoreError::database("contact not resolved"))?,
        );
        created[i] = Some(m);
    }
    // Sessions opened or closed, by the message whose enqueue did it (for its events).
    let mut session_events: HashMap<usize, Vec<SessionChange>> = HashMap::new();
    let mut opened = vec![false; items.len()];
    if !inserts.is_empty() {
        open_fep_windows(c, items, &created).await?;
        insert_outbound(c, items, &mut created).await?;
        mark_reach_waits(c, items, &created).await?;
        // Messages with no open session to join (the first to someone on a channel, or the
        // first after a session lapsed): sessions are opened for them, and given to them.
        if created.iter().flatten().any(|m| m.session_id.is_none()) {
            let opened = join_sessions(c, items, &mut created, &mut session_events).await?;
            let (ids, sessions): (Vec<&str>, Vec<&str>) = opened
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_str()))
                .unzip();
            for r in chunks(ids.iter().map(|id| 2 * text_bytes(Some(id)))) {
                sqlx::query(SET_SESSIONS_SQL)
                    .bind(&ids[r.clone()])
                    .bind(&sessions[r])
                    .execute(&mut *c)
                    .await
                    .db()?;
            }
        }
        // The events, each message's in the order a one-by-one run writes them: its contact
        // created, its session closed (lapsed) and opened, its `queued` status.
        let mut new_events = Vec::with_capacity(inserts.len() + session_events.len());
        for &i in &inserts {
            let Some(m) = &created[i] else { continue };
            let (col, value) = contact_key(&items[i].contact);
            if let Some(contact) =
                new_contacts.remove(&(m.tenant_id.clone(), col, value.to_string()))
            {
                new_events.push(build::contact_updated(&contact, &["created"], m.created_at));
            }
            for (kind, s, at) in session_events.remove(&i).unwrap_or_default() {
                if kind == ev::SESSION_OPENED {
                    opened[i] = true;
                }
                new_events.push(build::session(kind, &s, at));
            }
            if statuses::writes_event(m.status) {
                new_events.push(build::message_status(m, m.status, m.created_at, None, None));
            }
        }
        emit::insert(c, new_events).await.db()?;
    }

    let mut outcomes = Vec::with_capacity(items.len());
    for (i, new) in items.iter().enumerate() {
        let outcome = match &plans[i] {
            Plan::Insert => Ok(EnqueueOutcome::Created {
                message: created[i].clone().unwrap_or_else(|| new.message.clone()),
                opened_session: opened[i],
            }),
            Plan::Found(msg, hash) => Ok(by_hash(new, msg, hash.as_deref())),
            Plan::Follow(p) => match &created[*p] {
                Some(msg) => Ok(by_hash(new, msg, Some(&items[*p].request_hash))),
                None => {
                    return Err(StoreError::database("idempotency key not resolved"));
                }
            },
            Plan::Refused(refusal) => Err(*refusal),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The answer to a request whose idempotency key names `existing`.
fn by_hash(new: &NewOutbound, existing: &Message, hash: Option<&str>) -> EnqueueOutcome {
    if hash == Some(new.request_hash.as_str()) {
        EnqueueOutcome::Existing(existing.clone())
    } else {
        EnqueueOutcome::KeyReused(existing.clone())
    }
}

/// Bulk sends past their portfolio's messaging limit wait for a place ([`NewOutbound::reach_wait`]).
async fn mark_reach_waits(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &[Option<Message>],
) -> StoreResult<()> {
    let (ids, until): (Vec<&str>, Vec<i64>) = items
        .iter()
        .zip(created)
        .filter_map(|(n, m)| Some((m.as_ref()?.id.as_str(), n.reach_wait?)))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE outbox SET awaits_reach = true, next_attempt_at = u.at
         FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE outbox.message_id = u.id",
    )
    .bind(ids)
    .bind(until)
    .execute(&mut *c)
    .await
    .db()?;
    Ok(())
}
