//! Reading an upload of recipients, streamed: CSV (a header row; one column `phone`, `wa_id`
//! or `user_id` names the recipient, the others are variables) or JSON lines (`{"phone" |
//! "wa_id" | "user_id": …, "variables": {…}}` a line). Synchronous (it runs on a blocking
//! thread, reading the request body as it arrives) and pure of the store: it hands rows on in
//! batches, each a recipient key with its variables or the reason its line is refused.
//!
//! What is wrong with the file as a whole — no header, no recipient column or two, a column a
//! placeholder needs missing, a repeated column — is one error before any row is read.

use std::io::Read;

use openbsp_wire::json::has_nul;
use serde_json::{Map, Value};

use crate::core::{CoreError, CoreResult};

/// Rows handed on at once.
pub const BATCH: usize = 512;
/// The longest line accepted (a line is one recipient: a few hundred bytes at most).
pub const MAX_LINE: usize = 64 * 1024;

/// The two formats of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/csv`.
    Csv,
    /// `application/x-ndjson` (JSON lines).
    Ndjson,
}

impl Format {
    /// The format a `Content-Type` names.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" | "application/csv" => Some(Format::Csv),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Some(Format::Ndjson),
            _ => None,
        }
    }
}

/// How a row names its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A phone number as a person writes it (read as Meta would).
    Phone,
    /// A `wa_id`.
    WaId,
    /// A BSUID.
    UserId,
}

impl KeyKind {
    /// The column (or field) name.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Phone => "phone",
            KeyKind::WaId => "wa_id",
            KeyKind::UserId => "user_id",
        }
    }

    fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "phone" => Some(KeyKind::Phone),
            "wa_id" => Some(KeyKind::WaId),
            "user_id" => Some(KeyKind::UserId),
            _ => None,
        }
    }
}

/// One line of an upload.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A recipient and its variables (the columns the campaign's placeholders name).
    Row {
        /// The line in the file (1 is a CSV's header).
        line: u64,
        /// How it names its recipient.
        kind: KeyKind,
        /// The recipient as written.
        key: String,
        /// Its variables.
        variables: Map<String, Value>,
    },
    /// A line refused before its recipient is read.
    Bad {
        /// The line.
        line: u64,
        /// Why.
        reason: String,
    },
}

/// Reads an upload from `r`, handing its lines on in batches to `sink` (which answers whether
/// to go on); `columns` are the variables the campaign needs. Returns the number of lines read.
pub fn read(
    r: impl Read,
    format: Format,
    columns: &[String],
    mut sink: impl FnMut(Vec<Line>) -> bool,
) -> CoreResult<u64> {
    let sink = move |lines: Vec<Line>| sink(lines.into_iter().map(without_nul).collect());
    match format {
        Format::Csv => read_csv(Newlines::new(r), columns, sink),
        Format::Ndjson => read_ndjson(Newlines::new(r), columns, sink),
    }
}

/// `line`, or its refusal when its recipient or a variable holds NUL: no text the gateway
/// keeps has one ([`openbsp_wire::json`]; PostgreSQL can store none), and a variable is sent and stored as the
/// message's text.
fn without_nul(line: Line) -> Line {
    match &line {
        Line::Row {
            line: n,
            key,
            variables,
            ..
        } if key.contains('\0')
            || variables
                .iter()
                .any(|(k, v)| k.contains('\0') || has_nul(v)) =>
        {
            Line::Bad {
                line: *n,
                reason: "a value holds NUL (\\u0000), which no text may".into(),
            }
        }
        _ => line,
    }
}

/// `inner` with each line ending (`\r\n`, `\n`, or `\r` alone) read as `\n`. The csv crate
/// ends a record at any of the three but counts lines by `\n` alone: a file whose lines end
/// in `\r` (Excel for Mac's "CSV (Macintosh)") numbered every line 2 in the upload's report
/// (found by the `campaign_import` fuzz target). JSON lines are read through it too: a file
/// of them ending in `\r` was one line (JSON escapes a CR inside a string, so a raw one is
/// always a line's end).
///
/// A file whose last line has no ending is read with one, so that every record ends in `\n`
/// and its first line can be told from where it ends ([`record_line`]).
struct Newlines<R> {
    inner: R,
    /// The last byte read was a `\r`: a `\n` right after it is the same line ending.
    after_cr: bool,
    /// The last byte handed on.
    last: Option<u8>,
    /// The end of `inner` was reached (and a last `\n` given when it lacked one).
    ended: bool,
}

