//! `lists`: `GET /v1/events` over a large table, on the store itself (no HTTP, no gateway
//! process): what one page costs when the tenant has `--events` events and the page asks for
//! a type that only `--rare` of them have.
//!
//! The events are written straight into the `events` table in bulk (SQL that generates the
//! rows, in transactions of 100,000), after the store has made its schema: 60 %
//! `message.status`, 20 % `message.received`, 10 % `contact.updated`, 5 % each of
//! `session.opened` and `session.closed`, ~400 bytes of JSON each, and every
//! (`--events` / `--rare`)th one, the newest included, a `template.quality_changed` instead.
//! PostgreSQL's statistics are then gathered (`ANALYZE`, as autovacuum would); SQLite's are
//! not (the gateway never runs `ANALYZE`). Then each case reads a page of 100 (`limit` 101,
//! as the API asks) through [`openbsp_store::EventStore::list_events`], once to warm the
//! caches and `--runs` times measured:
//!
//! - `types=template.quality_changed`: the rare type (the page holds all `--rare`);
//! - `types=message.*`: a common group;
//! - no filter;
//! - no filter, after the middle event (a deep page).
//!
//! The check: the rare page holds exactly the `--rare` rare events, the others 101 events.
//!
//! Then the filters issue 16 bounded last, with as many rows again in each table (written the
//! same way, after the events): `--events` messages of the tenant (one every 10 ms, every
//! (`--events` / `--rare`)th `read`, the others `delivered`, all of one campaign), as many
//! contacts (named `User n`, every (`--events` / `--rare`)th `Zyxw n`), and the campaign's
//! recipients, one per message (so `--rare` of them have the computed status `read`):
//!
//! - messages `created_after`/`created_before` the oldest 1 % (a window far in the past);
//! - events `since`/`until` the oldest 1 %;
//! - contacts `name=zyxw` (a rare substring), `name=user` (one nearly every name holds),
//!   `name=ser 12` (11,111 names, all far down), each also as the one query of before the
//!   walk (`(one query)`);
//! - the campaign's recipients `status=read` (a rare computed status).
//!
//! Each is also run as the query the store sent before (its SQL text of then, on the same
//! data, in a transaction that drops the indexes added since and is rolled back): the
//! `(before)` cases.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use openbsp_store::{EventFilter, Store};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::database::{BenchDb, DbKind};
use crate::machine::Machine;

/// The rare type.
const RARE: &str = "template.quality_changed";
/// The tenant whose events are listed.
const TENANT: &str = "ten_bench_lists";
/// Rows per bulk transaction.
const CHUNK: u32 = 100_000;
/// The time of the first event (ms); each next one 10 ms later.
const T0: i64 = 1_700_000_000_000;

