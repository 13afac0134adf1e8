//! Encryption of secrets at rest under the server's master key.
//!
//! Signing keys, TOTP seeds, upstream client secrets and similar values are stored encrypted
//! with AES-256-GCM under one 32-byte [`MasterKey`] read from a key file. The associated data
//! binds each ciphertext to its context (for example `b"signing_key:<kid>"`), so a ciphertext
//! copied to another row does not decrypt.
//!
//! Blob format, version 1: `0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes)`. Nonces
//! are random; with 96-bit random nonces a key must not encrypt more than about 2^32 values,
//! far beyond what an IAM server stores.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use zeroize::{Zeroize as _, Zeroizing};

use crate::CryptoError;
use crate::random::random_bytes;

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;
/// Format version byte at the start of every blob.
const VERSION: u8 = 1;
/// Length of the AES-GCM tag.
const TAG_LEN: usize = 16;
/// Smallest valid blob: version, nonce and tag around an empty plaintext.
const MIN_BLOB_LEN: usize = 1 + NONCE_LEN + TAG_LEN;

/// The 32-byte key that encrypts secrets at rest. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; MASTER_KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random key from the OS CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        Self(Zeroizing::new(random_bytes::<MASTER_KEY_LEN>()))
    }

    /// A key from exactly 32 raw bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        if bytes.len() != MASTER_KEY_LEN {
            return Err(CryptoError::InvalidKey);
        }
        key.copy_from_slice(bytes);
        Ok(Self(key))
    }

    /// Parses a key file's content: 64 hexadecimal digits, or base64 of 32 bytes (standard or
    /// URL-safe alphabet, padded or not). Surrounding whitespace (a trailing newline) is
    /// ignored.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when the text is neither, or does not hold 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if text.len() == 2 * MASTER_KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Self::from_bytes(&decode_hex(text)?);
        }
        let decoded = STANDARD_PAD_INDIFFERENT
            .decode(text)
            .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(text))
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::InvalidKey)?;
        Self::from_bytes(&decoded)
    }

    /// The key as padded standard base64 (44 characters), the form written to a new key file.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_slice())
    }

    fn aead_key(&self) -> Result<LessSafeKey, CryptoError> {
        UnboundKey::new(&AES_256_GCM, self.0.as_slice())
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::InvalidKey)
    }

    /// Encrypts `plaintext`, authenticating `aad` (context that must be presented again to
    /// decrypt; it is not stored in the blob).
    ///
    /// # Errors
    /// [`CryptoError::Encryption`] if the AEAD fails (plaintext too large).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.aead_key()?;
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut blob = Vec::with_capacity(MIN_BLOB_LEN + plaintext.len());
        blob.push(VERSION);
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(plaintext);
        let sealed = blob.get_mut(1 + NONCE_LEN..).map(|in_out| {
            key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                in_out,
            )
        });
        match sealed {
            Some(Ok(tag)) => {
                blob.extend_from_slice(tag.as_ref());
                Ok(blob)
            }
            _ => {
                blob.zeroize();
                Err(CryptoError::Encryption)
            }
        }
    }

    /// Decrypts a blob made by [`encrypt`](Self::encrypt) with the same key and `aad`.
    ///
    /// # Errors
    /// [`CryptoError::Decryption`] for a wrong key, wrong `aad`, an unknown version byte, or a
    /// truncated or tampered blob.
    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if blob.len() < MIN_BLOB_LEN {
            return Err(CryptoError::Decryption);
        }
        let (version, rest) = blob.split_first().ok_or(CryptoError::Decryption)?;
        if *version != VERSION {
            return Err(CryptoError::Decryption);
        }
        let (nonce, sealed) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Decryption)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decryption)?;
        let key = self.aead_key()?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plaintext_len = key
            .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
            .map_err(|_| CryptoError::Decryption)?
            .len();
        buf.truncate(plaintext_len);
        Ok(buf)
    }

    /// A keyed digest of `data` that only a holder of the master key can
    /// compute or check (for one-time codes stored beside their context:
    /// the database alone cannot test guesses). HMAC-SHA256 under a subkey
    /// derived from the master key for MACs only, so the key never serves
    /// two primitives; `context` separates uses.
    #[must_use]
    pub fn mac(&self, context: &str, data: &[u8]) -> [u8; 32] {
        let subkey = Zeroizing::new(crate::random::hmac_sha256(
            self.0.as_slice(),
            b"portcullis/master-key/mac/v1",
        ));
        let mut message = Vec::with_capacity(context.len() + 1 + data.len());
        message.extend_from_slice(context.as_bytes());
        message.push(0);
        message.extend_from_slice(data);
        crate::random::hmac_sha256(subkey.as_slice(), &message)
    }
}

