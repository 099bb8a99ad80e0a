//! The seed vendors' own APIs (DESIGN §2.7, `docs/migrating.md`): each a surface of its own on
//! the same core as `/v1`, parsing its vendor's request shapes verbatim and answering in its
//! vendor's shapes, errors included, so that a business leaving the vendor changes a host name
//! and a credential. Nothing of WhatsApp's rules is written again here: validation, windows,
//! templates, opt-outs, idempotency and sending are the core's. Each vendor's module maps the
//! core's error into its vendor's envelope in one place, and never imports another surface
//! (another vendor's module, `native`, `cloud_api`).

use axum::Router;
use openbsp_store::{Event, WebhookEndpoint, event_format};

use crate::core::Core;
use crate::http::rejection::envelope;

pub mod chakra;
pub mod connectly;
pub mod pingtochat;
pub mod talqui;

/// Every vendor's routes, each answering axum's own refusals (a body over the limit, a query
/// that does not parse) in its vendor's envelope too.
pub fn routes() -> Router<Core> {
    Router::new()
        .merge(talqui::routes().layer(envelope(talqui::error::TalquiError::unreadable)))
        .merge(pingtochat::routes().layer(envelope(pingtochat::error::PingtochatError::unreadable)))
        .merge(chakra::routes().layer(envelope(chakra::error::ChakraError::unreadable)))
        .merge(connectly::routes().layer(envelope(connectly::error::ConnectlyError::unreadable)))
}

/// What a batch of deliveries to a vendor-format endpoint looks up once (a business number, a
/// campaign's name).
#[derive(Default)]
pub struct Formatter {
    connectly: connectly::events::Lookups,
}

/// The body of `ev` for an endpoint `e` in a vendor's format (`chakra`, `connectly`), made from
/// the native event at delivery; `None` when the event has no shape in that vendor's webhooks
/// (or the endpoint's filters leave it out), and for the gateway's own formats.
pub async fn body(
    core: &Core,
    e: &WebhookEndpoint,
    ev: &Event,
    f: &mut Formatter,
) -> Option<Vec<u8>> {
    let v = match e.format.as_str() {
        event_format::CHAKRA => chakra::events::body(ev)?,
        event_format::CONNECTLY => connectly::events::body(core, e, ev, &mut f.connectly).await?,
        _ => return None,
    };
    serde_json::to_vec(&v).ok()
}

/// Whether `format` is a vendor's.
pub fn is_vendor_format(format: &str) -> bool {
    matches!(format, event_format::CHAKRA | event_format::CONNECTLY)
}

/// The content type of a delivery in `format`.
pub fn content_type(format: &str) -> &'static str {
    match format {
        event_format::CONNECTLY => connectly::events::CONTENT_TYPE,
        _ => "application/json",
    }
}

/// The vendor's own signature header of a delivery in `format`, under the endpoint's current
/// secret (as shown when it was made); `None` for a format that has none of its own.
pub fn signature(format: &str, secret: &[u8], body: &[u8]) -> Option<(&'static str, String)> {
    match format {
        event_format::CONNECTLY => Some((
            connectly::events::SIGNATURE_HEADER,
            connectly::events::signature(secret, body),
        )),
        _ => None,
    }
}
