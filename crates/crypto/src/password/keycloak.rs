//! Conversion of Keycloak password credentials (as in a realm export) into stored hashes.
//!
//! A realm export's user has `credentials: [{"type": "password", "secretData": "...",
//! "credentialData": "..."}]`, both fields JSON documents in a string:
//!
//! * `secretData`: `{"value":"<base64 hash>","salt":"<base64 salt>","additionalParameters":{}}`;
//! * `credentialData`: `{"hashIterations":27500,"algorithm":"pbkdf2-sha256","additionalParameters":{}}`;
//!   for `argon2` (Keycloak 24 and later) `additionalParameters` holds one-element string lists:
//!   `{"hashLength":["32"],"memory":["7168"],"type":["id"],"version":["1.3"],"parallelism":["1"]}`
//!   and `hashIterations` is Argon2's `t`.
//!
//! Keycloak's PBKDF2 key factories (`PBKDF2WithHmacSHA*`) and its Argon2 (BouncyCastle) both
//! take the password as UTF-8, as [`PasswordHasher::verify`](super::PasswordHasher::verify)
//! does. Keycloak's optional `\0` padding of short passwords (`max-padding-length`, for FIPS)
//! does not change a PBKDF2 result: HMAC pads its key with zeros anyway.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::codec::{b64_encode, base64_lenient};
use super::format::{HashFormat, Reason, parse};
use crate::CryptoError;

/// Longest `secretData` or `credentialData` accepted, in bytes.
pub const MAX_KEYCLOAK_FIELD_LEN: usize = 8 * 1024;

#[derive(Deserialize)]
struct SecretData {
    value: String,
    #[serde(default)]
    salt: Option<String>,
}

#[derive(Deserialize)]
struct CredentialData {
    #[serde(rename = "hashIterations")]
    hash_iterations: u32,
    algorithm: String,
    #[serde(rename = "additionalParameters", default)]
    additional_parameters: BTreeMap<String, Parameter>,
}

/// A value of `additionalParameters`: Keycloak writes one-element string lists; a bare string or
/// number is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Parameter {
    List(Vec<String>),
    Text(String),
    Number(u64),
}

impl Parameter {
    fn text(&self) -> Option<String> {
        match self {
            Self::List(values) => match values.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
            Self::Text(text) => Some(text.clone()),
            Self::Number(n) => Some(n.to_string()),
        }
    }
}

/// Converts a Keycloak password credential (its `secretData` and `credentialData` strings, as
/// in a realm export) into the stored form that
/// [`PasswordHasher::verify`](super::PasswordHasher::verify) accepts:
///
/// | Keycloak `algorithm` | stored form |
/// |---|---|
/// | `pbkdf2-sha256` | `$pbkdf2-sha256$i=..,l=..$salt$hash` |
/// | `pbkdf2-sha512` | `$pbkdf2-sha512$i=..,l=..$salt$hash` |
/// | `pbkdf2` (PBKDF2-HMAC-SHA1, early Keycloak versions' default) | `$pbkdf2-sha1$i=..,l=..$salt$hash` |
/// | `argon2` (Keycloak 24 and later) | `$argon2{id,i,d}$v=..$m=..,t=..,p=..$salt$hash` |
/// | `bcrypt` (community providers; `value` is the bcrypt string) | the bcrypt string |
///
/// The result is checked as [`is_importable`](super::is_importable) checks it (cost limits
/// included). Other algorithms (`pbkdf2-sha224`, `pbkdf2-sha384`, custom providers) are refused.
///
/// # Errors
/// [`CryptoError::UnimportableHash`] naming what is wrong; it never contains the input.
pub fn from_keycloak(secret_data: &str, credential_data: &str) -> Result<String, CryptoError> {
    convert(secret_data, credential_data).map_err(CryptoError::UnimportableHash)
}

