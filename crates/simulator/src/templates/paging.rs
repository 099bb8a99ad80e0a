//! Meta's cursor paging of template lists: the default page size and the cursors.

/// `limit` of a template list when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 25;

/// Meta's cursor for position `i` of a list: the base64 of the decimal index, `=` written
/// `ZD` (`0` → `MAZDZD`, `24` → `MjQZD`).
pub(crate) fn cursor(i: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(i.to_string())
        .replace('=', "ZD")
}

/// The position a cursor stands for.
pub(crate) fn parse_cursor(c: &str) -> Option<usize> {
    use base64::Engine;
    let mut s = c.to_string();
    let mut pad = 0;
    while let Some(rest) = s.strip_suffix("ZD") {
        s = rest.to_string();
        pad += 1;
    }
    s.push_str(&"=".repeat(pad));
    let raw = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_metas() {
        assert_eq!(cursor(0), "MAZDZD");
        assert_eq!(cursor(24), "MjQZD");
        for i in [0, 1, 24, 25, 99, 100, 12345] {
            assert_eq!(parse_cursor(&cursor(i)), Some(i));
        }
        assert_eq!(parse_cursor("not a cursor!"), None);
    }
}
