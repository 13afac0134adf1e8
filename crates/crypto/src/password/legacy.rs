//! Verification of imported legacy password hashes (bcrypt, PBKDF2). Never used for new
//! hashes: a successful verification always asks for a rehash to Argon2id.

use std::num::NonZeroU32;

use argon2::password_hash::phc::PasswordHash;
use aws_lc_rs::{digest, pbkdf2};

use super::Verification;
use super::codec::{base64_lenient, hex_lower};
use super::format::{HashFormat, Reason};

/// Largest bcrypt cost accepted in a stored hash (2^16 rounds, about 5 s).
pub const MAX_BCRYPT_COST: u32 = 16;
/// Largest PBKDF2 iteration count accepted in a stored hash.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Shortest PBKDF2 output accepted in a stored hash, in bytes.
const MIN_PBKDF2_OUTPUT: usize = 16;
/// Longest PBKDF2 output accepted in a stored hash (PHC strings hold at most 64 bytes).
const MAX_PBKDF2_OUTPUT: usize = 128;
/// Longest salt accepted in Django's PBKDF2 form (Django writes 22 characters).
const MAX_DJANGO_SALT: usize = 256;

/// How the password is turned into bcrypt's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BcryptInput {
    /// The password's UTF-8 bytes (bcrypt only reads the first 72).
    Plain,
    /// Django's `bcrypt_sha256`: the lower-case hex of the password's SHA-256 (64 bytes, so
    /// nothing is truncated).
    Sha256Hex,
}

/// A parsed bcrypt hash.
pub(super) struct BcryptHash<'a> {
    /// The 60-character modular crypt string (`$2b$10$...`).
    mcf: &'a str,
    input: BcryptInput,
}

impl BcryptHash<'_> {
    pub(super) fn format(&self) -> HashFormat {
        match self.input {
            BcryptInput::Plain => HashFormat::Bcrypt,
            BcryptInput::Sha256Hex => HashFormat::BcryptSha256,
        }
    }
}

/// Recognises bcrypt in any supported spelling: `$2a$`/`$2b$`/`$2y$`, or Django's
/// `bcrypt_sha256$` prefix. `None` when `stored` is not bcrypt at all.
pub(super) fn parse_bcrypt_any(stored: &str) -> Option<Result<BcryptHash<'_>, Reason>> {
    let (mcf, input) = if let Some(mcf) = stored.strip_prefix("bcrypt_sha256$") {
        (mcf, BcryptInput::Sha256Hex)
    } else if stored.starts_with("$2") {
        (stored, BcryptInput::Plain)
    } else {
        return None;
    };
    Some(parse_bcrypt(mcf, input))
}

fn parse_bcrypt(mcf: &str, input: BcryptInput) -> Result<BcryptHash<'_>, Reason> {
    if !["$2a$", "$2b$", "$2y$"].iter().any(|p| mcf.starts_with(p)) {
        return Err("unsupported bcrypt variant ($2a$, $2b$ and $2y$ are)");
    }
    let parts: bcrypt::HashParts = mcf.parse().map_err(|_| "malformed bcrypt hash")?;
    if parts.get_cost() > MAX_BCRYPT_COST {
        return Err("bcrypt cost over the limit (16)");
    }
    if parts.get_cost() < 4 {
        return Err("bcrypt cost below 4");
    }
    Ok(BcryptHash { mcf, input })
}

/// Verifies a bcrypt hash. bcrypt only ever looks at the first 72 bytes of a password; that is
/// how the imported hash was made, so it is also how it must be checked. The `bcrypt` crate
/// compares in constant time.
pub(super) fn verify_bcrypt(password: &str, hash: &BcryptHash<'_>) -> Verification {
    let matched = match hash.input {
        BcryptInput::Plain => bcrypt::verify(password.as_bytes(), hash.mcf),
        BcryptInput::Sha256Hex => {
            let prehash = digest::digest(&digest::SHA256, password.as_bytes());
            bcrypt::verify(hex_lower(prehash.as_ref()).as_bytes(), hash.mcf)
        }
    };
    match matched {
        Ok(true) => Verification::Valid { needs_rehash: true },
        _ => Verification::Invalid,
    }
}

