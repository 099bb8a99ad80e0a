//! JSON as Meta writes its webhook bodies: compact, with every code point above U+007F
//! escaped as `\uXXXX` (lower-case hex, UTF-16 surrogate pairs for characters outside the
//! Basic Multilingual Plane). The signature (`X-Hub-Signature-256`) is computed over exactly
//! these bytes, so a receiver that re-serialises the JSON before checking it fails, as it
//! would against Meta.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// A `serde_json` formatter that escapes non-ASCII characters the way Meta does; all else is
/// `serde_json`'s compact output (the trait's defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaFormatter;

impl Formatter for MetaFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            writer.write_all(&bytes[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        writer.write_all(&bytes[start..])
    }
}

/// Serialises `value` as Meta would put it on the wire.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut ser = Serializer::with_formatter(Vec::with_capacity(512), MetaFormatter);
    value.serialize(&mut ser)?;
    Ok(ser.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn escapes_non_ascii_like_meta() {
        let v = json!({"body": "olá 👋 — ok\n\"q\"", "n": 1});
        let out = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"body":"ol\u00e1 \ud83d\udc4b \u2014 ok\n\"q\"","n":1}"#
        );
        assert!(out.is_ascii());
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn ascii_is_unchanged_and_control_chars_are_escaped() {
        let v = json!(["plain / text", "\u{1f}", "\u{7f}"]);
        let out = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(out, "[\"plain / text\",\"\\u001f\",\"\u{7f}\"]");
        assert_eq!(out.as_bytes(), serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn round_trips_every_plane() {
        let s: String = ['a', 'é', '中', '\u{ffff}', '\u{10000}', '🧪', '\u{10ffff}']
            .into_iter()
            .collect();
        let out = to_vec(&json!(s)).unwrap();
        assert!(out.is_ascii());
        assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), s);
    }
}
