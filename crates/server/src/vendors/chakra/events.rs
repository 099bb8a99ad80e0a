//! ChakraHQ's own webhook for endpoints in the `chakra` format (`vendors.md` §3.3): its
//! `deliveryStatus` event, made from the gateway's `message.status` events at delivery.
//!
//! `{"event": "deliveryStatus", "payload": {"id", "externalId", "deliveryStatus",
//! "timestamp", "recipientId"}}`: `id` is the gateway's message id (what Chakra calls the chat
//! message), `externalId` Meta's `wamid`, `deliveryStatus` `SENT`, `DELIVERED`, `READ` (and
//! `FAILED`, with Meta's error in `payload.error`, which Chakra documents no shape for),
//! `timestamp` in milliseconds, `recipientId` the user's number (digits). Only outbound messages
//! that reached Meta have a delivery status; the gateway's own statuses before that (`accepted`,
//! `queued`, `held`…) are not Chakra's and are not delivered. Unlike Chakra (which sends these
//! only for its non-pass-through sends and never retries), every outbound message's statuses go
//! out, signed (Standard Webhooks headers) and retried like every delivery of the gateway's.

use openbsp_store::Event;
use serde_json::{Value, json};

/// Chakra's `deliveryStatus` for a status the event reports; `None` when it has none.
fn delivery_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "sent" => "SENT",
        "delivered" => "DELIVERED",
        "read" => "READ",
        "failed" => "FAILED",
        _ => return None,
    })
}

/// The body of `ev` for a `chakra` endpoint; `None` when the event has no Chakra shape.
pub fn body(ev: &Event) -> Option<Value> {
    if ev.kind != "message.status" {
        return None;
    }
    let d = &ev.data;
    if d["direction"] != "outbound" {
        return None;
    }
    let status = delivery_status(d["status"].as_str()?)?;
    let at = d["at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or(ev.created_at);
    let mut payload = json!({
        "id": d["message_id"],
        "externalId": d["wamid"],
        "deliveryStatus": status,
        "timestamp": at,
        "recipientId": d["to"],
    });
    // Meta's error (its webhook carries a list; the first says why).
    let error = match &d["error"] {
        Value::Array(list) => list.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    if status == "FAILED" && !error.is_null() {
        payload["error"] = error;
    }
    Some(json!({ "event": "deliveryStatus", "payload": payload }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_store::EventCursor;

    fn status(s: &str, direction: &str) -> Event {
        Event {
            id: "evt_1".into(),
            tenant_id: "ten_1".into(),
            kind: "message.status".into(),
            format: "native".into(),
            created_at: 5,
            data: json!({
                "message_id": "msg_1", "wamid": "wamid.X", "status": s, "direction": direction,
                "at": "2024-10-18T05:49:08.000Z", "to": "919448349676",
                "error": if s == "failed" { json!([{"code": 131026}]) } else { Value::Null },
            }),
            cursor: EventCursor::default(),
        }
    }

    #[test]
    fn statuses_take_chakras_shape() {
        let b = body(&status("delivered", "outbound")).unwrap();
        assert_eq!(
            b,
            json!({"event": "deliveryStatus", "payload": {
                "id": "msg_1", "externalId": "wamid.X", "deliveryStatus": "DELIVERED",
                "timestamp": 1_729_230_548_000i64, "recipientId": "919448349676"}})
        );
        let f = body(&status("failed", "outbound")).unwrap();
        assert_eq!(f["payload"]["deliveryStatus"], "FAILED");
        assert_eq!(f["payload"]["error"]["code"], 131026);
        for (s, d) in [
            ("accepted", "outbound"),
            ("queued", "outbound"),
            ("read", "inbound"),
        ] {
            assert_eq!(body(&status(s, d)), None, "{s} {d}");
        }
    }
}
