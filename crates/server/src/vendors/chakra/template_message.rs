//! `POST /v1/ext/plugin/whatsapp/{pluginId}/phoneNumber/{phone}/send-template-message`
//! (and ChakraHQ's older `…/process/phoneNumber/{phone}/…`): a template named by
//! `templateName`, its variables given as ChakraHQ's mappings (`vendors.md` §3.2):
//!
//! - `mapping`: the body's, `[{"schemaPropertyName": "1", "schemaPropertyValue": "John"}]`;
//!   numbered names are placed by number, other names are named parameters;
//! - `headerMapping`: the header's text variables, the same way;
//! - `buttonMapping`: a URL button's variable each; `schemaPropertyName` is the button's
//!   index (Meta's, from 0);
//! - `imageUrl` / `videoUrl` / `documentUrl` (with `filename`), or `locationLatitude` and
//!   `locationLongitude`: a media or location header.
//!
//! `whatsappPhoneNumberId` names the number (empty or absent: the plugin's only one). The
//! language is `languageCode` (or `language`); absent, the template's only language. This
//! builds the Cloud API template send and hands it to the same core as every send: Meta's
//! rules (the template approved, the parameter count, the opt-out) are the core's.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawPathParams, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use openbsp_store::{Channel, TemplateFilter};
use openbsp_wire::send::{ParseContext, Surface};
use openbsp_wire::{MetaError, SendRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{ChakraTenant, plugin_channel};
use super::error::ChakraError;
use super::messages::{body_json, deliver, param};
use super::ok;
use crate::core::{Core, templates as service};

/// One variable of a mapping.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    /// The variable: `"1"`, `"2"`… or a named parameter's name (for a button, its index).
    pub schema_property_name: Value,
    /// Its value.
    pub schema_property_value: Value,
}

/// ChakraHQ's body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMessage {
    /// The number to send from (empty: the plugin's only one).
    #[serde(default)]
    pub whatsapp_phone_number_id: Option<String>,
    /// The template's name.
    pub template_name: String,
    /// The template's language (absent: its only one).
    #[serde(default, alias = "language", alias = "templateLanguage")]
    pub language_code: Option<String>,
    /// Body variables.
    #[serde(default)]
    pub mapping: Vec<Mapping>,
    /// Header text variables.
    #[serde(default)]
    pub header_mapping: Vec<Mapping>,
    /// URL button variables.
    #[serde(default)]
    pub button_mapping: Vec<Mapping>,
    /// An image header.
    #[serde(default)]
    pub image_url: Option<String>,
    /// A video header.
    #[serde(default)]
    pub video_url: Option<String>,
    /// A document header.
    #[serde(default)]
    pub document_url: Option<String>,
    /// The document header's file name.
    #[serde(default)]
    pub filename: Option<String>,
    /// A location header's latitude.
    #[serde(default)]
    pub location_latitude: Option<Value>,
    /// A location header's longitude.
    #[serde(default)]
    pub location_longitude: Option<Value>,
}

/// Sends the template.
pub async fn send(
    State(core): State<Core>,
    ChakraTenant { tenant_id }: ChakraTenant,
    params: RawPathParams,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ChakraError> {
    let (_, v) = body_json(body)?;
    let m: TemplateMessage = serde_json::from_value(v).map_err(|e| {
        ChakraError::invalid(format!("The request body is not a template message: {e}"))
    })?;
    let channel = plugin_channel(
        &core,
        &tenant_id,
        &param(&params, "pluginId"),
        m.whatsapp_phone_number_id.as_deref().unwrap_or_default(),
    )
    .await?;
    let language = match &m.language_code {
        Some(l) if !l.trim().is_empty() => l.trim().to_string(),
        _ => only_language(&core, &tenant_id, &channel, &m.template_name).await?,
    };
    let cloud = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": param(&params, "phone"),
        "type": "template",
        "template": {
            "name": m.template_name,
            "language": {"code": language},
            "components": components(&m)?,
        },
    });
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
    let req = SendRequest::parse_in(&cloud, Surface::Graph, &ctx)?;
    let raw = serde_json::to_vec(&cloud).map_err(ChakraError::internal)?;
    let id = deliver(&core, &tenant_id, &channel, &req, &raw, &headers).await?;
    Ok(ok(json!({ "whatsappMessageId": id })))
}

