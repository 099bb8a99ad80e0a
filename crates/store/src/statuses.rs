//! A message's status as Meta's status webhooks and the sender's results move it, the part both
//! backends share: which message a status update names, what applying it writes (the status
//! only ever forward, `failed` outranking everything; the `wamid` learnt; the session's kind
//! learnt from the pricing), what a send result does, and the message as a change leaves it
//! (what its `message.status` event shows). Pure: the backends read (and on PostgreSQL lock)
//! the rows, and write what this decides.

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::MessageId;
use openbsp_domain::refs::MessageRef;
use serde_json::Value;

use crate::model::*;

/// How a stored status this version does not know reads when a status update arrives: as the
/// first status of an outbound message, so that any status Meta reports moves it.
pub(crate) const UNKNOWN_READS_AS: MessageStatus = MessageStatus::Queued;

/// Whether `id` names a message by the gateway's id (`msg_…`, well-formed or not: a malformed
/// one names no message) rather than by Meta's `wamid`.
pub(crate) fn is_gateway_id(id: &str) -> bool {
    !matches!(MessageRef::parse(id), Ok(MessageRef::Wamid(_)))
}

/// The gateway's message id that a status's callback data carries, if it carries one: where
/// to look for the message when none has the status's `wamid` (the send's answer was lost, a
/// crash), among the channel's outbound messages.
pub(crate) fn callback_id(u: &StatusUpdate) -> Option<&str> {
    u.callback_data
        .as_deref()
        .filter(|id| MessageId::parse(id).is_ok())
}

/// A stored status name, as a status update reads it ([`UNKNOWN_READS_AS`] if unknown).
pub(crate) fn stored(status: &str) -> MessageStatus {
    MessageStatus::parse(status).unwrap_or(UNKNOWN_READS_AS)
}

/// Whether a new history entry of `status` writes a `message.status` event: every status but
/// `received` (an inbound message gets `message.received` from the code that stores it).
pub(crate) fn writes_event(status: MessageStatus) -> bool {
    status != MessageStatus::Received
}

/// What applying a status update to a found message writes, besides what it always writes: a
/// history entry (one per message and status: a repeated status adds none) and, Meta having the
/// message, the removal of its outbox row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusWrite<'u> {
    /// The message moves to the update's status (taking its error, if it has one, and
    /// `updated_at` if later): that status is forward of the stored one.
    pub forward: bool,
    /// The `wamid` the message learns: the update's, when the message had none (it was found
    /// by its callback data).
    pub wamid: Option<&'u str>,
    /// The kind its session takes if it has none yet: the update's pricing category.
    pub session_kind: Option<&'u str>,
}

impl StatusWrite<'_> {
    /// What the update did, for the caller.
    pub(crate) fn outcome(&self, message_id: String) -> StatusOutcome {
        let learned_wamid = self.wamid.is_some();
        if self.forward {
            StatusOutcome::Advanced {
                message_id,
                learned_wamid,
            }
        } else {
            StatusOutcome::Kept {
                message_id,
                learned_wamid,
            }
        }
    }
}

/// What applying `u` writes to a message stored with `status` and `wamid`.
pub(crate) fn apply<'u>(
    status: MessageStatus,
    wamid: Option<&str>,
    u: &'u StatusUpdate,
) -> StatusWrite<'u> {
    StatusWrite {
        forward: status.advance(u.status).is_some(),
        wamid: wamid.is_none().then_some(u.wamid.as_str()),
        session_kind: u.pricing_category.as_deref(),
    }
}

/// A message as a status change leaves it: the `wamid` learnt, and, if `status` is forward of
/// its own, that status, the error (if one is given) and `updated_at` (if later).
pub(crate) fn changed(
    m: &Message,
    status: MessageStatus,
    wamid: Option<&str>,
    at: i64,
    error: Option<&Value>,
) -> Message {
    let mut after = m.clone();
    if let Some(w) = wamid {
        after.wamid = Some(w.to_string());
    }
    if m.status.advance(status).is_some() {
        after.status = status;
        if let Some(e) = error {
            after.error = Some(e.clone());
        }
        after.updated_at = after.updated_at.max(at);
    }
    after
}

/// What the result of a send attempt does to its message (a message whose stored status this
/// version does not know is left alone).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendOutcome<'r> {
    /// The status it moves to, if forward.
    pub status: MessageStatus,
    /// The `wamid` Meta answered with: it replaces the stored one.
    pub wamid: Option<&'r str>,
    /// Meta's `message_status` in its answer (`held_for_quality_assessment`), kept on the
    /// message.
    pub message_status: Option<&'r str>,
    /// When.
    pub at: i64,
    /// Meta's error.
    pub error: Option<&'r Value>,
}

