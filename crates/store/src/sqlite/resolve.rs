//! Resolving contacts on SQLite: finding or creating the contact a user's identifiers name,
//! filling in the one it lacks, merging two contacts that turn out to be one user (what the
//! merge keeps is decided in [`crate::contacts`]), moving a contact to a new number, and its
//! marketing opt-out. Every function runs inside the caller's transaction on the writer.

use openbsp_domain::ids::{new_id_at, prefix};
use rusqlite::{Connection, params};

use super::{emit, rows};
use crate::error::StoreResult;
use crate::events::kind as ev;
use crate::model::*;
use crate::sql::contact_key;

/// Finds or creates the contact for `key`, returning its id and whether it was created.
pub(super) fn find_or_create(
    c: &Connection,
    tenant: &str,
    key: &ContactKey,
    now: i64,
) -> StoreResult<(String, bool)> {
    if let Some(id) = rows::contact_id_by_key(c, tenant, key)? {
        return Ok((id, false));
    }
    let (col, value) = contact_key(key);
    let id = new_id_at(prefix::CONTACT, now);
    let sql = format!(
        "INSERT INTO contacts (id, tenant_id, {col}, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"
    );
    c.prepare_cached(&sql)?
        .execute(params![id, tenant, value, now])?;
    Ok((id, true))
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
    let a = rows::contact_id_by_key(c, tenant, key)?;
    let b = match also {
        Some(k) => rows::contact_id_by_key(c, tenant, k)?,
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
        (None, None) => (find_or_create(c, tenant, key, now)?.0, true),
    };
    // Fill in whichever identifier the contact lacks (nobody else has it: checked above).
    for k in std::iter::once(key).chain(also) {
        let (col, value) = contact_key(k);
        let sql = format!(
            "UPDATE contacts SET {col} = ?2, updated_at = ?3 WHERE id = ?1 AND {col} IS NULL"
        );
        c.prepare_cached(&sql)?.execute(params![id, value, now])?;
    }
    Ok((id, created))
}

/// Finds or creates the contact `key` names, linking `also` to it and naming it `name`, with
/// its `contact.updated` event (what [`crate::ContactStore::upsert_contact`] does, inside the
/// caller's transaction). Returns its id and whether it was created.
pub(super) fn upsert_profiled(
    c: &Connection,
    t: &str,
    key: &ContactKey,
    also: Option<&ContactKey>,
    name: Option<&str>,
    now: i64,
) -> StoreResult<(String, bool)> {
    let before = rows::contact_by_key(c, t, key)?;
    let (id, created) = resolve_contact(c, t, key, also, now)?;
    let before = match (created, before) {
        (true, _) => None,
        (false, Some(b)) => Some(b),
        (false, None) => rows::contact_by_id(c, t, &id)?,
    };
    if let Some(name) = name {
        c.prepare_cached(
            "UPDATE contacts SET profile_name = ?2, updated_at = MAX(updated_at, ?3) WHERE id = ?1",
        )?
        .execute(params![id, name, now])?;
    }
    emit::contact(c, t, &id, before.as_ref(), now)?;
    Ok((id, created))
}

/// Merges contact `drop` into `keep` (both of `tenant`): sessions, messages and windows move,
/// `keep` becomes what [`crate::contacts::merged`] makes of the two, and `drop` is deleted.
fn merge_contacts(
    c: &Connection,
    tenant: &str,
    keep: &str,
    drop: &str,
    now: i64,
) -> StoreResult<()> {
    let Some(gone) = rows::contact_by_id(c, tenant, drop)? else {
        return Ok(());
    };
    let Some(kept) = rows::contact_by_id(c, tenant, keep)? else {
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
        emit::session(c, ev::SESSION_CLOSED, id, now)?;
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

    let m = crate::contacts::merged(kept, gone);
    c.prepare_cached(
        "UPDATE contacts SET wa_id = ?2, user_id = ?3, profile_name = ?4, username = ?5,
           attributes = ?6, marketing_opt_out_at = ?7, marketing_opt_out_source = ?8,
           previous_wa_ids = ?9, updated_at = ?10
         WHERE id = ?1",
    )?
    .execute(params![
        keep,
        m.wa_id,
        m.user_id,
        m.profile_name,
        m.username,
        m.attributes.to_string(),
        m.marketing_opt_out_at,
        m.marketing_opt_out_source,
        serde_json::to_string(&m.previous_wa_ids).unwrap_or_else(|_| "[]".into()),
        now
    ])?;
    Ok(())
}

/// Moves a contact to a new number (`user_changed_number`). A contact that already had the
/// new number is merged with it. Returns the surviving contact's id.
pub(super) fn change_number(
    c: &Connection,
    tenant: &str,
    contact_id: &str,
    new_wa_id: &str,
    now: i64,
) -> StoreResult<String> {
    let mut id = contact_id.to_string();
    let new_key = ContactKey::WaId(new_wa_id.to_string());
    if let Some(other) = rows::contact_id_by_key(c, tenant, &new_key)?
        && other != id
    {
        // Keep the old number of the contact that wrote, to record it below.
        let old = rows::contact_by_id(c, tenant, &id)?.and_then(|k| k.wa_id);
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
        set_number(c, &id, new_wa_id, now)?;
        return Ok(id);
    }
    let old = rows::contact_by_id(c, tenant, &id)?.and_then(|k| k.wa_id);
    if let Some(old) = old.filter(|o| o != new_wa_id) {
        push_previous(c, &id, &old, now)?;
    }
    set_number(c, &id, new_wa_id, now)?;
    Ok(id)
}

fn set_number(c: &Connection, id: &str, wa_id: &str, now: i64) -> StoreResult<()> {
    c.prepare_cached("UPDATE contacts SET wa_id = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, wa_id, now])?;
    Ok(())
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
