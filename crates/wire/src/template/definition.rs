//! A template's definition, and Meta's rules for creating or editing one (reference §2.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TemplateError;

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
        let _ = (name, language, category, parameter_format, components);
        todo!()
    }

    /// The body's variables, in order of first appearance (`"1"`, `"2"` or names).
    pub fn body_variables(&self) -> Vec<String> {
        todo!()
    }
}

/// Validates a template name: lowercase letters, digits and underscores, at most 512.
pub fn validate_name(name: &str) -> Result<(), TemplateError> {
    let _ = name;
    todo!()
}

/// Validates a create (or edit) request exactly as Meta does:
/// `{name, language, category, parameter_format?, components}`.
pub fn parse_definition(body: &Value) -> Result<Definition, TemplateError> {
    let _ = body;
    todo!()
}
