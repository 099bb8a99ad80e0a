//! Webhook endpoints: where a tenant's events go. Each endpoint has a URL (checked against
//! private networks after resolution), the event types it wants (`message.*`,
//! `session.opened`, `*`), its format (`native` events, or Meta's raw envelope re-signed for
//! handlers written for Meta), an optional description, enabled or not, and a signing secret
//! in the Standard Webhooks form (`whsec_…`), handed back when created or rotated and never
//! again; a rotation keeps the previous secret signing for an overlap period. Also the
//! delivery log and replays.

use std::net::SocketAddr;

use openbsp_domain::events;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::netguard::{self, NetworkPolicy};
use openbsp_store::{AttemptFilter, LoggedAttempt, Page, ReplaySelection, WebhookEndpoint};
use openbsp_wire::standard_webhooks::Secret;
use rand::RngCore;
use serde::Deserialize;

use super::{Core, CoreError, CoreResult};

/// Formats an endpoint may ask for.
pub const FORMATS: &[&str] = &["native", "meta", "chakra", "connectly"];

/// The event types a vendor format carries (the others have no shape in that vendor's
/// webhooks); `None` for a format that carries every type.
pub fn carried(format: &str) -> Option<&'static [&'static str]> {
    match format {
        "chakra" => Some(&["message.status"]),
        "connectly" => Some(&["message.received", "message.status"]),
        _ => None,
    }
}

/// The longest verification token kept.
const MAX_VERIFY_TOKEN: usize = 200;
/// The longest URL kept: what browsers and proxies commonly take; an endpoint's URL is stored,
/// listed and sent with every delivery, so a megabyte of it is refused.
pub const MAX_URL: usize = 2048;
/// The most event patterns an endpoint names (there are a few dozen event types).
pub const MAX_EVENT_PATTERNS: usize = 100;
/// The default overlap of a rotation, during which the previous secret still signs.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

/// A fresh signing secret: 32 bytes from the operating system's generator.
fn new_secret() -> Secret {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    Secret::from_bytes(&key)
}

/// Where a URL may be delivered to under `policy`: an `http(s)` URL without credentials,
/// whose host resolves only to addresses the policy allows. Returns those addresses.
pub async fn check_destination(
    url: &str,
    policy: NetworkPolicy,
) -> Result<Vec<SocketAddr>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("url must be http:// or https://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "url must not carry credentials: endpoints verify the signature instead".into(),
        );
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "url has no host".to_string())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| "url has no port".to_string())?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("{host} cannot be resolved: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    for a in &addrs {
        // The kind of address, never the address: what an internal name resolves to is the
        // gateway's network, not the tenant's to learn.
        if let Some(why) = netguard::refusal(a.ip(), policy) {
            return Err(format!(
                "{host} resolves to a non-public address ({why}); endpoints must be reachable on the public internet (an installation may allow private networks with OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS)",
            ));
        }
    }
    Ok(addrs)
}

/// An endpoint's settings, as a creation or a change gives them (absent: unchanged).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// Where events go.
    pub url: Option<String>,
    /// The event types (or patterns) it wants.
    pub events: Option<Vec<String>>,
    /// `native` or `meta`.
    pub format: Option<String>,
    /// Absent: unchanged; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    /// Whether events are delivered.
    pub enabled: Option<bool>,
    /// A token for Pingtochat's verification handshake: when given (or when the URL of an
    /// endpoint that has one changes), the gateway POSTs `{"hub_verify_token",
    /// "hub_challenge"}` to the URL and keeps the endpoint only if the answer is 200 with the
    /// challenge. Absent: unchanged; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    pub verify_token: Option<Option<String>>,
    /// A vendor surface's settings for its format (Connectly's topic and configuration), kept
    /// in the endpoint's options under the format's name. Not part of the native API.
    #[serde(skip)]
    pub vendor: Option<serde_json::Value>,
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

