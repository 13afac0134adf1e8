//! Password hashing: Argon2id for new hashes, verification of imported formats.
//!
//! New hashes are Argon2id PHC strings (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) with a random
//! 16-byte salt. Verification dispatches on the stored string's prefix:
//!
//! | format | verified with | `needs_rehash` |
//! |---|---|---|
//! | `$argon2id$`, `$argon2i$`, `$argon2d$` | the hash's own embedded parameters | unless argon2id v19 with the hasher's current parameters |
//! | Django's `argon2$argon2id$...` | likewise | always |
//! | `$2a$`, `$2b$`, `$2y$` (bcrypt) | the `bcrypt` crate (the password's first 72 bytes) | always |
//! | Django's `bcrypt_sha256$$2b$...` | bcrypt of the lower-case hex SHA-256 of the password | always |
//! | `$scrypt$ln=..,r=..,p=..$salt$hash` (PHC, RustCrypto `scrypt`, passlib) | the `scrypt` crate | always |
//! | `$pbkdf2-sha1$`, `$pbkdf2-sha256$`, `$pbkdf2-sha512$` with `i=..,l=..` (PHC, RustCrypto `pbkdf2`, Auth0) | aws-lc-rs | always |
//! | `pbkdf2_sha256$iterations$salt$hash` (Django) | aws-lc-rs | always |
//! | `$sha256-salted$pos=..$salt$hash`, `$sha512-salted$...` (one salted digest, see below) | aws-lc-rs | always |
//!
//! Anything else is [`CryptoError::UnsupportedHash`]. Stored hashes whose cost would take
//! unreasonable memory or time to check (see the `MAX_*` constants) are refused the same way,
//! so an imported hash cannot exhaust the server. [`is_importable`] runs the same checks without
//! a password, with a reason, for an import to refuse a bad line up front; [`from_keycloak`],
//! [`from_auth0`] and [`from_auth0_password_hash`] turn other systems' export records into these
//! stored forms.
//!
//! Every check compares the whole computed hash in constant time, so a wrong password costs
//! the same time as a right one (the KDF runs in full either way). An imported hash costs what
//! its own parameters cost, though, not what the hasher's do: until the user's next sign-in
//! replaces it, such an account answers in another time than an unknown one (for which
//! [`PasswordHasher::dummy_verify`] spends one Argon2id verification with current parameters).
//!
//! # The salted SHA form
//!
//! `$sha256-salted$pos=<prefix|suffix|none>[,enc=<utf16le|latin1>]$<salt>$<hash>` (likewise
//! `$sha512-salted$`): `prefix` is `SHA(salt || password)`, `suffix` is
//! `SHA(password || salt)`, `none` is `SHA(password)` with an empty salt field; `enc` is how
//! the password becomes bytes (UTF-8 when absent); salt and hash are PHC "B64" (standard base64
//! alphabet, no padding), the salt at most 256 bytes, the hash exactly 32 or 64 bytes.
//!
//! Hashing costs tens of milliseconds of CPU and ~19 MiB of memory by default: call it from a
//! blocking thread pool, never directly on an async runtime worker.

mod auth0;
mod codec;
mod format;
mod keycloak;
mod legacy;
mod salted;
mod scrypt;
pub use auth0::{from_auth0, from_auth0_password_hash};
pub use format::{HashFormat, MAX_STORED_HASH_LEN, is_importable};
pub use keycloak::{MAX_KEYCLOAK_FIELD_LEN, from_keycloak};
pub use legacy::{MAX_BCRYPT_COST, MAX_PBKDF2_ITERATIONS};
pub use scrypt::{MAX_SCRYPT_MEMORY_BYTES, MAX_SCRYPT_WORK};
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod import_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, OnceLock};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Version};

use crate::CryptoError;
use crate::random::{random_bytes, random_token};
use format::{Argon2Hash, Stored};

/// Largest Argon2 memory cost (KiB) accepted in a stored hash: 1 GiB.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;
/// Largest Argon2 iteration count accepted in a stored hash.
pub const MAX_ARGON2_ITERATIONS: u32 = 64;
/// Largest Argon2 parallelism accepted in a stored hash.
pub const MAX_ARGON2_PARALLELISM: u32 = 64;

/// Argon2id cost parameters.
///
/// The default is OWASP's minimum recommendation: 19 MiB of memory, 2 iterations, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory cost in KiB (`m`).
    pub memory_kib: u32,
    /// Number of passes over memory (`t`).
    pub iterations: u32,
    /// Degree of parallelism (`p`, number of lanes).
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// Converts to the `argon2` crate's parameters (32-byte output), validating the ranges.
    fn to_argon2(self) -> Result<argon2::Params, CryptoError> {
        argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(argon2::Params::DEFAULT_OUTPUT_LEN),
        )
        .map_err(|e| CryptoError::InvalidParams(e.to_string()))
    }
}

thread_local! {
    /// Argon2 working memory, kept per thread between hashes. Allocating ~19 MiB
    /// afresh for every hash makes the kernel map and zero it each time, which
    /// measured at about a third of the hash's own CPU time. Hashing threads call
    /// [`release_thread_memory`] when they go idle, so idle memory stays small.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` Argon2 memory blocks of this thread.
fn with_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    MEMORY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut memory) => {
            if memory.len() < blocks {
                memory.resize(blocks, Block::new());
            }
            match memory.get_mut(..blocks) {
                Some(slice) => f(slice),
                None => f(&mut vec![Block::new(); blocks]),
            }
        }
        Err(_) => f(&mut vec![Block::new(); blocks]),
    })
}

