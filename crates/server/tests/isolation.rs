//! The isolation suite (issue 16), on both backends: for every route of every surface, read
//! from the source so that it cannot drift, another tenant's id of every kind answers exactly
//! as an unknown id of the same shape does, lists show nothing of another tenant's, writes
//! aimed at another tenant's objects leave them as they were, and admin-only routes refuse a
//! tenant key, all with the same answer. A route in the source without a case here, or a case
//! here without a route, fails the suite: a new route cannot be added without saying how it
//! keeps tenants apart.
//!
//! Tenant A is the harness's; tenant B has its own number, app and channel and, made through
//! the APIs, a message sent and read, an inbound message (so a contact and a session), a
//! template, a campaign, a media, a webhook endpoint, a Connectly webhook, an event and a
//! resumable upload. Each probe calls a route as A with B's id and with an unknown id of the
//! same shape; both answers must be the same once the id itself (and what differs between any
//! two calls: request ids, new ids, times) is replaced by a placeholder, no answer may carry
//! any of B's identifiers, and a probe that could only ever pass (both answers refused before
//! the id was looked at) is itself a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    every_route_keeps_tenants_apart => crate::every_route_keeps_tenants_apart,
}

// ---------------------------------------------------------------------------------------------
// The route table, read from the source.
// ---------------------------------------------------------------------------------------------

/// One route as the source declares it.
#[derive(Debug, Clone)]
struct Declared {
    /// Where it is declared (`file:line`), for the failure messages.
    at: String,
    /// Whether its handler takes the admin extractor (`AdminAuth`).
    admin: bool,
}

/// The HTTP methods a method router names (`get(…).post(…)`), as axum spells them.
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Where the string or char literal starting at `i` ends (the index after it), or `None` when
/// no literal starts there. Raw strings (`r"…"`, `r#"…"#`) are literals too; a lifetime is not.
fn literal_end(b: &[char], i: usize) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    match b[i] {
        '"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    '\\' => j += 2,
                    '"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            Some(b.len())
        }
        'r' if i == 0 || !word(b[i - 1]) => {
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                return None;
            }
            let hashes = j - i - 1;
            j += 1;
            while j < b.len() {
                if b[j] == '"' && (1..=hashes).all(|h| b.get(j + h) == Some(&'#')) {
                    return Some(j + 1 + hashes);
                }
                j += 1;
            }
            Some(b.len())
        }
        '\'' => match (b.get(i + 1), b.get(i + 2)) {
            (Some('\\'), _) => (i + 2..(i + 12).min(b.len()))
                .find(|&j| b[j] == '\'')
                .map(|j| j + 1),
            (Some(_), Some('\'')) => Some(i + 3),
            _ => None,
        },
        _ => None,
    }
}

