//! Events: what happened in a tenant's conversations, as its webhook endpoints receive it.

use openbsp_store::{Event, EventFilter};

use super::{Core, CoreError, CoreResult};

/// A tenant's native events, newest first. Every type pattern is checked first.
pub async fn list(core: &Core, tenant_id: &str, filter: &EventFilter) -> CoreResult<Vec<Event>> {
    for t in &filter.types {
        openbsp_domain::events::validate_pattern(t).map_err(CoreError::invalid)?;
    }
    Ok(core.store.list_events(tenant_id, filter).await?)
}

/// A tenant's native event.
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Event> {
    core.store
        .get_event(tenant_id, id)
        .await?
        .filter(|e| e.format == openbsp_store::event_format::NATIVE)
        .ok_or_else(|| CoreError::not_found("event", id))
}
