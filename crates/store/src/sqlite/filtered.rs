//! The list queries of contacts, sessions, messages and campaigns on SQLite: only the filters
//! given become conditions, each a plain comparison, so that an index can serve the page. An
//! optional condition such as `(?2 IS NULL OR channel_id = ?2)` can use no index: every filter
//! then walks the tenant's rows, and a cursor written so walks every row before the page.
//!
//! SQLite keeps no statistics here (nothing runs `ANALYZE`), so between two indexes of equal
//! shape its planner may take the less selective one. The first filter given claims the index;
//! the filters after it are checked on its rows (`+col`, SQLite's way to keep a term off
//! indexes): callers add them most selective first.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::rows::collect;
use crate::error::StoreResult;
use crate::model::Page;

/// A list query whose conditions are only the filters given; newest first, paged by id.
pub(super) struct Filtered {
    sql: String,
    args: Vec<Value>,
    /// Whether a filter has claimed an index (the others are then checked on its rows).
    claimed: bool,
}

impl Filtered {
    /// `sql` selects a tenant's rows, the tenant being `?1`.
    pub(super) fn new(sql: String, tenant_id: &str) -> Filtered {
        Filtered {
            sql,
            args: vec![Value::Text(tenant_id.to_string())],
            claimed: false,
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

    /// `AND {what} ?n` if `value` is given, checked on the rows (a range, not an index).
    pub(super) fn int(&mut self, value: Option<i64>, what: &str) {
        if let Some(v) = value {
            self.args.push(Value::Integer(v));
            self.sql
                .push_str(&format!(" AND +{what} ?{}", self.args.len()));
        }
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

    /// The page asked for (`id < after`, newest first, `limit` rows), read with `row`.
    pub(super) fn fetch<T>(
        mut self,
        c: &Connection,
        page: &Page,
        row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        if let Some(after) = &page.after {
            self.args.push(Value::Text(after.clone()));
            self.sql
                .push_str(&format!(" AND id < ?{}", self.args.len()));
        }
        self.args.push(Value::Integer(i64::from(page.limit)));
        self.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ?{}", self.args.len()));
        collect(c, &self.sql, rusqlite::params_from_iter(self.args), row)
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
        q.int(Some(5), "created_at >=");
        assert_eq!(
            q.sql,
            "SELECT id FROM t WHERE tenant_id = ?1 AND recipient = ?2 AND +status = ?3 \
             AND +direction = 'inbound' AND +name = ?4 AND +closed_at IS NULL \
             AND +created_at >= ?5"
        );
        assert_eq!(q.args.len(), 5);
    }
}
