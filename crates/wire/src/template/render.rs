//! A template send checked against the template's definition, and the text it renders
//! (reference §2.1).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::vars;
use super::*;
use crate::error::{MetaError, codes};

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
    let given: &[Value] = match template.get("components") {
        Some(Value::Array(c)) => c,
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(mismatch(
                "template.components",
                "components must be an array.".to_string(),
            ));
        }
    };
    let mut header_params: Option<(&[Value], String)> = None;
    let mut body_params: Option<(&[Value], String)> = None;
    let mut button_params: Vec<(usize, &Map<String, Value>, String)> = Vec::new();
    let mut carousel: Option<(&[Value], String)> = None;
    for (i, c) in given.iter().enumerate() {
        let field = format!("template.components[{i}]");
        let Some(o) = c.as_object() else {
            return Err(mismatch(
                &field,
                "each component must be a JSON object.".into(),
            ));
        };
        let kind = o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let params = params_of(o, &field)?;
        let once = |slot: &Option<(&[Value], String)>| {
            if slot.is_some() {
                Err(mismatch(
                    &field,
                    format!("the {kind} component is given twice."),
                ))
            } else {
                Ok(())
            }
        };
        match kind.as_str() {
            "header" => {
                once(&header_params)?;
                header_params = Some((params, field));
            }
            "body" => {
                once(&body_params)?;
                body_params = Some((params, field));
            }
            "button" => {
                let index = button_index(o, &field)?;
                if button_params.iter().any(|(i, _, _)| *i == index) {
                    return Err(mismatch(
                        &field,
                        format!("button index {index} is given twice."),
                    ));
                }
                button_params.push((index, o, field));
            }
            "carousel" => {
                let cards = match o.get("cards") {
                    Some(Value::Array(c)) => c.as_slice(),
                    _ => return Err(mismatch(&field, "a carousel component needs cards.".into())),
                };
                if carousel.is_some() {
                    return Err(mismatch(
                        &field,
                        "the carousel component is given twice.".into(),
                    ));
                }
                carousel = Some((cards, field));
            }
            "limited_time_offer" => {}
            other => {
                return Err(mismatch(
                    format!("{field}.type"),
                    format!(
                        "component type \"{other}\" is not one of header, body, button, carousel."
                    ),
                ));
            }
        }
    }

    let header = render_header(def, header_params)?;
    let body_field = body_params
        .as_ref()
        .map(|(_, f)| f.clone())
        .unwrap_or_else(|| "template.components".to_string());
    let body = fill_text(
        def,
        &def.body,
        body_params.map(|(p, _)| p).unwrap_or(&[]),
        &body_field,
        "body",
        true,
    )?;
    if body.chars().count() > BODY_MAX {
        return Err(TemplateError {
            code: codes::TEMPLATE_TEXT_TOO_LONG,
            subcode: None,
            rule: "text_too_long",
            field: body_field,
            message: format!(
                "The body with its parameters is {} characters; the limit is {BODY_MAX}.",
                body.chars().count()
            ),
        });
    }
    let buttons = render_buttons(&def.buttons, &button_params, "template.components")?;
    if def.category == Category::Authentication {
        check_otp(def, &body_field, given)?;
    }
    let cards = render_cards(def, carousel)?;

    let mut blocks: Vec<String> = Vec::new();
    blocks.extend(header.clone());
    blocks.push(body.clone());
    blocks.extend(def.footer.clone().filter(|f| !f.is_empty()));
    if !buttons.is_empty() {
        blocks.push(
            buttons
                .iter()
                .map(|b| format!("[{b}]"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    for (i, card) in cards.iter().enumerate() {
        let mut c = format!("Card {}:", i + 1);
        if let Some(b) = &card.body {
            c.push(' ');
            c.push_str(b);
        }
        if !card.buttons.is_empty() {
            c.push(' ');
            c.push_str(
                &card
                    .buttons
                    .iter()
                    .map(|b| format!("[{b}]"))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        blocks.push(c);
    }
    Ok(Rendered {
        header,
        body,
        footer: def.footer.clone().filter(|f| !f.is_empty()),
        buttons,
        cards,
        text: blocks.join("\n\n"),
    })
}

fn err(code: i64, rule: &'static str, field: impl Into<String>, message: String) -> TemplateError {
    TemplateError {
        code,
        subcode: None,
        rule,
        field: field.into(),
        message,
    }
}

/// 132000: the parameters do not match the template.
fn mismatch(field: impl Into<String>, message: String) -> TemplateError {
    err(
        codes::TEMPLATE_PARAM_COUNT,
        "parameter_mismatch",
        field,
        message,
    )
}

/// 132012: a parameter of the wrong kind.
fn wrong_format(field: impl Into<String>, message: String) -> TemplateError {
    err(
        codes::TEMPLATE_PARAM_FORMAT,
        "parameter_format",
        field,
        message,
    )
}

/// 132018: a parameter's value is not acceptable.
fn bad_value(field: impl Into<String>, message: String) -> TemplateError {
    err(
        codes::TEMPLATE_PARAM_INVALID,
        "parameter_value",
        field,
        message,
    )
}

fn params_of<'a>(o: &'a Map<String, Value>, field: &str) -> Result<&'a [Value], TemplateError> {
    match o.get("parameters") {
        Some(Value::Array(p)) => Ok(p),
        None | Some(Value::Null) => Ok(&[]),
        Some(_) => Err(mismatch(
            format!("{field}.parameters"),
            "parameters must be an array.".into(),
        )),
    }
}

/// A button component's `index`: a string (`"0"`) or an integer, as Meta accepts both.
fn button_index(o: &Map<String, Value>, field: &str) -> Result<usize, TemplateError> {
    let index = match o.get("index") {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    index.ok_or_else(|| {
        mismatch(
            format!("{field}.index"),
            "a button component needs index: the button's position, 0 for the first (\"0\" or 0)."
                .into(),
        )
    })
}

fn render_header(
    def: &Definition,
    given: Option<(&[Value], String)>,
) -> Result<Option<String>, TemplateError> {
    let Some(header) = &def.header else {
        if let Some((p, field)) = given
            && !p.is_empty()
        {
            return Err(mismatch(
                field,
                "the template has no header, so the send takes no header parameters.".into(),
            ));
        }
        return Ok(None);
    };
    let (params, field) = given.unwrap_or((&[], "template.components".to_string()));
    match header.format {
        HeaderFormat::Text => {
            let text = header.text.as_deref().unwrap_or("");
            let filled = fill_text(def, text, params, &field, "header", false)?;
            if filled.chars().count() > HEADER_TEXT_MAX {
                return Err(err(
                    codes::TEMPLATE_TEXT_TOO_LONG,
                    "text_too_long",
                    field,
                    format!(
                        "The header with its parameter is {} characters; the limit is {HEADER_TEXT_MAX}.",
                        filled.chars().count()
                    ),
                ));
            }
            Ok(Some(filled))
        }
        HeaderFormat::Location => {
            let [p] = params else {
                return Err(mismatch(
                    field,
                    format!(
                        "the template has a LOCATION header: give one header parameter {{\"type\": \"location\", \"location\": {{\"latitude\", \"longitude\", \"name\", \"address\"}}}}; {} given.",
                        params.len()
                    ),
                ));
            };
            let pf = format!("{field}.parameters[0]");
            if p.get("type").and_then(Value::as_str) != Some("location") {
                return Err(wrong_format(
                    &pf,
                    "the template's header is a LOCATION: the parameter's type must be location."
                        .into(),
                ));
            }
            let loc = p.get("location");
            let coord = |k: &str| {
                loc.and_then(|l| l.get(k)).is_some_and(|v| {
                    v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
                })
            };
            if !coord("latitude") || !coord("longitude") {
                return Err(bad_value(
                    format!("{pf}.location"),
                    "a location header needs latitude and longitude.".into(),
                ));
            }
            let name = loc
                .and_then(|l| l.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            Ok(Some(if name.is_empty() {
                "[LOCATION]".to_string()
            } else {
                format!("[LOCATION: {name}]")
            }))
        }
        media => {
            let kind = media.media_parameter().unwrap_or("image");
            let [p] = params else {
                return Err(mismatch(
                    field,
                    format!(
                        "the template has a {} header: give one header parameter {{\"type\": \"{kind}\", \"{kind}\": {{\"id\" | \"link\"}}}}; {} given.",
                        media.as_str(),
                        params.len()
                    ),
                ));
            };
            media_param(p, kind, media.as_str(), &format!("{field}.parameters[0]"))?;
            Ok(Some(format!("[{}]", media.as_str())))
        }
    }
}

fn media_param(p: &Value, kind: &str, what: &str, field: &str) -> Result<(), TemplateError> {
    let given = p.get("type").and_then(Value::as_str).unwrap_or("");
    if given != kind {
        return Err(wrong_format(
            field,
            format!(
                "the template's header is {what}: the parameter's type must be {kind}, not \"{given}\"."
            ),
        ));
    }
    let media = p.get(kind);
    let has = |k: &str| {
        media
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("id") && !has("link") {
        return Err(bad_value(
            format!("{field}.{kind}"),
            format!("the {kind} needs an id (uploaded media) or a link."),
        ));
    }
    Ok(())
}

/// The value a body or header parameter puts in the text.
fn param_value(p: &Value, field: &str, in_body: bool) -> Result<String, TemplateError> {
    let Some(o) = p.as_object() else {
        return Err(mismatch(
            field,
            "each parameter must be a JSON object.".into(),
        ));
    };
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    let value = match kind {
        "text" => match o.get("text") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(bad_value(
                    format!("{field}.text"),
                    "a text parameter needs text.".into(),
                ));
            }
        },
        "currency" if in_body => {
            let c = o.get("currency");
            let fallback = c
                .and_then(|c| c.get("fallback_value"))
                .and_then(Value::as_str);
            let code_ok = c
                .and_then(|c| c.get("code"))
                .and_then(Value::as_str)
                .is_some_and(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()));
            let amount_ok = c
                .and_then(|c| c.get("amount_1000"))
                .is_some_and(Value::is_i64);
            match fallback {
                Some(f) if code_ok && amount_ok => f.to_string(),
                _ => {
                    return Err(bad_value(
                        format!("{field}.currency"),
                        "a currency parameter needs fallback_value, code (ISO 4217, e.g. USD) and amount_1000 (an integer).".into(),
                    ));
                }
            }
        }
        "date_time" if in_body => match o
            .get("date_time")
            .and_then(|d| d.get("fallback_value"))
            .and_then(Value::as_str)
        {
            Some(f) => f.to_string(),
            None => {
                return Err(bad_value(
                    format!("{field}.date_time"),
                    "a date_time parameter needs fallback_value.".into(),
                ));
            }
        },
        other => {
            return Err(wrong_format(
                format!("{field}.type"),
                if in_body {
                    format!("body parameters are text, currency or date_time, not \"{other}\".")
                } else {
                    format!("a text header's parameter is text, not \"{other}\".")
                },
            ));
        }
    };
    if value.trim().is_empty() {
        return Err(bad_value(field, "a parameter cannot be empty.".into()));
    }
    if value.contains(['\n', '\t']) || value.contains("     ") {
        return Err(bad_value(
            field,
            "a parameter cannot have new-line or tab characters or more than 4 consecutive spaces."
                .into(),
        ));
    }
    Ok(value)
}

/// Fills the variables of `text` from `params`: positional in order, named by
/// `parameter_name`.
fn fill_text(
    def: &Definition,
    text: &str,
    params: &[Value],
    field: &str,
    what: &str,
    in_body: bool,
) -> Result<String, TemplateError> {
    let vars = vars::scan(text).unwrap_or_default();
    let names = vars::distinct(&vars);
    let named = def.parameter_format == ParameterFormat::Named
        && names.iter().any(|n| !n.bytes().all(|b| b.is_ascii_digit()));
    if params.len() != names.len() {
        let expected = if names.is_empty() {
            format!("the template's {what} has no variables, so it takes no parameters")
        } else if named {
            format!(
                "the template's {what} has {} variable(s) ({}), so it takes {} parameter(s)",
                names.len(),
                names
                    .iter()
                    .map(|n| format!("{{{{{n}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                names.len()
            )
        } else {
            format!(
                "the template's {what} has {} variable(s), so it takes {} parameter(s)",
                names.len(),
                names.len()
            )
        };
        return Err(mismatch(
            format!("{field}.parameters"),
            format!("{expected}; {} given.", params.len()),
        ));
    }
    let mut values: Vec<(String, String)> = Vec::with_capacity(params.len());
    for (i, p) in params.iter().enumerate() {
        let pf = format!("{field}.parameters[{i}]");
        let value = param_value(p, &pf, in_body)?;
        let key = if named {
            match p.get("parameter_name").and_then(Value::as_str) {
                Some(n) if names.iter().any(|x| x == n) => {
                    if values.iter().any(|(k, _)| k == n) {
                        return Err(mismatch(
                            format!("{pf}.parameter_name"),
                            format!("parameter_name \"{n}\" is given twice."),
                        ));
                    }
                    n.to_string()
                }
                Some(n) => {
                    return Err(mismatch(
                        format!("{pf}.parameter_name"),
                        format!(
                            "the template's {what} has no variable {{{{{n}}}}}; its variables are {}.",
                            names
                                .iter()
                                .map(|n| format!("{{{{{n}}}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                None => {
                    return Err(wrong_format(
                        format!("{pf}.parameter_name"),
                        "the template uses named variables: each parameter needs parameter_name."
                            .into(),
                    ));
                }
            }
        } else {
            (i + 1).to_string()
        };
        values.push((key, value));
    }
    Ok(vars::fill(text, &vars, |name| {
        values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }))
}

fn render_buttons(
    buttons: &[Button],
    given: &[(usize, &Map<String, Value>, String)],
    field: &str,
) -> Result<Vec<String>, TemplateError> {
    for (index, o, f) in given {
        let Some(button) = buttons.get(*index) else {
            return Err(mismatch(
                format!("{f}.index"),
                format!(
                    "button index {index} does not exist: the template has {} button(s).",
                    buttons.len()
                ),
            ));
        };
        let sub_type = o
            .get("sub_type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let expected = button.kind.send_sub_type();
        if expected != Some(sub_type.as_str()) {
            return Err(wrong_format(
                format!("{f}.sub_type"),
                match expected {
                    Some(e) => format!(
                        "button {index} is a {} button: its sub_type is {e}, not \"{sub_type}\".",
                        button.kind.as_str()
                    ),
                    None => format!(
                        "button {index} is a {} button, which takes no parameters.",
                        button.kind.as_str()
                    ),
                },
            ));
        }
    }
    let mut labels = Vec::with_capacity(buttons.len());
    for (index, button) in buttons.iter().enumerate() {
        let found = given.iter().find(|(i, _, _)| *i == index);
        let params: &[Value] = match found {
            Some((_, o, f)) => params_of(o, f)?,
            None => &[],
        };
        let f = found
            .map(|(_, _, f)| f.clone())
            .unwrap_or_else(|| field.to_string());
        let pf = format!("{f}.parameters[0]");
        let need = |what: String| {
            mismatch(
                f.clone(),
                format!("button {index} ({}) needs {what}.", button.kind.as_str()),
            )
        };
        let one = |kind: &str| -> Result<Option<&Map<String, Value>>, TemplateError> {
            match params {
                [] => Ok(None),
                [p] => {
                    let given = p.get("type").and_then(Value::as_str).unwrap_or("");
                    if given != kind {
                        return Err(wrong_format(
                            format!("{pf}.type"),
                            format!(
                                "button {index}'s parameter is of type {kind}, not \"{given}\"."
                            ),
                        ));
                    }
                    Ok(p.as_object())
                }
                _ => Err(mismatch(
                    format!("{f}.parameters"),
                    format!(
                        "button {index} takes one parameter; {} given.",
                        params.len()
                    ),
                )),
            }
        };
        let label = match button.kind {
            ButtonKind::Url if button.needs_parameter() => {
                let p = one("text")?.ok_or_else(|| {
                    need(
                        "a parameter {\"type\": \"text\", \"text\": \"<the end of the URL>\"}"
                            .into(),
                    )
                })?;
                let suffix = p.get("text").and_then(Value::as_str).unwrap_or("");
                if suffix.is_empty() {
                    return Err(bad_value(
                        format!("{pf}.text"),
                        "the URL suffix cannot be empty.".into(),
                    ));
                }
                button.text.clone()
            }
            ButtonKind::Otp => {
                let p = one("text")?.ok_or_else(|| {
                    need("the code: {\"type\": \"text\", \"text\": \"<code>\"} with sub_type url, index 0".into())
                })?;
                let code = p.get("text").and_then(Value::as_str).unwrap_or("");
                if code.is_empty() || code.chars().count() > OTP_CODE_MAX {
                    return Err(bad_value(
                        format!("{pf}.text"),
                        format!("the one-time code is 1 to {OTP_CODE_MAX} characters."),
                    ));
                }
                button.text.clone()
            }
            ButtonKind::CopyCode => {
                let p = one("coupon_code")?.ok_or_else(|| {
                    need(
                        "the code: {\"type\": \"coupon_code\", \"coupon_code\": \"<code>\"}".into(),
                    )
                })?;
                let code = p.get("coupon_code").and_then(Value::as_str).unwrap_or("");
                if code.is_empty() || code.chars().count() > COUPON_CODE_MAX {
                    return Err(bad_value(
                        format!("{pf}.coupon_code"),
                        format!("the coupon code is 1 to {COUPON_CODE_MAX} characters."),
                    ));
                }
                format!("Copy code {code}")
            }
            ButtonKind::QuickReply => {
                // `payload` is the documented type; Meta's own sample template
                // (`sample_issue_resolution`) sends `{"type": "text", "text": true}`.
                match params {
                    [] => {}
                    [p] if p.get("type").and_then(Value::as_str) == Some("payload") => {
                        if p.get("payload").and_then(Value::as_str).is_none() {
                            return Err(bad_value(
                                format!("{pf}.payload"),
                                "a quick reply payload is a string.".into(),
                            ));
                        }
                    }
                    [p] if p.get("type").and_then(Value::as_str) == Some("text")
                        && p.get("text")
                            .is_some_and(|t| t.is_string() || t.is_boolean()) => {}
                    [_] => {
                        return Err(wrong_format(
                            format!("{pf}.type"),
                            format!(
                                "button {index} is a quick reply: its parameter is {{\"type\": \"payload\", \"payload\": \"…\"}}."
                            ),
                        ));
                    }
                    _ => {
                        return Err(mismatch(
                            format!("{f}.parameters"),
                            format!(
                                "button {index} takes one parameter; {} given.",
                                params.len()
                            ),
                        ));
                    }
                }
                button.text.clone()
            }
            ButtonKind::Flow => {
                one("action")?;
                button.text.clone()
            }
            ButtonKind::Mpm => {
                let p = one("action")?.ok_or_else(|| {
                    need("an action with thumbnail_product_retailer_id and sections".into())
                })?;
                let action = p.get("action");
                if action
                    .and_then(|a| a.get("sections"))
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                {
                    return Err(bad_value(
                        format!("{pf}.action.sections"),
                        "a multi-product button needs action.sections.".into(),
                    ));
                }
                button.text.clone()
            }
            ButtonKind::Catalog | ButtonKind::Spm => {
                one("action")?;
                button.text.clone()
            }
            _ => {
                if !params.is_empty() {
                    return Err(mismatch(
                        format!("{f}.parameters"),
                        format!(
                            "button {index} ({}) takes no parameters.",
                            button.kind.as_str()
                        ),
                    ));
                }
                button.text.clone()
            }
        };
        labels.push(label);
    }
    Ok(labels)
}

/// An authentication template sends the same code in the body and in the button.
fn check_otp(def: &Definition, body_field: &str, given: &[Value]) -> Result<(), TemplateError> {
    let Some(otp) = def.buttons.iter().position(|b| b.kind == ButtonKind::Otp) else {
        return Ok(());
    };
    {
        let code_of = |kind: &str| {
            given.iter().find_map(|c| {
                let t = c.get("type").and_then(Value::as_str)?.to_ascii_lowercase();
                if t != kind {
                    return None;
                }
                if kind == "button" {
                    let idx = c
                        .get("index")
                        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))?;
                    if idx as usize != otp {
                        return None;
                    }
                }
                c.get("parameters")?
                    .get(0)?
                    .get("text")?
                    .as_str()
                    .map(str::to_string)
            })
        };
        let body = code_of("body");
        let button = code_of("button");
        if body != button {
            return Err(bad_value(
                body_field,
                "an authentication template sends the same one-time code in the body parameter and in the button's url parameter.".into(),
            ));
        }
        if body
            .as_deref()
            .is_some_and(|c| c.chars().count() > OTP_CODE_MAX)
        {
            return Err(bad_value(
                body_field,
                format!("the one-time code is at most {OTP_CODE_MAX} characters."),
            ));
        }
    }
    Ok(())
}

fn render_cards(
    def: &Definition,
    given: Option<(&[Value], String)>,
) -> Result<Vec<RenderedCard>, TemplateError> {
    if def.cards.is_empty() {
        if let Some((cards, field)) = given
            && !cards.is_empty()
        {
            return Err(mismatch(field, "the template has no carousel.".into()));
        }
        return Ok(Vec::new());
    }
    let (cards, field) = given.unwrap_or((&[], "template.components".to_string()));
    if cards.len() != def.cards.len() {
        return Err(mismatch(
            format!("{field}.cards"),
            format!(
                "the template's carousel has {} cards; {} given.",
                def.cards.len(),
                cards.len()
            ),
        ));
    }
    let mut out: Vec<Option<RenderedCard>> = vec![None; def.cards.len()];
    for (i, card) in cards.iter().enumerate() {
        let cf = format!("{field}.cards[{i}]");
        let index = card
            .get("card_index")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(|n| n as usize)
            .ok_or_else(|| {
                mismatch(
                    format!("{cf}.card_index"),
                    "each card needs card_index.".into(),
                )
            })?;
        let Some(spec) = def.cards.get(index) else {
            return Err(mismatch(
                format!("{cf}.card_index"),
                format!(
                    "card_index {index} does not exist: the carousel has {} cards.",
                    def.cards.len()
                ),
            ));
        };
        if out[index].is_some() {
            return Err(mismatch(
                format!("{cf}.card_index"),
                format!("card {index} is given twice."),
            ));
        }
        let comps: &[Value] = card
            .get("components")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut header: Option<(&[Value], String)> = None;
        let mut body: Option<(&[Value], String)> = None;
        let mut buttons = Vec::new();
        for (j, c) in comps.iter().enumerate() {
            let f = format!("{cf}.components[{j}]");
            let Some(o) = c.as_object() else { continue };
            let params = params_of(o, &f)?;
            match o
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase()
                .as_str()
            {
                "header" => header = Some((params, f)),
                "body" => body = Some((params, f)),
                "button" => {
                    let index = button_index(o, &f)?;
                    if buttons.iter().any(|(i, _, _)| *i == index) {
                        return Err(mismatch(
                            &f,
                            format!("button index {index} is given twice."),
                        ));
                    }
                    buttons.push((index, o, f));
                }
                other => {
                    return Err(mismatch(
                        f,
                        format!("a card component is header, body or button, not \"{other}\"."),
                    ));
                }
            }
        }
        let kind = spec.header.format.media_parameter().unwrap_or("image");
        match header {
            Some((params, f)) if params.len() == 1 => media_param(
                &params[0],
                kind,
                spec.header.format.as_str(),
                &format!("{f}.parameters[0]"),
            )?,
            Some((params, f)) => {
                return Err(mismatch(
                    format!("{f}.parameters"),
                    format!(
                        "card {index}'s header takes one {kind} parameter; {} given.",
                        params.len()
                    ),
                ));
            }
            None => {
                return Err(mismatch(
                    cf,
                    format!(
                        "card {index} needs its header: {{\"type\": \"header\", \"parameters\": [{{\"type\": \"{kind}\", …}}]}}."
                    ),
                ));
            }
        }
        let body_text = match &spec.body {
            Some(text) => {
                let (params, f) = body.unwrap_or((&[], cf.clone()));
                Some(fill_text(def, text, params, &f, "card body", true)?)
            }
            None => None,
        };
        let labels = render_buttons(&spec.buttons, &buttons, &cf)?;
        out[index] = Some(RenderedCard {
            body: body_text,
            buttons: labels,
        });
    }
    Ok(out.into_iter().flatten().collect())
}

/// Meta's refusal of a send for the template's status: 132001 unless APPROVED (or
/// flagged / reinstated, which still send), 132015 when PAUSED, 132016 when DISABLED;
/// `None` when it may go.
pub fn status_error(status: &str, name: &str, language: &str) -> Option<MetaError> {
    match status.to_ascii_uppercase().as_str() {
        "APPROVED" | "FLAGGED" | "REINSTATED" => None,
        "PAUSED" => Some(MetaError::new(
            codes::TEMPLATE_PAUSED,
            Some(format!(
                "Template {name} ({language}) is paused because of low quality; it cannot be sent until Meta unpauses it."
            )),
        )),
        "DISABLED" => Some(MetaError::new(
            codes::TEMPLATE_DISABLED,
            Some(format!(
                "Template {name} ({language}) is disabled because of low quality."
            )),
        )),
        other => Some(MetaError::new(
            codes::TEMPLATE_MISSING,
            Some(format!(
                "template name ({name}) does not exist in {language}: its status is {other}, and only APPROVED templates can be sent."
            )),
        )),
    }
}

/// The `components` of a send that fills the body's variables, in order, with `values`
/// (the seeds' `campaignVariables`): positional templates take them as `{{1}}`, `{{2}}`, …;
/// named ones in the order the names first appear.
pub fn components_from_values(def: &Definition, values: &[String]) -> Result<Value, TemplateError> {
    let names = def.body_variables();
    if values.len() != names.len() {
        return Err(mismatch(
            "variables",
            format!(
                "template {} has {} body variable(s); {} value(s) given.",
                def.name,
                names.len(),
                values.len()
            ),
        ));
    }
    if names.is_empty() {
        return Ok(json!([]));
    }
    let named = def.parameter_format == ParameterFormat::Named
        && names.iter().any(|n| !n.bytes().all(|b| b.is_ascii_digit()));
    let parameters: Vec<Value> = names
        .iter()
        .zip(values)
        .map(|(name, value)| {
            if named {
                json!({"type": "text", "parameter_name": name, "text": value})
            } else {
                json!({"type": "text", "text": value})
            }
        })
        .collect();
    let mut components = vec![json!({"type": "body", "parameters": parameters})];
    // An authentication template sends its code in the body and in the OTP button.
    if def.category == Category::Authentication
        && let Some(otp) = def.buttons.iter().position(|b| b.kind == ButtonKind::Otp)
        && let Some(code) = values.first()
    {
        components.push(
            json!({"type": "button", "sub_type": "url", "index": otp.to_string(),
            "parameters": [{"type": "text", "text": code}]}),
        );
    }
    Ok(Value::Array(components))
}
