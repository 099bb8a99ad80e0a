//! The core: one service per area (messages, sessions and Session Start, contacts,
//! templates, webhook endpoints and events, admin provisioning), each taking typed input and
//! returning a typed result or a [`CoreError`]. Every surface (native `/v1`, the Cloud API
//! routes, the CLI, the vendor adapters to come) and every worker reaches the rules through
//! here, so each rule is written once.
//!
//! Never imports `axum` or anything of `crate::http` or a surface: the core knows nothing of
//! HTTP, status codes or envelopes. [`Core`] is the context the services share: the store,
//! the settings, the clock, the caches, the Graph client and the wakes of the workers.

pub mod admin;
pub mod cache;
pub mod campaigns;
pub mod channels;
pub mod contacts;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod limits;
pub mod media;
pub mod messages;
pub mod replicas;
pub mod sessions;
pub mod templates;
pub mod workers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openbsp_domain::{Clock, SystemClock};
use openbsp_store::{ApiKey, App, Channel, Store};
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use crate::config::Config;
use crate::meta::graph::{GraphClient, HttpGraphClient};
use cache::TtlCache;
pub use error::{CoreError, CoreResult};
use openbsp_domain::ids::ChannelId;
use openbsp_domain::refs::ChannelRef;

/// What became of a send, told to a Cloud-API caller waiting for it.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Meta accepted it.
    Accepted {
        /// Meta's id of the message.
        wamid: String,
        /// `messages[0].message_status` of Meta's answer when it gave one (a paced template:
        /// `accepted` or `held_for_quality_assessment`).
        message_status: Option<String>,
    },
    /// Meta refused it (the Graph error object).
    Failed(serde_json::Value),
}

/// The core's context, shared by every surface and worker; cheap to clone.
#[derive(Clone)]
pub struct Core(Arc<Inner>);

/// The contents of [`Core`].
pub struct Inner {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub config: Config,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Live API keys by hash (only keys that exist: an unknown token never evicts one).
    pub keys: TtlCache<String, ApiKey>,
    /// Hashes of tokens that are no key, briefly (a flood of random tokens fills this one).
    pub unknown_keys: TtlCache<String, ()>,
    /// The rate limits of authentication ([`limits::AuthLimits`]).
    pub auth_limits: limits::AuthLimits,
    /// Channels by phone number id and by channel id.
    pub channels: TtlCache<String, Option<Channel>>,
    /// Templates by tenant, WABA, name and language, for the send check (`None`: unknown).
    pub templates: TtlCache<String, Option<Arc<openbsp_store::Template>>>,
    /// Media by tenant and id, for the sends that name them (`None`: unknown).
    pub media: TtlCache<(String, String), Option<openbsp_store::Media>>,
    /// Apps by id, with their decrypted secrets.
    pub apps: TtlCache<String, Option<(App, credentials::AppSecrets)>>,
    /// How many times the caches above were forgotten ([`Core::forget_cached`]): what was read
    /// from the store before a change was heard is not cached after it
    /// ([`Core::cache_if_unchanged`]).
    cache_generation: parking_lot::RwLock<u64>,
    /// This process among the replicas sharing the database: the holder of its leases.
    pub replica_id: String,
    /// Whether this replica holds the leader lease (the jobs that must run once).
    pub leadership: replicas::Leadership,
    /// Notices for the other replicas ([`replicas`]).
    pub publisher: replicas::Publisher,
    /// Wakes the sender when a send is queued: the channel's worker, or the supervisor.
    pub sender_wakes: SenderWakes,
    /// Wakes the webhook processor when a payload is stored.
    pub inbox_wake: Notify,
    /// Wakes the media fetcher when an inbound message with media is stored.
    pub media_wake: Notify,
    /// Wakes the session closer (a session opened that may lapse sooner than it planned).
    pub session_wake: Notify,
    /// Wakes the campaign runner (a campaign was started or resumed).
    pub campaign_wake: Notify,
    /// Wakes the event delivery's supervisor (an endpoint was created, changed or deleted).
    pub delivery_wake: Notify,
    /// The Graph API client (sends, marks as read).
    pub graph: Arc<dyn GraphClient>,
    /// Cloud-API callers waiting for Meta's answer, by message id.
    pub waiters: Mutex<HashMap<String, oneshot::Sender<SendOutcome>>>,
    /// Where media bytes live.
    pub objects: crate::objects::Objects,
    /// Which background workers are up ([`workers`]).
    pub workers: workers::Workers,
}

/// Who to wake when a send is queued on a channel: its worker if one runs here (it waits for
/// exactly this), else the sender's supervisor, which starts one.
#[derive(Default)]
pub struct SenderWakes {
    supervisor: Notify,
    channels: Mutex<HashMap<String, Arc<Notify>>>,
}