impl<R> Newlines<R> {
    fn new(inner: R) -> Self {
        Newlines {
            inner,
            after_cr: false,
            last: None,
            ended: false,
        }
    }
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.ended || buf.is_empty() {
                return Ok(0);
            }
            let n = self.inner.read(buf)?;
            if n == 0 {
                self.ended = true;
                if self.last.is_some_and(|b| b != b'\n') {
                    buf[0] = b'\n';
                    return Ok(1);
                }
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                let b = buf[i];
                if b == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                buf[kept] = if b == b'\r' { b'\n' } else { b };
                kept += 1;
            }
            // All that was read was the `\n` of a `\r\n` split between two reads: read on
            // (answering 0 would say the file ended).
            if kept > 0 {
                self.last = Some(buf[kept - 1]);
                return Ok(kept);
            }
        }
    }
}

fn whole(message: impl Into<String>) -> CoreError {
    CoreError::invalid_field("file", message)
}

fn read_csv(
    r: impl Read,
    columns: &[String],
    mut sink: impl FnMut(Vec<Line>) -> bool,
) -> CoreResult<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(r);
    let header = reader.byte_headers().map_err(|e| csv_whole(&e))?.clone();
    if header.is_empty() {
        return Err(whole(
            "the file is empty: a CSV upload starts with a header row",
        ));
    }
    let mut names = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| {
                whole(format!(
                    "header column {} is not UTF-8: the file must be UTF-8 encoded",
                    i + 1
                ))
            })?
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(whole(format!("header column {} has no name", i + 1)));
        }
        if names.contains(&name) {
            return Err(whole(format!("the header names column {name} twice")));
        }
        names.push(name);
    }
    let keys: Vec<(usize, KeyKind)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| KeyKind::parse(n).map(|k| (i, k)))
        .collect();
    let (key_at, kind) = match keys.as_slice() {
        [one] => *one,
        [] => {
            return Err(whole(format!(
                "the header has no recipient column: one of phone, wa_id or user_id (it has {})",
                names.join(", ")
            )));
        }
        _ => {
            return Err(whole(
                "the header has more than one recipient column: keep one of phone, wa_id and user_id",
            ));
        }
    };
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| !names.contains(c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(whole(format!(
            "the campaign's placeholders need the column{} {}, which the header does not have (it has {})",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            names.join(", ")
        )));
    }
    let wanted: Vec<(usize, &String)> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| columns.contains(n))
        .collect();

    let mut batch = Vec::with_capacity(BATCH);
    let mut record = csv::ByteRecord::new();
    let mut lines = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                lines += 1;
                let line = record_line(&reader, &record);
                // Field by field: the record's bytes without their delimiters could join two
                // broken fields into a valid sequence.
                if record.iter().any(|f| std::str::from_utf8(f).is_err()) {
                    return Err(not_utf8(line));
                }
                batch.push(csv_line(&record, line, key_at, kind, &wanted));
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    lines += 1;
                    batch.push(Line::Bad {
                        line: record_line(&reader, &record),
                        reason: format!("the line has {len} fields; the header has {expected_len}"),
                    });
                }
                _ => return Err(csv_whole(&e)),
            },
        }
        if batch.len() >= BATCH && !sink(std::mem::take(&mut batch)) {
            return Ok(lines);
        }
    }
    if !batch.is_empty() {
        sink(batch);
    }
    Ok(lines)
}

/// The line a record just read starts on: the csv crate's own record position is where its
/// reading began, before the blank lines it skips (a row after a blank line was numbered as
/// the blank one). Every record ends in `\n` ([`Newlines`]), so it starts on the line it ends
/// on less the line breaks inside its quoted fields.
fn record_line<R: Read>(reader: &csv::Reader<R>, record: &csv::ByteRecord) -> u64 {
    let inside = record
        .iter()
        .map(|f| f.iter().filter(|b| **b == b'\n').count() as u64)
        .sum::<u64>();
    reader.position().line().saturating_sub(1 + inside).max(2)
}

/// A CSV record (whose fields are UTF-8) as a line.
fn csv_line(
    record: &csv::ByteRecord,
    line: u64,
    key_at: usize,
    kind: KeyKind,
    wanted: &[(usize, &String)],
) -> Line {
    // Every field was checked UTF-8 as the record was read.
    let text = |i: usize| std::str::from_utf8(record.get(i).unwrap_or_default()).unwrap_or("");
    let key = text(key_at).trim();
    if key.is_empty() {
        return Line::Bad {
            line,
            reason: format!("{} is empty", kind.name()),
        };
    }
    let variables = wanted
        .iter()
        .map(|(i, name)| ((*name).clone(), Value::String(text(*i).to_string())))
        .collect();
    Line::Row {
        line,
        kind,
        key: key.to_string(),
        variables,
    }
}

/// A line that is not UTF-8: the file as a whole is refused (an encoding is the file's, not a
/// line's: a Latin-1 file would otherwise lose only its rows with accents).
fn not_utf8(line: u64) -> CoreError {
    whole(format!(
        "line {line} is not UTF-8: the file must be UTF-8 encoded (save it as UTF-8 and upload it again; nothing of it was added)"
    ))
}

