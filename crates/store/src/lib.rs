//! Storage for OpenBSP: one interface ([`Store`], made of one trait per area: [`prelude`]), two
//! backends with identical behaviour — SQLite (the embedded default: WAL, one writer thread
//! with group commit) and PostgreSQL (for scale-out). The same test suite runs against both.
//!
//! Every query that reads tenant data is scoped by tenant. A state change and the rows that
//! make it happen later (the outbox) commit in one transaction. This crate never calls out to
//! the network and never sees a secret in clear: secrets arrive encrypted.
//!
//! Rules the two backends share are decided once, in pure code both call: the send policy
//! ([`policy`]), templates (`templates`), status updates (`statuses`), contact merges
//! (`contacts`), the events each change writes ([`events`]); the backends only read and write
//! rows.

pub mod campaign;
mod contacts;
pub mod error;
pub mod events;
mod inbox;
pub mod media;
pub mod model;
pub mod policy;
pub mod postgres;
mod sql;
pub mod sqlite;
mod statuses;
mod store;
mod templates;
pub mod views;

use std::sync::Arc;

pub use campaign::{
    Campaign, CampaignAction, CampaignCounts, CampaignCreated, CampaignFilter, CampaignRecipient,
    Fed, FeedItem, IdempotencyKey, NewRecipient, RecipientFilter, RecipientsAdded, Transitioned,
    campaign_status, recipient_state,
};
pub use error::{StoreError, StoreResult};
pub use media::{
    Download, Media, MediaDeleted, MetaCopy, NewDownload, download_state, media_origin,
};
pub use model::*;
pub use store::{
    AdminStore, CampaignStore, ContactStore, EndpointStore, EventStore, InboxStore, LeaseStore,
    MISSED_NOTICES, MediaStore, MessageStore, NoticeStore, OutboxStore, SessionStore, Store,
    TemplateStore,
};

/// The area traits: what a caller of store methods on a `dyn Store` brings into scope
/// (`use openbsp_store::prelude::*;`).
pub mod prelude {
    pub use crate::store::{
        AdminStore, CampaignStore, ContactStore, EndpointStore, EventStore, InboxStore, LeaseStore,
        MediaStore, MessageStore, NoticeStore, OutboxStore, SessionStore, Store, TemplateStore,
    };
}

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
