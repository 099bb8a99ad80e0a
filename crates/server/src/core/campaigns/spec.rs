//! A campaign's template part: its name and language, and the parameters every recipient's
//! send fills in — Cloud API `components` whose text values hold `{{column}}` placeholders, or
//! a plain ordered `variables` list for the body (DESIGN §2.8). Pure: the columns a spec needs,
//! and the template object of one recipient's send.

use std::collections::BTreeSet;

use openbsp_wire::template::{self, Definition, Rendered, TemplateError};
use serde_json::{Map, Value, json};

use crate::core::{CoreError, CoreResult};

/// The parameters of a campaign's sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    /// Cloud API template components, placeholders in their string values.
    Components(Value),
    /// The body's variables in order, placeholders in them.
    Variables(Vec<String>),
}

/// A campaign's template part, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The template's name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// What each send fills in.
    pub params: Params,
}

impl Spec {
    /// Parses `template` of a campaign: `{"name", "language" (a code, or {"code"}),
    /// "components": […]}` or `{…, "variables": ["{{first_name}}", …]}` (neither: a template
    /// without parameters).
    pub fn parse(template: &Value) -> CoreResult<Spec> {
        let bad = |m: &str| CoreError::invalid_field("template", format!("template.{m}"));
        let obj = template.as_object().ok_or_else(|| {
            CoreError::invalid_field(
                "template",
                "template must be an object: {\"name\", \"language\", \"components\" | \"variables\"}",
            )
        })?;
        for k in obj.keys() {
            if !["name", "language", "components", "variables"].contains(&k.as_str()) {
                return Err(bad(&format!(
                    "{k} is not a field: use name, language, and components or variables"
                )));
            }
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad("name is required (a string)"))?;
        let language = match obj.get("language") {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Object(l)) => l.get("code").and_then(Value::as_str).unwrap_or(""),
            _ => "",
        };
        if language.trim().is_empty() {
            return Err(bad(
                "language is required: a code (\"en_US\") or {\"code\": \"en_US\"}",
            ));
        }
        let params = match (obj.get("components"), obj.get("variables")) {
            (Some(_), Some(_)) => return Err(bad("components and variables: give one, not both")),
            (Some(Value::Array(c)), None) => Params::Components(Value::Array(c.clone())),
            (Some(_), None) => return Err(bad("components must be an array")),
            (None, Some(Value::Array(vs))) => Params::Variables(
                vs.iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        _ => Err(bad("variables must be strings")),
                    })
                    .collect::<CoreResult<_>>()?,
            ),
            (None, Some(_)) => return Err(bad("variables must be an array of strings")),
            (None, None) => Params::Components(Value::Array(Vec::new())),
        };
        Ok(Spec {
            name: name.to_string(),
            language: language.to_string(),
            params,
        })
    }

    /// The spec as stored with the campaign (and shown back).
    pub fn to_value(&self) -> Value {
        match &self.params {
            Params::Components(c) => json!({"components": c}),
            Params::Variables(v) => json!({"variables": v}),
        }
    }

    /// A stored spec back (the name and language are the campaign's).
    pub fn from_stored(name: &str, language: &str, stored: &Value) -> CoreResult<Spec> {
        let mut t = stored.clone();
        t["name"] = json!(name);
        t["language"] = json!(language);
        Spec::parse(&t)
    }

    /// The columns its placeholders name, sorted.
    pub fn columns(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        match &self.params {
            Params::Components(c) => walk_strings(c, &mut |s| placeholders(s, &mut out)),
            Params::Variables(vs) => vs.iter().for_each(|s| placeholders(s, &mut out)),
        }
        out.into_iter().collect()
    }

    /// The `template` object of one recipient's send, its placeholders filled from `row`
    /// (every column the spec names must be there), checked against the template's
    /// definition: Meta's parameter rules (132000, 132005, 132012, 132018).
    pub fn fill(
        &self,
        def: &Definition,
        row: &Map<String, Value>,
    ) -> Result<(Value, Rendered), TemplateError> {
        let components = match &self.params {
            Params::Components(c) => substitute(c, row),
            Params::Variables(vs) => {
                let values: Vec<String> = vs.iter().map(|v| fill_text(v, row)).collect();
                template::components_from_values(def, &values)?
            }
        };
        let object = json!({
            "name": self.name,
            "language": {"code": self.language},
            "components": components,
        });
        let rendered = template::check_send(def, &object)?;
        Ok((object, rendered))
    }
}

/// Calls `f` on every string in `v`.
fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// The `{{column}}` placeholders of `s` (names trimmed).
fn placeholders(s: &str, out: &mut BTreeSet<String>) {
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return };
        let name = after[..end].trim();
        if !name.is_empty() {
            out.insert(name.to_string());
        }
        rest = &after[end + 2..];
    }
}

/// `s` with each `{{column}}` replaced by the row's value (text as is, other JSON as written).
fn fill_text(s: &str, row: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        match row.get(after[..end].trim()) {
            Some(Value::String(v)) => out.push_str(v),
            Some(Value::Null) | None => {}
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `v` with every string's placeholders filled.
fn substitute(v: &Value, row: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) if s.contains("{{") => Value::String(fill_text(s, row)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, row)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, row)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    #[test]
    fn placeholders_are_found_and_filled() {
        let spec = Spec::parse(&json!({
            "name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "{{ first_name }}"},
                {"type": "text", "text": "#{{order}} ({{first_name}})"}]}]
        }))
        .unwrap();
        assert_eq!(spec.columns(), vec!["first_name", "order"]);
        let filled = substitute(
            match &spec.params {
                Params::Components(c) => c,
                _ => unreachable!(),
            },
            &row(&[("first_name", "Ana"), ("order", "42")]),
        );
        assert_eq!(filled[0]["parameters"][1]["text"], "#42 (Ana)");
        assert_eq!(filled[0]["parameters"][0]["text"], "Ana");
    }

    #[test]
    fn variables_and_bad_specs() {
        let spec =
            Spec::parse(&json!({"name": "t", "language": "pt_BR", "variables": ["{{a}}", "x"]}))
                .unwrap();
        assert_eq!(spec.columns(), vec!["a"]);
        assert_eq!(fill_text("{{a}}-{{b}}", &row(&[("a", "1")])), "1-");
        for bad in [
            json!({"language": "en"}),
            json!({"name": "t"}),
            json!({"name": "t", "language": "en", "components": [], "variables": []}),
            json!({"name": "t", "language": "en", "variables": [{"x": 1}]}),
            json!({"name": "t", "language": "en", "extra": 1}),
            json!("t"),
        ] {
            assert!(Spec::parse(&bad).is_err(), "{bad}");
        }
        let stored = spec.to_value();
        assert_eq!(Spec::from_stored("t", "pt_BR", &stored).unwrap(), spec);
    }
}