fn convert(secret_data: &str, credential_data: &str) -> Result<String, Reason> {
    if secret_data.len() > MAX_KEYCLOAK_FIELD_LEN || credential_data.len() > MAX_KEYCLOAK_FIELD_LEN
    {
        return Err("Keycloak secretData or credentialData longer than 8 KiB");
    }
    let secret: SecretData = serde_json::from_str(secret_data)
        .map_err(|_| "Keycloak secretData is not the expected JSON (value, salt)")?;
    let credential: CredentialData = serde_json::from_str(credential_data).map_err(
        |_| "Keycloak credentialData is not the expected JSON (hashIterations, algorithm)",
    )?;
    let (stored, expected) = match credential.algorithm.as_str() {
        "pbkdf2-sha256" => (
            pbkdf2("pbkdf2-sha256", &secret, &credential)?,
            HashFormat::Pbkdf2Sha256,
        ),
        "pbkdf2-sha512" => (
            pbkdf2("pbkdf2-sha512", &secret, &credential)?,
            HashFormat::Pbkdf2Sha512,
        ),
        "pbkdf2" => (
            pbkdf2("pbkdf2-sha1", &secret, &credential)?,
            HashFormat::Pbkdf2Sha1,
        ),
        "argon2" => (argon2(&secret, &credential)?, HashFormat::Argon2id),
        "bcrypt" => (secret.value.clone(), HashFormat::Bcrypt),
        _ => {
            return Err(
                "unsupported Keycloak hash algorithm (pbkdf2, pbkdf2-sha256, pbkdf2-sha512, argon2 and bcrypt are)",
            );
        }
    };
    let format = parse(&stored)?.format();
    let family_ok = match expected {
        HashFormat::Argon2id => matches!(
            format,
            HashFormat::Argon2id | HashFormat::Argon2i | HashFormat::Argon2d
        ),
        other => format == other,
    };
    if !family_ok {
        return Err("Keycloak credential value does not match its algorithm");
    }
    Ok(stored)
}

fn salt(secret: &SecretData) -> Result<Vec<u8>, Reason> {
    let salt = secret
        .salt
        .as_deref()
        .ok_or("Keycloak credential without a salt")?;
    let salt = base64_lenient(salt).ok_or("Keycloak salt is not base64")?;
    if !(8..=48).contains(&salt.len()) {
        return Err("Keycloak salt length out of range (8 to 48 bytes)");
    }
    Ok(salt)
}

fn hash_value(secret: &SecretData) -> Result<Vec<u8>, Reason> {
    let hash = base64_lenient(&secret.value).ok_or("Keycloak hash value is not base64")?;
    if !(10..=64).contains(&hash.len()) {
        return Err("Keycloak hash length out of range (10 to 64 bytes)");
    }
    Ok(hash)
}

fn pbkdf2(ident: &str, secret: &SecretData, credential: &CredentialData) -> Result<String, Reason> {
    let salt = salt(secret)?;
    let hash = hash_value(secret)?;
    Ok(format!(
        "${ident}$i={},l={}${}${}",
        credential.hash_iterations,
        hash.len(),
        b64_encode(&salt),
        b64_encode(&hash)
    ))
}

fn argon2(secret: &SecretData, credential: &CredentialData) -> Result<String, Reason> {
    let param = |name: &str| -> Result<String, Reason> {
        credential
            .additional_parameters
            .get(name)
            .and_then(Parameter::text)
            .ok_or("Keycloak argon2 credential without hashLength, memory, parallelism, type or version")
    };
    let number = |name: &str| -> Result<u32, Reason> {
        param(name)?
            .parse::<u32>()
            .map_err(|_| "Keycloak argon2 parameter is not a number")
    };
    let variant = match param("type")?.as_str() {
        "id" => "argon2id",
        "i" => "argon2i",
        "d" => "argon2d",
        _ => return Err("unknown Keycloak argon2 type (id, i and d are)"),
    };
    let version = match param("version")?.as_str() {
        "1.3" => 19,
        "1.0" => 16,
        _ => return Err("unknown Keycloak argon2 version (1.3 and 1.0 are)"),
    };
    let (memory, parallelism, hash_length) = (
        number("memory")?,
        number("parallelism")?,
        number("hashLength")?,
    );
    let salt = salt(secret)?;
    let hash = hash_value(secret)?;
    if usize::try_from(hash_length).ok() != Some(hash.len()) {
        return Err("Keycloak argon2 hashLength differs from the hash's length");
    }
    Ok(format!(
        "${variant}$v={version}$m={memory},t={},p={parallelism}${}${}",
        credential.hash_iterations,
        b64_encode(&salt),
        b64_encode(&hash)
    ))
}
