//! References to objects as clients give them, parsed once at the edge: a message by gateway
//! id or `wamid`, a contact by gateway id, phone number or BSUID, a channel by gateway id or
//! phone number id. The core matches on the kind instead of looking at prefixes.

use openbsp_wire::ids::{Bsuid, WaId};

use crate::ids::{ChannelId, ContactId, MessageId, NotAnId, prefix};

/// A message as a client names it (everywhere a message is referenced, both are accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// The gateway's id.
    Id(MessageId),
    /// Meta's `wamid`.
    Wamid(String),
}

impl MessageRef {
    /// `msg_…` is a gateway id (and must be a well-formed one); anything else is a `wamid`.
    pub fn parse(s: &str) -> Result<MessageRef, NotAnId> {
        if s.starts_with(prefix::MESSAGE) && s.as_bytes().get(prefix::MESSAGE.len()) == Some(&b'_')
        {
            MessageId::parse(s).map(MessageRef::Id)
        } else {
            Ok(MessageRef::Wamid(s.to_string()))
        }
    }

    /// The reference as the client gave it.
    pub fn as_str(&self) -> &str {
        match self {
            MessageRef::Id(id) => id.as_str(),
            MessageRef::Wamid(w) => w,
        }
    }
}

/// A contact as a client names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    /// The gateway's id.
    Id(ContactId),
    /// Its business-scoped user id.
    Bsuid(Bsuid),
    /// Its phone number.
    WaId(WaId),
}

impl ContactRef {
    /// `con_…` is a gateway id; then a BSUID; then a phone number in any common notation.
    /// `None` when it is none of them (so no contact can match).
    pub fn parse(s: &str) -> Option<ContactRef> {
        if s.starts_with("con_") {
            ContactId::parse(s).ok().map(ContactRef::Id)
        } else if let Ok(u) = Bsuid::parse(s) {
            Some(ContactRef::Bsuid(u))
        } else {
            WaId::parse(s).ok().map(ContactRef::WaId)
        }
    }
}

/// A channel as a client names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelRef {
    /// The gateway's id.
    Id(ChannelId),
    /// Meta's phone number id.
    PhoneNumberId(String),
}

impl ChannelRef {
    /// `chn_…` is a gateway id (`None` if malformed: no channel can match); anything else is a
    /// phone number id.
    pub fn parse(s: &str) -> Option<ChannelRef> {
        if s.starts_with("chn_") {
            ChannelId::parse(s).ok().map(ChannelRef::Id)
        } else {
            Some(ChannelRef::PhoneNumberId(s.to_string()))
        }
    }

    /// The reference as text.
    pub fn as_str(&self) -> &str {
        match self {
            ChannelRef::Id(id) => id.as_str(),
            ChannelRef::PhoneNumberId(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_say_what_they_name() {
        let id = MessageId::new_at(1);
        assert_eq!(MessageRef::parse(id.as_str()), Ok(MessageRef::Id(id)));
        assert_eq!(
            MessageRef::parse("wamid.HBgL"),
            Ok(MessageRef::Wamid("wamid.HBgL".into()))
        );
        assert!(MessageRef::parse("msg_nope").is_err());
        assert!(matches!(
            ContactRef::parse("US.13491208655302741918"),
            Some(ContactRef::Bsuid(_))
        ));
        assert!(matches!(
            ContactRef::parse("+1 555 123 0001"),
            Some(ContactRef::WaId(w)) if w.as_str() == "15551230001"
        ));
        assert_eq!(ContactRef::parse("con_nope"), None);
        assert_eq!(ContactRef::parse("nobody"), None);
        assert_eq!(
            ChannelRef::parse("100200300"),
            Some(ChannelRef::PhoneNumberId("100200300".into()))
        );
        assert_eq!(ChannelRef::parse("chn_nope"), None);
    }
}