/// Decodes an even-length string of hex digits (already checked to be hex).
fn decode_hex(text: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    fn nibble(c: u8) -> Result<u8, CryptoError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(CryptoError::InvalidKey),
        }
    }
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 2));
    for pair in text.as_bytes().chunks(2) {
        let [hi, lo] = pair else {
            return Err(CryptoError::InvalidKey);
        };
        out.push(nibble(*hi)? << 4 | nibble(*lo)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    #[test]
    fn round_trip() {
        let key = MasterKey::generate();
        for plaintext in [&b""[..], b"x", b"a much longer secret value \x00\xff"] {
            let blob = key.encrypt(plaintext, b"ctx").unwrap();
            assert_eq!(blob.len(), MIN_BLOB_LEN + plaintext.len());
            assert_eq!(blob[0], 1);
            assert_eq!(key.decrypt(&blob, b"ctx").unwrap().as_slice(), plaintext);
        }
    }

    #[test]
    fn macs_depend_on_key_context_and_data() {
        let key = MasterKey::generate();
        let other = MasterKey::generate();
        let m = key.mac("ctx", b"data");
        assert_eq!(m, key.mac("ctx", b"data"));
        assert_ne!(m, other.mac("ctx", b"data"));
        assert_ne!(m, key.mac("ctx2", b"data"));
        assert_ne!(m, key.mac("ctx", b"data2"));
        // The separator keeps context and data apart.
        assert_ne!(key.mac("ab", b"c"), key.mac("a", b"bc"));
    }

    #[test]
    fn nonces_are_fresh() {
        let key = MasterKey::generate();
        let a = key.encrypt(b"same", b"").unwrap();
        let b = key.encrypt(b"same", b"").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[1..13], b[1..13]);
    }

    #[test]
    fn wrong_key_fails() {
        let blob = MasterKey::generate().encrypt(b"secret", b"ctx").unwrap();
        assert_eq!(
            MasterKey::generate().decrypt(&blob, b"ctx"),
            Err(CryptoError::Decryption)
        );
    }

    #[test]
    fn wrong_aad_fails() {
        let key = MasterKey::generate();
        let blob = key.encrypt(b"secret", b"signing_key:a").unwrap();
        assert_eq!(
            key.decrypt(&blob, b"signing_key:b"),
            Err(CryptoError::Decryption)
        );
        assert_eq!(key.decrypt(&blob, b""), Err(CryptoError::Decryption));
    }

    #[test]
    fn tampering_is_detected() {
        let key = MasterKey::generate();
        let blob = key.encrypt(b"secret value", b"ctx").unwrap();
        for i in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[i] ^= 0x01;
            assert_eq!(
                key.decrypt(&tampered, b"ctx"),
                Err(CryptoError::Decryption),
                "byte {i}"
            );
        }
        for len in 0..blob.len() {
            assert_eq!(
                key.decrypt(&blob[..len], b"ctx"),
                Err(CryptoError::Decryption)
            );
        }
        let mut extended = blob.clone();
        extended.push(0);
        assert_eq!(key.decrypt(&extended, b"ctx"), Err(CryptoError::Decryption));
    }

    #[test]
    fn from_bytes_requires_32() {
        assert!(MasterKey::from_bytes(&[7u8; 32]).is_ok());
        for len in [0, 16, 31, 33, 64] {
            assert_eq!(
                MasterKey::from_bytes(&vec![7u8; len]).unwrap_err(),
                CryptoError::InvalidKey
            );
        }
    }

    #[test]
    fn parse_hex_and_base64_forms() {
        let raw: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(37).wrapping_add(250))
            .collect();
        let key = MasterKey::from_bytes(&raw).unwrap();
        let blob = key.encrypt(b"payload", b"").unwrap();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let forms = [
            hex.clone(),
            hex.to_uppercase(),
            format!("  {hex}\n"),
            STANDARD.encode(&raw),
            STANDARD_NO_PAD.encode(&raw),
            URL_SAFE.encode(&raw),
            URL_SAFE_NO_PAD.encode(&raw),
            format!("{}\n", key.to_base64()),
        ];
        assert!(forms.iter().any(|f| f.contains('+') || f.contains('/')));
        assert!(forms.iter().any(|f| f.contains('-') || f.contains('_')));
        for form in forms {
            let parsed = MasterKey::parse(&form).unwrap();
            assert_eq!(
                parsed.decrypt(&blob, b"").unwrap().as_slice(),
                b"payload",
                "{form}"
            );
        }
    }

    #[test]
    fn parse_rejects_bad_input() {
        let short_hex = "ab".repeat(31);
        let long_b64 = STANDARD.encode([1u8; 33]);
        let non_hex = "zz".repeat(32);
        for bad in ["", "   ", "not a key", &short_hex, &long_b64, &non_hex] {
            assert_eq!(
                MasterKey::parse(bad).unwrap_err(),
                CryptoError::InvalidKey,
                "{bad}"
            );
        }
    }

    #[test]
    fn to_base64_round_trips_and_debug_is_redacted() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        let again = MasterKey::parse(&text).unwrap();
        let blob = key.encrypt(b"v", b"a").unwrap();
        assert_eq!(again.decrypt(&blob, b"a").unwrap().as_slice(), b"v");
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
        assert!(!format!("{key:?}").contains(&text));
    }
}