/// What `r` does to its message: `accepted` with the `wamid`, or `failed` with Meta's error;
/// `None` for a retry, which only reschedules the outbox row. Either outcome removes the outbox
/// row.
pub(crate) fn send_outcome(r: &SendResult) -> Option<SendOutcome<'_>> {
    match r {
        SendResult::Retry { .. } | SendResult::Defer { .. } => None,
        SendResult::Accepted {
            wamid,
            message_status,
            at,
            ..
        } => Some(SendOutcome {
            status: MessageStatus::Accepted,
            wamid: Some(wamid),
            message_status: message_status.as_deref(),
            at: *at,
            error: None,
        }),
        SendResult::Failed { error, at, .. } => Some(SendOutcome {
            status: MessageStatus::Failed,
            wamid: None,
            message_status: None,
            at: *at,
            error: Some(error),
        }),
    }
}

/// The claim term a send result was made under.
pub(crate) fn term(r: &SendResult) -> i64 {
    match r {
        SendResult::Accepted { term, .. }
        | SendResult::Failed { term, .. }
        | SendResult::Retry { term, .. }
        | SendResult::Defer { term, .. } => *term,
    }
}

/// Whether a send result may be recorded, given its outbox row: `None` if the row is gone
/// (Meta's status webhook settled it), else its state and claim term. A retry only while the
/// send is in flight under the result's term; Meta's answer unless another term is posting it.
pub(crate) fn may_record(r: &SendResult, row: Option<(&str, Option<i64>)>) -> bool {
    let mine = |(state, claim): (&str, Option<i64>)| state == "inflight" && claim == Some(term(r));
    match r {
        SendResult::Retry { .. } | SendResult::Defer { .. } => row.is_some_and(mine),
        _ => match row {
            None => true,
            Some((state, claim)) => state != "inflight" || mine((state, claim)),
        },
    }
}

