//! [`MessageStore`] on SQLite: the enqueue of an outbound message (its contact, session, FEP
//! window, message, history and outbox row, with their events) as one job on the writer, behind
//! the send policy when asked; messages read on a reader.

use async_trait::async_trait;
use openbsp_domain::windows::Refusal;
use rusqlite::{Connection, params};

use super::filtered::Filtered;
use super::rows::{self, collect};
use super::{SqliteStore, emit, history, reach, resolve, windows};
use crate::error::StoreResult;
use crate::events::kind as ev;
use crate::model::*;
use crate::policy::SendCheck;
use crate::sql::{COUNT_BY_STATUS_SQL, MESSAGE_COLS};
use crate::statuses;
use crate::store::MessageStore;

#[async_trait]
impl MessageStore for SqliteStore {
    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome> {
        // Serialise on the caller's thread: the writer is the one thread every write waits for.
        let content = new.message.content.to_string();
        let payload = new.payload.to_string();
        self.write(move |c| enqueue(c, &new, &content, &payload))
            .await
    }

    async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: &SendCheck,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>> {
        let content = new.message.content.to_string();
        let payload = new.payload.to_string();
        let check = check.clone();
        // One job on the writer: the policy reads the writer's own (always warm) pages, and
        // the send path never opens a read transaction.
        self.write(move |c| enqueue_checked_in(c, &new, &content, &payload, &check))
            .await
    }

    async fn get_message(
        &self,
        tenant_id: &str,
        id_or_wamid: &str,
    ) -> StoreResult<Option<Message>> {
        let (t, id) = (tenant_id.to_string(), id_or_wamid.to_string());
        self.read(move |c| {
            let col = if statuses::is_gateway_id(&id) {
                "id"
            } else {
                "wamid"
            };
            rows::message_where(c, &t, col, &id)
        })
        .await
    }

    async fn find_message_by_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<Message>> {
        let (t, k) = (tenant_id.to_string(), key.to_string());
        self.read(move |c| rows::message_where(c, &t, "idempotency_key", &k))
            .await
    }

    async fn message_history(&self, message_id: &str) -> StoreResult<Vec<StatusEntry>> {
        let id = message_id.to_string();
        self.read(move |c| {
            collect(
                c,
                "SELECT status, at, error FROM message_statuses WHERE message_id = ?1 ORDER BY at, status",
                [id],
                rows::status_entry,
            )
        })
        .await
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        f: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<Message>> {
        let t = tenant_id.to_string();
        let f = f.clone();
        let page = page.clone();
        self.read(move |c| list_query(&t, &f).fetch(c, &t, &page, rows::message))
            .await
    }

    async fn count_messages_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        self.read(|c| collect(c, COUNT_BY_STATUS_SQL, [], |r| Ok((r.get(0)?, r.get(1)?))))
            .await
    }

