//! Talqui's Session Start body, parsed: every field of the seed (`channel`,
//! `pluginConnectionID`, `contactFullName`, `contactExternalID`, `campaignModelID`,
//! `messageKey`, `messageValue`, `sessionKind`, `sessionType`, `campaignVariables`), with a
//! 400 naming the field for anything missing, mistyped or unknown. Nothing here knows
//! WhatsApp's rules: numbers, templates and texts are checked by the wire rules and the core.

use serde_json::{Map, Value};

use super::error::TalquiError;

/// The one channel URN this gateway serves: WhatsApp's Cloud API ("API Official").
pub const CLOUD_URN: &str = "urn:talqui:whatsapp-cloud:0";

/// Talqui's WhatsApp Business (app) URN: not the Cloud API.
const INTERNAL_URN: &str = "urn:talqui:whatsapp-internal:0";

/// The body's fields, in the seed's order.
const FIELDS: [&str; 10] = [
    "channel",
    "pluginConnectionID",
    "contactFullName",
    "contactExternalID",
    "campaignModelID",
    "messageKey",
    "messageValue",
    "sessionKind",
    "sessionType",
    "campaignVariables",
];

/// Longest `contactFullName` (as the native Session Start's contact name).
const NAME_MAX: usize = 256;

/// A Session Start as Talqui's clients send it.
#[derive(Debug, Clone, PartialEq)]
pub struct StartIn {
    /// A channel id (`chn_…`) or `phone_number_id` of the tenant.
    pub plugin_connection_id: String,
    /// The contact's name, trimmed.
    pub contact_full_name: Option<String>,
    /// The contact's phone number (or BSUID), as given.
    pub contact_external_id: String,
    /// The model: a template's gateway id, Meta id or name.
    pub campaign_model_id: Option<String>,
    /// Always `text`.
    pub message_key: String,
    /// With a model: its label; without: the first message's text.
    pub message_value: Option<String>,
    /// Talqui's session kind (`marketing`, `transactional`, …), as given.
    pub session_kind: Option<String>,
    /// `auto` (the default) or `manual`.
    pub session_type: String,
    /// The model's body values, in order.
    pub campaign_variables: Vec<String>,
}

/// A string field: absent or `null` is `None`; an empty (blank) string too.
fn string(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, TalquiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TalquiError::invalid(
            field,
            format!("{field} must be a string"),
        )),
    }
}

/// A string field the request cannot do without.
fn required(obj: &Map<String, Value>, field: &'static str) -> Result<String, TalquiError> {
    string(obj, field)?.ok_or_else(|| TalquiError::invalid(field, format!("{field} is required")))
}

/// An identifier that a client may write as a string or a number.
fn id(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, TalquiError> {
    match obj.get(field) {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Ok(string(obj, field)?.map(|s| s.trim().to_string())),
    }
}

/// `campaignVariables`: an array of strings or numbers.
fn variables(obj: &Map<String, Value>) -> Result<Vec<String>, TalquiError> {
    const FIELD: &str = "campaignVariables";
    let list = match obj.get(FIELD) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(TalquiError::invalid(
                FIELD,
                "campaignVariables must be an array of values",
            ));
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(TalquiError::invalid(
                FIELD,
                format!("campaignVariables[{i}] must be a string or a number"),
            )),
        })
        .collect()
}

/// Checks the `channel` URN: only the Cloud API is served.
fn channel(urn: &str) -> Result<(), TalquiError> {
    let refusal = |why: String| {
        TalquiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_channel",
            why,
        )
        .at("channel")
    };
    match urn {
        CLOUD_URN => Ok(()),
        INTERNAL_URN => Err(refusal(format!(
            "{INTERNAL_URN} (WhatsApp Business, the phone app) is not served: this gateway speaks \
             only WhatsApp's Cloud API; use {CLOUD_URN}, which sends a free-form first message \
             when the contact's 24-hour window is open and needs campaignModelID when it is closed"
        ))),
        other => Err(refusal(format!(
            "channel {other} is not served: this gateway speaks only WhatsApp's Cloud API \
             ({CLOUD_URN})"
        ))),
    }
}

