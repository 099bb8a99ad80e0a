//! A template's definition, and Meta's rules for creating or editing one (reference §2.2).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::vars;
use super::*;

/// A template's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    /// Promotions, offers, re-engagement.
    Marketing,
    /// Updates about a transaction or account the user asked for.
    Utility,
    /// One-time passcodes.
    Authentication,
}

impl Category {
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`, any case.
    pub fn parse(s: &str) -> Option<Category> {
        match s.to_ascii_uppercase().as_str() {
            "MARKETING" => Some(Category::Marketing),
            "UTILITY" => Some(Category::Utility),
            "AUTHENTICATION" => Some(Category::Authentication),
            _ => None,
        }
    }

    /// Meta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "MARKETING",
            Category::Utility => "UTILITY",
            Category::Authentication => "AUTHENTICATION",
        }
    }
}

/// How a template's variables are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterFormat {
    /// `{{1}}`, `{{2}}`, … (the default).
    Positional,
    /// `{{first_name}}`, … filled by `parameter_name` at send time.
    Named,
}

impl ParameterFormat {
    /// `positional` or `named`, any case.
    pub fn parse(s: &str) -> Option<ParameterFormat> {
        match s.to_ascii_lowercase().as_str() {
            "positional" => Some(ParameterFormat::Positional),
            "named" => Some(ParameterFormat::Named),
            _ => None,
        }
    }

    /// Meta's spelling (`POSITIONAL`, `NAMED`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "POSITIONAL",
            ParameterFormat::Named => "NAMED",
        }
    }
}

/// The format of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeaderFormat {
    /// Text, up to 60 characters and one variable.
    Text,
    /// An image, given at send time.
    Image,
    /// A video, given at send time.
    Video,
    /// A document, given at send time.
    Document,
    /// A location, given at send time.
    Location,
    /// A GIF (Marketing Messages API only).
    Gif,
}

impl HeaderFormat {
    /// Meta's spelling, any case.
    pub fn parse(s: &str) -> Option<HeaderFormat> {
        match s.to_ascii_uppercase().as_str() {
            "TEXT" => Some(HeaderFormat::Text),
            "IMAGE" => Some(HeaderFormat::Image),
            "VIDEO" => Some(HeaderFormat::Video),
            "DOCUMENT" => Some(HeaderFormat::Document),
            "LOCATION" => Some(HeaderFormat::Location),
            "GIF" => Some(HeaderFormat::Gif),
            _ => None,
        }
    }

    /// Meta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderFormat::Text => "TEXT",
            HeaderFormat::Image => "IMAGE",
            HeaderFormat::Video => "VIDEO",
            HeaderFormat::Document => "DOCUMENT",
            HeaderFormat::Location => "LOCATION",
            HeaderFormat::Gif => "GIF",
        }
    }

    /// The send-time parameter type of a media header (`image`, `video`, `document`).
    pub fn media_parameter(self) -> Option<&'static str> {
        match self {
            HeaderFormat::Image => Some("image"),
            HeaderFormat::Video | HeaderFormat::Gif => Some("video"),
            HeaderFormat::Document => Some("document"),
            _ => None,
        }
    }
}

/// A template's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its format.
    pub format: HeaderFormat,
    /// Its text (TEXT headers).
    pub text: Option<String>,
}

/// The kind of a template button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ButtonKind {
    /// `QUICK_REPLY`: a payload at send time (optional).
    QuickReply,
    /// `URL`: a URL, with a `{{1}}` suffix filled at send time when it ends with one.
    Url,
    /// `PHONE_NUMBER`.
    PhoneNumber,
    /// `COPY_CODE`: the coupon code given at send time.
    CopyCode,
    /// `OTP` (authentication): the code given at send time.
    Otp,
    /// `FLOW`.
    Flow,
    /// `MPM`: multi-product message.
    Mpm,
    /// `CATALOG`.
    Catalog,
    /// `VOICE_CALL`.
    VoiceCall,
    /// `SPM`: single-product message.
    Spm,
    /// `REQUEST_CONTACT_INFO`.
    RequestContactInfo,
    /// A kind this gateway does not know (kept in stored templates so indexes line up).
    Other,
}

impl ButtonKind {
    /// Meta's spelling, any case.
    pub fn parse(s: &str) -> Option<ButtonKind> {
        Some(match s.to_ascii_uppercase().as_str() {
            "QUICK_REPLY" => ButtonKind::QuickReply,
            "URL" => ButtonKind::Url,
            "PHONE_NUMBER" => ButtonKind::PhoneNumber,
            "COPY_CODE" => ButtonKind::CopyCode,
            "OTP" => ButtonKind::Otp,
            "FLOW" => ButtonKind::Flow,
            "MPM" => ButtonKind::Mpm,
            "CATALOG" => ButtonKind::Catalog,
            "VOICE_CALL" => ButtonKind::VoiceCall,
            "SPM" => ButtonKind::Spm,
            "REQUEST_CONTACT_INFO" => ButtonKind::RequestContactInfo,
            _ => return None,
        })
    }

    /// Meta's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ButtonKind::QuickReply => "QUICK_REPLY",
            ButtonKind::Url => "URL",
            ButtonKind::PhoneNumber => "PHONE_NUMBER",
            ButtonKind::CopyCode => "COPY_CODE",
            ButtonKind::Otp => "OTP",
            ButtonKind::Flow => "FLOW",
            ButtonKind::Mpm => "MPM",
            ButtonKind::Catalog => "CATALOG",
            ButtonKind::VoiceCall => "VOICE_CALL",
            ButtonKind::Spm => "SPM",
            ButtonKind::RequestContactInfo => "REQUEST_CONTACT_INFO",
            ButtonKind::Other => "OTHER",
        }
    }

    /// The `sub_type` a send uses for this button's parameters, if it takes any.
    pub fn send_sub_type(self) -> Option<&'static str> {
        match self {
            ButtonKind::QuickReply => Some("quick_reply"),
            ButtonKind::Url | ButtonKind::Otp => Some("url"),
            ButtonKind::CopyCode => Some("copy_code"),
            ButtonKind::Flow => Some("flow"),
            ButtonKind::Mpm => Some("mpm"),
            ButtonKind::Catalog => Some("catalog"),
            ButtonKind::Spm => Some("spm"),
            _ => None,
        }
    }
}

/// The OTP button type of an authentication template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpType {
    /// The user copies the code.
    CopyCode,
    /// The app fills it in after a tap.
    OneTap,
    /// The app fills it in silently.
    ZeroTap,
}

/// A template button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// Its kind.
    pub kind: ButtonKind,
    /// Its label.
    pub text: String,
    /// URL buttons: the URL (ending in `{{1}}` when dynamic).
    pub url: Option<String>,
    /// PHONE_NUMBER buttons: the number.
    pub phone_number: Option<String>,
    /// OTP buttons: the OTP type.
    pub otp_type: Option<OtpType>,
}

impl Button {
    /// Whether a send must give this button a parameter.
    pub fn needs_parameter(&self) -> bool {
        match self.kind {
            ButtonKind::Url => self.url.as_deref().is_some_and(|u| u.contains("{{")),
            ButtonKind::CopyCode | ButtonKind::Otp | ButtonKind::Mpm => true,
            _ => false,
        }
    }
}

/// A card of a media-card carousel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Its header (IMAGE or VIDEO).
    pub header: Header,
    /// Its body text, if any.
    pub body: Option<String>,
    /// Its buttons.
    pub buttons: Vec<Button>,
}

/// A template's definition, as created and as checked at send time.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// Name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Category.
    pub category: Category,
    /// How the variables are written.
    pub parameter_format: ParameterFormat,
    /// Header, if any.
    pub header: Option<Header>,
    /// Body text (for authentication templates, the text Meta writes: the code and the
    /// optional security recommendation).
    pub body: String,
    /// Footer text, if any (for authentication templates, the expiry notice).
    pub footer: Option<String>,
    /// Buttons.
    pub buttons: Vec<Button>,
    /// Carousel cards (marketing carousels), in order.
    pub cards: Vec<Card>,
    /// The components as submitted (Meta's JSON, types upper-cased).
    pub components: Value,
}

impl Definition {
    /// Reads a template the gateway or Meta already holds (`components` as Meta lists
    /// them), without the creation rules: what a send is checked against.
    pub fn from_stored(
        name: &str,
        language: &str,
        category: Option<&str>,
        parameter_format: Option<&str>,
        components: &Value,
    ) -> Result<Definition, TemplateError> {
        let category = category
            .and_then(Category::parse)
            .unwrap_or(Category::Utility);
        let format = parameter_format
            .and_then(ParameterFormat::parse)
            .unwrap_or_else(|| guess_format(components));
        let components = components.as_array().map(Vec::as_slice).unwrap_or(&[]);
        Parser {
            mode: Mode::Stored,
            category,
            format,
        }
        .components(name, language, components)
    }

    /// The body's variables, in order of first appearance (`"1"`, `"2"` or names).
    pub fn body_variables(&self) -> Vec<String> {
        vars::scan(&self.body)
            .map(|v| vars::distinct(&v))
            .unwrap_or_default()
    }
}

/// A stored template without `parameter_format`: named when its body has named variables.
fn guess_format(components: &Value) -> ParameterFormat {
    let body = components
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                == Some("BODY".into())
        })
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match vars::scan(body) {
        Ok(v) if v.iter().any(|p| !p.positional()) => ParameterFormat::Named,
        _ => ParameterFormat::Positional,
    }
}

/// Validates a template name: lowercase letters, digits and underscores, at most 512.
pub fn validate_name(name: &str) -> Result<(), TemplateError> {
    if name.is_empty() {
        return Err(invalid(
            "missing_name",
            "name",
            "The parameter name is required.",
        ));
    }
    if name.chars().count() > NAME_MAX {
        return Err(limit(
            "name_too_long",
            "name",
            format!("The template name is longer than {NAME_MAX} characters."),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(
            "invalid_name",
            "name",
            format!(
                "Template name \"{name}\" may only hold lowercase letters, digits and underscores."
            ),
        ));
    }
    Ok(())
}

/// A language code as Meta writes them: `en`, `fil`, `en_US`, `pt_BR`.
pub fn validate_language(code: &str) -> Result<(), TemplateError> {
    let (lang, region) = match code.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (code, None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok =
        region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()));
    if lang_ok && region_ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_language",
            "language",
            format!(
                "\"{code}\" is not a template language code: use Meta's codes such as en, en_US, pt_BR (underscore, region in capitals)."
            ),
        ))
    }
}

/// Validates a create (or edit) request exactly as Meta does:
/// `{name, language, category, parameter_format?, components}`.
pub fn parse_definition(body: &Value) -> Result<Definition, TemplateError> {
    let Some(o) = body.as_object() else {
        return Err(invalid(
            "not_an_object",
            "",
            "The request body must be a JSON object.",
        ));
    };
    let text = |key: &str| -> Result<&str, TemplateError> {
        match o.get(key) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None | Some(Value::Null) => Err(invalid(
                "missing_field",
                key,
                format!("The parameter {key} is required."),
            )),
            Some(_) => Err(invalid(
                "invalid_field",
                key,
                format!("Param {key} must be a string."),
            )),
        }
    };
    let name = text("name")?;
    validate_name(name)?;
    let language = text("language")?;
    validate_language(language)?;
    let category_text = text("category")?;
    let category = Category::parse(category_text).ok_or_else(|| {
        invalid(
            "invalid_category",
            "category",
            format!(
                "Category \"{category_text}\" is not one of MARKETING, UTILITY, AUTHENTICATION."
            ),
        )
    })?;
    let format = match o.get("parameter_format") {
        None | Some(Value::Null) => ParameterFormat::Positional,
        Some(Value::String(s)) => ParameterFormat::parse(s).ok_or_else(|| {
            invalid(
                "invalid_parameter_format",
                "parameter_format",
                format!("parameter_format \"{s}\" is not one of positional, named."),
            )
        })?,
        Some(_) => {
            return Err(invalid(
                "invalid_parameter_format",
                "parameter_format",
                "Param parameter_format must be a string.",
            ));
        }
    };
    let components = match o.get("components") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(invalid(
                "missing_components",
                "components",
                "The parameter components is required: a template needs at least a BODY.",
            ));
        }
        Some(_) => {
            return Err(invalid(
                "invalid_components",
                "components",
                "Param components must be an array.",
            ));
        }
    };
    Parser {
        mode: Mode::Create,
        category,
        format,
    }
    .components(name, language, components)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Meta's creation rules, all of them.
    Create,
    /// The structure only: what a send is checked against.
    Stored,
}

struct Parser {
    mode: Mode,
    category: Category,
    format: ParameterFormat,
}

fn invalid(
    rule: &'static str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> TemplateError {
    TemplateError {
        code: crate::error::codes::INVALID_PARAMETER,
        subcode: None,
        rule,
        field: field.into(),
        message: message.into(),
    }
}

fn sub(
    subcode: i64,
    rule: &'static str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> TemplateError {
    TemplateError {
        subcode: Some(subcode),
        ..invalid(rule, field, message)
    }
}

fn limit(
    rule: &'static str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> TemplateError {
    sub(subcodes::CHARACTER_LIMIT, rule, field, message)
}

fn str_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

fn upper_type(o: &Map<String, Value>) -> Option<String> {
    str_of(o, "type").map(str::to_ascii_uppercase)
}

impl Parser {
    fn create(&self) -> bool {
        self.mode == Mode::Create
    }

    fn components(
        &self,
        name: &str,
        language: &str,
        components: &[Value],
    ) -> Result<Definition, TemplateError> {
        let mut header = None;
        let mut body: Option<(String, &Map<String, Value>, String)> = None;
        let mut footer = None;
        let mut footer_obj = None;
        let mut buttons = Vec::new();
        let mut buttons_seen = false;
        let mut cards = Vec::new();
        let mut carousel_seen = false;
        let mut normalized = Vec::with_capacity(components.len());
        for (i, c) in components.iter().enumerate() {
            let field = format!("components[{i}]");
            let Some(o) = c.as_object() else {
                return Err(invalid(
                    "invalid_component",
                    field,
                    "Each component must be a JSON object.",
                ));
            };
            let Some(kind) = upper_type(o) else {
                return Err(invalid(
                    "missing_component_type",
                    format!("{field}.type"),
                    "Each component needs a type: HEADER, BODY, FOOTER, BUTTONS or CAROUSEL.",
                ));
            };
            let mut norm = o.clone();
            norm.insert("type".into(), Value::String(kind.clone()));
            if let Some(f) = str_of(o, "format") {
                norm.insert("format".into(), Value::String(f.to_ascii_uppercase()));
            }
            normalized.push(Value::Object(norm));
            let duplicate = |seen: bool| -> Result<(), TemplateError> {
                if seen {
                    Err(invalid(
                        "duplicate_component",
                        field.clone(),
                        format!("A template has at most one {kind} component."),
                    ))
                } else {
                    Ok(())
                }
            };
            match kind.as_str() {
                "HEADER" => {
                    duplicate(header.is_some())?;
                    header = Some(self.header(o, &field)?);
                }
                "BODY" => {
                    duplicate(body.is_some())?;
                    let text = if self.category == Category::Authentication {
                        self.auth_body(o, &field)?
                    } else {
                        self.body(o, &field, BODY_MAX)?
                    };
                    body = Some((text, o, field.clone()));
                }
                "FOOTER" => {
                    duplicate(footer.is_some())?;
                    footer = Some(self.footer(o, &field)?);
                    footer_obj = Some(o);
                }
                "BUTTONS" => {
                    duplicate(buttons_seen)?;
                    buttons_seen = true;
                    buttons = self.buttons(o, &field, MAX_BUTTONS)?;
                }
                "CAROUSEL" => {
                    duplicate(carousel_seen)?;
                    carousel_seen = true;
                    cards = self.carousel(o, &field)?;
                }
                _ if self.create()
                    && kind != "LIMITED_TIME_OFFER"
                    && kind != "CALL_PERMISSION_REQUEST" =>
                {
                    return Err(invalid(
                        "unknown_component",
                        format!("{field}.type"),
                        format!(
                            "Component type {kind} is not one of HEADER, BODY, FOOTER, BUTTONS, CAROUSEL."
                        ),
                    ));
                }
                _ => {}
            }
        }
        let Some((body, _, _)) = body else {
            return Err(sub(
                subcodes::BODY_FORMAT,
                "missing_body",
                "components",
                "A template needs a BODY component.",
            ));
        };
        if self.category == Category::Authentication {
            self.check_auth(&header, footer_obj, &buttons)?;
        } else if buttons.iter().any(|b| b.kind == ButtonKind::Otp) && self.create() {
            return Err(invalid(
                "otp_outside_authentication",
                "components",
                "OTP buttons are only allowed in AUTHENTICATION templates.",
            ));
        }
        if carousel_seen && self.create() {
            if self.category != Category::Marketing {
                return Err(invalid(
                    "carousel_category",
                    "category",
                    "Media-card carousel templates must be MARKETING.",
                ));
            }
            if header.is_some() || footer.is_some() || buttons_seen {
                return Err(invalid(
                    "carousel_components",
                    "components",
                    "A carousel template has a BODY and a CAROUSEL only: no HEADER, FOOTER or BUTTONS.",
                ));
            }
        }
        let footer = if self.category == Category::Authentication {
            footer_obj
                .and_then(|o| o.get("code_expiration_minutes"))
                .and_then(Value::as_i64)
                .map(|m| format!("This code expires in {m} minutes."))
                .or(footer)
        } else {
            footer
        };
        Ok(Definition {
            name: name.to_string(),
            language: language.to_string(),
            category: self.category,
            parameter_format: self.format,
            header,
            body,
            footer,
            buttons,
            cards,
            components: Value::Array(normalized),
        })
    }

    fn header(&self, o: &Map<String, Value>, field: &str) -> Result<Header, TemplateError> {
        let Some(format_text) = str_of(o, "format") else {
            return Err(sub(
                subcodes::HEADER_FORMAT,
                "missing_header_format",
                format!("{field}.format"),
                "A HEADER needs a format: TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION.",
            ));
        };
        let Some(format) = HeaderFormat::parse(format_text) else {
            return Err(sub(
                subcodes::HEADER_FORMAT,
                "invalid_header_format",
                format!("{field}.format"),
                format!(
                    "Header format {format_text} is not one of TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION."
                ),
            ));
        };
        if self.category == Category::Authentication && self.create() {
            return Err(sub(
                subcodes::HEADER_FORMAT,
                "authentication_header",
                field,
                "AUTHENTICATION templates have no HEADER.",
            ));
        }
        if format != HeaderFormat::Text {
            if self.create()
                && format != HeaderFormat::Location
                && !o
                    .get("example")
                    .and_then(|e| e.get("header_handle"))
                    .and_then(Value::as_array)
                    .is_some_and(|h| h.iter().any(|v| v.as_str().is_some_and(|s| !s.is_empty())))
            {
                return Err(sub(
                    subcodes::HEADER_FORMAT,
                    "missing_header_example",
                    format!("{field}.example.header_handle"),
                    format!(
                        "A {} header needs a sample: example.header_handle with the handle of an upload.",
                        format.as_str()
                    ),
                ));
            }
            return Ok(Header { format, text: None });
        }
        let text = match str_of(o, "text") {
            Some(t) if !t.trim().is_empty() => t,
            _ => {
                return Err(sub(
                    subcodes::HEADER_FORMAT,
                    "missing_header_text",
                    format!("{field}.text"),
                    "A TEXT header needs its text.",
                ));
            }
        };
        if self.create() {
            if text.chars().count() > HEADER_TEXT_MAX {
                return Err(limit(
                    "header_too_long",
                    format!("{field}.text"),
                    format!("Header text is longer than {HEADER_TEXT_MAX} characters."),
                ));
            }
            if text.contains(['\n', '\r']) {
                return Err(sub(
                    subcodes::HEADER_FORMAT,
                    "header_new_line",
                    format!("{field}.text"),
                    "Header text cannot contain new lines.",
                ));
            }
        }
        let vars = vars::scan(text).map_err(|m| {
            sub(
                subcodes::HEADER_FORMAT,
                "malformed_variable",
                format!("{field}.text"),
                m,
            )
        })?;
        if vars.len() > 1 && self.create() {
            return Err(sub(
                subcodes::HEADER_FORMAT,
                "header_too_many_variables",
                format!("{field}.text"),
                format!(
                    "A TEXT header takes at most one variable; this one has {}.",
                    vars.len()
                ),
            ));
        }
        if self.create() {
            self.check_style(&vars, subcodes::HEADER_FORMAT, field)?;
            if let Some(v) = vars.first() {
                if self.format == ParameterFormat::Positional && v.name != "1" {
                    return Err(sub(
                        subcodes::HEADER_FORMAT,
                        "variables_not_sequential",
                        format!("{field}.text"),
                        format!(
                            "The header's variable must be {{{{1}}}}, not {{{{{}}}}}.",
                            v.name
                        ),
                    ));
                }
                self.check_examples(o, field, "header_text", &vars::distinct(&vars), false)?;
            }
        }
        Ok(Header {
            format,
            text: Some(text.to_string()),
        })
    }

    /// Variables all written the template's way (`{{1}}` or `{{name}}`).
    fn check_style(
        &self,
        vars: &[vars::Placeholder],
        subcode: i64,
        field: &str,
    ) -> Result<(), TemplateError> {
        let wrong = vars.iter().find(|v| match self.format {
            ParameterFormat::Positional => !v.positional(),
            ParameterFormat::Named => v.positional(),
        });
        match wrong {
            Some(v) => Err(sub(
                subcode,
                "variable_format",
                format!("{field}.text"),
                match self.format {
                    ParameterFormat::Positional => format!(
                        "{{{{{}}}}} is a named variable but parameter_format is positional: use {{{{1}}}}, {{{{2}}}}, … or set parameter_format to named.",
                        v.name
                    ),
                    ParameterFormat::Named => format!(
                        "{{{{{}}}}} is a positional variable but parameter_format is named: use lowercase names such as {{{{first_name}}}}.",
                        v.name
                    ),
                },
            )),
            None => Ok(()),
        }
    }

    /// Every variable has an example: `example.<key>` (positional) or
    /// `example.<key>_named_params` (named).
    fn check_examples(
        &self,
        o: &Map<String, Value>,
        field: &str,
        key: &str,
        names: &[String],
        nested: bool,
    ) -> Result<(), TemplateError> {
        let example = o.get("example");
        let missing = |what: String| {
            sub(
                subcodes::BODY_FORMAT,
                "missing_example",
                format!("{field}.example"),
                format!("Every variable needs a sample value: {what}."),
            )
        };
        match self.format {
            ParameterFormat::Positional => {
                let row = example.and_then(|e| e.get(key));
                let row = if nested {
                    row.and_then(|r| r.get(0))
                } else {
                    row
                };
                let values: Vec<&str> = row
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if values.len() != names.len() || values.iter().any(|v| v.trim().is_empty()) {
                    let shape = if nested {
                        format!(
                            "example.{key}: [[{}]]",
                            vec!["\"…\""; names.len()].join(", ")
                        )
                    } else {
                        format!("example.{key}: [{}]", vec!["\"…\""; names.len()].join(", "))
                    };
                    return Err(missing(format!(
                        "{} variable(s), {} sample(s) given; expected {shape}",
                        names.len(),
                        values.len()
                    )));
                }
            }
            ParameterFormat::Named => {
                let params = example
                    .and_then(|e| e.get(format!("{key}_named_params")))
                    .and_then(Value::as_array);
                for name in names {
                    let given = params.is_some_and(|p| {
                        p.iter().any(|x| {
                            x.get("param_name").and_then(Value::as_str) == Some(name)
                                && x.get("example")
                                    .and_then(Value::as_str)
                                    .is_some_and(|s| !s.trim().is_empty())
                        })
                    });
                    if !given {
                        return Err(missing(format!(
                            "no example.{key}_named_params entry {{\"param_name\": \"{name}\", \"example\": \"…\"}}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn body(
        &self,
        o: &Map<String, Value>,
        field: &str,
        max: usize,
    ) -> Result<String, TemplateError> {
        let text = match str_of(o, "text") {
            Some(t) if !t.trim().is_empty() => t,
            _ => {
                return Err(sub(
                    subcodes::BODY_FORMAT,
                    "missing_body_text",
                    format!("{field}.text"),
                    "The BODY needs its text.",
                ));
            }
        };
        let tf = format!("{field}.text");
        let vars = vars::scan(text)
            .map_err(|m| sub(subcodes::BODY_FORMAT, "malformed_variable", &tf, m))?;
        if !self.create() {
            return Ok(text.to_string());
        }
        if text.chars().count() > max {
            return Err(limit(
                "body_too_long",
                tf,
                format!(
                    "The body is {} characters; the limit is {max}.",
                    text.chars().count()
                ),
            ));
        }
        self.check_style(&vars, subcodes::BODY_FORMAT, field)?;
        let names = vars::distinct(&vars);
        if self.format == ParameterFormat::Positional {
            let mut numbers: Vec<u32> = names.iter().filter_map(|n| n.parse().ok()).collect();
            numbers.sort_unstable();
            if let Some((i, n)) = numbers
                .iter()
                .enumerate()
                .find(|(i, n)| **n != *i as u32 + 1)
            {
                return Err(sub(
                    subcodes::BODY_FORMAT,
                    "variables_not_sequential",
                    tf,
                    format!(
                        "Variables must be numbered from {{{{1}}}} without gaps: found {{{{{n}}}}} where {{{{{}}}}} was expected.",
                        i + 1
                    ),
                ));
            }
        }
        if let Some(pair) = vars
            .windows(2)
            .find(|w| text[w[0].end..w[1].start].trim().is_empty())
        {
            return Err(sub(
                subcodes::BODY_FORMAT,
                "adjacent_variables",
                tf,
                format!(
                    "{{{{{}}}}} and {{{{{}}}}} are next to each other: put words between variables.",
                    pair[0].name, pair[1].name
                ),
            ));
        }
        let trimmed = text.trim();
        let tail = trimmed.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '}');
        if trimmed.starts_with("{{") || (!vars.is_empty() && tail.ends_with("}}")) {
            return Err(sub(
                subcodes::VARIABLE_AT_EDGE,
                "variable_at_edge",
                tf,
                "The body cannot start or end with a variable (a variable followed only by punctuation counts as the end).",
            ));
        }
        let words = vars::words_outside(text, &vars);
        let needed = 2 * vars.len() + 1;
        if !vars.is_empty() && words < needed {
            return Err(sub(
                subcodes::VARIABLE_RATIO,
                "too_many_variables",
                tf,
                format!(
                    "{} variable(s) need at least {needed} other words; the body has {words}. Add words or remove variables.",
                    vars.len()
                ),
            ));
        }
        if !names.is_empty() {
            self.check_examples(o, field, "body_text", &names, true)?;
        }
        Ok(text.to_string())
    }

    fn auth_body(&self, o: &Map<String, Value>, field: &str) -> Result<String, TemplateError> {
        if self.create() && o.contains_key("text") {
            return Err(sub(
                subcodes::BODY_FORMAT,
                "authentication_body_text",
                format!("{field}.text"),
                "AUTHENTICATION templates take no body text: Meta writes it (use add_security_recommendation).",
            ));
        }
        if let Some(v) = o.get("add_security_recommendation")
            && !v.is_boolean()
        {
            return Err(invalid(
                "invalid_field",
                format!("{field}.add_security_recommendation"),
                "add_security_recommendation must be true or false.",
            ));
        }
        if let Some(t) = str_of(o, "text") {
            return Ok(t.to_string());
        }
        let mut text = "{{1}} is your verification code.".to_string();
        if o.get("add_security_recommendation")
            .and_then(Value::as_bool)
            == Some(true)
        {
            text.push_str(" For your security, do not share this code.");
        }
        Ok(text)
    }

    fn footer(&self, o: &Map<String, Value>, field: &str) -> Result<String, TemplateError> {
        if self.category == Category::Authentication {
            if self.create() && o.contains_key("text") {
                return Err(sub(
                    subcodes::FOOTER_FORMAT,
                    "authentication_footer_text",
                    format!("{field}.text"),
                    "AUTHENTICATION templates take no footer text: set code_expiration_minutes.",
                ));
            }
            if let Some(m) = o.get("code_expiration_minutes") {
                match m.as_i64() {
                    Some(n) if CODE_EXPIRATION_MINUTES.contains(&n) => {}
                    _ => {
                        return Err(invalid(
                            "code_expiration_minutes",
                            format!("{field}.code_expiration_minutes"),
                            format!(
                                "code_expiration_minutes must be a whole number from {} to {}.",
                                CODE_EXPIRATION_MINUTES.start(),
                                CODE_EXPIRATION_MINUTES.end()
                            ),
                        ));
                    }
                }
            }
            return Ok(str_of(o, "text").unwrap_or_default().to_string());
        }
        let text = match str_of(o, "text") {
            Some(t) if !t.trim().is_empty() => t,
            _ => {
                return Err(sub(
                    subcodes::FOOTER_FORMAT,
                    "missing_footer_text",
                    format!("{field}.text"),
                    "A FOOTER needs its text.",
                ));
            }
        };
        if self.create() {
            if text.chars().count() > FOOTER_MAX {
                return Err(limit(
                    "footer_too_long",
                    format!("{field}.text"),
                    format!("Footer text is longer than {FOOTER_MAX} characters."),
                ));
            }
            if text.contains("{{") {
                return Err(sub(
                    subcodes::FOOTER_FORMAT,
                    "footer_variables",
                    format!("{field}.text"),
                    "The footer cannot contain variables.",
                ));
            }
        }
        Ok(text.to_string())
    }

    fn buttons(
        &self,
        o: &Map<String, Value>,
        field: &str,
        max: usize,
    ) -> Result<Vec<Button>, TemplateError> {
        let list = match o.get("buttons") {
            Some(Value::Array(b)) if !b.is_empty() => b,
            _ => {
                return Err(invalid(
                    "missing_buttons",
                    format!("{field}.buttons"),
                    "A BUTTONS component needs at least one button.",
                ));
            }
        };
        if list.len() > max && self.create() {
            return Err(invalid(
                "too_many_buttons",
                format!("{field}.buttons"),
                format!("At most {max} buttons; this template has {}.", list.len()),
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, b) in list.iter().enumerate() {
            out.push(self.button(b, &format!("{field}.buttons[{i}]"))?);
        }
        if self.create() {
            let count = |k: ButtonKind| out.iter().filter(|b| b.kind == k).count();
            for (kind, most) in [
                (ButtonKind::Url, MAX_URL_BUTTONS),
                (ButtonKind::PhoneNumber, MAX_PHONE_BUTTONS),
                (ButtonKind::CopyCode, MAX_COPY_CODE_BUTTONS),
                (ButtonKind::Flow, 1),
                (ButtonKind::Otp, 1),
                (ButtonKind::Mpm, 1),
                (ButtonKind::Catalog, 1),
                (ButtonKind::VoiceCall, 1),
            ] {
                if count(kind) > most {
                    return Err(invalid(
                        "too_many_buttons_of_kind",
                        format!("{field}.buttons"),
                        format!(
                            "At most {most} {} button(s); this template has {}.",
                            kind.as_str(),
                            count(kind)
                        ),
                    ));
                }
            }
            let qr: Vec<bool> = out
                .iter()
                .map(|b| b.kind == ButtonKind::QuickReply)
                .collect();
            let switches = qr.windows(2).filter(|w| w[0] != w[1]).count();
            if switches > 1 {
                return Err(invalid(
                    "quick_replies_not_grouped",
                    format!("{field}.buttons"),
                    "Quick reply buttons must be grouped together, before or after the other buttons.",
                ));
            }
        }
        Ok(out)
    }

    fn button(&self, b: &Value, field: &str) -> Result<Button, TemplateError> {
        let Some(o) = b.as_object() else {
            return Err(invalid(
                "invalid_button",
                field,
                "Each button must be a JSON object.",
            ));
        };
        let type_text = str_of(o, "type").unwrap_or("");
        let kind = match ButtonKind::parse(type_text) {
            Some(k) => k,
            None if self.create() => {
                return Err(invalid(
                    "invalid_button_type",
                    format!("{field}.type"),
                    format!(
                        "Button type \"{type_text}\" is not one of QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, MPM, CATALOG, VOICE_CALL."
                    ),
                ));
            }
            None => ButtonKind::Other,
        };
        // Meta lists the OTP button of an authentication template as a URL button.
        let kind = if kind == ButtonKind::Url
            && self.category == Category::Authentication
            && !self.create()
        {
            ButtonKind::Otp
        } else {
            kind
        };
        let text = str_of(o, "text").unwrap_or("").to_string();
        let labelled = !matches!(
            kind,
            ButtonKind::CopyCode | ButtonKind::Otp | ButtonKind::Other
        );
        if self.create() {
            if labelled && text.trim().is_empty() {
                return Err(invalid(
                    "missing_button_text",
                    format!("{field}.text"),
                    format!("A {} button needs its text.", kind.as_str()),
                ));
            }
            if text.chars().count() > BUTTON_TEXT_MAX {
                return Err(limit(
                    "button_text_too_long",
                    format!("{field}.text"),
                    format!("Button text \"{text}\" is longer than {BUTTON_TEXT_MAX} characters."),
                ));
            }
            if text.contains("{{") || text.contains(['\n', '\r']) {
                return Err(invalid(
                    "button_text_format",
                    format!("{field}.text"),
                    "Button text cannot contain variables or new lines.",
                ));
            }
        }
        let mut button = Button {
            kind,
            text,
            url: None,
            phone_number: None,
            otp_type: None,
        };
        match kind {
            ButtonKind::Url => {
                let url = str_of(o, "url").unwrap_or("");
                if self.create() {
                    self.check_url(o, url, field)?;
                }
                button.url = Some(url.to_string());
            }
            ButtonKind::PhoneNumber => {
                let phone = str_of(o, "phone_number").unwrap_or("");
                if self.create() {
                    if phone.is_empty()
                        || !phone
                            .trim_start_matches('+')
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    {
                        return Err(invalid(
                            "invalid_phone_number",
                            format!("{field}.phone_number"),
                            "A PHONE_NUMBER button needs phone_number: digits, optionally after +.",
                        ));
                    }
                    if phone.chars().count() > BUTTON_PHONE_MAX {
                        return Err(limit(
                            "phone_number_too_long",
                            format!("{field}.phone_number"),
                            format!(
                                "The phone number is longer than {BUTTON_PHONE_MAX} characters."
                            ),
                        ));
                    }
                }
                button.phone_number = Some(phone.to_string());
            }
            ButtonKind::CopyCode if self.create() => {
                let example = match o.get("example") {
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(Value::Array(a)) => a.first().and_then(Value::as_str),
                    _ => None,
                };
                match example {
                    Some(e) if !e.is_empty() && e.chars().count() <= COUPON_CODE_MAX => {}
                    _ => {
                        return Err(invalid(
                            "copy_code_example",
                            format!("{field}.example"),
                            format!(
                                "A COPY_CODE button needs an example code of 1 to {COUPON_CODE_MAX} characters."
                            ),
                        ));
                    }
                }
            }
            ButtonKind::Otp => {
                let otp = str_of(o, "otp_type").map(str::to_ascii_uppercase);
                button.otp_type = match otp.as_deref() {
                    Some("COPY_CODE") => Some(OtpType::CopyCode),
                    Some("ONE_TAP") => Some(OtpType::OneTap),
                    Some("ZERO_TAP") => Some(OtpType::ZeroTap),
                    _ if !self.create() => None,
                    _ => {
                        return Err(invalid(
                            "invalid_otp_type",
                            format!("{field}.otp_type"),
                            "An OTP button needs otp_type COPY_CODE, ONE_TAP or ZERO_TAP.",
                        ));
                    }
                };
                if self.create() && button.otp_type != Some(OtpType::CopyCode) {
                    let app = |x: &Map<String, Value>| {
                        str_of(x, "package_name").is_some_and(|s| !s.is_empty())
                            && str_of(x, "signature_hash").is_some_and(|s| !s.is_empty())
                    };
                    let apps = o
                        .get("supported_apps")
                        .and_then(Value::as_array)
                        .is_some_and(|a| {
                            !a.is_empty() && a.iter().all(|x| x.as_object().is_some_and(app))
                        });
                    if !app(o) && !apps {
                        return Err(invalid(
                            "otp_app",
                            field,
                            "ONE_TAP and ZERO_TAP buttons need package_name and signature_hash (or supported_apps).",
                        ));
                    }
                    if button.otp_type == Some(OtpType::ZeroTap)
                        && o.get("zero_tap_terms_accepted").and_then(Value::as_bool) != Some(true)
                    {
                        return Err(invalid(
                            "zero_tap_terms",
                            format!("{field}.zero_tap_terms_accepted"),
                            "ZERO_TAP buttons need zero_tap_terms_accepted: true.",
                        ));
                    }
                }
                if button.text.is_empty() {
                    button.text = "Copy code".to_string();
                }
            }
            ButtonKind::Flow
                if self.create()
                    && ["flow_id", "flow_name", "flow_json"]
                        .iter()
                        .all(|k| str_of(o, k).is_none_or(str::is_empty)) =>
            {
                return Err(invalid(
                    "flow_button",
                    field,
                    "A FLOW button needs flow_id, flow_name or flow_json.",
                ));
            }
            _ => {}
        }
        Ok(button)
    }

    fn check_url(
        &self,
        o: &Map<String, Value>,
        url: &str,
        field: &str,
    ) -> Result<(), TemplateError> {
        let f = format!("{field}.url");
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
            return Err(invalid(
                "invalid_url",
                f,
                "A URL button needs url: an http(s) address.",
            ));
        }
        if url.chars().count() > BUTTON_URL_MAX {
            return Err(limit(
                "url_too_long",
                f,
                format!("The URL is longer than {BUTTON_URL_MAX} characters."),
            ));
        }
        let vars = vars::scan(url).map_err(|m| invalid("malformed_variable", &f, m))?;
        match vars.as_slice() {
            [] => Ok(()),
            [v] if v.end == url.len()
                && (v.name == "1" || self.format == ParameterFormat::Named) =>
            {
                let example = match o.get("example") {
                    Some(Value::Array(a)) => a.first().and_then(Value::as_str),
                    Some(Value::String(s)) => Some(s.as_str()),
                    _ => None,
                };
                if example.is_none_or(|e| e.trim().is_empty()) {
                    return Err(sub(
                        subcodes::BODY_FORMAT,
                        "missing_example",
                        format!("{field}.example"),
                        "A URL with a variable needs a sample: example: [\"https://…/full-url\"].",
                    ));
                }
                Ok(())
            }
            _ => Err(invalid(
                "url_variable",
                f,
                "A URL button takes one variable, {{1}}, at the end of the URL.",
            )),
        }
    }

    fn carousel(&self, o: &Map<String, Value>, field: &str) -> Result<Vec<Card>, TemplateError> {
        let list = o
            .get("cards")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if self.create() && !CAROUSEL_CARDS.contains(&list.len()) {
            return Err(invalid(
                "carousel_cards",
                format!("{field}.cards"),
                format!(
                    "A carousel has {} to {} cards; this one has {}.",
                    CAROUSEL_CARDS.start(),
                    CAROUSEL_CARDS.end(),
                    list.len()
                ),
            ));
        }
        let mut cards: Vec<Card> = Vec::with_capacity(list.len());
        for (i, card) in list.iter().enumerate() {
            let cf = format!("{field}.cards[{i}]");
            let comps = card
                .get("components")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut header = None;
            let mut body = None;
            let mut buttons = Vec::new();
            for (j, c) in comps.iter().enumerate() {
                let f = format!("{cf}.components[{j}]");
                let Some(co) = c.as_object() else { continue };
                match upper_type(co).as_deref() {
                    Some("HEADER") => {
                        let h = self.header(co, &f)?;
                        if self.create()
                            && !matches!(h.format, HeaderFormat::Image | HeaderFormat::Video)
                        {
                            return Err(sub(
                                subcodes::HEADER_FORMAT,
                                "card_header_format",
                                format!("{f}.format"),
                                "A carousel card's header is an IMAGE or a VIDEO.",
                            ));
                        }
                        header = Some(h);
                    }
                    Some("BODY") => body = Some(self.body(co, &f, CARD_BODY_MAX)?),
                    Some("BUTTONS") => buttons = self.buttons(co, &f, MAX_CARD_BUTTONS)?,
                    _ if self.create() => {
                        return Err(invalid(
                            "card_component",
                            format!("{f}.type"),
                            "A card holds a HEADER, a BODY and BUTTONS only.",
                        ));
                    }
                    _ => {}
                }
            }
            let Some(header) = header else {
                if self.create() {
                    return Err(sub(
                        subcodes::HEADER_FORMAT,
                        "card_header",
                        cf,
                        "Each carousel card needs an IMAGE or VIDEO header.",
                    ));
                }
                continue;
            };
            if self.create() {
                if buttons.is_empty() {
                    return Err(invalid(
                        "card_buttons",
                        cf,
                        "Each carousel card needs 1 or 2 buttons.",
                    ));
                }
                if let Some(first) = cards.first() {
                    let kinds = |c: &[Button]| c.iter().map(|b| b.kind).collect::<Vec<_>>();
                    if first.header.format != header.format
                        || first.body.is_some() != body.is_some()
                        || kinds(&first.buttons) != kinds(&buttons)
                    {
                        return Err(invalid(
                            "cards_differ",
                            cf,
                            "Every carousel card must have the same structure as the first: header format, body, and buttons of the same types in the same order.",
                        ));
                    }
                }
            }
            cards.push(Card {
                header,
                body,
                buttons,
            });
        }
        Ok(cards)
    }

    fn check_auth(
        &self,
        header: &Option<Header>,
        _footer: Option<&Map<String, Value>>,
        buttons: &[Button],
    ) -> Result<(), TemplateError> {
        if !self.create() {
            return Ok(());
        }
        if header.is_some() {
            return Err(sub(
                subcodes::HEADER_FORMAT,
                "authentication_header",
                "components",
                "AUTHENTICATION templates have no HEADER.",
            ));
        }
        if buttons.len() != 1 || buttons[0].kind != ButtonKind::Otp {
            return Err(invalid(
                "authentication_buttons",
                "components",
                "An AUTHENTICATION template has exactly one button, of type OTP.",
            ));
        }
        Ok(())
    }
}
