//! What replicas sharing a database know of each other: whether this one leads
//! ([`crate::leader`] takes and renews the lease) and the notices they send one another
//! ([`crate::notices`] publishes and hears them).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tokio::sync::mpsc;

use super::SendOutcome;

/// Whether this replica leads.
#[derive(Debug, Default)]
pub struct Leadership {
    held: AtomicBool,
    /// The term of the holding, while held.
    pub(crate) term: AtomicI64,
}

impl Leadership {
    /// Whether this replica holds the leader lease now.
    pub fn is_leader(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Records whether this replica holds the lease; whether that changed.
    pub(crate) fn set(&self, held: bool) -> bool {
        self.held.swap(held, Ordering::AcqRel) != held
    }
}

/// What one replica tells the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A send was queued (or came due) on this channel.
    Send(String),
    /// Meta's answer to this message.
    Outcome(String, SendOutcome),
    /// A payload from Meta was stored.
    Inbox,
    /// Tenants' settings changed (a channel, an app, a key, a template): cached copies are
    /// stale.
    Changed,
}

impl Notice {
    /// Its text on the wire.
    pub fn encode(&self) -> String {
        match self {
            Notice::Send(ch) => format!("send:{ch}"),
            Notice::Outcome(
                id,
                SendOutcome::Accepted {
                    wamid,
                    message_status: None,
                },
            ) => format!("sent:{id}:{wamid}"),
            // A kind of its own: a replica of an older version ignores it and finds the wamid
            // in the store instead of taking the status for part of the wamid.
            Notice::Outcome(
                id,
                SendOutcome::Accepted {
                    wamid,
                    message_status: Some(status),
                },
            ) => format!("sent_as:{id}:{status}:{wamid}"),
            Notice::Outcome(id, SendOutcome::Failed(err)) => format!("failed:{id}:{err}"),
            Notice::Inbox => "inbox".to_string(),
            Notice::Changed => "changed".to_string(),
        }
    }

    /// A notice from its text; `None` for one this version does not know.
    pub fn decode(s: &str) -> Option<Notice> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "send" if !rest.is_empty() => Some(Notice::Send(rest.to_string())),
            "sent" => {
                let (id, wamid) = rest.split_once(':')?;
                Some(Notice::Outcome(
                    id.to_string(),
                    SendOutcome::Accepted {
                        wamid: wamid.to_string(),
                        message_status: None,
                    },
                ))
            }
            "sent_as" => {
                let mut parts = rest.splitn(3, ':');
                let (id, status, wamid) = (parts.next()?, parts.next()?, parts.next()?);
                Some(Notice::Outcome(
                    id.to_string(),
                    SendOutcome::Accepted {
                        wamid: wamid.to_string(),
                        message_status: Some(status.to_string()),
                    },
                ))
            }
            "failed" => {
                let (id, err) = rest.split_once(':')?;
                Some(Notice::Outcome(
                    id.to_string(),
                    SendOutcome::Failed(serde_json::from_str(err).ok()?),
                ))
            }
            "inbox" => Some(Notice::Inbox),
            "changed" => Some(Notice::Changed),
            _ => None,
        }
    }
}

/// Where the core drops notices for the publishing task (a no-op where the store has no
/// other replicas).
pub struct Publisher {
    tx: Option<mpsc::UnboundedSender<String>>,
    /// Held by the task that publishes, and left here when it stops (a panic included), so
    /// that the task started again in its place finds it.
    rx: Option<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>,
}

impl Publisher {
    /// A publisher, enabled when the store carries notices.
    pub fn new(enabled: bool) -> Publisher {
        if !enabled {
            return Publisher { tx: None, rx: None };
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Publisher {
            tx: Some(tx),
            rx: Some(tokio::sync::Mutex::new(rx)),
        }
    }

    /// The notices dropped so far and from now on, for the one task that publishes them
    /// (`None` when the store carries no notices).
    pub(crate) fn receiver(&self) -> Option<&tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>> {
        self.rx.as_ref()
    }

    /// Publishes `notice` soon (never waits).
    pub fn publish(&self, notice: Notice) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(notice.encode());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip() {
        for n in [
            Notice::Send("chn_1".into()),
            Notice::Outcome(
                "msg_1".into(),
                SendOutcome::Accepted {
                    wamid: "wamid.HBg:x".into(),
                    message_status: None,
                },
            ),
            Notice::Outcome(
                "msg_2".into(),
                SendOutcome::Accepted {
                    wamid: "wamid.HBg:y".into(),
                    message_status: Some("held_for_quality_assessment".into()),
                },
            ),
            Notice::Outcome(
                "msg_2".into(),
                SendOutcome::Failed(serde_json::json!({"code": 131026, "message": "a:b"})),
            ),
            Notice::Inbox,
            Notice::Changed,
        ] {
            assert_eq!(Notice::decode(&n.encode()), Some(n));
        }
        assert_eq!(Notice::decode("later:thing"), None);
        assert_eq!(Notice::decode("send:"), None);
    }
}