/// Checks the settings that are given.
async fn check_input(core: &Core, i: &EndpointInput) -> CoreResult<()> {
    if let Some(url) = &i.url {
        if url.len() > MAX_URL {
            return Err(CoreError::invalid_field(
                "url",
                format!("url is at most {MAX_URL} bytes"),
            ));
        }
        check_destination(url, core.config.webhook_network)
            .await
            .map_err(|m| CoreError::invalid_field("url", format!("url: {m}")))?;
    }
    if let Some(list) = &i.events {
        if list.is_empty() {
            return Err(CoreError::invalid_field(
                "events",
                "events must name at least one event type (or * for every one)",
            ));
        }
        if list.len() > MAX_EVENT_PATTERNS {
            return Err(CoreError::invalid_field(
                "events",
                format!("events names at most {MAX_EVENT_PATTERNS} types or patterns"),
            ));
        }
        for p in list {
            events::validate_pattern(p)
                .map_err(|m| CoreError::invalid_field("events", format!("events: {m}")))?;
        }
    }
    if let Some(f) = &i.format
        && !FORMATS.contains(&f.as_str())
    {
        return Err(CoreError::invalid_field(
            "format",
            format!("format must be one of {}, not \"{f}\"", FORMATS.join(", ")),
        ));
    }
    if let Some(Some(t)) = &i.verify_token
        && (t.is_empty() || t.chars().count() > MAX_VERIFY_TOKEN)
    {
        return Err(CoreError::invalid_field(
            "verify_token",
            format!("verify_token is 1 to {MAX_VERIFY_TOKEN} characters"),
        ));
    }
    if let Some(Some(d)) = &i.description
        && d.chars().count() > 500
    {
        return Err(CoreError::invalid_field(
            "description",
            "description is at most 500 characters",
        ));
    }
    Ok(())
}

/// Creates an endpoint (`url` and `events` required); returns it with its new secret, to be
/// shown this once.
pub async fn create(
    core: &Core,
    tenant_id: &str,
    i: EndpointInput,
) -> CoreResult<(WebhookEndpoint, Secret)> {
    let url = i
        .url
        .clone()
        .ok_or_else(|| CoreError::invalid_field("url", "url is required"))?;
    let events = i.events.clone().ok_or_else(|| {
        CoreError::invalid_field("events", "events is required, e.g. [\"message.*\"]")
    })?;
    check_input(core, &i).await?;
    let cap = core.config.delivery.max_endpoints_per_tenant;
    let page = Page {
        after: None,
        limit: cap,
    };
    if core
        .store
        .list_webhook_endpoints(tenant_id, &page)
        .await?
        .len()
        >= cap as usize
    {
        return Err(CoreError::conflict(
            "endpoint_limit",
            format!(
                "a tenant has at most {cap} webhook endpoints (each costs the gateway a delivery \
             worker): delete one, or subscribe an existing one to more events"
            ),
        ));
    }
    let now = core.now();
    let secret = new_secret();
    let e = WebhookEndpoint {
        id: new_id_at(prefix::WEBHOOK_ENDPOINT, now),
        tenant_id: tenant_id.to_string(),
        url,
        description: i.description.flatten(),
        events,
        format: i.format.unwrap_or_else(|| "native".into()),
        enabled: i.enabled.unwrap_or(true),
        disabled_reason: None,
        secret_enc: core.config.master_key.encrypt(&secret.expose()),
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failing_since: None,
        cursor: None,
        created_at: now,
        updated_at: now,
        options: None,
    };
    check_carried(&e.format, &e.events)?;
    let mut e = e;
    set_options(core, &mut e, i.verify_token, i.vendor);
    if let Some(token) = verify_token(core, &e)? {
        handshake(core, &e.url, &token).await?;
    }
    let e = core.store.create_webhook_endpoint(&e).await?;
    core.delivery_wake.notify_one();
    Ok((e, secret))
}