/// A CSV error that stops the reading: the body could not be read, or is not CSV.
fn csv_whole(e: &csv::Error) -> CoreError {
    match e.kind() {
        csv::ErrorKind::Io(io) => whole(format!("the upload could not be read: {io}")),
        csv::ErrorKind::Utf8 { .. } => {
            whole("the file is not UTF-8: the file must be UTF-8 encoded")
        }
        _ => whole(format!("the file is not CSV: {e}")),
    }
}

fn read_ndjson(
    mut r: impl Read,
    columns: &[String],
    mut sink: impl FnMut(Vec<Line>) -> bool,
) -> CoreResult<u64> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut line_no, mut lines) = (0u64, 0u64);
    let mut eof = false;
    while !eof {
        let n = r
            .read(&mut chunk)
            .map_err(|e| whole(format!("the upload could not be read: {e}")))?;
        if n == 0 {
            eof = true;
            if !buf.is_empty() && buf.last() != Some(&b'\n') {
                buf.push(b'\n');
            }
        } else {
            buf.extend_from_slice(&chunk[..n]);
        }
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let raw = &buf[start..start + pos];
            start += pos + 1;
            line_no += 1;
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            if std::str::from_utf8(raw).is_err() {
                return Err(not_utf8(line_no));
            }
            batch.push(json_line(raw, line_no, columns));
            if batch.len() >= BATCH && !sink(std::mem::take(&mut batch)) {
                return Ok(lines);
            }
        }
        buf.drain(..start);
        if buf.len() > MAX_LINE {
            return Err(whole(format!(
                "line {} is longer than {MAX_LINE} bytes",
                line_no + 1
            )));
        }
    }
    if !batch.is_empty() {
        sink(batch);
    }
    Ok(lines)
}

