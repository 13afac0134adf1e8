//! The crate's error type.

/// Everything that can go wrong in this crate.
///
/// The messages are safe to log: no variant carries a password, a key, a plaintext, a token or
/// attacker-controlled input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Argon2 parameters out of range (the reason names the parameter, never a secret).
    #[error("invalid argon2 parameters: {0}")]
    InvalidParams(String),
    /// A stored password hash is in an unknown format or is garbled.
    #[error("unsupported or malformed password hash")]
    UnsupportedHash,
    /// A stored password hash, or an export record to convert into one, cannot be imported.
    /// The reason is a fixed text naming what is wrong (format, parameter, cost limit), safe to
    /// print per line of an import report: it never contains the hash, salt or any input value.
    #[error("password hash cannot be imported: {0}")]
    UnimportableHash(&'static str),
    /// Computing a password hash failed.
    #[error("password hashing failed")]
    Hashing,
    /// Key material has the wrong length or encoding, or was rejected by the crypto library.
    #[error("invalid key material")]
    InvalidKey,
    /// Generating a key failed.
    #[error("key generation failed")]
    KeyGeneration,
    /// Encrypting a secret failed.
    #[error("encryption failed")]
    Encryption,
    /// Decryption failed: wrong key, wrong associated data, truncated or tampered ciphertext,
    /// or an unknown format version.
    #[error("decryption failed")]
    Decryption,
    /// A signing algorithm name that Portcullis does not support (only `EdDSA`, `ES256` and
    /// `RS256` are).
    #[error("unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// A JWK is malformed or does not describe a supported public signing key.
    #[error("invalid JWK: {0}")]
    InvalidJwk(&'static str),
    /// A token is not a well-formed compact JWS.
    #[error("malformed token")]
    MalformedToken,
    /// The token's `alg` header is not the verifying key's algorithm (this includes `none`).
    #[error("token algorithm does not match the key")]
    AlgorithmMismatch,
    /// The token's signature does not verify with the key.
    #[error("invalid token signature")]
    InvalidSignature,
    /// Claims could not be serialised, or a verified token's claims do not deserialise into
    /// the requested type.
    #[error("invalid token claims")]
    InvalidClaims,
    /// Signing failed inside the crypto library.
    #[error("signing failed")]
    Signing,
}
