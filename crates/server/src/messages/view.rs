//! How a message looks on the native API.

use openbsp_domain::clock::rfc3339;
use openbsp_store::{Message, StatusEntry};
use serde_json::{Value, json};

/// A message as JSON; `history` adds its status history.
pub fn message_json(m: &Message, history: Option<&[StatusEntry]>) -> Value {
    let mut v = json!({
        "id": m.id,
        "object": "message",
        "channel_id": m.channel_id,
        "contact_id": m.contact_id,
        "session_id": m.session_id,
        "direction": m.direction,
        "type": m.msg_type,
        "content": m.content,
        "status": m.status,
        "wamid": m.wamid,
        "error": m.error,
        "biz_opaque_callback_data": m.biz_opaque_callback_data,
        "context": m.context_message_id.as_ref().map(|c| json!({"message_id": c})),
        "idempotency_key": m.idempotency_key,
        "created_at": rfc3339(m.created_at),
        "updated_at": rfc3339(m.updated_at),
    });
    let who = if m.direction == openbsp_store::Direction::Outbound {
        "to"
    } else {
        "from"
    };
    v[who] = json!(m.recipient);
    if m.template_id.is_some() || m.rendered_text.is_some() {
        v["template"] = json!({"id": m.template_id, "rendered_text": m.rendered_text});
    }
    if let Some(h) = history {
        v["statuses"] = h
            .iter()
            .map(|e| json!({"status": e.status, "at": rfc3339(e.at), "error": e.error}))
            .collect();
    }
    v
}
