//! [`ContactStore`] on SQLite: contacts read on a reader; created, changed and opted out on the
//! writer, each change with its `contact.updated` event.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::filtered::Filtered;
use super::rows::{self, collect};
use super::{SqliteStore, emit, resolve, windows};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{CONTACT_COLS, WINDOW_COLS};
use crate::store::ContactStore;

#[async_trait]
impl ContactStore for SqliteStore {
    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| rows::contact_by_id(c, &t, &id)).await
    }

    async fn find_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<Contact>> {
        let (t, key) = (tenant_id.to_string(), key.clone());
        self.read(move |c| rows::contact_by_key(c, &t, &key)).await
    }

    async fn upsert_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        also: Option<&ContactKey>,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<(Contact, bool)> {
        let (t, key, also) = (tenant_id.to_string(), key.clone(), also.cloned());
        let name = name.map(str::to_string);
        self.write(move |c| {
            let (id, created) =
                resolve::upsert_profiled(c, &t, &key, also.as_ref(), name.as_deref(), now)?;
            Ok((stored(c, &t, &id)?, created))
        })
        .await
    }

    async fn list_contacts(
        &self,
        tenant_id: &str,
        f: &ContactFilter,
        page: &Page,
    ) -> StoreResult<Vec<Contact>> {
        let (t, f, page) = (tenant_id.to_string(), f.clone(), page.clone());
        self.read(move |c| list_contacts(c, &t, &f, &page)).await
    }

    async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: i64,
    ) -> StoreResult<Option<Contact>> {
        let (t, id, patch) = (tenant_id.to_string(), id.to_string(), patch.clone());
        self.write(move |c| update_contact(c, &t, &id, &patch, now))
            .await
    }

    async fn set_marketing_opt_out(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        change: &OptOutChange,
    ) -> StoreResult<Contact> {
        let (t, key, change) = (tenant_id.to_string(), key.clone(), change.clone());
        self.write(move |c| {
            let before = rows::contact_by_key(c, &t, &key)?;
            let (id, _) = resolve::resolve_contact(c, &t, &key, None, change.at)?;
            resolve::set_opt_out(c, &id, &change)?;
            emit::contact(c, &t, &id, before.as_ref(), change.at)?;
            stored(c, &t, &id)
        })
        .await
    }

    async fn contact_windows(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> StoreResult<Vec<ContactWindow>> {
        let (t, id) = (tenant_id.to_string(), contact_id.to_string());
        self.read(move |c| {
            let sql = format!(
                "SELECT {WINDOW_COLS} FROM contact_windows WHERE contact_id = ?1 AND tenant_id = ?2 ORDER BY channel_id"
            );
            collect(c, &sql, [id, t], rows::window)
        })
        .await
    }

    async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation> {
        let (t, ch, key) = (tenant_id.to_string(), channel_id.to_string(), key.clone());
        self.read(move |c| windows::conversation(c, &t, &ch, &key))
            .await
    }
}

/// [`ContactStore::list_contacts`]. A name looked up in the trigrams ([`list_query`]) reads
/// every contact whose name holds the term, to sort them: for a term most names hold, that is
/// the tenant's contacts. So the tenant's newest contacts are walked first, at most
/// [`name_walk_budget`] of them, the name checked on each: a term many names hold fills its
/// page there. Only what the walk left unfilled is looked up in the trigrams, below the walk's
/// last contact. A rare term costs the walk (an index range of the budget's rows) on top of
/// the look-up; a common one, the walk alone (BENCHMARKS.md: 1.1 s → 0.2 ms at 10⁶ contacts).
///
/// [`name_walk_budget`]: crate::model::name_walk_budget
fn list_contacts(
    c: &Connection,
    tenant: &str,
    f: &ContactFilter,
    page: &Page,
) -> StoreResult<Vec<Contact>> {
    if trigram_term(f).is_none() {
        return list_query(tenant, f).fetch(c, tenant, page, rows::contact);
    }
    // The walk's lowest contact: the budget's last row below the cursor (none if fewer).
    let budget = crate::model::name_walk_budget(page.limit);
    let floor: Option<String> = {
        let mut st = c.prepare_cached(
            "SELECT id FROM contacts WHERE tenant_id = ?1 AND id < ?2
             ORDER BY id DESC LIMIT 1 OFFSET ?3",
        )?;
        let below = page
            .after
            .as_deref()
            .unwrap_or(crate::model::ABOVE_EVERY_ID);
        st.query_row(params![tenant, below, budget - 1], |r| r.get(0))
            .optional()?
    };
    let mut found =
        query(tenant, f, false, floor.as_deref()).fetch(c, tenant, page, rows::contact)?;
    let Some(floor) = floor else {
        // The walk read every contact below the cursor.
        return Ok(found);
    };
    if let Some(rest) = crate::model::below_the_walk(page, found.len(), floor) {
        found.extend(list_query(tenant, f).fetch(c, tenant, &rest, rows::contact)?);
    }
    Ok(found)
}

