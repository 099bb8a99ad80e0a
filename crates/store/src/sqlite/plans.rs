//! The plans SQLite makes of the list queries the code builds (`EXPLAIN QUERY PLAN`, on a
//! freshly migrated database: no statistics, as in a running gateway): each filter an index
//! is meant to bound reads through that index, in the page's order (no sort of what it read).
//! Dropping the index, or building the query so that SQLite cannot use it, fails these.

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::model::*;

/// A migrated in-memory database.
fn db() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    super::functions(&c).unwrap();
    super::migrate(&mut c).unwrap();
    c
}

/// The plan's lines.
fn plan(c: &Connection, sql: &str, args: Vec<Value>) -> String {
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let lines: Vec<String> = st
        .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    lines.join("\n")
}

fn built(c: &Connection, q: super::filtered::Filtered, after: Option<&str>) -> String {
    let page = Page {
        limit: 20,
        after: after.map(str::to_string),
    };
    let (sql, args) = q.build(c, "ten_1", &page).unwrap().unwrap();
    plan(c, &sql, args)
}

/// Reads through `index` and sorts nothing.
fn assert_ranged(p: &str, index: &str) {
    assert!(p.contains(&format!("USING INDEX {index} ")), "{index}: {p}");
    assert!(!p.contains("TEMP B-TREE"), "{index}, sorted: {p}");
}

#[test]
fn a_message_window_is_a_range_of_messages_created() {
    let c = db();
    for f in [
        MessageFilter {
            created_from: Some(1),
            created_to: Some(2),
            ..Default::default()
        },
        MessageFilter {
            created_to: Some(2),
            status: Some(openbsp_domain::MessageStatus::Failed),
            channel_id: Some("chn_1".into()),
            ..Default::default()
        },
    ] {
        let p = built(&c, super::messages::list_query("ten_1", &f), None);
        assert_ranged(&p, "messages_created");
        assert!(p.contains("created_at<?"), "{p}");
    }
    // A session's messages stay on the session's index, sorted by time.
    let f = MessageFilter {
        session_id: Some("ses_1".into()),
        created_from: Some(1),
        ..Default::default()
    };
    let p = built(&c, super::messages::list_query("ten_1", &f), None);
    assert!(p.contains("USING INDEX messages_session"), "{p}");
}

#[test]
fn a_session_window_is_a_range_of_sessions_opened() {
    let c = db();
    let f = SessionFilter {
        opened_from: Some(1),
        channel_id: Some("chn_1".into()),
        open: Some(false),
        ..Default::default()
    };
    let p = built(&c, super::sessions::list_query("ten_1", &f), None);
    assert_ranged(&p, "sessions_opened");
}

#[test]
fn an_event_window_is_a_range_of_events_created() {
    let c = db();
    for types in [vec![], vec!["message.*".to_string()]] {
        let f = EventFilter {
            types,
            since: Some(1),
            limit: 20,
            ..Default::default()
        };
        let (sql, args) = super::events::list_window_query(&c, "ten_1", &f)
            .unwrap()
            .unwrap();
        assert_ranged(&plan(&c, &sql, args), "events_created");
    }
}

#[test]
fn a_name_is_looked_up_in_its_trigrams() {
    let c = db();
    let f = ContactFilter {
        name: Some("ana".into()),
        ..Default::default()
    };
    for after in [None, Some("con_9")] {
        let p = built(&c, super::contacts::list_query("ten_1", &f), after);
        assert!(p.contains("SCAN contact_names VIRTUAL TABLE INDEX"), "{p}");
        assert!(p.contains("USING INTEGER PRIMARY KEY (rowid=?)"), "{p}");
        assert!(!p.contains("USING INDEX contacts_tenant_id"), "{p}");
    }
    // The walk before it: a range of the tenant's newest contacts, in the page's order, even
    // with a filter another index could serve.
    let f = ContactFilter {
        name: Some("ana".into()),
        opted_out: Some(false),
        ..Default::default()
    };
    let p = built(
        &c,
        super::contacts::query("ten_1", &f, false, Some("con_1")),
        Some("con_9"),
    );
    assert_ranged(&p, "contacts_tenant_id");
    assert!(p.contains("(tenant_id=? AND id>? AND id<?)"), "{p}");
}

#[test]
fn a_recipient_status_is_a_range_of_its_own() {
    let c = db();
    let sql = super::campaigns::recipients_sql(true);
    for status in ["pending", "sent", "delivered", "read", "failed"] {
        let args = vec![
            Value::Text("cmp_1".into()),
            Value::Integer(0),
            Value::Text(status.into()),
            Value::Integer(20),
        ];
        let p = plan(&c, &sql, args);
        assert!(
            p.contains(
                "USING INDEX campaign_recipients_status (campaign_id=? AND status=? AND id>?)"
            ),
            "{p}"
        );
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }
}
