//! Gateway identifiers: a short prefix naming the kind of object and a ULID, so that ids sort
//! by creation time and a stray id says what it is (`msg_01J…`, `ten_01J…`).

use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use ulid::{Generator, Ulid};

/// One generator for the process, so ids made in the same millisecond still sort in the order
/// they were made (the random part is incremented rather than drawn again).
static GENERATOR: LazyLock<Mutex<Generator>> = LazyLock::new(|| Mutex::new(Generator::new()));

/// Prefixes of the gateway's ids.
pub mod prefix {
    /// Tenants.
    pub const TENANT: &str = "ten";
    /// API keys.
    pub const API_KEY: &str = "key";
    /// Meta apps.
    pub const APP: &str = "app";
    /// Channels (business phone numbers).
    pub const CHANNEL: &str = "chn";
    /// Contacts.
    pub const CONTACT: &str = "con";
    /// Messages.
    pub const MESSAGE: &str = "msg";
    /// Sessions.
    pub const SESSION: &str = "ses";
    /// Events.
    pub const EVENT: &str = "evt";
    /// Message templates.
    pub const TEMPLATE: &str = "tpl";
    /// Stored webhook payloads from Meta.
    pub const INBOX: &str = "whk";
    /// A webhook endpoint of a tenant.
    pub const WEBHOOK_ENDPOINT: &str = "whe";
}

/// A new id with `prefix`, for the current time.
pub fn new_id(prefix: &str) -> String {
    new_id_at(prefix, chrono::Utc::now().timestamp_millis())
}

/// A new id with `prefix` for the given time (Unix ms, from the injected clock). Ids made by
/// this process are strictly increasing, even within one millisecond or if the clock steps
/// back (then the id carries the previous id's time).
pub fn new_id_at(prefix: &str, ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    let generated = GENERATOR
        .lock()
        .ok()
        .and_then(|mut g| g.generate_from_datetime(at).ok());
    // Overflow of the 80 random bits within one millisecond, or a poisoned lock: fall back
    // to a fresh random id, unique if not ordered.
    let ulid =
        generated.unwrap_or_else(|| Ulid::from_parts(ms.max(0) as u64, rand::random::<u128>()));
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// Whether `id` looks like a gateway id of the given kind.
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + 27
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && Ulid::from_string(&id[prefix.len() + 1..]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_in_one_millisecond_keep_their_order() {
        let ids: Vec<String> = (0..1000)
            .map(|_| new_id_at(prefix::MESSAGE, 5_000_000_000_000))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_sort_by_time_and_carry_their_kind() {
        let a = new_id_at(prefix::MESSAGE, 1_000);
        let b = new_id_at(prefix::MESSAGE, 2_000);
        assert!(a < b);
        assert!(has_prefix(&a, prefix::MESSAGE));
        assert!(!has_prefix(&a, prefix::TENANT));
        assert!(!has_prefix("msg_nope", prefix::MESSAGE));
        assert!(has_prefix(&new_id(prefix::TENANT), prefix::TENANT));
    }
}
