//! How the tenant's objects look as JSON: on the native API and inside events. One spelling,
//! so that an event's `data` and a `GET` of the same object agree.

use openbsp_domain::clock::rfc3339;
use serde_json::{Value, json};

use crate::model::*;

fn time(t: Option<i64>) -> Value {
    t.map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
}

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
    let who = if m.direction == Direction::Outbound {
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

/// Whether a session is open at `now` (its window may have lapsed before the closer ran).
pub fn session_is_open(s: &Session, now: i64) -> bool {
    s.closed_at.is_none() && s.expires_at > now
}

/// A session as JSON, as it stands at `now`.
pub fn session_json(s: &Session, now: i64) -> Value {
    let open = session_is_open(s, now);
    let (closed_at, reason) = match (s.closed_at, open) {
        (Some(t), _) => (Some(t), s.close_reason.clone()),
        (None, false) => (Some(s.expires_at), Some("expired".to_string())),
        (None, true) => (None, None),
    };
    json!({
        "id": s.id,
        "object": "session",
        "channel_id": s.channel_id,
        "contact_id": s.contact_id,
        "kind": s.kind,
        "status": if open { "open" } else { "closed" },
        "opened_by": s.opened_by,
        "opened_at": rfc3339(s.opened_at),
        "expires_at": rfc3339(s.expires_at),
        "closed_at": closed_at.map(rfc3339),
        "close_reason": reason,
        "last_inbound_at": s.last_inbound_at.map(rfc3339),
    })
}

/// A contact as JSON, without its windows.
pub fn contact_json(c: &Contact) -> Value {
    json!({
        "id": c.id,
        "object": "contact",
        "wa_id": c.wa_id,
        "user_id": c.user_id,
        "name": c.profile_name,
        "username": c.username,
        "attributes": c.attributes,
        "marketing_opt_out": {
            "opted_out": c.marketing_opt_out_at.is_some(),
            "since": time(c.marketing_opt_out_at),
            "source": c.marketing_opt_out_source,
        },
        "previous_wa_ids": c.previous_wa_ids,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

/// A template as JSON.
pub fn template_json(t: &Template) -> Value {
    json!({
        "id": t.id,
        "object": "template",
        "waba_id": t.waba_id,
        "meta_template_id": t.meta_template_id,
        "name": t.name,
        "language": t.language,
        "category": t.category,
        "previous_category": t.previous_category,
        "status": t.status,
        "reason": t.reason,
        "quality_score": t.quality_score,
        "parameter_format": t.parameter_format,
        "components": t.components,
        "message_send_ttl_seconds": t.message_send_ttl_seconds,
        "created_at": time(Some(t.created_at)),
        "updated_at": time(Some(t.updated_at)),
        "deleted_at": time(t.deleted_at),
    })
}

/// An event in the native format: what a native endpoint receives and `GET /v1/events` lists.
pub fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "object": "event",
        "type": e.kind,
        "created_at": rfc3339(e.created_at),
        "data": e.data,
    })
}
