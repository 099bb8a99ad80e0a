//! [`InboxStore`] on SQLite: Meta's webhook payloads kept until processed (each once per app:
//! a copy of the same bytes is not stored again) and pruned after the retention, and what
//! processing applies: a status update (by the rules of [`crate::statuses`]) and an inbound
//! message with its effects on the contact, its window and its session. Each is one job on the
//! writer.

use async_trait::async_trait;
use openbsp_domain::ids::{first_id_at, prefix};
use openbsp_domain::windows::CSW_MS;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, collect};
use super::{SqliteStore, emit, history, media, resolve, windows};
use crate::error::StoreResult;
use crate::events::kind as ev;
use crate::model::*;
use crate::sql::REPLIED_MESSAGE_SQL;
use crate::statuses;
use crate::store::InboxStore;

#[async_trait]
impl InboxStore for SqliteStore {
    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<bool> {
        let item = item.clone();
        // Hashed here, not on the writer: a 3 MB body takes milliseconds.
        let digest = crate::inbox::digest(&item);
        self.write(move |c| {
            let stored = c
                .prepare_cached(
                    "INSERT INTO webhook_inbox (id, app_id, received_at, digest)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (app_id, digest) WHERE digest IS NOT NULL DO NOTHING",
                )?
                .execute(params![item.id, item.app_id, item.received_at, digest])?;
            if stored == 0 {
                return Ok(false); // a copy of a payload the app already has
            }
            c.prepare_cached(
                "INSERT INTO webhook_inbox_bodies (inbox_rowid, body) VALUES (?1, ?2)",
            )?
            .execute(params![c.last_insert_rowid(), item.body])?;
            Ok(true)
        })
        .await
    }

