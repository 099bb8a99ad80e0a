//! The state every handler and worker shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openbsp_domain::{Clock, SystemClock};
use openbsp_store::{ApiKey, App, Channel, Store};
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use crate::cache::TtlCache;
use crate::config::Config;
use crate::error::ApiError;

/// What became of a send, told to a Cloud-API caller waiting for it.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// Meta accepted it with this `wamid`.
    Accepted(String),
    /// Meta refused it (the Graph error object).
    Failed(serde_json::Value),
}

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub config: Config,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// API keys by hash.
    pub keys: TtlCache<String, Option<ApiKey>>,
    /// Channels by phone number id and by channel id.
    pub channels: TtlCache<String, Option<Channel>>,
    /// Templates by tenant, WABA, name and language, for the send check (`None`: unknown).
    pub templates: TtlCache<String, Option<Arc<openbsp_store::Template>>>,
    /// Apps by id, with their decrypted secret.
    pub apps: TtlCache<String, Option<(App, Arc<str>)>>,
    /// Wakes the sender when a send is queued.
    pub sender_wake: Notify,
    /// Wakes the webhook processor when a payload is stored.
    pub inbox_wake: Notify,
    /// Wakes the session closer (a session opened that may lapse sooner than it planned).
    pub session_wake: Notify,
    /// Wakes the event delivery's supervisor (an endpoint was created, changed or deleted).
    pub delivery_wake: Notify,
    /// The Graph API client (sends, marks as read).
    pub graph: Arc<dyn crate::sender::GraphClient>,
    /// Cloud-API callers waiting for Meta's answer, by message id.
    pub waiters: Mutex<HashMap<String, oneshot::Sender<SendOutcome>>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state with the system clock.
    pub fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
        Self::with_clock(config, store, Arc::new(SystemClock))
    }

    /// Builds the state with a given clock.
    pub fn with_clock(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<AppState> {
        config.sender.validate().map_err(|e| anyhow::anyhow!(e))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        crate::health::install_metrics();
        let graph = crate::sender::HttpGraphClient::new(config.sender.request_timeout)
            .map_err(|e| anyhow::anyhow!("cannot build the Graph API client: {e}"))?;
        Ok(AppState(Arc::new(Inner {
            graph: Arc::new(graph),
            store,
            config,
            clock,
            keys: TtlCache::new(Duration::from_secs(30)),
            channels: TtlCache::new(Duration::from_secs(30)),
            apps: TtlCache::new(Duration::from_secs(60)),
            templates: TtlCache::new(Duration::from_secs(30)),
            sender_wake: Notify::new(),
            inbox_wake: Notify::new(),
            session_wake: Notify::new(),
            delivery_wake: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
        })))
    }

    /// Now, in Unix ms.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A channel by phone number id or channel id (cached).
    pub async fn channel(&self, pnid_or_id: &str) -> Result<Option<Channel>, ApiError> {
        if let Some(c) = self.channels.get(&pnid_or_id.to_string()) {
            return Ok(c);
        }
        let found = if pnid_or_id.starts_with("chn_") {
            self.store.get_channel(pnid_or_id).await?
        } else {
            self.store
                .find_channel_by_phone_number_id(pnid_or_id)
                .await?
        };
        self.channels.insert(pnid_or_id.to_string(), found.clone());
        Ok(found)
    }

    /// A tenant's channel by phone number id or channel id; `None` if it is another tenant's.
    pub async fn tenant_channel(
        &self,
        tenant_id: &str,
        pnid_or_id: &str,
    ) -> Result<Option<Channel>, ApiError> {
        Ok(self
            .channel(pnid_or_id)
            .await?
            .filter(|c| c.tenant_id == tenant_id))
    }

    /// The channel id a list's `?channel=` filter names (phone number id or channel id);
    /// another tenant's channel is not found.
    pub async fn channel_filter(
        &self,
        tenant_id: &str,
        filter: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let Some(c) = filter else {
            return Ok(None);
        };
        let channel = self
            .tenant_channel(tenant_id, c)
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("channel {c}")))?;
        Ok(Some(channel.id))
    }

    /// An app and its decrypted secret (cached).
    pub async fn app_with_secret(&self, app_id: &str) -> Result<Option<(App, Arc<str>)>, ApiError> {
        if let Some(a) = self.apps.get(&app_id.to_string()) {
            return Ok(a);
        }
        let found = match self.store.get_app(app_id).await? {
            Some(app) => {
                let secret = self
                    .config
                    .master_key
                    .decrypt(&app.app_secret_enc)
                    .map_err(ApiError::internal)?;
                Some((app, Arc::from(secret)))
            }
            None => None,
        };
        self.apps.insert(app_id.to_string(), found.clone());
        Ok(found)
    }

    /// Forgets cached channels and apps (after an admin change).
    pub fn invalidate(&self) {
        self.channels.clear();
        self.apps.clear();
        self.keys.clear();
        self.templates.clear();
    }

    /// Tells a waiting Cloud-API caller what became of its send.
    pub fn notify_outcome(&self, message_id: &str, outcome: SendOutcome) {
        if let Some(tx) = self.waiters.lock().remove(message_id) {
            let _ = tx.send(outcome);
        }
    }
}
