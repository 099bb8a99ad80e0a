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
pub mod openapi;
pub mod sessions;
pub mod templates;

use utoipa_axum::router::OpenApiRouter;

use crate::core::Core;

pub use openapi::openapi;

/// Every `/v1` route, each with its description (`routes!` registers a handler and its
/// `#[utoipa::path]` together): [`OpenApiRouter::split_for_parts`] gives the router and the
/// operations, [`openapi`] the whole document.
pub fn routes() -> OpenApiRouter<Core> {
    OpenApiRouter::new()
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