    async fn prune_inbox(&self, before: i64, limit: u32) -> StoreResult<u64> {
        let bound = first_id_at(prefix::INBOX, before);
        self.write(move |c| {
            let rowids = collect(
                c,
                "DELETE FROM webhook_inbox WHERE rowid IN (
                   SELECT rowid FROM webhook_inbox
                   WHERE id < ?1 AND received_at < ?2 AND processed_at IS NOT NULL
                   ORDER BY id LIMIT ?3)
                 RETURNING rowid",
                params![bound, before, limit],
                |r| r.get::<_, i64>(0),
            )?;
            // The bodies go with their rows (in the same commit: a rowid freed here may be
            // taken again by the next payload).
            let mut body =
                c.prepare_cached("DELETE FROM webhook_inbox_bodies WHERE inbox_rowid = ?1")?;
            for rowid in &rowids {
                body.execute([rowid])?;
            }
            Ok(rowids.len() as u64)
        })
        .await
    }

    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>> {
        self.read(move |c| {
            collect(
                c,
                "SELECT w.id, w.app_id, w.received_at, b.body FROM webhook_inbox AS w
                 JOIN webhook_inbox_bodies AS b ON b.inbox_rowid = w.rowid
                 WHERE w.processed_at IS NULL ORDER BY w.id LIMIT ?1",
                [limit],
                |r| {
                    Ok(InboxItem {
                        id: r.get(0)?,
                        app_id: r.get(1)?,
                        received_at: r.get(2)?,
                        body: r.get(3)?,
                    })
                },
            )
        })
        .await
    }

    async fn claim_inbox(
        &self,
        holder: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> StoreResult<Vec<InboxItem>> {
        let holder = holder.to_string();
        self.write(move |c| {
            let claimed = collect(
                c,
                "UPDATE webhook_inbox SET claimed_by = ?1, claimed_until = ?3
                 WHERE id IN (SELECT id FROM webhook_inbox
                     WHERE processed_at IS NULL
                     AND (claimed_until IS NULL OR claimed_until <= ?2 OR claimed_by = ?1)
                     ORDER BY id LIMIT ?4)
                 RETURNING rowid, id, app_id, received_at",
                params![holder, now, until, limit],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        InboxItem {
                            id: r.get(1)?,
                            app_id: r.get(2)?,
                            received_at: r.get(3)?,
                            body: Vec::new(),
                        },
                    ))
                },
            )?;
            let mut body =
                c.prepare_cached("SELECT body FROM webhook_inbox_bodies WHERE inbox_rowid = ?1")?;
            let mut items = Vec::with_capacity(claimed.len());
            for (rowid, mut item) in claimed {
                item.body = body.query_row([rowid], |r| r.get(0))?;
                items.push(item);
            }
            items.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(items)
        })
        .await
    }

    async fn mark_inbox_processed(
        &self,
        done: &[(String, Vec<NewEvent>)],
        at: i64,
    ) -> StoreResult<()> {
        let done = done.to_vec();
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE webhook_inbox SET processed_at = ?2 WHERE id = ?1 AND processed_at IS NULL",
            )?;
            for (id, new_events) in &done {
                if stmt.execute(params![id, at])? == 0 {
                    continue;
                }
                for e in new_events {
                    emit::insert(c, e)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn apply_status(&self, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
        let u = u.clone();
        self.write(move |c| apply_status(c, &u)).await
    }

    async fn apply_statuses(&self, updates: &[StatusUpdate]) -> StoreResult<Vec<StatusOutcome>> {
        // One job of the writer: one by one, in order, in one commit.
        let updates = updates.to_vec();
        self.write(move |c| updates.iter().map(|u| apply_status(c, u)).collect())
            .await
    }

    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool> {
        let new = new.clone();
        self.write(move |c| insert_inbound(c, &new)).await
    }

    async fn insert_inbounds(&self, news: &[NewInbound]) -> StoreResult<Vec<bool>> {
        // One job of the writer (its savepoint undoes all of it if one fails): the second of
        // two copies of a `wamid` finds the first stored.
        let news = news.to_vec();
        self.write(move |c| news.iter().map(|n| insert_inbound(c, n)).collect())
            .await
    }
}

/// [`InboxStore::apply_status`], on the writer.
fn apply_status(c: &Connection, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
    let by_wamid: Option<(String, String, Option<String>)> = c
        .prepare_cached(
            "SELECT id, status, wamid FROM messages WHERE wamid = ?1 AND channel_id = ?2",
        )?
        .query_row([&u.wamid, &u.channel_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let found = match (by_wamid, statuses::callback_id(u)) {
        (Some(row), _) => Some(row),
        (None, Some(id)) => c
            .prepare_cached(
                "SELECT id, status, wamid FROM messages WHERE id = ?1 AND channel_id = ?2 AND direction = 'outbound'",
            )?
            .query_row([id, &u.channel_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?,
        (None, None) => None,
    };
    let Some((id, status, wamid)) = found else {
        return Ok(StatusOutcome::UnknownMessage);
    };
    let write = statuses::apply(statuses::stored(&status), wamid.as_deref(), u);
    if let Some(wamid) = write.wamid {
        c.prepare_cached("UPDATE messages SET wamid = ?2 WHERE id = ?1 AND wamid IS NULL")?
            .execute(params![id, wamid])?;
    }
    // Meta has the message: whatever the outbox thought, it must not be sent again.
    history::delete_outbox(c, &id)?;
    if let Some(kind) = write.session_kind {
        c.prepare_cached(
            "UPDATE sessions SET kind = ?2 WHERE kind IS NULL AND id = (SELECT session_id FROM messages WHERE id = ?1)",
        )?
        .execute(params![id, kind])?;
    }
    history::advance(
        c,
        &id,
        write.forward,
        u.status,
        u.at,
        u.error.as_ref(),
        u.pricing_category.as_deref(),
    )?;
    Ok(write.outcome(id))
}

/// [`InboxStore::insert_inbound`], on the writer.
fn insert_inbound(c: &Connection, new: &NewInbound) -> StoreResult<bool> {
    let m = &new.message;
    if let Some(w) = &m.wamid {
        let seen: bool = c
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM messages WHERE wamid = ?1)")?
            .query_row([w], |r| r.get(0))?;
        if seen {
            return Ok(false);
        }
    }
    let (tenant, at) = (m.tenant_id.as_str(), m.created_at);
    let before = match rows::contact_by_key(c, tenant, &new.contact)? {
        Some(found) => Some(found),
        None => match &new.also {
            Some(also) => rows::contact_by_key(c, tenant, also)?,
            None => None,
        },
    };
    let (mut contact_id, _) =
        resolve::resolve_contact(c, tenant, &new.contact, new.also.as_ref(), at)?;
    if new.profile_name.is_some() || new.username.is_some() {
        // The profile of the user's latest message wins, whatever order Meta's webhooks are
        // applied in: an older message (a redelivery, or one processed beside a newer one)
        // does not bring back an old name.
        c.prepare_cached(
            "UPDATE contacts SET profile_name = COALESCE(?2, profile_name), username = COALESCE(?3, username),
               updated_at = MAX(updated_at, ?4)
             WHERE id = ?1 AND NOT EXISTS (
               SELECT 1 FROM contact_windows WHERE contact_id = ?1 AND last_inbound_at > ?4)",
        )?
        .execute(params![contact_id, new.profile_name, new.username, at])?;
    }
    if let Some(new_wa_id) = &new.changed_number {
        contact_id = resolve::change_number(c, tenant, &contact_id, new_wa_id, at)?;
    }
    if let Some(change) = &new.opt_out {
        resolve::set_opt_out(c, &contact_id, change)?;
    }
    emit::contact(c, tenant, &contact_id, before.as_ref(), at)?;
    let session_id = if new.opens_window {
        c.prepare_cached(
            "INSERT INTO contact_windows (channel_id, contact_id, tenant_id, last_inbound_at, entry_point_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (channel_id, contact_id) DO UPDATE SET
               last_inbound_at = MAX(COALESCE(last_inbound_at, excluded.last_inbound_at), excluded.last_inbound_at),
               entry_point_at = CASE WHEN excluded.entry_point_at IS NULL THEN entry_point_at
                 ELSE MAX(COALESCE(entry_point_at, excluded.entry_point_at), excluded.entry_point_at) END",
        )?
        .execute(params![
            m.channel_id,
            contact_id,
            tenant,
            at,
            new.entry_point.then_some(at)
        ])?;
        let spec = SessionSpec {
            kind: Some("service".into()),
            opened_by: "inbound".into(),
            expires_at: at + CSW_MS,
        };
        let (s, opened) = windows::open_session(c, tenant, &m.channel_id, &contact_id, &spec, at)?;
        c.prepare_cached(
            "UPDATE sessions SET expires_at = MAX(expires_at, ?2),
               last_inbound_at = MAX(COALESCE(last_inbound_at, ?3), ?3), updated_at = MAX(updated_at, ?3)
             WHERE id = ?1",
        )?
        .execute(params![s.id, at + CSW_MS, at])?;
        if opened {
            emit::session(c, ev::SESSION_OPENED, &s.id, at)?;
        }
        Some(s.id)
    } else {
        // A notice joins the open session only if its window had not lapsed by then.
        rows::open_session(c, &m.channel_id, &contact_id)?
            .filter(|s| s.expires_at > at)
            .map(|s| s.id)
    };
    let context = match &new.context_wamid {
        None => m.context_message_id.clone(),
        Some(w) => Some(
            c.prepare_cached("SELECT id FROM messages WHERE wamid = ?1 AND tenant_id = ?2")?
                .query_row([w, tenant], |r| r.get::<_, String>(0))
                .optional()?
                .unwrap_or_else(|| w.clone()),
        ),
    };
    let mut m = m.clone();
    m.contact_id = Some(contact_id);
    m.session_id = session_id;
    m.context_message_id = context;
    history::insert_message(c, &m, &m.content.to_string(), None)?;
    if let Some(d) = &new.media {
        media::insert_download(c, &m, d)?;
    }
    emit::message_received(c, &m.id)?;
    // An answer to a campaign message marks its recipient replied, with the message. Looked
    // up first: most answers reply to no campaign, and a read costs the writer less than an
    // update that changes nothing.
    if let Some(since) = new.replies_since {
        let answered: Option<String> = c
            .prepare_cached(REPLIED_MESSAGE_SQL)?
            .query_row(
                params![m.channel_id, m.recipient, since, m.created_at],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(answered) = answered {
            c.prepare_cached(
                "UPDATE campaign_recipients SET replied_at = ?2
                 WHERE message_id = ?1 AND (replied_at IS NULL OR replied_at > ?2)",
            )?
            .execute(params![answered, m.created_at])?;
        }
    }
    Ok(true)
}
