//! The curl commands of a documentation page, read as a person would run them: the vendors'
//! pages (`crates/server/tests/fixtures/seeds/`) show their requests as curl text, some with
//! typographic quotes and dashes a page turned them into (`–header ‘…’`). The tests run each one
//! against the gateway with only the host and the credentials changed, so the requests are
//! parsed from that text, never retyped.

/// One curl command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Curl {
    /// `--request` (`-X`); `POST` when it sends data and names none, else `GET`.
    pub method: String,
    /// The URL as written (placeholders and all).
    pub url: String,
    /// `--header` (`-H`) values, as written (`Name: value`).
    pub headers: Vec<(String, String)>,
    /// `--data`, `--data-raw` (`-d`): the body, as written.
    pub body: Option<String>,
}

impl Curl {
    /// A header's value (the name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The text with the typography pages add undone: curly quotes become straight ones, a dash
/// before an option's name becomes `--`.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{2018}' | '\u{2019}' => out.push('\''),
            '\u{201C}' | '\u{201D}' => out.push('"'),
            '\u{2013}' | '\u{2014}' if chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) => {
                out.push_str("--")
            }
            c => out.push(c),
        }
    }
    out
}

/// Shell words from `s` (single and double quotes, backslash-newline continuations), each with
/// the byte offset just past it.
fn words(s: &str) -> Vec<(String, usize)> {
    let bytes: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut offset) = (0, 0usize);
    let advance = |c: char, offset: &mut usize| *offset += c.len_utf8();
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_whitespace() {
            advance(c, &mut offset);
            i += 1;
            continue;
        }
        if c == '\\' && bytes.get(i + 1).is_some_and(|n| *n == '\n' || *n == '\r') {
            advance(c, &mut offset);
            i += 1;
            continue;
        }
        let mut word = String::new();
        while i < bytes.len() && !bytes[i].is_whitespace() {
            let c = bytes[i];
            match c {
                '\'' | '"' => {
                    advance(c, &mut offset);
                    i += 1;
                    while i < bytes.len() && bytes[i] != c {
                        if c == '"' && bytes[i] == '\\' && i + 1 < bytes.len() {
                            advance(bytes[i], &mut offset);
                            i += 1;
                        }
                        word.push(bytes[i]);
                        advance(bytes[i], &mut offset);
                        i += 1;
                    }
                    if i < bytes.len() {
                        advance(bytes[i], &mut offset);
                        i += 1;
                    }
                }
                '\\' if bytes.get(i + 1).is_some_and(|n| *n == '\n' || *n == '\r') => break,
                c => {
                    word.push(c);
                    advance(c, &mut offset);
                    i += 1;
                }
            }
        }
        out.push((word, offset));
    }
    out
}

/// Every curl command in `text`, in order.
pub fn commands(text: &str) -> Vec<Curl> {
    let text = plain(text);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = find_curl(rest) {
        let words = words(&rest[at + 4..]);
        let (curl, used) = read(&words);
        if let Some(c) = curl {
            out.push(c);
        }
        rest = &rest[at + 4 + used..];
    }
    out
}