/// A tenant's endpoints, newest first.
pub async fn list(core: &Core, tenant_id: &str, page: &Page) -> CoreResult<Vec<WebhookEndpoint>> {
    Ok(core.store.list_webhook_endpoints(tenant_id, page).await?)
}

/// A tenant's endpoint.
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<WebhookEndpoint> {
    core.store
        .get_webhook_endpoint(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("webhook endpoint", id))
}

/// Changes an endpoint. Enabling one clears why it was disabled and its run of failures.
pub async fn update(
    core: &Core,
    tenant_id: &str,
    id: &str,
    i: EndpointInput,
) -> CoreResult<WebhookEndpoint> {
    check_input(core, &i).await?;
    let mut e = get(core, tenant_id, id).await?;
    let moved = i.url.as_ref().is_some_and(|u| *u != e.url);
    let new_token = matches!(i.verify_token, Some(Some(_)));
    if let Some(u) = i.url {
        e.url = u;
    }
    if let Some(ev) = i.events {
        e.events = ev;
    }
    if let Some(f) = i.format {
        e.format = f;
    }
    if let Some(d) = i.description {
        e.description = d;
    }
    if let Some(en) = i.enabled {
        if en && !e.enabled {
            e.disabled_reason = None;
            e.failing_since = None;
        }
        if !en && e.enabled {
            e.disabled_reason = Some("disabled by the tenant".into());
        }
        e.enabled = en;
    }
    check_carried(&e.format, &e.events)?;
    set_options(core, &mut e, i.verify_token, i.vendor);
    if (moved || new_token)
        && let Some(token) = verify_token(core, &e)?
    {
        handshake(core, &e.url, &token).await?;
    }
    e.updated_at = core.now();
    let e = core
        .store
        .update_webhook_endpoint(&e)
        .await?
        .ok_or_else(|| CoreError::not_found("webhook endpoint", id))?;
    core.delivery_wake.notify_one();
    Ok(e)
}

/// Refuses event patterns that a vendor format cannot carry: each must match at least one
/// type the format has a shape for (`connectly` carries `message.received` and
/// `message.status`; `chakra`, `message.status`).
fn check_carried(format: &str, events: &[String]) -> CoreResult<()> {
    let Some(kinds) = carried(format) else {
        return Ok(());
    };
    for p in events {
        if !kinds.iter().any(|k| events::matches(p, k)) {
            return Err(CoreError::invalid_field(
                "events",
                format!(
                    "the {format} format carries only {}: \"{p}\" would deliver nothing",
                    kinds.join(" and ")
                ),
            ));
        }
    }
    Ok(())
}

