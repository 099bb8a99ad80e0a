//! The talqui surface (DESIGN §2.7): being built.

use axum::Router;

use crate::core::Core;

/// The talqui routes.
pub fn routes() -> Router<Core> {
    Router::new()
}