/// `openbsp-bench lists`.
#[derive(Debug, Args)]
pub struct ListsArgs {
    /// Storage backend.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub database: DbKind,
    /// The tenant's events.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub events: u32,
    /// How many of them are of the rare type.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rare: u32,
    /// Measured runs of each case (after one to warm the caches).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// One case measured.
#[derive(Debug)]
pub struct Case {
    name: String,
    returned: usize,
    expected: usize,
    /// Each measured run, ms.
    ms: Vec<f64>,
}

/// What a run measured.
#[derive(Debug)]
pub struct ListsReport {
    database: DbKind,
    events: u32,
    rare: u32,
    insert_seconds: f64,
    cases: Vec<Case>,
    machine: Machine,
}

/// Runs the benchmark.
pub async fn run(args: &ListsArgs) -> Result<ListsReport> {
    if args.events < args.rare {
        bail!(
            "--rare ({}) is more than --events ({})",
            args.rare,
            args.events
        );
    }
    let dir = tempfile::tempdir().context("making a data directory")?;
    let db = BenchDb::create(args.database, dir.path()).await?;
    let result = measure(args, &db).await;
    if let BenchDb::Postgres { .. } = db {
        db.drop_database().await?;
    }
    result
}

async fn measure(args: &ListsArgs, db: &BenchDb) -> Result<ListsReport> {
    let store = openbsp_store::open(db.url())
        .await
        .map_err(|e| anyhow::anyhow!("opening the store: {e}"))?;
    let started = Instant::now();
    fill(db, args.events, args.rare).await?;
    let insert_seconds = started.elapsed().as_secs_f64();
    let middle = format!("evt_{:026}", args.events / 2);
    let cases = [
        (
            "types=template.quality_changed",
            vec![RARE],
            None,
            args.rare,
        ),
        ("types=message.*", vec!["message.*"], None, 101),
        ("no filter", vec![], None, 101),
        (
            "no filter, after the middle event",
            vec![],
            Some(middle),
            101,
        ),
    ];
    let mut out = Vec::new();
    for (name, types, after, expected) in cases {
        let filter = EventFilter {
            types: types.iter().map(|t| t.to_string()).collect(),
            after,
            limit: 101,
            ..Default::default()
        };
        let mut ms = Vec::new();
        let mut returned = 0;
        for run in 0..=args.runs {
            let (n, took) = page(&store, &filter).await?;
            returned = n;
            if run > 0 {
                ms.push(took);
            }
        }
        out.push(Case {
            name: name.to_string(),
            returned,
            expected: expected.min(args.events) as usize,
            ms,
        });
    }
    fill_more(db, args.events, args.rare).await?;
    out.extend(measure_more(args, db, &store).await?);
    Ok(ListsReport {
        database: args.database,
        events: args.events,
        rare: args.rare,
        insert_seconds,
        cases: out,
        machine: Machine::detect(),
    })
}

/// One page: how many events, and the time it took (ms).
async fn page(store: &Arc<dyn Store>, filter: &EventFilter) -> Result<(usize, f64)> {
    let started = Instant::now();
    let found = store
        .list_events(TENANT, filter)
        .await
        .map_err(|e| anyhow::anyhow!("listing events: {e}"))?;
    Ok((found.len(), started.elapsed().as_secs_f64() * 1000.0))
}

/// The type of event `n` (1-based): every `every`th the rare one, else the common mix.
const TYPE_SQL: &str = "CASE WHEN n % $every = 0 THEN 'template.quality_changed'
    WHEN n % 20 < 12 THEN 'message.status' WHEN n % 20 < 16 THEN 'message.received'
    WHEN n % 20 < 18 THEN 'contact.updated' WHEN n % 20 = 18 THEN 'session.opened'
    ELSE 'session.closed' END";

/// ~400 bytes of an event's data around `n`.
fn data_sql(concat: &str) -> String {
    let pad = "x".repeat(360);
    format!("'{{\"n\":' {concat} n {concat} ',\"message_id\":\"msg_bench\",\"pad\":\"{pad}\"}}'")
}

/// Writes the tenant's events in bulk.
async fn fill(db: &BenchDb, events: u32, rare: u32) -> Result<()> {
    let every = i64::from(events / rare);
    let type_sql = TYPE_SQL.replace("$every", &every.to_string());
    match db {
        BenchDb::Sqlite { path, .. } => {
            let path = path.clone();
            let data = data_sql("||");
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut conn = rusqlite::Connection::open(&path)?;
                conn.busy_timeout(std::time::Duration::from_secs(30))?;
                let sql = format!(
                    "WITH RECURSIVE s(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM s WHERE n < ?2)
                     INSERT INTO events (id, tenant_id, type, format, created_at, data)
                     SELECT printf('evt_%026d', n), ?3, {type_sql}, 'native', ?4 + n * 10, {data}
                     FROM s"
                );
                sqlite_in_chunks(&mut conn, &sql, events)
            })
            .await?
            .context("writing events (SQLite)")
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let data = data_sql("||");
            let sql = format!(
                "INSERT INTO events (id, tenant_id, type, format, created_at, data)
                 SELECT 'evt_' || lpad(n::text, 26, '0'), $3, {type_sql}, 'native',
                   $4 + n * 10, {data}
                 FROM generate_series($1::bigint, $2::bigint) AS n"
            );
            pg_in_chunks(&mut conn, &sql, events)
                .await
                .context("writing events (PostgreSQL)")?;
            sqlx::query("ANALYZE events").execute(&mut conn).await?;
            let _ = conn.close().await;
            Ok(())
        }
    }
}

/// Runs `sql` (rows `?1..=?2` of a series, `?3` the tenant, `?4` the first time) for rows 1 to
/// `n`, [`CHUNK`] rows a transaction.
fn sqlite_in_chunks(conn: &mut rusqlite::Connection, sql: &str, n: u32) -> Result<()> {
    let mut from = 1;
    while from <= n {
        let to = (from + CHUNK - 1).min(n);
        let tx = conn.transaction()?;
        tx.execute(sql, rusqlite::params![from, to, TENANT, T0])?;
        tx.commit()?;
        from = to + 1;
    }
    Ok(())
}

