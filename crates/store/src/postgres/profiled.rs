//! The enqueue of a Session Start on PostgreSQL: the send policy and the contact it names (the
//! identifier it links, the name it gives) in one transaction with the message, outside the
//! group commit (a Session Start is rare next to plain sends, and resolving a contact locks
//! contact rows, which the batch never does).

use super::PgStore;
use super::batch::{Checked, IDEMPOTENCY_CONSTRAINT, LOOKUP_KEYS_SQL, enqueue_set};
use super::conversations::{self, Fail, Pg, retrying};
use super::{DbResult, events, reads};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::policy::SendCheck;

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
                    match crate::policy::plan(&conversation, check, m.created_at) {
                        Ok(plan) => {
                            item.session = plan.session;
                            item.open_fep_until = plan.open_fep_until;
                        }
                        Err(refusal) => return Ok((Err(refusal), false)),
                    }
                }
                let profile = item.profile.clone().unwrap_or_default();
                let (tenant, now) = (item.message.tenant_id.clone(), item.message.created_at);
                let name = profile.name.as_deref();
                let mut r = conversations::resolve(
                    c,
                    &tenant,
                    &item.contact,
                    profile.also.as_ref(),
                    None,
                    (name, None),
                    now,
                )
                .await?;
                // What `contact.updated` compares with, as `upsert_contact` does.
                let before = match (r.created, &r.before.0) {
                    (true, _) => None,
                    (false, Some(b)) => Some(b.clone()),
                    (false, None) => Some(r.contact.clone()),
                };
                r.set_name(name);
                if r.dirty {
                    conversations::save(c, &mut r.contact, now).await?;
                }
                let mut new_events = std::mem::take(&mut r.events);
                new_events.extend(r.contact_event(before.as_ref(), now));
                events::insert(c, new_events).await.pg()?;
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
                .ok_or_else(|| StoreError::Database("enqueue gave no outcome".into()))?;
            Ok((outcome, true))
        })?;
        self.signal.bump();
        Ok(out)
    }
}
