//! Contacts, and what decides a send to one: its windows and its conversation on a channel.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Contacts of a tenant, their marketing opt-out, their windows and conversations.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// A contact by id, within a tenant.
    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>>;

    /// A contact by `wa_id` or BSUID, within a tenant.
    async fn find_contact(&self, tenant_id: &str, key: &ContactKey)
    -> StoreResult<Option<Contact>>;

    /// Finds the contact with `key` (or with `also`, the user's other identifier), creating it
    /// if neither is known; fills in a missing identifier from `also` when no other contact
    /// has it (if another contact has it, the two are merged: see
    /// [`InboxStore::insert_inbound`](super::InboxStore::insert_inbound)); sets the profile name
    /// when `name` is given. Returns the contact and whether it was created.
    async fn upsert_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        also: Option<&ContactKey>,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<(Contact, bool)>;

    /// Contacts of a tenant, newest first.
    async fn list_contacts(
        &self,
        tenant_id: &str,
        filter: &ContactFilter,
        page: &Page,
    ) -> StoreResult<Vec<Contact>>;

    /// Applies a business's change to a contact; `None` if the tenant has no such contact.
    async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: i64,
    ) -> StoreResult<Option<Contact>>;

    /// Records a user's marketing opt-out or opt-in (Meta's `user_preferences` webhook),
    /// creating the contact if it is not known yet (so the choice is kept).
    async fn set_marketing_opt_out(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        change: &OptOutChange,
    ) -> StoreResult<Contact>;

    /// A contact's windows, one per channel it wrote to.
    async fn contact_windows(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> StoreResult<Vec<ContactWindow>>;

    /// What decides a send to `key` on `channel_id`: the contact, its windows on that
    /// channel, and its open session there.
    async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation>;
}
