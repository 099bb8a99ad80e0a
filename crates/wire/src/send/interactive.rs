//! `type: "interactive"`: reply buttons, lists, CTA URL, location requests, flows, products,
//! product lists and catalogue messages, with Meta's limits (reference `cloud-api.md` §1.3).
//! Text fields over their limit get 100 naming the field; counts and button/row labels get
//! 131009, as Meta answers them.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::MessageBody;
use super::kinds::{is_http_url, type_object};
use crate::error::MetaError;

fn obj<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, MetaError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {path}['{key}'] must be a JSON object."
        ))),
    }
}

fn need_obj<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, MetaError> {
    obj(o, key, path)?.ok_or_else(|| {
        MetaError::invalid_parameter(format!("The parameter {path}['{key}'] is required."))
    })
}

fn text<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, MetaError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {path}['{key}'] must be a string."
        ))),
    }
}

fn need_text<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, MetaError> {
    match text(o, key, path)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(MetaError::invalid_parameter(format!(
            "The parameter {path}['{key}'] is required."
        ))),
    }
}

fn max_len(s: &str, max: usize, field: &str) -> Result<(), MetaError> {
    if s.chars().count() > max {
        return Err(MetaError::invalid_parameter(format!(
            "Param {field} must be at most {max} characters long."
        )));
    }
    Ok(())
}

/// A label (button title, row title…) of 1 to `max` characters: 131009 otherwise.
fn label(s: &str, max: usize, what: &str) -> Result<(), MetaError> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(MetaError::invalid_value(format!(
            "{what} length invalid. Min length: 1, Max length: {max}; got {n}."
        )));
    }
    Ok(())
}

fn count(n: usize, min: usize, max: usize, what: &str) -> Result<(), MetaError> {
    if n < min || n > max {
        return Err(MetaError::invalid_value(format!(
            "Invalid {what} count. Min allowed: {min}, Max allowed: {max}; got {n}."
        )));
    }
    Ok(())
}

fn array<'a>(
    o: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Vec<Value>, MetaError> {
    match o.get(key) {
        Some(Value::Array(a)) => Ok(a),
        None | Some(Value::Null) => Err(MetaError::invalid_parameter(format!(
            "The parameter {path}['{key}'] is required."
        ))),
        Some(_) => Err(MetaError::invalid_parameter(format!(
            "Param {path}['{key}'] must be an array."
        ))),
    }
}

fn item<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, MetaError> {
    v.as_object()
        .ok_or_else(|| MetaError::invalid_parameter(format!("Param {path} must be a JSON object.")))
}

/// `body.text`: required or optional, at most `max`.
fn body(i: &Map<String, Value>, required: bool, max: usize) -> Result<(), MetaError> {
    match obj(i, "body", "interactive")? {
        Some(b) => max_len(
            need_text(b, "text", "interactive['body']")?,
            max,
            "interactive['body']['text']",
        ),
        None if required => Err(MetaError::invalid_parameter(
            "The parameter interactive['body'] is required.",
        )),
        None => Ok(()),
    }
}

fn footer(i: &Map<String, Value>) -> Result<(), MetaError> {
    if let Some(f) = obj(i, "footer", "interactive")? {
        max_len(
            need_text(f, "text", "interactive['footer']")?,
            60,
            "interactive['footer']['text']",
        )?;
    }
    Ok(())
}

