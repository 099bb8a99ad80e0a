//! Contacts, windows and sessions on SQLite: the statements behind the conversational part of
//! [`crate::Store`]. Every function runs inside the caller's transaction (the writer's batch,
//! or a reader).

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::CSW_MS;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::events;
use super::queries::{insert_message, upsert_contact};
use super::rows::{self, CONTACT_COLS, SESSION_COLS, WINDOW_COLS};
use crate::error::StoreResult;
use crate::events::kind as ev;
use crate::model::*;

fn key_col(key: &ContactKey) -> (&'static str, &str) {
    match key {
        ContactKey::WaId(w) => ("wa_id", w),
        ContactKey::UserId(u) => ("user_id", u),
    }
}

/// The contact with this key, within a tenant.
pub(super) fn find_contact(
    c: &Connection,
    tenant: &str,
    key: &ContactKey,
) -> StoreResult<Option<Contact>> {
    let (col, value) = key_col(key);
    let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1 AND {col} = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, value], rows::contact)
        .optional()?)
}

/// A contact by id, within a tenant.
pub(super) fn get_contact(c: &Connection, tenant: &str, id: &str) -> StoreResult<Option<Contact>> {
    let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1 AND id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, id], rows::contact)
        .optional()?)
}

fn contact_id_by(c: &Connection, tenant: &str, key: &ContactKey) -> StoreResult<Option<String>> {
    let (col, value) = key_col(key);
    let sql = format!("SELECT id FROM contacts WHERE tenant_id = ?1 AND {col} = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, value], |r| r.get(0))
        .optional()?)
}

/// Finds the contact of `key` or `also`, creating it if neither is known, merging the two if
/// they are different contacts, filling in a missing identifier. Returns its id and whether
/// it was created.
pub(super) fn resolve_contact(
    c: &Connection,
    tenant: &str,
    key: &ContactKey,
    also: Option<&ContactKey>,
    now: i64,
) -> StoreResult<(String, bool)> {
    let a = contact_id_by(c, tenant, key)?;
    let b = match also {
        Some(k) => contact_id_by(c, tenant, k)?,
        None => None,
    };
    let (id, created) = match (a, b) {
        (Some(a), Some(b)) if a != b => {
            let (keep, drop) = if a < b { (a, b) } else { (b, a) };
            merge_contacts(c, tenant, &keep, &drop, now)?;
            (keep, false)
        }
        (Some(a), _) => (a, false),
        (None, Some(b)) => (b, false),
        (None, None) => (upsert_contact(c, tenant, key, now)?.0, true),
    };
    // Fill in whichever identifier the contact lacks (nobody else has it: checked above).
    for k in std::iter::once(key).chain(also) {
        let (col, value) = key_col(k);
        let sql = format!(
            "UPDATE contacts SET {col} = ?2, updated_at = ?3 WHERE id = ?1 AND {col} IS NULL"
        );
        c.prepare_cached(&sql)?.execute(params![id, value, now])?;
    }
    Ok((id, created))
}

