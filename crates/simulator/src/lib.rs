//! A faithful stand-in for Meta's WhatsApp Cloud API, for development, demos and tests.
//!
//! It serves the Graph send route (`POST /{version}/{phone_number_id}/messages`: messages
//! of every kind, and mark-as-read with the typing indicator) with Meta's validation (the
//! `openbsp-wire` crate), error codes and response shapes, issues `wamid`s, enforces the
//! per-number throughput limit and the business portfolio's messaging limit
//! ([`messaging_limit`]), and calls each number's webhook URL with correctly signed
//! payloads: the `sent` → `delivered` → `read` statuses of what it accepted (priced as Meta
//! prices them, free entry point windows included), user messages of every kind injected
//! through its control API, and users' marketing preferences. Faults (errors, latency,
//! dropped, duplicated and reordered webhooks, asynchronous failures), Meta's policies and
//! its clock are set through the same API or through [`SimulatorHandle`].
//!
//! It also manages each WABA's message templates as Meta does ([`templates`]): every WABA
//! starts with Meta's sample `hello_world`; templates are created, listed (filters, `fields`,
//! cursor paging), read, edited and deleted through the Graph routes with Meta's rules and
//! error subcodes, reviewed (`PENDING` → `APPROVED` or `REJECTED`, by rules a test sets)
//! with signed `message_template_status_update`, `template_category_update` and
//! `message_template_quality_update` webhooks, and template sends are checked against them
//! (132001, 132015, 132016, 132000, …; the `templates` enforcement, on by default).
//!
//! # Graph API
//!
//! The bearer token is the access token of the phone number (of one of the WABA's numbers
//! for WABA and template routes); an unknown object id is 100 with subcode 33.
//!
//! | Route | What it does |
//! |---|---|
//! | `POST /{version}/{phone_number_id}/messages` | Sends (every kind) and mark-as-read |
//! | `GET /{version}/{waba_id}/message_templates` | Lists templates, newest first: filters `name` (substring), `status`, `category`, `language`, `quality_score` (comma-separated lists), `content`, `name_or_content`; `fields`; `limit` (default 25) with Meta's cursor paging (`paging.cursors.before/after`, `next` only when a page follows, `previous` when one precedes; `after`/`before` parameters) |
//! | `POST /{version}/{waba_id}/message_templates` | Creates a template (`{name, language, category, parameter_format?, components, message_send_ttl_seconds?}`, validated as Meta does; 100 with subcode 2388024 for a name taken in that language, 2388023 for one deleted less than 30 days ago, 2388019 at 250 templates); answers `{"id", "status": "PENDING", "category"}` and starts the review |
//! | `DELETE /{version}/{waba_id}/message_templates?name=[&hsm_id=]` | Deletes every language of `name`, or the one template `hsm_id`; DISABLED templates cannot be deleted; `{"success": true}`, no webhook |
//! | `GET /{version}/{template_id}` | One template (`fields` as above) |
//! | `POST /{version}/{template_id}` | Edits `components`, `category`, `message_send_ttl_seconds`: only APPROVED, REJECTED or PAUSED templates; no category change once APPROVED; APPROVED ones at most once per 24 h and 10 times per 30 days (simulator clock); new content is validated and reviewed again; `{"success": true}` |
//!
//! # Control API
//!
//! Errors are `{"error": {"message", "field"?}}` with 400 (bad input) or 404.
//!
//! | Route | What it does |
//! |---|---|
//! | `GET /_simulator/healthz` | `{"status": "ok"}` |
//! | `POST /_simulator/inbound` | A user message: `{"phone_number_id", "from" \| "from_user_id", "name"?, "message": {"type", …}}` with any kind of reference §3.3 (`text`, media with `id` and `mime_type`, `interactive` replies, `button`, `reaction`, `location`, `contacts`, `order`, `system`, `unsupported`), `context` and `referral` allowed on any kind; answers `{"wamid"}`. A `referral` makes the business's first answer within 24 h open a 72 h free entry point window; a `system` `user_changed_number` moves the user to the new number (sends to the old one then fail with 131026) |
//! | `GET /_simulator/inbound?phone_number_id=` | The injected user messages, with their read state |
//! | `POST /_simulator/user-preferences` | A `user_preferences` webhook: `{"phone_number_id", "wa_id" \| "user_id", "value": "stop" \| "resume", "name"?, "category"?, "detail"?}`; while stopped, marketing templates to the user fail with 131050. Answers `{"timestamp"}` |
//! | `GET /_simulator/users?phone_number_id=&user=` | What the simulator knows of a user: last message, customer service window, free entry point window, marketing preference, number change |
//! | `GET /_simulator/templates?waba_id=` (or `phone_number_id=`) | The WABA's templates as the simulator holds them (deleted ones included, with `deleted_at_ms`), oldest first |
//! | `POST /_simulator/templates` | Seeds a template without review: a create request plus `waba_id` (or `phone_number_id`), `status` (default `APPROVED`) and `notify` (send its status webhook; default false); answers the template |
//! | `POST /_simulator/templates/{id}/status` | `{"status", "reason"?, "other_info"?}`: an event of `message_template_status_update` (`APPROVED`, `REJECTED`, `PENDING`, `PAUSED`, `DISABLED`, `FLAGGED`, `REINSTATED`, `IN_APPEAL`, `LIMIT_EXCEEDED`, `LOCKED`, `ARCHIVED`, `UNARCHIVED`, `DELETED`, `PENDING_DELETION`) changes the template and is sent as a webhook (PAUSED with `other_info` FIRST_PAUSE/SECOND_PAUSE, unpausing with UNPAUSE, DISABLED with `disable_info.disable_date`, INVALID_FORMAT rejections with `rejection_info`) |
//! | `POST /_simulator/templates/{id}/quality` | `{"score": "GREEN" \| "YELLOW" \| "RED" \| "UNKNOWN"}`: sets the quality score and sends `message_template_quality_update` |
//! | `GET\|POST /_simulator/template-review` | `{"delay_ms"?, "rules"?: [{"name_contains"?, "body_contains"?, "status": "APPROVED" \| "REJECTED" \| "PENDING", "reason"?, "category"?}]}`: how reviews end — after `delay_ms`, by the first matching rule (none: APPROVED); `PENDING` keeps the template in review, `category` re-categorises it (with a `template_category_update`) |
//! | `GET\|POST /_simulator/template-categories` | `{"name", "category": "marketing" \| "utility" \| "authentication" \| "authentication_international"}`: how a template's messages are priced, overriding the stored template's category (marketing when neither is known) |
//! | `GET /_simulator/messages?phone_number_id=&to=` | What it accepted, oldest first, with the `wamid` and the request body |
//! | `POST /_simulator/template-pacing` | `{"template_id", "outcome"?}`: without `outcome`, Meta paces the template (sends accepted with `message_status: held_for_quality_assessment` and held); with `release` the held sends are delivered, with `pause` the template is paused and they fail with 132015 |
//! | `GET /_simulator/messages/count?phone_number_id=` | How many it accepted from the number (every one, without copying the list) |
//! | `GET /_simulator/messages/per-second?phone_number_id=&since=` | How many it accepted from the number in each second (Unix seconds, the last day's), and the most in one: a pacing check |
//! | `GET\|POST /_simulator/phone-numbers` | The business numbers (without secrets); upsert by `phone_number_id` (a new WABA gets `hello_world`) |
//! | `POST /_simulator/phone-numbers/{id}/throughput-upgrade` | `{"maintenance_ms"?}` (2,000): Meta's upgrade to 1,000 msg/s — sends answer 131057 meanwhile, then a `phone_number_quality_update` `THROUGHPUT_UPGRADE` webhook. `GET /{version}/{phone_number_id}?fields=throughput` answers `{"throughput": {"level": "STANDARD" \| "HIGH"}}` |
//! | `PUT /_simulator/phone-numbers/{id}/business` | `{"business_id"}`: puts the number in that business portfolio (by default a number's portfolio is its WABA id); the portfolio's numbers share its messaging limit |
//! | `GET\|POST /_simulator/businesses/{business_id}/messaging-limit` | `{"tier": "TIER_250" \| "TIER_2K" \| "TIER_10K" \| "TIER_100K" \| "TIER_UNLIMITED"}` (400 for another): the portfolio's messaging limit — unique users outside their customer service window it may send to in a moving 24 hours (unlimited by default). A change sends `business_capability_update` (`max_daily_conversations_per_business`: the limit, -1 unlimited) to each of its WABAs. Past the limit sends are refused with 131048, HTTP 400 (Meta documents no code: the simulator's choice, see [`messaging_limit`]). Answers `{"business_id", "tier", "max_users", "reach", "phone_number_ids"}` (and `"changed"` on POST). `GET /{version}/{phone_number_id}?fields=whatsapp_business_manager_messaging_limit` answers the tier |
//! | `GET\|POST /_simulator/faults` | Error rates and codes, latency, dropped, duplicated and reordered webhooks, asynchronous failures |
//! | `GET\|POST /_simulator/config` | Status delays, default throughput, `template_review_delay_ms`, `enforcement` (`templates`: template sends checked, on by default; `customer_service_window`: 131047; `pair_rate_limit`: 131056 by Meta's burst rule, with `pair_period_ms` and `pair_burst`; both off by default; `marketing_cap`: marketing templates a user gets in a moving 24 h before the next fails with 131049, 0 = none, the default) |
//! | `GET\|POST /_simulator/clock` | `{"advance_seconds"}` moves the clock (webhook timestamps, windows, template edit limits and name reuse) forward |
//! | `GET /_simulator/webhooks?phone_number_id=` | Every webhook delivery attempt |
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

