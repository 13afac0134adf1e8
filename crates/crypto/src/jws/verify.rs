//! Reading and verifying compact JWS tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::jwk::{PublicKey, member};
use crate::{CryptoError, SigningAlgorithm};

/// A public key that verifies tokens of exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: SigningAlgorithm,
    key: jsonwebtoken::DecodingKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    pub(super) fn new(kid: String, alg: SigningAlgorithm, public_key: &PublicKey) -> Self {
        Self {
            kid,
            alg,
            key: public_key.decoding_key(),
        }
    }

    /// Reads a public JWK (ours from the JWKS, or an upstream identity provider's).
    ///
    /// The algorithm is the JWK's `alg` when present, which must agree with the key type;
    /// otherwise it follows from the key type (`OKP`/`Ed25519` → `EdDSA`, `EC`/`P-256` →
    /// `ES256`, `RSA` → `RS256`). The kid is the JWK's `kid`, or its RFC 7638 thumbprint when
    /// it has none.
    ///
    /// # Errors
    /// [`CryptoError::InvalidJwk`] for a malformed or unsupported key (other curves, RSA under
    /// 2048 bits, a point not on the curve, `use` other than `sig`, private members present),
    /// [`CryptoError::UnsupportedAlgorithm`] for an `alg` Portcullis does not support.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, CryptoError> {
        let serde_json::Value::Object(members) = jwk else {
            return Err(CryptoError::InvalidJwk("not a JSON object"));
        };
        if members.contains_key("use") && member(members, "use")? != "sig" {
            return Err(CryptoError::InvalidJwk("key is not for signatures"));
        }
        let public_key = PublicKey::from_jwk(members)?;
        let alg = public_key.algorithm();
        if members.contains_key("alg")
            && member(members, "alg")?.parse::<SigningAlgorithm>()? != alg
        {
            return Err(CryptoError::InvalidJwk("alg does not match the key type"));
        }
        let kid = if members.contains_key("kid") {
            member(members, "kid")?.to_owned()
        } else {
            super::thumbprint(jwk)?
        };
        Ok(Self::new(kid, alg, &public_key))
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The only algorithm this key accepts.
    #[must_use]
    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }
}

/// The parts of a JWS protected header Portcullis looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// The algorithm the token claims to be signed with (untrusted until verified).
    pub alg: String,
    /// The key id, used to pick the verifying key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The token's media type (`JWT`, `at+jwt`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// Longest token [`decode_header`] and [`verify`] read, in bytes: far above any token
/// Portcullis or a usual identity provider issues, and low enough that hostile input costs
/// little to refuse.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The three base64url segments of a compact JWS of at most [`MAX_TOKEN_BYTES`].
fn split_token(token: &str) -> Result<(&str, &str, &str), CryptoError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(CryptoError::MalformedToken);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok((header, payload, signature)),
        _ => Err(CryptoError::MalformedToken),
    }
}

/// Reads a token's protected header without verifying anything, to pick the key by `kid`.
///
/// # Errors
/// [`CryptoError::MalformedToken`] if the token is longer than [`MAX_TOKEN_BYTES`], is not
/// three dot-separated base64url segments, or its header is not a JSON object with a string
/// `alg`.
pub fn decode_header(token: &str) -> Result<JwsHeader, CryptoError> {
    let (header, _, _) = split_token(token)?;
    let json = header_json(header)?;
    serde_json::from_slice(&json).map_err(|_| CryptoError::MalformedToken)
}

fn header_json(segment: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| CryptoError::MalformedToken)
}

/// Verifies a compact JWS with `key` and deserialises its claims.
///
/// The header's `alg` must be exactly the key's algorithm: no algorithm confusion, no `none`.
/// A header with a `crit` member is refused: Portcullis understands no JWS extension, and RFC
/// 7515 §4.1.11 requires refusing a token that lists one not understood. Only the signature is
/// checked; `exp`, `nbf`, `iss`, `aud` and every other claim are left to the caller.
///
/// # Errors
/// [`CryptoError::MalformedToken`] for a token that is not a compact JWS, is longer than
/// [`MAX_TOKEN_BYTES`] or has a `crit` header,
/// [`CryptoError::AlgorithmMismatch`] when the header's `alg` is not the key's,
/// [`CryptoError::InvalidSignature`] when the signature does not verify,
/// [`CryptoError::InvalidClaims`] when the verified claims do not deserialise into `T`, or a
/// registered claim (`sub`, `iss`, `aud`, `exp`, `nbf`) has the wrong JSON type.
pub fn verify<T: DeserializeOwned>(token: &str, key: &VerifyingKey) -> Result<T, CryptoError> {
    let (header, payload, signature) = split_token(token)?;
    let json = header_json(header)?;
    let header: JwsHeader =
        serde_json::from_slice(&json).map_err(|_| CryptoError::MalformedToken)?;
    if header.alg != key.alg.as_str() {
        return Err(CryptoError::AlgorithmMismatch);
    }
    let members: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|_| CryptoError::MalformedToken)?;
    if members.contains_key("crit") {
        return Err(CryptoError::MalformedToken);
    }
    if payload.is_empty() || signature.is_empty() {
        return Err(CryptoError::MalformedToken);
    }
    let mut validation = jsonwebtoken::Validation::new(key.alg.to_jwt());
    validation.algorithms = vec![key.alg.to_jwt()];
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.aud = None;
    validation.iss = None;
    validation.sub = None;
    jsonwebtoken::decode::<T>(token, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|err| map_error(err.kind()))
}

fn map_error(kind: &ErrorKind) -> CryptoError {
    match kind {
        ErrorKind::InvalidSignature => CryptoError::InvalidSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => CryptoError::AlgorithmMismatch,
        ErrorKind::Json(_) => CryptoError::InvalidClaims,
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            CryptoError::MalformedToken
        }
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => CryptoError::InvalidKey,
        _ => CryptoError::InvalidSignature,
    }
}
