//! Secrets at rest: AES-256-GCM with the installation's master key; API keys as SHA-256
//! hashes (they are 256-bit random strings, so a fast hash is the right tool).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Errors of the crypto layer. They never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The master key is not 32 bytes of base64 or hex.
    #[error("master key must be 32 bytes, written as base64 or 64 hex digits")]
    BadMasterKey,
    /// A ciphertext did not decrypt under the master key (wrong key or corrupted data).
    #[error("secret could not be decrypted with this master key")]
    Decrypt,
}

/// The master key that encrypts every secret at rest.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Parses a key written as base64 (standard or URL-safe) or as 64 hex digits.
    pub fn parse(text: &str) -> Result<MasterKey, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::BadMasterKey)?
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| CryptoError::BadMasterKey)?
        };
        if bytes.len() != 32 {
            return Err(CryptoError::BadMasterKey);
        }
        Ok(MasterKey(*Key::<Aes256Gcm>::from_slice(&bytes)))
    }

    /// A fresh random key, and its base64 text for the key file.
    pub fn generate() -> (MasterKey, String) {
        let key = Aes256Gcm::generate_key(OsRng);
        let text = STANDARD.encode(key);
        (MasterKey(key), text)
    }

    /// A MAC of `message` (HMAC-SHA-256, hex) under a key of its own for `purpose`, derived
    /// from this key: what the gateway signs and checks itself (every replica alike), such as
    /// the expiring URLs of media.
    pub fn mac(&self, purpose: &str, message: &str) -> String {
        use hmac::{Hmac, Mac};
        type HmacSha256 = Hmac<sha2::Sha256>;
        let mut derive =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        derive.update(format!("openbsp:{purpose}").as_bytes());
        let key = derive.finalize().into_bytes();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `mac` is [`MasterKey::mac`] of `message` for `purpose` (compared in constant
    /// time).
    pub fn verify_mac(&self, purpose: &str, message: &str, mac: &str) -> bool {
        let want = self.mac(purpose, message);
        want.len() == mac.len()
            && want
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Encrypts `plaintext`: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", STANDARD.encode(out))
    }

    /// Decrypts what [`MasterKey::encrypt`] produced.
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let b64 = stored.strip_prefix("v1:").ok_or(CryptoError::Decrypt)?;
        let raw = STANDARD.decode(b64).map_err(|_| CryptoError::Decrypt)?;
        if raw.len() < 12 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = Aes256Gcm::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Decrypt)
    }
}

/// SHA-256 of a secret, hex: how API keys and verify tokens are looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// SHA-256 of `bytes`: how a webhook payload already stored is known again when the same
/// bytes come a second time (Meta's retry, or a replay).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `given` is `secret`, without the time taken telling how much of it matched: the
/// digests are compared, so a difference in time says nothing of the secret's bytes.
pub fn same_secret(secret: &str, given: &str) -> bool {
    Sha256::digest(secret.as_bytes()) == Sha256::digest(given.as_bytes())
}

/// A new API key: `obsp_` + 43 characters of URL-safe base64 (256 random bits).
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("obsp_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A random secret of `n` bytes, URL-safe base64 (verify tokens, app secrets in sandbox).
pub fn random_token(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_compared_whole() {
        assert!(same_secret("token-1", "token-1"));
        assert!(!same_secret("token-1", "token-2"));
        assert!(!same_secret("token-1", "token-1 "));
        assert!(!same_secret("token-1", ""));
    }

    #[test]
    fn macs_are_per_key_and_purpose() {
        let (key, text) = MasterKey::generate();
        let again = MasterKey::parse(&text).unwrap();
        let mac = key.mac("media-url", "med_1:1700000000000");
        assert_eq!(mac.len(), 64);
        assert!(again.verify_mac("media-url", "med_1:1700000000000", &mac));
        assert!(!key.verify_mac("media-url", "med_1:1700000000001", &mac));
        assert!(!key.verify_mac("other", "med_1:1700000000000", &mac));
        assert!(!key.verify_mac("media-url", "med_1:1700000000000", &mac[..63]));
        let (other, _) = MasterKey::generate();
        assert!(!other.verify_mac("media-url", "med_1:1700000000000", &mac));
    }

    #[test]
    fn encrypts_and_decrypts() {
        let (key, text) = MasterKey::generate();
        let again = MasterKey::parse(&text).unwrap();
        let ct = key.encrypt("EAAG-access-token");
        assert!(!ct.contains("EAAG"));
        assert_eq!(again.decrypt(&ct).unwrap(), "EAAG-access-token");
        // Two encryptions of the same secret differ (fresh nonce).
        assert_ne!(ct, key.encrypt("EAAG-access-token"));
        let (other, _) = MasterKey::generate();
        assert!(other.decrypt(&ct).is_err());
        assert!(key.decrypt("v1:AAAA").is_err());
    }

    #[test]
    fn parses_hex_and_rejects_short_keys() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert!(format!("{:?}", MasterKey::parse(&"ab".repeat(32)).unwrap()).contains("redacted"));
    }

    #[test]
    fn api_keys_are_long_and_hash_stably() {
        let k = new_api_key();
        assert!(k.starts_with("obsp_") && k.len() == 48);
        assert_eq!(hash_secret(&k), hash_secret(&k));
        assert_ne!(hash_secret(&k), hash_secret(&new_api_key()));
    }
}
