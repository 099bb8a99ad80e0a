//! Test support shared by every crate's tests: a fresh database per test, on either backend.
//!
//! PostgreSQL is found at `OPENBSP_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). If it does not answer, the test fails: the
//! PostgreSQL half of the suite is never skipped silently. `scripts/test.sh` makes sure a
//! server is running before the suite starts.

pub mod curl;

use std::collections::BTreeMap;
use std::path::PathBuf;

use sqlx::Connection;

/// Which storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    /// The URL to give the gateway (`OPENBSP_DATABASE_URL`).
    pub url: String,
    /// The backend.
    pub backend: Backend,
    /// A scratch directory for the test (the SQLite file lives here; data dirs may too).
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_admin_url() -> String {
    std::env::var("OPENBSP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The URL of the test S3-compatible server (`OPENBSP_TEST_S3_URL`); panics (failing the
/// test) when it is not set: the suite's command starts one.
pub fn s3_url() -> String {
    std::env::var("OPENBSP_TEST_S3_URL").unwrap_or_else(|_| {
        panic!(
            "an S3-compatible server is required for this test: set OPENBSP_TEST_S3_URL, or run \
             the suite with scripts/test.sh, which starts one (moto)"
        )
    })
}

/// A fresh, empty bucket on the test S3-compatible server (`http://host:port`, which takes an
/// unsigned `PUT /<bucket>`): its name. Panics if the server does not answer or refuses.
pub async fn s3_bucket() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = s3_url();
    let host = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("OPENBSP_TEST_S3_URL must be http://host:port, not {url}"))
        .trim_end_matches('/');
    let bucket = format!("openbsp-t-{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut conn = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("the S3-compatible server did not answer at {url}: {e}"));
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes())
        .await
        .expect("the bucket request");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)
        .await
        .expect("the bucket answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "the S3-compatible server at {url} refused to create bucket {bucket}: {}",
        answer.lines().next().unwrap_or("")
    );
    bucket
}

impl TestDb {
    /// Creates a fresh, empty database on `backend`. Panics (failing the test) if PostgreSQL is
    /// asked for and does not answer.
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("openbsp.db").display()),
                backend,
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("openbsp_t_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for this test and did not answer at {admin}: {e}. \
                         Run the suite with scripts/test.sh, which starts one."
                    )
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestDb {
                    url: format!("{base}/{name}"),
                    backend,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The scratch directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `sql` (statements in the backend's own dialect) on the database from a connection
    /// of the test's own, beside the gateway's: for tests that make the database misbehave (a
    /// trigger that refuses a write). Panics if it fails.
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://").to_string();
                let sql = sql.to_string();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(path).expect("open the SQLite file");
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .expect("set a busy timeout");
                    conn.execute_batch(&sql)
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                })
                .await
                .expect("the SQLite statements ran");
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect to the test database");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let _ = conn.close().await;
            }
        }
    }

    /// The one integer `sql` (a query in both backends' dialect, `SELECT COUNT(*) …`) answers,
    /// read from a connection of the test's own (read-only on SQLite).
    pub async fn query_i64(&self, sql: &str) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://").to_string();
                let sql = sql.to_string();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .expect("open the SQLite file read-only");
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .expect("set a busy timeout");
                    conn.query_row(&sql, [], |r| r.get(0))
                        .unwrap_or_else(|e| panic!("{sql}: {e}"))
                })
                .await
                .expect("the SQLite query ran")
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect to the test database");
                let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let _ = conn.close().await;
                n
            }
        }
    }

    /// The number of rows of every table of the database, by table name: the tables are read
    /// from the catalogue (`sqlite_master`, `information_schema.tables`), so a table added by a
    /// later migration is counted without a change here. For tests that show a refused request
    /// stored nothing: counts before and after compared, whatever the table.
    pub async fn row_counts(&self) -> BTreeMap<String, i64> {
        match self.backend {
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://").to_string();
                tokio::task::spawn_blocking(move || {
                    // Read-only: the gateway is the only writer, and a reader never blocks it.
                    let conn = rusqlite::Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .expect("open the SQLite file read-only");
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .expect("set a busy timeout");
                    let mut list = conn
                        .prepare(
                            "SELECT name FROM sqlite_master WHERE type = 'table' \
                             AND name NOT LIKE 'sqlite_%' ORDER BY name",
                        )
                        .expect("list the tables");
                    let tables: Vec<String> = list
                        .query_map([], |r| r.get(0))
                        .expect("list the tables")
                        .collect::<Result<_, _>>()
                        .expect("read the table names");
                    tables
                        .into_iter()
                        .map(|t| {
                            let sql = format!("SELECT COUNT(*) FROM \"{t}\"");
                            let n = conn
                                .query_row(&sql, [], |r| r.get(0))
                                .unwrap_or_else(|e| panic!("{sql}: {e}"));
                            (t, n)
                        })
                        .collect()
                })
                .await
                .expect("the SQLite counts ran")
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect to the test database");
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     ORDER BY table_name",
                )
                .fetch_all(&mut conn)
                .await
                .expect("list the tables");
                let mut counts = BTreeMap::new();
                for (t,) in tables {
                    let sql = format!("SELECT COUNT(*) FROM \"{t}\"");
                    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                        .fetch_one(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                    counts.insert(t, n);
                }
                let _ = conn.close().await;
                counts
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a private one on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Defines `mod $name { sqlite(), postgres() }`: the async test `$body(Backend)` once per
/// backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:path),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $body($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $body($crate::Backend::Postgres).await
                }
            }
        )*
    };
}