    async fn count_messages(&self, tenant_id: &str) -> StoreResult<i64> {
        let t = tenant_id.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM messages WHERE tenant_id = ?1",
                [t],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

/// The query of [`MessageStore::list_messages`]. Most selective first: the first given claims
/// the index (see `filtered`). A session's or a recipient's messages are few, and sorted by
/// time under a window; otherwise a window claims `messages_created` before the filters that
/// may hold most of the tenant's messages (a status, a channel, a direction).
pub(super) fn list_query(tenant: &str, f: &MessageFilter) -> Filtered {
    let mut q = Filtered::new(
        format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = ?1"),
        tenant,
    );
    q.eq(f.session_id.as_deref(), "session_id");
    q.eq(f.recipient.as_deref(), "recipient");
    q.window("messages", "created_at", f.created_from, f.created_to);
    q.eq(f.status.map(|s| s.as_str()), "status");
    q.eq(f.channel_id.as_deref(), "channel_id");
    q.eq_const(f.direction.map(|d| d.as_str()), "direction");
    q
}

/// [`MessageStore::enqueue_checked`] inside the caller's transaction on the writer: the
/// idempotency key first, then the send policy and the messaging limit, then the rows.
pub(super) fn enqueue_checked_in(
    c: &Connection,
    new: &NewOutbound,
    content: &str,
    payload: &str,
    check: &SendCheck,
) -> StoreResult<Result<EnqueueOutcome, Refusal>> {
    let m = &new.message;
    if let Some(key) = &m.idempotency_key
        && rows::message_where(c, &m.tenant_id, "idempotency_key", key)?.is_some()
    {
        return enqueue(c, new, content, payload).map(Ok);
    }
    let conversation = windows::conversation(c, &m.tenant_id, &m.channel_id, &new.contact)?;
    let plan = match crate::policy::plan(&conversation, check, new.priority, m.created_at) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let mut wait = None;
    if let Some(r) = &plan.reach {
        let decision = reach::take(
            c,
            &m.tenant_id,
            &r.portfolio,
            &m.recipient,
            r.limit,
            m.created_at,
        )?;
        match crate::policy::reach_outcome(decision, r.limit, plan.priority) {
            Ok(w) => wait = w,
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    enqueue_in(c, new, content, payload, &plan, wait).map(Ok)
}

/// [`enqueue_in`] the session and FEP window the request itself asks for.
fn enqueue(
    c: &Connection,
    new: &NewOutbound,
    content: &str,
    payload: &str,
) -> StoreResult<EnqueueOutcome> {
    let plan = crate::policy::SendPlan {
        session: new.session.clone(),
        open_fep_until: new.open_fep_until,
        priority: new.priority,
        reach: None,
    };
    enqueue_in(c, new, content, payload, &plan, new.reach_wait)
}

/// Stores `new` (`content` and `payload` serialised) as `plan` says: into the session its spec
/// finds or opens, opening its FEP window, at its priority; a repeated idempotency key is
/// answered with the message it made. A bulk send past the messaging limit waits until
/// `reach_wait`.
fn enqueue_in(
    c: &Connection,
    new: &NewOutbound,
    content: &str,
    payload: &str,
    plan: &crate::policy::SendPlan,
    reach_wait: Option<i64>,
) -> StoreResult<EnqueueOutcome> {
    let (spec, fep) = (&plan.session, plan.open_fep_until);
    let mut message = new.message.clone();
    let m = &mut message;
    if let Some(key) = &m.idempotency_key
        && let Some(existing) = rows::message_where(c, &m.tenant_id, "idempotency_key", key)?
    {
        let hash: Option<String> = c
            .prepare_cached("SELECT request_hash FROM messages WHERE id = ?1")?
            .query_row([&existing.id], |r| r.get(0))?;
        return Ok(if hash.as_deref() == Some(new.request_hash.as_str()) {
            EnqueueOutcome::Existing(existing)
        } else {
            EnqueueOutcome::KeyReused(existing)
        });
    }
    let contact_id = match &new.profile {
        // A Session Start names the contact as it links and names it, with its own event.
        Some(p) => {
            resolve::upsert_profiled(
                c,
                &m.tenant_id,
                &new.contact,
                p.also.as_ref(),
                p.name.as_deref(),
                m.created_at,
            )?
            .0
        }
        None => {
            let (id, created) =
                resolve::find_or_create(c, &m.tenant_id, &new.contact, m.created_at)?;
            if created {
                emit::contact(c, &m.tenant_id, &id, None, m.created_at)?;
            }
            id
        }
    };
    let (session, opened) = windows::open_session(
        c,
        &m.tenant_id,
        &m.channel_id,
        &contact_id,
        spec,
        m.created_at,
    )?;
    if opened {
        emit::insert(
            c,
            &crate::events::session(ev::SESSION_OPENED, &session, m.created_at),
        )?;
    }
    if let Some(until) = fep {
        windows::open_fep(
            c,
            &m.tenant_id,
            &m.channel_id,
            &contact_id,
            m.created_at,
            until,
        )?;
    }
    m.contact_id = Some(contact_id);
    m.session_id = Some(session.id);
    history::insert_message(c, m, content, Some(&new.request_hash))?;
    c.prepare_cached(
        "INSERT INTO outbox (message_id, tenant_id, channel_id, state, priority, attempts, next_attempt_at, payload, awaits_reach)
         VALUES (?1, ?2, ?3, 'pending', ?4, 0, ?5, ?6, ?7)",
    )?
    .execute(params![
        m.id,
        m.tenant_id,
        m.channel_id,
        plan.priority,
        reach_wait.unwrap_or(m.created_at).max(new.due_at.unwrap_or(0)),
        payload,
        reach_wait.is_some()
    ])?;
    Ok(EnqueueOutcome::Created {
        message,
        opened_session: opened,
    })
}
