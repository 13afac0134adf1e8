//! Conversion of Auth0 bulk-import password fields into stored hashes.
//!
//! An Auth0 users file gives a user either `password_hash` (a bcrypt string) or
//! `custom_password_hash`:
//!
//! ```json
//! {
//!   "algorithm": "sha256",
//!   "hash": { "value": "d24e...", "encoding": "hex" },
//!   "salt": { "value": "abc123", "encoding": "utf8", "position": "prefix" },
//!   "password": { "encoding": "utf8" }
//! }
//! ```
//!
//! For `argon2`, `bcrypt` and `pbkdf2` the `hash.value` is the whole hash (a PHC string, or
//! bcrypt's modular crypt string) with encoding `utf8`, and no salt. For `md4`, `md5`, `sha1`,
//! `sha256` and `sha512` it is the raw digest in `hex` or `base64`, with an optional salt.

use argon2::password_hash::phc::PasswordHash;
use serde::Deserialize;
use serde_json::Value;

use super::codec::{b64_encode, base64_lenient, hex_decode};
use super::format::{HashFormat, MAX_STORED_HASH_LEN, Reason, parse};
use super::legacy::Pbkdf2Prf;
use super::salted::{self, PasswordEncoding, SaltPosition, SaltedHash, ShaAlgorithm};
use crate::CryptoError;

/// Auth0's PBKDF2 iteration count when `i` is absent.
const AUTH0_DEFAULT_PBKDF2_ITERATIONS: u32 = 100_000;

#[derive(Deserialize)]
struct CustomPasswordHash {
    algorithm: String,
    hash: HashField,
    #[serde(default)]
    salt: Option<SaltField>,
    #[serde(default)]
    password: Option<PasswordField>,
}

#[derive(Deserialize)]
struct HashField {
    value: String,
    #[serde(default)]
    encoding: Option<String>,
    /// Some Auth0 pages document the salt as `hash.salt`; the schema has it beside `hash`.
    #[serde(default)]
    salt: Option<SaltField>,
}

#[derive(Deserialize)]
struct SaltField {
    value: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    position: Option<String>,
}

#[derive(Deserialize)]
struct PasswordField {
    #[serde(default)]
    encoding: Option<String>,
}

/// Converts Auth0's plain `password_hash` field (a bcrypt string, `$2a$` or `$2b$`) into the
/// stored form: the same string, once checked as [`is_importable`](super::is_importable)
/// checks it.
///
/// # Errors
/// [`CryptoError::UnimportableHash`] when it is not a bcrypt hash within the cost limit.
pub fn from_auth0_password_hash(password_hash: &str) -> Result<String, CryptoError> {
    match parse(password_hash).map(|s| s.format()) {
        Ok(HashFormat::Bcrypt) if password_hash.starts_with("$2") => Ok(password_hash.to_owned()),
        Ok(_) => Err(CryptoError::UnimportableHash(
            "Auth0 password_hash must be a bcrypt hash",
        )),
        Err(reason) => Err(CryptoError::UnimportableHash(reason)),
    }
}

/// Converts Auth0's `custom_password_hash` object (bulk user import) into the stored form that
/// [`PasswordHasher::verify`](super::PasswordHasher::verify) accepts:
///
/// | `algorithm` | stored form |
/// |---|---|
/// | `argon2` | `hash.value` (PHC `$argon2id$...`, `$argon2i$...`, `$argon2d$...`) |
/// | `bcrypt` | `hash.value` (`$2a$`, `$2b$`, `$2y$`) |
/// | `pbkdf2` | `hash.value` (PHC `$pbkdf2-sha1$`, `-sha256$`, `-sha512$`), with Auth0's defaults written out when `i` (100000) or `l` are missing |
/// | `sha256`, `sha512` | `$sha256-salted$...` / `$sha512-salted$...` (see the `password` module docs) |
///
/// For `sha256`/`sha512`: `hash.encoding` is `hex` or `base64` (required); the optional `salt`
/// has `encoding` `utf8` (default), `hex` or `base64` and `position` `prefix` or `suffix`
/// (required with a salt); `password.encoding` is `utf8` (default), `utf16le`/`ucs2` or
/// `latin1`/`binary`/`ascii`. The other algorithms take only `utf8` passwords.
///
/// Refused: `md4`, `md5` and `sha1` (too weak to keep even until the next sign-in: those users
/// must reset their password), `hmac`, `ldap` and `scrypt` (not supported), and PBKDF2 with
/// another digest than SHA-1, SHA-256 or SHA-512.
///
/// # Errors
/// [`CryptoError::UnimportableHash`] naming what is wrong; it never contains the input.
pub fn from_auth0(custom_password_hash: &Value) -> Result<String, CryptoError> {
    convert(custom_password_hash).map_err(CryptoError::UnimportableHash)
}