/// [`sqlite_in_chunks`] on PostgreSQL (`$1`..`$4`).
async fn pg_in_chunks(conn: &mut sqlx::PgConnection, sql: &str, n: u32) -> Result<()> {
    let mut from = 1;
    while from <= n {
        let to = (from + CHUNK - 1).min(n);
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(i64::from(from))
            .bind(i64::from(to))
            .bind(TENANT)
            .bind(T0)
            .execute(&mut *conn)
            .await?;
        from = to + 1;
    }
    Ok(())
}

/// The campaign whose recipients are listed.
const CAMPAIGN: &str = "cmp_bench_lists";
/// The status of message `n` (1-based): every `every`th `read`.
const STATUS_SQL: &str = "CASE WHEN n % $every = 0 THEN 'read' ELSE 'delivered' END";
/// The name of contact `n`: every `every`th a rare one.
const NAME_SQL: &str = "CASE WHEN n % $every = 0 THEN 'Zyxw ' ELSE 'User ' END";
/// The indexes (and FTS table) the bounded filters read through: dropped for the `(before)`
/// cases, in a transaction rolled back after them.
const NEW_INDEXES: [&str; 4] = [
    "messages_created",
    "events_created",
    "campaign_recipients_status",
    "contacts_name_trgm",
];

/// Writes the tenant's messages, contacts and campaign recipients in bulk (see the module).
async fn fill_more(db: &BenchDb, n: u32, rare: u32) -> Result<()> {
    let every = i64::from(n / rare).to_string();
    let status = STATUS_SQL.replace("$every", &every);
    let name = NAME_SQL.replace("$every", &every);
    // `{p}` a placeholder's mark, `{cat}` concatenation, `{num}` a number as text.
    let statements = |p: char, id: &dyn Fn(&str) -> String| {
        [
            format!(
                "INSERT INTO messages (id, tenant_id, channel_id, direction, recipient, msg_type,
                   content, status, created_at, updated_at, campaign_id)
                 SELECT {}, {p}3, 'chn_bench_lists', 'outbound', {}, 'text',
                   '{{\"type\":\"text\",\"text\":{{\"body\":\"hello\"}}}}', {status},
                   {p}4 + n * 10, {p}4 + n * 10, '{CAMPAIGN}'
                 FROM s",
                id("msg_"),
                id("1555"),
            ),
            format!(
                "INSERT INTO contacts (id, tenant_id, wa_id, profile_name, created_at, updated_at)
                 SELECT {}, {p}3, {}, {name} || n, {p}4 + n * 10, {p}4 + n * 10 FROM s",
                id("con_"),
                id("1"),
            ),
            format!(
                "INSERT INTO campaign_recipients (campaign_id, recipient, line, variables, state,
                   message_id, created_at, updated_at)
                 SELECT '{CAMPAIGN}', {}, n + 1, '{{}}', 'queued', {}, {p}4, {p}4 FROM s",
                id("1555"),
                id("msg_"),
            ),
        ]
    };
    match db {
        BenchDb::Sqlite { path, .. } => {
            let path = path.clone();
            let id = |prefix: &str| format!("printf('{prefix}%026d', n)");
            let statements = statements('?', &id);
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut conn = rusqlite::Connection::open(&path)?;
                conn.busy_timeout(std::time::Duration::from_secs(30))?;
                conn.execute(
                    "INSERT INTO tenants (id, name, created_at) VALUES (?1, 'lists', ?2)",
                    rusqlite::params![TENANT, T0],
                )?;
                for sql in &statements {
                    let sql = format!(
                        "WITH RECURSIVE s(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM s WHERE n < ?2) {sql}"
                    );
                    sqlite_in_chunks(&mut conn, &sql, n)?;
                }
                Ok(())
            })
            .await?
            .context("writing messages, contacts and recipients (SQLite)")
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let id = |prefix: &str| format!("'{prefix}' || lpad(n::text, 26, '0')");
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'lists', $2)")
                .bind(TENANT)
                .bind(T0)
                .execute(&mut conn)
                .await?;
            for sql in statements('$', &id) {
                let sql =
                    format!("WITH s(n) AS (SELECT generate_series($1::bigint, $2::bigint)) {sql}");
                pg_in_chunks(&mut conn, &sql, n)
                    .await
                    .context("writing messages, contacts and recipients (PostgreSQL)")?;
            }
            for table in ["messages", "contacts", "campaign_recipients"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
                    .execute(&mut conn)
                    .await?;
            }
            let _ = conn.close().await;
            Ok(())
        }
    }
}

