//! Wire types and Meta's rules for the WhatsApp Cloud API.
//!
//! This crate is pure: no I/O, no clocks, no randomness. It holds the request and webhook
//! shapes of the Cloud API, the validation Meta applies to a send request (with Meta's own
//! error codes and messages), Meta's error catalogue with a retry class per code, and the
//! `X-Hub-Signature-256` scheme. The gateway, the simulator and the compatibility routes all
//! validate through it, so that they agree with each other and with Meta.

pub mod error;
pub mod ids;
pub mod json;
pub mod limits;
pub mod media;
pub mod pair;
pub mod send;
pub mod signature;
pub mod standard_webhooks;
pub mod template;
pub mod webhook;

pub use error::{MetaError, RetryClass};
pub use send::{
    MessageBody, Outgoing, ParseContext, ReadReceipt, Recipient, SendRequest, parse_outgoing,
};
