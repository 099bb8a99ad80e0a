//! Migration 24 (SQLite only: PostgreSQL's migration 20 did the same with its own `sha256`):
//! payloads stored before digests existed get the digest a new payload is stored under, so a
//! copy of one (Meta's retry, a replayed signed payload) is not stored again.

use openbsp_domain::crypto::sha256;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;
use rusqlite::{Connection, params};

use crate::fixtures::*;

const DAY: i64 = 86_400_000;

/// Stores a payload as the store did before migration 21: no digest.
fn old_payload(c: &Connection, app_id: &str, at: i64, body: &[u8]) -> String {
    let id = new_id_at(prefix::INBOX, at);
    c.execute(
        "INSERT INTO webhook_inbox (id, app_id, received_at, processed_at) VALUES (?1, ?2, ?3, ?3)",
        params![id, app_id, at],
    )
    .unwrap();
    c.execute(
        "INSERT INTO webhook_inbox_bodies (inbox_rowid, body) VALUES (?1, ?2)",
        params![c.last_insert_rowid(), body],
    )
    .unwrap();
    id
}

fn digest_of(c: &Connection, id: &str) -> Option<Vec<u8>> {
    c.query_row(
        "SELECT digest FROM webhook_inbox WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

/// A database at migration 23 holding payloads of the last week without digests (a copy among
/// them) and one older: opened, the week's get the digests new payloads get (by their bytes for
/// messages, by their id and bytes for the rest), the first of the copies keeps its, the older
/// one none; a replay of a backfilled payload is then not stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_stored_before_digests_get_theirs() {
    let (db, store) = open_store(Backend::Sqlite).await;
    let w = world(&store, "Acme").await;
    drop(store);
    let path = db.path().join("openbsp.db");
    let now = chrono::Utc::now().timestamp_millis();
    let messages = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[]}}]}]}"#;
    let other = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[]}}]}]}"#;
    let template = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","time":1,"changes":[{"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}"#;
    let (first, copy, tmpl, old) = {
        let c = Connection::open(&path).unwrap();
        c.execute("UPDATE webhook_inbox SET digest = NULL", [])
            .unwrap();
        c.execute("DELETE FROM schema_migrations WHERE version >= 24", [])
            .unwrap();
        let first = old_payload(&c, &w.app.id, now - 2 * DAY, messages);
        let copy = old_payload(&c, &w.app.id, now - DAY, messages);
        let tmpl = old_payload(&c, &w.app.id, now - DAY, template);
        let old = old_payload(&c, &w.app.id, now - 8 * DAY, other);
        (first, copy, tmpl, old)
    };

    let store = openbsp_store::open(&db.url)
        .await
        .expect("open and migrate");
    {
        let c = Connection::open(&path).unwrap();
        assert_eq!(digest_of(&c, &first), Some(sha256(messages).to_vec()));
        assert_eq!(
            digest_of(&c, &copy),
            None,
            "the first copy keeps the digest"
        );
        let mut keyed = tmpl.as_bytes().to_vec();
        keyed.push(0);
        keyed.extend_from_slice(template);
        assert_eq!(digest_of(&c, &tmpl), Some(sha256(&keyed).to_vec()));
        assert_eq!(digest_of(&c, &old), None, "older than Meta's retries");
    }

    let replay = |body: &[u8]| InboxItem {
        id: new_id_at(prefix::INBOX, now),
        app_id: w.app.id.clone(),
        received_at: now,
        body: body.to_vec(),
    };
    assert!(
        !store.insert_inbox(&replay(messages)).await.unwrap(),
        "a replay of a backfilled payload is not stored again"
    );
    // What is not deduplicated by its bytes is still stored; so is a payload past the week.
    assert!(store.insert_inbox(&replay(template)).await.unwrap());
    assert!(store.insert_inbox(&replay(other)).await.unwrap());
    assert!(!store.insert_inbox(&replay(other)).await.unwrap());
}
