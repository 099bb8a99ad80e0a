//! Message templates: Meta's rules for a template's definition (create and edit,
//! reference §2.2–§2.3) and for a template send (§2.1), with Meta's codes.
//!
//! - [`parse_definition`] validates a create request (`{name, language, category,
//!   parameter_format?, components}`) exactly as `POST /{WABA_ID}/message_templates` does;
//!   every rejection is a [`TemplateError`] naming the rule, the field and Meta's code
//!   (100 with a `2388…` subcode).
//! - [`Definition::from_stored`] reads a template the gateway or Meta already holds,
//!   without the creation rules, so that sends can be checked against it.
//! - [`check_send`] checks a send's `template` object against the definition (132000,
//!   132005, 132012, 132018) and renders the text the contact will see; [`status_error`]
//!   turns the template's status into 132001 / 132015 / 132016.
//! - [`components_from_values`] turns a plain ordered list of values (the seeds'
//!   `campaignVariables`) into the send's `components`.

mod definition;
mod render;
mod vars;

pub use definition::{
    Button, ButtonKind, Card, Category, Definition, Header, HeaderFormat, OtpType, ParameterFormat,
    parse_definition, validate_language, validate_name,
};
pub use render::{Rendered, RenderedCard, check_send, components_from_values, status_error};

use crate::error::MetaError;
// Template-management subcodes and their titles belong to Meta's error catalogue
// (`crate::error`); they are re-exported here, where template code looks for them.
pub use crate::error::{subcode_title, subcodes};

/// Why a template definition or a template send is refused: the rule broken, where, and
/// Meta's code (and subcode, for template management).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Meta's code: 100 for definitions; 132000, 132005, 132012, 132018 for sends.
    pub code: i64,
    /// Meta's subcode for definitions (`2388040`, …).
    pub subcode: Option<i64>,
    /// A stable name for the rule (`body_too_long`, `variable_at_start`, …).
    pub rule: &'static str,
    /// Where: `components[1].text`, `template.components[0].parameters[1]`, `name`, ….
    pub field: String,
    /// What is wrong and how to fix it, for a person.
    pub message: String,
}

impl TemplateError {
    /// The error as Meta answers it on the Graph API.
    pub fn to_meta(&self) -> MetaError {
        match self.subcode {
            Some(sub) => MetaError::with_subcode(self.code, sub, self.message.clone()),
            None if self.code == crate::error::codes::INVALID_PARAMETER => {
                MetaError::invalid_parameter(self.message.clone())
            }
            None => MetaError::new(self.code, Some(self.message.clone())),
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.field, self.rule, self.message)
    }
}

impl std::error::Error for TemplateError {}

/// Most templates a WABA may hold (reference §2.4 and §9: Meta's error page says 250).
pub const MAX_TEMPLATES_PER_WABA: usize = 250;
/// Longest template name.
pub const NAME_MAX: usize = 512;
/// Longest body text.
pub const BODY_MAX: usize = 1024;
/// Longest header text.
pub const HEADER_TEXT_MAX: usize = 60;
/// Longest footer text.
pub const FOOTER_MAX: usize = 60;
/// Longest button label.
pub const BUTTON_TEXT_MAX: usize = 25;
/// Longest phone number on a PHONE_NUMBER button.
pub const BUTTON_PHONE_MAX: usize = 20;
/// Longest URL on a URL button.
pub const BUTTON_URL_MAX: usize = 2000;
/// Most buttons on a template.
pub const MAX_BUTTONS: usize = 10;
/// Most URL buttons.
pub const MAX_URL_BUTTONS: usize = 2;
/// Most PHONE_NUMBER buttons.
pub const MAX_PHONE_BUTTONS: usize = 1;
/// Most COPY_CODE buttons.
pub const MAX_COPY_CODE_BUTTONS: usize = 1;
/// Fewest and most carousel cards.
pub const CAROUSEL_CARDS: std::ops::RangeInclusive<usize> = 2..=10;
/// Most buttons on a carousel card.
pub const MAX_CARD_BUTTONS: usize = 2;
/// Longest carousel card body.
pub const CARD_BODY_MAX: usize = 160;
/// Longest coupon code on a COPY_CODE button.
pub const COUPON_CODE_MAX: usize = 15;
/// `code_expiration_minutes` of an authentication template.
pub const CODE_EXPIRATION_MINUTES: std::ops::RangeInclusive<i64> = 1..=90;
/// Longest OTP code sent in an authentication template.
pub const OTP_CODE_MAX: usize = 15;