fn json_line(raw: &[u8], line: u64, columns: &[String]) -> Line {
    let bad = |reason: String| Line::Bad { line, reason };
    let v: Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => return bad(format!("not a JSON object: {e}")),
    };
    let Value::Object(mut obj) = v else {
        return bad(
            "not a JSON object: {\"phone\" | \"wa_id\" | \"user_id\": …, \"variables\": {…}}"
                .into(),
        );
    };
    let mut key = None;
    for kind in [KeyKind::Phone, KeyKind::WaId, KeyKind::UserId] {
        if let Some(v) = obj.remove(kind.name()) {
            if key.is_some() {
                return bad("more than one of phone, wa_id and user_id".into());
            }
            match v {
                Value::String(s) if !s.trim().is_empty() => {
                    key = Some((kind, s.trim().to_string()))
                }
                Value::Number(n) => key = Some((kind, n.to_string())),
                _ => return bad(format!("{} must be a non-empty string", kind.name())),
            }
        }
    }
    let Some((kind, key)) = key else {
        return bad("no recipient: give one of phone, wa_id or user_id".into());
    };
    let variables = match obj.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return bad("variables must be an object".into()),
    };
    if let Some(other) = obj.keys().next() {
        return bad(format!(
            "{other} is not a field: use phone, wa_id or user_id, and variables"
        ));
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| !variables.contains_key(*c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return bad(format!("variables lack {}", missing.join(", ")));
    }
    let variables = variables
        .into_iter()
        .filter(|(k, _)| columns.contains(k))
        .collect();
    Line::Row {
        line,
        kind,
        key,
        variables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &str, format: Format, columns: &[&str]) -> CoreResult<Vec<Line>> {
        let columns: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        read(input.as_bytes(), format, &columns, |b| {
            out.extend(b);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn csv_rows_carry_their_lines_and_needed_columns() {
        let lines = all(
            "\u{feff}phone,first_name,unused\n+1 555 0100,Ana,x\n,Bo,y\n15550102,Cy\n\"155 0103\",\"D, e\",z\n",
            Format::Csv,
            &["first_name"],
        )
        .unwrap();
        assert_eq!(lines.len(), 4);
        match &lines[0] {
            Line::Row {
                line,
                kind,
                key,
                variables,
            } => {
                assert_eq!(
                    (*line, *kind, key.as_str()),
                    (2, KeyKind::Phone, "+1 555 0100")
                );
                assert_eq!(variables.len(), 1);
                assert_eq!(variables["first_name"], "Ana");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&lines[1], Line::Bad { line: 3, reason } if reason.contains("empty")));
        assert!(matches!(&lines[2], Line::Bad { line: 4, reason } if reason.contains("fields")));
        assert!(
            matches!(&lines[3], Line::Row { line: 5, variables, .. } if variables["first_name"] == "D, e")
        );
    }

    #[test]
    fn csv_lines_are_numbered_whatever_ends_them() {
        let ends = ["\n", "\r\n", "\r"];
        for end in ends {
            let input = [
                "phone,first_name",
                "1555,Ana",
                "",
                "1556",
                "\"1557\",\"B",
                "b\"",
                "1558,C",
            ]
            .join(end);
            let lines = all(&input, Format::Csv, &["first_name"]).unwrap();
            let numbers: Vec<u64> = lines
                .iter()
                .map(|l| match l {
                    Line::Row { line, .. } | Line::Bad { line, .. } => *line,
                })
                .collect();
            assert_eq!(numbers, [2, 4, 5, 7], "lines ending in {end:?}");
        }
        // A `\r\n` split across two reads is one line ending.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut out = Vec::new();
        read(
            OneByte(b"phone\r\n1555\r\n1556\r\n"),
            Format::Csv,
            &[],
            |b| {
                out.extend(b);
                true
            },
        )
        .unwrap();
        assert!(matches!(
            &out[..],
            [Line::Row { line: 2, .. }, Line::Row { line: 3, .. }]
        ));
    }

    #[test]
    fn a_bad_header_refuses_the_file() {
        for (input, says) in [
            ("", "empty"),
            ("name,city\n1,2\n", "no recipient column"),
            ("phone,wa_id\n1,2\n", "more than one"),
            ("phone,city\n1,2\n", "first_name"),
            ("phone,phone,first_name\n1,2,3\n", "twice"),
        ] {
            let e = all(input, Format::Csv, &["first_name"]).unwrap_err();
            assert!(e.to_string().contains(says), "{input:?}: {e}");
        }
        let e = all("phone,first_name\n1,\u{0}\n", Format::Csv, &["first_name"]);
        assert!(e.is_ok());
        // A line past the first that is not UTF-8 refuses the file, in either format, even in
        // a column no placeholder reads.
        let latin1: &[u8] = b"phone,first_name,city\n1555,Ana,Rome\n1556,Bo,Mal\xe9\n";
        let e = read(latin1, Format::Csv, &["first_name".to_string()], |_| true).unwrap_err();
        assert!(e.to_string().contains("line 3 is not UTF-8"), "{e}");
        // Two Latin-1 fields whose bytes would join into UTF-8 without the comma (Ñ, º).
        let joined: &[u8] = b"phone,first_name,city\n1555,AN\xd1,\xbaRome\n";
        let e = read(joined, Format::Csv, &["first_name".to_string()], |_| true).unwrap_err();
        assert!(e.to_string().contains("line 2 is not UTF-8"), "{e}");
        let latin1: &[u8] = b"{\"phone\": \"1555\"}\n{\"phone\": \"1556\", \"x\": \"Jos\xe9\"}\n";
        let e = read(latin1, Format::Ndjson, &[], |_| true).unwrap_err();
        assert!(e.to_string().contains("line 2 is not UTF-8"), "{e}");
    }

    #[test]
    fn json_lines() {
        let lines = all(
            "{\"wa_id\": \"15550100\", \"variables\": {\"first_name\": \"Ana\", \"x\": 1}}\n\n{\"phone\": 1}\nnot json\n{\"user_id\": \"US.1\"}\r\n{\"phone\": \"1\", \"wa_id\": \"2\", \"variables\": {\"first_name\": \"A\"}}",
            Format::Ndjson,
            &["first_name"],
        )
        .unwrap();
        assert_eq!(lines.len(), 5);
        assert!(
            matches!(&lines[0], Line::Row { line: 1, kind: KeyKind::WaId, variables, .. } if variables.len() == 1)
        );
        assert!(
            matches!(&lines[1], Line::Bad { line: 3, reason } if reason.contains("first_name"))
        );
        assert!(matches!(&lines[2], Line::Bad { line: 4, .. }));
        assert!(
            matches!(&lines[3], Line::Bad { line: 5, reason } if reason.contains("first_name"))
        );
        assert!(
            matches!(&lines[4], Line::Bad { line: 6, reason } if reason.contains("more than one"))
        );
    }

    #[test]
    fn json_lines_are_numbered_whatever_ends_them() {
        for end in ["\n", "\r\n", "\r"] {
            let input = [
                "{\"phone\": \"1555\"}",
                "",
                "{\"phone\": \"1556\"}",
                "not json",
                "{\"phone\": \"1557\"}",
            ]
            .join(end);
            let lines = all(&input, Format::Ndjson, &[]).unwrap();
            let numbers: Vec<(u64, bool)> = lines
                .iter()
                .map(|l| match l {
                    Line::Row { line, .. } => (*line, true),
                    Line::Bad { line, .. } => (*line, false),
                })
                .collect();
            assert_eq!(
                numbers,
                [(1, true), (3, true), (4, false), (5, true)],
                "lines ending in {end:?}"
            );
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_content_type("application/x-ndjson"),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_content_type("application/json"), None);
    }
}