/// The message a send result is about.
pub(crate) fn message_id(r: &SendResult) -> &str {
    match r {
        SendResult::Accepted { message_id, .. }
        | SendResult::Failed { message_id, .. }
        | SendResult::Retry { message_id, .. }
        | SendResult::Defer { message_id, .. } => message_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;
    use serde_json::json;

    fn update(status: MessageStatus) -> StatusUpdate {
        StatusUpdate {
            channel_id: "chn_1".into(),
            wamid: "wamid.A".into(),
            status,
            at: 2_000,
            callback_data: None,
            error: None,
            pricing_category: None,
        }
    }

    fn message(status: MessageStatus) -> Message {
        Message {
            id: "msg_1".into(),
            tenant_id: "ten_1".into(),
            channel_id: "chn_1".into(),
            contact_id: None,
            direction: Direction::Outbound,
            recipient: "15550001".into(),
            msg_type: "text".into(),
            content: json!({}),
            wamid: None,
            status,
            error: None,
            biz_opaque_callback_data: None,
            context_message_id: None,
            session_id: None,
            template_id: None,
            rendered_text: None,
            campaign_id: None,
            idempotency_key: None,
            created_at: 1_000,
            updated_at: 1_500,
        }
    }

    #[test]
    fn a_gateway_id_in_the_callback_data_names_the_message() {
        let mut u = update(Sent);
        assert_eq!(callback_id(&u), None);
        let id = MessageId::new_at(1_000);
        u.callback_data = Some(id.to_string());
        assert_eq!(callback_id(&u), Some(id.as_str()));
        // A client's own data that merely looks like one names nothing.
        u.callback_data = Some("msg_01j".into());
        assert_eq!(callback_id(&u), None);
        u.callback_data = Some("order 42".into());
        assert_eq!(callback_id(&u), None);
        assert!(is_gateway_id("msg_x") && !is_gateway_id("wamid.msg_x"));
    }

    #[test]
    fn a_status_moves_forward_only_and_failed_wins() {
        assert!(apply(Queued, Some("w"), &update(Sent)).forward);
        assert!(apply(Sent, Some("w"), &update(Read)).forward);
        assert!(!apply(Read, Some("w"), &update(Delivered)).forward);
        assert!(!apply(Delivered, Some("w"), &update(Delivered)).forward);
        assert!(apply(Read, Some("w"), &update(Failed)).forward);
        assert!(!apply(Failed, Some("w"), &update(Read)).forward);
        let late = update(Delivered);
        assert_eq!(
            apply(Read, Some("w"), &late).outcome("msg_1".into()),
            StatusOutcome::Kept {
                message_id: "msg_1".into(),
                learned_wamid: false,
            }
        );
        assert_eq!(
            apply(Sent, None, &update(Read)).outcome("msg_1".into()),
            StatusOutcome::Advanced {
                message_id: "msg_1".into(),
                learned_wamid: true,
            }
        );
    }

    #[test]
    fn an_unknown_stored_status_reads_as_queued() {
        assert_eq!(stored("sent"), Sent);
        assert_eq!(stored("teleported"), Queued);
        assert!(apply(stored("teleported"), None, &update(Accepted)).forward);
    }

    #[test]
    fn the_wamid_is_learnt_only_by_a_message_without_one() {
        assert_eq!(apply(Accepted, None, &update(Sent)).wamid, Some("wamid.A"));
        assert_eq!(apply(Accepted, Some("wamid.A"), &update(Sent)).wamid, None);
        // Even when the status stays where it is.
        assert_eq!(apply(Read, None, &update(Sent)).wamid, Some("wamid.A"));
    }

    #[test]
    fn the_pricing_category_gives_the_session_its_kind() {
        let mut u = update(Sent);
        assert_eq!(apply(Queued, None, &u).session_kind, None);
        u.pricing_category = Some("marketing".into());
        assert_eq!(apply(Read, None, &u).session_kind, Some("marketing"));
    }

    #[test]
    fn received_writes_no_status_event() {
        assert!(!writes_event(Received));
        for s in [Queued, Accepted, Sent, Delivered, Read, Played, Failed] {
            assert!(writes_event(s), "{s}");
        }
    }

    #[test]
    fn the_message_as_a_change_leaves_it() {
        let m = message(Sent);
        let error = json!({"code": 131026});
        let after = changed(&m, Failed, Some("wamid.A"), 2_000, Some(&error));
        assert_eq!(after.status, Failed);
        assert_eq!(after.error, Some(error.clone()));
        assert_eq!(after.wamid.as_deref(), Some("wamid.A"));
        assert_eq!(after.updated_at, 2_000);
        // Not forward: only the wamid is learnt.
        let after = changed(
            &message(Read),
            Delivered,
            Some("wamid.A"),
            2_000,
            Some(&error),
        );
        assert_eq!(after.status, Read);
        assert_eq!(after.error, None);
        assert_eq!(after.updated_at, 1_500);
        assert_eq!(after.wamid.as_deref(), Some("wamid.A"));
        // `updated_at` never goes back; an update without an error keeps the stored one.
        let mut m = message(Queued);
        m.error = Some(json!("old"));
        let after = changed(&m, Sent, None, 1_200, None);
        assert_eq!((after.updated_at, after.error), (1_500, Some(json!("old"))));
    }

    #[test]
    fn send_results_accept_fail_or_retry() {
        let accepted = SendResult::Accepted {
            message_id: "msg_1".into(),
            term: 1,
            wamid: "wamid.B".into(),
            message_status: None,
            at: 5,
        };
        let o = send_outcome(&accepted).unwrap();
        assert_eq!(
            (o.status, o.wamid, o.at, o.error),
            (Accepted, Some("wamid.B"), 5, None)
        );
        let error = json!({"code": 100});
        let failed = SendResult::Failed {
            message_id: "msg_2".into(),
            term: 1,
            error: error.clone(),
            at: 6,
        };
        let o = send_outcome(&failed).unwrap();
        assert_eq!((o.status, o.wamid, o.error), (Failed, None, Some(&error)));
        let retry = SendResult::Retry {
            message_id: "msg_3".into(),
            term: 1,
            next_at: 7,
            error,
        };
        assert!(send_outcome(&retry).is_none());
        let ids: Vec<&str> = [&accepted, &failed, &retry].map(message_id).to_vec();
        assert_eq!(ids, ["msg_1", "msg_2", "msg_3"]);
    }

    #[test]
    fn only_the_claims_term_reschedules_and_no_one_settles_a_send_another_term_posts() {
        let accepted = SendResult::Accepted {
            message_id: "msg_1".into(),
            term: 2,
            wamid: "wamid.B".into(),
            message_status: None,
            at: 5,
        };
        let retry = SendResult::Retry {
            message_id: "msg_1".into(),
            term: 2,
            next_at: 7,
            error: json!({}),
        };
        let cases = [
            // (the outbox row, accepted recorded, retry recorded)
            (Some(("inflight", Some(2))), true, true),
            // Another holding claimed it again: it is posting it; neither is ours to record.
            (Some(("inflight", Some(3))), false, false),
            // Put back by the sweep: Meta's answer settles it; a retry changes nothing.
            (Some(("pending", None)), true, false),
            // Settled by a status webhook: the answer is recorded, the retry has nothing to do.
            (None, true, false),
        ];
        for (row, a, r) in cases {
            assert_eq!(may_record(&accepted, row), a, "{row:?}");
            assert_eq!(may_record(&retry, row), r, "{row:?}");
        }
    }
}
