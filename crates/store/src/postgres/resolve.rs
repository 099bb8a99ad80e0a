//! Resolving contacts on PostgreSQL: finding (or creating) the contact a user's identifiers
//! name and making it whole, inside the caller's transaction — its rows locked, a missing
//! identifier filled in, two contacts for the two identifiers merged (what the merge keeps is
//! decided in [`crate::contacts`]), a changed number applied — and saving it.
//!
//! Concurrency: a transaction that changes a contact first locks every contact row its
//! identifiers name (`FOR UPDATE`, in id order), so two webhooks about the same user queue
//! instead of racing. What a lock cannot cover — an identifier a concurrent transaction takes
//! between our look-up and our write, or a deadlock with a batch — fails the transaction
//! ([`Fail::Again`]), which is run again.

use std::sync::LazyLock;

use openbsp_domain::ids::{new_id_at, prefix};
use sqlx::PgConnection;

use super::tx::{Fail, Pg, RETRIES};
use super::{emit, rows, windows};
use crate::error::StoreError;
use crate::events as build;
use crate::model::*;
use crate::sql::{CONTACT_COLS, SESSION_COLS, prefixed};

/// The contact an operation is about, as it will be once saved.
pub(super) struct Resolved {
    /// The contact (the survivor of any merge), with the changes made so far.
    pub contact: Contact,
    /// Whether it was created by this operation.
    pub created: bool,
    /// Whether it differs from the stored row (and must be saved).
    pub dirty: bool,
    /// The contacts the two identifiers named before this operation (`None` for one that
    /// named none, and both when the contact was created): what `contact.updated` compares.
    pub before: (Option<Contact>, Option<Contact>),
    /// The events of what resolving did on the way (sessions closed by merges), in order.
    pub events: Vec<NewEvent>,
}

impl Resolved {
    /// The `contact.updated` event for the contact as it now is, against `before` (`None`:
    /// created), when something changed.
    pub fn contact_event(&self, before: Option<&Contact>, at: i64) -> Option<NewEvent> {
        let changes = build::contact_changes(before, &self.contact);
        (!changes.is_empty()).then(|| build::contact_updated(&self.contact, &changes, at))
    }

    /// Sets the profile name, when given (a given name counts as a change even if it is the
    /// same, as it always did: `updated_at` says when the user was last seen with it).
    pub fn set_name(&mut self, name: Option<&str>) {
        if self.created && self.contact.profile_name.as_deref() == name {
            return; // created with it just now
        }
        if let Some(n) = name {
            self.contact.profile_name = Some(n.to_string());
            self.dirty = true;
        }
    }

    /// Sets the username, when given.
    pub fn set_username(&mut self, username: Option<&str>) {
        if self.created && self.contact.username.as_deref() == username {
            return; // created with it just now
        }
        if let Some(u) = username {
            self.contact.username = Some(u.to_string());
            self.dirty = true;
        }
    }

    /// Records a marketing opt-out (an earlier one, with its source, is kept) or opt-in (which
    /// clears it).
    pub fn set_opt_out(&mut self, change: &OptOutChange) {
        set_opt_out(&mut self.contact, change);
        self.dirty = true;
    }
}

/// A marketing opt-out (kept as it was if the contact had already opted out) or opt-in.
fn set_opt_out(contact: &mut Contact, change: &OptOutChange) {
    if !change.opted_out {
        contact.marketing_opt_out_at = None;
        contact.marketing_opt_out_source = None;
    } else if contact.marketing_opt_out_at.is_none() {
        contact.marketing_opt_out_at = Some(change.at);
        contact.marketing_opt_out_source = Some(change.source.clone());
    }
}

fn has_key(c: &Contact, key: &ContactKey) -> bool {
    match key {
        ContactKey::WaId(w) => c.wa_id.as_deref() == Some(w.as_str()),
        ContactKey::UserId(u) => c.user_id.as_deref() == Some(u.as_str()),
    }
}

