//! Creating tenants, API keys, apps and channels: shared by the CLI's admin commands and the
//! admin API, so both validate the same way. Secrets are encrypted here, before storage, and
//! never appear in the JSON these functions' callers print.

use openbsp_domain::crypto::{MasterKey, hash_secret, new_api_key};
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{ApiKey, App, Channel, Store, StoreError, Tenant};
use serde::Deserialize;

use super::CoreError;

/// Meta's Graph API.
pub const META_GRAPH_URL: &str = "https://graph.facebook.com";
/// Graph API version used for sends unless a channel says otherwise.
pub const DEFAULT_GRAPH_VERSION: &str = "v23.0";
/// Meta's default throughput per number.
pub const DEFAULT_THROUGHPUT_MPS: u32 = 80;

type Result<T> = std::result::Result<T, CoreError>;

/// The longest label kept (a tenant's, an app's, an API key's name).
pub const MAX_NAME: usize = 200;
/// The longest secret, token, id or URL kept (Meta's access tokens run to a few hundred
/// characters).
pub const MAX_VALUE: usize = 4096;

fn required(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(format!("{field} is required")));
    }
    at_most(field, value, MAX_VALUE)
}

/// Refuses a `value` of `field` longer than `max` characters: what an admin gives is stored
/// whole, listed and printed, so a megabyte of it is refused rather than kept.
pub(crate) fn at_most(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(CoreError::invalid_field(
            field,
            format!("{field} is at most {max} characters"),
        ));
    }
    Ok(())
}

/// Creates a tenant.
pub async fn create_tenant(store: &dyn Store, name: &str, now: i64) -> Result<Tenant> {
    required("name", name)?;
    at_most("name", name, MAX_NAME)?;
    let t = Tenant {
        id: new_id_at(prefix::TENANT, now),
        name: name.trim().to_string(),
        created_at: now,
    };
    store.create_tenant(&t).await?;
    Ok(t)
}

/// Creates an API key for a tenant (or an admin key); returns it with the key in clear, which
/// is shown this once and never stored.
pub async fn create_api_key(
    store: &dyn Store,
    tenant_id: Option<&str>,
    name: &str,
    admin: bool,
    now: i64,
) -> Result<(ApiKey, String)> {
    if let Some(t) = tenant_id
        && store.get_tenant(t).await?.is_none()
    {
        return Err(CoreError::not_found("tenant", t));
    }
    if tenant_id.is_none() && !admin {
        return Err(CoreError::invalid(
            "an API key needs a tenant (--tenant), unless it is an admin key (--admin)",
        ));
    }
    at_most("name", name, MAX_NAME)?;
    let secret = new_api_key();
    let key = ApiKey {
        id: new_id_at(prefix::API_KEY, now),
        tenant_id: tenant_id.map(str::to_string),
        name: if name.trim().is_empty() {
            "default".into()
        } else {
            name.trim().into()
        },
        key_hash: hash_secret(&secret),
        key_prefix: secret[..12].to_string(),
        is_admin: admin,
        created_at: now,
        revoked_at: None,
    };
    store.create_api_key(&key).await?;
    Ok((key, secret))
}

/// Input for [`add_app`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A Meta app to add: its owner, Meta's app secret (it signs Meta's webhooks) and the verify token of Meta's handshake.",
    example = json!({"tenant_id": "ten_01k2f6z8q4m3v6w9x2y5a7b3c4", "name": "main", "app_secret": "0123456789abcdef0123456789abcdef", "verify_token": "a-long-random-token", "meta_app_id": "700800900"})
)]
pub struct AppInput {
    /// Owner.
    pub tenant_id: String,
    /// Label.
    #[serde(default)]
    pub name: String,
    /// Meta's app secret (signs webhooks).
    pub app_secret: String,
    /// The webhook verify token.
    pub verify_token: String,
    /// Meta's app id.
    #[serde(default)]
    pub meta_app_id: Option<String>,
}