/// `code` with its comments blanked (literals and line breaks kept): a `.route(` in a doc
/// comment is not a route, and the `//` inside ChakraHQ's `…//messages` path is no comment.
fn strip_comments(code: &str) -> Vec<char> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if b[i] == '/' && b.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.extend([' ', ' ']);
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.extend([' ', ' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(if b[i] == '\n' { '\n' } else { ' ' });
                    i += 1;
                }
            }
        } else if let Some(end) = literal_end(&b, i) {
            out.extend_from_slice(&b[i..end]);
            i = end;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// `code` with its `#[cfg(test)]` items blanked: a unit test's router serves nothing.
fn without_tests(mut code: Vec<char>) -> Vec<char> {
    let mark: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + mark.len() <= code.len() {
        if code[i..i + mark.len()] != mark[..] {
            i += 1;
            continue;
        }
        let Some(open) = (i..code.len()).find(|&j| code[j] == '{' || code[j] == ';') else {
            break;
        };
        let end = if code[open] == '{' {
            closing(&code, open).unwrap_or(code.len() - 1)
        } else {
            open
        };
        for c in &mut code[i..=end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = end + 1;
    }
    code
}

/// The index of the bracket closing the one at `open`.
fn closing(b: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        if let Some(end) = literal_end(b, i) {
            i = end;
            continue;
        }
        match b[i] {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `args` split at its top-level commas.
fn split_args(args: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0, 0);
    while i < args.len() {
        if let Some(end) = literal_end(args, i) {
            i = end;
            continue;
        }
        match args[i] {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(args[start..i].iter().collect::<String>().trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let last: String = args[start..].iter().collect::<String>().trim().to_string();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The value of a string literal expression (`"…"` or `r"…"`), if `e` is one.
fn string_value(e: &str) -> Option<String> {
    let b: Vec<char> = e.trim().chars().collect();
    let end = literal_end(&b, 0)?;
    if end != b.len() || b[0] == '\'' {
        return None;
    }
    if b[0] == 'r' {
        let hashes = b.iter().skip(1).take_while(|c| **c == '#').count();
        return Some(b[hashes + 2..b.len() - 1 - hashes].iter().collect());
    }
    let mut out = String::new();
    let mut i = 1;
    while i < b.len() - 1 {
        if b[i] == '\\' {
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The string constants and `let` bindings of a file (`const PREFIX: &str = "…";`,
/// `let plugin = "…";`), which route paths are built from.
fn bindings(code: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in code.lines() {
        let l = line.trim();
        let l = l.strip_prefix("pub ").unwrap_or(l);
        let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
        let Some(rest) = l
            .strip_prefix("let ")
            .or_else(|| l.strip_prefix("const "))
            .or_else(|| l.strip_prefix("static "))
        else {
            continue;
        };
        let Some((lhs, rhs)) = rest.split_once('=') else {
            continue;
        };
        let name = lhs.split(':').next().unwrap_or_default().trim();
        let Some(value) = rhs.trim().strip_suffix(';').and_then(string_value) else {
            continue;
        };
        if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            out.insert(name.to_string(), value);
        }
    }
    out
}

/// A route path expression's value: a literal, a constant, or a `format!` of constants
/// (`&format!("{plugin}/api/{{version}}//messages")`).
fn path_value(
    expr: &str,
    local: &HashMap<String, String>,
    global: &HashMap<String, String>,
) -> Option<String> {
    let e = expr.trim().trim_start_matches('&').trim();
    let lookup = |name: &str| {
        let name = name.rsplit("::").next().unwrap_or(name);
        local.get(name).or_else(|| global.get(name)).cloned()
    };
    if let Some(s) = string_value(e) {
        return Some(s);
    }
    if let Some(rest) = e.strip_prefix("format!(") {
        let chars: Vec<char> = rest.strip_suffix(')')?.chars().collect();
        let args = split_args(&chars);
        if args.len() != 1 {
            return None; // positional arguments: not understood, so the suite says so
        }
        let fmt: Vec<char> = string_value(&args[0])?.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < fmt.len() {
            match (fmt[i], fmt.get(i + 1)) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    out.push(fmt[i]);
                    i += 2;
                }
                ('{', _) => {
                    let end = (i..fmt.len()).find(|&j| fmt[j] == '}')?;
                    let name: String = fmt[i + 1..end].iter().collect();
                    out.push_str(&lookup(&name)?);
                    i = end + 1;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        return Some(out);
    }
    if e.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
    {
        return lookup(e);
    }
    None
}

/// The parameter list of `fn name` in `code`, if the file has one.
fn fn_params(code: &[char], name: &str) -> Option<String> {
    let text: String = code.iter().collect();
    let mut from = 0;
    while let Some(pos) = text[from..].find(&format!("fn {name}")) {
        let at = from + pos + 3 + name.len();
        from = at;
        let next = text[at..].chars().next()?;
        if next != '(' && next != '<' {
            continue;
        }
        let open = text[at..].find('(')? + at;
        // Char indices equal byte indices only for ASCII; work on chars from here.
        let open_c = text[..open].chars().count();
        let close = closing(code, open_c)?;
        return Some(code[open_c..=close].iter().collect());
    }
    None
}

/// Whether the handler `handler` (as a method router names it in `file`) takes `AdminAuth`;
/// `None` when it cannot be found (a closure takes none, and is `Some(false)`).
fn handler_is_admin(src: &Path, file: &Path, code: &[char], handler: &str) -> Option<bool> {
    let h = handler.trim();
    if h.starts_with('|') || h.starts_with("move") {
        return Some(false);
    }
    let segments: Vec<&str> = h.split("::").map(str::trim).collect();
    let (name, modules) = segments.split_last()?;
    let params = if modules.is_empty() || modules == ["self"] {
        fn_params(code, name)?
    } else {
        // A file's submodules live beside it (`mod.rs`, `lib.rs`) or in its own folder.
        let stem = file.file_stem()?.to_str()?;
        let mut dir = if stem == "mod" || stem == "lib" {
            file.parent()?.to_path_buf()
        } else {
            file.parent()?.join(stem)
        };
        let mut modules = modules;
        if modules.first() == Some(&"crate") {
            dir = src.to_path_buf();
            modules = &modules[1..];
        }
        while modules.first() == Some(&"super") {
            dir = dir.parent()?.to_path_buf();
            modules = &modules[1..];
        }
        let rel: PathBuf = modules.iter().collect();
        let target = [
            dir.join(&rel).with_extension("rs"),
            dir.join(&rel).join("mod.rs"),
        ]
        .into_iter()
        .find(|p| p.is_file())?;
        let other = strip_comments(&std::fs::read_to_string(target).ok()?);
        fn_params(&other, name)?
    };
    Some(params.contains("AdminAuth"))
}

/// The line of char index `i`.
fn line_of(code: &[char], i: usize) -> usize {
    code[..i].iter().filter(|c| **c == '\n').count() + 1
}

/// Every `(METHOD, path)` the gateway's source declares, with where and whether it is admin;
/// and what the reader did not understand (which fails the suite: the reader is to be taught).
///
/// Two forms are read: axum's `.route("<path>", get(h).post(h)…)` (the path a literal, a
/// constant or a `format!` of constants) and utoipa's `#[utoipa::path(<method>, path =
/// "<path>", …)]` on a handler registered with `routes!(…)`. A `.nest(…)`, `.route_service(…)`
/// or `.fallback(…)` would put routes where neither form says: refused until read too.
fn declared_routes() -> (BTreeMap<(String, String), Declared>, Vec<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<(PathBuf, Vec<char>, String)> = rust_files(&src)
        .into_iter()
        .map(|p| {
            let raw = std::fs::read_to_string(&p).unwrap();
            let code = without_tests(strip_comments(&raw));
            let text: String = code.iter().collect();
            (p, code, text)
        })
        .collect();
    let mut global = HashMap::new();
    for (_, _, text) in &files {
        global.extend(bindings(text));
    }
    let mut routes: BTreeMap<(String, String), Declared> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut add = |method: &str, path: String, at: String, admin: bool| {
        let e = routes
            .entry((method.to_ascii_uppercase(), path))
            .or_insert(Declared {
                at: at.clone(),
                admin,
            });
        e.admin |= admin;
    };
    for (file, code, text) in &files {
        let rel = file.strip_prefix(&src).unwrap().display().to_string();
        let local = bindings(text);
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let char_index = |byte: usize| chars.partition_point(|(b, _)| *b < byte);
        for unread in [".nest(", ".nest_service(", ".route_service(", ".fallback("] {
            for (byte, _) in text.match_indices(unread) {
                problems.push(format!(
                    "{rel}:{}: `{unread}…)` places routes this suite does not read yet",
                    line_of(code, char_index(byte))
                ));
            }
        }
        // axum: `.route(<path>, <method router>)`.
        for (byte, _) in text.match_indices(".route(") {
            let open = char_index(byte) + ".route".len();
            let at = format!("{rel}:{}", line_of(code, open));
            let Some(close) = closing(code, open) else {
                problems.push(format!("{at}: an unclosed .route("));
                continue;
            };
            let args = split_args(&code[open + 1..close]);
            let Some(path) = args.first().and_then(|p| path_value(p, &local, &global)) else {
                problems.push(format!(
                    "{at}: a route path this suite cannot read: {args:?}"
                ));
                continue;
            };
            let Some(router) = args.get(1) else {
                problems.push(format!("{at}: a .route( without a method router"));
                continue;
            };
            let r: Vec<char> = router.chars().collect();
            let mut found = 0;
            let (mut i, mut depth) = (0, 0i32);
            while i < r.len() {
                if let Some(end) = literal_end(&r, i) {
                    i = end;
                    continue;
                }
                match r[i] {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    c if depth == 0 && c.is_alphabetic() => {
                        let start = i;
                        while i < r.len() && (r[i].is_alphanumeric() || r[i] == '_') {
                            i += 1;
                        }
                        let word: String = r[start..i].iter().collect();
                        let before = r[..start].iter().rev().find(|c| !c.is_whitespace());
                        let called = r.get(i) == Some(&'(');
                        let chained = matches!(before, None | Some('.') | Some(':'));
                        if called && chained && (word == "any" || word == "on") {
                            problems.push(format!(
                                "{at}: `{word}(…)` serves methods this suite does not list"
                            ));
                        }
                        if called && chained && METHODS.contains(&word.as_str()) {
                            let Some(end) = closing(&r, i) else { break };
                            let handler: String = split_args(&r[i + 1..end])
                                .first()
                                .cloned()
                                .unwrap_or_default();
                            match handler_is_admin(&src, file, code, &handler) {
                                Some(admin) => add(&word, path.clone(), at.clone(), admin),
                                None => problems.push(format!(
                                    "{at}: the handler {handler} of {word} {path} was not found"
                                )),
                            }
                            found += 1;
                        }
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
            if found == 0 {
                problems.push(format!("{at}: no method in the router of {path}: {router}"));
            }
        }
        // utoipa: `#[utoipa::path(get, path = "…", …)]` above the handler.
        for (byte, _) in text.match_indices("utoipa::path(") {
            let open = char_index(byte) + "utoipa::path".len();
            let at = format!("{rel}:{}", line_of(code, open));
            let Some(close) = closing(code, open) else {
                problems.push(format!("{at}: an unclosed utoipa::path("));
                continue;
            };
            let args = split_args(&code[open + 1..close]);
            let value = |key: &str| {
                args.iter().find_map(|a| {
                    let (k, v) = a.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().to_string())
                })
            };
            let methods: Vec<String> = match args.first() {
                Some(m) if METHODS.contains(&m.as_str()) => vec![m.clone()],
                Some(m) if m.starts_with("method(") => m["method(".len()..m.len() - 1]
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
                other => {
                    problems.push(format!("{at}: no method in utoipa::path: {other:?}"));
                    continue;
                }
            };
            let prefix = match value("context_path") {
                Some(c) => path_value(&c, &local, &global).unwrap_or_default(),
                None => String::new(),
            };
            let Some(path) = value("path").and_then(|p| path_value(&p, &local, &global)) else {
                problems.push(format!(
                    "{at}: a utoipa path this suite cannot read: {args:?}"
                ));
                continue;
            };
            // The handler is the next `fn` after the attribute.
            let after: String = code[close..].iter().collect();
            let admin = after
                .find("fn ")
                .and_then(|f| {
                    let name: String = after[f + 3..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    fn_params(&code[close..], &name)
                })
                .map(|p| p.contains("AdminAuth"));
            let Some(admin) = admin else {
                problems.push(format!("{at}: no handler after utoipa::path"));
                continue;
            };
            for m in methods {
                add(&m, format!("{prefix}{path}"), at.clone(), admin);
            }
        }
    }
    for (method, path) in routes.keys() {
        if !path.starts_with('/') {
            problems.push(format!(
                "{method} {path}: a path that does not start with /"
            ));
        }
    }
    (routes, problems)
}

// ---------------------------------------------------------------------------------------------
// The cases: how each route is exercised.
// ---------------------------------------------------------------------------------------------

/// The kinds of identifier a request can carry. Each has tenant A's value, tenant B's, and an
/// unknown one of the same shape as B's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum K {
    Tenant,
    App,
    /// The gateway's channel id (`chn_…`).
    Channel,
    /// Meta's phone number id.
    Pnid,
    Waba,
    /// The business number as displayed.
    Display,
    /// The contact's phone number (`wa_id`), where a route takes it for the contact.
    WaId,
    /// The API key itself (Pingtochat's path): A's own only.
    ApiKey,
    /// An outbound message by gateway id, and by Meta's id.
    Message,
    Wamid,
    /// An inbound message by gateway id, and by Meta's id.
    Inbound,
    InboundWamid,
    Contact,
    Session,
    /// A template by gateway id, by Meta's id, and by name.
    Template,
    MetaTemplate,
    TemplateName,
    Campaign,
    CampaignName,
    Media,
    /// The query of a media's signed public link (`expires=…&signature=…`): A's own only.
    MediaLink,
    /// A native webhook endpoint, and a Connectly webhook (an endpoint in its format).
    Endpoint,
    Hook,
    Event,
    /// A resumable upload session of the Graph surface (`upload:…`).
    Upload,
}

/// Every kind, to fill a template's `@Kind@` marks.
const ALL: [K; 25] = [
    K::Tenant,
    K::App,
    K::Channel,
    K::Pnid,
    K::Waba,
    K::Display,
    K::WaId,
    K::ApiKey,
    K::Message,
    K::Wamid,
    K::Inbound,
    K::InboundWamid,
    K::Contact,
    K::Session,
    K::Template,
    K::MetaTemplate,
    K::TemplateName,
    K::Campaign,
    K::CampaignName,
    K::Media,
    K::MediaLink,
    K::Endpoint,
    K::Hook,
    K::Event,
    K::Upload,
];

/// Which credential a route takes, always tenant A's key (or, for admin routes, A's key where
/// an admin key belongs).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cred {
    /// `Authorization: Bearer <key>` (native, Graph, ChakraHQ).
    Bearer,
    /// Talqui's `Authorization: PluginConnection <key>`.
    PluginConnection,
    /// Connectly's `X-API-Key`.
    XApiKey,
    /// Nothing (public links, health, Pingtochat's key in the path).
    Nothing,
    /// Meta's `X-Hub-Signature-256` with tenant A's app secret.
    MetaSignature,
}

/// What a path parameter is filled with.
#[derive(Debug, Clone, Copy)]
enum Fill {
    Fixed(&'static str),
    /// Tenant A's value of that kind, never another's.
    Own(K),
    /// An id the probes vary over these kinds (tenant A's value of the first otherwise).
    Id(&'static [K]),
}

/// A request body, with `@Kind@` placeholders for tenant A's values, `@REF@` for the id a
/// probe varies and `@NOW@` for the time in Unix seconds.
#[derive(Debug, Clone, Copy)]
enum Body {
    Empty,
    Json(&'static str),
    Csv(&'static str),
    /// A small PNG, as its raw bytes.
    Png,
    /// Meta's multipart media upload (`messaging_product`, `type`, `file`).
    MediaForm,
}

/// What shows that a probe looked at its id (else it could only ever pass).
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// The same call with tenant A's own value answers otherwise (used where that call
    /// changes nothing, or nothing that matters).
    Own,
    /// The answer to the unknown id names it (a refusal about that id).
    Names,
    /// Neither applies; why.
    Not(&'static str),
}

/// One probe of a route: an id varied over kinds, in a path parameter or as `@REF@`.
#[derive(Debug, Clone)]
struct Probe {
    /// The path parameter varied; `None`: `@REF@` in the body and query.
    param: Option<&'static str>,
    kinds: &'static [K],
    body: Option<Body>,
    query: Option<&'static str>,
    guard: Option<Guard>,
    /// Whether a call keeps the id given in tenant A's own objects (a reply context passed on
    /// as given): such probes run after every other, so that no later answer to A carries
    /// B's id because A itself stored it.
    stores: bool,
}

impl Probe {
    /// A probe over `kinds`, of `@REF@` in the route's own body and query; the builders of
    /// [`Case`] say where else.
    fn new(kinds: &'static [K]) -> Probe {
        Probe {
            param: None,
            kinds,
            body: None,
            query: None,
            guard: None,
            stores: false,
        }
    }
}

/// What a route is checked for.
#[derive(Debug, Clone)]
enum Check {
    /// A tenant's route: its probes, and, for a list, the kind its rows are.
    Tenant,
    /// Admin only: a tenant key is refused, as on every other admin route.
    Admin,
    /// Answers the same to a tenant key as to no credential (`/metrics`).
    AsAnonymous,
    /// Creates for the key's tenant from nothing another tenant owns: called as A, it works
    /// and shows nothing of B's. Why nothing else applies.
    Creates(&'static str),
    /// No tenant's object is named or shown; why. Called as A, it shows nothing of B's.
    Unscoped(&'static str),
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: &'static str,
    cred: Cred,
    params: Vec<(&'static str, Fill)>,
    body: Body,
    query: &'static str,
    probes: Vec<Probe>,
    /// A list: tenant A's own value of this kind shows in it (and nothing of B's, as for
    /// every answer).
    lists: Option<K>,
    check: Check,
}

/// A tenant route's case, called with a bearer key, to be filled in.
fn route(method: &'static str, path: &'static str) -> Case {
    Case {
        method,
        path,
        cred: Cred::Bearer,
        params: Vec::new(),
        body: Body::Empty,
        query: "",
        probes: Vec::new(),
        lists: None,
        check: Check::Tenant,
    }
}

impl Case {
    fn cred(mut self, c: Cred) -> Case {
        self.cred = c;
        self
    }
    fn fixed(mut self, name: &'static str, v: &'static str) -> Case {
        self.params.push((name, Fill::Fixed(v)));
        self
    }
    fn version(self) -> Case {
        self.fixed("version", "v21.0")
    }
    fn own(mut self, name: &'static str, k: K) -> Case {
        self.params.push((name, Fill::Own(k)));
        self
    }
    /// A path parameter probed over `kinds`.
    fn id(mut self, name: &'static str, kinds: &'static [K]) -> Case {
        self.params.push((name, Fill::Id(kinds)));
        self.probes.push(Probe {
            param: Some(name),
            ..Probe::new(kinds)
        });
        self
    }
    fn json(mut self, body: &'static str) -> Case {
        self.body = Body::Json(body);
        self
    }
    fn body(mut self, body: Body) -> Case {
        self.body = body;
        self
    }
    fn query(mut self, q: &'static str) -> Case {
        self.query = q;
        self
    }
    /// `@REF@` in the route's own body and query, probed over `kinds`.
    fn refs(mut self, kinds: &'static [K]) -> Case {
        self.probes.push(Probe::new(kinds));
        self
    }
    /// `@REF@` in this JSON body, probed over `kinds`.
    fn refs_in(mut self, body: &'static str, kinds: &'static [K]) -> Case {
        self.probes.push(Probe {
            body: Some(Body::Json(body)),
            ..Probe::new(kinds)
        });
        self
    }
    /// `@REF@` in this query, probed over `kinds`.
    fn refs_at(mut self, query: &'static str, kinds: &'static [K]) -> Case {
        self.probes.push(Probe {
            query: Some(query),
            ..Probe::new(kinds)
        });
        self
    }
    /// The guard of the last probe.
    fn guard(mut self, g: Guard) -> Case {
        self.probes.last_mut().expect("a probe to guard").guard = Some(g);
        self
    }
    /// The last probe keeps the id it is given in A's objects (see [`Probe::stores`]).
    fn stores(mut self) -> Case {
        self.probes.last_mut().expect("a probe").stores = true;
        self
    }
    fn lists(mut self, k: K) -> Case {
        self.lists = Some(k);
        self
    }
    fn admin(mut self) -> Case {
        self.check = Check::Admin;
        self
    }
    fn check(mut self, c: Check) -> Case {
        self.check = c;
        self
    }
}

/// Probed channels: by Meta's phone number id and by the gateway's id.
const CHANNEL: &[K] = &[K::Pnid, K::Channel];
/// Probed templates: by the gateway's id and by Meta's.
const TEMPLATE: &[K] = &[K::Template, K::MetaTemplate];

/// Every route of the gateway and how it is exercised.
fn cases() -> Vec<Case> {
    use K::*;
    let reply_to = r#"{"channel": "@Pnid@", "to": "@WaId@", "type": "text", "text": {"body": "re"}, "context": {"message_id": "@REF@"}}"#;
    let read_it = r#"{"channel": "@Pnid@", "messaging_product": "whatsapp", "status": "read", "message_id": "@REF@"}"#;
    let image_of =
        r#"{"channel": "@Pnid@", "to": "@WaId@", "type": "image", "image": {"id": "@REF@"}}"#;
    let template_named = r#"{"channel": "@Pnid@", "to": "@WaId@", "type": "template", "template": {"name": "@REF@", "language": {"code": "en_US"}}}"#;
    let wamid_context: Guard = Guard::Not(
        "a wamid in a reply context is Meta's to resolve: the gateway passes it on as given, \
         whoever's it is, so both sends are queued alike",
    );
    let graph_text = r#"{"messaging_product": "whatsapp", "to": "@WaId@", "type": "text", "text": {"body": "probe"}}"#;
    let graph_reply = r#"{"messaging_product": "whatsapp", "to": "@WaId@", "type": "text", "text": {"body": "re"}, "context": {"message_id": "@REF@"}}"#;
    let graph_read =
        r#"{"messaging_product": "whatsapp", "status": "read", "message_id": "@REF@"}"#;
    let graph_image = r#"{"messaging_product": "whatsapp", "to": "@WaId@", "type": "image", "image": {"id": "@REF@"}}"#;
    let graph_template = r#"{"messaging_product": "whatsapp", "to": "@WaId@", "type": "template", "template": {"name": "@REF@", "language": {"code": "en_US"}}}"#;
    let graph_order_update = r#"{"messaging_product": "whatsapp", "to": "@WaId@", "type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}}}"#;
    let definition = r#"{"name": "isolation_probe", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "An isolation probe."}]}"#;
    let edit = r#"{"components": [{"type": "BODY", "text": "Changed by another tenant."}]}"#;
    let campaign_on = r#"{"name": "probe", "channel": "@REF@", "template": {"name": "spring_offer", "language": "en_US", "variables": ["{{first_name}}", "{{discount}}"]}}"#;
    let campaign_of = r#"{"name": "probe", "channel": "@Pnid@", "template": {"name": "@REF@", "language": "en_US", "variables": ["{{first_name}}", "{{discount}}"]}}"#;
    let session_start = r#"{"channel": "@REF@", "contact": {"wa_id": "@WaId@"}, "message": {"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}}}}"#;
    let talqui = r#"{"channel": "urn:talqui:whatsapp-cloud:0", "pluginConnectionID": "@Pnid@", "contactFullName": "Ana", "contactExternalID": "@WaId@", "messageKey": "text", "messageValue": "probe", "sessionKind": "marketing", "sessionType": "auto", "campaignVariables": []}"#;
    let talqui_on = r#"{"channel": "urn:talqui:whatsapp-cloud:0", "pluginConnectionID": "@REF@", "contactFullName": "Ana", "contactExternalID": "@WaId@", "messageKey": "text", "messageValue": "probe", "sessionKind": "marketing", "sessionType": "auto", "campaignVariables": []}"#;
    let talqui_model = r#"{"channel": "urn:talqui:whatsapp-cloud:0", "pluginConnectionID": "@Pnid@", "contactFullName": "Ana", "contactExternalID": "@WaId@", "messageKey": "text", "messageValue": "probe", "sessionKind": "marketing", "sessionType": "auto", "campaignVariables": [], "campaignModelID": "@REF@"}"#;
    let chakra_template = r#"{"templateName": "order_update", "languageCode": "en_US"}"#;
    let chakra_template_on = r#"{"templateName": "order_update", "languageCode": "en_US", "whatsappPhoneNumberId": "@REF@"}"#;
    let chakra_template_named = r#"{"templateName": "@REF@", "languageCode": "en_US"}"#;
    let connectly_text = r#"{"number": "+@WaId@", "sender": "@Pnid@", "text": "probe"}"#;
    let connectly_text_from = r#"{"number": "+@WaId@", "sender": "@REF@", "text": "probe"}"#;
    let connectly_template = r#"{"number": "+@WaId@", "sender": "@Pnid@", "templateName": "order_update", "language": "en_US"}"#;
    let connectly_template_from = r#"{"number": "+@WaId@", "sender": "@REF@", "templateName": "order_update", "language": "en_US"}"#;
    let connectly_template_named = r#"{"number": "+@WaId@", "sender": "@Pnid@", "templateName": "@REF@", "language": "en_US"}"#;
    let connectly_create = r#"{"name": "isolation_probe", "language": {"code": "en_US"}, "category": "MESSAGE_TEMPLATE_GROUP_CATEGORY_UTILITY", "template_components": [{"body": {"text": {"text": "An isolation probe."}}}], "sender": "@Pnid@"}"#;
    let connectly_create_on = r#"{"name": "isolation_probe", "language": {"code": "en_US"}, "category": "MESSAGE_TEMPLATE_GROUP_CATEGORY_UTILITY", "template_components": [{"body": {"text": {"text": "An isolation probe."}}}], "sender": "@REF@"}"#;
    let sendout = r#"{"entries": [{"client": "+@WaId@", "campaignName": "@CampaignName@", "variables": {"first_name": "Ana", "discount": "5%"}}]}"#;
    let sendout_of = r#"{"entries": [{"client": "+@WaId@", "campaignName": "@REF@", "variables": {"first_name": "Ana", "discount": "5%"}}]}"#;
    let meta_payload = r#"{"object": "whatsapp_business_account", "entry": [{"id": "@Waba@", "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "@Display@", "phone_number_id": "@REF@"}, "contacts": [{"profile": {"name": "Mallory"}, "wa_id": "15557770099"}], "messages": [{"from": "15557770099", "id": "wamid.isolation-probe", "timestamp": "@NOW@", "type": "text", "text": {"body": "probe"}}]}}]}]}"#;
    let endpoint_id: &[K] = &[Endpoint, Hook];
    let hook_id: &[K] = &[Hook, Endpoint];
    vec![
        // Health and metrics.
        route("GET", "/healthz").cred(Cred::Nothing).check(Check::Unscoped(
            "liveness: no credential, no tenant's object",
        )),
        route("GET", "/readyz").cred(Cred::Nothing).check(Check::Unscoped(
            "readiness: the database and the workers, no tenant's object",
        )),
        route("GET", "/metrics").check(Check::AsAnonymous),
        // The native API's description, the same to every caller.
        route("GET", "/openapi.json").check(Check::AsAnonymous),
        route("GET", "/docs").check(Check::AsAnonymous),
        // Meta's webhooks.
        route("GET", "/webhooks/whatsapp").cred(Cred::Nothing).check(Check::Unscoped(
            "Meta's verification handshake: its verify token is the credential and it names no \
             tenant's object",
        )),
        route("POST", "/webhooks/whatsapp")
            .cred(Cred::MetaSignature)
            .json(meta_payload)
            .refs(&[Pnid])
            .guard(Guard::Own),
        // Native: messages.
        route("POST", "/v1/messages")
            .json(r#"{"channel": "@REF@", "to": "@WaId@", "type": "text", "text": {"body": "probe"}}"#)
            .refs(CHANNEL)
            .refs_in(reply_to, &[Message, Inbound])
            .refs_in(reply_to, &[Wamid, InboundWamid])
            .guard(wamid_context)
            .stores()
            .refs_in(read_it, &[Inbound, InboundWamid])
            .refs_in(image_of, &[Media])
            .refs_in(template_named, &[TemplateName]),
        route("GET", "/v1/messages")
            .query("limit=100")
            .lists(Message)
            .refs_at("channel=@REF@", CHANNEL)
            .refs_at("session=@REF@", &[Session])
            .refs_at("to=@REF@", &[WaId]),
        route("GET", "/v1/messages/{id}").id("id", &[Message, Wamid, Inbound, InboundWamid]),
        // Native: sessions.
        route("POST", "/v1/sessions").json(session_start).refs(CHANNEL),
        route("GET", "/v1/sessions")
            .query("limit=100")
            .lists(Session)
            .refs_at("channel=@REF@", CHANNEL)
            .refs_at("contact=@REF@", &[Contact, WaId]),
        route("GET", "/v1/sessions/{id}").id("id", &[Session]),
        route("POST", "/v1/sessions/{id}/close").id("id", &[Session]),
        route("POST", "/v1/sessions/{id}/messages")
            .json(r#"{"type": "text", "text": {"body": "probe"}}"#)
            .id("id", &[Session]),
        route("GET", "/v1/sessions/{id}/messages").id("id", &[Session]),
        // Native: contacts.
        route("GET", "/v1/contacts")
            .query("limit=100")
            .lists(Contact)
            .refs_at("wa_id=@REF@", &[WaId]),
        route("GET", "/v1/contacts/{id}").id("id", &[Contact, WaId]),
        route("PATCH", "/v1/contacts/{id}")
            .json(r#"{"name": "Mallory", "attributes": {"tier": "stolen"}}"#)
            .id("id", &[Contact, WaId]),
        // Native: templates.
        route("POST", "/v1/templates")
            .json(r#"{"channel": "@REF@", "name": "isolation_probe", "language": "en_US", "category": "UTILITY", "components": [{"type": "BODY", "text": "An isolation probe."}]}"#)
            .refs(&[Pnid, Channel, Waba]),
        route("GET", "/v1/templates")
            .query("limit=100")
            .lists(Template)
            .refs_at("channel=@REF@", &[Pnid, Channel, Waba])
            .refs_at("name=@REF@", &[TemplateName]),
        route("DELETE", "/v1/templates")
            .refs_at("channel=@REF@&name=order_update", &[Pnid, Channel, Waba])
            .refs_at("channel=@Pnid@&name=@REF@", &[TemplateName]),
        route("POST", "/v1/templates/sync")
            .json(r#"{"channel": "@REF@"}"#)
            .refs(&[Pnid, Channel, Waba]),
        route("GET", "/v1/templates/{id}").id("id", TEMPLATE),
        route("PATCH", "/v1/templates/{id}").json(edit).id("id", TEMPLATE),
        route("DELETE", "/v1/templates/{id}").id("id", TEMPLATE),
        route("POST", "/v1/templates/{id}/preview")
            .json("{}")
            .id("id", TEMPLATE)
            .guard(Guard::Own),
        route("GET", "/v1/templates/{id}/history").id("id", TEMPLATE),
        // Native: campaigns.
        route("POST", "/v1/campaigns")
            .json(campaign_on)
            .refs(CHANNEL)
            .refs_in(campaign_of, &[TemplateName]),
        route("GET", "/v1/campaigns")
            .query("limit=100")
            .lists(Campaign)
            .refs_at("channel=@REF@", CHANNEL),
        route("GET", "/v1/campaigns/{id}").id("id", &[Campaign]),
        route("DELETE", "/v1/campaigns/{id}").id("id", &[Campaign]),
        route("POST", "/v1/campaigns/{id}/recipients")
            .body(Body::Csv("phone,first_name,discount\n+15551230077,Eve,90%\n"))
            .id("id", &[Campaign]),
        route("GET", "/v1/campaigns/{id}/recipients").id("id", &[Campaign]),
        route("GET", "/v1/campaigns/{id}/report").id("id", &[Campaign]),
        route("POST", "/v1/campaigns/{id}/start").id("id", &[Campaign]),
        route("POST", "/v1/campaigns/{id}/pause").id("id", &[Campaign]),
        route("POST", "/v1/campaigns/{id}/resume").id("id", &[Campaign]),
        route("POST", "/v1/campaigns/{id}/cancel").id("id", &[Campaign]),
        route("POST", "/v1/campaigns/{id}/retry")
            .json(r#"{"codes": ["131026"]}"#)
            .id("id", &[Campaign]),
        // Native: media.
        route("POST", "/v1/media")
            .body(Body::Png)
            .query("filename=probe.png")
            .check(Check::Creates("an upload names no object: the bytes become the key's tenant's media")),
        route("GET", "/v1/media/{id}").id("id", &[Media]),
        route("DELETE", "/v1/media/{id}").id("id", &[Media]),
        route("GET", "/v1/media/{id}/content").id("id", &[Media]),
        // Native: webhook endpoints.
        route("POST", "/v1/webhook-endpoints")
            .json(r#"{"url": "http://127.0.0.1:9/isolation-probe", "events": ["session.*"], "enabled": false}"#)
            .check(Check::Creates("an endpoint names no object: it is made for the key's tenant, and only that tenant's events reach it")),
        route("GET", "/v1/webhook-endpoints")
            .query("limit=100")
            .lists(Endpoint),
        route("GET", "/v1/webhook-endpoints/{id}").id("id", endpoint_id),
        route("PATCH", "/v1/webhook-endpoints/{id}")
            .json(r#"{"url": "http://127.0.0.1:9/stolen", "enabled": true}"#)
            .id("id", endpoint_id),
        route("DELETE", "/v1/webhook-endpoints/{id}").id("id", endpoint_id),
        route("POST", "/v1/webhook-endpoints/{id}/rotate-secret").id("id", endpoint_id),
        route("GET", "/v1/webhook-endpoints/{id}/deliveries")
            .id("id", endpoint_id)
            .refs_at("event_id=@REF@", &[Event])
            .guard(Guard::Not(
                "a filter on the tenant's own endpoint: neither another tenant's event nor an \
                 unknown one selects any of its deliveries",
            )),
        route("POST", "/v1/webhook-endpoints/{id}/replay")
            .json(r#"{"event_id": "@Event@"}"#)
            .id("id", endpoint_id)
            .refs_in(r#"{"event_id": "@REF@"}"#, &[Event]),
        // Native: events.
        route("GET", "/v1/events").query("limit=100").lists(Event),
        route("GET", "/v1/events/{id}").id("id", &[Event]),
        // Native: admin.
        route("POST", "/v1/tenants").admin(),
        route("GET", "/v1/tenants").admin(),
        route("GET", "/v1/tenants/{id}").own("id", Tenant).admin(),
        route("POST", "/v1/api-keys").admin(),
        route("GET", "/v1/api-keys").admin(),
        route("DELETE", "/v1/api-keys/{id}")
            .fixed("id", "key_00000000000000000000000000")
            .admin(),
        route("POST", "/v1/apps").admin(),
        route("GET", "/v1/apps").admin(),
        route("GET", "/v1/apps/{id}").own("id", App).admin(),
        route("PATCH", "/v1/apps/{id}").own("id", App).admin(),
        route("POST", "/v1/apps/{id}/rotate-secret").own("id", App).admin(),
        route("POST", "/v1/channels").admin(),
        route("GET", "/v1/channels").admin(),
        route("GET", "/v1/channels/{id}").own("id", Channel).admin(),
        route("PATCH", "/v1/channels/{id}").own("id", Channel).admin(),
        // The Cloud API surface.
        route("POST", "/{version}/{phone_number_id}/messages")
            .version()
            .json(graph_text)
            .id("phone_number_id", CHANNEL)
            .refs_in(graph_reply, &[Message, Inbound])
            .refs_in(graph_reply, &[Wamid, InboundWamid])
            .guard(wamid_context)
            .stores()
            .refs_in(graph_read, &[Inbound, InboundWamid])
            .refs_in(graph_image, &[Media])
            .refs_in(graph_template, &[TemplateName]),
        route("GET", "/{version}/{phone_number_id}/message_templates")
            .version()
            .id("phone_number_id", &[Waba, Pnid, Channel])
            .lists(MetaTemplate),
        route("POST", "/{version}/{phone_number_id}/message_templates")
            .version()
            .json(definition)
            .id("phone_number_id", &[Waba, Pnid, Channel]),
        route("DELETE", "/{version}/{phone_number_id}/message_templates")
            .version()
            .query("name=order_update")
            .id("phone_number_id", &[Waba, Pnid, Channel])
            .refs_at("name=@REF@", &[TemplateName])
            .refs_at("name=spring_offer&hsm_id=@REF@", &[MetaTemplate, Template]),
        route("POST", "/{version}/{phone_number_id}/media")
            .version()
            .body(Body::MediaForm)
            .id("phone_number_id", CHANNEL),
        route("POST", "/{version}/{phone_number_id}/uploads")
            .version()
            .query("file_name=probe.png&file_length=100&file_type=image/png")
            .id("phone_number_id", &[App])
            .guard(Guard::Not(
                "Meta's resumable upload names the app in its path; the gateway starts the \
                 session for the key's tenant and reads no app there, so any id answers alike",
            )),
        route("GET", "/{version}/{phone_number_id}")
            .version()
            .id("phone_number_id", &[Media, Template, MetaTemplate, Upload]),
        route("POST", "/{version}/{phone_number_id}")
            .version()
            .json(edit)
            .id("phone_number_id", &[MetaTemplate, Template, Upload]),
        route("DELETE", "/{version}/{phone_number_id}")
            .version()
            .id("phone_number_id", &[Media]),
        // Talqui.
        route("POST", "/tenants/{tenantID}/sessions")
            .cred(Cred::PluginConnection)
            .json(talqui)
            .id("tenantID", &[Tenant])
            .refs_in(talqui_on, CHANNEL)
            .refs_in(talqui_model, &[Template, MetaTemplate, TemplateName]),
        // Pingtochat: the key in the path.
        route("POST", "/api/v1.0/{phone_number_id}/{key}/simpleMessages")
            .cred(Cred::Nothing)
            .own("key", ApiKey)
            .json(graph_text)
            .id("phone_number_id", CHANNEL),
        route("POST", "/api/v1.0/{phone_number_id}/{key}/messages")
            .cred(Cred::Nothing)
            .own("key", ApiKey)
            .json(graph_order_update)
            .id("phone_number_id", CHANNEL)
            .refs_in(graph_template, &[TemplateName]),
        route("POST", "/api/v1.0/{phone_number_id}/{key}/message_templates")
            .cred(Cred::Nothing)
            .own("key", ApiKey)
            .json(definition)
            .id("phone_number_id", CHANNEL),
        route("POST", "/api/v1.0/{phone_number_id}/{key}/{template_id}/template_update")
            .cred(Cred::Nothing)
            .own("key", ApiKey)
            .json(edit)
            .id("phone_number_id", CHANNEL)
            .id("template_id", &[MetaTemplate, Template]),
        // ChakraHQ.
        route("POST", "/v1/ext/plugin/whatsapp/{pluginId}/api/{version}/{phoneNumberId}/messages")
            .version()
            .json(graph_text)
            .id("pluginId", &[App])
            .id("phoneNumberId", CHANNEL)
            .refs_in(graph_reply, &[Message, Inbound])
            .refs_in(graph_read, &[Inbound, InboundWamid]),
        route("POST", "/v1/ext/plugin/whatsapp/{pluginId}/api/{version}//messages")
            .version()
            .json(graph_text)
            .id("pluginId", &[App]),
        route("POST", "/v1/ext/plugin/whatsapp/{pluginId}/phoneNumber/{phone}/send-template-message")
            .own("phone", WaId)
            .json(chakra_template)
            .id("pluginId", &[App])
            .refs_in(chakra_template_on, CHANNEL)
            .refs_in(chakra_template_named, &[TemplateName]),
        route("POST", "/v1/ext/plugin/whatsapp/{pluginId}/process/phoneNumber/{phone}/send-template-message")
            .own("phone", WaId)
            .json(chakra_template)
            .id("pluginId", &[App])
            .refs_in(chakra_template_on, CHANNEL)
            .refs_in(chakra_template_named, &[TemplateName]),
        route("POST", "/v1/ext/plugin/whatsapp/api/{version}/{wabaId}/message_templates")
            .version()
            .json(definition)
            .id("wabaId", &[Waba, Pnid, Channel]),
        route("GET", "/v1/ext/plugin/whatsapp/api/{version}/{wabaId}/message_templates")
            .version()
            .id("wabaId", &[Waba, Pnid, Channel])
            .lists(MetaTemplate),
        route("POST", "/v1/ext/plugin/whatsapp/api/{version}/{templateId}")
            .version()
            .json(edit)
            .id("templateId", &[MetaTemplate, Template]),
        route("POST", "/v1/ext/plugin/whatsapp/{pluginId}/upload-public-media")
            .body(Body::Png)
            .query("filename=probe.png")
            .id("pluginId", &[App]),
        route("GET", "/v1/ext/plugin/whatsapp/{pluginId}/public-media/{id}")
            .cred(Cred::Nothing)
            .query("@MediaLink@")
            .id("pluginId", &[App])
            .id("id", &[Media]),
        route("GET", "/v1/whatsapp/{version}/media/{id}")
            .version()
            .id("id", &[Media]),
        // Connectly.
        route("POST", "/v1/businesses/{businessId}/send/messages")
            .cred(Cred::XApiKey)
            .json(connectly_text)
            .id("businessId", &[Tenant])
            .refs_in(connectly_text_from, &[Pnid, Channel, Display]),
        route("POST", "/v1/businesses/{businessId}/send/whatsapp_templated_messages")
            .cred(Cred::XApiKey)
            .json(connectly_template)
            .id("businessId", &[Tenant])
            .refs_in(connectly_template_from, &[Pnid, Channel, Display])
            .refs_in(connectly_template_named, &[TemplateName]),
        route("POST", "/v1/businesses/{businessId}/create/template")
            .cred(Cred::XApiKey)
            .json(connectly_create)
            .id("businessId", &[Tenant])
            .refs_in(connectly_create_on, &[Pnid, Channel, Display]),
        route("GET", "/v1/businesses/{businessId}/get/templates")
            .cred(Cred::XApiKey)
            .id("businessId", &[Tenant])
            .lists(TemplateName),
        route("POST", "/v1/businesses/{businessId}/get/templates")
            .cred(Cred::XApiKey)
            .json("{}")
            .id("businessId", &[Tenant])
            .guard(Guard::Own)
            .lists(TemplateName),
        route("POST", "/v1/businesses/{businessId}/send/campaigns")
            .cred(Cred::XApiKey)
            .json(sendout)
            .id("businessId", &[Tenant])
            .refs_in(sendout_of, &[CampaignName]),
        route("POST", "/v1/businesses/{businessId}/assets")
            .cred(Cred::XApiKey)
            .json(r#"{"uri": "http://127.0.0.1:9/probe.png"}"#)
            .id("businessId", &[Tenant]),
        route("GET", "/v1/businesses/{businessId}/assets/{assetId}")
            .cred(Cred::XApiKey)
            .id("businessId", &[Tenant])
            .id("assetId", &[Media]),
        route("GET", "/v1/businesses/{businessId}/assets/{assetId}/content")
            .cred(Cred::Nothing)
            .query("@MediaLink@")
            .id("businessId", &[Tenant])
            .id("assetId", &[Media]),
        route("POST", "/v1/businesses/{businessId}/create/webhooks")
            .cred(Cred::XApiKey)
            .json(r#"{"topic": "delivery_status", "address": "http://127.0.0.1:9/isolation-probe"}"#)
            .id("businessId", &[Tenant]),
        route("GET", "/v1/businesses/{businessId}/webhooks")
            .cred(Cred::XApiKey)
            .id("businessId", &[Tenant])
            .lists(Hook),
        route("PUT", "/v1/businesses/{businessId}/update/webhooks/{webhookId}")
            .cred(Cred::XApiKey)
            .json(r#"{"address": "http://127.0.0.1:9/stolen"}"#)
            .id("businessId", &[Tenant])
            .id("webhookId", hook_id),
        route("DELETE", "/v1/businesses/{businessId}/delete/webhooks/{webhookId}")
            .cred(Cred::XApiKey)
            .id("businessId", &[Tenant])
            .id("webhookId", hook_id),
    ]
}

/// The route table and the cases agree: each declared route has exactly one case, each case
/// a declared route, and the cases marked admin are exactly the routes whose handler takes the
/// admin extractor.
fn table_problems() -> Vec<String> {
    let (declared, mut problems) = declared_routes();
    let cases = cases();
    let mut seen = BTreeSet::new();
    for c in &cases {
        let key = (c.method.to_string(), c.path.to_string());
        if !seen.insert(key.clone()) {
            problems.push(format!("two cases for {} {}", c.method, c.path));
        }
        match declared.get(&key) {
            None => problems.push(format!(
                "a case without a route: {} {} is declared nowhere in crates/server/src",
                c.method, c.path
            )),
            Some(d) => {
                let admin_case = matches!(c.check, Check::Admin);
                if d.admin != admin_case {
                    problems.push(format!(
                        "{} {} ({}): its handler {} the admin extractor but its case {}",
                        c.method,
                        c.path,
                        d.at,
                        if d.admin { "takes" } else { "does not take" },
                        if admin_case { "is admin" } else { "is not" },
                    ));
                }
            }
        }
        let mut names: Vec<&str> = c.params.iter().map(|(n, _)| *n).collect();
        names.sort();
        let mut in_path: Vec<&str> = c
            .path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(n, _)| n))
            .collect();
        in_path.sort();
        if names != in_path {
            problems.push(format!(
                "{} {}: the case fills {names:?}, the path has {in_path:?}",
                c.method, c.path
            ));
        }
        if matches!(c.check, Check::Tenant) && c.probes.is_empty() && c.lists.is_none() {
            problems.push(format!(
                "{} {}: a tenant route with neither probes nor a list to check",
                c.method, c.path
            ));
        }
    }
    for ((method, path), d) in &declared {
        if !seen.contains(&(method.clone(), path.clone())) {
            problems.push(format!(
                "a route without a case: {method} {path} ({}); add one to tests/isolation.rs",
                d.at
            ));
        }
    }
    problems
}

#[test]
fn every_route_has_a_case_and_every_case_a_route() {
    let problems = table_problems();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_route_reader_reads_both_forms() {
    // The reader is what makes the table complete: it must see through comments, constants,
    // `format!`, multi-line calls and utoipa's attribute.
    let code = r#"
        // .route("/commented", get(nothing))
        const BASE: &str = "/v9/things";
        pub fn routes() -> Router<Core> {
            let plugin = "/p/{pluginId}";
            Router::new()
                .route(
                    &format!("{plugin}/api/{{version}}//messages"),
                    post(send).layer(DefaultBodyLimit::max(10)),
                )
                .route(BASE, get(list).delete(remove))
        }
        #[utoipa::path(patch, path = "/v9/things/{id}", responses((status = 200)))]
        async fn edit(_: AdminAuth, Path(id): Path<String>) {}
        #[cfg(test)]
        mod tests {
            fn app() -> Router { Router::new().route("/only-in-a-test", get(|| async {})) }
        }
    "#;
    let stripped = without_tests(strip_comments(code));
    let text: String = stripped.iter().collect();
    assert!(!text.contains("/commented"));
    assert!(!text.contains("/only-in-a-test"), "{text}");
    assert!(text.contains("fn edit"), "{text}");
    assert!(text.contains(r#""/p/{pluginId}""#), "{text}");
    let local = bindings(&text);
    assert_eq!(local["BASE"], "/v9/things");
    assert_eq!(
        path_value(
            r#"&format!("{plugin}/api/{{version}}//messages")"#,
            &local,
            &HashMap::new()
        )
        .as_deref(),
        Some("/p/{pluginId}/api/{version}//messages")
    );
    assert_eq!(
        path_value("BASE", &local, &HashMap::new()).as_deref(),
        Some("/v9/things")
    );
    let params = fn_params(&stripped, "edit").unwrap();
    assert!(params.contains("AdminAuth"), "{params}");
    // The gateway's own table has the routes of each form it uses today, ChakraHQ's
    // `format!` paths and the metrics route among them.
    let (declared, problems) = declared_routes();
    assert!(problems.is_empty(), "{problems:#?}");
    for (method, path) in [
        ("GET", "/v1/messages/{id}"),
        (
            "POST",
            "/v1/ext/plugin/whatsapp/{pluginId}/api/{version}//messages",
        ),
        ("DELETE", "/{version}/{phone_number_id}"),
        ("GET", "/metrics"),
    ] {
        assert!(
            declared.contains_key(&(method.to_string(), path.to_string())),
            "{method} {path} not read: {:#?}",
            declared.keys()
        );
    }
    assert!(declared[&("POST".into(), "/v1/channels".into())].admin);
    assert!(!declared[&("GET".into(), "/v1/messages/{id}".into())].admin);
}

// ---------------------------------------------------------------------------------------------
// Identifiers: unknown ones of the same shape, and what an answer may not carry.
// ---------------------------------------------------------------------------------------------

/// Crockford's base32 letters, which ULIDs (and so the gateway's ids) use.
const CROCKFORD: &str = "abcdefghjkmnpqrstvwxyz";

/// `c` changed within its class: a digit to another digit, a letter to another letter (a
/// Crockford letter to another), anything else left.
fn shifted(c: char) -> char {
    if let Some(d) = c.to_digit(10) {
        return char::from_digit((d + 5) % 10, 10).unwrap();
    }
    if let Some(i) = CROCKFORD.find(c) {
        return CROCKFORD.as_bytes()[(i + 7) % CROCKFORD.len()] as char;
    }
    if c.is_ascii_lowercase() {
        return (b'a' + (c as u8 - b'a' + 13) % 26) as char;
    }
    if c.is_ascii_uppercase() {
        return (b'A' + (c as u8 - b'A' + 13) % 26) as char;
    }
    c
}

/// An id of the same shape as `v` that nothing has: its last characters changed within their
/// class (the last 4 of a number, so that a phone number stays one; the last 8 otherwise,
/// padding and separators kept).
fn unknown_like(v: &str) -> String {
    let mut out: Vec<char> = v.chars().collect();
    let n = if v.chars().all(|c| c.is_ascii_digit()) {
        4
    } else {
        8
    };
    let mut changed = 0;
    for i in (0..out.len()).rev() {
        if changed == n {
            break;
        }
        let s = shifted(out[i]);
        if s != out[i] {
            out[i] = s;
            changed += 1;
        }
    }
    out.into_iter().collect()
}

/// Whether `needle` occurs in `hay` as a whole token (not inside a longer word or number).
fn has_token(hay: &str, needle: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    hay.match_indices(needle).any(|(i, _)| {
        !word(hay[..i].chars().next_back()) && !word(hay[i + needle.len()..].chars().next())
    })
}

/// `text` with `len` characters from `i` matching `ok`, if they do.
fn run_of(b: &[char], i: usize, ok: impl Fn(char) -> bool) -> usize {
    b[i..].iter().take_while(|c| ok(**c)).count()
}

/// The length of an RFC 3339 time at `i` (`2025-05-01T10:00:00.123Z`), or 0.
fn time_at(b: &[char], i: usize) -> usize {
    let digits = |from: usize, n: usize| {
        (from..from + n).all(|j| b.get(j).is_some_and(char::is_ascii_digit))
    };
    let is = |j: usize, c: char| b.get(j) == Some(&c);
    if !(digits(i, 4)
        && is(i + 4, '-')
        && digits(i + 5, 2)
        && is(i + 7, '-')
        && digits(i + 8, 2)
        && is(i + 10, 'T'))
    {
        return 0;
    }
    let mut j = i + 11;
    j += run_of(b, j, |c| c.is_ascii_digit() || c == ':' || c == '.');
    if is(j, 'Z') {
        j += 1;
    } else if (is(j, '+') || is(j, '-')) && digits(j + 1, 2) && is(j + 3, ':') && digits(j + 4, 2) {
        j += 6;
    }
    j - i
}

/// An answer as two calls are compared: the id given replaced by `{ID}`, and what differs
/// between any two calls (request ids, newly made ids and wamids, times, secrets, signatures)
/// by placeholders.
fn normalize(text: &str, given: &str) -> String {
    let text = if given.is_empty() {
        text.to_string()
    } else {
        text.replace(given, "{ID}")
    };
    let b: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let at_start = i == 0 || !word(b[i - 1]);
        let starts = |p: &str| p.chars().enumerate().all(|(k, c)| b.get(i + k) == Some(&c));
        if starts("wamid.") {
            let n = 6 + run_of(&b, i + 6, |c| b64(c) || c == '-' || c == '_' || c == '.');
            out.push_str("{WAMID}");
            i += n;
            continue;
        }
        if starts("upload:") {
            let n = 7 + run_of(&b, i + 7, |c| word(c) || c == '.' || c == '=');
            out.push_str("{UPLOAD}");
            i += n;
            continue;
        }
        if at_start
            && b.len() >= i + 30
            && b[i..i + 3].iter().all(char::is_ascii_lowercase)
            && b[i + 3] == '_'
        {
            let n = run_of(&b, i + 4, |c| c.is_ascii_digit() || c.is_ascii_lowercase());
            if n == 26 && !b.get(i + 30).copied().is_some_and(word) {
                out.extend(b[i..i + 4].iter());
                out.push_str("{NEW}");
                i += 30;
                continue;
            }
        }
        let t = time_at(&b, i);
        if at_start && t > 0 {
            out.push_str("{TIME}");
            i += t;
            continue;
        }
        if at_start && word(b[i]) {
            let n = run_of(&b, i, word);
            let token: String = b[i..i + n].iter().collect();
            // Secrets, hashes and signatures mix letters and digits; error codes do not.
            let mixed = token.chars().any(|c| c.is_ascii_digit())
                && token.chars().any(|c| c.is_ascii_alphabetic());
            if n >= 32 && mixed {
                out.push_str("{LONG}");
            } else if token.chars().all(|c| c.is_ascii_digit()) && (n == 10 || n == 13) {
                out.push_str("{TIME}");
            } else {
                out.push_str(&token);
            }
            i += n;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The two tenants and their objects.
// ---------------------------------------------------------------------------------------------

/// Tenant B's user (A's is [`USER`]).
const OTHER_USER: &str = "15557770002";
/// Tenant B's template, known to no other tenant.
const OTHER_TEMPLATE: &str = "b_only_offer";
/// Tenant B's campaign name.
const OTHER_CAMPAIGN: &str = "b-only-campaign";
/// The Graph version of the fixtures' calls.
const VERSION: &str = "v21.0";

/// One tenant's identifiers, by kind.
#[derive(Debug, Default, Clone)]
struct Ids(BTreeMap<K, String>);

impl Ids {
    fn get(&self, k: K) -> &str {
        self.0
            .get(&k)
            .unwrap_or_else(|| panic!("no {k:?} in {:?}", self.0))
    }
    fn set(&mut self, k: K, v: impl Into<String>) {
        let v = v.into();
        assert!(!v.is_empty(), "{k:?} is empty");
        self.0.insert(k, v);
    }
}

/// The gateway, both tenants' ids, and the unknown ones.
struct World {
    app: TestApp,
    a: Ids,
    b: Ids,
    unknown: Ids,
    b_key: String,
}

/// The body of `r`, which must have `status`.
fn must(r: &Resp, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    r.body.clone()
}

/// The string at `pointer` in `v`.
fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
        .to_string()
}

/// POSTs `body` with `X-API-Key: key` to the Connectly route `route` of `business`.
async fn connectly(app: &TestApp, business: &str, key: &str, route: &str, body: Value) -> Resp {
    x_api_key_call(
        app,
        "POST",
        &business_path(business, route),
        Some(key),
        &body.to_string(),
    )
    .await
}

/// ChakraHQ's `upload-public-media` of a PNG for `plugin` with `key`: the media id and the
/// query of its public link.
async fn public_media(app: &TestApp, plugin: &str, key: &str) -> (String, String) {
    let r = app
        .post_raw(
            &format!("/v1/ext/plugin/whatsapp/{plugin}/upload-public-media?filename=logo.png"),
            key,
            png(64),
            &[("content-type", "image/png")],
        )
        .await;
    let v = must(&r, 200, "upload-public-media");
    let url = text(&v, "/_data/publicMediaUrl");
    let query = url.split_once('?').expect("a signed link").1.to_string();
    (text(&v, "/_data/mediaId"), query)
}

/// Meta's resumable upload session, started with `key`.
async fn upload_session(app: &TestApp, meta_app: &str, key: &str) -> String {
    let r = app
        .post(
            &format!(
                "/{VERSION}/{meta_app}/uploads?file_name=a.png&file_length=100&file_type=image/png"
            ),
            key,
            &json!({}),
        )
        .await;
    text(&must(&r, 200, "upload session"), "/id")
}

/// The newest native event of the tenant of `key`.
async fn newest_event(app: &TestApp, key: &str) -> String {
    let r = app.get("/v1/events?limit=1", key).await;
    text(&must(&r, 200, "events"), "/data/0/id")
}

/// A tenant's template of `name`: its gateway id and Meta's.
async fn template_ids(app: &TestApp, key: &str, name: &str) -> (String, String) {
    let r = app.get(&format!("/v1/templates?name={name}"), key).await;
    let v = must(&r, 200, "templates");
    (text(&v, "/data/0/id"), text(&v, "/data/0/meta_template_id"))
}

/// Waits until the message `id` of the tenant of `key` is `read` (nothing about it changes
/// after that), and returns it.
async fn read_by_user(app: &TestApp, key: &str, id: &str) -> Value {
    for _ in 0..500 {
        let r = app.get(&format!("/v1/messages/{id}"), key).await;
        if r.body["status"] == "read" {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("message {id} never read");
}

/// Builds both tenants' objects through the APIs.
async fn world(b: Backend) -> World {
    let app = spawn_app(b).await;
    let mut a = Ids::default();
    let mut o = Ids::default();
    let other = app.other_tenant_with_number().await;
    // B's number delivers its webhooks to the gateway, as A's does.
    app.sim
        .add_phone_number(openbsp_simulator::PhoneNumberConfig {
            phone_number_id: OTHER_PNID.into(),
            display_phone_number: OTHER_DISPLAY.into(),
            waba_id: OTHER_WABA.into(),
            access_token: "other-access-token".into(),
            app_secret: "other-secret".into(),
            webhook_url: Some(format!("{}/webhooks/whatsapp", app.gateway.url())),
            throughput_mps: None,
        });
    let (ka, kb) = (app.api_key.clone(), other.api_key.clone());

    // Who and where.
    a.set(K::Tenant, &app.tenant_id);
    a.set(K::App, &app.channel.app_id);
    a.set(K::Channel, &app.channel.id);
    a.set(K::Pnid, PNID);
    a.set(K::Waba, &app.channel.waba_id);
    a.set(K::Display, &app.channel.display_phone_number);
    a.set(K::WaId, USER);
    a.set(K::ApiKey, &ka);
    o.set(K::Tenant, &other.tenant_id);
    o.set(K::App, &other.app_id);
    o.set(K::Channel, &other.channel.id);
    o.set(K::Pnid, OTHER_PNID);
    o.set(K::Waba, OTHER_WABA);
    o.set(K::Display, OTHER_DISPLAY);
    o.set(K::WaId, OTHER_USER);
    o.set(K::ApiKey, &kb);

    // Inbound messages: a contact and a session each.
    let inbound = app.user_writes(USER, "Ana", "hi").await;
    a.set(K::Inbound, text(&inbound, "/id"));
    a.set(K::InboundWamid, text(&inbound, "/wamid"));
    a.set(K::Contact, text(&inbound, "/contact_id"));
    a.set(K::Session, text(&inbound, "/session_id"));
    let wamid = app
        .sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: OTHER_PNID.into(),
            from: Some(OTHER_USER.into()),
            name: Some("Bo".into()),
            message: json!({"type": "text", "text": {"body": "hello B"}}),
            ..Default::default()
        })
        .await
        .expect("the simulator takes B's inbound message");
    wait_until("B's inbound stored", || async {
        app.get(&format!("/v1/messages/{wamid}"), &kb).await.status == 200
    })
    .await;
    let inbound = app.get(&format!("/v1/messages/{wamid}"), &kb).await.body;
    o.set(K::Inbound, text(&inbound, "/id"));
    o.set(K::InboundWamid, wamid);
    o.set(K::Contact, text(&inbound, "/contact_id"));
    o.set(K::Session, text(&inbound, "/session_id"));

    // A message each, sent and read.
    let sent = must(&app.send_text(USER, "hello A").await, 202, "A's send");
    let sent = read_by_user(&app, &ka, &text(&sent, "/id")).await;
    a.set(K::Message, text(&sent, "/id"));
    a.set(K::Wamid, text(&sent, "/wamid"));
    let r = app
        .post(
            "/v1/messages",
            &kb,
            &json!({"channel": OTHER_PNID, "to": OTHER_USER, "type": "text", "text": {"body": "hello B"}}),
        )
        .await;
    let sent = read_by_user(&app, &kb, &text(&must(&r, 202, "B's send"), "/id")).await;
    o.set(K::Message, text(&sent, "/id"));
    o.set(K::Wamid, text(&sent, "/wamid"));

    // Templates, learnt from Meta.
    seed_spring_offer(&app, "UTILITY");
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            OTHER_WABA,
            json!({"name": OTHER_TEMPLATE, "language": "en_US", "category": "UTILITY",
                   "components": [{"type": "BODY", "text": "Hello {{1}}, this offer is for B's users.",
                                   "example": {"body_text": [["Bo"]]}}]}),
        ))
        .unwrap();
    for (key, pnid) in [(&ka, PNID), (&kb, OTHER_PNID)] {
        let r = app
            .post("/v1/templates/sync", key, &json!({"channel": pnid}))
            .await;
        must(&r, 200, "template sync");
    }
    let (id, meta) = template_ids(&app, &ka, "spring_offer").await;
    a.set(K::Template, id);
    a.set(K::MetaTemplate, meta);
    a.set(K::TemplateName, "spring_offer");
    let (id, meta) = template_ids(&app, &kb, OTHER_TEMPLATE).await;
    o.set(K::Template, id);
    o.set(K::MetaTemplate, meta);
    o.set(K::TemplateName, OTHER_TEMPLATE);

    // A campaign each, in draft, with a recipient.
    let r = app
        .post(
            "/v1/campaigns",
            &ka,
            &json!({"name": "a-campaign", "channel": PNID,
                    "template": {"name": "spring_offer", "language": "en_US",
                                 "variables": ["{{first_name}}", "{{discount}}"]}}),
        )
        .await;
    a.set(K::Campaign, text(&must(&r, 201, "A's campaign"), "/id"));
    a.set(K::CampaignName, "a-campaign");
    let r = app
        .post(
            "/v1/campaigns",
            &kb,
            &json!({"name": OTHER_CAMPAIGN, "channel": OTHER_PNID,
                    "template": {"name": OTHER_TEMPLATE, "language": "en_US",
                                 "variables": ["{{first_name}}"]}}),
        )
        .await;
    o.set(K::Campaign, text(&must(&r, 201, "B's campaign"), "/id"));
    o.set(K::CampaignName, OTHER_CAMPAIGN);
    let r = app
        .post_raw(
            &format!("/v1/campaigns/{}/recipients", o.get(K::Campaign)),
            &kb,
            "phone,first_name\n+15557770003,Cy\n",
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);

    // Media, with their public links.
    let (id, link) = public_media(&app, a.get(K::App), &ka).await;
    a.set(K::Media, id);
    a.set(K::MediaLink, link);
    let (id, link) = public_media(&app, o.get(K::App), &kb).await;
    o.set(K::Media, id);
    o.set(K::MediaLink, link);

    // Webhook endpoints, native and Connectly's; B's disabled, so that no failing delivery
    // changes them while they are watched.
    for (ids, key, tenant) in [
        (&mut a, &ka, &app.tenant_id),
        (&mut o, &kb, &other.tenant_id),
    ] {
        let enabled = tenant == &app.tenant_id;
        let r = app
            .post(
                "/v1/webhook-endpoints",
                key,
                &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "enabled": enabled}),
            )
            .await;
        ids.set(K::Endpoint, text(&must(&r, 201, "endpoint"), "/id"));
        let r = connectly(
            &app,
            tenant,
            key,
            "create/webhooks",
            json!({"topic": "messages", "address": "http://127.0.0.1:9/connectly"}),
        )
        .await;
        let hook = text(&must(&r, 200, "Connectly webhook"), "/entity/id");
        if !enabled {
            let r = app
                .call(
                    reqwest::Method::PATCH,
                    &format!("/v1/webhook-endpoints/{hook}"),
                    key,
                    Some(&json!({"enabled": false})),
                )
                .await;
            must(&r, 200, "disable the Connectly webhook");
        }
        ids.set(K::Hook, hook);
    }

    // Resumable uploads, and the newest event of each.
    a.set(K::Upload, upload_session(&app, META_APP_ID, &ka).await);
    o.set(K::Upload, upload_session(&app, "700800999", &kb).await);
    a.set(K::Event, newest_event(&app, &ka).await);
    o.set(K::Event, newest_event(&app, &kb).await);

    // Unknown ids shaped as B's, which are nobody's.
    let mut unknown = Ids::default();
    for (k, v) in &o.0 {
        if matches!(k, K::ApiKey | K::MediaLink) {
            continue;
        }
        let u = unknown_like(v);
        assert_ne!(&u, v);
        assert!(
            !a.0.values().chain(o.0.values()).any(|x| x == &u),
            "the unknown {k:?} {u} is someone's"
        );
        unknown.set(*k, u);
    }
    for k in ALL {
        if !matches!(k, K::ApiKey | K::MediaLink) {
            assert!(
                o.0.contains_key(&k) && a.0.contains_key(&k),
                "{k:?} not made"
            );
        }
    }
    World {
        app,
        a,
        b: o,
        unknown,
        b_key: kb,
    }
}

// ---------------------------------------------------------------------------------------------
// Calling the routes.
// ---------------------------------------------------------------------------------------------

/// A path segment or query value, percent-encoded (wamids carry `+`, `/` and `=`).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `template` with tenant A's values for `@Kind@`, `given` for `@REF@` and the time for
/// `@NOW@`; `query` encodes what it puts in.
fn fill(template: &str, a: &Ids, given: &str, query: bool) -> String {
    let put = |v: &str| if query { encode(v) } else { v.to_string() };
    let mut out = template.replace("@REF@", &put(given));
    out = out.replace("@NOW@", &chrono::Utc::now().timestamp().to_string());
    for k in ALL {
        let mark = format!("@{k:?}@");
        if out.contains(&mark) {
            // The media link is a query already.
            let v = if k == K::MediaLink {
                a.get(k).to_string()
            } else {
                put(a.get(k))
            };
            out = out.replace(&mark, &v);
        }
    }
    out
}

/// One answer: its status and its body as text.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    body: String,
}

/// A multipart form of Meta's media upload.
fn media_form() -> (String, Vec<u8>) {
    let boundary = "----isolation-boundary";
    let mut body = Vec::new();
    for (name, value) in [("messaging_product", "whatsapp"), ("type", "image/png")] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(&png(32));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Calls `case` as tenant A (with `key`, A's unless said), `probe`'s id set to `given`.
async fn call(
    w: &World,
    case: &Case,
    probe: Option<&Probe>,
    given: &str,
    key: Option<&str>,
) -> Answer {
    let a = &w.a;
    let key = key.unwrap_or(a.get(K::ApiKey));
    let mut path = case.path.to_string();
    for (name, f) in &case.params {
        let v = match f {
            _ if probe.is_some_and(|p| p.param == Some(*name)) => given.to_string(),
            Fill::Fixed(v) => v.to_string(),
            Fill::Own(k) => a.get(*k).to_string(),
            Fill::Id(kinds) => a.get(kinds[0]).to_string(),
        };
        path = path.replace(&format!("{{{name}}}"), &encode(&v));
    }
    let query = probe.and_then(|p| p.query).unwrap_or(case.query);
    let body = probe.and_then(|p| p.body).unwrap_or(case.body);
    let query = fill(query, a, given, true);
    let url = if query.is_empty() {
        w.app.url(&path)
    } else {
        w.app.url(&format!("{path}?{query}"))
    };
    let (content_type, bytes): (Option<String>, Vec<u8>) = match body {
        Body::Empty => (None, Vec::new()),
        Body::Json(t) => (
            Some("application/json".into()),
            fill(t, a, given, false).into_bytes(),
        ),
        Body::Csv(t) => (
            Some("text/csv".into()),
            fill(t, a, given, false).into_bytes(),
        ),
        Body::Png => (Some("image/png".into()), png(48)),
        Body::MediaForm => {
            let (ct, b) = media_form();
            (Some(ct), b)
        }
    };
    let mut req = w
        .app
        .http
        .request(case.method.parse().unwrap(), url)
        .body(bytes.clone());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req = match case.cred {
        Cred::Bearer => req.bearer_auth(key),
        Cred::PluginConnection => req.header("authorization", format!("PluginConnection {key}")),
        Cred::XApiKey => req.header("x-api-key", key),
        Cred::Nothing => req,
        Cred::MetaSignature => req.header(
            "x-hub-signature-256",
            openbsp_wire::signature::sign(APP_SECRET.as_bytes(), &bytes),
        ),
    };
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap_or_default();
    Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// What tenant B's objects of kind `k` look like to B (admin for the installation's own),
/// read again after a write aimed at them.
fn b_views(w: &World, k: K) -> Vec<(String, bool)> {
    let b = &w.b;
    let mine = |p: String| (p, false);
    let admin = |p: String| (p, true);
    let mut out = vec![
        mine("/v1/messages?limit=100".into()),
        mine("/v1/sessions?limit=100".into()),
        mine("/v1/contacts?limit=100".into()),
        mine("/v1/templates?limit=100&include_deleted=true".into()),
    ];
    out.extend(match k {
        K::Tenant => vec![admin(format!("/v1/tenants/{}", b.get(K::Tenant)))],
        K::App => vec![admin(format!("/v1/apps/{}", b.get(K::App)))],
        K::Channel | K::Pnid | K::Waba | K::Display => {
            vec![admin(format!("/v1/channels/{}", b.get(K::Channel)))]
        }
        K::Message | K::Wamid => vec![mine(format!("/v1/messages/{}", b.get(K::Message)))],
        K::Inbound | K::InboundWamid => vec![mine(format!("/v1/messages/{}", b.get(K::Inbound)))],
        K::Contact | K::WaId => vec![mine(format!("/v1/contacts/{}", b.get(K::Contact)))],
        K::Session => vec![mine(format!("/v1/sessions/{}", b.get(K::Session)))],
        K::Template | K::MetaTemplate | K::TemplateName => vec![
            mine(format!("/v1/templates/{}", b.get(K::Template))),
            mine(format!("/v1/templates/{}/history", b.get(K::Template))),
        ],
        K::Campaign | K::CampaignName => vec![
            mine(format!("/v1/campaigns/{}", b.get(K::Campaign))),
            mine(format!("/v1/campaigns/{}/recipients", b.get(K::Campaign))),
        ],
        K::Media | K::MediaLink => vec![
            mine(format!("/v1/media/{}", b.get(K::Media))),
            mine(format!("/v1/media/{}/content", b.get(K::Media))),
        ],
        K::Endpoint => vec![mine(format!(
            "/v1/webhook-endpoints/{}",
            b.get(K::Endpoint)
        ))],
        K::Hook => vec![mine(format!("/v1/webhook-endpoints/{}", b.get(K::Hook)))],
        K::Event => vec![mine(format!("/v1/events/{}", b.get(K::Event)))],
        K::Upload => vec![mine(format!("/{VERSION}/{}", encode(b.get(K::Upload))))],
        K::ApiKey => vec![],
    });
    out
}

/// `text` without the request ids it carries (`req_…`, new in every answer): all else of an
/// object read twice must be the same.
fn without_request_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("req_") {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let n = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
            .count();
        if n == 26 {
            out.push('*');
            rest = &rest[n..];
        }
    }
    out.push_str(rest);
    out
}

/// Tenant B's objects of kind `k` as B sees them now.
async fn b_snapshot(w: &World, k: K) -> Vec<(String, Answer)> {
    let mut out = Vec::new();
    for (path, admin) in b_views(w, k) {
        let key = if admin { &w.app.admin_key } else { &w.b_key };
        let r = w
            .app
            .http
            .get(w.app.url(&path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = without_request_ids(&String::from_utf8_lossy(&r.bytes().await.unwrap()));
        out.push((path, Answer { status, body }));
    }
    out
}

/// Tenant B's identifiers an answer to A may not carry (the media link is a signature).
fn b_marks(w: &World) -> Vec<(K, &str)> {
    w.b.0
        .iter()
        .filter(|(k, _)| **k != K::MediaLink)
        .map(|(k, v)| (*k, v.as_str()))
        .collect()
}

/// Whatever of tenant B's an answer carries, other than the id the request gave.
fn leaks(w: &World, answer: &Answer, given: &str) -> Vec<String> {
    let body = if given.is_empty() {
        answer.body.clone()
    } else {
        answer.body.replace(given, "{ID}")
    };
    b_marks(w)
        .into_iter()
        .filter(|(_, v)| has_token(&body, v))
        .map(|(k, v)| format!("B's {k:?} {v}"))
        .collect()
}

/// An answer for a failure message.
fn short(a: &Answer) -> String {
    let b: String = a.body.chars().take(600).collect();
    format!("{} {b}", a.status)
}

/// Whether a call with `method` may change something (B's objects are read before and after).
fn is_write(method: &str) -> bool {
    method != "GET"
}

/// Runs one probe of `case` over each of its kinds; what went wrong.
async fn run_probe(w: &World, case: &Case, probe: &Probe) -> Vec<String> {
    let mut problems = Vec::new();
    let at = match probe.param {
        Some(p) => format!("{{{p}}}"),
        None => "@REF@".to_string(),
    };
    let guard = probe.guard.unwrap_or(if is_write(case.method) {
        Guard::Names
    } else {
        Guard::Own
    });
    for &k in probe.kinds {
        let what = format!("{} {} {at}={k:?}", case.method, case.path);
        let (theirs, unknown) = (w.b.get(k), w.unknown.get(k));
        let watch = is_write(case.method);
        let before = if watch {
            b_snapshot(w, k).await
        } else {
            Vec::new()
        };
        let other = call(w, case, Some(probe), theirs, None).await;
        let none = call(w, case, Some(probe), unknown, None).await;
        if watch {
            let after = b_snapshot(w, k).await;
            for ((path, was), (_, now)) in before.iter().zip(&after) {
                if was != now {
                    problems.push(format!(
                        "{what}: B's {path} changed:\n  before {}\n  after  {}",
                        short(was),
                        short(now)
                    ));
                }
            }
        }
        let (n_other, n_none) = (
            normalize(&other.body, theirs),
            normalize(&none.body, unknown),
        );
        if other.status != none.status || n_other != n_none {
            let note = match guard {
                Guard::Not(why) => format!(" (both may pass: {why})"),
                _ => String::new(),
            };
            problems.push(format!(
                "{what}: B's id and an unknown one answer differently{note}:\n  B's     {} {n_other}\n  unknown {} {n_none}",
                other.status, none.status
            ));
        }
        for (answer, given) in [(&other, theirs), (&none, unknown)] {
            let found = leaks(w, answer, given);
            if !found.is_empty() {
                problems.push(format!(
                    "{what}: the answer carries {found:?}: {}",
                    short(answer)
                ));
            }
        }
        if none.status >= 500 {
            problems.push(format!("{what}: a server error: {}", short(&none)));
        }
        match guard {
            Guard::Own => {
                let own = w.a.get(k);
                let mine = call(w, case, Some(probe), own, None).await;
                if mine.status == none.status && normalize(&mine.body, own) == n_none {
                    problems.push(format!(
                        "{what}: A's own id answers as an unknown one, so the probe shows nothing: {}",
                        short(&mine)
                    ));
                }
                let found = leaks(w, &mine, "");
                if !found.is_empty() {
                    problems.push(format!("{what}: A's own answer carries {found:?}"));
                }
            }
            Guard::Names => {
                if none.status < 400 || !n_none.contains("{ID}") {
                    problems.push(format!(
                        "{what}: the unknown id is not refused by name, so the probe shows nothing: {} {n_none}",
                        none.status
                    ));
                }
            }
            Guard::Not(_) => {}
        }
    }
    problems
}

/// Checks one case (its probes that store the id given when `last`, the others else); what
/// went wrong.
async fn run_case(
    w: &World,
    case: &Case,
    last: bool,
    admin_refusals: &mut Vec<(String, Answer)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let name = format!("{} {}", case.method, case.path);
    if last {
        for p in case.probes.iter().filter(|p| p.stores) {
            problems.extend(run_probe(w, case, p).await);
        }
        return problems;
    }
    match &case.check {
        Check::Admin => {
            let refused = call(w, case, None, "", None).await;
            if !(refused.status == 401 || refused.status == 403) {
                problems.push(format!(
                    "{name}: a tenant key is not refused: {}",
                    short(&refused)
                ));
            }
            let admitted = call(w, case, None, "", Some(&w.app.admin_key)).await;
            if [401, 403, 404, 405].contains(&admitted.status)
                && !admitted.body.contains("not found")
            {
                problems.push(format!(
                    "{name}: the admin key is not served: {}",
                    short(&admitted)
                ));
            }
            admin_refusals.push((name.clone(), refused));
        }
        Check::AsAnonymous => {
            let keyed = call(w, case, None, "", None).await;
            let mut anonymous = case.clone();
            anonymous.cred = Cred::Nothing;
            let bare = call(w, &anonymous, None, "", None).await;
            if keyed.status != bare.status
                || normalize(&keyed.body, "") != normalize(&bare.body, "")
            {
                problems.push(format!(
                    "{name}: a tenant key is answered otherwise than no credential:\n  key  {}\n  none {}",
                    short(&keyed),
                    short(&bare)
                ));
            }
            problems.extend(
                leaks(w, &keyed, "")
                    .into_iter()
                    .map(|l| format!("{name}: carries {l}")),
            );
        }
        Check::Creates(why) | Check::Unscoped(why) => {
            let r = call(w, case, None, "", None).await;
            if matches!(case.check, Check::Creates(_)) && !(200..300).contains(&r.status) {
                problems.push(format!(
                    "{name} ({why}): tenant A cannot create: {}",
                    short(&r)
                ));
            }
            problems.extend(
                leaks(w, &r, "")
                    .into_iter()
                    .map(|l| format!("{name} ({why}): carries {l}")),
            );
        }
        Check::Tenant => {
            if let Some(k) = case.lists {
                let r = call(w, case, None, "", None).await;
                if !(200..300).contains(&r.status) || !has_token(&r.body, w.a.get(k)) {
                    problems.push(format!(
                        "{name}: A's list does not show A's own {k:?} {}: {}",
                        w.a.get(k),
                        short(&r)
                    ));
                }
                problems.extend(
                    leaks(w, &r, "")
                        .into_iter()
                        .map(|l| format!("{name}: lists {l}")),
                );
            }
            for p in case.probes.iter().filter(|p| !p.stores) {
                problems.extend(run_probe(w, case, p).await);
            }
        }
    }
    problems
}

/// The route table agrees with the cases, then every case runs against one gateway.
async fn every_route_keeps_tenants_apart(b: Backend) {
    let table = table_problems();
    assert!(
        table.is_empty(),
        "the route table and the cases disagree:\n{}",
        table.join("\n")
    );
    let w = world(b).await;
    let mut problems = Vec::new();
    let mut admin_refusals = Vec::new();
    // In the table's order (A's own values go only to reads, so no probe ends a fixture),
    // then the probes that leave the id given in A's own objects.
    for last in [false, true] {
        for case in cases() {
            problems.extend(run_case(&w, &case, last, &mut admin_refusals).await);
        }
    }
    // Every admin route refuses a tenant key with the same answer.
    let first = admin_refusals
        .first()
        .map(|(_, a)| (a.status, normalize(&a.body, "")));
    for (name, a) in &admin_refusals {
        if Some((a.status, normalize(&a.body, ""))) != first {
            problems.push(format!(
                "{name}: refuses a tenant key otherwise than {}: {}",
                admin_refusals[0].0,
                short(a)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
