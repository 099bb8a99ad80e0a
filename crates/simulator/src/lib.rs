//! A faithful stand-in for Meta's WhatsApp Cloud API, for development, demos and tests.
//!
//! It serves the Graph send route (`POST /{version}/{phone_number_id}/messages`) with
//! Meta's validation (the `openbsp-wire` crate), error codes and response shapes, issues
//! `wamid`s, enforces the per-number throughput limit, and calls each number's webhook URL
//! with correctly signed payloads: the `sent` → `delivered` → `read` statuses of what it
//! accepted, and user messages injected through its control API (`/_simulator/...`).
//! Faults (errors, latency, dropped, duplicated and reordered webhooks, asynchronous
//! failures) and its clock are set through the same API or through [`SimulatorHandle`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use openbsp_simulator::{PhoneNumberConfig, Simulator, SimulatorConfig};
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! sim.add_phone_number(PhoneNumberConfig {
//!     phone_number_id: "106540352242922".into(),
//!     display_phone_number: "15550783881".into(),
//!     waba_id: "102290129340398".into(),
//!     access_token: "token".into(),
//!     app_secret: "secret".into(),
//!     webhook_url: Some("http://127.0.0.1:8080/webhooks/whatsapp".into()),
//!     throughput_mps: None,
//! });
//! println!("Graph API base URL: {}/v25.0", sim.url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod clock;
pub mod config;
mod control;
mod envelope;
mod graph;
pub mod ids;
mod inbound;
pub mod meta_json;
pub mod server;
mod state;
mod statuses;
mod tasks;
mod throughput;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use clock::{Clock, SystemClock};
pub use config::{
    Enforcement, Faults, PhoneNumberConfig, PhoneNumberView, SimulatorConfig, StatusDelays,
};
pub use inbound::{InboundError, InboundRequest};
pub use server::{router, run};
pub use state::{
    InboundRecord, MAX_RECEIVED_PER_NUMBER, MAX_WEBHOOK_LOG, ReceivedMessage, SimState,
    WebhookAttempt, WebhookKind,
};

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `config.listen` and serves the simulator on it, on the system clock.
    pub async fn start(config: SimulatorConfig) -> anyhow::Result<SimulatorHandle> {
        Simulator::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`Simulator::start`], with the clock the simulator's timestamps come from.
    pub async fn start_with_clock(
        config: SimulatorConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<SimulatorHandle> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let state = SimState::with_clock(config, clock)?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            // Either an explicit stop or the handle being dropped ends the server.
            let _ = stop_rx.await;
        };
        let server = tokio::spawn(run(listener, state.clone(), shutdown));
        tracing::info!(%addr, "cloud API simulator listening");
        Ok(SimulatorHandle {
            addr,
            state,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }
}

/// A running simulator. Dropping it stops the server in the background; prefer
/// [`SimulatorHandle::shutdown`], which waits until it has stopped.
pub struct SimulatorHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimulatorHandle {
    /// The base URL, `http://127.0.0.1:PORT` (the Graph API base is this plus `/v25.0`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for everything the handle does not wrap.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Adds a phone number, or replaces the one with the same `phone_number_id`.
    pub fn add_phone_number(&self, p: PhoneNumberConfig) {
        self.state.add_phone_number(p);
    }

    /// The phone numbers, without secrets.
    pub fn phone_numbers(&self) -> Vec<PhoneNumberView> {
        self.state.phone_numbers()
    }

    /// What the simulator accepted from `phone_number_id`, oldest first.
    pub fn received(&self, phone_number_id: &str) -> Vec<ReceivedMessage> {
        self.state.received(phone_number_id)
    }

    /// The user messages injected for `phone_number_id`, oldest first, with their read state.
    pub fn inbound(&self, phone_number_id: &str) -> Vec<InboundRecord> {
        self.state.inbound_messages(Some(phone_number_id))
    }

    /// Delivers a user message as a signed webhook; returns its `wamid`.
    pub async fn inject_inbound(&self, req: InboundRequest) -> Result<String, InboundError> {
        self.state.inject_inbound(req)
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, f: Faults) {
        self.state.set_faults(f);
    }

    /// Sets the status delays of messages accepted from now on.
    pub fn set_status_delays(&self, d: StatusDelays) {
        self.state.set_status_delays(d);
    }

    /// Sets the throughput limit of numbers that do not set their own.
    pub fn set_default_throughput(&self, mps: u32) {
        self.state.set_default_throughput(mps);
    }

    /// Turns Meta's policies (24-hour window, pair rate limit) on or off.
    pub fn set_enforcement(&self, e: Enforcement) {
        self.state.set_enforcement(e);
    }

    /// Moves the simulator's clock forward by `seconds`; returns the total offset.
    pub fn advance_clock(&self, seconds: i64) -> i64 {
        self.state.advance_clock(seconds)
    }

    /// Every webhook delivery attempt, oldest first.
    pub fn webhook_log(&self) -> Vec<WebhookAttempt> {
        self.state.webhook_log()
    }

    /// Stops accepting connections, finishes the requests in flight, stops the background
    /// work (pending statuses and webhook retries are abandoned) and waits for all of it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "simulator server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "simulator server task failed"),
            }
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
