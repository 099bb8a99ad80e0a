//! Applies stored webhook payloads: statuses to outbound messages (forward only, idempotent),
//! inbound messages with their contacts. A payload is marked processed only after its effects
//! are committed, so a crash replays it, and replays are harmless.

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{
    Channel, ContactKey, Direction, InboxItem, Message, NewInbound, StatusOutcome, StatusUpdate,
};
use openbsp_wire::webhook::{Envelope, InboundMessage, MessagesValue, Status};
use tokio::sync::watch;

use crate::state::{AppState, SendOutcome};

/// Payloads taken per pass.
const BATCH: u32 = 256;

/// Runs until `shutdown`.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        let processed = match process_pending(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "webhook processing failed; will retry");
                0
            }
        };
        if processed as u32 == BATCH {
            continue;
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.inbox_wake.notified() => {}
            _ = tokio::time::sleep(state.config.sender.poll_interval) => {}
        }
    }
}

/// Payloads applied at once: their writes share the store's group commits. Order does not
/// matter, because applying a payload is idempotent and statuses only move forward.
const CONCURRENCY: usize = 32;

/// Processes one batch of stored payloads; returns how many were processed. A payload whose
/// effects could not be stored stays unprocessed and is tried again on the next pass.
pub async fn process_pending(state: &AppState) -> Result<usize, openbsp_store::StoreError> {
    use futures::StreamExt;
    let items = state.store.unprocessed_inbox(BATCH).await?;
    let work = items.into_iter().map(|item| {
        let state = state.clone();
        async move {
            let result = process(&state, &item).await;
            (item.id, result)
        }
    });
    let results: Vec<_> = futures::stream::iter(work)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut done = Vec::with_capacity(results.len());
    let mut first_error = None;
    for (id, result) in results {
        match result {
            Ok(()) => done.push(id),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if !done.is_empty() {
        state.store.mark_inbox_processed(&done, state.now()).await?;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(done.len()),
    }
}

async fn process(state: &AppState, item: &InboxItem) -> Result<(), openbsp_store::StoreError> {
    let env: Envelope = match serde_json::from_slice(&item.body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(inbox.id = %item.id, error = %e, "stored webhook is not a Meta envelope; skipped");
            return Ok(());
        }
    };
    for entry in env.entry {
        for change in entry.changes {
            if change.field != "messages" {
                tracing::debug!(field = %change.field, "webhook field not handled yet");
                continue;
            }
            let value: MessagesValue = match serde_json::from_value(change.value) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(inbox.id = %item.id, error = %e, "malformed messages change; skipped");
                    continue;
                }
            };
            let channel = match state.channel(&value.metadata.phone_number_id).await {
                Ok(Some(c)) if c.app_id == item.app_id => c,
                Ok(_) => {
                    tracing::warn!(inbox.id = %item.id, phone_number_id = %value.metadata.phone_number_id, "change for a number the signing app does not own; skipped");
                    continue;
                }
                Err(_) => {
                    return Err(openbsp_store::StoreError::Database(
                        "channel lookup failed".into(),
                    ));
                }
            };
            for s in &value.statuses {
                apply_status(state, &channel, s).await?;
            }
            for m in &value.messages {
                store_inbound(state, &channel, &value, m).await?;
            }
        }
    }
    Ok(())
}

fn unix_ms(ts: &str, fallback: i64) -> i64 {
    ts.parse::<i64>().map(|s| s * 1000).unwrap_or(fallback)
}

async fn apply_status(
    state: &AppState,
    channel: &Channel,
    s: &Status,
) -> Result<(), openbsp_store::StoreError> {
    let Some(status) = MessageStatus::parse(&s.status) else {
        tracing::debug!(status = %s.status, "unknown status; ignored");
        return Ok(());
    };
    let update = StatusUpdate {
        channel_id: channel.id.clone(),
        wamid: s.id.clone(),
        status,
        at: unix_ms(&s.timestamp, state.now()),
        callback_data: s.biz_opaque_callback_data.clone(),
        error: (!s.errors.is_empty()).then(|| serde_json::Value::Array(s.errors.clone())),
    };
    let outcome = state.store.apply_status(&update).await?;
    metrics::counter!("openbsp_statuses_total", "status" => status.as_str()).increment(1);
    match outcome {
        StatusOutcome::Advanced { message_id } | StatusOutcome::Kept { message_id } => {
            // A Cloud-API caller whose send's answer was lost learns the wamid here.
            if status != MessageStatus::Failed {
                state.notify_outcome(&message_id, SendOutcome::Accepted(s.id.clone()));
            }
        }
        StatusOutcome::UnknownMessage => {
            tracing::debug!(wamid = %s.id, "status for a message this gateway did not send");
        }
    }
    Ok(())
}

async fn store_inbound(
    state: &AppState,
    channel: &Channel,
    value: &MessagesValue,
    m: &InboundMessage,
) -> Result<(), openbsp_store::StoreError> {
    let (contact, also) = match (&m.from, &m.from_user_id) {
        (Some(w), u) => (
            ContactKey::WaId(w.clone()),
            u.clone().map(ContactKey::UserId),
        ),
        (None, Some(u)) => (ContactKey::UserId(u.clone()), None),
        (None, None) => {
            tracing::warn!(wamid = %m.id, "inbound message without a sender; skipped");
            return Ok(());
        }
    };
    let profile = value.contacts.iter().find(|c| {
        (m.from.is_some() && c.wa_id == m.from)
            || (m.from_user_id.is_some() && c.user_id == m.from_user_id)
    });
    let also = also.or_else(|| {
        let p = profile?;
        match &contact {
            ContactKey::WaId(_) => p.user_id.clone().map(ContactKey::UserId),
            ContactKey::UserId(_) => p.wa_id.clone().map(ContactKey::WaId),
        }
    });
    let now = state.now();
    let message = Message {
        id: new_id_at(prefix::MESSAGE, now),
        tenant_id: channel.tenant_id.clone(),
        channel_id: channel.id.clone(),
        contact_id: None,
        direction: Direction::Inbound,
        recipient: m
            .from
            .clone()
            .or_else(|| m.from_user_id.clone())
            .unwrap_or_default(),
        msg_type: m.kind.clone(),
        content: serde_json::to_value(m).unwrap_or_default(),
        wamid: Some(m.id.clone()),
        status: MessageStatus::Received,
        error: None,
        biz_opaque_callback_data: None,
        context_message_id: m
            .rest
            .get("context")
            .and_then(|c| c.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        idempotency_key: None,
        created_at: now,
        updated_at: now,
    };
    let new = NewInbound {
        message,
        contact,
        also,
        profile_name: profile
            .and_then(|p| p.profile.as_ref())
            .and_then(|p| p.name.clone()),
    };
    if state.store.insert_inbound(&new).await? {
        metrics::counter!("openbsp_inbound_messages_total").increment(1);
    }
    Ok(())
}