/// The name `f` looks up in `contact_names`: one of [`crate::NAME_SEARCH_MIN`] characters or
/// more, when no key (`wa_id`, `user_id`) names the contact already.
fn trigram_term(f: &ContactFilter) -> Option<&str> {
    let keyed = f.wa_id.is_some() || f.user_id.is_some();
    f.name
        .as_deref()
        .filter(|n| !keyed && n.chars().count() >= crate::NAME_SEARCH_MIN)
}

/// The query of [`ContactStore::list_contacts`] on its own (without the walk). Most selective
/// first: the first given claims the index (see `filtered`). A name of
/// [`crate::NAME_SEARCH_MIN`] characters or more is looked up in `contact_names` (FTS5
/// trigrams, migration 23): the contacts whose name holds its trigrams, then checked on their
/// rows as before (ASCII letters folded, as `lower()` does), so what is read is bounded by the
/// names that hold the term, not by the tenant's contacts. A shorter one has no trigram, and
/// is checked on the rows.
pub(super) fn list_query(tenant: &str, f: &ContactFilter) -> Filtered {
    query(tenant, f, true, None)
}

/// [`list_query`], the trigrams used if `trigrams` and the name allows, and only contacts
/// from `floor` (an id) on if given.
pub(super) fn query(
    tenant: &str,
    f: &ContactFilter,
    trigrams: bool,
    floor: Option<&str>,
) -> Filtered {
    let trigrams = trigram_term(f).filter(|_| trigrams);
    // Through the trigrams: `+tenant_id` keeps SQLite off `contacts_tenant_id` (it would walk
    // the tenant's contacts in id order, testing each against the matches) for the matches'
    // rowids, sorted.
    let tenant_col = if trigrams.is_some() {
        "+tenant_id"
    } else {
        "tenant_id"
    };
    let mut q = Filtered::new(
        format!("SELECT {CONTACT_COLS} FROM contacts WHERE {tenant_col} = ?1"),
        tenant,
    );
    q.eq(f.wa_id.as_deref(), "wa_id");
    q.eq(f.user_id.as_deref(), "user_id");
    if let Some(name) = trigrams {
        // A phrase of FTS5's query syntax: the term quoted, its quotes doubled.
        let phrase = format!("\"{}\"", name.replace('"', "\"\""));
        q.claim_with(
            &phrase,
            "rowid IN (SELECT rowid FROM contact_names WHERE contact_names MATCH ?{n})",
        );
    }
    // The walk: a range of the tenant's index, which it claims (a key excludes the walk).
    if let Some(floor) = floor {
        q.claim_with(floor, "id >= ?{n}");
    }
    q.null(f.opted_out.map(|out| !out), "marketing_opt_out_at");
    q.text_with(
        f.name.as_deref(),
        "instr(lower(profile_name), lower(?{n})) > 0",
    );
    q
}

/// The contact a change just wrote.
fn stored(c: &Connection, tenant: &str, id: &str) -> StoreResult<Contact> {
    rows::contact_by_id(c, tenant, id)?
        .ok_or_else(|| StoreError::corrupt(format!("contact {id} vanished")))
}

/// [`ContactStore::update_contact`], on the writer.
fn update_contact(
    c: &Connection,
    tenant: &str,
    id: &str,
    patch: &ContactPatch,
    now: i64,
) -> StoreResult<Option<Contact>> {
    let Some(contact) = rows::contact_by_id(c, tenant, id)? else {
        return Ok(None);
    };
    if let Some(name) = &patch.profile_name {
        c.prepare_cached("UPDATE contacts SET profile_name = ?2 WHERE id = ?1")?
            .execute(params![id, name])?;
    }
    if let Some(changes) = patch.attributes.as_ref().filter(|p| p.is_object()) {
        let mut attributes = contact.attributes.clone();
        crate::contacts::patch_attributes(&mut attributes, changes);
        c.prepare_cached("UPDATE contacts SET attributes = ?2 WHERE id = ?1")?
            .execute(params![id, attributes.to_string()])?;
    }
    if let Some(opted_out) = patch.marketing_opt_out {
        let change = OptOutChange {
            opted_out,
            source: "api".into(),
            at: now,
        };
        resolve::set_opt_out(c, id, &change)?;
    }
    c.prepare_cached("UPDATE contacts SET updated_at = MAX(updated_at, ?2) WHERE id = ?1")?
        .execute(params![id, now])?;
    emit::contact(c, tenant, id, Some(&contact), now)?;
    rows::contact_by_id(c, tenant, id)
}
