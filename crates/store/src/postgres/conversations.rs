//! Contacts, windows and sessions on PostgreSQL: finding, creating, completing and merging
//! contacts, and the inbound messages that drive all of it (see the contract on
//! [`crate::Store::insert_inbound`]).
//!
//! Concurrency: a transaction that changes a contact first locks every contact row its
//! identifiers name (`FOR UPDATE`, in id order), so two webhooks about the same user queue
//! instead of racing; the open session of a channel and contact is only ever created or renewed
//! by `INSERT … ON CONFLICT` on the partial unique index `sessions_open`, which is atomic against
//! the group-commit workers opening sessions for outbound messages (they never lock contacts).
//! What a lock cannot cover — an identifier a concurrent transaction takes between our look-up
//! and our write, or a deadlock with a batch — fails the transaction, which is run again.

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::CSW_MS;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::rows::{self, CONTACT_COLS, MESSAGE_COLS, SESSION_COLS};
use super::{db_err, events};
use crate::error::StoreError;
use crate::events::{self as build, kind as ev};
use crate::model::*;

/// How a transaction's body failed.
pub(super) enum Fail {
    /// For a reason running it again can fix: a deadlock, a serialization failure, or a unique
    /// key that a concurrent transaction took since we looked.
    Again(StoreError),
    /// For good.
    Stop(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Stop(e)
    }
}

/// `.pg()`: a driver result as a [`Fail`].
pub(super) trait Pg<T> {
    fn pg(self) -> Result<T, Fail>;
}

impl<T> Pg<T> for Result<T, sqlx::Error> {
    fn pg(self) -> Result<T, Fail> {
        self.map_err(|e| {
            let again = matches!(&e, sqlx::Error::Database(d)
                if matches!(d.code().as_deref(), Some("40P01" | "40001" | "23505")));
            let e = db_err(e);
            if again { Fail::Again(e) } else { Fail::Stop(e) }
        })
    }
}

/// How many times a transaction failing with [`Fail::Again`] is run again.
pub(super) const RETRIES: u32 = 3;

/// Runs `$body` — an expression using `$c: &mut PgConnection` that evaluates to a future of
/// `Result<(T, bool), Fail>`: the answer and whether to commit — in a transaction on `$pool`,
/// again (up to [`RETRIES`] times) when it fails with [`Fail::Again`]. Evaluates to
/// `StoreResult<T>`.
macro_rules! retrying {
    ($pool:expr, |$c:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            let mut tx = $pool.begin().await.db()?;
            let result = {
                let $c: &mut sqlx::PgConnection = &mut tx;
                $body.await
            };
            match result {
                Ok((value, commit)) => {
                    if commit {
                        tx.commit().await.db()?;
                    }
                    break Ok::<_, $crate::error::StoreError>(value);
                }
                Err($crate::postgres::conversations::Fail::Again(e))
                    if attempt < $crate::postgres::conversations::RETRIES =>
                {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "PostgreSQL transaction runs again");
                }
                Err(
                    $crate::postgres::conversations::Fail::Again(e)
                    | $crate::postgres::conversations::Fail::Stop(e),
                ) => break Err(e),
            }
        }
    }};
}
pub(super) use retrying;

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
pub(super) fn set_opt_out(contact: &mut Contact, change: &OptOutChange) {
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

static LOCK_CONTACTS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {CONTACT_COLS} FROM contacts
         WHERE tenant_id = $1 AND (wa_id = ANY($2::text[]) OR user_id = ANY($3::text[]))
         ORDER BY id FOR UPDATE"
    )
});

