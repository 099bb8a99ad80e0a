//! Identifiers the simulator issues, shaped like Meta's: message ids (`wamid.…`),
//! conversation ids and `fbtrace_id`s for error bodies.
//!
//! A real `wamid` is `wamid.` followed by the base64 of a small protobuf-like record: the
//! bytes `1c 18`, the length and digits of the user's number, `15 02 00`, a direction byte
//! (`11` outbound, `12` inbound), `18 12`, 18 upper-case hex characters, and a trailing `00`
//! (for example `wamid.HBgNNTUxMTkxMjM0NTY3OBUCABEYEjYzNEQzNzJFQjhDMkNENzU5OQA=`).
//! The simulator builds the same record with 72 random bits in the hex part.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;

/// Whether a message goes to the user or comes from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the business.
    Outbound,
    /// Sent by the user.
    Inbound,
}

/// A new `wamid` for a message to or from `user` (phone digits or a BSUID).
pub fn wamid(user: &str, direction: Direction) -> String {
    let mut rng = rand::rng();
    let hex: String = (0..18)
        .map(|_| {
            let n: u8 = rng.random_range(0..16);
            char::from(b"0123456789ABCDEF"[usize::from(n)])
        })
        .collect();
    let mut raw = Vec::with_capacity(user.len() + 32);
    raw.extend_from_slice(&[0x1c, 0x18]);
    push_varint(&mut raw, user.len());
    raw.extend_from_slice(user.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00]);
    raw.push(match direction {
        Direction::Outbound => 0x11,
        Direction::Inbound => 0x12,
    });
    raw.extend_from_slice(&[0x18, 0x12]);
    raw.extend_from_slice(hex.as_bytes());
    raw.push(0x00);
    format!("wamid.{}", STANDARD.encode(raw))
}

/// A new `fbtrace_id`, like Meta's (`A` and 22 URL-safe characters).
pub fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(23);
    s.push('A');
    for _ in 0..22 {
        s.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    s
}

/// A new conversation id, like Meta's `statuses[].conversation.id` (32 lower-case hex
/// characters).
pub fn conversation_id() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16usize)]))
        .collect()
}

fn push_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        // The mask keeps the value below 0x80, so the cast is lossless.
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamid_has_metas_layout() {
        let id = wamid("15550101234", Direction::Outbound);
        assert!(id.starts_with("wamid.HBgLMTU1NTAxMDEyMzQVAgARGB"), "{id}");
        let raw = STANDARD.decode(id.trim_start_matches("wamid.")).unwrap();
        assert_eq!(raw.len(), 2 + 1 + 11 + 4 + 2 + 18 + 1);
        assert_eq!(raw.last(), Some(&0));
        let inbound = wamid("15550101234", Direction::Inbound);
        assert!(
            inbound.starts_with("wamid.HBgLMTU1NTAxMDEyMzQVAgASGB"),
            "{inbound}"
        );
    }

    #[test]
    fn wamids_are_unique_and_bsuids_fit() {
        let a = wamid("US.13491208655302741918", Direction::Outbound);
        let b = wamid("US.13491208655302741918", Direction::Outbound);
        assert_ne!(a, b);
        let long = format!("US.{}", "9".repeat(128));
        let raw = STANDARD
            .decode(wamid(&long, Direction::Outbound).trim_start_matches("wamid."))
            .unwrap();
        assert_eq!(&raw[2..4], &[0x83, 0x01]); // 131 as a varint
    }

    #[test]
    fn conversation_ids_are_32_hex_characters() {
        let a = conversation_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, conversation_id());
    }

    #[test]
    fn fbtrace_ids_look_like_metas() {
        let t = fbtrace_id();
        assert_eq!(t.len(), 23);
        assert!(t.starts_with('A'));
    }
}
