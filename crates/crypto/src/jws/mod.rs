//! Signing keys and compact JWS (RFC 7515) for ID tokens, JWT access tokens and logout tokens.
//!
//! Keys are generated and used through aws-lc-rs (private keys never leave this module except
//! as PKCS#8 DER for encrypted storage). Tokens are signed here directly with the parsed key
//! pair, and verified through `jsonwebtoken` with the verifying key's own algorithm only.
//! Every key's `kid` is its RFC 7638 [`thumbprint`].
//!
//! This module checks signatures, not claims: `exp`, `nbf`, `iss` and `aud` are the caller's
//! business (against its injected clock).

#[cfg(test)]
mod fuzz_tests;
mod jwk;
#[cfg(test)]
mod tests;
mod verify;

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{CryptoError, SigningAlgorithm};
use jwk::{PublicKey, b64u};

pub use jwk::thumbprint;
pub use verify::{JwsHeader, MAX_TOKEN_BYTES, VerifyingKey, decode_header, verify};

/// A freshly generated signing key, ready to be encrypted and stored.
pub struct GeneratedKey {
    /// The key id: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// The algorithm the key signs with.
    pub alg: SigningAlgorithm,
    /// The private key as unencrypted PKCS#8 DER (encrypt it with
    /// [`MasterKey`](crate::MasterKey) before storing it). Zeroized on drop.
    pub private_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The public JWK, as published in the JWKS document.
    pub public_jwk: serde_json::Value,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Generates a new signing key: Ed25519 for `EdDSA`, P-256 for `ES256`, 2048-bit RSA for
/// `RS256` (RSA generation takes tens to hundreds of milliseconds: use a blocking thread).
///
/// # Errors
/// [`CryptoError::KeyGeneration`] if the crypto library fails.
pub fn generate_signing_key(alg: SigningAlgorithm) -> Result<GeneratedKey, CryptoError> {
    let rng = SystemRandom::new();
    let der = match alg {
        SigningAlgorithm::EdDSA => {
            Ed25519KeyPair::generate_pkcs8(&rng).map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
        }
        SigningAlgorithm::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
        }
        SigningAlgorithm::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec())),
    }
    .map_err(|_| CryptoError::KeyGeneration)?;
    let key = SigningKey::from_pkcs8(alg, &der).map_err(|_| CryptoError::KeyGeneration)?;
    Ok(GeneratedKey {
        kid: key.kid().to_owned(),
        alg,
        private_pkcs8_der: der,
        public_jwk: key.public_jwk().clone(),
    })
}

/// A parsed key pair of one of the supported algorithms.
enum KeyPair {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

struct SigningKeyInner {
    kid: String,
    alg: SigningAlgorithm,
    public_jwk: serde_json::Value,
    public_key: PublicKey,
    pair: KeyPair,
    /// The encoded protected headers of the usual `typ`s, made once.
    headers: Vec<(&'static str, String)>,
}

/// The `typ`s whose encoded headers a key keeps ready: ID tokens, RFC 9068
/// access tokens and logout tokens.
const USUAL_TYPS: [&str; 3] = ["JWT", "at+jwt", "logout+jwt"];

/// A private signing key, parsed once and shared: cloning is cheap.
///
/// `Debug` shows only the kid and algorithm.
#[derive(Clone)]
pub struct SigningKey(Arc<SigningKeyInner>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.0.kid)
            .field("alg", &self.0.alg)
            .finish_non_exhaustive()
    }
}

/// The protected header of tokens this crate signs.
#[derive(Serialize)]
struct SignedHeader<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    typ: &'a str,
    kid: &'a str,
}

/// The base64url-encoded protected header `{alg, typ, kid}`.
fn encoded_header(alg: SigningAlgorithm, typ: &str, kid: &str) -> Result<String, CryptoError> {
    let header = SignedHeader {
        alg: alg.as_str(),
        typ,
        kid,
    };
    let header = serde_json::to_vec(&header).map_err(|_| CryptoError::InvalidClaims)?;
    Ok(b64u(&header))
}

impl SigningKey {
    /// Parses a PKCS#8 DER private key for `alg` (as produced by [`generate_signing_key`]) and
    /// derives its public JWK and kid.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if the DER is not a valid key of `alg`'s type (an RSA key
    /// must have 2048 to 8192 bits; an EC key must be on P-256).
    pub fn from_pkcs8(alg: SigningAlgorithm, der: &[u8]) -> Result<Self, CryptoError> {
        let (pair, public_key) = match alg {
            SigningAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey)?;
                let x = pair.public_key().as_ref().to_vec();
                (KeyPair::Ed25519(pair), PublicKey::Ed25519 { x })
            }
            SigningAlgorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| CryptoError::InvalidKey)?;
                // Uncompressed SEC1 point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let (x, y) = match point.split_first() {
                    Some((0x04, coords)) if coords.len() == 64 => coords.split_at(32),
                    _ => return Err(CryptoError::InvalidKey),
                };
                let (x, y) = (x.to_vec(), y.to_vec());
                (KeyPair::P256(pair), PublicKey::P256 { x, y })
            }
            SigningAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey)?;
                if pair.public_modulus_len() < 256 {
                    return Err(CryptoError::InvalidKey);
                }
                let PublicKeyComponents { n, e } =
                    PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                (KeyPair::Rsa(pair), PublicKey::Rsa { n, e })
            }
        };
        let (kid, public_jwk) = public_key.to_jwk()?;
        let headers = USUAL_TYPS
            .iter()
            .map(|typ| Ok((*typ, encoded_header(alg, typ, &kid)?)))
            .collect::<Result<_, CryptoError>>()?;
        Ok(Self(Arc::new(SigningKeyInner {
            kid,
            alg,
            public_jwk,
            public_key,
            pair,
            headers,
        })))
    }

    /// The key id (RFC 7638 thumbprint of the public key).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> SigningAlgorithm {
        self.0.alg
    }

    /// The public JWK: `kty`, `kid`, `alg`, `use: "sig"` and the key parameters
    /// (`crv`/`x` for OKP, `crv`/`x`/`y` for EC, `n`/`e` for RSA).
    #[must_use]
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.0.public_jwk
    }

    /// The matching public key for verifying this key's tokens.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::new(self.0.kid.clone(), self.0.alg, &self.0.public_key)
    }

    /// Signs `claims` as a compact JWS with the protected header `{alg, typ, kid}`.
    ///
    /// `typ` is the media type, e.g. `"JWT"` for ID tokens, `"at+jwt"` for access tokens
    /// (RFC 9068) or `"logout+jwt"`; an empty `typ` is left out of the header.
    ///
    /// # Errors
    /// [`CryptoError::InvalidClaims`] if the claims do not serialise to JSON,
    /// [`CryptoError::Signing`] if the crypto library fails.
    pub fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, CryptoError> {
        let claims = serde_json::to_vec(claims).map_err(|_| CryptoError::InvalidClaims)?;
        let mut token = match self.0.headers.iter().find(|(t, _)| *t == typ) {
            Some((_, header)) => header.clone(),
            None => encoded_header(self.0.alg, typ, &self.0.kid)?,
        };
        token.push('.');
        token.push_str(&b64u(&claims));
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64u(&signature));
        Ok(token)
    }

    /// The raw JWS signature of `message` (for ES256, the fixed-size `r || s` form).
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.0.pair {
            KeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPair::P256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| CryptoError::Signing),
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| CryptoError::Signing)?;
                Ok(signature)
            }
        }
    }
}
