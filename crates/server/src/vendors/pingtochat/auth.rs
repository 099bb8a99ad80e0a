//! Who a Pingtochat request is: the API key is a path segment (`{key}`); an
//! `Authorization: Bearer …` header, when sent, must be that same key (Pingtochat's clients
//! send their access token there; on OpenBSP the key is both); and `{phone_number_id}` must
//! name one of the key's tenant's numbers. Checked in that order, before the body is read:
//! 301, then 300, then 305. The route template, not the path, is what the request log names,
//! so the key in the path is never logged.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use openbsp_domain::crypto::hash_secret;
use openbsp_domain::refs::ChannelRef;
use openbsp_store::Channel;

use super::error::PingtochatError;
use crate::core::Core;
use crate::http::auth::{bearer, lookup};

/// A request on one of the tenant's numbers, authorized by the key of its path.
#[derive(Debug, Clone)]
pub struct PingtochatChannel {
    /// The tenant the key belongs to.
    pub tenant_id: String,
    /// The channel `{phone_number_id}` names (a phone number id, or a channel id).
    pub channel: Channel,
}

impl FromRequestParts<Core> for PingtochatChannel {
    type Rejection = PingtochatError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, PingtochatError> {
        let params = RawPathParams::from_request_parts(parts, core)
            .await
            .map_err(|_| PingtochatError::key_invalid())?;
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let (key, phone_number_id) = (param("key"), param("phone_number_id"));
        let tenant_id = lookup(core, parts, &key)
            .await
            .map_err(PingtochatError::from)?
            .and_then(|k| k.tenant_id)
            .ok_or_else(PingtochatError::key_invalid)?;
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            // Compared as hashes: the time taken says nothing of the key.
            match bearer(&parts.headers) {
                Some(token) if hash_secret(token) == hash_secret(&key) => {}
                _ => return Err(PingtochatError::token_invalid()),
            }
        }
        let channel = match ChannelRef::parse(&phone_number_id) {
            Some(r) => core.tenant_channel(&tenant_id, &r).await?,
            None => None,
        }
        .ok_or_else(|| PingtochatError::phone_number_id_invalid(&phone_number_id))?;
        Ok(PingtochatChannel { tenant_id, channel })
    }
}
