//! What happens to an accepted message afterwards: its status webhooks. Normally `sent`,
//! `delivered` and (if the user reads it) `read`, each after its configured delay; a message
//! that fails asynchronously (injected, outside the 24-hour window when that is enforced, a
//! marketing template to a user who stopped them, a number its user left) gets one `failed`
//! status with Meta's error instead. Faults decided when the message was accepted may drop
//! statuses, duplicate webhooks, or deliver them in reverse order.
//!
//! Pricing (on `sent` and `delivered`, reference §3.4 and §6), decided when the message is
//! accepted: inside a free entry point window everything is `free_entry_point` /
//! `referral_conversion` and the status carries the window's `conversation`; otherwise
//! non-template messages are `free_customer_service` / `service`, utility templates inside
//! the customer service window `free_customer_service` / `utility`, and every other template
//! `regular` with its category: the one set through `/_simulator/template-categories`, else
//! the stored template's, else marketing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use openbsp_wire::Recipient;
use openbsp_wire::webhook::WebhookContact;

use crate::clock::unix_seconds_string;
use crate::config::StatusDelays;
use crate::envelope::{self, Conversation, Origin, Pricing, StatusOut};
use crate::records::{TemplateCategory, WebhookKind};
use crate::state::SimState;
use crate::webhooks;

pub(crate) use crate::accepted::{Accepted, Billing};

/// How a message accepted at `now` for `user` is priced; `template` is the category of a
/// template message (`None` for anything else). Opens a free entry point window when the
/// message is the business's first answer to a user who came from an ad.
pub(crate) fn billing(
    state: &SimState,
    phone_number_id: &str,
    user: &str,
    template: Option<TemplateCategory>,
    now: i64,
) -> Billing {
    if let Some(w) = state.entry_point_for_send(phone_number_id, user, now) {
        return Billing {
            pricing: Pricing::free_entry_point(),
            entry_point: Some(w),
        };
    }
    let in_window = state.in_service_window(phone_number_id, user, now);
    let pricing = match template {
        None => Pricing::free_service(),
        Some(TemplateCategory::Utility) if in_window => Pricing::free_customer_service("utility"),
        Some(c) => Pricing::regular(c.as_str()),
    };
    Billing {
        pricing,
        entry_point: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sent => "sent",
            Kind::Delivered => "delivered",
            Kind::Read => "read",
            Kind::Failed => "failed",
        }
    }
}

/// One status: when it is delivered (`slot_ms` after acceptance), and when it happened
/// (`event_ms`, which differs from the slot only when statuses are reordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    slot_ms: u64,
    event_ms: u64,
    kind: Kind,
}

fn plan(delays: &StatusDelays, failed: bool, reorder: bool) -> Vec<Step> {
    let mut events: Vec<(u64, Kind)> = if failed {
        vec![(delays.sent_ms, Kind::Failed)]
    } else {
        let delivered = delays.delivered_ms.max(delays.sent_ms);
        let mut v = vec![(delays.sent_ms, Kind::Sent), (delivered, Kind::Delivered)];
        if let Some(read) = delays.read_ms {
            v.push((read.max(delivered), Kind::Read));
        }
        v
    };
    let slots: Vec<u64> = events.iter().map(|(t, _)| *t).collect();
    if reorder {
        events.reverse();
    }
    slots
        .into_iter()
        .zip(events)
        .map(|(slot_ms, (event_ms, kind))| Step {
            slot_ms,
            event_ms,
            kind,
        })
        .collect()
}

/// Starts emitting the statuses of `msg`.
pub(crate) fn schedule(state: &Arc<SimState>, msg: Accepted) {
    let faults = state.faults();
    let steps = plan(
        &state.status_delays(),
        msg.failure.is_some(),
        faults.reorder_statuses,
    );
    let dropped: Vec<bool> = {
        let mut rng = rand::rng();
        steps
            .iter()
            .map(|_| rng.random_bool(faults.drop_status_rate))
            .collect()
    };
    let st = state.clone();
    state.tasks.spawn(async move {
        let start = Instant::now();
        for (step, dropped) in steps.into_iter().zip(dropped) {
            let due = start + Duration::from_millis(step.slot_ms);
            if !st.tasks.sleep(due.saturating_duration_since(Instant::now())).await {
                return;
            }
            if dropped {
                tracing::debug!(wamid = %msg.wamid, status = step.kind.name(), "status dropped (fault)");
                continue;
            }
            emit(&st, &msg, step);
        }
    });
}

