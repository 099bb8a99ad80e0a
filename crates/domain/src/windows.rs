//! WhatsApp's messaging windows (reference `cloud-api.md` §5.1) and the send policy they
//! decide, as pure functions of the window's timestamps and `now` (all Unix milliseconds).
//!
//! - **Customer service window (CSW)**: each message (or call) from the user opens or renews
//!   24 hours. Inside it the business may send anything; outside it only templates (Meta
//!   answers 131047 otherwise). A window opened at `t` is open for `t <= now < t + 24 h`.
//! - **Free entry point window (FEP)**: when the user came from a Click-to-WhatsApp ad or a
//!   page button, a business reply within 24 hours of that message opens 72 hours in which
//!   every message is free. Free-form messages still need an open CSW.
//! - **Marketing opt-out**: a user who opted out of marketing gets no marketing template
//!   (Meta answers 131050).

/// 24 hours: the customer service window.
pub const CSW_MS: i64 = 24 * 3_600_000;
/// 72 hours: the free entry point window.
pub const FEP_MS: i64 = 72 * 3_600_000;
/// 24 hours: how long after an entry-point message a reply still opens the FEP window.
pub const FEP_REPLY_MS: i64 = 24 * 3_600_000;

/// When a CSW opened by a message at `last_inbound_at` ends.
pub fn csw_expires_at(last_inbound_at: i64) -> i64 {
    last_inbound_at.saturating_add(CSW_MS)
}

/// Whether the CSW is open at `now`.
pub fn csw_open(last_inbound_at: Option<i64>, now: i64) -> bool {
    last_inbound_at.is_some_and(|t| now < csw_expires_at(t))
}

/// Whether the FEP window is open at `now`.
pub fn fep_open(fep_expires_at: Option<i64>, now: i64) -> bool {
    fep_expires_at.is_some_and(|t| now < t)
}

/// The timestamps of one (channel, contact) window, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowTimes {
    /// The user's last message.
    pub last_inbound_at: Option<i64>,
    /// The user's last message from an ad or page button.
    pub entry_point_at: Option<i64>,
    /// When the current FEP window opened.
    pub fep_opened_at: Option<i64>,
    /// When it ends.
    pub fep_expires_at: Option<i64>,
}

impl WindowTimes {
    /// The end of the FEP window a business message sent at `now` would open: `Some` when
    /// the entry-point message is less than 24 hours old and no FEP window was opened for it.
    pub fn fep_to_open(&self, now: i64) -> Option<i64> {
        let entry = self.entry_point_at?;
        if now < entry || now >= entry.saturating_add(FEP_REPLY_MS) {
            return None;
        }
        if self.fep_opened_at.is_some_and(|opened| opened >= entry) {
            return None;
        }
        Some(now.saturating_add(FEP_MS))
    }
}

/// What is being sent, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendKind {
    /// Anything but a template: needs an open CSW.
    FreeForm,
    /// A template; `marketing` when its category is known to be MARKETING.
    Template {
        /// Known to be a marketing template.
        marketing: bool,
    },
}

/// Why a send is refused before Meta is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A free-form message outside the CSW (Meta's 131047). `closed_at` is when the window
    /// closed, `None` if the user never wrote.
    WindowClosed {
        /// When the last window ended.
        closed_at: Option<i64>,
    },
    /// A marketing template to a user who opted out (Meta's 131050).
    OptedOut {
        /// When they opted out.
        since: i64,
    },
    /// A business-initiated send to a new user when the business portfolio has reached its
    /// messaging limit ([`crate::limits`]): `limit` unique users in the moving 24 hours, the
    /// next place freeing at `until`.
    MessagingLimit {
        /// The portfolio's limit.
        limit: u32,
        /// When the oldest reach leaves the 24 hours.
        until: i64,
    },
}

/// What a send that may go ahead does to the windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowed {
    /// The end of a FEP window this send opens.
    pub open_fep_until: Option<i64>,
    /// Whether the CSW is open (the send is a reply inside it).
    pub in_csw: bool,
}