/// The header: `allowed` lists the header types this message accepts.
fn header(i: &Map<String, Value>, allowed: &[&str], required: bool) -> Result<(), MetaError> {
    let Some(h) = obj(i, "header", "interactive")? else {
        return if required {
            Err(MetaError::invalid_parameter(
                "The parameter interactive['header'] is required.",
            ))
        } else {
            Ok(())
        };
    };
    if allowed.is_empty() {
        return Err(MetaError::invalid_parameter(
            "Param interactive['header'] is not allowed for this interactive type.",
        ));
    }
    let ty = need_text(h, "type", "interactive['header']")?;
    if !allowed.contains(&ty) {
        return Err(MetaError::invalid_parameter(format!(
            "Param interactive['header']['type'] must be one of {{{}}} - got \"{ty}\".",
            allowed.join(", ")
        )));
    }
    if ty == "text" {
        return max_len(
            need_text(h, "text", "interactive['header']")?,
            60,
            "interactive['header']['text']",
        );
    }
    let path = format!("interactive['header']['{ty}']");
    let media = need_obj(h, ty, "interactive['header']")?;
    match (text(media, "id", &path)?, text(media, "link", &path)?) {
        (Some(_), None) => Ok(()),
        (None, Some(link)) if is_http_url(link) => Ok(()),
        (None, Some(_)) => Err(MetaError::invalid_parameter(format!(
            "Param {path}['link'] must be an http or https URL."
        ))),
        _ => Err(MetaError::invalid_parameter(format!(
            "Param {path} must contain either id or link."
        ))),
    }
}

const MEDIA_HEADERS: [&str; 4] = ["text", "image", "video", "document"];

fn buttons(action: &Map<String, Value>) -> Result<(), MetaError> {
    let list = array(action, "buttons", "interactive['action']")?;
    count(list.len(), 1, 3, "buttons")?;
    let mut titles = HashSet::new();
    let mut ids = HashSet::new();
    for (n, b) in list.iter().enumerate() {
        let path = format!("interactive['action']['buttons'][{n}]");
        let b = item(b, &path)?;
        if need_text(b, "type", &path)? != "reply" {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path}['type'] must be \"reply\"."
            )));
        }
        let reply = need_obj(b, "reply", &path)?;
        let id = need_text(reply, "id", &format!("{path}['reply']"))?;
        label(id, 256, "Button id")?;
        let title = need_text(reply, "title", &format!("{path}['reply']"))?;
        label(title, 20, "Button title")?;
        if !titles.insert(title.to_string()) || !ids.insert(id.to_string()) {
            return Err(MetaError::invalid_value(
                "Buttons must have unique ids and titles.",
            ));
        }
    }
    Ok(())
}

fn list(action: &Map<String, Value>) -> Result<(), MetaError> {
    label(
        need_text(action, "button", "interactive['action']")?,
        20,
        "List button text",
    )?;
    let sections = array(action, "sections", "interactive['action']")?;
    count(sections.len(), 1, 10, "sections")?;
    let mut rows_total = 0;
    let mut ids = HashSet::new();
    for (s, section) in sections.iter().enumerate() {
        let path = format!("interactive['action']['sections'][{s}]");
        let section = item(section, &path)?;
        match text(section, "title", &path)? {
            Some(t) => label(t, 24, "Section title")?,
            None if sections.len() > 1 => {
                return Err(MetaError::invalid_parameter(format!(
                    "The parameter {path}['title'] is required when there is more than one section."
                )));
            }
            None => {}
        }
        let rows = array(section, "rows", &path)?;
        rows_total += rows.len();
        for (r, row) in rows.iter().enumerate() {
            let rpath = format!("{path}['rows'][{r}]");
            let row = item(row, &rpath)?;
            let id = need_text(row, "id", &rpath)?;
            label(id, 200, "Row id")?;
            label(need_text(row, "title", &rpath)?, 24, "Row title")?;
            if let Some(d) = text(row, "description", &rpath)? {
                max_len(d, 72, &format!("{rpath}['description']"))?;
            }
            if !ids.insert(id.to_string()) {
                return Err(MetaError::invalid_value(format!(
                    "Row ids must be unique; \"{id}\" repeats."
                )));
            }
        }
    }
    count(rows_total, 1, 10, "rows")
}

fn cta_url(action: &Map<String, Value>) -> Result<(), MetaError> {
    if need_text(action, "name", "interactive['action']")? != "cta_url" {
        return Err(MetaError::invalid_parameter(
            "Param interactive['action']['name'] must be \"cta_url\".",
        ));
    }
    let p = need_obj(action, "parameters", "interactive['action']")?;
    label(
        need_text(p, "display_text", "interactive['action']['parameters']")?,
        20,
        "Display text",
    )?;
    if !is_http_url(need_text(p, "url", "interactive['action']['parameters']")?) {
        return Err(MetaError::invalid_parameter(
            "Param interactive['action']['parameters']['url'] must be an http or https URL.",
        ));
    }
    Ok(())
}

