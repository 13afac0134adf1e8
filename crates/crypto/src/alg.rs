//! The JWS signing algorithms Portcullis supports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CryptoError;

/// A JWS signing algorithm (RFC 7518 / RFC 8037 names).
///
/// `RS256` is the OIDC default for ID tokens; `ES256` and `EdDSA` (Ed25519) are offered per
/// client. Symmetric (`HS*`) and `none` are deliberately absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys or larger).
    RS256,
}

impl SigningAlgorithm {
    /// All supported algorithms.
    pub const ALL: [Self; 3] = [Self::EdDSA, Self::ES256, Self::RS256];

    /// The JOSE name: `"EdDSA"`, `"ES256"` or `"RS256"`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// The matching `jsonwebtoken` algorithm.
    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = CryptoError;

    /// Parses the exact JOSE name (case-sensitive, as in JWS headers).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            _ => Err(CryptoError::UnsupportedAlgorithm),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in SigningAlgorithm::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlgorithm>().unwrap(), alg);
            assert_eq!(alg.to_string(), alg.as_str());
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(
                serde_json::from_str::<SigningAlgorithm>(&json).unwrap(),
                alg
            );
        }
    }

    #[test]
    fn unknown_names_are_rejected() {
        for bad in ["", "none", "HS256", "rs256", "eddsa", "ES384", "RS256 "] {
            assert_eq!(
                bad.parse::<SigningAlgorithm>(),
                Err(CryptoError::UnsupportedAlgorithm)
            );
        }
        assert!(serde_json::from_str::<SigningAlgorithm>("\"none\"").is_err());
    }
}