impl SenderWakes {
    /// A send was queued on `channel_id` (or came due).
    /// Wakes the channel's worker here, or the supervisor if there is none; whether a worker
    /// here was woken (it holds the channel's lease: nobody else sends for it).
    pub fn wake(&self, channel_id: &str) -> bool {
        match self.channels.lock().get(channel_id) {
            Some(worker) => {
                worker.notify_one();
                true
            }
            None => {
                self.supervisor.notify_one();
                false
            }
        }
    }

    /// What the supervisor waits on.
    pub fn supervisor(&self) -> &Notify {
        &self.supervisor
    }

    /// A worker starts for `channel_id`: what it waits on.
    pub fn register(&self, channel_id: &str) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        self.channels
            .lock()
            .insert(channel_id.to_string(), n.clone());
        n
    }

    /// The worker of `channel_id` stops: wakes go to the supervisor again.
    pub fn unregister(&self, channel_id: &str) {
        self.channels.lock().remove(channel_id);
    }
}

impl std::ops::Deref for Core {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Core {
    /// Builds the core with the system clock.
    pub fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Core> {
        Self::with_clock(config, store, Arc::new(SystemClock))
    }

    /// Builds the core with a given clock.
    pub fn with_clock(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Core> {
        config.sender.validate().map_err(|e| anyhow::anyhow!(e))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        crate::metrics::install();
        let graph = HttpGraphClient::new(config.sender.request_timeout)
            .map_err(|e| anyhow::anyhow!("cannot build the Graph API client: {e}"))?;
        let replicas_hear = store.notices().is_some();
        let objects = match &config.media {
            crate::config::MediaStoreConfig::Memory => crate::objects::Objects::memory(),
            crate::config::MediaStoreConfig::Local(dir) => crate::objects::Objects::local(dir)
                .map_err(|e| anyhow::anyhow!("media folder {}: {e}", dir.display()))?,
            crate::config::MediaStoreConfig::S3(c) => crate::objects::Objects::s3(c)
                .map_err(|e| anyhow::anyhow!("media bucket {}: {e}", c.bucket))?,
        };
        let auth_limits = limits::AuthLimits::new(config.api_rate_limit);
        Ok(Core(Arc::new(Inner {
            objects,
            graph: Arc::new(graph),
            store,
            config,
            clock,
            keys: TtlCache::new(Duration::from_secs(30)),
            unknown_keys: TtlCache::new(Duration::from_secs(30)),
            auth_limits,
            channels: TtlCache::new(Duration::from_secs(30)),
            apps: TtlCache::new(Duration::from_secs(60)),
            cache_generation: parking_lot::RwLock::new(0),
            templates: TtlCache::new(Duration::from_secs(30)),
            media: TtlCache::new(Duration::from_secs(30)),
            replica_id: openbsp_domain::ids::new_id(openbsp_domain::ids::prefix::REPLICA),
            leadership: replicas::Leadership::default(),
            publisher: replicas::Publisher::new(replicas_hear),
            sender_wakes: SenderWakes::default(),
            inbox_wake: Notify::new(),
            media_wake: Notify::new(),
            session_wake: Notify::new(),
            delivery_wake: Notify::new(),
            campaign_wake: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            workers: workers::Workers::default(),
        })))
    }

    /// Now, in Unix ms.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A channel by phone number id or channel id (cached).
    pub async fn channel(&self, r: &ChannelRef) -> CoreResult<Option<Channel>> {
        let key = r.as_str().to_string();
        if let Some(c) = self.channels.get(&key) {
            return Ok(c);
        }
        let generation = self.cache_generation();
        let found = match r {
            ChannelRef::Id(id) => self.store.get_channel(id).await?,
            ChannelRef::PhoneNumberId(p) => self.store.find_channel_by_phone_number_id(p).await?,
        };
        self.cache_if_unchanged(generation, || self.channels.insert(key, found.clone()));
        Ok(found)
    }

    /// A channel by the id the gateway stored for it (a message's, a session's, …).
    pub async fn stored_channel(&self, id: &str) -> CoreResult<Option<Channel>> {
        self.channel(&ChannelRef::Id(ChannelId::from_stored(id)))
            .await
    }

    /// A tenant's channel by phone number id or channel id; `None` if it is another tenant's.
    pub async fn tenant_channel(
        &self,
        tenant_id: &str,
        r: &ChannelRef,
    ) -> CoreResult<Option<Channel>> {
        Ok(self.channel(r).await?.filter(|c| c.tenant_id == tenant_id))
    }

    /// A tenant's channel as a client names it (phone number id or channel id), or
    /// [`CoreError::NotFound`] (a malformed channel id names no channel).
    pub async fn require_channel(&self, tenant_id: &str, given: &str) -> CoreResult<Channel> {
        let found = match ChannelRef::parse(given) {
            Some(r) => self.tenant_channel(tenant_id, &r).await?,
            None => None,
        };
        found.ok_or_else(|| CoreError::not_found("channel", given))
    }

    /// The channel's access token, decrypted for one call to Meta (never logged).
    pub fn access_token(&self, channel: &Channel) -> CoreResult<String> {
        self.config
            .master_key
            .decrypt(&channel.access_token_enc)
            .map_err(|e| {
                tracing::error!(channel.id = %channel.id, error = %e, "cannot decrypt the channel's access token");
                CoreError::internal(format!("the access token of channel {} does not decrypt", channel.id))
            })
    }

    /// The channel id a list's `?channel=` filter names (phone number id or channel id);
    /// another tenant's channel is not found.
    pub async fn channel_filter(
        &self,
        tenant_id: &str,
        filter: Option<&str>,
    ) -> CoreResult<Option<String>> {
        let Some(c) = filter else {
            return Ok(None);
        };
        Ok(Some(self.require_channel(tenant_id, c).await?.id))
    }

    /// An app and its decrypted secrets: the current one, and the previous one while a
    /// rotation overlaps (cached; each check of a signature looks at the clock again).
    pub async fn app_with_secret(
        &self,
        app_id: &str,
    ) -> CoreResult<Option<(App, credentials::AppSecrets)>> {
        if let Some(a) = self.apps.get(&app_id.to_string()) {
            return Ok(a);
        }
        let generation = self.cache_generation();
        let found = match self.store.get_app(app_id).await? {
            Some(app) => {
                let secrets =
                    credentials::AppSecrets::decrypt(&self.config.master_key, &app, self.now())?;
                Some((app, secrets))
            }
            None => None,
        };
        self.cache_if_unchanged(generation, || {
            self.apps.insert(app_id.to_string(), found.clone())
        });
        Ok(found)
    }

    /// Forgets cached channels, apps, keys and templates after a change made here, and tells
    /// the other replicas to (without the notice they would see it when their copies expire).
    pub fn invalidate(&self) {
        self.forget_cached();
        self.publisher.publish(replicas::Notice::Changed);
    }

    /// Forgets cached channels, apps, keys and templates (a change here, or heard from another
    /// replica). A look-up that read the store before this caches nothing after it
    /// ([`Core::cache_if_unchanged`]): its copy may be from before the change.
    pub fn forget_cached(&self) {
        let mut generation = self.cache_generation.write();
        *generation += 1;
        self.channels.clear();
        self.apps.clear();
        self.keys.clear();
        self.unknown_keys.clear();
        self.templates.clear();
        self.media.clear();
    }

    /// Where the caches stand, taken before reading the store for a copy to cache.
    pub fn cache_generation(&self) -> u64 {
        *self.cache_generation.read()
    }

    /// Runs `insert` (a copy read from the store into a cache) unless the caches were
    /// forgotten since `generation` was taken: a change heard meanwhile may postdate the copy
    /// (a key revoked while it was read would otherwise stay cached for the cache's lifetime).
    pub fn cache_if_unchanged(&self, generation: u64, insert: impl FnOnce()) {
        let now = self.cache_generation.read();
        if *now == generation {
            insert();
        }
    }

    /// Tells a waiting Cloud-API caller what became of its send: here, or (by a notice) on
    /// the replica it waits on.
    pub fn notify_outcome(&self, message_id: &str, outcome: SendOutcome) {
        let waiter = self.waiters.lock().remove(message_id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(outcome);
            }
            None => self
                .publisher
                .publish(replicas::Notice::Outcome(message_id.to_string(), outcome)),
        }
    }

