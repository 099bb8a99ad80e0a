//! How a message looks on the native API (one spelling, shared with the events).

pub use openbsp_store::views::message_json;