/// Stores a Meta app, its secret and verify token encrypted.
pub async fn add_app(store: &dyn Store, key: &MasterKey, input: AppInput, now: i64) -> Result<App> {
    required("app_secret", &input.app_secret)?;
    required("verify_token", &input.verify_token)?;
    at_most("name", &input.name, MAX_NAME)?;
    if let Some(m) = &input.meta_app_id {
        at_most("meta_app_id", m, MAX_VALUE)?;
    }
    if store.get_tenant(&input.tenant_id).await?.is_none() {
        return Err(CoreError::not_found("tenant", &input.tenant_id));
    }
    let app = App {
        id: new_id_at(prefix::APP, now),
        tenant_id: input.tenant_id,
        name: if input.name.trim().is_empty() {
            "default".into()
        } else {
            input.name
        },
        meta_app_id: input.meta_app_id,
        app_secret_enc: key.encrypt(&input.app_secret),
        verify_token_enc: key.encrypt(&input.verify_token),
        verify_token_hash: hash_secret(&input.verify_token),
        created_at: now,
        previous_secret_enc: None,
        previous_secret_expires_at: None,
    };
    store.create_app(&app).await?;
    Ok(app)
}

/// Input for [`add_channel`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A channel (a business phone number) to add: its owner, the app whose secret signs its webhooks, Meta's ids and its access token.",
    example = json!({"tenant_id": "ten_01k2f6z8q4m3v6w9x2y5a7b3c4", "app_id": "app_01k2f6z8q4m3v6w9x2y5a7b3c4", "phone_number_id": "100200300", "waba_id": "900100", "display_phone_number": "15550001111", "access_token": "EAAG…"})
)]
pub struct ChannelInput {
    /// Owner.
    pub tenant_id: String,
    /// The app whose secret signs this number's webhooks.
    pub app_id: String,
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// WABA id.
    pub waba_id: String,
    /// Display number.
    pub display_phone_number: String,
    /// Graph API access token.
    pub access_token: String,
    /// Graph base URL (default Meta's).
    #[serde(default)]
    pub graph_base_url: Option<String>,
    /// Graph version for sends (default `v23.0`).
    #[serde(default)]
    pub graph_version: Option<String>,
    /// Messages per second (default 80).
    #[serde(default)]
    pub throughput_mps: Option<u32>,
    /// Messaging-limit tier of its business portfolio (`TIER_250` … `TIER_UNLIMITED`), until
    /// Meta says (its sender reads it when it starts).
    #[serde(default)]
    pub messaging_tier: Option<String>,
    /// Its business portfolio, when not known by its WABA alone (a portfolio's numbers share
    /// its messaging limit).
    #[serde(default)]
    pub business_id: Option<String>,
}

/// What a channel update changes (`PATCH /v1/channels/{id}`, `openbsp channel update`); each
/// field left out stays.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"access_token": "EAAG…", "throughput_mps": 80}))]
pub struct ChannelUpdate {
    /// A new Graph API access token (a paused channel resumes with it).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Messages per second.
    #[serde(default)]
    pub throughput_mps: Option<u32>,
    /// Graph base URL.
    #[serde(default)]
    pub graph_base_url: Option<String>,
    /// The messaging-limit tier of the channel's business portfolio (every channel of the
    /// portfolio takes it).
    #[serde(default)]
    pub messaging_tier: Option<String>,
    /// The business portfolio (`""`: none, the WABA stands for it).
    #[serde(default)]
    pub business_id: Option<String>,
}

