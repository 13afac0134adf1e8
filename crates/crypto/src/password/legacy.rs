//! Verification of imported legacy password hashes (bcrypt, PBKDF2). Never used for new
//! hashes: a successful verification always asks for a rehash to Argon2id.

use std::num::NonZeroU32;

use argon2::password_hash::phc::PasswordHash;
use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Verification;
use crate::CryptoError;

/// Largest bcrypt cost accepted in a stored hash (2^16 rounds, about 5 s).
pub const MAX_BCRYPT_COST: u32 = 16;
/// Largest PBKDF2 iteration count accepted in a stored hash.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Longest PBKDF2 output accepted in a stored hash.
const MAX_PBKDF2_OUTPUT: usize = 128;

/// Whether `stored` looks like a bcrypt hash (`$2a$`, `$2b$` or `$2y$`).
pub(super) fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// Whether `stored` looks like a PBKDF2 hash in PHC or Django form.
pub(super) fn is_pbkdf2(stored: &str) -> bool {
    stored.starts_with("$pbkdf2-") || stored.starts_with("pbkdf2_sha256$")
}

/// Verifies a bcrypt hash. bcrypt only ever looks at the first 72 bytes of a password; that is
/// how the imported hash was made, so it is also how it must be checked.
pub(super) fn verify_bcrypt(password: &str, stored: &str) -> Result<Verification, CryptoError> {
    let cost = stored
        .get(4..6)
        .and_then(|c| c.parse::<u32>().ok())
        .ok_or(CryptoError::UnsupportedHash)?;
    if cost > MAX_BCRYPT_COST {
        return Err(CryptoError::UnsupportedHash);
    }
    match bcrypt::verify(password.as_bytes(), stored) {
        Ok(true) => Ok(Verification::Valid { needs_rehash: true }),
        Ok(false) => Ok(Verification::Invalid),
        Err(_) => Err(CryptoError::UnsupportedHash),
    }
}

/// Verifies `$pbkdf2-sha256$i=..,l=..$salt$hash` (PHC, B64 salt and hash, as written by the
/// RustCrypto `pbkdf2` crate), `$pbkdf2-sha512$...` likewise, or Django's
/// `pbkdf2_sha256$iterations$salt$base64hash` (the salt used as its literal bytes).
pub(super) fn verify_pbkdf2(password: &str, stored: &str) -> Result<Verification, CryptoError> {
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        return verify_django(password, rest);
    }
    let hash = PasswordHash::new(stored).map_err(|_| CryptoError::UnsupportedHash)?;
    let algorithm = match hash.algorithm.as_str() {
        "pbkdf2-sha256" => pbkdf2::PBKDF2_HMAC_SHA256,
        "pbkdf2-sha512" => pbkdf2::PBKDF2_HMAC_SHA512,
        _ => return Err(CryptoError::UnsupportedHash),
    };
    let iterations = hash
        .params
        .get_decimal("i")
        .ok_or(CryptoError::UnsupportedHash)?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err(CryptoError::UnsupportedHash);
    };
    if let Some(len) = hash.params.get_decimal("l")
        && usize::try_from(len).ok() != Some(expected.len())
    {
        return Err(CryptoError::UnsupportedHash);
    }
    check_pbkdf2(
        algorithm,
        iterations,
        salt.as_ref(),
        password,
        expected.as_bytes(),
    )
}

/// Django's `pbkdf2_sha256` format, after the algorithm prefix.
fn verify_django(password: &str, rest: &str) -> Result<Verification, CryptoError> {
    let mut parts = rest.split('$');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CryptoError::UnsupportedHash);
    };
    let iterations = iterations
        .parse::<u32>()
        .map_err(|_| CryptoError::UnsupportedHash)?;
    let expected = STANDARD
        .decode(hash)
        .map_err(|_| CryptoError::UnsupportedHash)?;
    check_pbkdf2(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt.as_bytes(),
        password,
        &expected,
    )
}

fn check_pbkdf2(
    algorithm: pbkdf2::Algorithm,
    iterations: u32,
    salt: &[u8],
    password: &str,
    expected: &[u8],
) -> Result<Verification, CryptoError> {
    let iterations = NonZeroU32::new(iterations).ok_or(CryptoError::UnsupportedHash)?;
    if iterations.get() > MAX_PBKDF2_ITERATIONS
        || expected.len() < 16
        || expected.len() > MAX_PBKDF2_OUTPUT
    {
        return Err(CryptoError::UnsupportedHash);
    }
    // `verify` compares in constant time.
    match pbkdf2::verify(algorithm, iterations, salt, password.as_bytes(), expected) {
        Ok(()) => Ok(Verification::Valid { needs_rehash: true }),
        Err(_) => Ok(Verification::Invalid),
    }
}
