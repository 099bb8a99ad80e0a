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
                let mut from = 1;
                while from <= events {
                    let to = (from + CHUNK - 1).min(events);
                    let tx = conn.transaction()?;
                    tx.execute(&sql, rusqlite::params![from, to, TENANT, T0])?;
                    tx.commit()?;
                    from = to + 1;
                }
                Ok(())
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
            let mut from = 1;
            while from <= events {
                let to = (from + CHUNK - 1).min(events);
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(i64::from(from))
                    .bind(i64::from(to))
                    .bind(TENANT)
                    .bind(T0)
                    .execute(&mut conn)
                    .await
                    .context("writing events (PostgreSQL)")?;
                from = to + 1;
            }
            sqlx::query("ANALYZE events").execute(&mut conn).await?;
            let _ = conn.close().await;
            Ok(())
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
