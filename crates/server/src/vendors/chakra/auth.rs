//! Who a ChakraHQ request is, and which number it sends from.
//!
//! The credential is `Authorization: Bearer <API key>`, the tenant's gateway key, looked up
//! like every key (its SHA-256, cached; never stored or logged). ChakraHQ's `{pluginId}` (its
//! WhatsApp plugin: a Meta app and its numbers) is the gateway's app id (`app_…`) of that
//! tenant; its `whatsappPhoneNumberId` is one of that app's numbers (Meta's phone number id,
//! or the gateway's channel id). An empty one, as in ChakraHQ's own example
//! (`…/api/v19.0//messages`), means the app's only number; with several, the error names them.
//! Another tenant's app, number or WABA is not found, whether it exists or not.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use openbsp_domain::refs::ChannelRef;
use openbsp_store::Channel;

use super::error::ChakraError;
use crate::core::Core;
use crate::core::admin::is_graph_version;
use crate::http::auth::{bearer, lookup};

/// A ChakraHQ request authenticated with a tenant's API key.
#[derive(Debug, Clone)]
pub struct ChakraTenant {
    /// The tenant the key belongs to.
    pub tenant_id: String,
}

impl FromRequestParts<Core> for ChakraTenant {
    type Rejection = ChakraError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, ChakraError> {
        let token = bearer(&parts.headers)
            .filter(|t| !t.is_empty())
            .ok_or_else(ChakraError::unauthorized)?;
        let key = lookup(core, parts, token)
            .await
            .map_err(ChakraError::from)?
            .ok_or_else(ChakraError::unauthorized)?;
        match key.tenant_id {
            Some(tenant_id) => Ok(ChakraTenant { tenant_id }),
            None => Err(ChakraError::forbidden(
                "admin keys manage the installation; use the tenant's API key as the bearer token",
            )),
        }
    }
}

/// Checks a `{version}` path segment (`v19.0`): ChakraHQ passes it on to Meta; the gateway
/// sends with the channel's own version, but a segment that is no version is refused.
pub fn check_version(version: &str) -> Result<(), ChakraError> {
    if is_graph_version(version) {
        Ok(())
    } else {
        Err(ChakraError::bad_request(format!(
            "Unknown WhatsApp API version in the path: {version} (use one like v19.0)"
        )))
    }
}

/// The number a send goes from: `phone_number_id` of the tenant's app `plugin_id`, or, when
/// empty, the app's only number.
pub async fn plugin_channel(
    core: &Core,
    tenant_id: &str,
    plugin_id: &str,
    phone_number_id: &str,
) -> Result<Channel, ChakraError> {
    let plugin_unknown = || {
        ChakraError::not_found(format!(
            "pluginId {plugin_id} is not a WhatsApp plugin (app) of this API key's account"
        ))
        .details("pluginId")
    };
    let app = core
        .store
        .get_app(plugin_id)
        .await
        .map_err(ChakraError::internal)?
        .filter(|a| a.tenant_id == tenant_id)
        .ok_or_else(plugin_unknown)?;
    let phone_number_id = phone_number_id.trim();
    if !phone_number_id.is_empty() {
        let found = match ChannelRef::parse(phone_number_id) {
            Some(r) => core.tenant_channel(tenant_id, &r).await?,
            None => None,
        };
        return found.filter(|c| c.app_id == app.id).ok_or_else(|| {
            ChakraError::not_found(format!(
                "whatsappPhoneNumberId {phone_number_id} is not a number of plugin {plugin_id}"
            ))
            .details("whatsappPhoneNumberId")
        });
    }
    let mut numbers: Vec<Channel> = core
        .store
        .list_channels(Some(tenant_id))
        .await
        .map_err(ChakraError::internal)?
        .into_iter()
        .filter(|c| c.app_id == app.id)
        .collect();
    match numbers.len() {
        1 => Ok(numbers.remove(0)),
        0 => Err(ChakraError::not_found(format!(
            "plugin {plugin_id} has no WhatsApp number yet: add one to its app first"
        ))
        .details("whatsappPhoneNumberId")),
        _ => {
            let listed: Vec<String> = numbers
                .iter()
                .map(|c| format!("{} (+{})", c.phone_number_id, c.display_phone_number))
                .collect();
            Err(ChakraError::bad_request(format!(
                "plugin {plugin_id} has several WhatsApp numbers; name the one to send from as \
                 whatsappPhoneNumberId: {}",
                listed.join(", ")
            ))
            .details("whatsappPhoneNumberId"))
        }
    }
}