/// Frees the Argon2 working memory this thread keeps between hashes. The
/// blocks are overwritten with zeros first, so no intermediate state of a
/// password's hash lingers in freed memory.
pub fn release_thread_memory() {
    MEMORY.with(|cell| {
        if let Ok(mut memory) = cell.try_borrow_mut() {
            memory.iter_mut().for_each(|b| *b = Block::new());
            *memory = Vec::new();
        }
    });
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches.
    Valid {
        /// The stored hash is a legacy format or uses other parameters than the hasher's:
        /// store a fresh [`PasswordHasher::hash`] of the password now that it is known.
        needs_rehash: bool,
    },
    /// The password does not match.
    Invalid,
}

impl Verification {
    /// Whether the password matched.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// Hashes and verifies passwords with fixed Argon2id parameters.
///
/// Cheap to clone: clones share the lazily computed dummy hash used by
/// [`dummy_verify`](Self::dummy_verify).
#[derive(Clone)]
pub struct PasswordHasher {
    params: Argon2Params,
    argon2_params: argon2::Params,
    /// Hash of a random password with `params`, computed on first use.
    dummy: Arc<OnceLock<String>>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher producing Argon2id hashes with `params`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParams`] when the parameters are out of Argon2's ranges (memory
    /// below 8 KiB per lane, zero iterations or lanes, ...).
    pub fn new(params: Argon2Params) -> Result<Self, CryptoError> {
        let argon2_params = params.to_argon2()?;
        Ok(Self {
            params,
            argon2_params,
            dummy: Arc::new(OnceLock::new()),
        })
    }

    /// The parameters new hashes are made with.
    #[must_use]
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            self.argon2_params.clone(),
        )
    }

    /// Hashes `password` into an Argon2id PHC string with a fresh random 16-byte salt.
    ///
    /// The whole password is hashed: there is no length truncation (unlike bcrypt's 72 bytes).
    ///
    /// # Errors
    /// [`CryptoError::Hashing`] if Argon2 fails (memory allocation).
    pub fn hash(&self, password: &str) -> Result<String, CryptoError> {
        let salt = random_bytes::<16>();
        let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
        let argon2 = self.argon2();
        with_memory(self.argon2_params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(|_| CryptoError::Hashing)?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.argon2_params)
                .map_err(|_| CryptoError::Hashing)?,
            salt: Some(Salt::new(&salt).map_err(|_| CryptoError::Hashing)?),
            hash: Some(Output::new(&out).map_err(|_| CryptoError::Hashing)?),
        };
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored hash (see the module docs for the formats).
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedHash`] for an unknown, garbled or unreasonably expensive
    /// stored hash. A wrong password is `Ok(Verification::Invalid)`, not an error.
    pub fn verify(&self, password: &str, stored: &str) -> Result<Verification, CryptoError> {
        Ok(
            match format::parse(stored).map_err(|_| CryptoError::UnsupportedHash)? {
                Stored::Argon2(hash) => self.verify_argon2(password, &hash)?,
                Stored::Bcrypt(hash) => legacy::verify_bcrypt(password, &hash),
                Stored::Pbkdf2(hash) => legacy::verify_pbkdf2(password, &hash),
                Stored::Scrypt(hash) => scrypt::verify(password, &hash),
                Stored::Salted(hash) => salted::verify(password, &hash),
            },
        )
    }

    fn verify_argon2(
        &self,
        password: &str,
        hash: &Argon2Hash,
    ) -> Result<Verification, CryptoError> {
        let argon2 = Argon2::new(hash.algorithm, hash.version, hash.params.clone());
        let mut out = vec![0u8; hash.expected.len()];
        with_memory(hash.params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password.as_bytes(), &hash.salt, &mut out, blocks)
        })
        .map_err(|_| CryptoError::UnsupportedHash)?;
        if !crate::random::constant_time_eq(&out, &hash.expected) {
            return Ok(Verification::Invalid);
        }
        let params = &hash.params;
        let current = !hash.django
            && hash.algorithm == Algorithm::Argon2id
            && hash.version == Version::V0x13
            && params.m_cost() == self.params.memory_kib
            && params.t_cost() == self.params.iterations
            && params.p_cost() == self.params.parallelism
            && params.output_len() == Some(argon2::Params::DEFAULT_OUTPUT_LEN);
        Ok(Verification::Valid {
            needs_rehash: !current,
        })
    }

    /// Spends the time of one verification with the current parameters, and discards the
    /// result.
    ///
    /// Call it when the account does not exist (or has no password), so that an unknown
    /// e-mail address takes as long to reject as a wrong password. The hash it verifies
    /// against is computed once per hasher (and its clones), on first use.
    pub fn dummy_verify(&self, password: &str) {
        let dummy = self
            .dummy
            .get_or_init(|| self.hash(&random_token()).unwrap_or_default());
        if self.verify(password, dummy).is_err() {
            // Only reachable if hashing the dummy failed: still spend the same effort.
            let _ = self.hash(password);
        }
    }
}
