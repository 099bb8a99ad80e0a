//! Contacts: finding one by any of its identifiers, its windows on each channel, listing and
//! changing them.

use openbsp_store::{Contact, ContactFilter, ContactKey, ContactPatch, ContactWindow, Page};

use super::{Core, CoreError, CoreResult};

/// A contact with its windows, each with the phone number id of its channel.
#[derive(Debug, Clone)]
pub struct WithWindows {
    /// The contact.
    pub contact: Contact,
    /// Its windows, one per channel it wrote to, with the channel's phone number id.
    pub windows: Vec<(ContactWindow, Option<String>)>,
}

/// A contact by `con_…` id, `wa_id` (digits, `+` allowed) or BSUID, within the tenant.
pub async fn find(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Contact> {
    let found = if id.starts_with("con_") {
        core.store.get_contact(tenant_id, id).await?
    } else if let Ok(u) = openbsp_wire::send::parse_bsuid(id) {
        core.store
            .find_contact(tenant_id, &ContactKey::UserId(u))
            .await?
    } else if let Ok(w) = openbsp_wire::send::normalize_phone(id) {
        core.store
            .find_contact(tenant_id, &ContactKey::WaId(w))
            .await?
    } else {
        None
    };
    found.ok_or_else(|| CoreError::not_found("contact", id))
}

/// The contact's windows.
pub async fn with_windows(core: &Core, c: Contact) -> CoreResult<WithWindows> {
    let mut windows = Vec::new();
    for w in core.store.contact_windows(&c.tenant_id, &c.id).await? {
        let pnid = core
            .channel(&w.channel_id)
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
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<WithWindows> {
    let c = find(core, tenant_id, id).await?;
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
    let c = find(core, tenant_id, id).await?;
    let updated = core
        .store
        .update_contact(tenant_id, &c.id, patch, core.now())
        .await?
        .ok_or_else(|| CoreError::not_found("contact", id))?;
    with_windows(core, updated).await
}
