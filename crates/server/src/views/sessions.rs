//! What Session Start answers: the contact, the session and the first message.

use openbsp_store::views::{MessageView, SessionView};
use serde::Serialize;

use super::contacts::ContactWithWindows;
use crate::core::sessions::Started;

/// The answer to a Session Start (`POST /v1/sessions`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionStartView {
    /// The contact as it is now, with its windows.
    pub contact: ContactWithWindows,
    /// The first message, queued.
    pub message: MessageView,
    /// The session the message is in, with `reused`: whether the call joined a session that
    /// was already open (or was a retry) rather than opening it.
    pub session: SessionView,
}

impl SessionStartView {
    /// The answer to a Session Start as things stand at `now`.
    pub fn new(started: &Started, now: i64) -> SessionStartView {
        let mut session = SessionView::new(&started.session, now);
        session.reused = Some(started.reused);
        SessionStartView {
            contact: ContactWithWindows::new(&started.contact, now),
            message: MessageView::new(&started.message, None),
            session,
        }
    }
}
