//! The database a benchmark run uses: created fresh, counted at the end, removed afterwards.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sqlx::Connection;

/// Default admin URL of the PostgreSQL server (same as the test suite's).
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbKind {
    /// An SQLite file in a temporary data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server at OPENBSP_TEST_POSTGRES_URL.
    Postgres,
}

impl DbKind {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        }
    }
}

/// A database made for one run.
#[derive(Debug)]
pub enum BenchDb {
    /// The SQLite file the gateway will create.
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
        /// `sqlite://<path>`.
        url: String,
    },
    /// A fresh PostgreSQL database.
    Postgres {
        /// The server's admin URL (used to create and drop the database).
        admin_url: String,
        /// The database's name.
        name: String,
        /// The URL of the database itself.
        url: String,
    },
}

impl BenchDb {
    /// Prepares a database of `kind`; SQLite lives in `data_dir`.
    pub async fn create(kind: DbKind, data_dir: &Path) -> Result<BenchDb> {
        match kind {
            DbKind::Sqlite => {
                let path = data_dir.join("openbsp.db");
                let url = format!("sqlite://{}", path.display());
                Ok(BenchDb::Sqlite { path, url })
            }
            DbKind::Postgres => {
                let admin_url = std::env::var("OPENBSP_TEST_POSTGRES_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| DEFAULT_POSTGRES_ADMIN_URL.to_string());
                let name = format!(
                    "openbsp_bench_{}",
                    ulid::Ulid::new().to_string().to_lowercase()
                );
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .with_context(|| {
                        format!(
                            "PostgreSQL does not answer at {} (set OPENBSP_TEST_POSTGRES_URL, or run scripts/ensure-postgres.sh)",
                            redact(&admin_url)
                        )
                    })?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = conn.close().await;
                let url = database_url(&admin_url, &name)?;
                Ok(BenchDb::Postgres {
                    admin_url,
                    name,
                    url,
                })
            }
        }
    }

    /// The URL to give the gateway.
    pub fn url(&self) -> &str {
        match self {
            BenchDb::Sqlite { url, .. } | BenchDb::Postgres { url, .. } => url,
        }
    }

    /// How many rows the `messages` table holds.
    pub async fn count_messages(&self) -> Result<i64> {
        match self {
            BenchDb::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> Result<i64> {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .with_context(|| format!("opening {}", path.display()))?;
                    conn.busy_timeout(std::time::Duration::from_secs(10))?;
                    let n: i64 = conn
                        .query_row(
                            "SELECT count(*) FROM messages WHERE direction = 'outbound'",
                            [],
                            |row| row.get(0),
                        )
                        .context("counting rows in messages (SQLite)")?;
                    Ok(n)
                })
                .await?
            }
            BenchDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(url)))?;
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM messages WHERE direction = 'outbound'",
                )
                .fetch_one(&mut conn)
                .await
                .context("counting rows in messages (PostgreSQL)")?;
                let _ = conn.close().await;
                Ok(n)
            }
        }
    }

    /// Writes `events` (native, of `tenant`) straight into the gateway's `events` table, in
    /// one transaction, as another process would: the gateway is not woken, its delivery
    /// workers find them at their next poll. On PostgreSQL `seq` and `xid` take their defaults.
    pub async fn insert_events(&self, tenant: &str, events: &[SyntheticEvent]) -> Result<()> {
        match self {
            BenchDb::Sqlite { path, .. } => {
                let (path, tenant, events) = (path.clone(), tenant.to_string(), events.to_vec());
                tokio::task::spawn_blocking(move || -> Result<()> {
                    let mut conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
                    )
                    .with_context(|| format!("opening {}", path.display()))?;
                    conn.busy_timeout(std::time::Duration::from_secs(30))?;
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    {
                        let mut stmt = tx.prepare(
                            "INSERT INTO events (id, tenant_id, type, format, created_at, data)
                             VALUES (?1, ?2, ?3, 'native', ?4, ?5)",
                        )?;
                        for e in &events {
                            stmt.execute(rusqlite::params![
                                e.id,
                                tenant,
                                e.kind,
                                e.created_at,
                                e.data
                            ])?;
                        }
                    }
                    tx.commit().context("inserting events (SQLite)")?;
                    Ok(())
                })
                .await?
            }
            BenchDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(url)))?;
                let mut tx = conn.begin().await?;
                for chunk in events.chunks(5_000) {
                    sqlx::query(
                        "INSERT INTO events (id, tenant_id, type, format, created_at, data)
                         SELECT id, $1, type, 'native', created_at, data
                         FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[])
                              AS t(id, type, created_at, data)",
                    )
                    .bind(tenant)
                    .bind(chunk.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|e| e.created_at).collect::<Vec<_>>())
                    .bind(chunk.iter().map(|e| e.data.as_str()).collect::<Vec<_>>())
                    .execute(&mut *tx)
                    .await
                    .context("inserting events (PostgreSQL)")?;
                }
                tx.commit()
                    .await
                    .context("committing events (PostgreSQL)")?;
                let _ = conn.close().await;
                Ok(())
            }
        }
    }

    /// `(id, created_at)` of `tenant`'s native events created at or after `since` (Unix ms):
    /// what an endpoint created at `since` must receive.
    pub async fn events_since(&self, tenant: &str, since: i64) -> Result<Vec<(String, i64)>> {
        const SQL_SQLITE: &str = "SELECT id, created_at FROM events WHERE tenant_id = ?1 AND format = 'native' AND created_at >= ?2";
        match self {
            BenchDb::Sqlite { path, .. } => {
                let (path, tenant) = (path.clone(), tenant.to_string());
                tokio::task::spawn_blocking(move || -> Result<Vec<(String, i64)>> {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .with_context(|| format!("opening {}", path.display()))?;
                    conn.busy_timeout(std::time::Duration::from_secs(10))?;
                    let mut stmt = conn.prepare(SQL_SQLITE)?;
                    let ids = stmt
                        .query_map(rusqlite::params![tenant, since], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?
                        .collect::<rusqlite::Result<Vec<(String, i64)>>>()
                        .context("reading events (SQLite)")?;
                    Ok(ids)
                })
                .await?
            }
            BenchDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(url)))?;
                let ids: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT id, created_at FROM events WHERE tenant_id = $1 AND format = 'native' AND created_at >= $2",
                )
                .bind(tenant)
                .bind(since)
                .fetch_all(&mut conn)
                .await
                .context("reading events (PostgreSQL)")?;
                let _ = conn.close().await;
                Ok(ids)
            }
        }
    }

    /// `(rows, unprocessed)` of `webhook_inbox`: Meta's payloads stored, and those the
    /// processor has not marked processed yet.
    pub async fn inbox_counts(&self) -> Result<(i64, i64)> {
        const SQL: &str = "SELECT count(*), count(*) - count(processed_at) FROM webhook_inbox";
        match self {
            BenchDb::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> Result<(i64, i64)> {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .with_context(|| format!("opening {}", path.display()))?;
                    conn.busy_timeout(std::time::Duration::from_secs(10))?;
                    conn.query_row(SQL, [], |r| Ok((r.get(0)?, r.get(1)?)))
                        .context("counting rows in webhook_inbox (SQLite)")
                })
                .await?
            }
            BenchDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(url)))?;
                let counts: (i64, i64) = sqlx::query_as(SQL)
                    .fetch_one(&mut conn)
                    .await
                    .context("counting rows in webhook_inbox (PostgreSQL)")?;
                let _ = conn.close().await;
                Ok(counts)
            }
        }
    }

    /// `(received_at, processed_at)` of every row of `webhook_inbox` (Unix ms).
    pub async fn inbox_times(&self) -> Result<Vec<(i64, Option<i64>)>> {
        const SQL: &str = "SELECT received_at, processed_at FROM webhook_inbox";
        match self {
            BenchDb::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> Result<Vec<(i64, Option<i64>)>> {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .with_context(|| format!("opening {}", path.display()))?;
                    conn.busy_timeout(std::time::Duration::from_secs(10))?;
                    let mut stmt = conn.prepare(SQL)?;
                    let times = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(i64, Option<i64>)>>>()
                        .context("reading webhook_inbox (SQLite)")?;
                    Ok(times)
                })
                .await?
            }
            BenchDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(url)))?;
                let times: Vec<(i64, Option<i64>)> = sqlx::query_as(SQL)
                    .fetch_all(&mut conn)
                    .await
                    .context("reading webhook_inbox (PostgreSQL)")?;
                let _ = conn.close().await;
                Ok(times)
            }
        }
    }

    /// The `(label, count)` rows of `sql`, a query without parameters that both backends
    /// read alike (a text column, then an integer one).
    pub async fn labelled_counts(&self, sql: &'static str) -> Result<Vec<(String, i64)>> {
        match self {
            BenchDb::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> Result<Vec<(String, i64)>> {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .with_context(|| format!("opening {}", path.display()))?;
                    conn.busy_timeout(std::time::Duration::from_secs(10))?;
                    let mut stmt = conn.prepare(sql)?;
                    let rows = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(String, i64)>>>()
                        .context("counting (SQLite)")?;
                    Ok(rows)
                })
                .await?
            }
            BenchDb::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .with_context(|| format!("connecting to {}", redact(url)))?;
                let rows: Vec<(String, i64)> = sqlx::query_as(sql)
                    .fetch_all(&mut conn)
                    .await
                    .context("counting (PostgreSQL)")?;
                let _ = conn.close().await;
                Ok(rows)
            }
        }
    }

    /// Removes a PostgreSQL database (SQLite goes with its temporary directory).
    pub async fn drop_database(&self) -> Result<()> {
        if let BenchDb::Postgres {
            admin_url, name, ..
        } = self
        {
            let mut conn = sqlx::PgConnection::connect(admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping database {name}"))?;
            let _ = conn.close().await;
        }
        Ok(())
    }
}

