//! `user_preferences` webhooks (reference §3.5, §5.5): a user stops or resumes marketing
//! messages from a business (`POST /_simulator/user-preferences`, or
//! [`SimState::deliver_user_preference`]). The simulator remembers the choice: while a user
//! has stopped them, marketing templates to that user fail with 131050, as Meta's do.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use openbsp_wire::send::parse_bsuid;
use openbsp_wire::webhook::{PreferenceValue, Profile};

use crate::envelope::{self, PreferenceContact, PreferenceOut};
use crate::inbound::{InboundError, invalid, is_wa_id};
use crate::records::WebhookKind;
use crate::state::SimState;
use crate::webhooks;

/// The category Meta uses for marketing opt-outs.
pub const MARKETING_MESSAGES: &str = "marketing_messages";

/// A user's preference change, to deliver to the business as a `user_preferences` webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPreferenceRequest {
    /// The business number the preference is about.
    pub phone_number_id: String,
    /// The user's phone number (digits). At least one of `wa_id` and `user_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The user's BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's profile name (`contacts[].profile.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `stop` or `resume`.
    pub value: PreferenceValue,
    /// Default `marketing_messages`, the only category Meta sends today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Meta's description; by default "User requested to stop (resume) marketing messages".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl UserPreferenceRequest {
    /// The user `wa_id` stops (`stop: true`) or resumes marketing messages.
    pub fn marketing(phone_number_id: &str, wa_id: &str, stop: bool) -> UserPreferenceRequest {
        UserPreferenceRequest {
            phone_number_id: phone_number_id.to_string(),
            wa_id: Some(wa_id.to_string()),
            user_id: None,
            name: None,
            value: if stop {
                PreferenceValue::Stop
            } else {
                PreferenceValue::Resume
            },
            category: None,
            detail: None,
        }
    }

    /// Reads a request from JSON, naming the field that is wrong.
    pub fn from_json(v: &Value) -> Result<UserPreferenceRequest, InboundError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("body", "must be a JSON object"))?;
        for key in obj.keys() {
            if ![
                "phone_number_id",
                "wa_id",
                "user_id",
                "name",
                "value",
                "category",
                "detail",
            ]
            .contains(&key.as_str())
            {
                return Err(invalid(key, "is not a field of a user preference"));
            }
        }
        let opt_str = |name: &str| -> Result<Option<String>, InboundError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(name, "must be a string")),
            }
        };
        let req = UserPreferenceRequest {
            phone_number_id: opt_str("phone_number_id")?
                .ok_or_else(|| invalid("phone_number_id", "is required"))?,
            wa_id: opt_str("wa_id")?,
            user_id: opt_str("user_id")?,
            name: opt_str("name")?,
            value: PreferenceValue::from(
                opt_str("value")?.ok_or_else(|| invalid("value", "is required"))?,
            ),
            category: opt_str("category")?,
            detail: opt_str("detail")?,
        };
        req.check()?;
        Ok(req)
    }

    fn check(&self) -> Result<(), InboundError> {
        if self.wa_id.is_none() && self.user_id.is_none() {
            return Err(invalid("wa_id", "one of wa_id and user_id is required"));
        }
        if let Some(w) = &self.wa_id
            && !is_wa_id(w)
        {
            return Err(invalid("wa_id", "must be a wa_id: 7 to 15 digits, no '+'"));
        }
        if let Some(u) = &self.user_id {
            parse_bsuid(u)
                .map_err(|_| invalid("user_id", "must be a BSUID like US.13491208655302741918"))?;
        }
        if let PreferenceValue::Other(v) = &self.value {
            return Err(invalid(
                "value",
                format!("must be \"stop\" or \"resume\", got \"{v}\""),
            ));
        }
        if self
            .category
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(invalid("category", "must not be empty"));
        }
        Ok(())
    }
}

impl SimState {
    /// Delivers a user's preference change to the business as a signed `user_preferences`
    /// webhook (retried until accepted) and remembers a marketing stop or resume; returns
    /// the change's timestamp (Unix seconds).
    pub fn deliver_user_preference(
        self: &Arc<Self>,
        req: UserPreferenceRequest,
    ) -> Result<i64, InboundError> {
        req.check()?;
        let phone = self
            .phone_number(&req.phone_number_id)
            .ok_or_else(|| InboundError::UnknownPhoneNumber(req.phone_number_id.clone()))?;
        let category = req
            .category
            .clone()
            .unwrap_or_else(|| MARKETING_MESSAGES.to_string());
        let (stop, verb) = match req.value {
            PreferenceValue::Stop => (true, "stop"),
            _ => (false, "resume"),
        };
        let timestamp = self.now_ms().div_euclid(1000);
        let contact = PreferenceContact {
            wa_id: req.wa_id.clone(),
            user_id: req.user_id.clone(),
            profile: Profile {
                name: Some(req.name.unwrap_or_else(|| "WhatsApp User".to_string())),
                username: None,
            },
        };
        let preference = PreferenceOut {
            wa_id: req.wa_id.clone(),
            user_id: req.user_id.clone(),
            detail: req.detail.unwrap_or_else(|| {
                format!("User requested to {verb} {}", category.replace('_', " "))
            }),
            category: category.clone(),
            value: verb,
            timestamp,
        };
        if category == MARKETING_MESSAGES {
            let users: Vec<&str> = [req.wa_id.as_deref(), req.user_id.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            self.set_marketing_stopped(&phone.phone_number_id, &users, stop);
        }
        let body = envelope::user_preferences_body(&phone, &[contact], &[preference]);
        webhooks::enqueue(
            self,
            &phone.phone_number_id,
            WebhookKind::UserPreferences,
            body,
        );
        Ok(timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: Value) -> String {
        match UserPreferenceRequest::from_json(&v) {
            Err(InboundError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_are_checked_naming_the_field() {
        let ok = json!({"phone_number_id": "P", "wa_id": "16505551234", "value": "stop"});
        let r = UserPreferenceRequest::from_json(&ok).unwrap();
        assert_eq!(
            r,
            UserPreferenceRequest::marketing("P", "16505551234", true)
        );
        let r = UserPreferenceRequest::from_json(
            &json!({"phone_number_id": "P", "user_id": "US.13491208655302741918", "value": "resume"}),
        )
        .unwrap();
        assert_eq!(r.value, PreferenceValue::Resume);
        let cases = [
            (json!([]), "body"),
            (
                json!({"wa_id": "16505551234", "value": "stop"}),
                "phone_number_id",
            ),
            (json!({"phone_number_id": "P", "value": "stop"}), "wa_id"),
            (
                json!({"phone_number_id": "P", "wa_id": "+16505551234", "value": "stop"}),
                "wa_id",
            ),
            (
                json!({"phone_number_id": "P", "user_id": "nope", "value": "stop"}),
                "user_id",
            ),
            (
                json!({"phone_number_id": "P", "wa_id": "16505551234"}),
                "value",
            ),
            (
                json!({"phone_number_id": "P", "wa_id": "16505551234", "value": "pause"}),
                "value",
            ),
            (
                json!({"phone_number_id": "P", "wa_id": "16505551234", "value": 1}),
                "value",
            ),
            (
                json!({"phone_number_id": "P", "wa_id": "16505551234", "value": "stop", "category": ""}),
                "category",
            ),
            (
                json!({"phone_number_id": "P", "wa_id": "16505551234", "value": "stop", "valu": "x"}),
                "valu",
            ),
        ];
        for (v, field) in cases {
            assert_eq!(field_of(v.clone()), field, "{v}");
        }
    }
}
