//! The data of each event type, built from the objects as the change left them. Both backends
//! call these inside the change's transaction, so an event says exactly what was committed.

use openbsp_domain::clock::rfc3339;
use openbsp_domain::status::MessageStatus;
use serde_json::{Value, json};

use crate::media::Media;
use crate::model::*;
use crate::views;

/// Event types (the catalogue is `openbsp_domain::events::CATALOGUE`).
pub mod kind {
    /// An inbound message was stored.
    pub const MESSAGE_RECEIVED: &str = "message.received";
    /// A message reached a status.
    pub const MESSAGE_STATUS: &str = "message.status";
    /// A session was opened.
    pub const SESSION_OPENED: &str = "session.opened";
    /// A session was closed.
    pub const SESSION_CLOSED: &str = "session.closed";
    /// A contact was created or changed.
    pub const CONTACT_UPDATED: &str = "contact.updated";
    /// A template's status changed.
    pub const TEMPLATE_STATUS: &str = "template.status_changed";
    /// A template's quality score changed.
    pub const TEMPLATE_QUALITY: &str = "template.quality_changed";
    /// Meta re-categorised a template.
    pub const TEMPLATE_CATEGORY: &str = "template.category_changed";
    /// The gateway disabled an endpoint that failed for too long.
    pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";
    /// A channel's sender stopped: Meta rejected its credentials.
    pub const CHANNEL_PAUSED: &str = "channel.paused";
    /// A paused channel sends again (its token was replaced).
    pub const CHANNEL_RESUMED: &str = "channel.resumed";
    /// An inbound message's media was fetched from Meta and stored.
    pub const MEDIA_STORED: &str = "media.stored";
    /// The gateway gave up fetching an inbound message's media.
    pub const MEDIA_FAILED: &str = "media.failed";
}

/// `message.status`: `m` reached `status` at `at` (`m` as stored after the change). A
/// consumer orders a message's statuses by `sequence` (`failed` outranks everything).
pub fn message_status(
    m: &Message,
    status: MessageStatus,
    at: i64,
    error: Option<&Value>,
    pricing_category: Option<&str>,
) -> NewEvent {
    let mut data = json!({
        "message_id": m.id,
        "wamid": m.wamid,
        "channel_id": m.channel_id,
        "contact_id": m.contact_id,
        "session_id": m.session_id,
        "direction": m.direction,
        "status": status,
        "sequence": status.rank(),
        "at": rfc3339(at),
        "error": error,
        "biz_opaque_callback_data": m.biz_opaque_callback_data,
    });
    let who = if m.direction == Direction::Outbound {
        "to"
    } else {
        "from"
    };
    data[who] = json!(m.recipient);
    if let Some(campaign) = &m.campaign_id {
        data["campaign_id"] = json!(campaign);
    }
    if let Some(category) = pricing_category {
        data["pricing"] = json!({ "category": category });
    }
    NewEvent::native(&m.tenant_id, kind::MESSAGE_STATUS, data)
}

/// `message.received`: the stored inbound message and its contact.
pub fn message_received(m: &Message, contact: Option<&Contact>) -> NewEvent {
    let data = json!({
        "message": views::message_json(m, None),
        "contact": contact.map(views::contact_json),
    });
    NewEvent::native(&m.tenant_id, kind::MESSAGE_RECEIVED, data)
}

/// `session.opened` or `session.closed` (`kind`), at `at`.
pub fn session(kind: &str, s: &Session, at: i64) -> NewEvent {
    let data = json!({ "session": views::session_json(s, at) });
    NewEvent::native(&s.tenant_id, kind, data)
}

/// `contact.updated`: the contact as it is now and what changed (`created`, `name`,
/// `username`, `wa_id`, `user_id`, `attributes`, `marketing_opt_out`, `merged`).
pub fn contact_updated(c: &Contact, changes: &[&str], at: i64) -> NewEvent {
    let data = json!({
        "contact": views::contact_json(c),
        "changes": changes,
        "at": rfc3339(at),
    });
    NewEvent::native(&c.tenant_id, kind::CONTACT_UPDATED, data)
}

