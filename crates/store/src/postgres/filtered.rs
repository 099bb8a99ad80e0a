//! The list queries of contacts, sessions and messages on PostgreSQL: only the filters given
//! become conditions, so that each combination gets a plan of its own.

use sqlx::{AssertSqlSafe, PgPool};

use super::conn::DbResult;
use crate::error::StoreResult;

use crate::model::Page;

/// A bound value of a [`Filtered`] query.
pub(super) enum Arg<'a> {
    /// A text.
    Text(&'a str),
    /// A text made for the query (a pattern).
    Owned(String),
    /// A number.
    Int(i64),
}

/// A list query whose conditions are only the filters given, so that each combination gets a
/// plan of its own; newest first, paged by id.
pub(super) struct Filtered<'a> {
    sql: String,
    args: Vec<Arg<'a>>,
    /// The time column of a window, when one is given: the page is then in (time, id) order.
    window: Option<&'static str>,
}

impl<'a> Filtered<'a> {
    /// `sql` selects a tenant's rows, the tenant being `$1`.
    pub(super) fn new(sql: String, tenant_id: &'a str) -> Filtered<'a> {
        Filtered {
            sql,
            args: vec![Arg::Text(tenant_id)],
            window: None,
        }
    }

    /// Adds the condition `cond`, which takes no value.
    pub(super) fn and(&mut self, cond: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(cond);
    }

    /// Adds the condition `what(n)`, `$n` being `arg`.
    pub(super) fn cond_with(&mut self, arg: Arg<'a>, what: impl FnOnce(usize) -> String) {
        self.args.push(arg);
        let cond = what(self.args.len());
        self.and(&cond);
    }

    /// `AND {what} $n` if `value` is given.
    pub(super) fn text(&mut self, value: Option<&'a str>, what: &str) {
        if let Some(v) = value {
            self.cond_with(Arg::Text(v), |n| format!("{what} ${n}"));
        }
    }

    /// `AND {what} $n` if `value` is given.
    pub(super) fn int(&mut self, value: Option<i64>, what: &str) {
        if let Some(v) = value {
            self.cond_with(Arg::Int(v), |n| format!("{what} ${n}"));
        }
    }

    /// `AND {col} >= from AND {col} < to` for the bounds given; with either bound the page is
    /// in (`col`, id) order, newest first, which an index (tenant_id, `col`, id) reads as a
    /// range (a window far in the past is then no walk through every newer row). Ids are
    /// ULIDs of the gateway's clock, the time column may be another's (Meta's, for inbound
    /// messages) or step back with the clock: the id order is not the time order.
    pub(super) fn window(&mut self, col: &'static str, from: Option<i64>, to: Option<i64>) {
        if from.is_none() && to.is_none() {
            return;
        }
        self.int(from, &format!("{col} >="));
        self.int(to, &format!("{col} <"));
        self.window = Some(col);
    }

    /// The time column of the window given, if any: the caller resolves the cursor to its
    /// row's time ([`Filtered::page`]'s `at`).
    pub(super) fn windowed(&self) -> Option<&'static str> {
        self.window
    }

    /// The query, for the page asked for (older than `after`, newest first, `limit` rows).
    /// Under a window, `at` is the time of the cursor's row.
    pub(super) fn page(
        self,
        page: &'a Page,
        at: Option<i64>,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let (sql, args) = self.parts(page, at);
        bound(sql, args)
    }

    /// The page asked for (older than `after`, newest first, `limit` rows) of every row the
    /// conditions select, found whole before the page is taken (a materialized CTE): the
    /// planner then reads them by the index that selects fewest, never by walking an index in
    /// the page's order on the hope that matches come early (they may all be far down). For
    /// conditions that select few rows; not for a window.
    pub(super) fn materialized(
        self,
        page: &'a Page,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let (sql, args) = self.materialized_parts(page);
        bound(sql, args)
    }

    /// [`Filtered::materialized`]'s SQL and the values it binds, in order.
    pub(super) fn materialized_parts(mut self, page: &'a Page) -> (String, Vec<Arg<'a>>) {
        debug_assert!(self.window.is_none(), "a window pages in time order");
        if let Some(after) = &page.after {
            self.cond_with(Arg::Text(after), |n| format!("id < ${n}"));
        }
        self.args.push(Arg::Int(i64::from(page.limit)));
        let sql = format!(
            "WITH m AS MATERIALIZED ({}) SELECT * FROM m ORDER BY id DESC LIMIT ${}",
            self.sql,
            self.args.len()
        );
        (sql, self.args)
    }

    /// [`Filtered::page`]'s SQL and the values it binds, in order.
    pub(super) fn parts(mut self, page: &'a Page, at: Option<i64>) -> (String, Vec<Arg<'a>>) {
        match (self.window, &page.after) {
            (Some(col), Some(after)) => {
                self.args.push(Arg::Int(at.unwrap_or(i64::MIN)));
                self.cond_with(Arg::Text(after), |n| {
                    format!("({col}, id) < (${}, ${n})", n - 1)
                });
            }
            (None, Some(after)) => self.cond_with(Arg::Text(after), |n| format!("id < ${n}")),
            (_, None) => {}
        }
        self.args.push(Arg::Int(i64::from(page.limit)));
        let order = match self.window {
            Some(col) => format!("{col} DESC, id DESC"),
            None => "id DESC".to_string(),
        };
        self.sql
            .push_str(&format!(" ORDER BY {order} LIMIT ${}", self.args.len()));
        (self.sql, self.args)
    }
}

/// `sql` with `args` bound, in order.
fn bound<'a>(
    sql: String,
    args: Vec<Arg<'a>>,
) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::Owned(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
        };
    }
    q
}

/// Where a page under a window starts: `Ok(Some(at))` the time of the cursor's row (`None`
/// without a window or a cursor), `Ok(None)` when the cursor names no row of the tenant in
/// `table` (nothing is older than it: the page is empty).
pub(super) async fn cursor_time(
    pool: &PgPool,
    table: &str,
    q: &Filtered<'_>,
    tenant_id: &str,
    page: &Page,
) -> StoreResult<Option<Option<i64>>> {
    let (Some(col), Some(after)) = (q.windowed(), &page.after) else {
        return Ok(Some(None));
    };
    let at: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {col} FROM {table} WHERE id = $1 AND tenant_id = $2"
    )))
    .bind(after)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await
    .db()?;
    Ok(at.map(Some))
}