/// Changes a channel's access token, throughput or Graph URL. A new access token resumes a
/// channel paused because Meta rejected the old one (`channel.resumed`). Returns the channel
/// as it now is.
pub async fn update_channel(
    store: &dyn Store,
    key: &MasterKey,
    id: &str,
    input: ChannelUpdate,
    now: i64,
) -> Result<Channel> {
    let mut ch = get_channel(store, id).await?;
    if let Some(t) = &input.access_token {
        required("access_token", t)?;
        ch.access_token_enc = key.encrypt(t);
    }
    if let Some(mps) = input.throughput_mps {
        if !(1..=10_000).contains(&mps) {
            return Err(CoreError::invalid(
                "throughput_mps must be between 1 and 10000",
            ));
        }
        ch.throughput_mps = mps;
    }
    if let Some(u) = &input.graph_base_url {
        ch.graph_base_url = parse_base_url(u)?;
    }
    if let Some(t) = &input.messaging_tier {
        check_tier(t)?;
    }
    if let Some(b) = &input.business_id {
        at_most("business_id", b, MAX_VALUE)?;
        ch.business_id = Some(b.trim().to_string()).filter(|b| !b.is_empty());
    }
    ch.updated_at = now;
    store.update_channel(&ch).await?;
    if let Some(t) = &input.messaging_tier {
        store
            .set_portfolio_tier(&ch.tenant_id, ch.portfolio(), Some(t), now)
            .await?;
        ch.messaging_tier = Some(t.clone());
    }
    if input.access_token.is_some() && ch.paused_at.is_some() {
        let event = openbsp_store::events::channel_pause(&ch, None, now);
        store.set_channel_pause(&ch.id, None, &event).await?;
        tracing::info!(channel.id = %ch.id, "a new access token: the channel sends again");
        ch.paused_at = None;
        ch.pause_reason = None;
    }
    Ok(ch)
}

/// Checks a messaging-limit tier: one Meta names.
fn check_tier(tier: &str) -> Result<()> {
    if openbsp_domain::limits::is_tier(tier) {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "messaging_tier must be one of TIER_50, TIER_250, TIER_1K, TIER_2K, TIER_10K, TIER_100K, TIER_UNLIMITED (got {tier:?})"
        )))
    }
}

/// Checks a Graph base URL: http(s), no query.
pub fn parse_base_url(s: &str) -> Result<String> {
    at_most("graph_base_url", s, MAX_VALUE)?;
    let u = url::Url::parse(s)
        .map_err(|e| CoreError::invalid(format!("graph_base_url is not a URL: {e}")))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(CoreError::invalid("graph_base_url must be http or https"));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// Checks a Graph version: `v{major}.{minor}`.
pub fn is_graph_version(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        })
}

/// A tenant set up to send in one call ([`provision_sender`]).
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The tenant.
    pub tenant: Tenant,
    /// Its API key (the secret, shown once).
    pub api_key: String,
    /// Its Meta app.
    pub app: App,
    /// Its number.
    pub channel: Channel,
}

/// A tenant named `tenant_name` with an API key (`key_name`), its Meta app and one number:
/// what the sandbox, every test gateway and the fuzz harness set up, each checked as
/// [`create_tenant`], [`add_app`] and [`add_channel`] check theirs. The owner fields of `app`
/// and `channel` (`tenant_id`, `app_id`) are filled in here, whatever they held.
pub async fn provision_sender(
    store: &dyn Store,
    key: &MasterKey,
    (tenant_name, key_name): (&str, &str),
    mut app: AppInput,
    mut channel: ChannelInput,
    now: i64,
) -> Result<Provisioned> {
    let tenant = create_tenant(store, tenant_name, now).await?;
    let (_, api_key) = create_api_key(store, Some(&tenant.id), key_name, false, now).await?;
    app.tenant_id = tenant.id.clone();
    let app = add_app(store, key, app, now).await?;
    channel.tenant_id = tenant.id.clone();
    channel.app_id = app.id.clone();
    let channel = add_channel(store, key, channel, now).await?;
    Ok(Provisioned {
        tenant,
        api_key,
        app,
        channel,
    })
}