/// Parses a Session Start body.
pub fn parse(body: &[u8]) -> Result<StartIn, TalquiError> {
    let v = openbsp_wire::json::read(body).map_err(|e| {
        TalquiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            e.to_string(),
        )
    })?;
    let Value::Object(obj) = v else {
        return Err(TalquiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be a JSON object",
        ));
    };
    // A misspelt field would change what is sent (a label sent as text): refused, not ignored.
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(TalquiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "{k} is not a field of Session Start: use {}",
                FIELDS.join(", ")
            ),
        ));
    }
    channel(&required(&obj, "channel")?)?;
    let plugin_connection_id = id(&obj, "pluginConnectionID")?.ok_or_else(|| {
        TalquiError::invalid(
            "pluginConnectionID",
            "pluginConnectionID is required: a channel id (chn_…) or phone_number_id",
        )
    })?;
    let contact_full_name = string(&obj, "contactFullName")?.map(|n| n.trim().to_string());
    if contact_full_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > NAME_MAX)
    {
        return Err(TalquiError::invalid(
            "contactFullName",
            format!("contactFullName must be at most {NAME_MAX} characters"),
        ));
    }
    let contact_external_id = id(&obj, "contactExternalID")?.ok_or_else(|| {
        TalquiError::invalid(
            "contactExternalID",
            "contactExternalID is required: the contact's phone number (55<DDD><NUMBER>)",
        )
    })?;
    let message_key = string(&obj, "messageKey")?.unwrap_or_else(|| "text".to_string());
    if message_key != "text" {
        return Err(TalquiError::invalid(
            "messageKey",
            format!("messageKey {message_key} is not supported: only \"text\""),
        ));
    }
    let session_type = string(&obj, "sessionType")?.unwrap_or_else(|| "auto".to_string());
    if !["auto", "manual"].contains(&session_type.as_str()) {
        return Err(TalquiError::invalid(
            "sessionType",
            "sessionType must be \"auto\" or \"manual\"",
        ));
    }
    let campaign_model_id = id(&obj, "campaignModelID")?;
    let message_value = string(&obj, "messageValue")?;
    let campaign_variables = variables(&obj)?;
    if campaign_model_id.is_none() {
        if !campaign_variables.is_empty() {
            return Err(TalquiError::invalid(
                "campaignVariables",
                "campaignVariables fill a model's placeholders: give campaignModelID too",
            ));
        }
        if message_value.is_none() {
            return Err(TalquiError::invalid(
                "messageValue",
                "messageValue is required without campaignModelID: it is the first message's text",
            ));
        }
    }
    Ok(StartIn {
        plugin_connection_id,
        contact_full_name: contact_full_name.filter(|n| !n.is_empty()),
        contact_external_id,
        campaign_model_id,
        message_key,
        message_value,
        session_kind: string(&obj, "sessionKind")?,
        session_type,
        campaign_variables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    fn seed() -> Value {
        json!({"channel": CLOUD_URN, "pluginConnectionID": "100200300",
               "contactFullName": " Ana ", "contactExternalID": "5527999999999",
               "campaignModelID": "order_update", "messageKey": "text",
               "messageValue": "Order update notification", "sessionKind": "marketing",
               "campaignVariables": []})
    }

    #[test]
    fn the_seed_parses() {
        let s = parse(&body(seed())).unwrap();
        assert_eq!(s.contact_full_name.as_deref(), Some("Ana"));
        assert_eq!(s.campaign_model_id.as_deref(), Some("order_update"));
        assert_eq!(s.session_type, "auto");
        assert_eq!(s.session_kind.as_deref(), Some("marketing"));
        assert!(s.campaign_variables.is_empty());
    }

    #[test]
    fn each_field_is_named_when_wrong() {
        let cases = [
            ("channel", json!(null), "channel"),
            (
                "channel",
                json!("urn:talqui:whatsapp-internal:0"),
                "channel",
            ),
            ("pluginConnectionID", json!(null), "pluginConnectionID"),
            ("contactExternalID", json!(true), "contactExternalID"),
            ("contactFullName", json!(3), "contactFullName"),
            ("messageKey", json!("image"), "messageKey"),
            ("sessionType", json!("robot"), "sessionType"),
            ("campaignVariables", json!("a"), "campaignVariables"),
            ("campaignVariables", json!([{}]), "campaignVariables"),
        ];
        for (field, value, named) in cases {
            let mut v = seed();
            v[field] = value;
            let e = parse(&body(v)).unwrap_err();
            assert_eq!(e.field, Some(named), "{field}: {}", e.message);
        }
    }

    #[test]
    fn without_a_model_the_value_is_the_text_and_variables_are_refused() {
        let mut v = seed();
        v.as_object_mut().unwrap().remove("campaignModelID");
        v["campaignVariables"] = json!(["x"]);
        assert_eq!(
            parse(&body(v.clone())).unwrap_err().field,
            Some("campaignVariables")
        );
        v["campaignVariables"] = json!([]);
        v["messageValue"] = json!("");
        assert_eq!(parse(&body(v)).unwrap_err().field, Some("messageValue"));
    }

    #[test]
    fn unknown_fields_and_bad_json_are_refused() {
        let mut v = seed();
        v["campaignModelId"] = json!("x");
        assert_eq!(parse(&body(v)).unwrap_err().code, "invalid_request");
        assert_eq!(parse(b"{").unwrap_err().status, 400);
        assert_eq!(parse(b"[]").unwrap_err().status, 400);
    }
}