mod accepted;
pub mod clock;
pub mod config;
mod control;
mod envelope;
mod graph;
mod graph_templates;
pub mod ids;
mod inbound;
pub mod messaging_limit;
pub mod meta_json;
mod phone_ops;
mod portfolio_ops;
mod preferences;
mod records;
pub mod server;
mod state;
mod statuses;
mod tasks;
mod template_ops;
pub mod templates;
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
pub use messaging_limit::{MESSAGING_LIMIT_WINDOW_MS, MessagingLimit};
pub use openbsp_wire::webhook::PreferenceValue;
pub use preferences::{MARKETING_MESSAGES, UserPreferenceRequest};
pub use records::{
    EntryPointWindow, InboundRecord, ReceivedMessage, TemplateCategory, WebhookAttempt, WebhookKind,
};
pub use server::{router, run};
pub use state::{
    ENTRY_POINT_WINDOW_MS, MAX_RECEIVED_PER_NUMBER, MAX_WEBHOOK_LOG, SERVICE_WINDOW_MS, SimState,
};
pub use template_ops::PacingOutcome;
pub use templates::{
    OtherInfo, QualityScore, ReviewRule, Template, TemplateControlError, TemplateEvent,
    TemplateReview, TemplateSeed, TemplateStatus, TemplateStatusChange,
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
        // Before the first request: the time Meta records for the first sends must be when
        // they came, not when the metadata had loaded.
        tokio::task::spawn_blocking(openbsp_wire::send::load_phone_metadata).await?;
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

    /// Delivers a user's marketing stop or resume as a signed `user_preferences` webhook and
    /// remembers it (marketing templates to a user who stopped fail with 131050); returns the
    /// change's timestamp (Unix seconds).
    pub async fn deliver_user_preference(
        &self,
        req: UserPreferenceRequest,
    ) -> Result<i64, InboundError> {
        self.state.deliver_user_preference(req)
    }

    /// Sets how the messages of template `name` are priced, overriding the category of the
    /// stored template (templates neither set nor stored are marketing).
    pub fn set_template_category(&self, name: &str, category: TemplateCategory) {
        self.state.set_template_category(name, category);
    }

    /// Puts a template straight into a WABA (validated as a create request, no review; a
    /// status webhook only if `seed.notify`).
    pub fn seed_template(&self, seed: TemplateSeed) -> Result<Template, TemplateControlError> {
        self.state.seed_template(seed)
    }

    /// Changes a template's status as Meta would (`TemplateEvent::Paused`, `Disabled`,
    /// `Reinstated`, ...) and sends the `message_template_status_update`.
    pub fn set_template_status(
        &self,
        id: &str,
        change: impl Into<TemplateStatusChange>,
    ) -> Result<Template, TemplateControlError> {
        self.state.set_template_status(id, change.into())
    }

    /// Meta paces template `id` (template pacing, reference §2.4): its sends are accepted with
    /// `message_status: "held_for_quality_assessment"` and held until [`Self::end_pacing`].
    pub fn pace_template(&self, id: &str) -> Result<(), TemplateControlError> {
        self.state.pace_template(id)
    }

    /// Ends the pacing of template `id`: the held sends are delivered (`Release`), or the
    /// template is paused and they fail with 132015 (`Pause`). How many were held.
    pub fn end_pacing(
        &self,
        id: &str,
        outcome: PacingOutcome,
    ) -> Result<usize, TemplateControlError> {
        self.state.end_pacing(id, outcome)
    }

    /// Sets a template's quality score and sends the `message_template_quality_update`.
    pub fn set_template_quality(
        &self,
        id: &str,
        score: QualityScore,
    ) -> Result<Template, TemplateControlError> {
        self.state.set_template_quality(id, score)
    }

    /// The templates of `waba_id`, deleted ones included, oldest first.
    pub fn templates(&self, waba_id: &str) -> Vec<Template> {
        self.state.templates(waba_id)
    }

    /// One template by id (deleted ones included).
    pub fn template(&self, id: &str) -> Option<Template> {
        self.state.template(id)
    }

    /// Sets how template reviews end: their delay and rules (first match wins; none:
    /// approved). Fails naming the first invalid rule.
    pub fn set_template_review(&self, review: TemplateReview) -> Result<(), String> {
        self.state.set_template_review(review)
    }

    /// Sets how long template reviews take, in ms (the rules stay).
    pub fn set_template_review_delay(&self, delay_ms: u64) {
        self.state.set_template_review_delay(delay_ms);
    }

    /// How template reviews end.
    pub fn template_review(&self) -> TemplateReview {
        self.state.template_review()
    }

    /// The free entry point window of `user` (a `wa_id` or BSUID) with `phone_number_id`,
    /// open or expired.
    pub fn entry_point_window(
        &self,
        phone_number_id: &str,
        user: &str,
    ) -> Option<EntryPointWindow> {
        self.state.entry_point_window(phone_number_id, user)
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, f: Faults) {
        self.state.set_faults(f);
    }

    /// Sets the status delays of messages accepted from now on.
    pub fn set_status_delays(&self, d: StatusDelays) {
        self.state.set_status_delays(d);
    }

    /// A number as registered (secrets included).
    pub fn phone_number(&self, phone_number_id: &str) -> Option<PhoneNumberConfig> {
        self.state.phone_number(phone_number_id)
    }

    /// Meta's throughput upgrade of a number to 1,000 msg/s: 131057 for `maintenance_ms`,
    /// then the `THROUGHPUT_UPGRADE` webhook. `false` if there is no such number.
    pub fn upgrade_throughput(&self, phone_number_id: &str, maintenance_ms: u64) -> bool {
        self.state
            .upgrade_throughput(phone_number_id, maintenance_ms)
    }

    /// Puts a number in business portfolio `business_id`, whose messaging limit it then
    /// shares with the portfolio's other numbers (by default a number's portfolio is its
    /// WABA id). `false` if there is no such number.
    pub fn set_business(&self, phone_number_id: &str, business_id: &str) -> bool {
        self.state.set_business(phone_number_id, business_id)
    }

    /// Sets the messaging limit of portfolio `business_id`: `TIER_250`, `TIER_2K`,
    /// `TIER_10K`, `TIER_100K` or `TIER_UNLIMITED` (the default); an unknown tier is an
    /// error. A change sends Meta's `business_capability_update` to each WABA of the
    /// portfolio. Sends past the limit are refused with 131048 ([`messaging_limit`]).
    pub fn set_messaging_limit(&self, business_id: &str, tier: &str) -> Result<(), String> {
        let tier = MessagingLimit::parse(tier)?;
        self.state.set_messaging_limit(business_id, tier);
        Ok(())
    }

    /// The messaging limit of portfolio `business_id`.
    pub fn messaging_limit(&self, business_id: &str) -> MessagingLimit {
        self.state.messaging_limit(business_id)
    }

    /// Unique users portfolio `business_id` reached outside their customer service window in
    /// the moving 24 hours up to now (simulator clock).
    pub fn messaging_reach(&self, business_id: &str) -> usize {
        self.state.messaging_reach(business_id)
    }

    /// Sets the throughput limit of numbers that do not set their own.
    pub fn set_default_throughput(&self, mps: u32) {
        self.state.set_default_throughput(mps);
    }

    /// Turns Meta's policies (template checks, 24-hour window, pair rate limit, marketing cap)
    /// on or off.
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
