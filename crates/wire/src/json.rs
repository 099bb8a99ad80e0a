//! Reading a JSON document the gateway takes: a request body on any surface, a line of a
//! campaign's NDJSON upload, a payload from Meta.
//!
//! One rule for all of them, here rather than at each reader: no string of the document (a
//! key or a value, at any depth) may hold NUL (`\u0000`). No text the gateway keeps has one,
//! and PostgreSQL can store none (its `text` and `jsonb` refuse it), so a reader that let one
//! through would fail in the store on one backend and not the other. Each surface turns
//! [`Unreadable`] into its own error shape.

use serde_json::Value;

/// Why a body is no JSON document the gateway takes.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    /// Not JSON (or more than one document, or nested beyond the parser's depth).
    #[error("the body is not valid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// JSON, with NUL in a string.
    #[error("the body's strings must not contain NUL (\\u0000)")]
    Nul,
}

/// Parses `body` as one JSON document, refusing NUL in its strings.
pub fn read(body: &[u8]) -> Result<Value, Unreadable> {
    let v: Value = serde_json::from_slice(body)?;
    if has_nul(&v) {
        return Err(Unreadable::Nul);
    }
    Ok(v)
}

/// Whether a string of `v` (a key or a value, at any depth) holds NUL. The parser bounds the
/// depth (128), so the recursion is bounded too.
pub fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, x)| k.contains('\0') || has_nul(x)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_at_any_depth_in_keys_and_values() {
        for body in [
            r#""\u0000""#,
            r#"{"a\u0000": 1}"#,
            r#"{"a": [1, {"b": "x\u0000y"}]}"#,
        ] {
            assert!(
                matches!(read(body.as_bytes()), Err(Unreadable::Nul)),
                "{body}"
            );
        }
    }

    #[test]
    fn other_documents_read_as_serde_json_reads_them() {
        let v = read(br#"{"a": ["\u0001", "\\u0000"]}"#).unwrap();
        assert_eq!(v["a"][1], "\\u0000", "an escaped backslash is no NUL");
        assert!(matches!(read(b"{} {}"), Err(Unreadable::Syntax(_))));
        assert!(matches!(read(b"\xff"), Err(Unreadable::Syntax(_))));
    }
}
