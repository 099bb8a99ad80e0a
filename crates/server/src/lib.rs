//! The OpenBSP gateway: one core and thin surfaces over one [`Store`].
//!
//! - [`core`]: one service per area (messages, sessions, contacts, templates, endpoints,
//!   events, admin); typed input, typed output or [`core::CoreError`]; no HTTP.
//! - Surfaces: [`native`] (`/v1`), [`cloud_api`] (the Graph paths), Meta's webhook receiver
//!   in [`meta`], and the CLI (another crate) — each parses its own shapes, calls the core and
//!   maps its error once. What they share over HTTP is [`http`].
//! - Workers: [`sender`], the webhook [`meta::processor`], the session [`closer`], the
//!   [`campaigns`] runner and the event [`delivery`], calling the same core and store, each
//!   under a supervisor that starts it again if it stops ([`workers`]).
//!
//! Start it with [`Gateway::start`]; the CLI's `serve` command and the integration tests both
//! do. Nothing in here prints a secret: tokens and app secrets are decrypted only where they
//! are used and never logged. `docs/architecture.md` traces one request through the layers.
//!
//! [`Store`]: openbsp_store::Store

pub mod campaigns;
pub mod closer;
pub mod cloud_api;
pub mod config;
pub mod core;
pub mod delivery;
pub mod http;
pub mod leader;
pub mod media_fetch;
pub mod meta;
pub mod metrics;
pub mod native;
pub mod notices;
pub mod objects;
pub mod outbound;
pub mod sender;
pub mod vendors;
pub mod views;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::Config;
pub use core::Core;

/// A running gateway.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves `/metrics` alone, when the settings give an address for them.
    pub metrics_addr: Option<SocketAddr>,
    /// The core (store, settings, caches, wakes) the surfaces and workers share.
    pub state: Core,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Binds `config.listen`, starts the background workers (each under a supervisor that
    /// starts it again if it panics or ends: [`workers`]), and serves.
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
        // Before the first request, which would otherwise wait a quarter second for it.
        tokio::task::spawn_blocking(openbsp_wire::send::load_phone_metadata).await?;
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {} (OPENBSP_LISTEN): {e}", config.listen)
        })?;
        let addr = listener.local_addr()?;
        let metrics_listener = match config.metrics.listen {
            Some(a) => Some(TcpListener::bind(a).await.map_err(|e| {
                anyhow::anyhow!("cannot listen on {a} (OPENBSP_METRICS_LISTEN): {e}")
            })?),
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let mut config = config;
        config
            .public_url
            .get_or_insert_with(|| format!("http://{addr}"));
        let state = Core::with_clock(config, store, clock)?;
        let (shutdown, rx) = watch::channel(false);
        // A lone replica leads from its first moment; with others, one of them leads.
        leader::try_lead(&state).await;
        // Each under a supervisor that starts it again if it panics or ends before shutdown.
        use futures::FutureExt;
        use workers::Worker;
        let supervised =
            |worker, run: workers::Run| workers::spawn(&state, worker, rx.clone(), run);
        let mut tasks = vec![
            supervised(Worker::Leader, |s, rx| leader::run(s, rx).boxed()),
            supervised(Worker::Sender, |s, rx| sender::run(s, rx).boxed()),
            supervised(Worker::Processor, |s, rx| {
                meta::processor::run(s, rx).boxed()
            }),
            supervised(Worker::Closer, |s, rx| closer::run(s, rx).boxed()),
            supervised(Worker::Campaigns, |s, rx| campaigns::run(s, rx).boxed()),
            supervised(Worker::Delivery, |s, rx| delivery::run(s, rx).boxed()),
            supervised(Worker::DeliveryPrune, |s, rx| {
                delivery::prune(s, rx).boxed()
            }),
            supervised(Worker::MediaFetch, |s, rx| media_fetch::run(s, rx).boxed()),
        ];
        // Notices travel between replicas sharing a PostgreSQL database; with none to hear
        // (SQLite), these two have nothing to do.
        if state.store.notices().is_some() {
            tasks.push(supervised(Worker::NoticesPublish, |s, rx| {
                notices::publish(s, rx).boxed()
            }));
            tasks.push(supervised(Worker::NoticesListen, |s, rx| {
                notices::listen(s, rx).boxed()
            }));
        }
        let app = router(state.clone());
        let mut srx = rx.clone();
        tasks.push(tokio::spawn(async move {
            // Without TCP_NODELAY a response written in two parts (its head, then a body
            // streamed from the object store) waits for the client's delayed ACK: 40 ms a
            // small media download (bench `media`: 360 files/s, 16 at a time).
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            // With the peer's address: the authentication limits count by client
            // (`core::limits`).
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = srx.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }));
        if let Some(listener) = metrics_listener {
            let app = http::health::metrics_routes().with_state(state.clone());
            let mut mrx = rx.clone();
            tasks.push(tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    let _ = mrx.wait_for(|s| *s).await;
                });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "metrics server stopped");
                }
            }));
        }
        tracing::info!(%addr, ?metrics_addr, backend = state.store.backend(), "gateway listening");
        Ok(Gateway {
            addr,
            metrics_addr,
            state,
            shutdown,
            tasks,
        })
    }

    /// The gateway's core (its store, settings and caches).
    pub fn state(&self) -> &Core {
        &self.state
    }

    /// The gateway's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the background tasks, at most [`SHUTDOWN_GRACE`]: each
    /// finishes what it holds (a batch of payloads, the outcomes of its posts, its leases), and
    /// what has not finished by then is aborted. Stopping early loses nothing: what a task
    /// held is claimed again after its claim or lease lapses, as after a crash.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let handles: Vec<_> = self.tasks.iter().map(|t| t.abort_handle()).collect();
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            let left: Vec<_> = handles.into_iter().filter(|h| !h.is_finished()).collect();
            tracing::warn!(
                tasks = left.len(),
                grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
                "background tasks still running after the shutdown grace; aborting them"
            );
            for h in left {
                h.abort();
            }
        }
    }
}

/// How long [`Gateway::shutdown`] waits for the background tasks: under the 10 s that
/// orchestrators commonly allow before they kill (Kubernetes gives 30 s, systemd 90 s).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(8);

/// Every route of the gateway: a merge of the surfaces, under the request id (outermost, so
/// every log line of a request carries it) and the request metrics.
pub fn router(state: Core) -> Router {
    // The webhook receiver sets its own, larger limit (Meta's 3 MB) on its routes.
    let body_limit = axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes);
    // Axum's own refusals (a body over the limit, a query that does not parse) in the native
    // envelope: the other surfaces layer their own routes likewise.
    let native_refusals = http::rejection::envelope(http::rejection::native);
    // The native routes and their description come apart here: the router serves the routes,
    // `/openapi.json` and `/docs` the description (built once, by `native::openapi`).
    let (native_routes, _) = native::routes().split_for_parts();
    Router::new()
        .merge(http::health::routes())
        .merge(
            native_routes
                .layer(native_refusals)
                .layer(axum::middleware::from_fn(http::query::nul_in_path)),
        )
        .merge(http::openapi::routes(native::openapi()))
        .merge(cloud_api::routes())
        .merge(meta::routes())
        .merge(vendors::routes())
        .layer(body_limit)
        .layer(axum::middleware::map_response(http::retry_after))
        .layer(axum::middleware::from_fn(http::health::track_requests))
        .layer(axum::middleware::from_fn(http::request_id::middleware))
        .with_state(state)
}