/// A template event for a history entry of kind `entry` (`created`, `status`, `quality`,
/// `category`, `edited`, `synced`, `deleted`): `template.status_changed`,
/// `template.quality_changed` or `template.category_changed` when the entry changed that
/// value; `None` otherwise. `previous` / `value` / `reason` are the entry's.
pub fn template_change(
    t: &Template,
    entry: &str,
    previous: Option<&str>,
    value: Option<&str>,
    reason: Option<&str>,
    at: i64,
) -> Option<NewEvent> {
    let kind = match entry {
        "quality" => kind::TEMPLATE_QUALITY,
        "category" => kind::TEMPLATE_CATEGORY,
        _ => kind::TEMPLATE_STATUS,
    };
    let value = value?;
    if previous == Some(value) {
        return None;
    }
    let data = json!({
        "template": views::template_json(t),
        "previous": previous,
        "value": value,
        "reason": reason,
        "cause": entry,
        "at": rfc3339(at),
    });
    Some(NewEvent::native(&t.tenant_id, kind, data))
}

/// `endpoint.disabled`: the gateway gave up on an endpoint.
pub fn endpoint_disabled(e: &WebhookEndpoint, reason: &str, at: i64) -> NewEvent {
    let data = json!({
        "endpoint": {
            "id": e.id,
            "url": e.url,
            "description": e.description,
            "failing_since": e.failing_since.map(rfc3339),
        },
        "reason": reason,
        "at": rfc3339(at),
    });
    NewEvent::native(&e.tenant_id, kind::ENDPOINT_DISABLED, data)
}

/// `channel.paused` (`reason`: Meta's error) or, with no reason, `channel.resumed`.
pub fn channel_pause(ch: &Channel, reason: Option<&Value>, at: i64) -> NewEvent {
    let mut data = json!({
        "channel": {
            "id": ch.id,
            "phone_number_id": ch.phone_number_id,
            "display_phone_number": ch.display_phone_number,
        },
        "at": rfc3339(at),
    });
    let kind = match reason {
        Some(r) => {
            data["reason"] = r.clone();
            kind::CHANNEL_PAUSED
        }
        None => kind::CHANNEL_RESUMED,
    };
    NewEvent::native(&ch.tenant_id, kind, data)
}

/// `media.stored`: the media of the inbound message `message_id` (received on `channel_id`)
/// is stored, as `m`.
pub fn media_stored(message_id: &str, channel_id: &str, m: &Media) -> NewEvent {
    let data = json!({
        "message_id": message_id,
        "channel_id": channel_id,
        "media": views::media_json(m),
    });
    NewEvent::native(&m.tenant_id, kind::MEDIA_STORED, data)
}

/// `media.failed`: the gateway gave up fetching the media `media_id` of the inbound message
/// `message_id` (received on `channel_id`), for `error`.
pub fn media_failed(
    tenant_id: &str,
    message_id: &str,
    channel_id: &str,
    media_id: &str,
    error: &Value,
) -> NewEvent {
    let data = json!({
        "message_id": message_id,
        "channel_id": channel_id,
        "media_id": media_id,
        "error": error,
    });
    NewEvent::native(tenant_id, kind::MEDIA_FAILED, data)
}

/// What changed between two states of a contact, as `contact.updated` names it; `created`
/// when there was no contact before.
pub fn contact_changes(before: Option<&Contact>, after: &Contact) -> Vec<&'static str> {
    let Some(b) = before else {
        return vec!["created"];
    };
    let mut changes = Vec::new();
    if b.profile_name != after.profile_name {
        changes.push("name");
    }
    if b.username != after.username {
        changes.push("username");
    }
    if b.wa_id != after.wa_id {
        changes.push("wa_id");
    }
    if b.user_id != after.user_id {
        changes.push("user_id");
    }
    if b.attributes != after.attributes {
        changes.push("attributes");
    }
    if b.marketing_opt_out_at.is_some() != after.marketing_opt_out_at.is_some() {
        changes.push("marketing_opt_out");
    }
    changes
}
