//! How the installation's objects look to an admin: tenants, API keys (the key itself only
//! when just created), apps and channels (never their secrets). The admin API answers these
//! views and the CLI's `--json` prints them (through the `*_json` functions).

use openbsp_domain::clock::rfc3339;
use openbsp_store::views::to_value;
use openbsp_store::{ApiKey, App, Channel, Tenant};
use serde::Serialize;
use serde_json::Value;

/// A business using the gateway (`"object": "tenant"`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    /// Creation time.
    pub created_at: String,
    /// The gateway's id (`ten_…`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Always `"tenant"`.
    pub object: &'static str,
}

impl TenantView {
    /// The view of a tenant.
    pub fn new(t: &Tenant) -> TenantView {
        TenantView {
            created_at: rfc3339(t.created_at),
            id: t.id.clone(),
            name: t.name.clone(),
            object: "tenant",
        }
    }
}

/// A tenant as JSON.
pub fn tenant_json(t: &Tenant) -> Value {
    to_value(TenantView::new(t))
}

/// An API key (`"object": "api_key"`): never its hash; the key itself only when just made.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Whether it may use the admin routes.
    pub admin: bool,
    /// Creation time.
    pub created_at: String,
    /// The gateway's id (`key_…`).
    pub id: String,
    /// The key itself (`obsp_…`): only in the answer that created it, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Label.
    pub name: String,
    /// Always `"api_key"`.
    pub object: &'static str,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    /// When it was revoked, `null` while it works.
    pub revoked_at: Option<String>,
    /// The tenant it acts for; `null` for an admin key.
    pub tenant_id: Option<String>,
}

impl ApiKeyView {
    /// The view of a key; `secret` (the key itself) only when it was just created.
    pub fn new(k: &ApiKey, secret: Option<&str>) -> ApiKeyView {
        ApiKeyView {
            admin: k.is_admin,
            created_at: rfc3339(k.created_at),
            id: k.id.clone(),
            key: secret.map(str::to_string),
            name: k.name.clone(),
            object: "api_key",
            prefix: k.key_prefix.clone(),
            revoked_at: k.revoked_at.map(rfc3339),
            tenant_id: k.tenant_id.clone(),
        }
    }
}

/// An API key as JSON; `secret` is included only when it was just created.
pub fn api_key_json(k: &ApiKey, secret: Option<&str>) -> Value {
    to_value(ApiKeyView::new(k, secret))
}

/// A Meta app (`"object": "app"`), without its secrets and verify token.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppView {
    /// Creation time.
    pub created_at: String,
    /// The gateway's id (`app_…`).
    pub id: String,
    /// Meta's app id, when known.
    pub meta_app_id: Option<String>,
    /// Label.
    pub name: String,
    /// Always `"app"`.
    pub object: &'static str,
    /// After a secret rotation: until when the previous secret still verifies Meta's
    /// signatures beside the new one; `null` when no previous secret does.
    pub previous_secret_expires_at: Option<String>,
    /// Owner (`ten_…`).
    pub tenant_id: String,
}

impl AppView {
    /// The view of an app as it stands at `now`.
    pub fn new(a: &App, now: i64) -> AppView {
        AppView {
            created_at: rfc3339(a.created_at),
            id: a.id.clone(),
            meta_app_id: a.meta_app_id.clone(),
            name: a.name.clone(),
            object: "app",
            previous_secret_expires_at: a
                .previous_secret_expires_at
                .filter(|at| *at > now && a.previous_secret_enc.is_some())
                .map(rfc3339),
            tenant_id: a.tenant_id.clone(),
        }
    }
}

/// An app as JSON as it stands at `now`, without its secrets.
pub fn app_json(a: &App, now: i64) -> Value {
    to_value(AppView::new(a, now))
}

/// A WhatsApp business phone number (`"object": "channel"`), without its access token.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    /// The app whose secret signs this number's webhooks (`app_…`).
    pub app_id: String,
    /// Its business portfolio, when set (else its WABA stands for it).
    pub business_id: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Display number, digits.
    pub display_phone_number: String,
    /// Graph API base URL (`https://graph.facebook.com` or the simulator's).
    pub graph_base_url: String,
    /// Graph API version used for sends (`v23.0`).
    pub graph_version: String,
    /// The gateway's id (`chn_…`).
    pub id: String,
    /// Messaging-limit tier (`TIER_250`, …), when known.
    pub messaging_tier: Option<String>,
    /// Always `"channel"`.
    pub object: &'static str,
    /// Why and since when its sender is stopped (Meta rejected its credentials); `null` while
    /// it sends.
    pub paused: Option<PausedView>,
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// `active`, or `paused` until its access token is replaced.
    pub status: &'static str,
    /// Owner (`ten_…`).
    pub tenant_id: String,
    /// Messages per second Meta allows this number.
    pub throughput_mps: u32,
    /// Last change.
    pub updated_at: String,
    /// The WhatsApp Business Account.
    pub waba_id: String,
}

impl ChannelView {
    /// The view of a channel.
    pub fn new(c: &Channel) -> ChannelView {
        ChannelView {
            app_id: c.app_id.clone(),
            business_id: c.business_id.clone(),
            created_at: rfc3339(c.created_at),
            display_phone_number: c.display_phone_number.clone(),
            graph_base_url: c.graph_base_url.clone(),
            graph_version: c.graph_version.clone(),
            id: c.id.clone(),
            messaging_tier: c.messaging_tier.clone(),
            object: "channel",
            paused: c.paused_at.map(|at| PausedView {
                at: rfc3339(at),
                reason: c.pause_reason.clone().unwrap_or(Value::Null),
            }),
            phone_number_id: c.phone_number_id.clone(),
            status: if c.paused_at.is_some() {
                "paused"
            } else {
                "active"
            },
            tenant_id: c.tenant_id.clone(),
            throughput_mps: c.throughput_mps,
            updated_at: rfc3339(c.updated_at),
            waba_id: c.waba_id.clone(),
        }
    }
}

/// A paused channel's pause.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PausedView {
    /// Since when.
    pub at: String,
    /// Meta's error object.
    pub reason: Value,
}

/// A channel as JSON, without its access token.
pub fn channel_json(c: &Channel) -> Value {
    to_value(ChannelView::new(c))
}