/// Applies a change of the verification token (`Some(None)`: removed) and of a vendor's
/// settings to the endpoint's options.
fn set_options(
    core: &Core,
    e: &mut WebhookEndpoint,
    token: Option<Option<String>>,
    vendor: Option<serde_json::Value>,
) {
    if token.is_none() && vendor.is_none() {
        return;
    }
    let mut o = match e.options.take() {
        Some(serde_json::Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    match token {
        Some(Some(t)) => {
            o.insert(
                "verify_token_enc".into(),
                core.config.master_key.encrypt(&t).into(),
            );
        }
        Some(None) => {
            o.remove("verify_token_enc");
        }
        None => {}
    }
    if let Some(v) = vendor {
        o.insert(e.format.clone(), v);
    }
    e.options = (!o.is_empty()).then_some(serde_json::Value::Object(o));
}

/// The endpoint's verification token, if it has one.
fn verify_token(core: &Core, e: &WebhookEndpoint) -> CoreResult<Option<String>> {
    let Some(enc) = e
        .options
        .as_ref()
        .and_then(|o| o.get("verify_token_enc"))
        .and_then(|t| t.as_str())
    else {
        return Ok(None);
    };
    core.config
        .master_key
        .decrypt(enc)
        .map(Some)
        .map_err(CoreError::internal)
}

/// The largest answer to a handshake read.
const HANDSHAKE_ANSWER_BYTES: usize = 4096;

/// Pingtochat's verification handshake (`vendors.md` §2.3): a JSON POST of
/// `{"hub_verify_token", "hub_challenge"}` to `url`, which must answer 200 with the challenge
/// (as the body, a JSON string, or a JSON object's `hub_challenge`). Through the guarded
/// client: the address is checked again at connect time, and no redirect is followed.
async fn handshake(core: &Core, url: &str, token: &str) -> CoreResult<()> {
    check_destination(url, core.config.webhook_network)
        .await
        .map_err(|m| CoreError::invalid_field("url", format!("url: {m}")))?;
    let refused = |m: String| {
        CoreError::invalid_field(
            "verify_token",
            format!("the url did not pass the verification handshake: {m}"),
        )
    };
    let timeout = core
        .config
        .delivery
        .timeout
        .min(std::time::Duration::from_secs(10));
    let client = crate::outbound::build(core.config.webhook_network, timeout)
        .map_err(CoreError::internal)?;
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let challenge = hex::encode(raw);
    let mut resp = client
        .post(url)
        .json(&serde_json::json!({ "hub_verify_token": token, "hub_challenge": challenge }))
        .send()
        .await
        .map_err(|e| {
            refused(if e.is_timeout() {
                "it did not answer in time".into()
            } else {
                "it could not be reached".into()
            })
        })?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while body.len() < HANDSHAKE_ANSWER_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c),
            _ => break,
        }
    }
    if status != 200 {
        return Err(refused(format!("it answered {status}, not 200")));
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    let echoed = text == challenge
        || match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::String(s)) => s == challenge,
            Ok(v) => v.get("hub_challenge").and_then(|c| c.as_str()) == Some(&challenge),
            Err(_) => false,
        };
    if !echoed {
        return Err(refused("its answer is not the challenge".into()));
    }
    Ok(())
}

/// Deletes an endpoint, its delivery log and its queue.
pub async fn delete(core: &Core, tenant_id: &str, id: &str) -> CoreResult<()> {
    if core.store.delete_webhook_endpoint(tenant_id, id).await? {
        core.delivery_wake.notify_one();
        Ok(())
    } else {
        Err(CoreError::not_found("webhook endpoint", id))
    }
}

/// A new secret for an endpoint (returned, to be shown this once); the previous one keeps
/// signing beside it for `overlap_seconds` (default a day, at most 7 days, 0 to retire it at
/// once).
pub async fn rotate(
    core: &Core,
    tenant_id: &str,
    id: &str,
    overlap_seconds: Option<i64>,
) -> CoreResult<(WebhookEndpoint, Secret)> {
    let overlap = overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(CoreError::invalid_field(
            "overlap_seconds",
            format!("overlap_seconds must be from 0 to {MAX_OVERLAP_SECONDS}"),
        ));
    }
    let mut e = get(core, tenant_id, id).await?;
    let now = core.now();
    let secret = new_secret();
    e.previous_secret_enc = (overlap > 0).then(|| e.secret_enc.clone());
    e.previous_secret_expires_at = (overlap > 0).then_some(now + overlap * 1000);
    e.secret_enc = core.config.master_key.encrypt(&secret.expose());
    e.updated_at = now;
    let e = core
        .store
        .update_webhook_endpoint(&e)
        .await?
        .ok_or_else(|| CoreError::not_found("webhook endpoint", id))?;
    core.delivery_wake.notify_one();
    Ok((e, secret))
}

/// An endpoint's delivery attempts, newest first.
pub async fn deliveries(
    core: &Core,
    tenant_id: &str,
    id: &str,
    filter: &AttemptFilter,
) -> CoreResult<Vec<LoggedAttempt>> {
    get(core, tenant_id, id).await?;
    Ok(core
        .store
        .list_delivery_attempts(tenant_id, id, filter)
        .await?)
}

