//! Who a Connectly request is, and which number it sends from.
//!
//! The credential is `X-API-Key: <API key>`, the tenant's gateway key, looked up like every
//! key (its SHA-256, cached; never stored or logged). The path's `{businessId}` is the
//! tenant's id: a key of another tenant, or a `{businessId}` that does not exist, is 403
//! `ERROR_CODE_PERMISSION_DENIED`, the same answer either way (nothing leaks). Checked before
//! the body is read.
//!
//! `sender` is one of the tenant's numbers: its display number (`+14151111234`, any
//! notation), Meta's phone number id, or the gateway's channel id; absent, the tenant's only
//! number (with none or several, the error names what to do).

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::request::Parts;
use openbsp_store::Channel;

use super::error::{ConnectlyError, code};
use crate::core::{Core, CoreError};
use crate::http::auth::lookup;

/// The header Connectly's clients send their key in.
pub const HEADER: &str = "x-api-key";

/// A Connectly request authenticated for the business (tenant) its path names.
#[derive(Debug, Clone)]
pub struct Business {
    /// The tenant: the key's, and the path's `{businessId}`.
    pub tenant_id: String,
}

impl FromRequestParts<Core> for Business {
    type Rejection = ConnectlyError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, ConnectlyError> {
        let token = parts
            .headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ConnectlyError::key_absent)?;
        let key = lookup(core, parts, token)
            .await
            .map_err(ConnectlyError::from)?
            .ok_or_else(ConnectlyError::unauthorized)?;
        let Some(tenant_id) = key.tenant_id else {
            return Err(ConnectlyError::permission_denied(
                "admin keys manage the installation; use the business's API key as X-API-Key",
            ));
        };
        let params = RawPathParams::from_request_parts(parts, core)
            .await
            .map_err(|_| ConnectlyError::invalid("the path must name a businessId"))?;
        let business = params
            .iter()
            .find(|(k, _)| *k == "businessId")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        if business != tenant_id {
            return Err(ConnectlyError::permission_denied(format!(
                "this X-API-Key is not a key of business {business}"
            ))
            .at("businessId"));
        }
        Ok(Business { tenant_id })
    }
}

/// The digits of a phone number as written (`+1 415-111-1234` → `14151111234`).
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The number a send (or a template operation) uses: `sender`, or the tenant's only number.
pub async fn sender_channel(
    core: &Core,
    tenant_id: &str,
    sender: Option<&str>,
) -> Result<Channel, ConnectlyError> {
    let numbers = core
        .store
        .list_channels(Some(tenant_id))
        .await
        .map_err(CoreError::from)?;
    let sender = sender.map(str::trim).filter(|s| !s.is_empty());
    if let Some(given) = sender {
        let wanted = digits(given);
        return numbers
            .into_iter()
            .find(|c| {
                c.phone_number_id == given
                    || c.id == given
                    || (!wanted.is_empty()
                        && !given.contains(|ch: char| ch.is_ascii_alphabetic())
                        && digits(&c.display_phone_number) == wanted)
            })
            .ok_or_else(|| ConnectlyError::invalid_sender(given));
    }
    let mut numbers = numbers;
    match numbers.len() {
        1 => Ok(numbers.remove(0)),
        0 => Err(ConnectlyError::new(
            StatusCode::BAD_REQUEST,
            code::MISSES_MATCHING_CHANNEL,
            "this business has no WhatsApp number yet",
        )
        .at("sender")),
        _ => {
            let listed: Vec<String> = numbers
                .iter()
                .map(|c| format!("+{} ({})", c.display_phone_number, c.phone_number_id))
                .collect();
            Err(ConnectlyError::new(
                StatusCode::BAD_REQUEST,
                code::MISSES_MATCHING_CHANNEL,
                format!(
                    "this business has several WhatsApp numbers; name the one to send from as \
                     sender: {}",
                    listed.join(", ")
                ),
            )
            .at("sender"))
        }
    }
}