/// Merges contact `drop` into `keep` (both of `tenant`): sessions, messages and windows move,
/// fields `keep` lacks are taken from `drop`, and `drop` is deleted.
pub(super) fn merge_contacts(
    c: &Connection,
    tenant: &str,
    keep: &str,
    drop: &str,
    now: i64,
) -> StoreResult<()> {
    let Some(gone) = get_contact(c, tenant, drop)? else {
        return Ok(());
    };
    let Some(kept) = get_contact(c, tenant, keep)? else {
        return Ok(());
    };
    // One open session per channel and contact: the merged contact's gives way.
    let closed: Vec<String> = c
        .prepare_cached(
            "UPDATE sessions SET closed_at = ?3, close_reason = 'merged', updated_at = ?3
         WHERE contact_id = ?2 AND closed_at IS NULL
           AND channel_id IN (SELECT channel_id FROM sessions WHERE contact_id = ?1 AND closed_at IS NULL)
         RETURNING id",
        )?
        .query_map(params![keep, drop, now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Messages move through their sessions' index, before the sessions do.
    c.prepare_cached(
        "UPDATE messages SET contact_id = ?1
         WHERE session_id IN (SELECT id FROM sessions WHERE contact_id = ?2)",
    )?
    .execute(params![keep, drop])?;
    c.prepare_cached(
        "UPDATE messages SET contact_id = ?1 WHERE contact_id = ?2 AND session_id IS NULL",
    )?
    .execute(params![keep, drop])?;
    c.prepare_cached("UPDATE sessions SET contact_id = ?1 WHERE contact_id = ?2")?
        .execute(params![keep, drop])?;
    for id in &closed {
        events::session(c, ev::SESSION_CLOSED, id, now)?;
    }
    c.prepare_cached(
        "INSERT INTO contact_windows (channel_id, contact_id, tenant_id, last_inbound_at, entry_point_at, fep_opened_at, fep_expires_at)
         SELECT channel_id, ?1, tenant_id, last_inbound_at, entry_point_at, fep_opened_at, fep_expires_at
         FROM contact_windows WHERE contact_id = ?2 AND true
         ON CONFLICT (channel_id, contact_id) DO UPDATE SET
           last_inbound_at = MAX(COALESCE(last_inbound_at, excluded.last_inbound_at), COALESCE(excluded.last_inbound_at, last_inbound_at)),
           entry_point_at = MAX(COALESCE(entry_point_at, excluded.entry_point_at), COALESCE(excluded.entry_point_at, entry_point_at)),
           fep_opened_at = MAX(COALESCE(fep_opened_at, excluded.fep_opened_at), COALESCE(excluded.fep_opened_at, fep_opened_at)),
           fep_expires_at = MAX(COALESCE(fep_expires_at, excluded.fep_expires_at), COALESCE(excluded.fep_expires_at, fep_expires_at))",
    )?
    .execute(params![keep, drop])?;
    c.prepare_cached("DELETE FROM contact_windows WHERE contact_id = ?1")?
        .execute([drop])?;
    c.prepare_cached("DELETE FROM contacts WHERE id = ?1")?
        .execute([drop])?;

    let mut attributes = gone.attributes.as_object().cloned().unwrap_or_default();
    if let Some(mine) = kept.attributes.as_object() {
        attributes.extend(mine.clone());
    }
    let mut previous = gone.previous_wa_ids.clone();
    for w in &kept.previous_wa_ids {
        if !previous.contains(w) {
            previous.push(w.clone());
        }
    }
    let (opt_out_at, opt_out_source) = match kept.marketing_opt_out_at {
        Some(_) => (kept.marketing_opt_out_at, kept.marketing_opt_out_source),
        None => (gone.marketing_opt_out_at, gone.marketing_opt_out_source),
    };
    c.prepare_cached(
        "UPDATE contacts SET wa_id = COALESCE(wa_id, ?2), user_id = COALESCE(user_id, ?3),
           profile_name = COALESCE(profile_name, ?4), username = COALESCE(username, ?5),
           attributes = ?6, marketing_opt_out_at = ?7, marketing_opt_out_source = ?8,
           previous_wa_ids = ?9, updated_at = ?10
         WHERE id = ?1",
    )?
    .execute(params![
        keep,
        gone.wa_id,
        gone.user_id,
        gone.profile_name,
        gone.username,
        Value::Object(attributes).to_string(),
        opt_out_at,
        opt_out_source,
        serde_json::to_string(&previous).unwrap_or_else(|_| "[]".into()),
        now
    ])?;
    Ok(())
}

/// Moves a contact to a new number (`user_changed_number`). A contact that already had the
/// new number is merged with it. Returns the surviving contact's id.
fn change_number(
    c: &Connection,
    tenant: &str,
    contact_id: &str,
    new_wa_id: &str,
    now: i64,
) -> StoreResult<String> {
    let mut id = contact_id.to_string();
    if let Some(other) = contact_id_by(c, tenant, &ContactKey::WaId(new_wa_id.to_string()))?
        && other != id
    {
        // Keep the old number of the contact that wrote, to record it below.
        let old = get_contact(c, tenant, &id)?.and_then(|k| k.wa_id);
        c.prepare_cached("UPDATE contacts SET wa_id = NULL WHERE id = ?1")?
            .execute([&id])?;
        let (keep, drop) = if other < id {
            (other, id.clone())
        } else {
            (id.clone(), other)
        };
        merge_contacts(c, tenant, &keep, &drop, now)?;
        id = keep;
        if let Some(old) = old {
            push_previous(c, &id, &old, now)?;
        }
        c.prepare_cached("UPDATE contacts SET wa_id = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, new_wa_id, now])?;
        return Ok(id);
    }
    let old = get_contact(c, tenant, &id)?.and_then(|k| k.wa_id);
    if let Some(old) = old.filter(|o| o != new_wa_id) {
        push_previous(c, &id, &old, now)?;
    }
    c.prepare_cached("UPDATE contacts SET wa_id = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, new_wa_id, now])?;
    Ok(id)
}

fn push_previous(c: &Connection, id: &str, old: &str, now: i64) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE contacts SET previous_wa_ids = json_insert(previous_wa_ids, '$[#]', ?2), updated_at = ?3
         WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM json_each(contacts.previous_wa_ids) WHERE value = ?2)",
    )?
    .execute(params![id, old, now])?;
    Ok(())
}

/// Sets or clears a contact's marketing opt-out.
pub(super) fn set_opt_out(
    c: &Connection,
    contact_id: &str,
    change: &OptOutChange,
) -> StoreResult<()> {
    if change.opted_out {
        c.prepare_cached(
            "UPDATE contacts SET marketing_opt_out_at = COALESCE(marketing_opt_out_at, ?2),
               marketing_opt_out_source = COALESCE(marketing_opt_out_source, ?3), updated_at = MAX(updated_at, ?2)
             WHERE id = ?1",
        )?
        .execute(params![contact_id, change.at, change.source])?;
    } else {
        c.prepare_cached(
            "UPDATE contacts SET marketing_opt_out_at = NULL, marketing_opt_out_source = NULL,
               updated_at = MAX(updated_at, ?2) WHERE id = ?1",
        )?
        .execute(params![contact_id, change.at])?;
    }
    Ok(())
}

fn open_session_row(c: &Connection, channel: &str, contact: &str) -> StoreResult<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE channel_id = ?1 AND contact_id = ?2 AND closed_at IS NULL"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row([channel, contact], rows::session)
        .optional()?)
}

