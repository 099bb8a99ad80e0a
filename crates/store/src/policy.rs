//! The send policy as the store applies it: WhatsApp's windows and the marketing opt-out
//! ([`openbsp_domain::windows`]) over a [`Conversation`], deciding the session a send joins or
//! opens and the free entry point window it opens. Pure.

use openbsp_domain::windows::{self, Refusal, SendKind, WindowTimes};

use crate::model::{ContactWindow, Conversation, SessionSpec};

/// What the policy needs to know of a send besides the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SendCheck {
    /// Free-form, or a template (marketing or not).
    pub kind: SendKind,
    /// The kind of a session this send opens (`service` for free-form; the template's
    /// category, lowercase, when known).
    pub session_kind: Option<String>,
    /// `opened_by` of a session this send opens.
    pub opened_by: String,
    /// The messaging limit of the channel's business portfolio, when it has one: a send
    /// outside the user's window takes a place in it.
    pub reach: Option<Reach>,
}

/// A business portfolio's messaging limit, as a send is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The portfolio ([`crate::model::Channel::portfolio`]).
    pub portfolio: String,
    /// Unique users outside their window in a moving 24 hours; `None` while the tier is not
    /// known (the reach is counted, nothing refused).
    pub limit: Option<u32>,
}

/// Where a send that passed the policy goes.
#[derive(Debug, Clone, PartialEq)]
pub struct SendPlan {
    /// The session it joins, or opens with these properties.
    pub session: SessionSpec,
    /// A free entry point window it opens.
    pub open_fep_until: Option<i64>,
    /// Its priority in the channel's queue ([`crate::priority`]).
    pub priority: i32,
    /// The messaging limit it counts against: a business-initiated send (outside the
    /// user's window) on a number whose portfolio has a limit.
    pub reach: Option<Reach>,
}

/// The window times of a stored window row.
pub fn window_times(w: Option<&ContactWindow>) -> WindowTimes {
    w.map(|w| WindowTimes {
        last_inbound_at: w.last_inbound_at,
        entry_point_at: w.entry_point_at,
        fep_opened_at: w.fep_opened_at,
        fep_expires_at: w.fep_expires_at,
    })
    .unwrap_or_default()
}

/// Decides a send at `now`: refused (131047 outside the window for free-form, 131050 for a
/// marketing template to an opted-out user), or allowed with its session and FEP window.
pub fn plan(
    conversation: &Conversation,
    check: &SendCheck,
    requested: i32,
    now: i64,
) -> Result<SendPlan, Refusal> {
    let times = window_times(conversation.window.as_ref());
    let opted_out = conversation
        .contact
        .as_ref()
        .and_then(|c| c.marketing_opt_out_at);
    let allowed = windows::check_send(&times, opted_out, check.kind, now)?;
    // A session opened by this send lasts as long as the window it is sent in, or a day from
    // now for a template outside the window.
    let expires_at = match times.last_inbound_at {
        Some(t) if allowed.in_csw => windows::csw_expires_at(t),
        _ => now + windows::CSW_MS,
    };
    Ok(SendPlan {
        session: SessionSpec {
            kind: check.session_kind.clone(),
            opened_by: check.opened_by.clone(),
            expires_at,
        },
        open_fep_until: allowed.open_fep_until,
        priority: priority_of(requested, allowed.in_csw),
        reach: if allowed.in_csw {
            None
        } else {
            check.reach.clone()
        },
    })
}

/// A send's place in its channel's queue: a one-to-one send while the user's customer service
/// window is open is a reply, and goes first; bulk traffic stays bulk whatever the window.
pub fn priority_of(requested: i32, in_csw: bool) -> i32 {
    if in_csw && requested < crate::priority::BULK {
        crate::priority::REPLY
    } else {
        requested
    }
}

/// What the messaging limit says of a business-initiated send to `recipient`, given the
/// portfolio's reach in the last 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReachDecision {
    /// Already reached in the 24 hours: it costs nothing more.
    Again,
    /// A new user, with a place left: it takes it.
    Take,
    /// A new user and no place left: the oldest place frees at `until`.
    Full {
        /// When the oldest reach in the window leaves it.
        until: i64,
    },
}

/// The portfolio's reach in the moving 24 hours, as a store reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReachWindow {
    /// Unique users reached since `now - 24 h`.
    pub count: u64,
    /// The oldest `reached_at` among them.
    pub oldest: Option<i64>,
}

/// Decides a send against the limit.
pub fn decide_reach(
    window: &ReachWindow,
    already: bool,
    limit: Option<u32>,
    now: i64,
) -> ReachDecision {
    if already {
        ReachDecision::Again
    } else if limit.is_none_or(|l| window.count < u64::from(l)) {
        ReachDecision::Take
    } else {
        ReachDecision::Full {
            until: window
                .oldest
                .map_or(now, |t| t + openbsp_domain::limits::REACH_WINDOW_MS)
                .max(now + 1),
        }
    }
}

/// A send's fate under the limit: `Ok(None)` goes now, `Ok(Some(until))` is bulk that waits
/// for a place (never refused: a campaign's recipients past the limit wait for the 24 hours to
/// move), and one-to-one sends past the limit are refused, so none is sent to fail at Meta.
pub fn reach_outcome(
    decision: ReachDecision,
    limit: Option<u32>,
    priority: i32,
) -> Result<Option<i64>, Refusal> {
    match decision {
        ReachDecision::Again | ReachDecision::Take => Ok(None),
        ReachDecision::Full { until } if priority >= crate::priority::BULK => Ok(Some(until)),
        ReachDecision::Full { until } => Err(Refusal::MessagingLimit {
            limit: limit.unwrap_or_default(),
            until,
        }),
    }
}