/// The cases of the filters bounded last, through the store, then as the queries of before.
async fn measure_more(args: &ListsArgs, db: &BenchDb, store: &Arc<dyn Store>) -> Result<Vec<Case>> {
    let n = args.events;
    // The oldest 1 %: rows 1..=n/100 (times T0 + 10 .. T0 + n/100 * 10).
    let (from, to) = (T0, T0 + i64::from(n / 100) * 10 + 1);
    let window_rows = (n / 100).min(101) as usize;
    let rare = args.rare as usize;
    let mut out = Vec::new();
    let mut case = |name: &str, expected: usize, runs: Vec<(usize, f64)>| {
        out.push(Case {
            name: name.to_string(),
            returned: runs.last().map_or(0, |r| r.0),
            expected,
            ms: runs.iter().skip(1).map(|r| r.1).collect(),
        });
    };
    let err = |e: openbsp_store::StoreError| anyhow::anyhow!("listing: {e}");
    let mut runs = Vec::new();
    for _ in 0..=args.runs {
        let f = openbsp_store::MessageFilter {
            created_from: Some(from),
            created_to: Some(to),
            ..Default::default()
        };
        let started = Instant::now();
        let found = store
            .list_messages(TENANT, &f, &page101())
            .await
            .map_err(err)?;
        runs.push((found.len(), ms(started)));
    }
    case(
        "messages, the oldest 1 %",
        window_rows,
        std::mem::take(&mut runs),
    );
    for _ in 0..=args.runs {
        let f = EventFilter {
            since: Some(from),
            until: Some(to),
            limit: 101,
            ..Default::default()
        };
        let started = Instant::now();
        let found = store.list_events(TENANT, &f).await.map_err(err)?;
        runs.push((found.len(), ms(started)));
    }
    case(
        "events, the oldest 1 %",
        window_rows,
        std::mem::take(&mut runs),
    );
    let terms = name_terms(n, args.rare);
    for &(term, expected) in &terms {
        for _ in 0..=args.runs {
            let f = openbsp_store::ContactFilter {
                name: Some(term.into()),
                ..Default::default()
            };
            let started = Instant::now();
            let found = store
                .list_contacts(TENANT, &f, &page101())
                .await
                .map_err(err)?;
            runs.push((found.len(), ms(started)));
        }
        case(
            &format!("contacts name={term}"),
            expected,
            std::mem::take(&mut runs),
        );
    }
    for _ in 0..=args.runs {
        let f = openbsp_store::RecipientFilter {
            status: Some("read".into()),
            after: None,
            limit: 101,
        };
        let started = Instant::now();
        let found = store.list_recipients(CAMPAIGN, &f).await.map_err(err)?;
        runs.push((found.len(), ms(started)));
    }
    case("recipients status=read", rare, std::mem::take(&mut runs));

    // A name search walks the newest contacts before it looks the term up in the trigrams: the
    // one query the store sent before the walk, for the same terms.
    for &(term, expected) in &terms {
        let runs = one_name_query(db, term, args.runs).await?;
        case(&format!("contacts name={term} (one query)"), expected, runs);
    }

    // The queries of before, on the same rows, without the indexes added since.
    let old = old_queries(db, args.runs, from, to).await?;
    for ((name, expected), runs) in [
        ("messages, the oldest 1 % (before)", window_rows),
        ("events, the oldest 1 % (before)", window_rows),
        ("contacts name=zyxw (before)", rare),
        ("recipients status=read (before)", rare),
    ]
    .into_iter()
    .zip(old)
    {
        case(name, expected, runs);
    }
    Ok(out)
}

