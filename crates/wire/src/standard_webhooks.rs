//! The Standard Webhooks signature scheme (<https://www.standardwebhooks.com>), as the
//! gateway signs the events it delivers: `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, with a secret
//! written `whsec_<base64 key>`. While a secret is being rotated both sign, so the header
//! carries two signatures separated by a space; a receiver accepts any one that matches.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// How old a `webhook-timestamp` may be, or how far ahead, before a receiver refuses it.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 5 * 60;

/// A signing secret: the raw key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never printed, not even in a debug log.
        f.write_str("Secret(..)")
    }
}

/// Why a secret or a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_` + base64.
    #[error("a secret is whsec_ followed by base64")]
    BadSecret,
    /// The timestamp is not a number.
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    /// The timestamp is too old or too far ahead.
    #[error("webhook-timestamp is outside the tolerance")]
    Expired,
    /// No signature in the header matches.
    #[error("no signature matches")]
    NoMatch,
}

impl Secret {
    /// A secret from its key bytes (the caller draws them from a secure random source; 24
    /// to 64 bytes, as the scheme recommends).
    pub fn from_bytes(key: &[u8]) -> Secret {
        Secret(key.to_vec())
    }

    /// Reads `whsec_<base64>` (the prefix may be left out, as the reference libraries allow).
    pub fn parse(text: &str) -> Result<Secret, SignatureError> {
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SignatureError::BadSecret)?;
        if key.is_empty() {
            return Err(SignatureError::BadSecret);
        }
        Ok(Secret(key))
    }

    /// The text form, `whsec_<base64>`: shown to the endpoint's owner once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// One signature, `v1,<base64>`, of `body` sent as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The `webhook-signature` header for `body`: one signature per secret in force (two while a
/// rotation overlaps), space-separated.
pub fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a delivery as a receiver does: the timestamp within `tolerance` seconds of `now`,
/// and one `v1` signature of the header made with `secret` (compared in constant time).
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    // Checked: a timestamp near i64::MIN overflowed the subtraction (a panic in a debug build,
    // a wrapped answer in a release one).
    if now
        .checked_sub(ts)
        .and_then(i64::checked_abs)
        .is_none_or(|age| age > tolerance)
    {
        return Err(SignatureError::Expired);
    }
    for sig in header.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(given) = STANDARD.decode(b64) else {
            continue;
        };
        let mut mac =
            HmacSha256::new_from_slice(&secret.0).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_published_test_vector() {
        let s = Secret::parse(SECRET).unwrap();
        assert_eq!(s.sign(ID, TS, BODY), EXPECTED);
        assert_eq!(s.expose(), SECRET, "the text form round-trips");
        assert_eq!(
            Secret::parse(&SECRET[6..]).unwrap(),
            s,
            "the prefix is optional"
        );
    }

    #[test]
    fn verifies_within_the_tolerance_with_any_secret_in_force() {
        let s = Secret::parse(SECRET).unwrap();
        let old = Secret::from_bytes(b"an older secret of twenty-four+ bytes");
        let header = signature_header(&[&old, &s], ID, TS, BODY);
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&s, &old] {
            verify(secret, ID, "1614265330", &header, BODY, TS + 300, 300).unwrap();
        }
        assert_eq!(
            verify(&s, ID, "1614265330", &header, BODY, TS + 301, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(&s, ID, "1614265330", &header, b"{}", TS, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&s, "msg_other", "1614265330", &header, BODY, TS, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&s, ID, "soon", &header, BODY, TS, 300),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            Secret::parse("whsec_not base64!"),
            Err(SignatureError::BadSecret)
        );
        assert_eq!(format!("{s:?}"), "Secret(..)", "never printed");
    }
}
