//! The list queries of contacts, sessions, messages and campaigns on SQLite: only the filters
//! given become conditions, each a plain comparison, so that an index can serve the page. An
//! optional condition such as `(?2 IS NULL OR channel_id = ?2)` can use no index: every filter
//! then walks the tenant's rows, and a cursor written so walks every row before the page.
//!
//! SQLite keeps no statistics here (nothing runs `ANALYZE`), so between two indexes of equal
//! shape its planner may take the less selective one. The first filter given claims the index;
//! the filters after it are checked on its rows (`+col`, SQLite's way to keep a term off
//! indexes): callers add them most selective first.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use super::rows::collect;
use crate::error::StoreResult;
use crate::model::Page;

/// A list query whose conditions are only the filters given; newest first, paged by id (or,
/// under a time window, by time then id: [`Filtered::window`]).
pub(super) struct Filtered {
    sql: String,
    args: Vec<Value>,
    /// Whether a filter has claimed an index (the others are then checked on its rows).
    claimed: bool,
    /// The table and time column of a window, when one is given: the page is then in
    /// (time, id) order.
    window: Option<(&'static str, &'static str, bool)>,
}

impl Filtered {
    /// `sql` selects a tenant's rows, the tenant being `?1`.
    pub(super) fn new(sql: String, tenant_id: &str) -> Filtered {
        Filtered {
            sql,
            args: vec![Value::Text(tenant_id.to_string())],
            claimed: false,
            window: None,
        }
    }

    /// `col` itself if no filter has claimed an index yet (this one then does), else `+col`.
    fn column(&mut self, col: &str) -> String {
        if std::mem::replace(&mut self.claimed, true) {
            format!("+{col}")
        } else {
            col.to_string()
        }
    }

    /// `AND {col} = ?n` if `value` is given.
    pub(super) fn eq(&mut self, value: Option<&str>, col: &str) {
        if let Some(v) = value {
            let col = self.column(col);
            self.args.push(Value::Text(v.to_string()));
            self.sql
                .push_str(&format!(" AND {col} = ?{}", self.args.len()));
        }
    }

