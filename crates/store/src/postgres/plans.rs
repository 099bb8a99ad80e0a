//! The plans PostgreSQL makes of the list queries the code builds (`EXPLAIN`, on a freshly
//! migrated database, sequential scans priced out with `enable_seqscan = off`): each filter an
//! index is meant to bound reads through that index, in the page's order (no sort of what it
//! read). Dropping the index, or building the query so that PostgreSQL cannot use it, fails
//! these; that the planner then prefers the index on a large table is shown by
//! `openbsp-bench lists` (BENCHMARKS.md).

use openbsp_testkit::{Backend, TestDb};
use sqlx::{AssertSqlSafe, PgConnection};

use super::PgStore;
use super::filtered::{Arg, Filtered};
use crate::model::*;

/// A migrated database, and a connection to it on which sequential scans are a last resort.
async fn db() -> (TestDb, PgStore, sqlx::pool::PoolConnection<sqlx::Postgres>) {
    let db = TestDb::new(Backend::Postgres).await;
    let store = PgStore::connect(&db.url).await.expect("open store");
    let mut c = store.pool.acquire().await.unwrap();
    sqlx::raw_sql("SET enable_seqscan = off")
        .execute(&mut *c)
        .await
        .unwrap();
    (db, store, c)
}

/// `sql` with each `$n` replaced by the literal of `args[n - 1]` (highest first, so that `$1`
/// is not taken for the start of `$10`).
fn literal(sql: &str, args: &[Arg<'_>]) -> String {
    let mut out = sql.to_string();
    for (i, a) in args.iter().enumerate().rev() {
        let value = match a {
            Arg::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Arg::Owned(s) => format!("'{}'", s.replace('\'', "''")),
            Arg::Int(n) => n.to_string(),
        };
        out = out.replace(&format!("${}", i + 1), &value);
    }
    out
}

/// The plan of `sql`, one node a line.
async fn plan(c: &mut PgConnection, sql: &str) -> String {
    let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {sql}")))
        .fetch_all(c)
        .await
        .unwrap();
    lines.join("\n")
}

/// The plan of a built list query's page (older than `after`, at the cursor time `at`).
async fn built(c: &mut PgConnection, q: Filtered<'_>, after: Option<&str>) -> String {
    let page = Page {
        limit: 20,
        after: after.map(str::to_string),
    };
    let at = after.map(|_| 1_500);
    let (sql, args) = q.parts(&page, at);
    plan(c, &literal(&sql, &args)).await
}

/// Reads through `index` (in either direction) and sorts nothing.
fn assert_ranged(p: &str, index: &str) {
    assert!(p.contains(&format!(" using {index} on ")), "{index}: {p}");
    assert!(!p.contains("Sort"), "{index}, sorted: {p}");
    assert!(!p.contains("Seq Scan"), "{index}, scanned: {p}");
}

#[tokio::test]
async fn a_message_window_is_a_range_of_messages_created() {
    let (_db, _store, mut c) = db().await;
    for (f, after) in [
        (
            MessageFilter {
                created_from: Some(1),
                created_to: Some(2),
                ..Default::default()
            },
            None,
        ),
        (
            MessageFilter {
                created_to: Some(2),
                status: Some(openbsp_domain::MessageStatus::Failed),
                channel_id: Some("chn_1".into()),
                ..Default::default()
            },
            Some("msg_1"),
        ),
    ] {
        let p = built(&mut c, super::messages::list_query("ten_1", &f), after).await;
        assert_ranged(&p, "messages_created");
        assert!(p.contains("created_at < "), "{p}");
    }
}

#[tokio::test]
async fn a_session_window_is_a_range_of_sessions_opened() {
    let (_db, _store, mut c) = db().await;
    let f = SessionFilter {
        opened_from: Some(1),
        channel_id: Some("chn_1".into()),
        open: Some(false),
        ..Default::default()
    };
    for after in [None, Some("ses_1")] {
        let p = built(&mut c, super::sessions::list_query("ten_1", &f), after).await;
        assert_ranged(&p, "sessions_opened");
    }
}

#[tokio::test]
async fn an_event_window_is_a_range_of_events_created() {
    let (_db, _store, mut c) = db().await;
    for types in ["NULL", "ARRAY['message.received']"] {
        let sql = super::events::LIST_WINDOW_SQL
            .replace("$7", types)
            .replace("$6", "20")
            .replace("$5", "9223372036854775807")
            .replace("$4", "9223372036854775807")
            .replace("$3", "2000")
            .replace("$2", "1000")
            .replace("$1", "'ten_1'");
        assert_ranged(&plan(&mut c, &sql).await, "events_created");
    }
}

/// A name search looks up below its walk (`search_walk`) through `contacts_name_trgm`, all of
/// the matches found before the page is taken: never by walking an index in the page's order
/// (the planner's choice for the plain query when it guesses many names hold the term, which
/// reads every contact above the matches when they are far down).
#[tokio::test]
async fn a_name_is_looked_up_in_its_trigrams() {
    let (_db, store, mut c) = db().await;
    sqlx::raw_sql(
        "INSERT INTO tenants (id, name, created_at) VALUES ('ten_1', 'One', 0);
         INSERT INTO contacts (id, tenant_id, wa_id, profile_name, created_at, updated_at)
         SELECT 'con_' || lpad(n::text, 8, '0'), 'ten_1', (15550000000 + n)::text,
                'Contact ' || n, n, n
         FROM generate_series(1, 20000) AS n;
         ANALYZE contacts",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    for (term, opted_out) in [("anabela", None), ("contact 1", Some(false))] {
        let f = ContactFilter {
            name: Some(term.into()),
            opted_out,
            ..Default::default()
        };
        let page = Page {
            limit: 20,
            after: Some("con_00019000".into()),
        };
        let (sql, args) =
            super::contacts::list_query("ten_1", &f, Some(term)).materialized_parts(&page);
        let p = plan(&mut c, &literal(&sql, &args)).await;
        assert!(p.contains("CTE m"), "{term}: {p}");
        assert!(
            p.contains("Bitmap Index Scan on contacts_name_trgm"),
            "{term}: {p}"
        );
        assert!(!p.contains("contacts_tenant_id"), "{term}: {p}");
        assert!(!p.contains("contacts_pkey"), "{term}: {p}");
        assert!(!p.contains("Seq Scan"), "{term}: {p}");
    }
}

#[tokio::test]
async fn a_recipient_status_is_a_range_of_its_own() {
    let (_db, _store, mut c) = db().await;
    let sql = super::campaigns::recipients_sql(true);
    for status in ["pending", "sent", "delivered", "read", "failed"] {
        let sql = sql
            .replace("$4", "20")
            .replace("$3", &format!("'{status}'"))
            .replace("$2", "0")
            .replace("$1", "'cmp_1'");
        let p = plan(&mut c, &sql).await;
        assert!(p.contains("using campaign_recipients_status on"), "{p}");
        assert!(
            p.contains("Index Cond: ((campaign_id = 'cmp_1'::text) AND (status = "),
            "{p}"
        );
        assert!(!p.contains("Sort"), "{p}");
    }
}
