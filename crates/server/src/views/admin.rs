//! How the installation's objects look to an admin: tenants, API keys (the key itself only
//! when just created), apps and channels (never their secrets). The admin API and the CLI's
//! `--json` print the same.

use openbsp_domain::clock::rfc3339;
use openbsp_store::{ApiKey, App, Channel, Tenant};
use serde_json::{Value, json};

/// A tenant as JSON.
pub fn tenant_json(t: &Tenant) -> Value {
    json!({"id": t.id, "object": "tenant", "name": t.name, "created_at": rfc3339(t.created_at)})
}

/// An API key as JSON; `secret` is included only when it was just created.
pub fn api_key_json(k: &ApiKey, secret: Option<&str>) -> Value {
    let mut v = json!({
        "id": k.id, "object": "api_key", "tenant_id": k.tenant_id, "name": k.name,
        "prefix": k.key_prefix, "admin": k.is_admin, "created_at": rfc3339(k.created_at),
        "revoked_at": k.revoked_at.map(rfc3339),
    });
    if let Some(s) = secret {
        v["key"] = json!(s);
    }
    v
}

/// An app as JSON, without its secrets.
pub fn app_json(a: &App) -> Value {
    json!({
        "id": a.id, "object": "app", "tenant_id": a.tenant_id, "name": a.name,
        "meta_app_id": a.meta_app_id, "created_at": rfc3339(a.created_at),
    })
}

/// A channel as JSON, without its access token.
pub fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id, "object": "channel", "tenant_id": c.tenant_id, "app_id": c.app_id,
        "phone_number_id": c.phone_number_id, "waba_id": c.waba_id,
        "display_phone_number": c.display_phone_number, "graph_base_url": c.graph_base_url,
        "graph_version": c.graph_version, "throughput_mps": c.throughput_mps,
        "messaging_tier": c.messaging_tier,
        "created_at": rfc3339(c.created_at), "updated_at": rfc3339(c.updated_at),
    })
}