fn convert(value: &Value) -> Result<String, Reason> {
    let custom = CustomPasswordHash::deserialize(value).map_err(
        |_| "Auth0 custom_password_hash is not the expected object (algorithm, hash.value)",
    )?;
    if custom.hash.value.len() > MAX_STORED_HASH_LEN
        || [custom.salt.as_ref(), custom.hash.salt.as_ref()]
            .into_iter()
            .flatten()
            .any(|s| s.value.len() > MAX_STORED_HASH_LEN)
    {
        return Err("Auth0 hash or salt value longer than 1024 bytes");
    }
    let password_encoding = match custom.password.as_ref().and_then(|p| p.encoding.as_deref()) {
        None | Some("utf8" | "utf-8") => PasswordEncoding::Utf8,
        Some("utf16le" | "ucs2") => PasswordEncoding::Utf16Le,
        Some("latin1" | "binary" | "ascii") => PasswordEncoding::Latin1,
        Some(_) => return Err("unsupported Auth0 password.encoding"),
    };
    match custom.algorithm.as_str() {
        "argon2" | "bcrypt" | "pbkdf2" => {
            if !matches!(custom.hash.encoding.as_deref(), None | Some("utf8")) {
                return Err("Auth0 argon2, bcrypt and pbkdf2 hashes must have encoding utf8");
            }
            if custom.salt.is_some() || custom.hash.salt.is_some() {
                return Err("Auth0 argon2, bcrypt and pbkdf2 hashes take no separate salt");
            }
            if password_encoding != PasswordEncoding::Utf8 {
                return Err(
                    "Auth0 argon2, bcrypt and pbkdf2 hashes are supported with utf8 passwords only",
                );
            }
            let stored = if custom.algorithm == "pbkdf2" {
                normalise_pbkdf2(&custom.hash.value)?
            } else {
                custom.hash.value.clone()
            };
            let format = parse(&stored)?.format();
            let expected = match custom.algorithm.as_str() {
                "argon2" => {
                    matches!(
                        format,
                        HashFormat::Argon2id | HashFormat::Argon2i | HashFormat::Argon2d
                    ) && stored.starts_with("$argon2")
                }
                "bcrypt" => format == HashFormat::Bcrypt && stored.starts_with("$2"),
                _ => true,
            };
            if !expected {
                return Err("Auth0 hash value does not match its algorithm");
            }
            Ok(stored)
        }
        "sha256" => salted_sha(ShaAlgorithm::Sha256, &custom, password_encoding),
        "sha512" => salted_sha(ShaAlgorithm::Sha512, &custom, password_encoding),
        "md4" | "md5" | "sha1" => Err(
            "md4, md5 and sha1 password hashes are too weak to import: these users must reset their password",
        ),
        "hmac" | "ldap" | "scrypt" => Err("Auth0 hmac, ldap and scrypt hashes are not supported"),
        _ => Err("unknown Auth0 hash algorithm"),
    }
}

/// Auth0's PBKDF2 PHC string with `i` and `l` written out (Auth0 defaults `i` to 100000; `l`
/// is the hash's length, which must agree with `l` when given).
fn normalise_pbkdf2(value: &str) -> Result<String, Reason> {
    let hash = PasswordHash::new(value).map_err(|_| "malformed PBKDF2 PHC string")?;
    let prf = Pbkdf2Prf::from_ident(hash.algorithm.as_str())
        .ok_or("unsupported PBKDF2 digest (sha1, sha256 and sha512 are)")?;
    if hash.version.is_some()
        || hash
            .params
            .iter()
            .any(|(name, _)| !matches!(name.as_str(), "i" | "l"))
    {
        return Err("unknown PBKDF2 parameter (i and l are)");
    }
    let (Some(salt), Some(output)) = (&hash.salt, &hash.hash) else {
        return Err("PBKDF2 hash without salt or output");
    };
    let iterations = hash
        .params
        .get_decimal("i")
        .unwrap_or(AUTH0_DEFAULT_PBKDF2_ITERATIONS);
    if let Some(len) = hash.params.get_decimal("l")
        && usize::try_from(len).ok() != Some(output.len())
    {
        return Err("PBKDF2 length parameter (l) differs from the hash's length");
    }
    Ok(format!(
        "${}$i={iterations},l={}${}${}",
        prf.ident(),
        output.len(),
        b64_encode(salt.as_ref()),
        b64_encode(output.as_bytes())
    ))
}

fn salted_sha(
    algorithm: ShaAlgorithm,
    custom: &CustomPasswordHash,
    encoding: PasswordEncoding,
) -> Result<String, Reason> {
    let expected = match custom.hash.encoding.as_deref() {
        Some("hex") => hex_decode(&custom.hash.value).ok_or("Auth0 hash value is not hex")?,
        Some("base64") => {
            base64_lenient(&custom.hash.value).ok_or("Auth0 hash value is not base64")?
        }
        _ => return Err("Auth0 sha256 and sha512 hashes need hash.encoding hex or base64"),
    };
    let salt_field = match (&custom.salt, &custom.hash.salt) {
        (Some(_), Some(_)) => return Err("Auth0 salt given twice (salt and hash.salt)"),
        (Some(s), None) | (None, Some(s)) => Some(s),
        (None, None) => None,
    };
    let (salt, position) = match salt_field {
        None => (Vec::new(), SaltPosition::None),
        Some(field) => {
            let salt = match field.encoding.as_deref() {
                None | Some("utf8") => field.value.as_bytes().to_vec(),
                Some("hex") => hex_decode(&field.value).ok_or("Auth0 salt value is not hex")?,
                Some("base64") => {
                    base64_lenient(&field.value).ok_or("Auth0 salt value is not base64")?
                }
                Some(_) => return Err("Auth0 salt.encoding must be utf8, hex or base64"),
            };
            let position = match field.position.as_deref() {
                Some("prefix") => SaltPosition::Prefix,
                Some("suffix") => SaltPosition::Suffix,
                _ => return Err("Auth0 salt.position must be prefix or suffix"),
            };
            if salt.is_empty() {
                (salt, SaltPosition::None)
            } else {
                (salt, position)
            }
        }
    };
    let hash = SaltedHash {
        algorithm,
        position,
        encoding,
        salt,
        expected,
    }
    .check()?;
    let stored = hash.encode();
    // The stored form must parse back to the same hash.
    if salted::parse(&stored).ok().as_ref() != Some(&hash) {
        return Err("Auth0 salted hash cannot be stored");
    }
    Ok(stored)
}