fn flow(action: &Map<String, Value>) -> Result<(), MetaError> {
    if need_text(action, "name", "interactive['action']")? != "flow" {
        return Err(MetaError::invalid_parameter(
            "Param interactive['action']['name'] must be \"flow\".",
        ));
    }
    let path = "interactive['action']['parameters']";
    let p = need_obj(action, "parameters", "interactive['action']")?;
    need_text(p, "flow_message_version", path)?;
    match (text(p, "flow_id", path)?, text(p, "flow_name", path)?) {
        (Some(_), None) | (None, Some(_)) => {}
        _ => {
            return Err(MetaError::invalid_parameter(format!(
                "Param {path} must contain either flow_id or flow_name."
            )));
        }
    }
    // Meta advises 30 characters at most (its own examples use 23).
    label(need_text(p, "flow_cta", path)?, 30, "Flow CTA")?;
    if let Some(a) = text(p, "flow_action", path)?
        && a != "navigate"
        && a != "data_exchange"
    {
        return Err(MetaError::invalid_parameter(format!(
            "Param {path}['flow_action'] must be one of {{navigate, data_exchange}} - got \"{a}\"."
        )));
    }
    Ok(())
}

fn product_list(action: &Map<String, Value>) -> Result<(), MetaError> {
    need_text(action, "catalog_id", "interactive['action']")?;
    let sections = array(action, "sections", "interactive['action']")?;
    count(sections.len(), 1, 10, "sections")?;
    let mut total = 0;
    for (s, section) in sections.iter().enumerate() {
        let path = format!("interactive['action']['sections'][{s}]");
        let section = item(section, &path)?;
        label(need_text(section, "title", &path)?, 24, "Section title")?;
        let items = array(section, "product_items", &path)?;
        for (n, p) in items.iter().enumerate() {
            need_text(
                item(p, &format!("{path}['product_items'][{n}]"))?,
                "product_retailer_id",
                &format!("{path}['product_items'][{n}]"),
            )?;
        }
        total += items.len();
    }
    count(total, 1, 30, "products")
}