fn emit(state: &Arc<SimState>, msg: &Accepted, step: Step) {
    let skew = i64::try_from(step.event_ms).unwrap_or(i64::MAX)
        - i64::try_from(step.slot_ms).unwrap_or(i64::MAX);
    let timestamp = unix_seconds_string(state.now_ms().saturating_add(skew));
    let (recipient_id, recipient_user_id) = match &msg.recipient {
        Recipient::WaId(w) => (Some(w.clone()), None),
        Recipient::UserId(u) => (None, Some(u.clone())),
    };
    let status = StatusOut {
        id: msg.wamid.clone(),
        status: step.kind.name(),
        timestamp,
        recipient_id,
        recipient_user_id: recipient_user_id.clone(),
        biz_opaque_callback_data: msg.callback_data.clone(),
        conversation: msg
            .billing
            .as_ref()
            .and_then(|b| b.entry_point.as_ref())
            .filter(|_| matches!(step.kind, Kind::Sent | Kind::Delivered))
            .map(|w| Conversation {
                id: w.conversation_id.clone(),
                expiration_timestamp: (step.kind == Kind::Sent)
                    .then(|| unix_seconds_string(w.expires_at_ms)),
                origin: Origin {
                    kind: "referral_conversion",
                },
            }),
        pricing: msg
            .billing
            .as_ref()
            .filter(|_| matches!(step.kind, Kind::Sent | Kind::Delivered))
            .map(|b| b.pricing.clone()),
        errors: match (&msg.failure, step.kind) {
            (Some(e), Kind::Failed) => vec![envelope::status_error(e)],
            _ => vec![],
        },
    };
    // BSUID recipients get a `contacts[]` on their statuses, except on `failed`.
    let contacts: Vec<WebhookContact> = match recipient_user_id {
        Some(user_id) if step.kind != Kind::Failed => vec![WebhookContact {
            user_id: Some(user_id),
            ..WebhookContact::default()
        }],
        _ => vec![],
    };
    let body = envelope::status_body(&msg.phone, &contacts, &status);
    webhooks::enqueue(state, &msg.phone.phone_number_id, WebhookKind::Status, body);
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: StatusDelays = StatusDelays {
        sent_ms: 50,
        delivered_ms: 300,
        read_ms: Some(1000),
    };

    fn kinds(steps: &[Step]) -> Vec<Kind> {
        steps.iter().map(|s| s.kind).collect()
    }

    #[test]
    fn normal_plan_is_sent_delivered_read() {
        let p = plan(&D, false, false);
        assert_eq!(kinds(&p), [Kind::Sent, Kind::Delivered, Kind::Read]);
        assert!(p.iter().all(|s| s.slot_ms == s.event_ms));
        let never_read = StatusDelays { read_ms: None, ..D };
        assert_eq!(
            kinds(&plan(&never_read, false, false)),
            [Kind::Sent, Kind::Delivered]
        );
    }

    #[test]
    fn reordered_plan_keeps_event_times() {
        let p = plan(&D, false, true);
        assert_eq!(kinds(&p), [Kind::Read, Kind::Delivered, Kind::Sent]);
        assert_eq!((p[0].slot_ms, p[0].event_ms), (50, 1000));
        assert_eq!((p[2].slot_ms, p[2].event_ms), (1000, 50));
    }

    #[test]
    fn failure_is_a_single_failed_status_and_delays_are_monotone() {
        assert_eq!(kinds(&plan(&D, true, true)), [Kind::Failed]);
        let odd = StatusDelays {
            sent_ms: 100,
            delivered_ms: 10,
            read_ms: Some(5),
        };
        let p = plan(&odd, false, false);
        assert!(p.windows(2).all(|w| w[0].slot_ms <= w[1].slot_ms));
    }
}
