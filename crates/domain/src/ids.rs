//! Gateway identifiers: a short prefix naming the kind of object and a ULID, so that ids sort
//! by creation time and a stray id says what it is (`msg_01J…`, `ten_01J…`).

use ulid::Ulid;

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
    /// Stored webhook payloads from Meta.
    pub const INBOX: &str = "whk";
}

/// A new id with `prefix`, using the current time and OS randomness.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Ulid::new().to_string().to_lowercase())
}

/// A new id with `prefix` for the given time (Unix ms), for tests and replays.
pub fn new_id_at(prefix: &str, ms: i64) -> String {
    let ulid = Ulid::from_parts(ms.max(0) as u64, rand::random::<u128>());
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
