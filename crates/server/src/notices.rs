//! Notices between replicas ([`openbsp_store::NoticeStore`]: PostgreSQL's `LISTEN/NOTIFY`):
//! a send queued here wakes the channel's sender wherever its lease is, Meta's answer recorded
//! there reaches the Cloud API caller waiting here, a payload stored here wakes the processor
//! that claims it. Published in batches by one task; heard by another. Every worker also
//! polls, so a lost notice only costs time.

use std::collections::BTreeSet;

use tokio::sync::{mpsc, watch};

use crate::core::{Core, SendOutcome};

/// Notices published per statement at most.
const BATCH: usize = 500;

/// What one replica tells the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A send was queued (or came due) on this channel.
    Send(String),
    /// Meta's answer to this message.
    Outcome(String, SendOutcome),
    /// A payload from Meta was stored.
    Inbox,
}

impl Notice {
    /// Its text on the wire.
    pub fn encode(&self) -> String {
        match self {
            Notice::Send(ch) => format!("send:{ch}"),
            Notice::Outcome(id, SendOutcome::Accepted(wamid)) => format!("sent:{id}:{wamid}"),
            Notice::Outcome(id, SendOutcome::Failed(err)) => format!("failed:{id}:{err}"),
            Notice::Inbox => "inbox".to_string(),
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
                    SendOutcome::Accepted(wamid.to_string()),
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
            _ => None,
        }
    }
}

/// Where the core drops notices for the publishing task (a no-op where the store has no
/// other replicas).
pub struct Publisher {
    tx: Option<mpsc::UnboundedSender<String>>,
    rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl Publisher {
    /// A publisher, enabled when the store carries notices.
    pub fn new(enabled: bool) -> Publisher {
        if !enabled {
            return Publisher {
                tx: None,
                rx: parking_lot::Mutex::new(None),
            };
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Publisher {
            tx: Some(tx),
            rx: parking_lot::Mutex::new(Some(rx)),
        }
    }

    /// Publishes `notice` soon (never waits).
    pub fn publish(&self, notice: Notice) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(notice.encode());
        }
    }
}

/// Publishes what the core drops, in batches (the same notice once per batch), until
/// `shutdown`.
pub async fn publish(state: Core, mut shutdown: watch::Receiver<bool>) {
    let Some(mut rx) = state.publisher.rx.lock().take() else {
        return;
    };
    let mut batch = BTreeSet::new();
    loop {
        let first = tokio::select! {
            n = rx.recv() => n,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Some(first) = first else { return };
        batch.insert(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(n) => {
                    batch.insert(n);
                }
                Err(_) => break,
            }
        }
        let notices: Vec<String> = std::mem::take(&mut batch).into_iter().collect();
        if let Err(e) = state.store.publish(&notices).await {
            tracing::debug!(error = %e, notices = notices.len(), "could not publish notices; the other replicas poll");
        }
    }
}

/// Hears the replicas' notices (this one's too) and wakes what they concern, until
/// `shutdown`.
pub async fn listen(state: Core, mut shutdown: watch::Receiver<bool>) {
    let Some(mut rx) = state.store.notices() else {
        return;
    };
    loop {
        let heard = tokio::select! {
            n = rx.recv() => n,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match heard {
            Ok(text) => match Notice::decode(&text) {
                Some(Notice::Send(ch)) => state.sender_wakes.wake(&ch),
                Some(Notice::Outcome(id, outcome)) => state.deliver_outcome(&id, outcome),
                Some(Notice::Inbox) => state.inbox_wake.notify_one(),
                None => tracing::debug!(notice = %text, "a notice this version does not know"),
            },
            // Too many at once: some were dropped; every worker polls as well.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(dropped = n, "notices came faster than they were heard");
                state.inbox_wake.notify_one();
                state.sender_wakes.supervisor().notify_one();
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
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
            Notice::Outcome("msg_1".into(), SendOutcome::Accepted("wamid.HBg:x".into())),
            Notice::Outcome(
                "msg_2".into(),
                SendOutcome::Failed(serde_json::json!({"code": 131026, "message": "a:b"})),
            ),
            Notice::Inbox,
        ] {
            assert_eq!(Notice::decode(&n.encode()), Some(n));
        }
        assert_eq!(Notice::decode("later:thing"), None);
        assert_eq!(Notice::decode("send:"), None);
    }
}
