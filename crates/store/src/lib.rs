//! Storage for OpenBSP: one interface ([`Store`]), two backends with identical behaviour —
//! SQLite (the embedded default: WAL, one writer thread with group commit) and PostgreSQL
//! (for scale-out). The same test suite runs against both.
//!
//! Every query that reads tenant data is scoped by tenant. A state change and the rows that
//! make it happen later (the outbox) commit in one transaction. This crate never calls out to
//! the network and never sees a secret in clear: secrets arrive encrypted.

pub mod error;
pub mod events;
pub mod model;
pub mod policy;
pub mod postgres;
pub mod sqlite;
mod store;
mod templates;
pub mod views;

use std::sync::Arc;

pub use error::{StoreError, StoreResult};
pub use model::*;
pub use store::Store;

/// Opens the store a URL names: `sqlite://path` (or a plain path) or `postgres://…`.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
    }
}
