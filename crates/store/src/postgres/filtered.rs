//! The list queries of contacts, sessions and messages on PostgreSQL: only the filters given
//! become conditions, so that each combination gets a plan of its own.

use sqlx::AssertSqlSafe;

use crate::model::Page;

/// A bound value of a [`Filtered`] query.
pub(super) enum Arg<'a> {
    /// A text.
    Text(&'a str),
    /// A number.
    Int(i64),
}

/// A list query whose conditions are only the filters given, so that each combination gets a
/// plan of its own; newest first, paged by id.
pub(super) struct Filtered<'a> {
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Filtered<'a> {
    /// `sql` selects a tenant's rows, the tenant being `$1`.
    pub(super) fn new(sql: String, tenant_id: &'a str) -> Filtered<'a> {
        Filtered {
            sql,
            args: vec![Arg::Text(tenant_id)],
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

    /// The query, for the page asked for (`id < after`, newest first, `limit` rows).
    pub(super) fn page(
        mut self,
        page: &'a Page,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
        if let Some(after) = &page.after {
            self.cond_with(Arg::Text(after), |n| format!("id < ${n}"));
        }
        self.args.push(Arg::Int(i64::from(page.limit)));
        self.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ${}", self.args.len()));
        let mut q = sqlx::query(AssertSqlSafe(self.sql));
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        q
    }
}
