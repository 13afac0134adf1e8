//! Cryptographic primitives for Portcullis.
//!
//! This crate owns everything that touches key material or password hashes:
//!
//! * [`password`]: Argon2id password hashing, verification of imported hashes (bcrypt, scrypt,
//!   PBKDF2, salted SHA-2), the converters of Keycloak and Auth0 export records into them, and a
//!   timing-equalising [`PasswordHasher::dummy_verify`].
//! * [`random`]: OS-CSPRNG random bytes, tokens and generated passwords, SHA-256 and
//!   constant-time comparison.
//! * [`secret`]: the [`MasterKey`] that encrypts secrets at rest (AES-256-GCM).
//! * [`jws`]: signing-key generation, JWK export, RFC 7638 thumbprints, compact JWS signing
//!   and verification (EdDSA, ES256, RS256).
//! * [`blocklist`]: the compiled-in list of the most common passwords.
//!
//! It is a leaf crate: it must not depend on any other Portcullis crate, on a database, on HTTP
//! or on an async runtime. It reads no clock (token time checks belong to the caller), and its
//! error messages never contain secret material. Password hashing is CPU- and memory-bound:
//! callers on an async runtime run it on a blocking pool.

mod alg;
pub mod blocklist;
mod error;
pub mod jws;
pub mod password;
pub mod random;
pub mod secret;

pub use alg::SigningAlgorithm;
pub use blocklist::{COMMON_PASSWORD_COUNT, is_common_password};
pub use error::CryptoError;
pub use jws::{
    GeneratedKey, JwsHeader, SigningKey, VerifyingKey, decode_header, generate_signing_key,
    thumbprint, verify,
};
pub use password::{
    Argon2Params, HashFormat, PasswordHasher, Verification, from_auth0, from_auth0_password_hash,
    from_keycloak, is_importable, release_thread_memory,
};
pub use random::{
    constant_time_eq, generate_password, hmac_sha256, random_bytes, random_digits, random_token,
    sha256,
};
pub use secret::MasterKey;
