//! The storage interface both backends implement, one trait per area of the gateway, so that a
//! worker or a service can say which part of the store it needs. [`Store`] is all of them: the
//! one object the gateway holds (`Arc<dyn Store>`). Implementations must behave identically;
//! the shared test suite (`tests/`) checks it on both.
//!
//! A caller brings the traits whose methods it calls into scope: `use openbsp_store::prelude::*;`.

mod admin;
mod campaigns;
mod contacts;
mod endpoints;
mod events;
mod inbox;
mod leases;
mod media;
mod messages;
mod notices;
mod outbox;
mod sessions;
mod templates;

pub use admin::AdminStore;
pub use campaigns::CampaignStore;
pub use contacts::ContactStore;
pub use endpoints::EndpointStore;
pub use events::EventStore;
pub use inbox::InboxStore;
pub use leases::LeaseStore;
pub use media::MediaStore;
pub use messages::MessageStore;
pub use notices::{MISSED_NOTICES, NoticeStore};
pub use outbox::OutboxStore;
pub use sessions::SessionStore;
pub use templates::TemplateStore;

/// Everything the gateway keeps: every area of the store. Implemented for whatever implements
/// all of them.
pub trait Store:
    AdminStore
    + CampaignStore
    + ContactStore
    + SessionStore
    + MessageStore
    + OutboxStore
    + TemplateStore
    + EndpointStore
    + EventStore
    + InboxStore
    + LeaseStore
    + MediaStore
    + NoticeStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: AdminStore
        + CampaignStore
        + ContactStore
        + SessionStore
        + MessageStore
        + OutboxStore
        + TemplateStore
        + EndpointStore
        + EventStore
        + InboxStore
        + LeaseStore
        + MediaStore
        + NoticeStore
        + Send
        + Sync
        + 'static
{
}
