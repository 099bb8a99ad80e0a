//! The simulator's state: its phone numbers, what it accepted and what users sent (as the
//! records of [`crate::records`]), the faults and timing in force, the webhook attempt log,
//! the WABAs' templates ([`crate::templates`]), and the shared machinery (clock, rate limits,
//! HTTP client, background tasks). One `SimState` backs one simulator; the Graph and
//! control routes, the Rust handle and the background tasks all work on it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::{Clock, SimClock, SystemClock};
use crate::config::{
    Enforcement, Faults, PhoneNumberConfig, PhoneNumberView, SimulatorConfig, StatusDelays,
};
use crate::media::MediaStore;
use crate::messaging_limit::Portfolios;
use crate::records::{
    EntryPointWindow, InboundRecord, ReceivedMessage, TemplateCategory, WebhookAttempt,
};
use crate::tasks::Tasks;
use crate::templates::TemplateStore;
use crate::throughput::{PairLimit, Throughput};

/// Most accepted messages kept per phone number (the oldest are forgotten first);
/// [`SimState::received_count`] keeps counting past it.
pub const MAX_RECEIVED_PER_NUMBER: usize = 200_000;

/// Webhook posts in flight at once, all numbers together (see `crate::webhooks`).
pub(crate) const MAX_WEBHOOK_POSTS: usize = 1_024;
/// Most webhook attempts kept in the log (the oldest are forgotten first).
pub const MAX_WEBHOOK_LOG: usize = 50_000;
/// The customer service window: 24 hours after the user's last message (ms).
pub const SERVICE_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// A free entry point window: 72 hours after the business's first answer (ms).
pub const ENTRY_POINT_WINDOW_MS: i64 = 72 * 3600 * 1000;

/// (phone_number_id, wa_id or BSUID).
type UserKey = (String, String);

fn key(phone_number_id: &str, user: &str) -> UserKey {
    (phone_number_id.to_string(), user.to_string())
}

#[derive(Default)]
struct Inner {
    phones: HashMap<String, PhoneNumberConfig>,
    received: HashMap<String, VecDeque<ReceivedMessage>>,
    received_counts: HashMap<String, u64>,
    /// Templates Meta paces (by id): the sends it holds until it decides.
    paced: HashMap<String, Vec<crate::accepted::Accepted>>,
    /// Messages accepted per number per second (Unix seconds), the last day's: what a pacing
    /// check reads.
    received_per_second: HashMap<String, std::collections::BTreeMap<i64, u32>>,
    inbound: HashMap<String, InboundRecord>,
    inbound_order: Vec<String>,
    /// (phone_number_id, wa_id or BSUID) → last inbound message time (Unix ms).
    last_inbound: HashMap<UserKey, i64>,
    /// Users whose last message carried a `referral` → when they sent it (Unix ms).
    referral_inbound: HashMap<UserKey, i64>,
    /// Free entry point windows opened, by user (kept after they expire).
    entry_points: HashMap<UserKey, EntryPointWindow>,
    /// Users who stopped marketing messages (`user_preferences`).
    marketing_stopped: HashSet<UserKey>,
    /// For the marketing cap: the times each user was sent a marketing template (ms), the
    /// last 24 hours' only.
    marketing_received: HashMap<String, VecDeque<i64>>,
    /// Numbers whose user changed to another number → the new number.
    changed_numbers: HashMap<UserKey, String>,
    /// Template name → category; templates not listed are marketing.
    template_categories: HashMap<String, TemplateCategory>,
    faults: Faults,
    delays: StatusDelays,
    default_throughput: u32,
    enforcement: Enforcement,
    webhook_log: VecDeque<WebhookAttempt>,
    /// Numbers in maintenance (a throughput upgrade), until when (ms).
    maintenance: HashMap<String, i64>,
}

/// The state of one simulator.
pub struct SimState {
    pub(crate) config: SimulatorConfig,
    pub(crate) clock: SimClock,
    inner: Mutex<Inner>,
    pub(crate) throughput: Throughput,
    pub(crate) pair_limit: PairLimit,
    pub(crate) http: reqwest::Client,
    pub(crate) tasks: Tasks,
    /// The WABAs' message templates (their own lock: never taken while `inner` is held).
    pub(crate) templates: Mutex<TemplateStore>,
    /// Business portfolios: which number belongs to which, their messaging limits and the
    /// users they reached ([`crate::messaging_limit`]; their own lock, never taken while
    /// `inner` is held).
    pub(crate) portfolios: Mutex<Portfolios>,
    /// Media, resumable uploads and handles ([`crate::media`]; their own lock, never taken
    /// while `inner` is held).
    pub(crate) media: Mutex<MediaStore>,
    next_delivery_id: AtomicU64,
    /// Webhook posts in flight at once ([`MAX_WEBHOOK_POSTS`]); the others wait.
    pub(crate) webhook_posts: tokio::sync::Semaphore,
}

