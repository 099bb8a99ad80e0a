//! The seed vendors' own APIs (DESIGN §2.7, `docs/migrating.md`): each a surface of its own on
//! the same core as `/v1`, parsing its vendor's request shapes verbatim and answering in its
//! vendor's shapes, errors included, so that a business leaving the vendor changes a host name
//! and a credential. Nothing of WhatsApp's rules is written again here: validation, windows,
//! templates, opt-outs, idempotency and sending are the core's. Each vendor's module maps the
//! core's error into its vendor's envelope in one place, and never imports another surface
//! (another vendor's module, `native`, `cloud_api`).

use axum::Router;

use crate::core::Core;

pub mod chakra;
pub mod connectly;
pub mod pingtochat;
pub mod talqui;

/// Every vendor's routes.
pub fn routes() -> Router<Core> {
    Router::new()
        .merge(talqui::routes())
        .merge(pingtochat::routes())
        .merge(chakra::routes())
        .merge(connectly::routes())
}