/// The language of the WABA's only template of that name (looked up on Meta when the gateway
/// knows none); Meta's 132001 when there is none, a clear error when there are several.
async fn only_language(
    core: &Core,
    tenant_id: &str,
    channel: &Channel,
    name: &str,
) -> Result<String, ChakraError> {
    let find = || async {
        service::list(
            core,
            &TemplateFilter {
                tenant_id: tenant_id.to_string(),
                waba_id: Some(channel.waba_id.clone()),
                name: Some(name.to_string()),
                status: None,
                category: None,
                language: None,
                include_deleted: false,
                after: None,
                limit: 100,
                before: None,
            },
        )
        .await
    };
    let mut found = find().await?;
    if found.is_empty() {
        service::sync(core, tenant_id, channel, Some(name)).await?;
        found = find().await?;
    }
    let mut languages: Vec<String> = found.into_iter().map(|t| t.language).collect();
    languages.sort();
    languages.dedup();
    match languages.len() {
        1 => Ok(languages.remove(0)),
        0 => Err(MetaError::new(
            openbsp_wire::error::codes::TEMPLATE_MISSING,
            Some(format!("template name ({name}) does not exist")),
        )
        .into()),
        _ => Err(ChakraError::bad_request(format!(
            "template {name} exists in several languages ({}); name one as languageCode",
            languages.join(", ")
        ))
        .details("languageCode")),
    }
}

/// A mapping's text: a string as is, a number or boolean written out.
fn text(v: &Value, field: &str) -> Result<String, ChakraError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ChakraError::invalid(format!(
            "Param {field} must be a string or a number."
        ))),
    }
}

/// A mapping as Cloud API text parameters: numbered ones in their order, named ones by name.
fn parameters(mapping: &[Mapping], field: &str) -> Result<Vec<Value>, ChakraError> {
    let mut numbered = Vec::new();
    let mut named = Vec::new();
    for m in mapping {
        let name = text(
            &m.schema_property_name,
            &format!("{field}.schemaPropertyName"),
        )?;
        let value = text(
            &m.schema_property_value,
            &format!("{field}.schemaPropertyValue"),
        )?;
        match name.trim().parse::<u32>() {
            Ok(n) => numbered.push((n, json!({"type": "text", "text": value}))),
            Err(_) => {
                named.push(json!({"type": "text", "parameter_name": name.trim(), "text": value}))
            }
        }
    }
    numbered.sort_by_key(|(n, _)| *n);
    Ok(numbered.into_iter().map(|(_, p)| p).chain(named).collect())
}

/// The Cloud API components of ChakraHQ's mappings and media fields.
fn components(m: &TemplateMessage) -> Result<Vec<Value>, ChakraError> {
    let mut out = Vec::new();
    let media = [
        ("image", &m.image_url),
        ("video", &m.video_url),
        ("document", &m.document_url),
    ];
    let mut header: Vec<Value> = media
        .iter()
        .filter_map(|(kind, url)| {
            let url = url.as_deref().map(str::trim).filter(|u| !u.is_empty())?;
            let mut object = json!({ "link": url });
            if *kind == "document"
                && let Some(f) = &m.filename
            {
                object["filename"] = json!(f);
            }
            Some(json!({"type": kind, *kind: object}))
        })
        .collect();
    if let (Some(lat), Some(lon)) = (&m.location_latitude, &m.location_longitude) {
        let number = |v: &Value, field: &str| -> Result<f64, ChakraError> {
            text(v, field)?
                .trim()
                .parse::<f64>()
                .map_err(|_| ChakraError::invalid(format!("Param {field} must be a number.")))
        };
        header.push(json!({"type": "location", "location": {
            "latitude": number(lat, "locationLatitude")?,
            "longitude": number(lon, "locationLongitude")?,
        }}));
    }
    header.extend(parameters(&m.header_mapping, "headerMapping")?);
    if !header.is_empty() {
        out.push(json!({"type": "header", "parameters": header}));
    }
    let body = parameters(&m.mapping, "mapping")?;
    if !body.is_empty() {
        out.push(json!({"type": "body", "parameters": body}));
    }
    for b in &m.button_mapping {
        let index = text(&b.schema_property_name, "buttonMapping.schemaPropertyName")?;
        let value = text(
            &b.schema_property_value,
            "buttonMapping.schemaPropertyValue",
        )?;
        out.push(
            json!({"type": "button", "sub_type": "url", "index": index.trim(),
                        "parameters": [{"type": "text", "text": value}]}),
        );
    }
    Ok(out)
}