/// The open session of a channel and contact, or a new one from `spec`. A session whose
/// window lapsed before `now` but that the closer has not reached yet is closed first (with its
/// `session.closed`). The caller writes `session.opened` for a new one once it is complete.
pub(super) fn open_session(
    c: &Connection,
    tenant: &str,
    channel: &str,
    contact: &str,
    spec: &SessionSpec,
    now: i64,
) -> StoreResult<(Session, bool)> {
    if let Some(s) = open_session_row(c, channel, contact)? {
        if s.expires_at > now {
            return Ok((s, false));
        }
        c.prepare_cached(
            "UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = ?2 WHERE id = ?1",
        )?
        .execute(params![s.id, now])?;
        events::session(c, ev::SESSION_CLOSED, &s.id, now)?;
    }
    let s = Session {
        id: new_id_at(prefix::SESSION, now),
        tenant_id: tenant.to_string(),
        channel_id: channel.to_string(),
        contact_id: contact.to_string(),
        kind: spec.kind.clone(),
        opened_by: spec.opened_by.clone(),
        opened_at: now,
        expires_at: spec.expires_at,
        closed_at: None,
        close_reason: None,
        last_inbound_at: None,
        updated_at: now,
    };
    c.prepare_cached(
        "INSERT INTO sessions (id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at, expires_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
    )?
    .execute(params![
        s.id,
        s.tenant_id,
        s.channel_id,
        s.contact_id,
        s.kind,
        s.opened_by,
        s.opened_at,
        s.expires_at
    ])?;
    Ok((s, true))
}

/// Opens a FEP window until `until`, unless one is open for the current entry point.
pub(super) fn open_fep(
    c: &Connection,
    tenant: &str,
    channel: &str,
    contact: &str,
    now: i64,
    until: i64,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO contact_windows (channel_id, contact_id, tenant_id, fep_opened_at, fep_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (channel_id, contact_id) DO UPDATE SET
           fep_opened_at = excluded.fep_opened_at, fep_expires_at = excluded.fep_expires_at
         WHERE fep_opened_at IS NULL OR entry_point_at IS NULL OR fep_opened_at < entry_point_at",
    )?
    .execute(params![channel, contact, tenant, now, until])?;
    Ok(())
}

/// [`crate::Store::insert_inbound`].
pub(super) fn insert_inbound(c: &Connection, new: &NewInbound) -> StoreResult<bool> {
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
    let before = match find_contact(c, tenant, &new.contact)? {
        Some(found) => Some(found),
        None => match &new.also {
            Some(also) => find_contact(c, tenant, also)?,
            None => None,
        },
    };
    let (mut contact_id, _) = resolve_contact(c, tenant, &new.contact, new.also.as_ref(), at)?;
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
        contact_id = change_number(c, tenant, &contact_id, new_wa_id, at)?;
    }
    if let Some(change) = &new.opt_out {
        set_opt_out(c, &contact_id, change)?;
    }
    events::contact(c, tenant, &contact_id, before.as_ref(), at)?;
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
        let (s, opened) = open_session(c, tenant, &m.channel_id, &contact_id, &spec, at)?;
        c.prepare_cached(
            "UPDATE sessions SET expires_at = MAX(expires_at, ?2),
               last_inbound_at = MAX(COALESCE(last_inbound_at, ?3), ?3), updated_at = MAX(updated_at, ?3)
             WHERE id = ?1",
        )?
        .execute(params![s.id, at + CSW_MS, at])?;
        if opened {
            events::session(c, ev::SESSION_OPENED, &s.id, at)?;
        }
        Some(s.id)
    } else {
        // A notice joins the open session only if its window had not lapsed by then.
        open_session_row(c, &m.channel_id, &contact_id)?
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
    insert_message(c, &m, &m.content.to_string(), None)?;
    events::message_received(c, &m.id)?;
    Ok(true)
}