/// Where the next `curl` command starts (the word `curl` followed by an option or a URL).
fn find_curl(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("curl") {
        let at = from + i;
        let before_ok = at == 0 || !s[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let after = s[at + 4..].trim_start();
        if before_ok
            && (after.starts_with('-') || after.starts_with("http") || after.starts_with('\''))
        {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// The command read from its words, and how many bytes it took: it ends at the first word that
/// is neither an option, an option's value, nor the URL.
fn read(words: &[(String, usize)]) -> (Option<Curl>, usize) {
    let (mut method, mut url, mut headers, mut body) = (None, None, Vec::new(), None);
    let mut used = 0;
    let mut i = 0;
    while i < words.len() {
        let (w, end) = &words[i];
        let value = words.get(i + 1);
        match w.as_str() {
            "--request" | "-X" => {
                method = value.map(|v| v.0.clone());
                used = value.map_or(*end, |v| v.1);
                i += 2;
            }
            "--url" => {
                url = value.map(|v| v.0.clone());
                used = value.map_or(*end, |v| v.1);
                i += 2;
            }
            "--header" | "-H" => {
                if let Some((name, v)) = value.and_then(|v| v.0.split_once(':')) {
                    headers.push((name.trim().to_string(), v.trim().to_string()));
                }
                used = value.map_or(*end, |v| v.1);
                i += 2;
            }
            "--data" | "--data-raw" | "--data-binary" | "-d" => {
                body = value.map(|v| v.0.clone());
                used = value.map_or(*end, |v| v.1);
                i += 2;
            }
            // A continuation a page put on one line (`… \ --header …`).
            "\\" | "--location" | "-L" | "--silent" | "-s" | "--compressed" => {
                used = *end;
                i += 1;
            }
            w if url.is_none() && (w.starts_with("http://") || w.starts_with("https://")) => {
                url = Some(w.to_string());
                used = *end;
                i += 1;
            }
            _ => break,
        }
    }
    let curl = url.map(|url| Curl {
        method: method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into()),
        url,
        headers,
        body,
    });
    (curl, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_multiline_command() {
        let text = "Request\ncurl --request POST \\\n  --url https://api.example.com/t/<ID>/s \\\n  --header 'Authorization: Key <K>' \\\n  --header 'content-type: application/json' \\\n  --data '{\n  \"a\": 1\n}'\n\nImportant Fields";
        let c = commands(text);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].method, "POST");
        assert_eq!(c[0].url, "https://api.example.com/t/<ID>/s");
        assert_eq!(c[0].header("authorization"), Some("Key <K>"));
        assert_eq!(c[0].body.as_deref(), Some("{\n  \"a\": 1\n}"));
    }

    #[test]
    fn typographic_quotes_and_dashes_and_what_follows() {
        let text = "Sample codes CURL PHP curl \u{2013}location \u{2018}https://{{d}}/api/{{k}}/messages\u{2019} \\ \u{2013}header \u{2018}Content-Type: application/json\u{2019} \\ \u{2013}data \u{2018}{ \u{201C}to\u{201D}: \u{201C}91\u{201D} }\u{2019} \u{2018}<'+'?'+'php'+ ` $curl = curl_init();";
        let c = commands(text);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].url, "https://{{d}}/api/{{k}}/messages");
        assert_eq!(c[0].method, "POST");
        assert_eq!(c[0].header("content-type"), Some("application/json"));
        assert_eq!(c[0].body.as_deref(), Some("{ \"to\": \"91\" }"));
    }

    #[test]
    fn a_url_given_first_and_data_raw() {
        let text = "curl --location --request POST 'https://x.test/api/v19.0//messages' \\\n--header 'Authorization: Bearer <token>' \\\n--data-raw '{\"b\": 2}'\n\nResponses";
        let c = commands(text);
        assert_eq!(c[0].url, "https://x.test/api/v19.0//messages");
        assert_eq!(c[0].body.as_deref(), Some("{\"b\": 2}"));
        assert!(commands("no curl here; curl_init() neither").is_empty());
    }

    /// The seed pages' own commands: Talqui's, Pingtochat's, Chakra's (Connectly's page has
    /// none).
    #[test]
    fn the_seed_pages_commands() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/seeds");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        let found: Vec<Vec<Curl>> = names
            .iter()
            .map(|p| commands(&std::fs::read_to_string(p).unwrap()))
            .collect();
        let urls: Vec<Vec<&str>> = found
            .iter()
            .map(|c| c.iter().map(|c| c.url.as_str()).collect())
            .collect();
        assert_eq!(
            urls,
            vec![
                vec!["https://api.talqui.chat/tenants/<TENANT_ID>/sessions"],
                vec!["https://{{your_domain}}/api/v1.0/{{phone_number_id}}/{{key}}/messages"],
                vec![
                    "https://api.chakrahq.com/v1/ext/plugin/whatsapp/d83e1d23-50b8-4d87-8f92-842a0ac516f6/api/v19.0//messages"
                ],
                vec![],
            ]
        );
        for c in found.iter().flatten() {
            assert_eq!(c.method, "POST");
            let body: serde_json::Value =
                serde_json::from_str(c.body.as_deref().unwrap()).expect("a JSON body");
            assert!(body.is_object());
        }
        assert_eq!(
            found[0][0].header("authorization"),
            Some("PluginConnection <PLUGIN_CONNECTION_TOKEN>")
        );
    }
}
