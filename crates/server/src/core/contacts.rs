//! Contacts: finding one by any of its identifiers, its windows on each channel, listing and
//! changing them.

use openbsp_store::{Contact, ContactFilter, ContactKey, ContactPatch, ContactWindow, Page};

use openbsp_domain::ids::ContactId;
use openbsp_domain::refs::ContactRef;

use super::{Core, CoreError, CoreResult};

/// A contact with its windows, each with the phone number id of its channel.
#[derive(Debug, Clone)]
pub struct WithWindows {
    /// The contact.
    pub contact: Contact,
    /// Its windows, one per channel it wrote to, with the channel's phone number id.
    pub windows: Vec<(ContactWindow, Option<String>)>,
}

/// A contact by any of its identifiers, within the tenant.
pub async fn find(core: &Core, tenant_id: &str, r: &ContactRef) -> CoreResult<Option<Contact>> {
    Ok(match r {
        ContactRef::Id(id) => core.store.get_contact(tenant_id, id).await?,
        ContactRef::Bsuid(u) => {
            core.store
                .find_contact(tenant_id, &ContactKey::UserId(u.to_string()))
                .await?
        }
        ContactRef::WaId(w) => {
            core.store
                .find_contact(tenant_id, &ContactKey::WaId(w.to_string()))
                .await?
        }
    })
}

/// A contact as a client names it (`con_…` id, `wa_id` with or without `+`, or BSUID), or
/// [`CoreError::NotFound`].
pub async fn require(core: &Core, tenant_id: &str, given: &str) -> CoreResult<Contact> {
    let found = match ContactRef::parse(given) {
        Some(r) => find(core, tenant_id, &r).await?,
        None => None,
    };
    found.ok_or_else(|| CoreError::not_found("contact", given))
}

/// A contact the gateway stored the id of (a message's, a session's).
pub async fn stored(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Contact> {
    find(core, tenant_id, &ContactRef::Id(ContactId::from_stored(id)))
        .await?
        .ok_or_else(|| CoreError::not_found("contact", id))
}

/// The contact's windows.
pub async fn with_windows(core: &Core, c: Contact) -> CoreResult<WithWindows> {
    let mut windows = Vec::new();
    for w in core.store.contact_windows(&c.tenant_id, &c.id).await? {
        let pnid = core
            .stored_channel(&w.channel_id)
            .await?
            .map(|ch| ch.phone_number_id);
        windows.push((w, pnid));
    }
    Ok(WithWindows {
        contact: c,
        windows,
    })
}

/// A contact by any identifier, with its windows.
pub async fn get(core: &Core, tenant_id: &str, given: &str) -> CoreResult<WithWindows> {
    let c = require(core, tenant_id, given).await?;
    with_windows(core, c).await
}

/// A tenant's contacts, newest first.
pub async fn list(
    core: &Core,
    tenant_id: &str,
    filter: &ContactFilter,
    page: &Page,
) -> CoreResult<Vec<Contact>> {
    Ok(core.store.list_contacts(tenant_id, filter, page).await?)
}

/// Changes a contact's name, attributes or marketing opt-out.
pub async fn update(
    core: &Core,
    tenant_id: &str,
    id: &str,
    patch: &ContactPatch,
) -> CoreResult<WithWindows> {
    let c = require(core, tenant_id, id).await?;
    let updated = core
        .store
        .update_contact(tenant_id, &c.id, patch, core.now())
        .await?
        .ok_or_else(|| CoreError::not_found("contact", id))?;
    with_windows(core, updated).await
}