/// Decides a send at `now` to a user with these windows and marketing opt-out.
pub fn check_send(
    window: &WindowTimes,
    opted_out_since: Option<i64>,
    kind: SendKind,
    now: i64,
) -> Result<Allowed, Refusal> {
    let in_csw = csw_open(window.last_inbound_at, now);
    match kind {
        SendKind::FreeForm if !in_csw => {
            return Err(Refusal::WindowClosed {
                closed_at: window.last_inbound_at.map(csw_expires_at),
            });
        }
        SendKind::Template { marketing: true } => {
            if let Some(since) = opted_out_since {
                return Err(Refusal::OptedOut { since });
            }
        }
        _ => {}
    }
    Ok(Allowed {
        open_fep_until: window.fep_to_open(now),
        in_csw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_750_000_000_000;
    const SECOND: i64 = 1_000;

    fn wrote_at(t: i64) -> WindowTimes {
        WindowTimes {
            last_inbound_at: Some(t),
            ..WindowTimes::default()
        }
    }

    #[test]
    fn the_csw_is_open_until_one_second_before_24_hours_and_closed_at_24_hours() {
        let w = wrote_at(T);
        let free = SendKind::FreeForm;
        assert!(check_send(&w, None, free, T).is_ok());
        assert!(check_send(&w, None, free, T + CSW_MS - SECOND).is_ok());
        assert!(check_send(&w, None, free, T + CSW_MS - 1).is_ok());
        assert_eq!(
            check_send(&w, None, free, T + CSW_MS),
            Err(Refusal::WindowClosed {
                closed_at: Some(T + CSW_MS)
            })
        );
    }

    #[test]
    fn a_user_who_never_wrote_has_no_window() {
        assert_eq!(
            check_send(&WindowTimes::default(), None, SendKind::FreeForm, T),
            Err(Refusal::WindowClosed { closed_at: None })
        );
    }

    #[test]
    fn templates_are_allowed_outside_the_window_unless_marketing_to_an_opted_out_user() {
        let closed = wrote_at(T - 2 * CSW_MS);
        let utility = SendKind::Template { marketing: false };
        let marketing = SendKind::Template { marketing: true };
        assert!(check_send(&closed, None, utility, T).is_ok());
        assert!(check_send(&closed, None, marketing, T).is_ok());
        assert!(check_send(&closed, Some(T - 5), utility, T).is_ok());
        assert_eq!(
            check_send(&closed, Some(T - 5), marketing, T),
            Err(Refusal::OptedOut { since: T - 5 })
        );
        // Opting out of marketing says nothing about replies inside the window.
        assert!(check_send(&wrote_at(T), Some(T - 5), SendKind::FreeForm, T).is_ok());
    }

    #[test]
    fn a_reply_within_24_hours_of_an_ad_entry_opens_72_hours_once() {
        let entry = WindowTimes {
            last_inbound_at: Some(T),
            entry_point_at: Some(T),
            ..WindowTimes::default()
        };
        let at = T + CSW_MS - SECOND;
        let allowed = check_send(&entry, None, SendKind::FreeForm, at).unwrap();
        assert_eq!(allowed.open_fep_until, Some(at + FEP_MS));
        // At 24 hours the reply is too late to open it (and free-form is refused anyway).
        assert_eq!(entry.fep_to_open(T + FEP_REPLY_MS), None);
        // Once opened for this entry, later replies do not move it.
        let opened = WindowTimes {
            fep_opened_at: Some(T + 10),
            fep_expires_at: Some(T + 10 + FEP_MS),
            ..entry
        };
        assert_eq!(opened.fep_to_open(T + 20), None);
        assert!(fep_open(opened.fep_expires_at, T + 10 + FEP_MS - 1));
        assert!(!fep_open(opened.fep_expires_at, T + 10 + FEP_MS));
        // A new entry after that window opens a new one.
        let again = WindowTimes {
            entry_point_at: Some(T + 5 * CSW_MS),
            last_inbound_at: Some(T + 5 * CSW_MS),
            ..opened
        };
        assert_eq!(
            again.fep_to_open(T + 5 * CSW_MS + 1),
            Some(T + 5 * CSW_MS + 1 + FEP_MS)
        );
    }

    #[test]
    fn no_entry_point_no_fep() {
        assert_eq!(wrote_at(T).fep_to_open(T + 1), None);
    }
}