    /// Tells a caller waiting here (a notice from another replica).
    pub fn deliver_outcome(&self, message_id: &str, outcome: SendOutcome) {
        if let Some(tx) = self.waiters.lock().remove(message_id) {
            let _ = tx.send(outcome);
        }
    }

    /// A send was queued (or came due) on `channel_id`: its sender wakes, here or wherever its
    /// lease is. The notice to the other replicas is only raised when no worker here sends for
    /// the channel (each notice is a transaction on PostgreSQL; a worker here holds the lease,
    /// and if it is losing it, the next holder's poll finds the send).
    pub fn wake_sender(&self, channel_id: &str) {
        if !self.sender_wakes.wake(channel_id) {
            self.publisher
                .publish(replicas::Notice::Send(channel_id.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_testkit::{Backend, TestDb};

    /// A copy read from the store before the caches were forgotten (a change made here or
    /// heard from another replica while it was read) is not cached: it may predate the change
    /// (a revoked key would otherwise be honoured for the cache's lifetime). A copy read
    /// after is.
    #[tokio::test]
    async fn a_copy_read_before_a_forget_is_not_cached() {
        let db = TestDb::new(Backend::Sqlite).await;
        let store = openbsp_store::open(&db.url).await.expect("open store");
        let (key, _) = openbsp_domain::crypto::MasterKey::generate();
        let core = Core::new(crate::config::Config::for_tests(key), store).unwrap();
        let before = core.cache_generation();
        core.forget_cached();
        let mut cached = false;
        core.cache_if_unchanged(before, || cached = true);
        assert!(!cached, "a copy from before the forget was cached");
        let after = core.cache_generation();
        core.cache_if_unchanged(after, || cached = true);
        assert!(cached, "a copy from after the forget was not cached");
    }
}
