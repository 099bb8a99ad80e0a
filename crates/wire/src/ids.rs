//! The Cloud API's identifiers as types that can only be made by parsing: a user's phone
//! number (`wa_id`), a business-scoped user id (BSUID), a template name and a template
//! language code. Past the edge that parsed them, an invalid one does not exist.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::error::MetaError;
use crate::send::{ParseContext, normalize_phone_in, parse_bsuid};
use crate::template::{TemplateError, validate_language, validate_name};

macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }

            /// A value the gateway parsed before and stored (read back from its own
            /// database): not checked again.
            pub fn from_stored(s: impl Into<String>) -> Self {
                $name(s.into())
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

string_type! {
    /// A WhatsApp user's phone number as Meta's `wa_id`: digits only, country code first.
    WaId
}

string_type! {
    /// A business-scoped user id (`CC.…`, or a parent BSUID `CC.ENT.…`).
    Bsuid
}

string_type! {
    /// A template name: lowercase letters, digits and underscores, at most 512 characters.
    TemplateName
}

string_type! {
    /// A template language code as Meta writes them: `en`, `fil`, `en_US`, `pt_BR`.
    LanguageCode
}

impl WaId {
    /// A phone number in any common notation (`+1 555-123`, `00…`, local to the business's
    /// country), checked as Meta checks a `to`.
    pub fn parse_in(input: &str, ctx: &ParseContext) -> Result<WaId, MetaError> {
        normalize_phone_in(input, ctx).map(WaId)
    }

    /// [`WaId::parse_in`] without a business number (no local notation).
    pub fn parse(input: &str) -> Result<WaId, MetaError> {
        WaId::parse_in(input, &ParseContext::default())
    }
}

impl Bsuid {
    /// A BSUID as Meta checks a `recipient`.
    pub fn parse(input: &str) -> Result<Bsuid, MetaError> {
        parse_bsuid(input).map(Bsuid)
    }
}

impl TemplateName {
    /// A template name, checked as Meta checks one at creation.
    pub fn parse(input: &str) -> Result<TemplateName, TemplateError> {
        validate_name(input).map(|()| TemplateName(input.to_string()))
    }
}

impl LanguageCode {
    /// A template language code, checked as Meta checks one at creation.
    pub fn parse(input: &str) -> Result<LanguageCode, TemplateError> {
        validate_language(input).map(|()| LanguageCode(input.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsing_is_the_only_way_in() {
        assert_eq!(
            WaId::parse("+1 (555) 123-0001").unwrap().as_str(),
            "15551230001"
        );
        assert!(WaId::parse("not a number").is_err());
        assert_eq!(
            Bsuid::parse("US.13491208655302741918").unwrap().as_str(),
            "US.13491208655302741918"
        );
        assert!(Bsuid::parse("13491208655302741918").is_err());
        assert!(TemplateName::parse("order_update_2").is_ok());
        for bad in ["", "Order", "order-update", "ordér"] {
            assert!(TemplateName::parse(bad).is_err(), "{bad}");
        }
        for good in ["en", "fil", "en_US", "pt_BR"] {
            assert!(LanguageCode::parse(good).is_ok(), "{good}");
        }
        for bad in ["EN", "en-US", "en_us", "e", "english"] {
            assert!(LanguageCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn they_serialize_as_plain_strings() {
        let w = WaId::parse("15551230001").unwrap();
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"15551230001\"");
    }

    proptest! {
        /// A parsed number parses again to itself: `wa_id`s are a fixed point.
        #[test]
        fn a_wa_id_is_its_own_normal_form(digits in "[1-9][0-9]{7,13}") {
            if let Ok(w) = WaId::parse(&digits) {
                prop_assert_eq!(WaId::parse(w.as_str()).unwrap(), w);
            }
        }

        /// Only lowercase letters, digits and underscores make a template name.
        #[test]
        fn template_names_hold_only_their_alphabet(s in "\\PC{1,40}") {
            let ok = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            prop_assert_eq!(TemplateName::parse(&s).is_ok(), ok);
        }
    }
}
