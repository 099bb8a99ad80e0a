//! Meta's media rules (reference §5.6): the kinds of media, the types each takes, their
//! largest sizes, and whether bytes are what their declared type says (the content sniffed
//! from its first bytes).

/// A kind of WhatsApp media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// aac, amr, mp3, m4a, ogg (OPUS).
    Audio,
    /// txt, pdf, doc(x), xls(x), ppt(x).
    Document,
    /// jpeg, png.
    Image,
    /// webp.
    Sticker,
    /// mp4, 3gpp.
    Video,
}

/// The largest media Meta takes in from a user (`131052` above it).
pub const INBOUND_MAX_BYTES: u64 = 100 * MB;

const MB: u64 = 1024 * 1024;
const KB: u64 = 1024;

/// The types Meta accepts, each with its kind.
pub const TYPES: &[(&str, MediaKind)] = &[
    ("audio/aac", MediaKind::Audio),
    ("audio/amr", MediaKind::Audio),
    ("audio/mpeg", MediaKind::Audio),
    ("audio/mp4", MediaKind::Audio),
    ("audio/ogg", MediaKind::Audio),
    ("text/plain", MediaKind::Document),
    ("application/pdf", MediaKind::Document),
    ("application/msword", MediaKind::Document),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        MediaKind::Document,
    ),
    ("application/vnd.ms-excel", MediaKind::Document),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MediaKind::Document,
    ),
    ("application/vnd.ms-powerpoint", MediaKind::Document),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        MediaKind::Document,
    ),
    ("image/jpeg", MediaKind::Image),
    ("image/png", MediaKind::Image),
    ("image/webp", MediaKind::Sticker),
    ("video/mp4", MediaKind::Video),
    ("video/3gpp", MediaKind::Video),
];

impl MediaKind {
    /// The kind of a declared type (its essence: parameters and case ignored); `None` if Meta
    /// does not take it.
    pub fn of_type(mime: &str) -> Option<MediaKind> {
        let essence = essence(mime);
        TYPES
            .iter()
            .find(|(t, _)| *t == essence)
            .map(|(_, kind)| *kind)
    }

    /// The largest file of this kind Meta takes (a sticker: the animated one's limit).
    pub fn max_bytes(self) -> u64 {
        match self {
            MediaKind::Audio | MediaKind::Video => 16 * MB,
            MediaKind::Document => 100 * MB,
            MediaKind::Image => 5 * MB,
            MediaKind::Sticker => 500 * KB,
        }
    }

    /// Its name in a message (`image`, `document`…).
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Image => "image",
            MediaKind::Sticker => "sticker",
            MediaKind::Video => "video",
        }
    }
}

/// A type's essence: lower case, without parameters (`audio/ogg; codecs=opus` → `audio/ogg`).
pub fn essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether bytes starting with `head` are of the declared type `mime` (Meta's accepted types
/// only): the type sniffed from them must be the declared one, or one it is made of (docx,
/// xlsx and pptx are zip files; doc, xls and ppt share one container; m4a is mp4; an ogg
/// audio file is ogg). Plain text has no signature: it must not sniff as anything else, and
/// must be text. `Err` says what the bytes are.
pub fn matches_content(mime: &str, head: &[u8]) -> Result<(), String> {
    let declared = essence(mime);
    let sniffed = infer::get(head).map(|t| t.mime_type());
    // `infer` knows no 3GPP brand: an ISO media file whose major brand is 3gp…/3g2… is one.
    let third_generation = head.len() >= 11
        && &head[4..8] == b"ftyp"
        && (&head[8..11] == b"3gp" || &head[8..11] == b"3g2");
    let ok = match (declared.as_str(), sniffed) {
        ("video/3gpp", _) if third_generation => true,
        ("text/plain", None) => std::str::from_utf8(head).is_ok() || looks_textual(head),
        (_, None) => false,
        (d, Some(s)) if d == s => true,
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            Some(s),
        ) => {
            s == "application/zip"
                || s.starts_with("application/vnd.openxmlformats-officedocument.")
        }
        (
            "application/msword" | "application/vnd.ms-excel" | "application/vnd.ms-powerpoint",
            Some(s),
        ) => {
            s == "application/x-ole-storage"
                || s == "application/msword"
                || s == "application/vnd.ms-excel"
                || s == "application/vnd.ms-powerpoint"
        }
        ("audio/mp4", Some(s)) => matches!(s, "audio/m4a" | "audio/x-m4a" | "video/mp4"),
        ("audio/ogg", Some(s)) => matches!(s, "audio/ogg" | "audio/opus"),
        ("audio/aac", Some(s)) => s == "audio/x-aac",
        ("video/3gpp", Some(s)) => matches!(s, "video/mp4" | "video/3gpp"),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the content is {}, not {declared}",
            sniffed.unwrap_or("not of a known type")
        ))
    }
}

