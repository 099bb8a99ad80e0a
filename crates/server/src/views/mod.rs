//! How the gateway's objects look to the outside, shared by the native API and the CLI
//! (messages, sessions, contacts, templates and events look the same in the events the
//! gateway delivers: those views are the store's, [`openbsp_store::views`]). No HTTP here.

pub mod admin;
pub mod contacts;
pub mod endpoints;

pub use openbsp_store::views::{event_json, message_json, session_json, template_json};
