//! What the simulator is told: its start-up configuration, the business phone numbers it
//! serves, the status timing and the faults it injects. Everything here is plain data with
//! serde, so that the control API (`/_simulator/...`) and the Rust API share one shape.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Start-up configuration of a simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorConfig {
    /// Where to listen; `127.0.0.1:0` picks a free port (what tests use).
    pub listen: SocketAddr,
    /// When the `sent`, `delivered` and `read` statuses of an accepted message are emitted.
    pub status_delays: StatusDelays,
    /// Throughput limit (messages per second) of numbers that do not set their own; Meta's
    /// default is 80.
    pub default_throughput_mps: u32,
    /// First retry delay of a failed webhook delivery, in ms; doubles on every attempt.
    pub webhook_retry_base_ms: u64,
    /// Longest delay between two attempts of one webhook delivery, in ms.
    pub webhook_retry_max_ms: u64,
    /// How long a webhook delivery is retried before it is given up, in ms (Meta: 7 days).
    pub webhook_retry_for_ms: u64,
    /// How long a submitted or edited template stays `PENDING` before its review ends
    /// (`APPROVED`, or what the review rules say), in ms. Meta takes seconds to hours; the
    /// default is short so that tests are quick.
    pub template_review_delay_ms: u64,
    /// How long the id of an uploaded media works, in seconds of the simulator clock (Meta:
    /// 30 days); sends naming it later fail with 131053.
    pub media_id_ttl_seconds: u64,
    /// How long a media a user sent can be read and downloaded, in seconds of the simulator
    /// clock (Meta: 7 days).
    pub inbound_media_ttl_seconds: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            status_delays: StatusDelays::default(),
            default_throughput_mps: 80,
            webhook_retry_base_ms: 500,
            webhook_retry_max_ms: 30_000,
            webhook_retry_for_ms: 7 * 24 * 3600 * 1000,
            template_review_delay_ms: 20,
            media_id_ttl_seconds: 30 * 24 * 3600,
            inbound_media_ttl_seconds: 7 * 24 * 3600,
        }
    }
}

/// When the statuses of an accepted message are emitted, each measured in milliseconds from
/// the moment the message was accepted (so `sent_ms <= delivered_ms <= read_ms`; a smaller
/// later value is raised to the one before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusDelays {
    /// Delay of `sent` (default 50 ms).
    pub sent_ms: u64,
    /// Delay of `delivered` (default 300 ms).
    pub delivered_ms: u64,
    /// Delay of `read` (default 1000 ms); `None`: the user never reads it.
    #[serde(default)]
    pub read_ms: Option<u64>,
}

impl Default for StatusDelays {
    fn default() -> Self {
        StatusDelays {
            sent_ms: 50,
            delivered_ms: 300,
            read_ms: Some(1000),
        }
    }
}

/// A business phone number the simulator serves, with its credentials and webhook target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberConfig {
    /// Meta's phone number id (the `{phone_number_id}` path segment).
    pub phone_number_id: String,
    /// The number itself, digits (`metadata.display_phone_number` in webhooks).
    pub display_phone_number: String,
    /// The WhatsApp Business Account id (`entry[].id` in webhooks).
    pub waba_id: String,
    /// The bearer token the Graph routes require for this number.
    pub access_token: String,
    /// The app secret webhooks are signed with (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// Where webhooks go; deliveries wait (and retry) while it is unset.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// This number's throughput limit; `None` uses the simulator's default.
    #[serde(default)]
    pub throughput_mps: Option<u32>,
}

/// A phone number as the control API lists it: without its access token and app secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumberView {
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// The number, digits.
    pub display_phone_number: String,
    /// The WABA id.
    pub waba_id: String,
    /// Where webhooks go.
    pub webhook_url: Option<String>,
    /// The throughput limit in force for this number.
    pub throughput_mps: u32,
}

/// Faults injected into the Graph routes and the webhooks. The default injects nothing.
///
/// Rates are probabilities in `0.0..=1.0`, drawn independently for every request, status or
/// webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of valid send requests answered with `error_code` instead of being accepted.
    pub error_rate: f64,
    /// Meta error code of injected send errors (HTTP status per the wire crate: 131000 → 500,
    /// 131026 → 400, ...). Default 131000.
    pub error_code: i64,
    /// Extra latency before every Graph request is answered, in ms.
    pub latency_ms: u64,
    /// Share of status webhooks that are never sent.
    pub drop_status_rate: f64,
    /// Share of webhooks (statuses and inbound messages) delivered twice.
    pub duplicate_webhook_rate: f64,
    /// Deliver the statuses of each message in reverse order (`read` first, `sent` last);
    /// timestamps stay those of the events.
    pub reorder_statuses: bool,
    /// Share of accepted messages that fail asynchronously: a `failed` status carrying
    /// `fail_status_code` instead of `sent`/`delivered`/`read`.
    pub fail_status_rate: f64,
    /// Error code of asynchronous failures (default 131026, undeliverable).
    pub fail_status_code: i64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            error_code: 131000,
            latency_ms: 0,
            drop_status_rate: 0.0,
            duplicate_webhook_rate: 0.0,
            reorder_statuses: false,
            fail_status_rate: 0.0,
            fail_status_code: 131026,
        }
    }
}

