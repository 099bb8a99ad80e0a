//! What a stored Meta payload is deduplicated by.

use openbsp_domain::crypto::sha256;
use serde::Deserialize;

use crate::model::InboxItem;

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

/// Only the field is read; serde skips the rest (the value) without building it.
#[derive(Deserialize)]
struct Change {
    field: String,
}

/// Whether every change of `body` is a `messages` change (inbound messages and statuses): the
/// same bytes again are the same events again (Meta's retry, or a replay), each named by its
/// own `wamid` and status. Account and template changes are not: two distinct ones (a template
/// approved, edited, approved again within a second) can be the same bytes.
fn only_messages(body: &[u8]) -> bool {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(env) => {
            let mut changes = env.entry.iter().flat_map(|e| e.changes.iter()).peekable();
            changes.peek().is_some() && changes.all(|c| c.field == "messages")
        }
        Err(_) => false,
    }
}

/// The digest `item` is stored under (one row per app and digest): its bytes when it holds
/// messages and statuses only, so a copy is stored once; otherwise its id and its bytes, so it
/// is always stored (and the same id with other bytes still meets the id's own conflict).
pub(crate) fn digest(item: &InboxItem) -> [u8; 32] {
    digest_of(&item.id, &item.body)
}

/// [`digest`] of a payload's id and body as stored: what SQLite's `openbsp_inbox_digest(id,
/// body)` computes (migration 24 gives payloads stored before digests existed theirs, the
/// same bytes a new one gets).
pub(crate) fn digest_of(id: &str, body: &[u8]) -> [u8; 32] {
    if only_messages(body) {
        sha256(body)
    } else {
        let mut keyed = id.as_bytes().to_vec();
        keyed.push(0);
        keyed.extend_from_slice(body);
        sha256(&keyed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_payloads_are_deduplicated_by_their_bytes() {
        let messages = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[]}}]}]}"#;
        let template = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","time":5,"changes":[{"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}"#;
        let mixed = br#"{"entry":[{"changes":[{"field":"messages","value":{}},{"field":"user_preferences","value":{}}]}]}"#;
        assert!(only_messages(messages));
        assert!(!only_messages(template));
        assert!(!only_messages(mixed));
        assert!(!only_messages(b"not json"));
        assert!(!only_messages(br#"{"entry":[]}"#));
        let item = |id: &str, body: &[u8]| InboxItem {
            id: id.into(),
            app_id: "app_1".into(),
            received_at: 0,
            body: body.to_vec(),
        };
        assert_eq!(digest(&item("a", messages)), digest(&item("b", messages)));
        assert_ne!(digest(&item("a", template)), digest(&item("b", template)));
    }
}
