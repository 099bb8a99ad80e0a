//! Message status and the rule that statuses never move backwards.

use serde::{Deserialize, Serialize};

/// The life of a message. Outbound: accepted → queued → sent → delivered → read (→ played),
/// or failed. Inbound messages are `received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Validated and durably queued.
    Queued,
    /// Meta accepted the request (it answered with a `wamid`).
    Accepted,
    /// Meta sent it to WhatsApp's servers.
    Sent,
    /// On the user's phone.
    Delivered,
    /// Read.
    Read,
    /// First play of a voice note.
    Played,
    /// Failed, with Meta's error. Final.
    Failed,
    /// Inbound message stored.
    Received,
}

impl MessageStatus {
    /// All statuses, for metrics.
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Accepted,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Played,
        MessageStatus::Failed,
        MessageStatus::Received,
    ];

    /// The status's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Accepted => "accepted",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Played => "played",
            MessageStatus::Failed => "failed",
            MessageStatus::Received => "received",
        }
    }

    /// Parses a stored or webhook status name.
    pub fn parse(s: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Order on the way to the user; `failed` outranks everything.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Received => 0,
            MessageStatus::Queued => 1,
            MessageStatus::Accepted => 2,
            MessageStatus::Sent => 3,
            MessageStatus::Delivered => 4,
            MessageStatus::Read => 5,
            MessageStatus::Played => 6,
            MessageStatus::Failed => 100,
        }
    }

    /// Whether no later status can replace this one.
    pub fn is_final(self) -> bool {
        self == MessageStatus::Failed
    }

    /// The status a message moves to when `incoming` arrives while it is `self`: `None` if it
    /// stays where it is (a late `delivered` after `read`, anything after `failed`).
    pub fn advance(self, incoming: MessageStatus) -> Option<MessageStatus> {
        if self.is_final() || incoming.rank() <= self.rank() {
            None
        } else {
            Some(incoming)
        }
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;

    #[test]
    fn statuses_never_move_backwards() {
        assert_eq!(Queued.advance(Sent), Some(Sent));
        assert_eq!(Sent.advance(Read), Some(Read));
        assert_eq!(Read.advance(Delivered), None);
        assert_eq!(Read.advance(Read), None);
        assert_eq!(Delivered.advance(Failed), Some(Failed));
        assert_eq!(Failed.advance(Read), None);
        assert_eq!(Failed.advance(Failed), None);
    }

    #[test]
    fn names_round_trip() {
        for s in super::MessageStatus::ALL {
            assert_eq!(super::MessageStatus::parse(s.as_str()), Some(s));
        }
    }
}
