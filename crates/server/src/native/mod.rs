//! The native REST API, `/v1/…`: JSON bodies of its own, `Authorization: Bearer <api key>`,
//! cursor paging, and one error envelope (mapped from the core's error once, in
//! [`error`]). Each file is one area's routes: parse the request, call the core, answer.
//! Never imports another surface.

pub mod admin;
pub mod campaigns;
pub mod contacts;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod media;
pub mod messages;
pub mod sessions;
pub mod templates;

use axum::Router;

use crate::core::Core;

/// Every `/v1` route.
pub fn routes() -> Router<Core> {
    Router::new()
        .merge(messages::routes())
        .merge(campaigns::routes())
        .merge(media::routes())
        .merge(sessions::routes())
        .merge(contacts::routes())
        .merge(templates::routes())
        .merge(endpoints::routes())
        .merge(events::routes())
        .merge(admin::routes())
}
