//! The pingtochat surface (DESIGN §2.7): being built.

use axum::Router;

use crate::core::Core;

/// The pingtochat routes.
pub fn routes() -> Router<Core> {
    Router::new()
}