/// Queues events for the endpoint again: one event (whatever became of it), or every event
/// of a period whose delivery failed. Returns the endpoint and how many were queued.
pub async fn replay(
    core: &Core,
    tenant_id: &str,
    id: &str,
    selection: &ReplaySelection,
) -> CoreResult<(WebhookEndpoint, u64)> {
    let e = get(core, tenant_id, id).await?;
    if let ReplaySelection::Failed { since, until } = selection
        && until <= since
    {
        return Err(CoreError::invalid_field(
            "until",
            "until must be after since",
        ));
    }
    let queued = core
        .store
        .replay_deliveries(tenant_id, id, selection, core.now())
        .await?;
    if let ReplaySelection::Event(ev) = selection
        && queued == 0
    {
        return Err(CoreError::not_found("event", ev));
    }
    core.delivery_wake.notify_one();
    Ok((e, queued))
}

/// The secrets that sign a delivery to `e` at `now`: the current one, and the previous one
/// while a rotation overlaps.
pub fn signing_secrets(core: &Core, e: &WebhookEndpoint, now: i64) -> Result<Vec<Secret>, String> {
    let mut out = Vec::with_capacity(2);
    let current = core
        .config
        .master_key
        .decrypt(&e.secret_enc)
        .map_err(|e| e.to_string())?;
    out.push(Secret::parse(&current).map_err(|e| e.to_string())?);
    if let (Some(prev), Some(until)) = (&e.previous_secret_enc, e.previous_secret_expires_at)
        && until > now
    {
        let prev = core
            .config
            .master_key
            .decrypt(prev)
            .map_err(|e| e.to_string())?;
        out.push(Secret::parse(&prev).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn destinations_are_checked_after_resolution() {
        let strict = NetworkPolicy::default();
        for (url, why) in [
            ("http://127.0.0.1:8080/hooks", "loopback"),
            ("http://localhost:8080/hooks", "loopback"),
            ("http://[::1]/hooks", "loopback"),
            ("http://10.1.2.3/hooks", "private"),
            ("https://169.254.169.254/latest", "link-local"),
            ("http://[fd00::1]/hooks", "unique-local"),
            ("http://0.0.0.0/hooks", "unspecified"),
            ("http://[64:ff9b::a00:5]/hooks", "NAT64"),
            ("http://[::10.0.0.5]/hooks", "IPv4-compatible"),
            ("http://[2002:a00:5::1]/hooks", "6to4"),
            ("http://[2001:0:4136:e378::1]/hooks", "Teredo"),
            ("http://[fec0::1]/hooks", "site-local"),
        ] {
            let e = check_destination(url, strict).await.unwrap_err();
            assert!(
                e.contains(&format!("non-public address ({why})")),
                "{url}: {e}"
            );
        }
        // A name's refusal says what kind of address it resolves to, not which.
        let e = check_destination("http://localhost:8080/hooks", strict)
            .await
            .unwrap_err();
        assert!(!e.contains("127.0.0.1") && !e.contains("::1"), "{e}");
        // Address literals need no resolver; public ones go.
        let ok = check_destination("https://93.184.216.34/hooks", strict)
            .await
            .unwrap();
        assert_eq!(ok[0].port(), 443);
        let sandbox = NetworkPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        check_destination("http://127.0.0.1:8080/hooks", sandbox)
            .await
            .unwrap();
        assert!(
            check_destination("http://10.1.2.3/", sandbox)
                .await
                .is_err()
        );
        let open = NetworkPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        check_destination("http://10.1.2.3/", open).await.unwrap();
        for bad in ["ftp://93.184.216.34/", "http://u:p@93.184.216.34/", "nope"] {
            assert!(check_destination(bad, strict).await.is_err(), "{bad}");
        }
    }
}
