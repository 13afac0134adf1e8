//! Recognising and parsing stored password hashes, without a password.
//!
//! One parser serves both [`is_importable`] (an import refuses a bad line up front, with a
//! reason) and [`PasswordHasher::verify`](super::PasswordHasher::verify), so a hash that
//! imports is a hash that verifies, under the same cost limits.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Version};

use super::{
    MAX_ARGON2_ITERATIONS, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PARALLELISM, legacy, salted, scrypt,
};
use crate::CryptoError;

/// Longest stored hash accepted, in bytes. The longest legitimate forms (PBKDF2 or salted SHA
/// with long salts and 64-byte outputs) stay well under it.
pub const MAX_STORED_HASH_LEN: usize = 1024;

/// Why a stored hash or an export record is refused: a fixed text, never the input.
pub(super) type Reason = &'static str;

/// The algorithm family of a stored password hash, as [`is_importable`] recognises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashFormat {
    /// `$argon2id$...` (PHC), or Django's `argon2$argon2id$...`: the format of new hashes.
    Argon2id,
    /// `$argon2i$...` (PHC), or Django's `argon2$argon2i$...`.
    Argon2i,
    /// `$argon2d$...` (PHC).
    Argon2d,
    /// `$2a$`, `$2b$`, `$2y$` (bcrypt).
    Bcrypt,
    /// Django's `bcrypt_sha256$$2b$...`: bcrypt of the hex SHA-256 of the password.
    BcryptSha256,
    /// `$scrypt$ln=..,r=..,p=..$salt$hash` (PHC, as the RustCrypto `scrypt` crate and passlib
    /// write it).
    Scrypt,
    /// `$pbkdf2-sha1$i=..,l=..$salt$hash` (PHC: Keycloak's `pbkdf2`, Auth0's `pbkdf2-sha1`).
    Pbkdf2Sha1,
    /// `$pbkdf2-sha256$i=..,l=..$salt$hash` (PHC) or Django's `pbkdf2_sha256$...`.
    Pbkdf2Sha256,
    /// `$pbkdf2-sha512$i=..,l=..$salt$hash` (PHC).
    Pbkdf2Sha512,
    /// `$sha256-salted$pos=..$salt$hash`: one SHA-256 of salt and password (see the
    /// `password` module docs).
    SaltedSha256,
    /// `$sha512-salted$pos=..$salt$hash`: one SHA-512 of salt and password.
    SaltedSha512,
}

impl HashFormat {
    /// A short name for reports and logs (`"argon2id"`, `"pbkdf2-sha256"`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Argon2i => "argon2i",
            Self::Argon2d => "argon2d",
            Self::Bcrypt => "bcrypt",
            Self::BcryptSha256 => "bcrypt-sha256",
            Self::Scrypt => "scrypt",
            Self::Pbkdf2Sha1 => "pbkdf2-sha1",
            Self::Pbkdf2Sha256 => "pbkdf2-sha256",
            Self::Pbkdf2Sha512 => "pbkdf2-sha512",
            Self::SaltedSha256 => "sha256-salted",
            Self::SaltedSha512 => "sha512-salted",
        }
    }
}

/// Checks, without a password, that `stored` is a hash that
/// [`PasswordHasher::verify`](super::PasswordHasher::verify) accepts: a known format, well
/// formed, and within the cost limits (the `MAX_*` constants). Nothing is hashed, so it is cheap enough to run on every line
/// of a bulk import.
///
/// # Errors
/// [`CryptoError::UnimportableHash`] with the reason, which never contains the hash.
pub fn is_importable(stored: &str) -> Result<HashFormat, CryptoError> {
    parse(stored)
        .map(|s| s.format())
        .map_err(CryptoError::UnimportableHash)
}

/// A parsed argon2 hash.
pub(super) struct Argon2Hash {
    /// Written in Django's spelling (`argon2$argon2id$...`): rehashed into the plain PHC form
    /// whatever its parameters.
    pub(super) django: bool,
    pub(super) algorithm: Algorithm,
    pub(super) version: Version,
    pub(super) params: argon2::Params,
    pub(super) salt: Vec<u8>,
    pub(super) expected: Vec<u8>,
}

/// A stored hash, parsed and checked against the cost limits.
pub(super) enum Stored<'a> {
    Argon2(Argon2Hash),
    Bcrypt(legacy::BcryptHash<'a>),
    Pbkdf2(legacy::Pbkdf2Hash),
    Scrypt(scrypt::ScryptHash),
    Salted(salted::SaltedHash),
}

impl Stored<'_> {
    pub(super) fn format(&self) -> HashFormat {
        match self {
            Self::Argon2(h) => match h.algorithm {
                Algorithm::Argon2id => HashFormat::Argon2id,
                Algorithm::Argon2i => HashFormat::Argon2i,
                Algorithm::Argon2d => HashFormat::Argon2d,
            },
            Self::Bcrypt(h) => h.format(),
            Self::Pbkdf2(h) => h.format(),
            Self::Scrypt(_) => HashFormat::Scrypt,
            Self::Salted(h) => h.format(),
        }
    }
}

/// Parses a stored hash of any supported format (dispatching on its prefix).
pub(super) fn parse(stored: &str) -> Result<Stored<'_>, Reason> {
    if stored.len() > MAX_STORED_HASH_LEN {
        return Err("longer than any supported hash format (1024 bytes at most)");
    }
    if stored.starts_with("$argon2") {
        parse_argon2(stored, false).map(Stored::Argon2)
    } else if let Some(phc) = stored.strip_prefix("argon2")
        && phc.starts_with("$argon2")
    {
        // Django: "argon2" followed by argon2-cffi's PHC string.
        parse_argon2(phc, true).map(Stored::Argon2)
    } else if let Some(bcrypt) = legacy::parse_bcrypt_any(stored) {
        bcrypt.map(Stored::Bcrypt)
    } else if let Some(pbkdf2) = legacy::parse_pbkdf2_any(stored) {
        pbkdf2.map(Stored::Pbkdf2)
    } else if stored.starts_with("$scrypt$") {
        scrypt::parse(stored).map(Stored::Scrypt)
    } else if salted::is_salted(stored) {
        salted::parse(stored).map(Stored::Salted)
    } else {
        Err("unknown password hash format")
    }
}

/// Parses `$argon2{id,i,d}$v=..$m=..,t=..,p=..$salt$hash`, within the `MAX_ARGON2_*` limits.
fn parse_argon2(stored: &str, django: bool) -> Result<Argon2Hash, Reason> {
    let hash = PasswordHash::new(stored).map_err(|_| "malformed argon2 PHC string")?;
    let algorithm =
        Algorithm::new(hash.algorithm.as_str()).map_err(|_| "unknown argon2 variant")?;
    let params =
        argon2::Params::try_from(&hash).map_err(|_| "argon2 parameters missing or out of range")?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB
        || params.t_cost() > MAX_ARGON2_ITERATIONS
        || params.p_cost() > MAX_ARGON2_PARALLELISM
    {
        return Err("argon2 cost over the limit (m <= 1 GiB, t <= 64, p <= 64)");
    }
    let version = Version::try_from(hash.version.unwrap_or(Version::V0x10.into()))
        .map_err(|_| "unknown argon2 version (16 and 19 are)")?;
    let (Some(salt), Some(expected)) = (hash.salt.as_ref(), hash.hash.as_ref()) else {
        return Err("argon2 hash without salt or output");
    };
    Ok(Argon2Hash {
        django,
        algorithm,
        version,
        params,
        salt: salt.as_ref().to_vec(),
        expected: expected.as_bytes().to_vec(),
    })
}