static INSERT_CONTACT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
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
            return Err(Fail::Again(StoreError::Database(
                "a contact could not be found or created".into(),
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
            return Err(Fail::Stop(StoreError::Database(
                "contact not resolved".into(),
            )));
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
static MERGE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let cols = SESSION_COLS
        .split(',')
        .map(|c| format!("b.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    MERGE_SQL_TEMPLATE
        .replace("{returning}", &cols)
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
/// with the fields it lacked copied from the other, not yet saved.
async fn merge(
    c: &mut PgConnection,
    a: Contact,
    b: Contact,
    gone: &mut Vec<String>,
    events: &mut Vec<NewEvent>,
    now: i64,
) -> Result<Contact, Fail> {
    let (mut keep, lose) = if a.id <= b.id { (a, b) } else { (b, a) };
    let closed = sqlx::query(MERGE_SQL.as_str())
        .bind(&keep.id)
        .bind(&lose.id)
        .bind(&keep.tenant_id)
        .bind(now)
        .fetch_all(&mut *c)
        .await
        .pg()?;
    for row in &closed {
        events.push(build::session(
            ev::SESSION_CLOSED,
            &rows::session(row)?,
            now,
        ));
    }
    gone.push(lose.id.clone());
    keep.wa_id = keep.wa_id.or(lose.wa_id);
    keep.user_id = keep.user_id.or(lose.user_id);
    keep.profile_name = keep.profile_name.or(lose.profile_name);
    keep.username = keep.username.or(lose.username);
    if keep.marketing_opt_out_at.is_none() {
        keep.marketing_opt_out_at = lose.marketing_opt_out_at;
        keep.marketing_opt_out_source = lose.marketing_opt_out_source;
    }
    keep.attributes = overlay(lose.attributes, &keep.attributes);
    // The merged contact's earlier numbers, then the survivor's.
    let mut previous = lose.previous_wa_ids;
    for w in std::mem::take(&mut keep.previous_wa_ids) {
        if !previous.contains(&w) {
            previous.push(w);
        }
    }
    keep.previous_wa_ids = previous;
    Ok(keep)
}

/// `base` with the keys of `top` set over it (both JSON objects; anything else counts as empty).
fn overlay(base: Value, top: &Value) -> Value {
    let mut out = match base {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Value::Object(top) = top {
        for (k, v) in top {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Merges a business's attribute changes into `attributes`: each key is set, a `null` removes
/// it. A patch that is not an object changes nothing.
pub(super) fn patch_attributes(attributes: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        return;
    };
    if !attributes.is_object() {
        *attributes = Value::Object(Map::new());
    }
    if let Value::Object(m) = attributes {
        for (k, v) in patch {
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
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

/// An inbound message's open session renewed, or a new one opened (`$4` its id, `$5` the
/// message's time, `$6` the window's length), if `$7` (the message opens the window). An open
/// session whose window lapsed before the message (the closer has not reached it yet) is
/// neither renewed nor returned: the caller closes it and runs this again. $1 tenant,
/// $2 channel, $3 contact. Returns the session as it now is ([`SESSION_COLS`]) and `opened`,
/// whether this inserted it (a row an `ON CONFLICT` update returns has `xmax` set).
static RENEW_SESSION_CTE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO sessions AS s (id, tenant_id, channel_id, contact_id,
            kind, opened_by, opened_at, expires_at, last_inbound_at, updated_at)
        SELECT $4, $1, $2, $3, 'service', 'inbound', $5, $5 + $6, $5, $5 WHERE $7
        ON CONFLICT (channel_id, contact_id) WHERE closed_at IS NULL DO UPDATE SET
            expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at),
            last_inbound_at = GREATEST(s.last_inbound_at, EXCLUDED.last_inbound_at),
            updated_at = GREATEST(s.updated_at, EXCLUDED.updated_at)
        WHERE s.expires_at > EXCLUDED.opened_at
        RETURNING {SESSION_COLS}, (xmax = 0) AS opened"
    )
});

/// [`SESSION_COLS`] of the session aliased `ses`, then `opened`.
static SES_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    SESSION_COLS
        .split(',')
        .map(|c| format!("ses.{}", c.trim()))
        .chain(std::iter::once("ses.opened".to_string()))
        .collect::<Vec<_>>()
        .join(", ")
});

/// The session columns of a row of [`INSERT_INBOUND_SQL`] or [`REOPEN_FOR_INBOUND_SQL`]
/// (from column `at`): the session, if the statement opened it.
fn opened_session(row: &sqlx::postgres::PgRow, at: usize) -> Result<Option<Session>, Fail> {
    let id: Option<String> = rows::get(row, at)?;
    let opened: Option<bool> = rows::get(row, at + rows::SESSION_N)?;
    if id.is_none() || opened != Some(true) {
        return Ok(None);
    }
    Ok(Some(rows::session_at(row, at)?))
}

/// The window, the session and the message of an inbound message, in one statement. With `$7`
/// (it opens the window): the window's `last_inbound_at` (and `entry_point_at` with `$8`) move
/// forward and the open session is renewed or opened ([`RENEW_SESSION_CTE`]); without, the
/// message joins the open session if there is one. `$9`…`$21`: the message; `$22`: the `wamid`
/// it replies to, resolved to the gateway's id if known. Nothing is inserted into `messages`
/// (and no row returned) if its `wamid` is already stored: the caller then rolls back. Returns
/// the message's session (`NULL` with `$7`: the open session had lapsed), its context as
/// stored, and the session as [`RENEW_SESSION_CTE`] returns it (`NULL`s without `$7`).
static INSERT_INBOUND_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let renew = RENEW_SESSION_CTE.as_str();
    let ses_cols = SES_COLS.as_str();
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
                NULL, NULL, NULL)
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

/// Closes the open session of a channel and contact if its window lapsed at `$4` (closed at
/// its expiry, reason `expired`, as the closer would have). $1 tenant, $2 channel, $3 contact.
/// Returns it as closed.
static CLOSE_LAPSED_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = $4
         WHERE channel_id = $2 AND contact_id = $3 AND closed_at IS NULL AND expires_at <= $4
             AND tenant_id = $1
         RETURNING {SESSION_COLS}"
    )
});

/// [`CLOSE_LAPSED_SQL`], with the `session.closed` event of what it closed (at `now`).
async fn close_lapsed(
    c: &mut PgConnection,
    tenant_id: &str,
    channel_id: &str,
    contact_id: &str,
    now: i64,
    events: &mut Vec<NewEvent>,
) -> Result<(), Fail> {
    let closed = sqlx::query(CLOSE_LAPSED_SQL.as_str())
        .bind(tenant_id)
        .bind(channel_id)
        .bind(contact_id)
        .bind(now)
        .fetch_all(&mut *c)
        .await
        .pg()?;
    for row in &closed {
        events.push(build::session(
            ev::SESSION_CLOSED,
            &rows::session(row)?,
            now,
        ));
    }
    Ok(())
}

/// After [`CLOSE_LAPSED_SQL`]: the inbound message `$8` gets the session opened for it.
/// Returns its session and the session's columns as [`INSERT_INBOUND_SQL`] does.
static REOPEN_FOR_INBOUND_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let renew = RENEW_SESSION_CTE.as_str();
    let ses_cols = SES_COLS.as_str();
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
pub(super) async fn insert_inbound(
    c: &mut PgConnection,
    new: &NewInbound,
) -> Result<(bool, bool), Fail> {
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
    let mut r = resolve(
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
        save(c, &mut r.contact, now).await?;
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
    new_events
        .extend(opened_session(&row, 2)?.map(|s| build::session(ev::SESSION_OPENED, &s, now)));
    if new.opens_window && joined.is_none() {
        // The open session had lapsed: it is closed, as the closer would have, and the message
        // opens a new one.
        for _ in 0..RETRIES {
            close_lapsed(
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
                opened_session(&row, 1)?.map(|s| build::session(ev::SESSION_OPENED, &s, now)),
            );
            if joined.is_some() {
                break;
            }
        }
        if joined.is_none() {
            return Err(Fail::Again(StoreError::Database(
                "no session could be opened for an inbound message".into(),
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
    events::insert(c, new_events).await.pg()?;
    Ok((true, true))
}

/// The open session of a channel and contact, or one opened with `spec` at `now` (inside the
/// caller's transaction); and whether it was opened here. An open session whose window lapsed
/// at `now` is closed first (reason `expired`), as the closer would have. The events of the
/// sessions closed and opened go to `events`.
pub(super) async fn open_session(
    c: &mut PgConnection,
    tenant_id: &str,
    channel_id: &str,
    contact_id: &str,
    spec: &SessionSpec,
    now: i64,
    events: &mut Vec<NewEvent>,
) -> Result<(Session, bool), Fail> {
    let insert = format!(
        "INSERT INTO sessions (id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at,
            expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)
         ON CONFLICT (channel_id, contact_id) WHERE closed_at IS NULL DO NOTHING
         RETURNING {SESSION_COLS}"
    );
    let select = format!(
        "SELECT {SESSION_COLS} FROM sessions
         WHERE channel_id = $1 AND contact_id = $2 AND closed_at IS NULL AND tenant_id = $3"
    );
    for _ in 0..RETRIES {
        close_lapsed(c, tenant_id, channel_id, contact_id, now, events).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
            .bind(new_id_at(prefix::SESSION, now))
            .bind(tenant_id)
            .bind(channel_id)
            .bind(contact_id)
            .bind(&spec.kind)
            .bind(&spec.opened_by)
            .bind(now)
            .bind(spec.expires_at)
            .fetch_optional(&mut *c)
            .await
            .pg()?;
        if let Some(row) = row {
            let s = rows::session(&row)?;
            events.push(build::session(ev::SESSION_OPENED, &s, now));
            return Ok((s, true));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .bind(channel_id)
            .bind(contact_id)
            .bind(tenant_id)
            .fetch_optional(&mut *c)
            .await
            .pg()?;
        if let Some(row) = row {
            return Ok((rows::session(&row)?, false));
        }
        // Closed between the two statements: try again.
    }
    Err(Fail::Again(StoreError::Database(
        "a session could not be found or opened".into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_merge_key_by_key_and_null_removes() {
        let mut a = json!({"tier": "gold", "city": "Lima", "n": 1});
        patch_attributes(&mut a, &json!({"city": "Cusco", "n": null, "new": [1]}));
        assert_eq!(a, json!({"tier": "gold", "city": "Cusco", "new": [1]}));
        patch_attributes(&mut a, &json!("not an object"));
        assert_eq!(a, json!({"tier": "gold", "city": "Cusco", "new": [1]}));
        let mut broken = json!([1, 2]);
        patch_attributes(&mut broken, &json!({"k": "v"}));
        assert_eq!(broken, json!({"k": "v"}));
    }

    #[test]
    fn the_survivors_attributes_win() {
        assert_eq!(
            overlay(json!({"a": 1, "b": 2}), &json!({"b": 3, "c": 4})),
            json!({"a": 1, "b": 3, "c": 4})
        );
        assert_eq!(overlay(json!(null), &json!({"b": 3})), json!({"b": 3}));
    }
}