impl SimState {
    /// A simulator state on the system clock.
    pub fn new(config: SimulatorConfig) -> anyhow::Result<Arc<SimState>> {
        SimState::with_clock(config, Arc::new(SystemClock))
    }

    /// A simulator state on `clock` (tests inject a manual one).
    pub fn with_clock(
        config: SimulatorConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<SimState>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent("facebookexternalua")
            .build()?;
        let inner = Inner {
            delays: config.status_delays,
            default_throughput: config.default_throughput_mps,
            ..Inner::default()
        };
        let templates = Mutex::new(TemplateStore::new(config.template_review_delay_ms));
        let media = Mutex::new(MediaStore::new(&config));
        Ok(Arc::new(SimState {
            media,
            templates,
            config,
            clock: SimClock::new(clock),
            inner: Mutex::new(inner),
            throughput: Throughput::default(),
            pair_limit: PairLimit::default(),
            http,
            tasks: Tasks::default(),
            portfolios: Mutex::new(Portfolios::default()),
            next_delivery_id: AtomicU64::new(1),
            webhook_posts: tokio::sync::Semaphore::new(MAX_WEBHOOK_POSTS),
        }))
    }

    /// Adds a phone number, or replaces the one with the same `phone_number_id`. Pending
    /// webhook retries use the new URL and secret from their next attempt on. A WABA the
    /// simulator had not seen starts with Meta's sample template, `hello_world`.
    pub fn add_phone_number(&self, p: PhoneNumberConfig) {
        let waba_id = p.waba_id.clone();
        self.inner
            .lock()
            .phones
            .insert(p.phone_number_id.clone(), p);
        let now = self.now_ms();
        self.templates.lock().ensure_waba(&waba_id, now);
    }

    /// The phone numbers of WABA `waba_id`, secrets included, ordered by id.
    pub(crate) fn waba_numbers(&self, waba_id: &str) -> Vec<PhoneNumberConfig> {
        let mut out: Vec<PhoneNumberConfig> = self
            .inner
            .lock()
            .phones
            .values()
            .filter(|p| p.waba_id == waba_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.phone_number_id.cmp(&b.phone_number_id));
        out
    }

    /// Every phone number, secrets included, ordered by id.
    pub(crate) fn all_numbers(&self) -> Vec<PhoneNumberConfig> {
        let mut out: Vec<PhoneNumberConfig> = self.inner.lock().phones.values().cloned().collect();
        out.sort_by(|a, b| a.phone_number_id.cmp(&b.phone_number_id));
        out
    }

    /// The phone numbers, without their secrets, ordered by id.
    pub fn phone_numbers(&self) -> Vec<PhoneNumberView> {
        let inner = self.inner.lock();
        let mut out: Vec<PhoneNumberView> = inner
            .phones
            .values()
            .map(|p| PhoneNumberView {
                phone_number_id: p.phone_number_id.clone(),
                display_phone_number: p.display_phone_number.clone(),
                waba_id: p.waba_id.clone(),
                webhook_url: p.webhook_url.clone(),
                throughput_mps: p.throughput_mps.unwrap_or(inner.default_throughput),
            })
            .collect();
        out.sort_by(|a, b| a.phone_number_id.cmp(&b.phone_number_id));
        out
    }

    /// One phone number, secrets included.
    pub fn phone_number(&self, phone_number_id: &str) -> Option<PhoneNumberConfig> {
        self.inner.lock().phones.get(phone_number_id).cloned()
    }