/// [`crate::Store::update_contact`].
pub(super) fn update_contact(
    c: &Connection,
    tenant: &str,
    id: &str,
    patch: &ContactPatch,
    now: i64,
) -> StoreResult<Option<Contact>> {
    let Some(contact) = get_contact(c, tenant, id)? else {
        return Ok(None);
    };
    if let Some(name) = &patch.profile_name {
        c.prepare_cached("UPDATE contacts SET profile_name = ?2 WHERE id = ?1")?
            .execute(params![id, name])?;
    }
    if let Some(Value::Object(changes)) = &patch.attributes {
        let mut attrs = contact.attributes.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            if v.is_null() {
                attrs.remove(k);
            } else {
                attrs.insert(k.clone(), v.clone());
            }
        }
        c.prepare_cached("UPDATE contacts SET attributes = ?2 WHERE id = ?1")?
            .execute(params![id, Value::Object(attrs).to_string()])?;
    }
    if let Some(opted_out) = patch.marketing_opt_out {
        let change = OptOutChange {
            opted_out,
            source: "api".into(),
            at: now,
        };
        set_opt_out(c, id, &change)?;
    }
    c.prepare_cached("UPDATE contacts SET updated_at = MAX(updated_at, ?2) WHERE id = ?1")?
        .execute(params![id, now])?;
    events::contact(c, tenant, id, Some(&contact), now)?;
    get_contact(c, tenant, id)
}

/// [`crate::Store::conversation`].
pub(super) fn conversation(
    c: &Connection,
    tenant: &str,
    channel: &str,
    key: &ContactKey,
) -> StoreResult<Conversation> {
    let Some(contact) = find_contact(c, tenant, key)? else {
        return Ok(Conversation::default());
    };
    let sql = format!(
        "SELECT {WINDOW_COLS} FROM contact_windows WHERE channel_id = ?1 AND contact_id = ?2"
    );
    let window = c
        .prepare_cached(&sql)?
        .query_row([channel, &contact.id], rows::window)
        .optional()?;
    let open_session = open_session_row(c, channel, &contact.id)?;
    Ok(Conversation {
        contact: Some(contact),
        window,
        open_session,
    })
}

/// [`crate::Store::contact_windows`].
pub(super) fn contact_windows(
    c: &Connection,
    tenant: &str,
    contact: &str,
) -> StoreResult<Vec<ContactWindow>> {
    let sql = format!(
        "SELECT {WINDOW_COLS} FROM contact_windows WHERE contact_id = ?1 AND tenant_id = ?2 ORDER BY channel_id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([contact, tenant], rows::window)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// [`crate::Store::get_session`].
pub(super) fn get_session(c: &Connection, tenant: &str, id: &str) -> StoreResult<Option<Session>> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1 AND tenant_id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([id, tenant], rows::session)
        .optional()?)
}

/// [`crate::Store::close_session`].
pub(super) fn close_session(
    c: &Connection,
    tenant: &str,
    id: &str,
    now: i64,
) -> StoreResult<Option<Session>> {
    let closed = c
        .prepare_cached(
            "UPDATE sessions SET closed_at = ?3, close_reason = 'closed', updated_at = ?3
         WHERE id = ?1 AND tenant_id = ?2 AND closed_at IS NULL",
        )?
        .execute(params![id, tenant, now])?;
    if closed > 0 {
        events::session(c, ev::SESSION_CLOSED, id, now)?;
    }
    get_session(c, tenant, id)
}

/// [`crate::Store::close_expired_sessions`].
pub(super) fn close_expired(c: &Connection, now: i64, limit: u32) -> StoreResult<Vec<Session>> {
    let sql = format!(
        "UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = ?1
         WHERE id IN (SELECT id FROM sessions WHERE closed_at IS NULL AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2)
         RETURNING {SESSION_COLS}"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now, limit], rows::session)?;
    let closed = rows.collect::<Result<Vec<_>, _>>()?;
    for s in &closed {
        events::session(c, ev::SESSION_CLOSED, &s.id, now)?;
    }
    Ok(closed)
}
