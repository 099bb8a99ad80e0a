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
    /// A running gateway process (the holder of its leases).
    pub const REPLICA: &str = "rep";
    /// Campaigns.
    pub const CAMPAIGN: &str = "cmp";
    /// An upload of recipients to a campaign.
    pub const UPLOAD: &str = "upl";
    /// Media kept by the gateway.
    pub const MEDIA: &str = "med";
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

/// The lowest id of the kind `prefix` for the time `ms`: ids [`new_id_at`] made for an earlier
/// time sort below it (as text), those made for `ms` or later do not. A bound for deleting by
/// id range what is older than a time.
pub fn first_id_at(prefix: &str, ms: i64) -> String {
    let ulid = Ulid::from_parts(ms.max(0) as u64, 0);
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// Whether `id` looks like a gateway id of the given kind.
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + 27
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && Ulid::from_string(&id[prefix.len() + 1..]).is_ok()
}

/// A string that is not a gateway id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {kind} id ({kind}_…)")]
pub struct NotAnId {
    /// The prefix that was expected.
    pub kind: &'static str,
    /// What was given.
    pub value: String,
}

macro_rules! gateway_id {
    ($(#[$doc:meta])* $name:ident = $prefix:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix of this kind of id.
            pub const PREFIX: &'static str = $prefix;

            /// Parses an id of this kind (its prefix and a ULID).
            pub fn parse(s: &str) -> Result<Self, NotAnId> {
                if has_prefix(s, $prefix) {
                    Ok($name(s.to_string()))
                } else {
                    Err(NotAnId { kind: $prefix, value: s.to_string() })
                }
            }

            /// An id the gateway made and stored (read back from its own database): not
            /// checked again.
            pub fn from_stored(s: impl Into<String>) -> Self {
                $name(s.into())
            }

            /// A new id for the time `ms` (see [`new_id_at`]).
            pub fn new_at(ms: i64) -> Self {
                $name(new_id_at($prefix, ms))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NotAnId;
            fn from_str(s: &str) -> Result<Self, NotAnId> {
                $name::parse(s)
            }
        }
    };
}

gateway_id! {
    /// A message's gateway id (`msg_…`).
    MessageId = prefix::MESSAGE
}
gateway_id! {
    /// A contact's id (`con_…`).
    ContactId = prefix::CONTACT
}
gateway_id! {
    /// A channel's id (`chn_…`).
    ChannelId = prefix::CHANNEL
}
gateway_id! {
    /// A template's gateway id (`tpl_…`).
    TemplateId = prefix::TEMPLATE
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

    #[test]
    fn the_first_id_of_a_time_bounds_the_ids_before_it() {
        let first = first_id_at(prefix::INBOX, 1_700_000_000_000);
        assert!(has_prefix(&first, prefix::INBOX));
        let before = Ulid::from_parts(1_699_999_999_999, u128::MAX >> 48);
        assert!(format!("whk_{}", before.to_string().to_lowercase()) < first);
        let at = Ulid::from_parts(1_700_000_000_000, 1);
        assert!(format!("whk_{}", at.to_string().to_lowercase()) > first);
    }

    #[test]
    fn typed_ids_parse_only_their_kind() {
        let m = MessageId::new_at(1_000);
        assert_eq!(MessageId::parse(m.as_str()).unwrap(), m);
        assert!(ContactId::parse(m.as_str()).is_err());
        let e = MessageId::parse("msg_nope").unwrap_err();
        assert_eq!(e.kind, "msg");
        assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
    }
}
