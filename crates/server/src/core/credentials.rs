//! Changing credentials after they were made: revoking an API key, rotating an app's secret
//! (the previous one keeps verifying Meta's signatures for an overlap) and replacing its
//! verify token. Shared by the CLI and the admin API, as [`super::admin`] is. Secrets are
//! encrypted here before storage and never returned or logged.
//!
//! These functions only write the store: the admin API then forgets the cached copies here
//! and tells the other replicas ([`super::Core::invalidate`]); the CLI, which has no cache,
//! tells the running replicas with [`tell_replicas`].

use std::sync::Arc;

use openbsp_domain::crypto::{MasterKey, hash_secret};
use openbsp_store::{ApiKey, App, Store, StoreError};
use serde::Deserialize;

use super::CoreError;
use super::admin::{MAX_NAME, MAX_VALUE, at_most};
use super::endpoints::{DEFAULT_OVERLAP_SECONDS, MAX_OVERLAP_SECONDS};
use super::replicas::Notice;

type Result<T> = std::result::Result<T, CoreError>;

/// Revokes API key `id` (tenant or admin key) and returns it as it now is: a key revoked
/// already keeps its first `revoked_at`. The last live admin key is refused
/// (`last_admin_key`): revoking it would leave the admin API to nobody; make another first.
/// A key may revoke itself otherwise.
pub async fn revoke_api_key(store: &dyn Store, id: &str, now: i64) -> Result<ApiKey> {
    match store.revoke_api_key(id, now).await {
        Ok(Some(key)) => {
            tracing::info!(api_key.id = %key.id, "API key revoked");
            Ok(key)
        }
        Ok(None) => Err(CoreError::not_found("api key", id)),
        Err(StoreError::Conflict(_)) => Err(CoreError::conflict(
            "last_admin_key",
            format!(
                "api key {id} is the last live admin key; create another admin key before revoking it"
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Input for [`rotate_app_secret`] (`POST /v1/apps/{id}/rotate-secret`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    description = "An app's new secret, and how long the one it replaces keeps verifying.",
    example = json!({"app_secret": "fedcba9876543210fedcba9876543210", "overlap_seconds": 3600})
)]
pub struct AppSecretRotation {
    /// The app's new secret, as Meta shows it after a reset.
    pub app_secret: String,
    /// How long the secret it replaces keeps verifying Meta's signatures: default a day, at
    /// most 7 days, 0 to retire it at once.
    #[serde(default)]
    pub overlap_seconds: Option<i64>,
}

/// Makes `input.app_secret` the secret that verifies Meta's webhooks for app `id`; the one it
/// replaces still verifies until the overlap ends (a secret kept by an earlier rotation is
/// dropped). Rotating to the current secret again (a retried request) changes nothing, so a
/// retry never retires the previous secret early.
pub async fn rotate_app_secret(
    store: &dyn Store,
    key: &MasterKey,
    id: &str,
    input: AppSecretRotation,
    now: i64,
) -> Result<App> {
    if input.app_secret.trim().is_empty() {
        return Err(CoreError::invalid_field(
            "app_secret",
            "app_secret is required",
        ));
    }
    at_most("app_secret", &input.app_secret, MAX_VALUE)?;
    let overlap = input.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(CoreError::invalid_field(
            "overlap_seconds",
            format!("overlap_seconds must be from 0 to {MAX_OVERLAP_SECONDS}"),
        ));
    }
    let app = get_app(store, id).await?;
    let current = key
        .decrypt(&app.app_secret_enc)
        .map_err(CoreError::internal)?;
    if current == input.app_secret {
        return Ok(app);
    }
    let until = (overlap > 0).then_some(now + overlap * 1000);
    let app = store
        .rotate_app_secret(id, &key.encrypt(&input.app_secret), until)
        .await?
        .ok_or_else(|| CoreError::not_found("app", id))?;
    tracing::info!(app.id = %app.id, overlap_seconds = overlap, "app secret rotated");
    Ok(app)
}

/// What an app update changes (`PATCH /v1/apps/{id}`, `openbsp app update`); each field left
/// out stays. The secret changes by [`rotate_app_secret`] only.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    description = "What an app update changes; each field left out stays. The secret changes by rotation only.",
    example = json!({"verify_token": "a-new-long-random-token"})
)]
pub struct AppUpdate {
    /// Label.
    #[serde(default)]
    pub name: Option<String>,
    /// Meta's app id (`""`: none).
    #[serde(default)]
    pub meta_app_id: Option<String>,
    /// A new webhook verify token: Meta's handshake answers to it alone from now on.
    #[serde(default)]
    pub verify_token: Option<String>,
}

/// Changes an app's label, Meta app id or verify token; returns the app as it now is.
pub async fn update_app(
    store: &dyn Store,
    key: &MasterKey,
    id: &str,
    input: AppUpdate,
) -> Result<App> {
    let mut app = get_app(store, id).await?;
    if let Some(name) = &input.name {
        if name.trim().is_empty() {
            return Err(CoreError::invalid_field("name", "name must not be empty"));
        }
        at_most("name", name, MAX_NAME)?;
        app.name = name.trim().to_string();
    }
    if let Some(m) = &input.meta_app_id {
        at_most("meta_app_id", m, MAX_VALUE)?;
        app.meta_app_id = Some(m.trim().to_string()).filter(|m| !m.is_empty());
    }
    if let Some(t) = &input.verify_token {
        if t.trim().is_empty() {
            return Err(CoreError::invalid_field(
                "verify_token",
                "verify_token must not be empty",
            ));
        }
        at_most("verify_token", t, MAX_VALUE)?;
        app.verify_token_enc = key.encrypt(t);
        app.verify_token_hash = hash_secret(t);
    }
    store.update_app(&app).await?;
    if input.verify_token.is_some() {
        tracing::info!(app.id = %app.id, "app verify token replaced");
    }
    Ok(app)
}

/// An app, by its `app_…` id.
pub async fn get_app(store: &dyn Store, id: &str) -> Result<App> {
    store
        .get_app(id)
        .await?
        .ok_or_else(|| CoreError::not_found("app", id))
}

/// Tells the running replicas that credentials changed, so they forget their cached copies at
/// once (PostgreSQL; on SQLite nothing carries the notice, and a gateway's copies of keys
/// expire within 30 seconds, of apps within 60). For the CLI, which changes the database
/// directly; a failure is only logged, the copies expire anyway.
pub async fn tell_replicas(store: &dyn Store) {
    if let Err(e) = store.publish(&[Notice::Changed.encode()]).await {
        tracing::warn!(error = %e, "could not tell the gateways; their cached copies expire within a minute");
    }
}

/// An app's secrets as the webhook receiver checks a signature: the current one, and the
/// previous one until its overlap ends. Never logged (no `Debug`).
#[derive(Clone)]
pub struct AppSecrets {
    current: Arc<str>,
    previous: Option<(Arc<str>, i64)>,
}

impl AppSecrets {
    /// The secrets of `app` as of `now`, decrypted with `key` (the previous one only while it
    /// still verifies).
    pub fn decrypt(key: &MasterKey, app: &App, now: i64) -> Result<AppSecrets> {
        let current = key
            .decrypt(&app.app_secret_enc)
            .map_err(CoreError::internal)?;
        let previous = match (&app.previous_secret_enc, app.previous_secret_expires_at) {
            (Some(enc), Some(until)) if until > now => Some((
                Arc::from(key.decrypt(enc).map_err(CoreError::internal)?),
                until,
            )),
            _ => None,
        };
        Ok(AppSecrets {
            current: Arc::from(current),
            previous,
        })
    }

    /// Whether these and `other` are one Meta app's (the same current secret): two gateway apps
    /// registered for one Meta app, in two tenants, whose payloads may carry both's numbers.
    pub fn same_app_as(&self, other: &AppSecrets) -> bool {
        openbsp_domain::crypto::same_secret(&self.current, &other.current)
    }

    /// Whether `signature` (`X-Hub-Signature-256`) signs `body` with the current secret, or at
    /// `now` still with the previous one.
    pub fn verifies(&self, body: &[u8], signature: &str, now: i64) -> bool {
        use openbsp_wire::signature::verify;
        verify(self.current.as_bytes(), body, signature)
            || self
                .previous
                .as_ref()
                .is_some_and(|(s, until)| now < *until && verify(s.as_bytes(), body, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_wire::signature::sign;

    fn app(key: &MasterKey, previous: Option<(&str, i64)>) -> App {
        App {
            id: "app_1".into(),
            tenant_id: "ten_1".into(),
            name: "app".into(),
            meta_app_id: None,
            app_secret_enc: key.encrypt("new"),
            verify_token_enc: key.encrypt("vt"),
            verify_token_hash: hash_secret("vt"),
            created_at: 1,
            previous_secret_enc: previous.map(|(s, _)| key.encrypt(s)),
            previous_secret_expires_at: previous.map(|(_, at)| at),
        }
    }

    #[test]
    fn the_previous_secret_verifies_until_its_overlap_ends() {
        let (key, _) = MasterKey::generate();
        let body = b"{}";
        let (old, new) = (sign(b"old", body), sign(b"new", body));
        let s = AppSecrets::decrypt(&key, &app(&key, Some(("old", 1_000))), 500).unwrap();
        assert!(s.verifies(body, &new, 500));
        assert!(s.verifies(body, &old, 999));
        assert!(
            !s.verifies(body, &old, 1_000),
            "a cached copy is checked at now"
        );
        assert!(!s.verifies(body, &sign(b"other", body), 500));
        let later = AppSecrets::decrypt(&key, &app(&key, Some(("old", 1_000))), 1_000).unwrap();
        assert!(later.previous.is_none());
        let none = AppSecrets::decrypt(&key, &app(&key, None), 0).unwrap();
        assert!(!none.verifies(body, &old, 0));
        assert!(none.verifies(body, &new, 0));
    }
}
