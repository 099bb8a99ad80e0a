//! [`ContactStore`] on SQLite: contacts read on a reader; created, changed and opted out on the
//! writer, each change with its `contact.updated` event.

use async_trait::async_trait;
use rusqlite::{Connection, params};

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
        self.read(move |c| {
            // Most selective first: the first given claims the index (see `filtered`); a
            // name is a substring, which no index serves.
            let mut q = Filtered::new(
                format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1"),
                &t,
            );
            q.eq(f.wa_id.as_deref(), "wa_id");
            q.eq(f.user_id.as_deref(), "user_id");
            q.null(f.opted_out.map(|out| !out), "marketing_opt_out_at");
            q.text_with(
                f.name.as_deref(),
                "instr(lower(profile_name), lower(?{n})) > 0",
            );
            q.fetch(c, &page, rows::contact)
        })
        .await
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