/// An event the benchmark writes itself (native, `tenant` given at insertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticEvent {
    /// `evt_` + lowercase ULID.
    pub id: String,
    /// `type`.
    pub kind: String,
    /// Unix ms.
    pub created_at: i64,
    /// The event's data, JSON text.
    pub data: String,
}

/// The URL of database `name` on the server of `admin_url` (same credentials, host and query
/// parameters, another database).
pub fn database_url(admin_url: &str, name: &str) -> Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let Some(scheme_end) = base.find("://") else {
        bail!("not a PostgreSQL URL: {}", redact(admin_url));
    };
    let authority = match base[scheme_end + 3..].find('/') {
        Some(i) => &base[..scheme_end + 3 + i],
        None => base,
    };
    let mut url = format!("{authority}/{name}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "b1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b1"
        );
        assert_eq!(
            database_url("postgres://u:p@h:1/admin?sslmode=disable", "b1").unwrap(),
            "postgres://u:p@h:1/b1?sslmode=disable"
        );
        assert_eq!(
            database_url("postgresql://u@h", "b1").unwrap(),
            "postgresql://u@h/b1"
        );
        assert!(database_url("nonsense", "b1").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[tokio::test]
    async fn sqlite_url_points_into_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let db = BenchDb::create(DbKind::Sqlite, dir.path()).await.unwrap();
        assert_eq!(
            db.url(),
            format!("sqlite://{}/openbsp.db", dir.path().display())
        );
        // Nothing there yet: counting fails loudly rather than reporting 0.
        assert!(db.count_messages().await.is_err());
    }

    #[tokio::test]
    async fn sqlite_inserts_and_reads_events() {
        let dir = tempfile::tempdir().unwrap();
        let db = BenchDb::create(DbKind::Sqlite, dir.path()).await.unwrap();
        let BenchDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, type TEXT NOT NULL, format TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);",
        )
        .unwrap();
        drop(conn);
        let events: Vec<SyntheticEvent> = (0..3)
            .map(|i| SyntheticEvent {
                id: format!("evt_{i}"),
                kind: "contact.updated".into(),
                created_at: 1000 + i,
                data: "{}".into(),
            })
            .collect();
        db.insert_events("ten_1", &events).await.unwrap();
        let mut ids = db.events_since("ten_1", 1001).await.unwrap();
        ids.sort();
        assert_eq!(
            ids,
            [("evt_1".to_string(), 1001), ("evt_2".to_string(), 1002)]
        );
        assert!(db.events_since("ten_2", 0).await.unwrap().is_empty());
        // Inserting the same ids again fails as a whole.
        assert!(db.insert_events("ten_1", &events).await.is_err());
        assert_eq!(db.events_since("ten_1", 0).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn sqlite_reads_the_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let db = BenchDb::create(DbKind::Sqlite, dir.path()).await.unwrap();
        let BenchDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE webhook_inbox (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, received_at INTEGER NOT NULL, body BLOB NOT NULL, processed_at INTEGER);
             INSERT INTO webhook_inbox VALUES ('i1', 'app_1', 1000, x'7b7d', 1004), ('i2', 'app_1', 1001, x'7b7d', NULL), ('i3', 'app_1', 1002, x'7b7d', 1010);",
        )
        .unwrap();
        drop(conn);
        assert_eq!(db.inbox_counts().await.unwrap(), (3, 1));
        let mut times = db.inbox_times().await.unwrap();
        times.sort();
        assert_eq!(
            times,
            [(1000, Some(1004)), (1001, None), (1002, Some(1010))]
        );
    }

    #[tokio::test]
    async fn sqlite_labelled_counts() {
        let dir = tempfile::tempdir().unwrap();
        let db = BenchDb::create(DbKind::Sqlite, dir.path()).await.unwrap();
        let BenchDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE m (status TEXT NOT NULL);
             INSERT INTO m VALUES ('read'), ('read'), ('queued');",
        )
        .unwrap();
        drop(conn);
        let mut rows = db
            .labelled_counts("SELECT 'm:' || status, count(*) FROM m GROUP BY status")
            .await
            .unwrap();
        rows.sort();
        assert_eq!(
            rows,
            [("m:queued".to_string(), 1), ("m:read".to_string(), 2)]
        );
    }

    #[tokio::test]
    async fn sqlite_counts_messages() {
        let dir = tempfile::tempdir().unwrap();
        let db = BenchDb::create(DbKind::Sqlite, dir.path()).await.unwrap();
        let BenchDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE messages (id TEXT PRIMARY KEY, direction TEXT); INSERT INTO messages VALUES ('a', 'outbound'), ('b', 'outbound'), ('c', 'inbound');",
        )
        .unwrap();
        drop(conn);
        assert_eq!(db.count_messages().await.unwrap(), 2);
    }
}