/// A text cut off mid-character (the head of a longer file): UTF-8 but for its last bytes.
fn looks_textual(head: &[u8]) -> bool {
    let cut = head.len().saturating_sub(3);
    (cut..=head.len()).any(|end| std::str::from_utf8(&head[..end]).is_ok() && end > 0)
        && !head.contains(&0)
}

impl MediaKind {
    /// The kind a message names by `name` (`image`, `document`…).
    pub fn from_name(name: &str) -> Option<MediaKind> {
        [
            MediaKind::Audio,
            MediaKind::Document,
            MediaKind::Image,
            MediaKind::Sticker,
            MediaKind::Video,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// The types Meta's resumable upload takes (template header samples).
pub const SAMPLE_TYPES: &[&str] = &["image/jpeg", "image/png", "video/mp4", "application/pdf"];

/// The types a template header of `format` (`IMAGE`, `VIDEO`, `DOCUMENT`) takes as its
/// sample; `None` for a format without a media sample.
pub fn sample_types(format: &str) -> Option<&'static [&'static str]> {
    match format {
        "IMAGE" => Some(&["image/jpeg", "image/png"]),
        "VIDEO" => Some(&["video/mp4"]),
        "DOCUMENT" => Some(&["application/pdf"]),
        _ => None,
    }
}

/// A media a send's Graph body names by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The JSON pointer of the `id` (`/image/id`, `/template/components/0/parameters/0/image/id`).
    pub pointer: String,
    /// The id as given.
    pub id: String,
    /// The kind the place takes (the key holding the media object).
    pub kind: MediaKind,
}

/// Every media a send's Graph body names by `id`, wherever Meta takes one: the message's own
/// media (`image`, `video`, `audio`, `document`, `sticker`), an interactive message's header
/// and carousel cards, a template's header parameters and carousel cards. A media object is
/// one held under a kind's name with a string `id`.
pub fn media_refs(body: &serde_json::Value) -> Vec<MediaRef> {
    let mut out = Vec::new();
    visit_objects(body, &mut |pointer, o| {
        for (k, child) in o {
            if let (Some(kind), Some(id)) = (
                MediaKind::from_name(k),
                child.get("id").and_then(serde_json::Value::as_str),
            ) {
                out.push(MediaRef {
                    pointer: format!("{pointer}/{}/id", escape(k)),
                    id: id.to_string(),
                    kind,
                });
            }
        }
    });
    out
}

/// Calls `f` with every JSON object in `v` (itself included) and its JSON pointer, parents
/// before their children.
pub fn visit_objects(
    v: &serde_json::Value,
    f: &mut dyn FnMut(&str, &serde_json::Map<String, serde_json::Value>),
) {
    fn walk(
        v: &serde_json::Value,
        path: &mut String,
        f: &mut dyn FnMut(&str, &serde_json::Map<String, serde_json::Value>),
    ) {
        let children: Box<dyn Iterator<Item = (String, &serde_json::Value)>> = match v {
            serde_json::Value::Object(o) => {
                f(path, o);
                Box::new(o.iter().map(|(k, c)| (escape(k), c)))
            }
            serde_json::Value::Array(a) => {
                Box::new(a.iter().enumerate().map(|(i, c)| (i.to_string(), c)))
            }
            _ => return,
        };
        for (step, child) in children {
            let len = path.len();
            path.push('/');
            path.push_str(&step);
            walk(child, path, f);
            path.truncate(len);
        }
    }
    walk(v, &mut String::new(), f);
}

/// A key as a JSON pointer step (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
    ];
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    const ZIP: &[u8] = &[b'P', b'K', 3, 4, 20, 0, 6, 0, 8, 0, 0, 0, 0, 0];

    #[test]
    fn kinds_and_sizes_are_metas() {
        assert_eq!(MediaKind::of_type("image/JPEG"), Some(MediaKind::Image));
        assert_eq!(
            MediaKind::of_type("audio/ogg; codecs=opus"),
            Some(MediaKind::Audio)
        );
        assert_eq!(MediaKind::of_type("image/gif"), None);
        assert_eq!(MediaKind::of_type("image/webp"), Some(MediaKind::Sticker));
        assert_eq!(MediaKind::Image.max_bytes(), 5 * 1024 * 1024);
        assert_eq!(MediaKind::Document.max_bytes(), 100 * 1024 * 1024);
        assert_eq!(MediaKind::Sticker.max_bytes(), 500 * 1024);
        assert_eq!(MediaKind::Video.max_bytes(), 16 * 1024 * 1024);
    }

    #[test]
    fn the_content_must_be_the_declared_type() {
        assert_eq!(matches_content("image/jpeg", JPEG), Ok(()));
        assert_eq!(matches_content("image/png", PNG), Ok(()));
        assert_eq!(matches_content("application/pdf", PDF), Ok(()));
        let e = matches_content("image/jpeg", PNG).unwrap_err();
        assert!(e.contains("image/png"), "{e}");
        assert!(matches_content("image/png", b"hello").is_err());
        // Office files are zip containers.
        assert_eq!(
            matches_content(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ZIP
            ),
            Ok(())
        );
        assert!(matches_content("application/pdf", ZIP).is_err());
        // Plain text: anything that is text, nothing with a signature.
        assert_eq!(
            matches_content("text/plain", "Olá, mundo\n".as_bytes()),
            Ok(())
        );
        assert!(matches_content("text/plain", PNG).is_err());
        assert!(matches_content("text/plain", &[0xFF, 0xFE, 0, 0, 0x12]).is_err());
    }

    #[test]
    fn media_refs_finds_every_media_named_by_id() {
        use serde_json::json;
        let body = json!({
            "messaging_product": "whatsapp", "to": "1", "type": "image",
            "image": {"id": "med_a", "caption": "c"},
        });
        let refs = super::media_refs(&body);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].pointer, "/image/id");
        assert_eq!(refs[0].kind, MediaKind::Image);
        assert_eq!(body.pointer(&refs[0].pointer), Some(&json!("med_a")));
        let t = json!({"type": "template", "template": {"name": "n", "components": [
            {"type": "header", "parameters": [{"type": "document", "document": {"id": "med_d", "filename": "f.pdf"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "image"}]},
            {"type": "carousel", "cards": [{"card_index": 0, "components": [
                {"type": "header", "parameters": [{"type": "video", "video": {"id": "9"}}]}]}]}
        ]}});
        let refs = super::media_refs(&t);
        let got: Vec<_> = refs
            .iter()
            .map(|r| (r.id.as_str(), r.kind, t.pointer(&r.pointer).is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("med_d", MediaKind::Document, true),
                ("9", MediaKind::Video, true)
            ]
        );
        let link = json!({"type": "interactive", "interactive": {"header": {"type": "image", "image": {"link": "https://x/y.png"}}}});
        assert!(super::media_refs(&link).is_empty());
        let i = json!({"type": "interactive", "interactive": {"header": {"type": "image", "image": {"id": "med_h"}}}});
        assert_eq!(
            super::media_refs(&i)[0].pointer,
            "/interactive/header/image/id"
        );
    }

    #[test]
    fn a_3gpp_file_is_3gpp() {
        let mut head = vec![0, 0, 0, 0x18];
        head.extend_from_slice(b"ftyp3gp4\0\0\0\0isom3gp4");
        head.extend_from_slice(&[0; 64]);
        assert_eq!(super::matches_content("video/3gpp", &head), Ok(()));
        assert!(super::matches_content("image/png", &head).is_err());
    }
}
