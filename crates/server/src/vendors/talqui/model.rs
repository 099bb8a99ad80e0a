//! Talqui's `campaignModelID`: which of the tenant's templates it names. A gateway template id
//! (`tpl_…`), Meta's template id, or a template name, on the WhatsApp Business Account of the
//! `pluginConnectionID`'s number. Talqui's Session Start has no language field: a name is the
//! template's one approved language, and when it is approved in several the answer names them
//! (with their ids) rather than guessing. Whether the template may be sent, and with which
//! values, is the core's check at the send, not this module's.

use openbsp_store::{Channel, Template, TemplateFilter};
use openbsp_wire::ids::TemplateName;

use super::error::TalquiError;
use crate::core::{Core, CoreError, templates};

/// Meta's template ids are digits.
fn is_meta_id(given: &str) -> bool {
    !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit())
}

/// The tenant's live template with gateway id or Meta id `given`, if any.
async fn by_id(core: &Core, tenant_id: &str, given: &str) -> Result<Option<Template>, TalquiError> {
    match templates::get(core, tenant_id, given, false).await {
        Ok(t) => Ok(Some(t)),
        Err(CoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The live templates called `name` on the channel's WABA.
async fn by_name(core: &Core, channel: &Channel, name: &str) -> Result<Vec<Template>, TalquiError> {
    Ok(templates::list(
        core,
        &TemplateFilter {
            tenant_id: channel.tenant_id.clone(),
            waba_id: Some(channel.waba_id.clone()),
            name: Some(name.to_string()),
            limit: 100,
            ..Default::default()
        },
    )
    .await?)
}

/// Asks Meta for the WABA's templates (all, or those called `name`) when the gateway does not
/// know the model yet (made in WhatsApp Manager, never sent through the gateway). A failure
/// leaves the decision to what the gateway knows.
async fn learn(core: &Core, channel: &Channel, name: Option<&str>) {
    if let Err(e) = templates::sync(core, &channel.tenant_id, channel, name).await {
        tracing::warn!(channel.id = %channel.id, error = %e, "could not look the campaign model up on Meta");
    }
}

/// The one template a name stands for: its only approved language (or, with none approved,
/// its only language, so that the core says why it cannot be sent).
fn one_language(given: &str, found: Vec<Template>) -> Result<Template, TalquiError> {
    let approved: Vec<&Template> = found.iter().filter(|t| t.status == "APPROVED").collect();
    let candidates: Vec<&Template> = if approved.is_empty() {
        found.iter().collect()
    } else {
        approved
    };
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|t| format!("{} ({})", t.language, t.id))
                .collect();
            Err(TalquiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "campaign_model_ambiguous",
                format!(
                    "template {given} exists in several languages: {}; Session Start has no \
                     language field, so give the id of the one to send as campaignModelID",
                    list.join(", ")
                ),
            )
            .at("campaignModelID"))
        }
    }
}

/// The template `given` names for a send from `channel`.
pub async fn resolve(core: &Core, channel: &Channel, given: &str) -> Result<Template, TalquiError> {
    let tenant_id = channel.tenant_id.as_str();
    let mut found = by_id(core, tenant_id, given).await?;
    if found.is_none() && is_meta_id(given) {
        learn(core, channel, None).await;
        found = by_id(core, tenant_id, given).await?;
    }
    if let Some(t) = found {
        if t.waba_id != channel.waba_id {
            return Err(TalquiError::no_model(format!(
                "template {given} belongs to another WhatsApp Business Account than \
                 pluginConnectionID's number ({})",
                channel.phone_number_id
            )));
        }
        return Ok(t);
    }
    let none = || {
        TalquiError::no_model(format!(
            "campaignModelID {given} names no template of WhatsApp Business Account {} (give a \
             template id, Meta's template id or a template name)",
            channel.waba_id
        ))
    };
    if TemplateName::parse(given).is_err() {
        return Err(none());
    }
    let mut named = by_name(core, channel, given).await?;
    if named.is_empty() {
        learn(core, channel, Some(given)).await;
        named = by_name(core, channel, given).await?;
    }
    if named.is_empty() {
        return Err(none());
    }
    one_language(given, named)
}
