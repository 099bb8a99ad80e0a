//! The OpenBSP gateway: HTTP surfaces (native `/v1`, Cloud-API-compatible, Meta's webhook
//! receiver, admin), the per-channel sender and the webhook processor, over one [`Store`].
//!
//! Start it with [`Gateway::start`]; the CLI's `serve` command and the integration tests both
//! do. Nothing in here prints a secret: tokens and app secrets are decrypted only where they
//! are used and never logged.
//!
//! [`Store`]: openbsp_store::Store

pub mod admin;
pub mod auth;
pub mod cache;
pub mod config;
pub mod contacts;
pub mod delivery;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod health;
pub mod messages;
pub mod paging;
pub mod provision;
pub mod sender;
pub mod sessions;
pub mod state;
pub mod templates;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::Config;
pub use state::AppState;

/// A running gateway.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Shared state (store, caches, sender).
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Binds `config.listen`, starts the sender, the webhook processor and the session
    /// closer, and serves.
    pub async fn start(
        config: Config,
        store: Arc<dyn openbsp_store::Store>,
    ) -> anyhow::Result<Gateway> {
        Self::start_with_clock(config, store, Arc::new(openbsp_domain::SystemClock)).await
    }

    /// [`Gateway::start`] with a given clock (tests move a manual one across windows).
    pub async fn start_with_clock(
        config: Config,
        store: Arc<dyn openbsp_store::Store>,
        clock: Arc<dyn openbsp_domain::Clock>,
    ) -> anyhow::Result<Gateway> {
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {} (OPENBSP_LISTEN): {e}", config.listen)
        })?;
        let addr = listener.local_addr()?;
        let state = AppState::with_clock(config, store, clock)?;
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(sender::run(state.clone(), rx.clone())),
            tokio::spawn(webhooks::processor::run(state.clone(), rx.clone())),
            tokio::spawn(sessions::closer::run(state.clone(), rx.clone())),
            tokio::spawn(delivery::run(state.clone(), rx.clone())),
            tokio::spawn(delivery::prune(state.clone(), rx.clone())),
        ];
        let app = router(state.clone());
        let mut srx = rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = srx.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }));
        tracing::info!(%addr, backend = state.store.backend(), "gateway listening");
        Ok(Gateway {
            addr,
            state,
            shutdown,
            tasks,
        })
    }

    /// The gateway's shared state (its store, settings and caches).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The gateway's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the background tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    // The webhook receiver sets its own, larger limit (Meta's 3 MB) on its routes.
    let body_limit = axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes);
    Router::new()
        .merge(health::routes())
        .merge(messages::routes())
        .merge(sessions::routes())
        .merge(contacts::routes())
        .merge(templates::routes())
        .merge(endpoints::routes())
        .merge(events::routes())
        .merge(webhooks::routes())
        .merge(admin::routes())
        .layer(body_limit)
        .layer(axum::middleware::from_fn(health::track_requests))
        .with_state(state)
}
