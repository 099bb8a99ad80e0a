//! A template send checked against the template's definition, and the text it renders
//! (reference §2.1).

use serde::Serialize;
use serde_json::Value;

use super::{Definition, TemplateError};
use crate::error::MetaError;

/// A filled-in carousel card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedCard {
    /// Body text, filled in.
    pub body: Option<String>,
    /// Button labels.
    pub buttons: Vec<String>,
}

/// The template as the contact sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// Header text, filled in (TEXT headers), or `[IMAGE]`, `[LOCATION: name]`, ….
    pub header: Option<String>,
    /// Body text, filled in.
    pub body: String,
    /// Footer text.
    pub footer: Option<String>,
    /// Button labels (with the filled-in URL or code where the send gave one).
    pub buttons: Vec<String>,
    /// Carousel cards.
    pub cards: Vec<RenderedCard>,
    /// Everything, as one text: header, body, footer and buttons, one block each.
    pub text: String,
}

/// Checks a send's `template` object (`{name, language, components}`) against the
/// template's definition and renders it: parameter counts and kinds per component (132000),
/// formats (132012), values (132018) and the filled-in length (132005).
pub fn check_send(def: &Definition, template: &Value) -> Result<Rendered, TemplateError> {
    let _ = (def, template);
    todo!()
}

/// Meta's refusal of a send for the template's status: 132001 unless APPROVED (or
/// in appeal / reinstated), 132015 when PAUSED, 132016 when DISABLED; `None` when it may go.
pub fn status_error(status: &str, name: &str, language: &str) -> Option<MetaError> {
    let _ = (status, name, language);
    todo!()
}

/// The `components` of a send that fills the body's variables, in order, with `values`
/// (the seeds' `campaignVariables`): positional templates take them as `{{1}}`, `{{2}}`, …;
/// named ones in the order the names first appear.
pub fn components_from_values(def: &Definition, values: &[String]) -> Result<Value, TemplateError> {
    let _ = (def, values);
    todo!()
}
