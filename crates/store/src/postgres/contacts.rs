//! [`ContactStore`] on PostgreSQL: contacts read on the pool (conversations through the group
//! reads of [`super::reads`]); changed in transactions that lock them first
//! ([`super::resolve`]), each change with its `contact.updated` event.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::conn::DbResult;
use super::filtered::{Arg, Filtered, cursor_time};
use super::tx::{Pg, retrying};
use super::{PgStore, emit, resolve, rows};
use crate::error::StoreResult;
use crate::events as build;
use crate::model::*;
use crate::sql::{CONTACT_COLS, WINDOW_COLS, contact_key};
use crate::store::ContactStore;

static GET_CONTACT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND id = $2")
});
/// A contact of a tenant, locked for a change.
static LOCK_CONTACT_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{} FOR UPDATE", GET_CONTACT_SQL.as_str()));
static CONTACT_WINDOWS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {WINDOW_COLS} FROM contact_windows WHERE tenant_id = $1 AND contact_id = $2
         ORDER BY channel_id"
    )
});

#[async_trait]
impl ContactStore for PgStore {
    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>> {
        let row = sqlx::query(GET_CONTACT_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::contact).transpose()
    }

    async fn find_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<Contact>> {
        let (col, value) = contact_key(key);
        let sql =
            format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND {col} = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::contact).transpose()
    }

    async fn upsert_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        also: Option<&ContactKey>,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<(Contact, bool)> {
        let out = retrying!(self.pool, |c| async {
            let upserted = resolve::upsert_profiled(c, tenant_id, key, also, name, now).await?;
            Ok((upserted, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn list_contacts(
        &self,
        tenant_id: &str,
        f: &ContactFilter,
        page: &Page,
    ) -> StoreResult<Vec<Contact>> {
        let name = f.name.as_ref().map(|n| n.to_ascii_lowercase());
        let keyed = f.wa_id.is_some() || f.user_id.is_some();
        let searched = name
            .as_deref()
            .is_some_and(|n| !keyed && n.chars().count() >= crate::NAME_SEARCH_MIN);
        if !searched {
            let q = list_query(tenant_id, f, name.as_deref());
            let Some(at) = cursor_time(&self.pool, "contacts", &q, tenant_id, page).await? else {
                return Ok(Vec::new());
            };
            let found = q.page(page, at).fetch_all(&self.pool).await.db()?;
            return rows::all(found, rows::contact);
        }
        // A name search: the tenant's newest contacts walked first, then the trigrams below
        // them (see `search_walk`).
        let budget = crate::model::name_walk_budget(page.limit);
        let floor: Option<String> = sqlx::query_scalar(
            "SELECT id FROM contacts WHERE tenant_id = $1 AND id < $2
             ORDER BY id DESC LIMIT 1 OFFSET $3",
        )
        .bind(tenant_id)
        .bind(
            page.after
                .as_deref()
                .unwrap_or(crate::model::ABOVE_EVERY_ID),
        )
        .bind(i64::from(budget - 1))
        .fetch_optional(&self.pool)
        .await
        .db()?;
        let walk = search_walk(tenant_id, f, name.as_deref(), floor.as_deref());
        let found = walk.page(page, None).fetch_all(&self.pool).await.db()?;
        let mut found = rows::all(found, rows::contact)?;
        let Some(floor) = floor else {
            // The walk read every contact below the cursor.
            return Ok(found);
        };
        if let Some(rest) = crate::model::below_the_walk(page, found.len(), floor) {
            let q = list_query(tenant_id, f, name.as_deref());
            let more = q.materialized(&rest).fetch_all(&self.pool).await.db()?;
            found.extend(rows::all(more, rows::contact)?);
        }
        Ok(found)
    }

    async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: i64,
    ) -> StoreResult<Option<Contact>> {
        let out = retrying!(self.pool, |c| async {
            let row = sqlx::query(LOCK_CONTACT_SQL.as_str())
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .pg()?;
            let Some(row) = row else {
                return Ok((None, false));
            };
            let mut contact = rows::contact(&row)?;
            let before = contact.clone();
            if let Some(name) = &patch.profile_name {
                contact.profile_name = Some(name.clone());
            }
            if let Some(attributes) = &patch.attributes {
                crate::contacts::patch_attributes(&mut contact.attributes, attributes);
            }
            match patch.marketing_opt_out {
                Some(true) => {
                    contact.marketing_opt_out_at =
                        Some(contact.marketing_opt_out_at.unwrap_or(now));
                    contact.marketing_opt_out_source = Some("api".to_string());
                }
                Some(false) => {
                    contact.marketing_opt_out_at = None;
                    contact.marketing_opt_out_source = None;
                }
                None => {}
            }
            resolve::save(c, &mut contact, now).await?;
            let changes = build::contact_changes(Some(&before), &contact);
            if !changes.is_empty() {
                let event = build::contact_updated(&contact, &changes, now);
                emit::insert(c, vec![event]).await.pg()?;
            }
            Ok((Some(contact), true))
        })?;
        if out.is_some() {
            self.signal.bump();
        }
        Ok(out)
    }

    async fn set_marketing_opt_out(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        change: &OptOutChange,
    ) -> StoreResult<Contact> {
        let out = retrying!(self.pool, |c| async {
            let mut r =
                resolve::resolve(c, tenant_id, key, None, None, (None, None), change.at).await?;
            r.set_opt_out(change);
            if r.dirty {
                resolve::save(c, &mut r.contact, change.at).await?;
            }
            let before = r.before.0.clone();
            let mut new_events = std::mem::take(&mut r.events);
            new_events.extend(r.contact_event(before.as_ref(), change.at));
            emit::insert(c, new_events).await.pg()?;
            Ok((r.contact, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn contact_windows(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> StoreResult<Vec<ContactWindow>> {
        let found = sqlx::query(CONTACT_WINDOWS_SQL.as_str())
            .bind(tenant_id)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::window)
    }

    async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation> {
        self.reader.conversation(tenant_id, channel_id, key).await
    }
}

/// A LIKE pattern that matches the names holding `term`: its backslashes, `%` and `_`
/// escaped (LIKE's default escape is the backslash), between two `%`.
fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for ch in term.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The query of [`ContactStore::list_contacts`]: only the filters given are conditions; `name`
/// is the filter's name, lowercased.
pub(super) fn list_query<'a>(
    tenant_id: &'a str,
    f: &'a ContactFilter,
    name: Option<&'a str>,
) -> Filtered<'a> {
    let mut q = Filtered::new(
        format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1"),
        tenant_id,
    );
    q.text(f.wa_id.as_deref(), "wa_id =");
    q.text(f.user_id.as_deref(), "user_id =");
    // Case-insensitive for ASCII letters (the column's collation is "C"), as SQLite's
    // lower(). From NAME_SEARCH_MIN characters, a LIKE pattern (`%`, `_` and `\` escaped,
    // so they are plain characters) that `contacts_name_trgm` (pg_trgm, migration 22)
    // serves: what is read is bounded by the names that hold the term's trigrams, not by
    // the tenant's contacts. A shorter term has no trigram: `strpos` on the rows.
    let pattern = name
        .filter(|n| n.chars().count() >= crate::NAME_SEARCH_MIN)
        .map(like_pattern);
    match (name, pattern) {
        (_, Some(p)) => q.cond_with(Arg::Owned(p), |i| format!("lower(profile_name) LIKE ${i}")),
        (Some(n), None) => q.cond_with(Arg::Text(n), |i| {
            format!("strpos(lower(profile_name), ${i}) > 0")
        }),
        (None, None) => {}
    }
    match f.opted_out {
        Some(true) => q.and("marketing_opt_out_at IS NOT NULL"),
        Some(false) => q.and("marketing_opt_out_at IS NULL"),
        None => {}
    }
    q
}

/// The walk of a name search: the tenant's contacts from `floor` (the [`name_walk_budget`]th
/// below the cursor; none when there are fewer) up to the cursor, the name checked on each.
/// PostgreSQL's planner, estimating how soon a page fills from how many names it thinks hold
/// the term, would otherwise walk the tenant's contacts (or every contact, by the primary key)
/// in the page's order as far as the matches go: for a term held by names far down, every
/// contact above them. Bounded so, a term many names hold fills its page here; what the walk
/// left unfilled is looked up below `floor` through `contacts_name_trgm`, whole, then sorted
/// ([`Filtered::materialized`]).
///
/// [`name_walk_budget`]: crate::model::name_walk_budget
pub(super) fn search_walk<'a>(
    tenant_id: &'a str,
    f: &'a ContactFilter,
    name: Option<&'a str>,
    floor: Option<&'a str>,
) -> Filtered<'a> {
    let mut q = list_query(tenant_id, f, name);
    if let Some(floor) = floor {
        q.cond_with(Arg::Text(floor), |n| format!("id >= ${n}"));
    }
    q
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_like_pattern_takes_wildcards_literally() {
        assert_eq!(super::like_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(super::like_pattern("ana"), "%ana%");
    }
}
