//! The simulator's operations on business portfolios: which portfolio a number belongs to,
//! the portfolio's messaging limit (changing it sends `business_capability_update`), and the
//! count of users a send reaches ([`crate::messaging_limit`] keeps the count; [`crate::state`]
//! keeps it in the state and sends nothing).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use openbsp_wire::MetaError;
use openbsp_wire::error::codes;

use crate::config::PhoneNumberConfig;
use crate::messaging_limit::MessagingLimit;
use crate::records::WebhookKind;
use crate::state::SimState;
use crate::templates::webhook_targets;

impl SimState {
    /// The business portfolio of a number: the one [`SimState::set_business`] set, else its
    /// WABA id. `None` if there is no such number.
    pub fn business_of(&self, phone_number_id: &str) -> Option<String> {
        let phone = self.phone_number(phone_number_id)?;
        Some(self.portfolios.lock().business_of(&phone))
    }

    /// Puts a number in business portfolio `business_id` (its messaging limit is then that
    /// portfolio's, shared with the portfolio's other numbers). `false` if there is no such
    /// number.
    pub fn set_business(&self, phone_number_id: &str, business_id: &str) -> bool {
        if self.phone_number(phone_number_id).is_none() {
            return false;
        }
        self.portfolios
            .lock()
            .business_of
            .insert(phone_number_id.to_string(), business_id.to_string());
        true
    }

    /// The numbers of portfolio `business_id`, secrets included, ordered by id.
    pub(crate) fn business_numbers(&self, business_id: &str) -> Vec<PhoneNumberConfig> {
        let all = self.all_numbers();
        let portfolios = self.portfolios.lock();
        all.into_iter()
            .filter(|p| portfolios.business_of(p) == business_id)
            .collect()
    }

    /// The messaging limit of portfolio `business_id` (unlimited unless set).
    pub fn messaging_limit(&self, business_id: &str) -> MessagingLimit {
        self.portfolios.lock().tier(business_id)
    }

    /// The messaging limit of the portfolio of a number; `None` if there is no such number.
    pub fn messaging_limit_of(&self, phone_number_id: &str) -> Option<MessagingLimit> {
        let phone = self.phone_number(phone_number_id)?;
        let portfolios = self.portfolios.lock();
        Some(portfolios.tier(&portfolios.business_of(&phone)))
    }

    /// Unique users portfolio `business_id` reached outside their customer service window in
    /// the moving 24 hours up to now (simulator clock).
    pub fn messaging_reach(&self, business_id: &str) -> usize {
        let now = self.now_ms();
        self.portfolios
            .lock()
            .reach
            .get(business_id)
            .map_or(0, |r| r.count(now))
    }

    /// Sets the messaging limit of portfolio `business_id`. When it changes, Meta's
    /// `business_capability_update` goes to every WABA of the portfolio (one webhook per
    /// WABA, through its numbers as other WABA-level webhooks); returns whether it changed.
    pub fn set_messaging_limit(self: &Arc<Self>, business_id: &str, tier: MessagingLimit) -> bool {
        let previous = self
            .portfolios
            .lock()
            .tiers
            .insert(business_id.to_string(), tier)
            .unwrap_or_default();
        if previous == tier {
            return false;
        }
        let wabas: BTreeSet<String> = self
            .business_numbers(business_id)
            .into_iter()
            .map(|p| p.waba_id)
            .collect();
        let time = self.now_ms().div_euclid(1000);
        let n = tier.capability_value();
        for waba_id in wabas {
            let body = crate::envelope::waba_change_body(
                &waba_id,
                time,
                "business_capability_update",
                json!({
                    "max_daily_conversation_per_phone": n,
                    "max_daily_conversations_per_business": n,
                    "max_phone_numbers_per_business": 2,
                    "max_phone_numbers_per_waba": 2,
                }),
            );
            for pnid in webhook_targets(&self.waba_numbers(&waba_id)) {
                crate::webhooks::enqueue(
                    self,
                    &pnid,
                    WebhookKind::BusinessCapability,
                    body.clone(),
                );
            }
        }
        true
    }

    /// Counts a send from `phone` to `user` at `now` against its portfolio's messaging limit:
    /// a user outside their customer service window with `phone`, not reached by the
    /// portfolio within 24 hours, counts; past the limit the send is refused with 131048
    /// (Meta documents no code: see the module's documentation).
    pub(crate) fn reach_user(
        &self,
        phone: &PhoneNumberConfig,
        user: &str,
        now: i64,
    ) -> Result<(), MetaError> {
        if self.in_service_window(&phone.phone_number_id, user, now) {
            return Ok(());
        }
        let mut portfolios = self.portfolios.lock();
        let business = portfolios.business_of(phone);
        let tier = portfolios.tier(&business);
        let reach = portfolios.reach.entry(business.clone()).or_default();
        if reach.admit(user, now, tier.max_users()) {
            return Ok(());
        }
        Err(limit_reached(&business, tier))
    }
}

/// The simulator's answer to a send past the portfolio's messaging limit (Meta documents
/// none): 131048, HTTP 400.
fn limit_reached(business_id: &str, tier: MessagingLimit) -> MetaError {
    let max = tier.max_users().unwrap_or_default();
    MetaError::new(
        codes::SPAM_RATE_LIMIT,
        Some(format!(
            "Message failed to send because the business portfolio {business_id} reached its messaging limit ({tier}: {max} unique users outside the customer service window in a moving 24 hours)."
        )),
    )
}