/// Gives `c` the identifier `key` if it has none of that kind; whether it did.
fn fill_key(c: &mut Contact, key: &ContactKey) -> bool {
    let (slot, value) = match key {
        ContactKey::WaId(w) => (&mut c.wa_id, w),
        ContactKey::UserId(u) => (&mut c.user_id, u),
    };
    if slot.is_none() {
        *slot = Some(value.clone());
        true
    } else {
        false
    }
}

static LOCK_CONTACTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CONTACT_COLS} FROM contacts
         WHERE tenant_id = $1 AND (wa_id = ANY($2::text[]) OR user_id = ANY($3::text[]))
         ORDER BY id FOR UPDATE"
    )
});

static INSERT_CONTACT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO contacts (id, tenant_id, wa_id, user_id, profile_name, username, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT DO NOTHING
         RETURNING {CONTACT_COLS}"
    )
});

/// Finds (or creates) the contact named by `key` or `also` and makes it whole, inside the
/// caller's transaction: its rows are locked; a missing identifier is filled in; two contacts
/// for the two identifiers are merged into the older one; `changed_number` moves it to that
/// `wa_id` (merging a contact that already had it). A contact created here gets `name` and
/// `username`. Nothing is saved of the survivor itself: the caller applies its own changes and
/// calls [`save`] if the result is dirty.
pub(super) async fn resolve(
    c: &mut PgConnection,
    tenant_id: &str,
    key: &ContactKey,
    also: Option<&ContactKey>,
    changed_number: Option<&str>,
    new_profile: (Option<&str>, Option<&str>),
    now: i64,
) -> Result<Resolved, Fail> {
    let mut wa_ids: Vec<&str> = Vec::with_capacity(3);
    let mut user_ids: Vec<&str> = Vec::with_capacity(2);
    for k in std::iter::once(key).chain(also) {
        match k {
            ContactKey::WaId(w) => wa_ids.push(w),
            ContactKey::UserId(u) => user_ids.push(u),
        }
    }
    wa_ids.extend(changed_number);

    let mut created = false;
    let mut attempts = 0;
    let found = loop {
        let found = rows::all(
            sqlx::query(LOCK_CONTACTS_SQL.as_str())
                .bind(tenant_id)
                .bind(&wa_ids)
                .bind(&user_ids)
                .fetch_all(&mut *c)
                .await
                .pg()?,
            rows::contact,
        )?;
        if found
            .iter()
            .any(|f| has_key(f, key) || also.is_some_and(|a| has_key(f, a)))
        {
            break found;
        }
        // Neither identifier is known: a new contact with both.
        let (mut wa_id, mut user_id) = (None, None);
        for k in std::iter::once(key).chain(also) {
            match k {
                ContactKey::WaId(w) => {
                    wa_id.get_or_insert(w.as_str());
                }
                ContactKey::UserId(u) => {
                    user_id.get_or_insert(u.as_str());
                }
            }
        }
        let row = sqlx::query(INSERT_CONTACT_SQL.as_str())
            .bind(new_id_at(prefix::CONTACT, now))
            .bind(tenant_id)
            .bind(wa_id)
            .bind(user_id)
            .bind(new_profile.0)
            .bind(new_profile.1)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
            .pg()?;
        if let Some(row) = row {
            created = true;
            let mut found = found;
            found.push(rows::contact(&row)?);
            break found;
        }
        // A concurrent transaction created it (and has committed: the insert waited for it).
        attempts += 1;
        if attempts >= RETRIES {
            return Err(Fail::Again(StoreError::database(
                "a contact could not be found or created",
            )));
        }
    };

    let by = |k: &ContactKey| found.iter().find(|f| has_key(f, k)).cloned();
    let primary = by(key);
    let other = also.and_then(by);
    let before = if created {
        (None, None)
    } else {
        (primary.clone(), other.clone())
    };
    let mut dirty = false;
    let mut gone: Vec<String> = Vec::new();
    let mut events = Vec::new();
    let mut survivor = match (primary, other) {
        (Some(p), Some(o)) if p.id != o.id => {
            dirty = true;
            merge(c, p, o, &mut gone, &mut events, now).await?
        }
        (Some(p), _) => p,
        (None, Some(o)) => o,
        (None, None) => {
            return Err(Fail::Stop(StoreError::database("contact not resolved")));
        }
    };
    for k in std::iter::once(key).chain(also) {
        dirty |= fill_key(&mut survivor, k);
    }

    if let Some(number) = changed_number {
        let old = survivor.wa_id.clone();
        let holder = found
            .iter()
            .find(|f| {
                f.wa_id.as_deref() == Some(number) && f.id != survivor.id && !gone.contains(&f.id)
            })
            .cloned();
        if let Some(holder) = holder {
            survivor = merge(c, survivor, holder, &mut gone, &mut events, now).await?;
        }
        survivor.wa_id = Some(number.to_string());
        if let Some(old) = old
            && old != number
            && !survivor.previous_wa_ids.contains(&old)
        {
            survivor.previous_wa_ids.push(old);
        }
        dirty = true;
    }
    Ok(Resolved {
        contact: survivor,
        created,
        dirty,
        before,
        events,
    })
}