fn page101() -> openbsp_store::Page {
    openbsp_store::Page {
        limit: 101,
        after: None,
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// The recipients' status as the store computed it before it was stored (`?`/`$` marks).
const OLD_STATUS_SQL: &str = "CASE WHEN r.state IN ('skipped', 'failed') THEN r.state WHEN r.replied_at IS NOT NULL THEN 'replied' WHEN m.status IN ('accepted', 'sent') THEN 'sent' WHEN m.status IN ('delivered', 'read', 'failed') THEN m.status ELSE 'pending' END";

/// The four `(before)` cases, each `runs` + 1 times (rows, ms): the SQL the store sent for
/// them before migration sqlite_0023 / postgres_0022, in a transaction that drops the indexes
/// it added, rolled back after.
async fn old_queries(
    db: &BenchDb,
    runs: u32,
    from: i64,
    to: i64,
) -> Result<Vec<Vec<(usize, f64)>>> {
    let recipients = format!(
        "SELECT r.id, m.status FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
         WHERE r.campaign_id = {{1}} AND r.id > 0 AND {OLD_STATUS_SQL} = {{2}} ORDER BY r.id LIMIT 101"
    );
    match db {
        BenchDb::Sqlite { path, .. } => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> Result<Vec<Vec<(usize, f64)>>> {
                let mut conn = rusqlite::Connection::open(&path)?;
                conn.busy_timeout(std::time::Duration::from_secs(30))?;
                let tx = conn.transaction()?;
                for index in NEW_INDEXES {
                    tx.execute_batch(&format!("DROP INDEX IF EXISTS {index}"))?;
                }
                let queries: [(String, Vec<rusqlite::types::Value>); 4] = {
                    use rusqlite::types::Value::{Integer, Text};
                    [
                        (
                            "SELECT id FROM messages WHERE tenant_id = ?1 AND +created_at >= ?2
                             AND +created_at < ?3 ORDER BY id DESC LIMIT 101"
                                .into(),
                            vec![Text(TENANT.into()), Integer(from), Integer(to)],
                        ),
                        (
                            "SELECT id FROM events WHERE tenant_id = ?1 AND format = 'native'
                             AND seq < ?2 AND (?3 IS NULL OR created_at >= ?3)
                             AND (?4 IS NULL OR created_at < ?4) ORDER BY seq DESC LIMIT 101"
                                .into(),
                            vec![Text(TENANT.into()), Integer(i64::MAX), Integer(from), Integer(to)],
                        ),
                        (
                            "SELECT id FROM contacts WHERE tenant_id = ?1
                             AND instr(lower(profile_name), lower(?2)) > 0 ORDER BY id DESC LIMIT 101"
                                .into(),
                            vec![Text(TENANT.into()), Text("zyxw".into())],
                        ),
                        (
                            recipients.replace("{1}", "?1").replace("{2}", "?2"),
                            vec![Text(CAMPAIGN.into()), Text("read".into())],
                        ),
                    ]
                };
                let mut out = Vec::new();
                for (sql, args) in queries {
                    let mut runs_of = Vec::new();
                    for _ in 0..=runs {
                        let started = Instant::now();
                        let mut st = tx.prepare(&sql)?;
                        let n = st
                            .query_map(rusqlite::params_from_iter(args.clone()), |_| Ok(()))?
                            .count();
                        runs_of.push((n, ms(started)));
                    }
                    out.push(runs_of);
                }
                tx.rollback()?;
                Ok(out)
            })
            .await?
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let mut tx = conn.begin().await?;
            sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(&mut *tx)
                .await?;
            for index in NEW_INDEXES {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {index}")))
                    .execute(&mut *tx)
                    .await?;
            }
            let queries = [
                (
                    "SELECT id FROM messages WHERE tenant_id = $1 AND created_at >= $2
                     AND created_at < $3 ORDER BY id DESC LIMIT 101"
                        .to_string(),
                    (Some(from), Some(to), None),
                ),
                (
                    "SELECT id FROM events WHERE tenant_id = $1 AND format = 'native'
                     AND created_at >= $2 AND created_at < $3
                     ORDER BY xid DESC, seq DESC LIMIT 101"
                        .to_string(),
                    (Some(from), Some(to), None),
                ),
                (
                    "SELECT id FROM contacts WHERE tenant_id = $1
                     AND strpos(lower(profile_name), $2) > 0 ORDER BY id DESC LIMIT 101"
                        .to_string(),
                    (None, None, Some("zyxw")),
                ),
                (
                    recipients.replace("{1}", "$1").replace("{2}", "$2"),
                    (None, None, Some("read")),
                ),
            ];
            let mut out = Vec::new();
            for (i, (sql, (a, b, text))) in queries.into_iter().enumerate() {
                let mut runs_of = Vec::new();
                for _ in 0..=runs {
                    let first = if i == 3 { CAMPAIGN } else { TENANT };
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(first);
                    if let (Some(a), Some(b)) = (a, b) {
                        q = q.bind(a).bind(b);
                    }
                    if let Some(t) = text {
                        q = q.bind(t);
                    }
                    let started = Instant::now();
                    let n = q.fetch_all(&mut *tx).await?.len();
                    runs_of.push((n, ms(started)));
                }
                out.push(runs_of);
            }
            tx.rollback().await?;
            let _ = conn.close().await;
            Ok(out)
        }
    }
}

