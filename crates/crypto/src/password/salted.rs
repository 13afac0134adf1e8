//! Salted SHA-256 / SHA-512: one digest of salt and password, as Auth0's bulk import accepts
//! them (`custom_password_hash` algorithms `sha256` and `sha512`). Far too fast to protect a
//! password: they are only ever verified once, at the user's next sign-in, and replaced by
//! Argon2id.
//!
//! # Stored form
//!
//! A PHC-like string: `$sha256-salted$pos=<prefix|suffix|none>[,enc=<utf16le|latin1>]$<salt>$<hash>`
//! (likewise `$sha512-salted$`), where
//!
//! * `pos` says where the salt went: `prefix` is `SHA(salt || password)`, `suffix` is
//!   `SHA(password || salt)`, `none` is an unsalted `SHA(password)` and has an empty salt field;
//! * `enc` is how the password was turned into bytes: UTF-8 when absent, `utf16le` (Auth0's
//!   `utf16le` and `ucs2`) or `latin1` (Auth0's `latin1`, `binary` and `ascii`; a password
//!   with a character above U+00FF never matches);
//! * salt and hash are PHC "B64" (standard base64 alphabet, no padding); the salt is at most 256
//!   bytes and the hash exactly the digest's length (32 or 64 bytes).

use aws_lc_rs::digest;
use zeroize::Zeroizing;

use super::Verification;
use super::codec::{b64_decode, b64_encode};
use super::format::{HashFormat, Reason};
use crate::random::constant_time_eq;

/// Longest salt accepted, in bytes.
pub(super) const MAX_SALT_LEN: usize = 256;

/// The digest of a salted hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShaAlgorithm {
    Sha256,
    Sha512,
}

impl ShaAlgorithm {
    fn ident(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256-salted",
            Self::Sha512 => "sha512-salted",
        }
    }

    pub(super) fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

/// Where the salt was put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaltPosition {
    /// `SHA(salt || password)`.
    Prefix,
    /// `SHA(password || salt)`.
    Suffix,
    /// No salt: `SHA(password)`.
    None,
}

/// How the password was turned into bytes before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PasswordEncoding {
    Utf8,
    Utf16Le,
    Latin1,
}

/// A parsed salted SHA hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SaltedHash {
    pub(super) algorithm: ShaAlgorithm,
    pub(super) position: SaltPosition,
    pub(super) encoding: PasswordEncoding,
    pub(super) salt: Vec<u8>,
    pub(super) expected: Vec<u8>,
}

impl SaltedHash {
    pub(super) fn format(&self) -> HashFormat {
        match self.algorithm {
            ShaAlgorithm::Sha256 => HashFormat::SaltedSha256,
            ShaAlgorithm::Sha512 => HashFormat::SaltedSha512,
        }
    }

    /// The stored form (see the module docs). Only call it on a value that [`check`] accepts.
    pub(super) fn encode(&self) -> String {
        let position = match self.position {
            SaltPosition::Prefix => "prefix",
            SaltPosition::Suffix => "suffix",
            SaltPosition::None => "none",
        };
        let encoding = match self.encoding {
            PasswordEncoding::Utf8 => "",
            PasswordEncoding::Utf16Le => ",enc=utf16le",
            PasswordEncoding::Latin1 => ",enc=latin1",
        };
        format!(
            "${}$pos={position}{encoding}${}${}",
            self.algorithm.ident(),
            b64_encode(&self.salt),
            b64_encode(&self.expected)
        )
    }

    /// Checks the salt and output lengths against the position and digest.
    pub(super) fn check(self) -> Result<Self, Reason> {
        if self.expected.len() != self.algorithm.output_len() {
            return Err("salted SHA hash has the wrong length for its digest (32 or 64 bytes)");
        }
        if self.salt.len() > MAX_SALT_LEN {
            return Err("salt longer than 256 bytes");
        }
        match (self.position, self.salt.is_empty()) {
            (SaltPosition::None, false) => Err("salt given with position none"),
            (SaltPosition::Prefix | SaltPosition::Suffix, true) => {
                Err("empty salt with position prefix or suffix")
            }
            _ => Ok(self),
        }
    }
}

/// Whether `stored` claims to be a salted SHA hash.
pub(super) fn is_salted(stored: &str) -> bool {
    stored.starts_with("$sha256-salted$") || stored.starts_with("$sha512-salted$")
}

/// Parses the stored form (see the module docs).
pub(super) fn parse(stored: &str) -> Result<SaltedHash, Reason> {
    let mut parts = stored.split('$');
    let (Some(""), Some(ident), Some(params), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("malformed salted SHA hash ($ident$params$salt$hash)");
    };
    let algorithm = match ident {
        "sha256-salted" => ShaAlgorithm::Sha256,
        "sha512-salted" => ShaAlgorithm::Sha512,
        _ => return Err("unknown salted SHA digest"),
    };
    let (mut position, mut encoding) = (None, None);
    for param in params.split(',') {
        match param.split_once('=') {
            Some(("pos", value)) if position.is_none() => {
                position = Some(match value {
                    "prefix" => SaltPosition::Prefix,
                    "suffix" => SaltPosition::Suffix,
                    "none" => SaltPosition::None,
                    _ => return Err("salted SHA position must be prefix, suffix or none"),
                });
            }
            Some(("enc", value)) if encoding.is_none() => {
                encoding = Some(match value {
                    "utf16le" => PasswordEncoding::Utf16Le,
                    "latin1" => PasswordEncoding::Latin1,
                    _ => return Err("salted SHA password encoding must be utf16le or latin1"),
                });
            }
            _ => return Err("unknown or repeated salted SHA parameter (pos and enc are)"),
        }
    }
    let position = position.ok_or("salted SHA hash without its salt position (pos)")?;
    let salt = b64_decode(salt).ok_or("salted SHA salt is not B64")?;
    let expected = b64_decode(hash).ok_or("salted SHA hash is not B64")?;
    SaltedHash {
        algorithm,
        position,
        encoding: encoding.unwrap_or(PasswordEncoding::Utf8),
        salt,
        expected,
    }
    .check()
}

/// The password's bytes in `encoding`; `None` if it cannot be represented (latin1).
fn password_bytes(password: &str, encoding: PasswordEncoding) -> Option<Zeroizing<Vec<u8>>> {
    let bytes: Option<Vec<u8>> = match encoding {
        PasswordEncoding::Utf8 => Some(password.as_bytes().to_vec()),
        PasswordEncoding::Utf16Le => {
            Some(password.encode_utf16().flat_map(u16::to_le_bytes).collect())
        }
        PasswordEncoding::Latin1 => password
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect(),
    };
    bytes.map(Zeroizing::new)
}

/// Verifies a parsed salted hash, comparing in constant time. Always asks for a rehash.
pub(super) fn verify(password: &str, hash: &SaltedHash) -> Verification {
    let Some(password) = password_bytes(password, hash.encoding) else {
        return Verification::Invalid;
    };
    let mut ctx = digest::Context::new(hash.algorithm.digest());
    match hash.position {
        SaltPosition::Prefix => {
            ctx.update(&hash.salt);
            ctx.update(&password);
        }
        SaltPosition::Suffix => {
            ctx.update(&password);
            ctx.update(&hash.salt);
        }
        SaltPosition::None => ctx.update(&password),
    }
    if constant_time_eq(ctx.finish().as_ref(), &hash.expected) {
        Verification::Valid { needs_rehash: true }
    } else {
        Verification::Invalid
    }
}
