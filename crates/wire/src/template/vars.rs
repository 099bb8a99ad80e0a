//! Variables in template text: positional `{{1}}` and named `{{first_name}}`.

/// One variable in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// What is between the braces (`1`, `first_name`).
    pub name: String,
    /// Byte offset of the opening `{{`.
    pub start: usize,
    /// Byte offset just past the closing `}}`.
    pub end: usize,
}

impl Placeholder {
    /// Whether it is positional (`{{1}}`).
    pub fn positional(&self) -> bool {
        self.name.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The variables of `text`, in order; `Err` names a malformed one (`{{ 1 }}`, `{{}}`,
/// `{{1}`, `{{First-Name}}`).
pub(crate) fn scan(text: &str) -> Result<Vec<Placeholder>, String> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let inner_start = start + 2;
        let Some(close) = text[inner_start..].find("}}") else {
            return Err(format!(
                "the variable opened at character {} is not closed with }}}}",
                text[..start].chars().count() + 1
            ));
        };
        let name = &text[inner_start..inner_start + close];
        let digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
        let named = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !(digits || named) || name.contains('{') {
            return Err(format!(
                "{{{{{name}}}}} is not a valid variable: use {{{{1}}}}, {{{{2}}}}, … or lowercase names with underscores"
            ));
        }
        if digits && (name.starts_with('0') || name.len() > 3) {
            return Err(format!(
                "{{{{{name}}}}} is not a valid variable: positional variables are numbered from 1"
            ));
        }
        let end = inner_start + close + 2;
        out.push(Placeholder {
            name: name.to_string(),
            start,
            end,
        });
        rest = end;
    }
    Ok(out)
}

/// The distinct variable names of `vars`, in order of first appearance.
pub(crate) fn distinct(vars: &[Placeholder]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in vars {
        if !out.contains(&v.name) {
            out.push(v.name.clone());
        }
    }
    out
}

/// `text` with each variable replaced by `value(name)`.
pub(crate) fn fill(text: &str, vars: &[Placeholder], value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for v in vars {
        out.push_str(&text[at..v.start]);
        out.push_str(&value(&v.name));
        at = v.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The words of `text` that are not variables: whitespace-separated runs holding at least
/// one letter or digit once the variables are taken out.
pub(crate) fn words_outside(text: &str, vars: &[Placeholder]) -> usize {
    let without = fill(text, vars, |_| " ".to_string());
    without
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_positional_and_named_variables() {
        let v = scan("Hi {{1}}, code {{first_name}} and {{1}}").unwrap();
        let names: Vec<_> = v.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["1", "first_name", "1"]);
        assert_eq!(distinct(&v), ["1", "first_name"]);
        assert!(v[0].positional() && !v[1].positional());
    }

    #[test]
    fn malformed_variables_are_refused() {
        for bad in [
            "{{ 1 }}",
            "{{}}",
            "Hi {{1}",
            "{{First}}",
            "{{0}}",
            "{{a-b}}",
            "{{1a}}",
        ] {
            assert!(scan(bad).is_err(), "{bad}");
        }
        assert!(scan("no variables } { here").unwrap().is_empty());
    }

    #[test]
    fn fills_and_counts_words() {
        let text = "Hi {{1}}, gate {{2}}. Thank you.";
        let v = scan(text).unwrap();
        assert_eq!(
            fill(text, &v, |n| format!("<{n}>")),
            "Hi <1>, gate <2>. Thank you."
        );
        assert_eq!(words_outside(text, &v), 4);
    }
}
