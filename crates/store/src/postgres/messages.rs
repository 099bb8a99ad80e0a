//! [`MessageStore`] on PostgreSQL: plain sends go through the group commit ([`super::batch`]);
//! a Session Start, whose contact is named and linked in the same transaction, is stored on its
//! own (it is rare next to plain sends, and resolving a contact locks contact rows, which the
//! batch never does); messages read on the pool.

use std::sync::LazyLock;

use async_trait::async_trait;
use openbsp_domain::windows::Refusal;

use super::batch::{Checked, IDEMPOTENCY_CONSTRAINT, LOOKUP_KEYS_SQL, enqueue_set};
use super::conn::DbResult;
use super::filtered::{Filtered, cursor_time};
use super::reach::Ledger;
use super::tx::{Fail, Pg, retrying};
use super::{PgStore, reads, resolve, rows};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::policy::SendCheck;
use crate::sql::{COUNT_BY_STATUS_SQL, MESSAGE_COLS};
use crate::statuses;
use crate::store::MessageStore;

static GET_MESSAGE_BY_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND id = $2")
});
static GET_MESSAGE_BY_WAMID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND wamid = $2")
});
static GET_MESSAGE_BY_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND idempotency_key = $2")
});

#[async_trait]
impl MessageStore for PgStore {
    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome> {
        if new.profile.is_some() {
            return self
                .enqueue_profiled(new, None)
                .await?
                .map_err(|_| StoreError::database("an enqueue without a send check was refused"));
        }
        self.batcher.enqueue(new).await
    }

    async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: &SendCheck,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>> {
        if new.profile.is_some() {
            // A Session Start: its contact is named and linked in the same transaction.
            return self.enqueue_profiled(new, Some(check.clone())).await;
        }
        // In the group commit's own transaction: the idempotency key first, then the policy on
        // the conversation as the batch sees it; no read of its own on the send path.
        self.batcher.enqueue_checked(new, check.clone()).await
    }

    async fn get_message(
        &self,
        tenant_id: &str,
        id_or_wamid: &str,
    ) -> StoreResult<Option<Message>> {
        let sql = if statuses::is_gateway_id(id_or_wamid) {
            GET_MESSAGE_BY_ID_SQL.as_str()
        } else {
            GET_MESSAGE_BY_WAMID_SQL.as_str()
        };
        let row = sqlx::query(sql)
            .bind(tenant_id)
            .bind(id_or_wamid)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn find_message_by_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(GET_MESSAGE_BY_KEY_SQL.as_str())
            .bind(tenant_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn message_history(&self, message_id: &str) -> StoreResult<Vec<StatusEntry>> {
        let found = sqlx::query(
            "SELECT status, at, error FROM message_statuses WHERE message_id = $1 ORDER BY at, status",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows::all(found, rows::status_entry)
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        f: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<Message>> {
        let q = list_query(tenant_id, f);
        let Some(at) = cursor_time(&self.pool, "messages", &q, tenant_id, page).await? else {
            return Ok(Vec::new());
        };
        let found = q.page(page, at).fetch_all(&self.pool).await.db()?;
        rows::all(found, rows::message)
    }

    async fn count_messages_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        let found = sqlx::query(COUNT_BY_STATUS_SQL)
            .fetch_all(&self.pool)
            .await
            .db()?;
        found
            .iter()
            .map(|r| Ok((rows::get(r, 0)?, rows::get(r, 1)?)))
            .collect()
    }

    async fn count_messages(&self, tenant_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await
            .db()
    }
}

impl PgStore {
    /// Stores `new` (which has a [`ContactProfile`]) as the SQLite backend does: the
    /// idempotency key first (a retry is answered with the first message and changes nothing),
    /// then the policy on the conversation (a refusal stores nothing), then the contact named
    /// and linked with its `contact.updated`, then the message, its session and its outbox row.
    pub(super) async fn enqueue_profiled(
        &self,
        new: NewOutbound,
        check: Option<SendCheck>,
    ) -> StoreResult<Checked> {
        let out = retrying!(self.pool, |c| async {
            let mut item = new.clone();
            let m = &item.message;
            let replay = match &m.idempotency_key {
                Some(k) => !sqlx::query(LOOKUP_KEYS_SQL.as_str())
                    .bind(vec![m.tenant_id.as_str()])
                    .bind(vec![k.as_str()])
                    .fetch_all(&mut *c)
                    .await
                    .pg()?
                    .is_empty(),
                None => false,
            };
            if !replay {
                if let Some(check) = &check {
                    let wanted = [(m.tenant_id.as_str(), m.channel_id.as_str(), &item.contact)];
                    let conversation = reads::read_conversations(c, &wanted)
                        .await?
                        .pop()
                        .unwrap_or_default();
                    match crate::policy::plan(&conversation, check, item.priority, m.created_at) {
                        Ok(plan) => {
                            // As the batch does: locked and counted only under a known limit.
                            let mut ledger = match &plan.reach {
                                Some(r) if r.limit.is_some() => {
                                    let wanted = [(
                                        m.tenant_id.as_str(),
                                        r.portfolio.as_str(),
                                        m.recipient.as_str(),
                                    )];
                                    Ledger::read(c, &wanted, m.created_at).await?
                                }
                                _ => Ledger::default(),
                            };
                            match ledger.judge(&item, &plan) {
                                Ok(wait) => item.reach_wait = wait,
                                Err(refusal) => return Ok((Err(refusal), false)),
                            }
                            ledger.write(c).await?;
                            item.session = plan.session;
                            item.open_fep_until = plan.open_fep_until;
                            item.priority = plan.priority;
                        }
                        Err(refusal) => return Ok((Err(refusal), false)),
                    }
                }
                // Named and linked as `upsert_contact` does, with its events.
                let profile = item.profile.clone().unwrap_or_default();
                resolve::upsert_profiled(
                    c,
                    &m.tenant_id,
                    &item.contact,
                    profile.also.as_ref(),
                    profile.name.as_deref(),
                    m.created_at,
                )
                .await?;
            }
            let mut outcomes = match enqueue_set(c, std::slice::from_mut(&mut item), &[None]).await
            {
                Ok(o) => o,
                // A concurrent request stored the same key since we looked: run again.
                Err(StoreError::Conflict(w)) if w.starts_with(IDEMPOTENCY_CONSTRAINT) => {
                    return Err(Fail::Again(StoreError::Conflict(w)));
                }
                Err(e) => return Err(Fail::Stop(e)),
            };
            let outcome = outcomes
                .pop()
                .ok_or_else(|| StoreError::database("enqueue gave no outcome"))?;
            Ok((outcome, true))
        })?;
        self.signal.bump();
        Ok(out)
    }
}

/// The query of [`MessageStore::list_messages`]: only the filters given are conditions.
pub(super) fn list_query<'a>(tenant_id: &'a str, f: &'a MessageFilter) -> Filtered<'a> {
    let mut q = Filtered::new(
        format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1"),
        tenant_id,
    );
    q.text(f.channel_id.as_deref(), "channel_id =");
    q.text(f.status.map(|s| s.as_str()), "status =");
    q.text(f.direction.map(|d| d.as_str()), "direction =");
    q.text(f.recipient.as_deref(), "recipient =");
    q.window("created_at", f.created_from, f.created_to);
    q.text(f.session_id.as_deref(), "session_id =");
    q
}
