//! How a contact and its windows look on the native API.

use openbsp_domain::clock::rfc3339;
use openbsp_domain::windows;
use openbsp_store::{Contact, ContactWindow};
use serde_json::{Value, json};

use crate::core::contacts::WithWindows;

fn time(t: Option<i64>) -> Value {
    t.map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
}

/// One window as JSON, as it stands at `now`.
pub fn window_json(w: &ContactWindow, phone_number_id: Option<&str>, now: i64) -> Value {
    let csw_expires = w.last_inbound_at.map(windows::csw_expires_at);
    json!({
        "channel_id": w.channel_id,
        "phone_number_id": phone_number_id,
        "customer_service": {
            "open": windows::csw_open(w.last_inbound_at, now),
            "expires_at": time(csw_expires),
            "last_inbound_at": time(w.last_inbound_at),
        },
        "free_entry_point": {
            "open": windows::fep_open(w.fep_expires_at, now),
            "opened_at": time(w.fep_opened_at),
            "expires_at": time(w.fep_expires_at),
            "entry_point_at": time(w.entry_point_at),
        },
    })
}

/// A contact as JSON (without its windows).
pub fn contact_json(c: &Contact) -> Value {
    openbsp_store::views::contact_json(c)
}

/// A contact with its windows as JSON, as they stand at `now`.
pub fn with_windows_json(c: &WithWindows, now: i64) -> Value {
    let mut v = contact_json(&c.contact);
    v["windows"] = Value::Array(
        c.windows
            .iter()
            .map(|(w, pnid)| window_json(w, pnid.as_deref(), now))
            .collect(),
    );
    v
}