    /// The messages accepted from `phone_number_id`, oldest first.
    pub fn received(&self, phone_number_id: &str) -> Vec<ReceivedMessage> {
        self.inner
            .lock()
            .received
            .get(phone_number_id)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The messages accepted from every number, oldest first.
    pub fn all_received(&self) -> Vec<ReceivedMessage> {
        let inner = self.inner.lock();
        let mut all: Vec<ReceivedMessage> = inner.received.values().flatten().cloned().collect();
        all.sort_by_key(|m| m.received_at_ms);
        all
    }

    /// How many messages `phone_number_id` has had accepted (not capped).
    pub fn received_count(&self, phone_number_id: &str) -> u64 {
        let inner = self.inner.lock();
        inner
            .received_counts
            .get(phone_number_id)
            .copied()
            .unwrap_or(0)
    }

    /// Holds `accepted` when template `template_id` is paced (`None`: held); else gives it
    /// back, for its statuses.
    pub(crate) fn hold_if_paced(
        &self,
        template_id: &str,
        accepted: crate::accepted::Accepted,
    ) -> Option<crate::accepted::Accepted> {
        let mut inner = self.inner.lock();
        match inner.paced.get_mut(template_id) {
            Some(held) => {
                held.push(accepted);
                None
            }
            None => Some(accepted),
        }
    }

    /// Starts pacing template `template_id`; whether it was not paced yet.
    pub(crate) fn start_pacing(&self, template_id: &str) -> bool {
        let mut inner = self.inner.lock();
        if inner.paced.contains_key(template_id) {
            return false;
        }
        inner.paced.insert(template_id.to_string(), Vec::new());
        true
    }

    /// Stops pacing template `template_id`: the sends it held (`None` if it was not paced).
    pub(crate) fn stop_pacing(&self, template_id: &str) -> Option<Vec<crate::accepted::Accepted>> {
        self.inner.lock().paced.remove(template_id)
    }

    /// Messages accepted from `phone_number_id` per second (Unix seconds) since `since`
    /// (seconds), oldest first: the last day's at most.
    pub fn received_per_second(&self, phone_number_id: &str, since: i64) -> Vec<(i64, u32)> {
        let inner = self.inner.lock();
        inner
            .received_per_second
            .get(phone_number_id)
            .map(|s| s.range(since..).map(|(s, n)| (*s, *n)).collect())
            .unwrap_or_default()
    }

    /// The user messages injected for `phone_number_id` (all numbers if `None`), oldest first.
    pub fn inbound_messages(&self, phone_number_id: Option<&str>) -> Vec<InboundRecord> {
        let inner = self.inner.lock();
        inner
            .inbound_order
            .iter()
            .filter_map(|w| inner.inbound.get(w))
            .filter(|r| phone_number_id.is_none_or(|p| p == r.phone_number_id))
            .cloned()
            .collect()
    }

    /// Replaces the faults in force (rates are clamped into `0..=1`).
    pub fn set_faults(&self, f: Faults) {
        self.inner.lock().faults = f.clamped();
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.inner.lock().faults.clone()
    }

    /// Sets the status delays of messages accepted from now on.
    pub fn set_status_delays(&self, d: StatusDelays) {
        self.inner.lock().delays = d;
    }

    /// The status delays in force.
    pub fn status_delays(&self) -> StatusDelays {
        self.inner.lock().delays
    }

    /// Sets the throughput limit of numbers that do not set their own.
    pub fn set_default_throughput(&self, mps: u32) {
        self.inner.lock().default_throughput = mps;
    }

    /// The throughput limit of numbers that do not set their own.
    pub fn default_throughput(&self) -> u32 {
        self.inner.lock().default_throughput
    }

    /// Turns Meta's policies on or off.
    pub fn set_enforcement(&self, e: Enforcement) {
        self.inner.lock().enforcement = e;
    }

    /// The policies enforced.
    pub fn enforcement(&self) -> Enforcement {
        self.inner.lock().enforcement
    }

    /// Moves the simulator's clock forward by `seconds`; returns the total offset in seconds.
    pub fn advance_clock(&self, seconds: i64) -> i64 {
        self.clock.advance_ms(seconds.saturating_mul(1000)) / 1000
    }

    /// Now, by the simulator's clock (Unix ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Every webhook delivery attempt still in the log, oldest first.
    pub fn webhook_log(&self) -> Vec<WebhookAttempt> {
        self.inner.lock().webhook_log.iter().cloned().collect()
    }

    /// Stops every background task (status timers, webhook retries) and waits for them.
    pub async fn stop_background(&self) {
        self.tasks.stop(Duration::from_secs(10)).await;
    }

    /// Background tasks still running: status timers and webhook deliveries (including those
    /// waiting to retry). Zero means nothing more will be sent.
    pub fn background_tasks(&self) -> usize {
        self.tasks.active()
    }

    /// Puts a number in maintenance until `until` (ms), or (`None`) ends it.
    pub(crate) fn set_maintenance(&self, phone_number_id: &str, until: Option<i64>) {
        let mut inner = self.inner.lock();
        match until {
            Some(u) => inner.maintenance.insert(phone_number_id.to_string(), u),
            None => inner.maintenance.remove(phone_number_id),
        };
    }

    /// Whether a number is in maintenance now (its sends answer 131057).
    pub(crate) fn in_maintenance(&self, phone_number_id: &str) -> bool {
        let now = self.now_ms();
        self.inner
            .lock()
            .maintenance
            .get(phone_number_id)
            .is_some_and(|until| now < *until)
    }

    pub(crate) fn throughput_of(&self, p: &PhoneNumberConfig) -> u32 {
        p.throughput_mps
            .unwrap_or_else(|| self.default_throughput())
    }

    pub(crate) fn record_received(&self, m: ReceivedMessage) {
        let mut inner = self.inner.lock();
        *inner
            .received_counts
            .entry(m.phone_number_id.clone())
            .or_default() += 1;
        let second = m.received_at_ms.div_euclid(1000);
        let seconds = inner
            .received_per_second
            .entry(m.phone_number_id.clone())
            .or_default();
        *seconds.entry(second).or_default() += 1;
        // A day of seconds at most.
        if seconds.len() > 86_400 {
            let keep = seconds.split_off(&(second - 86_400));
            *seconds = keep;
        }
        let q = inner.received.entry(m.phone_number_id.clone()).or_default();
        if q.len() >= MAX_RECEIVED_PER_NUMBER {
            q.pop_front();
        }
        q.push_back(m);
    }

    /// Records a user message. `window` says whether it opens the customer service window
    /// (a system message does not), `referral` whether it came from an ad or page button.
    pub(crate) fn record_inbound(&self, r: InboundRecord, window: bool, referral: bool) {
        let mut inner = self.inner.lock();
        for user in [&r.from, &r.from_user_id].into_iter().flatten() {
            let k = key(&r.phone_number_id, user);
            if !window {
                continue;
            }
            // A message from a number another user left: the number has a new owner.
            inner.changed_numbers.remove(&k);
            inner.last_inbound.insert(k.clone(), r.sent_at_ms);
            if referral {
                inner.referral_inbound.insert(k, r.sent_at_ms);
            } else {
                inner.referral_inbound.remove(&k);
            }
        }
        inner.inbound_order.push(r.wamid.clone());
        inner.inbound.insert(r.wamid.clone(), r);
    }

    /// The user `old` of `phone_number_id` changed number to `new`: what the simulator knows
    /// of them (window, entry point, marketing preference) moves to the new number, and
    /// messages to the old one fail as undeliverable.
    pub(crate) fn change_number(&self, phone_number_id: &str, old: &str, new: &str) {
        let mut inner = self.inner.lock();
        let (old_k, new_k) = (key(phone_number_id, old), key(phone_number_id, new));
        if let Some(t) = inner.last_inbound.remove(&old_k) {
            inner.last_inbound.insert(new_k.clone(), t);
        }
        if let Some(t) = inner.referral_inbound.remove(&old_k) {
            inner.referral_inbound.insert(new_k.clone(), t);
        }
        if let Some(w) = inner.entry_points.remove(&old_k) {
            inner.entry_points.insert(new_k.clone(), w);
        }
        if inner.marketing_stopped.remove(&old_k) {
            inner.marketing_stopped.insert(new_k.clone());
        }
        inner.changed_numbers.remove(&new_k);
        inner.changed_numbers.insert(old_k, new.to_string());
    }

    /// The number `user` changed to, if the user of that number changed it.
    pub fn changed_number(&self, phone_number_id: &str, user: &str) -> Option<String> {
        self.inner
            .lock()
            .changed_numbers
            .get(&key(phone_number_id, user))
            .cloned()
    }

    /// Records a `user_preferences` change for the user known by `users` (wa_id, BSUID).
    pub(crate) fn set_marketing_stopped(&self, phone_number_id: &str, users: &[&str], stop: bool) {
        let mut inner = self.inner.lock();
        for user in users {
            let k = key(phone_number_id, user);
            if stop {
                inner.marketing_stopped.insert(k);
            } else {
                inner.marketing_stopped.remove(&k);
            }
        }
    }

    /// Whether `user` stopped marketing messages from `phone_number_id`.
    pub fn marketing_stopped(&self, phone_number_id: &str, user: &str) -> bool {
        self.inner
            .lock()
            .marketing_stopped
            .contains(&key(phone_number_id, user))
    }

    /// Whether `user` reached the marketing cap `cap` at `now` (its marketing templates of the
    /// last 24 hours); when not, this template counts as received.
    pub fn marketing_capped(&self, user: &str, cap: u32, now: i64) -> bool {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let mut inner = self.inner.lock();
        let got = inner
            .marketing_received
            .entry(user.to_string())
            .or_default();
        while got.front().is_some_and(|t| *t <= now - DAY_MS) {
            got.pop_front();
        }
        if got.len() >= cap as usize {
            return true;
        }
        got.push_back(now);
        false
    }

    /// Sets the category of template `name` (templates not set are marketing).
    pub fn set_template_category(&self, name: &str, category: TemplateCategory) {
        self.inner
            .lock()
            .template_categories
            .insert(name.to_string(), category);
    }

    /// The category of template `name` set through [`SimState::set_template_category`]
    /// (marketing when none was set).
    pub fn template_category(&self, name: &str) -> TemplateCategory {
        self.template_category_set(name).unwrap_or_default()
    }

    /// The category set for template `name`, if one was.
    pub(crate) fn template_category_set(&self, name: &str) -> Option<TemplateCategory> {
        self.inner.lock().template_categories.get(name).copied()
    }

    /// Every template category set, by name.
    pub fn template_categories(&self) -> Vec<(String, TemplateCategory)> {
        let mut all: Vec<_> = self
            .inner
            .lock()
            .template_categories
            .iter()
            .map(|(n, c)| (n.clone(), *c))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The free entry point window of `user`, open or not.
    pub fn entry_point_window(
        &self,
        phone_number_id: &str,
        user: &str,
    ) -> Option<EntryPointWindow> {
        self.inner
            .lock()
            .entry_points
            .get(&key(phone_number_id, user))
            .cloned()
    }

    /// The free entry point window open at `now` for a message the business sends to
    /// `user`. The business's first answer within 24 hours of a user message that carried a
    /// `referral` opens one (for 72 hours).
    pub(crate) fn entry_point_for_send(
        &self,
        phone_number_id: &str,
        user: &str,
        now: i64,
    ) -> Option<EntryPointWindow> {
        let k = key(phone_number_id, user);
        let mut inner = self.inner.lock();
        if let Some(w) = inner.entry_points.get(&k)
            && now < w.expires_at_ms
        {
            return Some(w.clone());
        }
        let referred = inner.referral_inbound.get(&k).copied()?;
        if now - referred > SERVICE_WINDOW_MS {
            return None;
        }
        inner.referral_inbound.remove(&k);
        let w = EntryPointWindow {
            conversation_id: crate::ids::conversation_id(),
            opened_at_ms: now,
            expires_at_ms: now + ENTRY_POINT_WINDOW_MS,
        };
        inner.entry_points.insert(k, w.clone());
        Some(w)
    }

    /// When `user` last wrote to `phone_number_id` (Unix ms, simulator clock).
    pub fn last_inbound(&self, phone_number_id: &str, user: &str) -> Option<i64> {
        self.inner
            .lock()
            .last_inbound
            .get(&key(phone_number_id, user))
            .copied()
    }

    /// Whether `user`'s customer service window with `phone_number_id` is open at `now`
    /// (Unix ms, simulator clock).
    pub fn in_service_window(&self, phone_number_id: &str, user: &str, now: i64) -> bool {
        self.last_inbound(phone_number_id, user)
            .is_some_and(|last| now - last <= SERVICE_WINDOW_MS)
    }

    /// Marks an inbound message read; `false` if `phone_number_id` never received `wamid`.
    pub(crate) fn mark_read(&self, phone_number_id: &str, wamid: &str, typing: bool) -> bool {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        match inner.inbound.get_mut(wamid) {
            Some(r) if r.phone_number_id == phone_number_id => {
                r.read_at_ms.get_or_insert(now);
                r.typing_indicator |= typing;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn log_attempt(&self, a: WebhookAttempt) {
        let mut inner = self.inner.lock();
        if inner.webhook_log.len() >= MAX_WEBHOOK_LOG {
            inner.webhook_log.pop_front();
        }
        inner.webhook_log.push_back(a);
    }

    pub(crate) fn next_delivery_id(&self) -> u64 {
        self.next_delivery_id.fetch_add(1, Ordering::Relaxed)
    }
}