    /// `AND {col} = '{value}'` if `value` is given: a name of the code's own (an enum's),
    /// written into the SQL so that a partial index for that value may serve it (SQLite uses
    /// one only when the query names the value).
    pub(super) fn eq_const(&mut self, value: Option<&'static str>, col: &str) {
        match value {
            Some(v) if v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                let col = self.column(col);
                self.sql.push_str(&format!(" AND {col} = '{v}'"));
            }
            other => self.eq(other, col),
        }
    }

    /// `AND {col} IS NULL` (`null`) or `AND {col} IS NOT NULL`, if `null` is given: a partial
    /// index on the first may serve it.
    pub(super) fn null(&mut self, null: Option<bool>, col: &str) {
        if let Some(null) = null {
            let col = self.column(col);
            let test = if null { "IS NULL" } else { "IS NOT NULL" };
            self.sql.push_str(&format!(" AND {col} {test}"));
        }
    }

    /// `AND {cond}` where `cond` names its value `?n` as `{n}`: a condition that selects the
    /// rows through an index of its own (the filters after it are checked on its rows).
    pub(super) fn claim_with(&mut self, value: &str, cond: &str) {
        self.text_with(Some(value), cond);
        self.claimed = true;
    }

    /// `AND {cond}` where `cond` names its value `?n` as `{n}`, checked on the rows.
    pub(super) fn text_with(&mut self, value: Option<&str>, cond: &str) {
        if let Some(v) = value {
            self.args.push(Value::Text(v.to_string()));
            let n = self.args.len().to_string();
            self.sql.push_str(" AND ");
            self.sql.push_str(&cond.replace("{n}", &n));
        }
    }

    /// `AND {col} >= from AND {col} < to` for the bounds given, on `table`'s time column
    /// `col`; with either bound, the page is in (`col`, id) order, newest first. The window
    /// claims the index (`table`'s (tenant_id, `col`, id)) if no filter has yet: a window far
    /// in the past is then a range of its own, not a walk through every newer row. Ids are
    /// ULIDs of the gateway's clock and the time column may be another's (Meta's for inbound
    /// messages) or step back with the clock, so the id order is not the time order: the
    /// page is ordered by time, then id, which is what the range reads.
    pub(super) fn window(
        &mut self,
        table: &'static str,
        col: &'static str,
        from: Option<i64>,
        to: Option<i64>,
    ) {
        if from.is_none() && to.is_none() {
            return;
        }
        let claims = !self.claimed;
        let c = self.column(col);
        for (bound, op) in [(from, ">="), (to, "<")] {
            if let Some(v) = bound {
                self.args.push(Value::Integer(v));
                self.sql
                    .push_str(&format!(" AND {c} {op} ?{}", self.args.len()));
            }
        }
        self.window = Some((table, col, claims));
    }

    /// The statement and its values for the page asked for (older than `after`, newest first,
    /// `limit` rows); `None` when `after` names no row of the tenant under a window (the
    /// cursor's time is its row's: an unknown cursor has nothing older than it).
    pub(super) fn build(
        mut self,
        c: &Connection,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Option<(String, Vec<Value>)>> {
        match self.window {
            None => {
                if let Some(after) = &page.after {
                    self.args.push(Value::Text(after.clone()));
                    self.sql
                        .push_str(&format!(" AND id < ?{}", self.args.len()));
                }
                self.args.push(Value::Integer(i64::from(page.limit)));
                self.sql
                    .push_str(&format!(" ORDER BY id DESC LIMIT ?{}", self.args.len()));
            }
            Some((table, col, claims)) => {
                if let Some(after) = &page.after {
                    let at: Option<i64> = c
                        .prepare_cached(&format!(
                            "SELECT {col} FROM {table} WHERE id = ?1 AND tenant_id = ?2"
                        ))?
                        .query_row([after, tenant_id], |r| r.get(0))
                        .optional()?;
                    let Some(at) = at else {
                        return Ok(None);
                    };
                    // The range's bound, then the rows of the cursor's own time after it.
                    let c = if claims {
                        col.to_string()
                    } else {
                        format!("+{col}")
                    };
                    self.args.push(Value::Integer(at));
                    self.args.push(Value::Text(after.clone()));
                    let (t, a) = (self.args.len() - 1, self.args.len());
                    self.sql
                        .push_str(&format!(" AND {c} <= ?{t} AND ({c} < ?{t} OR id < ?{a})"));
                }
                // Not claimed: `+` keeps the order off the time index, whose range would be
                // the tenant's whole window; the claiming filter's rows are sorted instead.
                let order = if claims {
                    col.to_string()
                } else {
                    format!("+{col}")
                };
                self.args.push(Value::Integer(i64::from(page.limit)));
                self.sql.push_str(&format!(
                    " ORDER BY {order} DESC, id DESC LIMIT ?{}",
                    self.args.len()
                ));
            }
        }
        Ok(Some((self.sql, self.args)))
    }

    /// The page asked for ([`Filtered::build`]), read with `row`.
    pub(super) fn fetch<T>(
        self,
        c: &Connection,
        tenant_id: &str,
        page: &Page,
        row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        match self.build(c, tenant_id, page)? {
            Some((sql, args)) => collect(c, &sql, rusqlite::params_from_iter(args), row),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_filter_given_claims_the_index() {
        let mut q = Filtered::new("SELECT id FROM t WHERE tenant_id = ?1".into(), "ten");
        q.eq(None, "session_id");
        q.eq(Some("x"), "recipient");
        q.eq(Some("sent"), "status");
        q.eq_const(Some("inbound"), "direction");
        q.eq_const(Some("it's"), "name");
        q.null(Some(true), "closed_at");
        q.window("t", "created_at", Some(5), None);
        assert_eq!(
            q.sql,
            "SELECT id FROM t WHERE tenant_id = ?1 AND recipient = ?2 AND +status = ?3 \
             AND +direction = 'inbound' AND +name = ?4 AND +closed_at IS NULL \
             AND +created_at >= ?5"
        );
        assert_eq!(q.args.len(), 5);
    }
}
