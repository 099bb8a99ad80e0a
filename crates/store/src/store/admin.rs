//! Administration: the installation's tenants, their API keys, Meta apps and channels, and
//! whether the database answers.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;
use serde_json::Value;

/// Tenants, API keys, apps and channels: what provisioning (the admin API and the CLI),
/// authentication and the routing of Meta's webhooks read and write.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Checks the database answers (on SQLite, its one writer as well as its readers, within a
    /// moment). Cheap: every readiness probe calls it.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores a new tenant.
    async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()>;

    /// A tenant by id.
    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>>;

    /// All tenants, oldest first.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;

    /// Stores a new API key (its hash).
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;

    /// The key with this hash, if not revoked.
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;

    /// Keys of a tenant (or all, for `None`).
    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;

    /// Revokes key `id` at `at` and returns it as it now is; a key revoked already keeps its
    /// first time. `None` if there is no such key. The last live admin key is not revoked:
    /// `Conflict` (nobody could use the admin API any more), decided in the revocation's own
    /// transaction, so that two revocations at once cannot both pass the check.
    async fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<Option<ApiKey>>;

    /// Stores a new app.
    async fn create_app(&self, app: &App) -> StoreResult<()>;

    /// An app by id.
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>>;

    /// Apps of a tenant (or all).
    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>>;

    /// The app with this verify-token hash.
    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>>;

    /// Replaces an app's label, Meta app id and verify token (encrypted, and its hash); not
    /// its secrets ([`AdminStore::rotate_app_secret`]). `NotFound` if there is no such app.
    async fn update_app(&self, app: &App) -> StoreResult<()>;

    /// Makes `secret_enc` the app's secret, in one statement: the secret it replaces verifies
    /// until `previous_expires_at` (`None`: retired at once); a secret an earlier rotation
    /// kept is dropped either way. The app as it now is; `None` if there is no such app.
    async fn rotate_app_secret(
        &self,
        id: &str,
        secret_enc: &str,
        previous_expires_at: Option<i64>,
    ) -> StoreResult<Option<App>>;

    /// Stores a new channel; `Conflict` if its phone number id is taken.
    async fn create_channel(&self, channel: &Channel) -> StoreResult<()>;

    /// Replaces a channel's mutable fields (token, base URL, throughput, portfolio); not its
    /// tier, which is its portfolio's ([`AdminStore::set_portfolio_tier`]), so that a stale
    /// copy of the channel never undoes a tier Meta just announced.
    async fn update_channel(&self, channel: &Channel) -> StoreResult<()>;

    /// Pauses a channel (`Some((at, Meta's error))`: its sender stops) or resumes it (`None`),
    /// with `event`, in one transaction. Whether it changed: pausing a paused channel or
    /// resuming an active one changes nothing and writes no event.
    async fn set_channel_pause(
        &self,
        channel_id: &str,
        pause: Option<(i64, Value)>,
        event: &NewEvent,
    ) -> StoreResult<bool>;

    /// Sets the messaging-limit tier of every channel of the tenant in business portfolio
    /// `portfolio` ([`Channel::portfolio`]): the limit is the portfolio's, shared by its
    /// numbers. How many channels changed.
    async fn set_portfolio_tier(
        &self,
        tenant_id: &str,
        portfolio: &str,
        tier: Option<&str>,
        now: i64,
    ) -> StoreResult<u64>;

    /// A channel by id.
    async fn get_channel(&self, id: &str) -> StoreResult<Option<Channel>>;

    /// A channel by Meta's phone number id (installation-wide: for webhooks and routing).
    async fn find_channel_by_phone_number_id(&self, pnid: &str) -> StoreResult<Option<Channel>>;

    /// The first channel of a WABA.
    async fn find_channel_by_waba(&self, waba_id: &str) -> StoreResult<Option<Channel>>;

    /// Channels of a tenant (or all).
    async fn list_channels(&self, tenant_id: Option<&str>) -> StoreResult<Vec<Channel>>;
}
