//! Password hashing: Argon2id for new hashes, verification of legacy formats.
//!
//! New hashes are Argon2id PHC strings (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) with a random
//! 16-byte salt. Verification dispatches on the stored string's prefix:
//!
//! | format | verified with | `needs_rehash` |
//! |---|---|---|
//! | `$argon2id$`, `$argon2i$`, `$argon2d$` | the hash's own embedded parameters | unless argon2id v19 with the hasher's current parameters |
//! | `$2a$`, `$2b$`, `$2y$` (bcrypt) | the `bcrypt` crate | always |
//! | `$pbkdf2-sha256$`, `$pbkdf2-sha512$` (PHC, as written by RustCrypto `pbkdf2`) | aws-lc-rs | always |
//! | `pbkdf2_sha256$iterations$salt$hash` (Django) | aws-lc-rs | always |
//!
//! Anything else is [`CryptoError::UnsupportedHash`]. Stored hashes whose cost would take
//! unreasonable memory or time to check (see the `MAX_*` constants) are refused the same way,
//! so an imported hash cannot exhaust the server.
//!
//! Hashing costs tens of milliseconds of CPU and ~19 MiB of memory by default: call it from a
//! blocking thread pool, never directly on an async runtime worker.

mod legacy;
pub use legacy::{MAX_BCRYPT_COST, MAX_PBKDF2_ITERATIONS};
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, OnceLock};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Version};

use crate::CryptoError;
use crate::random::{random_bytes, random_token};

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
        if stored.starts_with("$argon2") {
            self.verify_argon2(password, stored)
        } else if legacy::is_bcrypt(stored) {
            legacy::verify_bcrypt(password, stored)
        } else if legacy::is_pbkdf2(stored) {
            legacy::verify_pbkdf2(password, stored)
        } else {
            Err(CryptoError::UnsupportedHash)
        }
    }

    fn verify_argon2(&self, password: &str, stored: &str) -> Result<Verification, CryptoError> {
        let hash = PasswordHash::new(stored).map_err(|_| CryptoError::UnsupportedHash)?;
        let algorithm =
            Algorithm::new(hash.algorithm.as_str()).map_err(|_| CryptoError::UnsupportedHash)?;
        let params = argon2::Params::try_from(&hash).map_err(|_| CryptoError::UnsupportedHash)?;
        if params.m_cost() > MAX_ARGON2_MEMORY_KIB
            || params.t_cost() > MAX_ARGON2_ITERATIONS
            || params.p_cost() > MAX_ARGON2_PARALLELISM
            || hash.salt.is_none()
            || hash.hash.is_none()
        {
            return Err(CryptoError::UnsupportedHash);
        }
        let version = hash.version.unwrap_or(Version::V0x10.into());
        let (Some(salt), Some(expected)) = (hash.salt.as_ref(), hash.hash.as_ref()) else {
            return Err(CryptoError::UnsupportedHash);
        };
        let argon2 = Argon2::new(
            algorithm,
            Version::try_from(version).map_err(|_| CryptoError::UnsupportedHash)?,
            params.clone(),
        );
        let expected = expected.as_bytes();
        let mut out = vec![0u8; expected.len()];
        with_memory(params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
        })
        .map_err(|_| CryptoError::UnsupportedHash)?;
        if !crate::random::constant_time_eq(&out, expected) {
            return Ok(Verification::Invalid);
        }
        let current = algorithm == Algorithm::Argon2id
            && version == u32::from(Version::V0x13)
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
