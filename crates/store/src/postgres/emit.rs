//! The events a change writes on PostgreSQL, in the change's own transaction, set-based
//! (`UNNEST`) and in their order (`seq` follows the arrays). Writes events; reads nothing.

use sqlx::PgConnection;

use super::conn::{chunks, text_bytes};
use crate::model::*;

/// Events to write, as the columns of an `UNNEST`: the data is serialised once.
#[derive(Default)]
pub(super) struct Columns {
    pub ids: Vec<String>,
    pub tenants: Vec<String>,
    pub kinds: Vec<String>,
    pub formats: Vec<String>,
    pub at: Vec<i64>,
    pub data: Vec<String>,
}

impl Columns {
    /// Adds `e`.
    pub fn push(&mut self, e: NewEvent) {
        self.ids.push(e.id);
        self.tenants.push(e.tenant_id);
        self.kinds.push(e.kind);
        self.formats.push(e.format);
        self.at.push(e.created_at);
        self.data.push(e.data.to_string());
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Estimated bytes the `i`th event adds to a statement's bound arrays.
    pub fn bytes(&self, i: usize) -> usize {
        text_bytes(Some(&self.ids[i]))
            + text_bytes(Some(&self.tenants[i]))
            + text_bytes(Some(&self.kinds[i]))
            + text_bytes(Some(&self.formats[i]))
            + text_bytes(Some(&self.data[i]))
            + 12
    }
}

/// Writes events in their order (`seq` follows the arrays). `$1`…`$6`: id, tenant, type,
/// format, time, data.
const INSERT_SQL: &str = "INSERT INTO events (id, tenant_id, type, format, created_at, data)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])";

/// Writes `events` in the caller's transaction, in their order, in as few statements as
/// [`super::conn::STATEMENT_BYTES`] allows.
pub(super) async fn insert(c: &mut PgConnection, events: Vec<NewEvent>) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut cols = Columns::default();
    for e in events {
        cols.push(e);
    }
    insert_columns(c, &cols).await
}

/// [`insert`] for events already in columns.
pub(super) async fn insert_columns(
    c: &mut PgConnection,
    cols: &Columns,
) -> Result<(), sqlx::Error> {
    for r in chunks((0..cols.len()).map(|i| cols.bytes(i))) {
        sqlx::query(INSERT_SQL)
            .bind(&cols.ids[r.clone()])
            .bind(&cols.tenants[r.clone()])
            .bind(&cols.kinds[r.clone()])
            .bind(&cols.formats[r.clone()])
            .bind(&cols.at[r.clone()])
            .bind(&cols.data[r])
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}
