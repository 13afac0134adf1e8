//! Verification of imported scrypt hashes in PHC form: `$scrypt$ln=..,r=..,p=..$salt$hash`
//! (B64 salt and hash), as the RustCrypto `scrypt` crate and passlib write them.
//!
//! scrypt needs `128 * r * 2^ln` bytes of memory and about `p * r * 2^ln` units of work, both
//! chosen by whoever wrote the hash: both are capped, so a hostile stored hash cannot make a
//! verification take seconds or gigabytes.

use argon2::password_hash::phc::PasswordHash;

use super::Verification;
use super::format::Reason;
use crate::random::constant_time_eq;

/// Largest scrypt memory (`128 * r * 2^ln` bytes) accepted in a stored hash: 128 MiB, the
/// memory of OWASP's recommended parameters (`ln=17, r=8, p=1`, the RustCrypto crate's
/// default); passlib's default (`ln=16`) needs 64 MiB.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 128 * 1024 * 1024;
/// Largest scrypt work (`p * r * 2^ln`) accepted in a stored hash: twice OWASP's recommended
/// parameters (`2^20`), about a second of one core.
pub const MAX_SCRYPT_WORK: u64 = 1 << 21;
/// Largest `ln` accepted (with `r = 1`, the memory limit already stops at 20).
const MAX_SCRYPT_LOG_N: u64 = 24;
/// Largest `p` accepted.
const MAX_SCRYPT_P: u64 = 64;

/// A parsed scrypt hash.
pub(super) struct ScryptHash {
    params: ::scrypt::Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

/// Parses `$scrypt$ln=..,r=..,p=..$salt$hash`, within the cost limits.
pub(super) fn parse(stored: &str) -> Result<ScryptHash, Reason> {
    let hash = PasswordHash::new(stored).map_err(|_| "malformed scrypt PHC string")?;
    if hash.algorithm.as_str() != "scrypt" || hash.version.is_some() {
        return Err("malformed scrypt PHC string");
    }
    if hash
        .params
        .iter()
        .any(|(name, _)| !matches!(name.as_str(), "ln" | "r" | "p"))
    {
        return Err("unknown scrypt parameter (ln, r and p are)");
    }
    let (Some(ln), Some(r), Some(p)) = (
        hash.params.get_decimal("ln"),
        hash.params.get_decimal("r"),
        hash.params.get_decimal("p"),
    ) else {
        return Err("scrypt hash without its ln, r and p parameters");
    };
    let (ln, r, p) = (u64::from(ln), u64::from(r), u64::from(p));
    if ln == 0 || r == 0 || p == 0 {
        return Err("scrypt parameter ln, r or p is zero");
    }
    if ln > MAX_SCRYPT_LOG_N || p > MAX_SCRYPT_P {
        return Err(
            "scrypt cost over the limit (memory 128 * r * 2^ln <= 128 MiB, work p * r * 2^ln <= 2^21)",
        );
    }
    let n = 1u64 << ln;
    let memory = n.saturating_mul(r).saturating_mul(128);
    let work = n.saturating_mul(r).saturating_mul(p);
    if memory > MAX_SCRYPT_MEMORY_BYTES || work > MAX_SCRYPT_WORK {
        return Err(
            "scrypt cost over the limit (memory 128 * r * 2^ln <= 128 MiB, work p * r * 2^ln <= 2^21)",
        );
    }
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err("scrypt hash without salt or output");
    };
    // The limits above keep these in range.
    let (Ok(log_n), Ok(r), Ok(p)) = (u8::try_from(ln), u32::try_from(r), u32::try_from(p)) else {
        return Err("scrypt parameter out of range");
    };
    let params = ::scrypt::Params::new(log_n, r, p).map_err(|_| "scrypt parameter out of range")?;
    Ok(ScryptHash {
        params,
        salt: salt.as_ref().to_vec(),
        expected: expected.as_bytes().to_vec(),
    })
}

/// Verifies a parsed scrypt hash, comparing in constant time.
pub(super) fn verify(password: &str, hash: &ScryptHash) -> Verification {
    let mut out = vec![0u8; hash.expected.len()];
    if ::scrypt::scrypt(password.as_bytes(), &hash.salt, &hash.params, &mut out).is_err() {
        return Verification::Invalid;
    }
    if constant_time_eq(&out, &hash.expected) {
        Verification::Valid { needs_rehash: true }
    } else {
        Verification::Invalid
    }
}