/// Parses `interactive`.
pub(super) fn parse_interactive(o: &Map<String, Value>) -> Result<MessageBody, MetaError> {
    let i = type_object(o, "interactive")?;
    let ty = need_text(i, "type", "interactive")?;
    let action = need_obj(i, "action", "interactive")?;
    match ty {
        "button" => {
            header(i, &MEDIA_HEADERS, false)?;
            body(i, true, 1024)?;
            buttons(action)?;
        }
        "list" => {
            header(i, &["text"], false)?;
            body(i, true, 4096)?;
            list(action)?;
        }
        "cta_url" => {
            header(i, &MEDIA_HEADERS, false)?;
            body(i, true, 1024)?;
            cta_url(action)?;
        }
        "location_request_message" => {
            header(i, &[], false)?;
            body(i, true, 4096)?;
            if need_text(action, "name", "interactive['action']")? != "send_location" {
                return Err(MetaError::invalid_parameter(
                    "Param interactive['action']['name'] must be \"send_location\".",
                ));
            }
        }
        "flow" => {
            header(i, &MEDIA_HEADERS, false)?;
            body(i, true, 1024)?;
            flow(action)?;
        }
        "product" => {
            header(i, &[], false)?;
            body(i, false, 1024)?;
            need_text(action, "catalog_id", "interactive['action']")?;
            need_text(action, "product_retailer_id", "interactive['action']")?;
        }
        "product_list" => {
            header(i, &["text"], true)?;
            body(i, true, 1024)?;
            product_list(action)?;
        }
        "catalog_message" => {
            header(i, &[], false)?;
            body(i, true, 1024)?;
            if need_text(action, "name", "interactive['action']")? != "catalog_message" {
                return Err(MetaError::invalid_parameter(
                    "Param interactive['action']['name'] must be \"catalog_message\".",
                ));
            }
        }
        // Payments (India, Singapore): the order's contents are Meta's to check.
        "order_details" | "order_status" => {
            header(i, &MEDIA_HEADERS, false)?;
            body(i, true, 1024)?;
            let want = if ty == "order_details" {
                "review_and_pay"
            } else {
                "review_order"
            };
            if need_text(action, "name", "interactive['action']")? != want {
                return Err(MetaError::invalid_parameter(format!(
                    "Param interactive['action']['name'] must be \"{want}\"."
                )));
            }
            need_obj(action, "parameters", "interactive['action']")?;
        }
        other => {
            return Err(MetaError::invalid_parameter(format!(
                "Param interactive['type'] must be one of {{button, list, cta_url, location_request_message, flow, product, product_list, catalog_message, order_details, order_status}} - got \"{other}\"."
            )));
        }
    }
    footer(i)?;
    Ok(MessageBody::Interactive(Value::Object(i.clone())))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::send::{SendRequest, Surface};

    fn code(interactive: Value) -> i64 {
        let v = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "interactive", "interactive": interactive});
        SendRequest::parse(&v, Surface::Graph)
            .map(|_| 0)
            .unwrap_or_else(|e| e.code)
    }

    fn buttons(n: usize, title_len: usize) -> Value {
        let b: Vec<Value> = (0..n)
            .map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("{i}{}", "t".repeat(title_len - 1))}}))
            .collect();
        json!({"type": "button", "body": {"text": "Pick one"}, "action": {"buttons": b}})
    }

    fn list(rows_per_section: &[usize], row_title_len: usize) -> Value {
        let sections: Vec<Value> = rows_per_section
            .iter()
            .enumerate()
            .map(|(s, &n)| {
                let rows: Vec<Value> = (0..n)
                    .map(|r| json!({"id": format!("s{s}r{r}"), "title": "r".repeat(row_title_len), "description": "d"}))
                    .collect();
                json!({"title": format!("Section {s}"), "rows": rows})
            })
            .collect();
        json!({"type": "list", "body": {"text": "Choose"}, "action": {"button": "Options", "sections": sections}})
    }

    #[test]
    fn reply_buttons_one_to_three_with_titles_up_to_20() {
        assert_eq!(code(buttons(1, 20)), 0);
        assert_eq!(code(buttons(3, 20)), 0);
        assert_eq!(code(buttons(4, 5)), 131009);
        assert_eq!(code(buttons(0, 5)), 131009);
        assert_eq!(code(buttons(2, 21)), 131009);
        let mut dup = buttons(2, 5);
        dup["action"]["buttons"][1]["reply"]["title"] =
            dup["action"]["buttons"][0]["reply"]["title"].clone();
        assert_eq!(code(dup), 131009);
        let mut no_body = buttons(1, 5);
        no_body.as_object_mut().unwrap().remove("body");
        assert_eq!(code(no_body), 100);
    }

    #[test]
    fn button_body_footer_and_header_limits() {
        let mut m = buttons(1, 5);
        m["body"]["text"] = json!("b".repeat(1024));
        assert_eq!(code(m.clone()), 0);
        m["body"]["text"] = json!("b".repeat(1025));
        assert_eq!(code(m.clone()), 100);
        let mut m = buttons(1, 5);
        m["footer"] = json!({"text": "f".repeat(60)});
        assert_eq!(code(m.clone()), 0);
        m["footer"] = json!({"text": "f".repeat(61)});
        assert_eq!(code(m), 100);
        let mut m = buttons(1, 5);
        m["header"] = json!({"type": "text", "text": "h".repeat(60)});
        assert_eq!(code(m.clone()), 0);
        m["header"] = json!({"type": "text", "text": "h".repeat(61)});
        assert_eq!(code(m.clone()), 100);
        m["header"] = json!({"type": "image", "image": {"link": "https://example.com/a.png"}});
        assert_eq!(code(m.clone()), 0);
        m["header"] = json!({"type": "image", "image": {}});
        assert_eq!(code(m), 100);
    }

    #[test]
    fn lists_up_to_ten_sections_and_ten_rows() {
        assert_eq!(code(list(&[10], 24)), 0);
        assert_eq!(code(list(&[5, 5], 24)), 0);
        assert_eq!(code(list(&[6, 5], 5)), 131009, "11 rows");
        assert_eq!(code(list(&[1; 11], 5)), 131009, "11 sections");
        assert_eq!(code(list(&[0], 5)), 131009, "no rows");
        assert_eq!(code(list(&[1], 25)), 131009, "row title 25");
        let mut m = list(&[1], 5);
        m["action"]["sections"][0]["rows"][0]["description"] = json!("d".repeat(72));
        assert_eq!(code(m.clone()), 0);
        m["action"]["sections"][0]["rows"][0]["description"] = json!("d".repeat(73));
        assert_eq!(code(m), 100);
        let mut m = list(&[1], 5);
        m["action"]["button"] = json!("b".repeat(21));
        assert_eq!(code(m), 131009);
        let mut m = list(&[1], 5);
        m["header"] = json!({"type": "image", "image": {"id": "1"}});
        assert_eq!(code(m), 100, "lists take text headers only");
        let mut m = list(&[1, 1], 5);
        m["action"]["sections"][1]
            .as_object_mut()
            .unwrap()
            .remove("title");
        assert_eq!(code(m), 100, "several sections need titles");
    }

    #[test]
    fn cta_url_location_request_flow_products() {
        let cta = |text: &str, url: &str| json!({"type": "cta_url", "body": {"text": "See"}, "action": {"name": "cta_url", "parameters": {"display_text": text, "url": url}}});
        assert_eq!(code(cta(&"d".repeat(20), "https://example.com")), 0);
        assert_eq!(code(cta(&"d".repeat(21), "https://example.com")), 131009);
        assert_eq!(code(cta("Go", "example.com")), 100);
        assert_eq!(
            code(
                json!({"type": "location_request_message", "body": {"text": "Where are you?"}, "action": {"name": "send_location"}})
            ),
            0
        );
        assert_eq!(
            code(
                json!({"type": "location_request_message", "body": {"text": "?"}, "action": {"name": "send"}})
            ),
            100
        );
        let flow = json!({"type": "flow", "body": {"text": "Book"}, "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_token": "t", "flow_id": "123", "flow_cta": "Book!", "flow_action": "navigate", "flow_action_payload": {"screen": "WELCOME"}}}});
        assert_eq!(code(flow.clone()), 0);
        let mut both = flow.clone();
        both["action"]["parameters"]["flow_name"] = json!("booking");
        assert_eq!(code(both), 100);
        assert_eq!(
            code(
                json!({"type": "product", "body": {"text": "Look"}, "action": {"catalog_id": "1", "product_retailer_id": "sku"}})
            ),
            0
        );
        assert_eq!(
            code(json!({"type": "product", "action": {"catalog_id": "1"}})),
            100
        );
        let items: Vec<Value> = (0..30)
            .map(|i| json!({"product_retailer_id": format!("sku{i}")}))
            .collect();
        let pl = |items: Vec<Value>| json!({"type": "product_list", "header": {"type": "text", "text": "Menu"}, "body": {"text": "Pick"}, "action": {"catalog_id": "1", "sections": [{"title": "All", "product_items": items}]}});
        assert_eq!(code(pl(items.clone())), 0);
        let mut more = items;
        more.push(json!({"product_retailer_id": "sku30"}));
        assert_eq!(code(pl(more)), 131009);
        assert_eq!(
            code(
                json!({"type": "catalog_message", "body": {"text": "Our catalogue"}, "action": {"name": "catalog_message"}})
            ),
            0
        );
        assert_eq!(code(json!({"type": "carousel_x", "action": {}})), 100);
    }
}