/// The name search's terms and what a page of 101 holds: a rare one (`rare` of the `n`
/// names), one nearly every name holds, and one 11,111 names hold, all of them far down (the
/// newest, `User 129999`, under 870,000 newer contacts at 10⁶).
fn name_terms(n: u32, rare: u32) -> [(&'static str, usize); 3] {
    let page = (n as usize).min(101);
    [("zyxw", rare as usize), ("user", page), ("ser 12", page)]
}

/// The name search as the store sent it before it walked the newest contacts first, one query
/// (`runs` + 1 times), the columns the store reads: on SQLite the contacts whose names hold `term`'s trigrams, checked and
/// sorted; on PostgreSQL the plain query, its plan the planner's.
async fn one_name_query(db: &BenchDb, term: &'static str, runs: u32) -> Result<Vec<(usize, f64)>> {
    match db {
        BenchDb::Sqlite { path, .. } => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> Result<Vec<(usize, f64)>> {
                let conn = rusqlite::Connection::open(&path)?;
                let sql = "SELECT id, tenant_id, wa_id, user_id, profile_name, created_at,
                       updated_at, username, attributes, marketing_opt_out_at,
                       marketing_opt_out_source, previous_wa_ids FROM contacts WHERE +tenant_id = ?1
                     AND rowid IN (SELECT rowid FROM contact_names WHERE contact_names MATCH ?2)
                     AND instr(lower(profile_name), lower(?3)) > 0 ORDER BY id DESC LIMIT 101";
                let mut out = Vec::new();
                for _ in 0..=runs {
                    let started = Instant::now();
                    let mut st = conn.prepare(sql)?;
                    let args = rusqlite::params![TENANT, format!("\"{term}\""), term];
                    let n = st.query_map(args, |_| Ok(()))?.count();
                    out.push((n, ms(started)));
                }
                Ok(out)
            })
            .await?
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let mut out = Vec::new();
            for _ in 0..=runs {
                let started = Instant::now();
                let n = sqlx::query(
                    "SELECT id, tenant_id, wa_id, user_id, profile_name, created_at,
                       updated_at, username, attributes, marketing_opt_out_at,
                       marketing_opt_out_source, previous_wa_ids FROM contacts
                     WHERE tenant_id = $1 AND lower(profile_name) LIKE $2
                     ORDER BY id DESC LIMIT 101",
                )
                .bind(TENANT)
                .bind(format!("%{term}%"))
                .fetch_all(&mut conn)
                .await?
                .len();
                out.push((n, ms(started)));
            }
            let _ = conn.close().await;
            Ok(out)
        }
    }
}

/// (min, median, max) of `ms`.
fn spread(ms: &[f64]) -> (f64, f64, f64) {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    match v.as_slice() {
        [] => (0.0, 0.0, 0.0),
        s => (s[0], s[s.len() / 2], s[s.len() - 1]),
    }
}

impl ListsReport {
    /// Whether every page held what it should.
    pub fn ok(&self) -> bool {
        self.cases.iter().all(|c| c.returned == c.expected)
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "lists: {} events of one tenant ({} of type {RARE}) on {}, written in {:.1} s\n\
             machine: {}\n\
             case | events | min ms | median ms | max ms\n",
            self.events,
            self.rare,
            self.database.name(),
            self.insert_seconds,
            self.machine.summary(),
        );
        for c in &self.cases {
            let (min, median, max) = spread(&c.ms);
            let check = if c.returned == c.expected {
                String::new()
            } else {
                format!(" (expected {})", c.expected)
            };
            s.push_str(&format!(
                "{} | {}{check} | {min:.2} | {median:.2} | {max:.2}\n",
                c.name, c.returned
            ));
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let cases: Vec<Value> = self
            .cases
            .iter()
            .map(|c| {
                let (min, median, max) = spread(&c.ms);
                json!({"case": c.name, "returned": c.returned, "expected": c.expected,
                       "ms": c.ms, "min_ms": min, "median_ms": median, "max_ms": max})
            })
            .collect();
        json!({
            "scenario": "lists",
            "database": self.database.name(),
            "events": self.events,
            "rare": self.rare,
            "insert_seconds": self.insert_seconds,
            "cases": cases,
            "machine": self.machine.to_json(),
            "ok": self.ok(),
        })
    }
}