/// The PRF of a PBKDF2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pbkdf2Prf {
    /// HMAC-SHA-1 (Keycloak's `pbkdf2`, Auth0's `pbkdf2-sha1`).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Pbkdf2Prf {
    /// The PHC identifier (`pbkdf2-sha256`, ...).
    pub(super) fn ident(self) -> &'static str {
        match self {
            Self::Sha1 => "pbkdf2-sha1",
            Self::Sha256 => "pbkdf2-sha256",
            Self::Sha512 => "pbkdf2-sha512",
        }
    }

    /// The PRF named by a PHC identifier.
    pub(super) fn from_ident(ident: &str) -> Option<Self> {
        match ident {
            "pbkdf2-sha1" => Some(Self::Sha1),
            "pbkdf2-sha256" => Some(Self::Sha256),
            "pbkdf2-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Self::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Self::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
}

/// A parsed PBKDF2 hash.
pub(super) struct Pbkdf2Hash {
    pub(super) prf: Pbkdf2Prf,
    pub(super) iterations: NonZeroU32,
    pub(super) salt: Vec<u8>,
    pub(super) expected: Vec<u8>,
}

impl Pbkdf2Hash {
    pub(super) fn format(&self) -> HashFormat {
        match self.prf {
            Pbkdf2Prf::Sha1 => HashFormat::Pbkdf2Sha1,
            Pbkdf2Prf::Sha256 => HashFormat::Pbkdf2Sha256,
            Pbkdf2Prf::Sha512 => HashFormat::Pbkdf2Sha512,
        }
    }
}

/// Recognises PBKDF2 in PHC form (`$pbkdf2-sha1$`, `$pbkdf2-sha256$`, `$pbkdf2-sha512$`) or
/// Django's (`pbkdf2_sha256$`). `None` when `stored` is not PBKDF2 at all.
pub(super) fn parse_pbkdf2_any(stored: &str) -> Option<Result<Pbkdf2Hash, Reason>> {
    if stored.starts_with("$pbkdf2") {
        Some(parse_pbkdf2_phc(stored))
    } else {
        stored
            .strip_prefix("pbkdf2_sha256$")
            .map(|rest| parse_django(Pbkdf2Prf::Sha256, rest))
    }
}

/// `$pbkdf2-sha256$i=..,l=..$salt$hash` (PHC, B64 salt and hash, as written by the RustCrypto
/// `pbkdf2` crate and accepted by Auth0), likewise `-sha512` and `-sha1`. `l`, when present,
/// must be the output's length.
fn parse_pbkdf2_phc(stored: &str) -> Result<Pbkdf2Hash, Reason> {
    let hash = PasswordHash::new(stored).map_err(|_| "malformed PBKDF2 PHC string")?;
    let prf = Pbkdf2Prf::from_ident(hash.algorithm.as_str())
        .ok_or("unsupported PBKDF2 digest (sha1, sha256 and sha512 are)")?;
    if hash.version.is_some() {
        return Err("unexpected version in a PBKDF2 hash");
    }
    if hash
        .params
        .iter()
        .any(|(name, _)| !matches!(name.as_str(), "i" | "l"))
    {
        return Err("unknown PBKDF2 parameter (i and l are)");
    }
    let iterations = hash
        .params
        .get_decimal("i")
        .ok_or("PBKDF2 hash without its iteration count (i)")?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err("PBKDF2 hash without salt or output");
    };
    if let Some(len) = hash.params.get_decimal("l")
        && usize::try_from(len).ok() != Some(expected.len())
    {
        return Err("PBKDF2 length parameter (l) differs from the hash's length");
    }
    checked(prf, iterations, salt.as_ref(), expected.as_bytes())
}

/// Django's `pbkdf2_sha256$iterations$salt$base64hash`, after the algorithm prefix; the salt
/// is used as its literal bytes.
fn parse_django(prf: Pbkdf2Prf, rest: &str) -> Result<Pbkdf2Hash, Reason> {
    let mut parts = rest.split('$');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed Django PBKDF2 hash (algorithm$iterations$salt$hash)");
    };
    if !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Django PBKDF2 iteration count is not a number");
    }
    let iterations = iterations
        .parse::<u32>()
        .map_err(|_| "Django PBKDF2 iteration count is not a number")?;
    if salt.is_empty() || salt.len() > MAX_DJANGO_SALT {
        return Err("Django PBKDF2 salt empty or too long");
    }
    let expected = base64_lenient(hash).ok_or("Django PBKDF2 hash is not base64")?;
    checked(prf, iterations, salt.as_bytes(), &expected)
}

fn checked(
    prf: Pbkdf2Prf,
    iterations: u32,
    salt: &[u8],
    expected: &[u8],
) -> Result<Pbkdf2Hash, Reason> {
    let iterations = NonZeroU32::new(iterations).ok_or("PBKDF2 iteration count is zero")?;
    if iterations.get() > MAX_PBKDF2_ITERATIONS {
        return Err("PBKDF2 iteration count over the limit (10,000,000)");
    }
    if expected.len() < MIN_PBKDF2_OUTPUT || expected.len() > MAX_PBKDF2_OUTPUT {
        return Err("PBKDF2 output length out of range (16 to 128 bytes)");
    }
    Ok(Pbkdf2Hash {
        prf,
        iterations,
        salt: salt.to_vec(),
        expected: expected.to_vec(),
    })
}

/// Verifies a parsed PBKDF2 hash; aws-lc-rs compares in constant time.
pub(super) fn verify_pbkdf2(password: &str, hash: &Pbkdf2Hash) -> Verification {
    match pbkdf2::verify(
        hash.prf.algorithm(),
        hash.iterations,
        &hash.salt,
        password.as_bytes(),
        &hash.expected,
    ) {
        Ok(()) => Verification::Valid { needs_rehash: true },
        Err(_) => Verification::Invalid,
    }
}
