//! Tenants' webhook endpoints: where a tenant's events are delivered.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Webhook endpoints: created, read, replaced and deleted by their tenant; listed for
/// delivery.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Stores a new webhook endpoint as given (the caller chose its `whe_…` id and encrypted
    /// its secrets). Returns it; `Conflict` if the id is taken.
    async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint>;

    /// A tenant's webhook endpoint by id; `None` if the tenant has no such endpoint.
    async fn get_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>>;

    /// A tenant's webhook endpoints, enabled or not, oldest first (id ascending): those whose
    /// id is greater than `page.after` (the last id of the previous page), at most
    /// `page.limit`.
    async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<WebhookEndpoint>>;

    /// Replaces the url, description, events, format, enabled flag, disabled reason, secrets,
    /// previous secret's expiry, `failing_since` and `updated_at` of the endpoint with
    /// `endpoint.id` that belongs to `endpoint.tenant_id` (its `created_at` stays). Returns it
    /// as stored now; `None` if that tenant has no such endpoint.
    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<Option<WebhookEndpoint>>;

    /// Deletes a tenant's webhook endpoint; `false` if the tenant had no such endpoint.
    async fn delete_webhook_endpoint(&self, tenant_id: &str, id: &str) -> StoreResult<bool>;

    /// Every tenant's enabled webhook endpoints, id ascending: what a dispatcher delivers to.
    async fn enabled_webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>>;
}