/// Everything of the merged contact moves to the survivor, in one statement: its sessions
/// (an open one on a channel where the survivor has one open too is closed, reason `merged`)
/// with their messages, its messages without a session, its windows (the later of each time
/// where both have one on a channel); then it is deleted. $1 survivor, $2 merged, $3 tenant,
/// $4 now. Returns the sessions it closed.
static MERGE_SQL: LazyLock<String> = LazyLock::new(|| {
    MERGE_SQL_TEMPLATE
        .replace("{returning}", &prefixed("b", SESSION_COLS))
        .replace("{cols}", SESSION_COLS)
});

const MERGE_SQL_TEMPLATE: &str = "WITH s AS (
    UPDATE sessions AS b SET contact_id = $1,
        closed_at = CASE WHEN x.clash THEN $4 ELSE b.closed_at END,
        close_reason = CASE WHEN x.clash THEN 'merged' ELSE b.close_reason END,
        updated_at = CASE WHEN x.clash THEN $4 ELSE b.updated_at END
    FROM (SELECT o.id, o.closed_at IS NULL AND EXISTS (SELECT 1 FROM sessions a
            WHERE a.contact_id = $1 AND a.channel_id = o.channel_id AND a.closed_at IS NULL) AS clash
          FROM sessions o WHERE o.contact_id = $2 AND o.tenant_id = $3) x
    WHERE b.id = x.id
    RETURNING {returning}, x.clash
), ms AS (
    UPDATE messages SET contact_id = $1 WHERE session_id IN (SELECT id FROM s)
), mn AS (
    UPDATE messages SET contact_id = $1
    WHERE contact_id = $2 AND session_id IS NULL AND tenant_id = $3
), wd AS (
    DELETE FROM contact_windows WHERE contact_id = $2 AND tenant_id = $3
    RETURNING channel_id, tenant_id, last_inbound_at, entry_point_at, fep_opened_at, fep_expires_at
), wi AS (
    INSERT INTO contact_windows AS w (channel_id, contact_id, tenant_id, last_inbound_at,
        entry_point_at, fep_opened_at, fep_expires_at)
    SELECT channel_id, $1, tenant_id, last_inbound_at, entry_point_at, fep_opened_at,
        fep_expires_at FROM wd
    ON CONFLICT (channel_id, contact_id) DO UPDATE SET
        last_inbound_at = GREATEST(w.last_inbound_at, EXCLUDED.last_inbound_at),
        entry_point_at = GREATEST(w.entry_point_at, EXCLUDED.entry_point_at),
        fep_opened_at = GREATEST(w.fep_opened_at, EXCLUDED.fep_opened_at),
        fep_expires_at = GREATEST(w.fep_expires_at, EXCLUDED.fep_expires_at)
), dc AS (
    DELETE FROM contacts WHERE id = $2 AND tenant_id = $3
)
SELECT {cols} FROM s WHERE clash ORDER BY id";