/// Stores a channel (a business phone number), its access token encrypted.
pub async fn add_channel(
    store: &dyn Store,
    key: &MasterKey,
    input: ChannelInput,
    now: i64,
) -> Result<Channel> {
    required("phone_number_id", &input.phone_number_id)?;
    required("waba_id", &input.waba_id)?;
    required("access_token", &input.access_token)?;
    at_most(
        "display_phone_number",
        &input.display_phone_number,
        MAX_VALUE,
    )?;
    if let Some(b) = &input.business_id {
        at_most("business_id", b, MAX_VALUE)?;
    }
    if !input.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(CoreError::invalid("phone_number_id must be digits"));
    }
    let display: String = input
        .display_phone_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if display.len() < 7 {
        return Err(CoreError::invalid(
            "display_phone_number must be a phone number",
        ));
    }
    let base = parse_base_url(input.graph_base_url.as_deref().unwrap_or(META_GRAPH_URL))?;
    let version = input
        .graph_version
        .unwrap_or_else(|| DEFAULT_GRAPH_VERSION.into());
    if !is_graph_version(&version) {
        return Err(CoreError::invalid(format!(
            "graph_version must look like v23.0, got {version}"
        )));
    }
    let mps = input.throughput_mps.unwrap_or(DEFAULT_THROUGHPUT_MPS);
    if !(1..=10_000).contains(&mps) {
        return Err(CoreError::invalid(
            "throughput_mps must be between 1 and 10000",
        ));
    }
    if let Some(t) = &input.messaging_tier {
        check_tier(t)?;
    }
    let app = store
        .get_app(&input.app_id)
        .await?
        .filter(|a| a.tenant_id == input.tenant_id)
        .ok_or_else(|| CoreError::not_found("app", &input.app_id))?;
    // A WhatsApp Business Account belongs to one tenant: Meta's account-level webhooks
    // (templates, quality, capabilities) are routed by it, and must reach one owner.
    if let Some(owner) = store.find_channel_by_waba(&input.waba_id).await?
        && owner.tenant_id != input.tenant_id
    {
        return Err(CoreError::conflict(
            "waba_taken",
            format!(
                "WhatsApp Business Account {} already belongs to another tenant: its account \
                 webhooks (templates, quality) could not be routed to both",
                input.waba_id
            ),
        ));
    }
    let ch = Channel {
        id: new_id_at(prefix::CHANNEL, now),
        tenant_id: input.tenant_id,
        app_id: app.id,
        phone_number_id: input.phone_number_id,
        waba_id: input.waba_id,
        display_phone_number: display,
        access_token_enc: key.encrypt(&input.access_token),
        graph_base_url: base,
        graph_version: version,
        throughput_mps: mps,
        messaging_tier: input.messaging_tier,
        created_at: now,
        updated_at: now,
        paused_at: None,
        pause_reason: None,
        business_id: input.business_id.filter(|b| !b.trim().is_empty()),
    };
    match store.create_channel(&ch).await {
        Ok(()) => Ok(ch),
        Err(StoreError::Conflict(_)) => Err(CoreError::conflict(
            "conflict",
            format!(
                "phone_number_id {} is already a channel",
                ch.phone_number_id
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A tenant.
pub async fn get_tenant(store: &dyn Store, id: &str) -> Result<Tenant> {
    store
        .get_tenant(id)
        .await?
        .ok_or_else(|| CoreError::not_found("tenant", id))
}

/// A channel, by its `chn_…` id.
pub async fn get_channel(store: &dyn Store, id: &str) -> Result<Channel> {
    store
        .get_channel(id)
        .await?
        .ok_or_else(|| CoreError::not_found("channel", id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_versions() {
        assert!(is_graph_version("v23.0"));
        assert!(is_graph_version("v9.12"));
        assert!(!is_graph_version("23.0"));
        assert!(!is_graph_version("v23"));
        assert!(!is_graph_version("vx.1"));
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:9/").unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("nope").is_err());
    }
}