impl Faults {
    /// Checks that every rate is a probability; names the first field that is not.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in self.rates() {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        Ok(())
    }

    /// The same faults with every rate forced into `0.0..=1.0` (NaN becomes 0).
    pub fn clamped(mut self) -> Faults {
        for rate in [
            &mut self.error_rate,
            &mut self.drop_status_rate,
            &mut self.duplicate_webhook_rate,
            &mut self.fail_status_rate,
        ] {
            *rate = if rate.is_nan() {
                0.0
            } else {
                rate.clamp(0.0, 1.0)
            };
        }
        self
    }

    fn rates(&self) -> [(&'static str, f64); 4] {
        [
            ("error_rate", self.error_rate),
            ("drop_status_rate", self.drop_status_rate),
            ("duplicate_webhook_rate", self.duplicate_webhook_rate),
            ("fail_status_rate", self.fail_status_rate),
        ]
    }
}

/// Meta policies the simulator can enforce on its own, to catch a gateway that breaks them.
/// Template checks are on by default (Meta always makes them); the 24-hour window and the
/// pair rate limit are off. None applies to mark-as-read (with or without the typing
/// indicator), which is not a message: Meta accepts it whenever the message exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Enforcement {
    /// Non-template messages to a user whose last inbound message is more than 24 hours old
    /// (by the simulator's clock) are accepted and then fail with a `failed` status carrying
    /// 131047, as Meta does. Templates are delivered. (A user's `system` notice of a number
    /// change does not open the window; the window moves to the new number.)
    pub customer_service_window: bool,
    /// Meta's pair rate limit: one message every `pair_period_ms` (6 s) to the same user,
    /// bursts of up to `pair_burst` (45) borrowing from future quota (after a burst of `n` the
    /// pair waits `n` periods from its start); beyond it the send is refused with 131056.
    pub pair_rate_limit: bool,
    /// The pair rate limit's period, ms (Meta: 6,000).
    pub pair_period_ms: u64,
    /// The pair rate limit's largest burst (Meta: 45).
    pub pair_burst: u32,
    /// Template sends are checked against the WABA's templates, as Meta does: a template
    /// that does not exist in that language or is not approved is refused with 132001
    /// (HTTP 404), a paused one with 132015, a disabled one with 132016, and parameters that
    /// do not fit the template with 132000, 132005, 132012 or 132018. On by default; off,
    /// any template name goes.
    pub templates: bool,
    /// Meta's per-user marketing cap: a user receives at most this many marketing templates
    /// (from every business) in a moving 24 hours of the simulator's clock; one more is
    /// accepted and then fails with 131049 ("not delivered to maintain healthy ecosystem
    /// engagement"). 0 (the default): no cap.
    pub marketing_cap: u32,
}

impl Default for Enforcement {
    fn default() -> Self {
        Enforcement {
            customer_service_window: false,
            pair_rate_limit: false,
            pair_period_ms: 6_000,
            pair_burst: 45,
            templates: true,
            marketing_cap: 0,
        }
    }
}

impl Enforcement {
    /// The pair rate limit's rule.
    pub fn pair_rule(&self) -> openbsp_wire::pair::PairRule {
        openbsp_wire::pair::PairRule {
            period_ms: self.pair_period_ms.max(1) as i64,
            burst: self.pair_burst.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_meta() {
        let c = SimulatorConfig::default();
        assert_eq!(c.default_throughput_mps, 80);
        assert_eq!(c.webhook_retry_for_ms, 604_800_000);
        assert_eq!(c.status_delays.read_ms, Some(1000));
        let e = Enforcement::default();
        assert!(e.templates && !e.customer_service_window && !e.pair_rate_limit);
        let parsed: Enforcement = serde_json::from_str(r#"{"pair_rate_limit": true}"#).unwrap();
        assert!(parsed.templates, "omitted fields keep their defaults");
    }

    #[test]
    fn faults_validate_and_clamp() {
        let f = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(f.validate().unwrap_err().contains("error_rate"));
        assert_eq!(f.clamped().error_rate, 1.0);
        let f = Faults {
            drop_status_rate: f64::NAN,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        assert_eq!(f.clamped().drop_status_rate, 0.0);
        let parsed: Faults = serde_json::from_str(r#"{"error_rate": 0.5}"#).unwrap();
        assert_eq!(parsed.error_code, 131000);
        assert!(serde_json::from_str::<Faults>(r#"{"eror_rate": 0.5}"#).is_err());
    }
}
