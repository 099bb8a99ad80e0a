//! What every HTTP surface shares: the API-key extractors, reading a body and its
//! `Idempotency-Key`, cursor paging, time filters, the request id, the two error envelopes
//! and the health routes. Nothing here knows an area's rules: those are the core's.

pub mod auth;
pub mod body;
pub mod error;
pub mod health;
pub mod paging;
pub mod request_id;
pub mod time;