/// Merges two contacts (both locked by the caller) into the older one (the smaller id): the
/// newer one's sessions, messages and windows move and it is deleted (its id goes to `gone`,
/// the `session.closed` events of its sessions closed to `events`); the survivor is returned
/// as [`crate::contacts::merged`] makes it, not yet saved.
async fn merge(
    c: &mut PgConnection,
    a: Contact,
    b: Contact,
    gone: &mut Vec<String>,
    events: &mut Vec<NewEvent>,
    now: i64,
) -> Result<Contact, Fail> {
    let (keep, lose) = if a.id <= b.id { (a, b) } else { (b, a) };
    let closed = sqlx::query(MERGE_SQL.as_str())
        .bind(&keep.id)
        .bind(&lose.id)
        .bind(&keep.tenant_id)
        .bind(now)
        .fetch_all(&mut *c)
        .await
        .pg()?;
    windows::closed_events(&closed, now, events)?;
    gone.push(lose.id.clone());
    Ok(crate::contacts::merged(keep, lose))
}

/// Finds or creates the contact `key` names, linking `also` to it and naming it `name`, and
/// writes the events of what that did (sessions closed by a merge, the contact's
/// `contact.updated`), inside the caller's transaction: what
/// [`crate::ContactStore::upsert_contact`] does, and the enqueue of a Session Start. Returns
/// the contact and whether it was created.
pub(super) async fn upsert_profiled(
    c: &mut PgConnection,
    tenant_id: &str,
    key: &ContactKey,
    also: Option<&ContactKey>,
    name: Option<&str>,
    now: i64,
) -> Result<(Contact, bool), Fail> {
    let mut r = resolve(c, tenant_id, key, also, None, (name, None), now).await?;
    // What `contact.updated` compares with, as SQLite: the contact the key named before, or
    // (found by the other identifier) the contact as resolving left it.
    let before = match (r.created, &r.before.0) {
        (true, _) => None,
        (false, Some(b)) => Some(b.clone()),
        (false, None) => Some(r.contact.clone()),
    };
    r.set_name(name);
    if r.dirty {
        save(c, &mut r.contact, now).await?;
    }
    let mut new_events = std::mem::take(&mut r.events);
    new_events.extend(r.contact_event(before.as_ref(), now));
    emit::insert(c, new_events).await.pg()?;
    Ok((r.contact, r.created))
}

/// Writes a contact's fields; `updated_at` becomes `now` (if later).
pub(super) async fn save(
    c: &mut PgConnection,
    contact: &mut Contact,
    now: i64,
) -> Result<(), Fail> {
    contact.updated_at = contact.updated_at.max(now);
    let previous = serde_json::to_string(&contact.previous_wa_ids).map_err(StoreError::from)?;
    sqlx::query(
        "UPDATE contacts SET wa_id = $3, user_id = $4, profile_name = $5, username = $6,
            attributes = $7, marketing_opt_out_at = $8, marketing_opt_out_source = $9,
            previous_wa_ids = $10, updated_at = $11
         WHERE id = $1 AND tenant_id = $2",
    )
    .bind(&contact.id)
    .bind(&contact.tenant_id)
    .bind(&contact.wa_id)
    .bind(&contact.user_id)
    .bind(&contact.profile_name)
    .bind(&contact.username)
    .bind(contact.attributes.to_string())
    .bind(contact.marketing_opt_out_at)
    .bind(&contact.marketing_opt_out_source)
    .bind(previous)
    .bind(contact.updated_at)
    .execute(&mut *c)
    .await
    .pg()?;
    Ok(())
}
