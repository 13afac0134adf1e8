//! Public JWKs (RFC 7517 / RFC 8037): building them from key pairs, reading them back, and
//! RFC 7638 thumbprints.

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::random::sha256;
use crate::{CryptoError, SigningAlgorithm};

/// Length of an Ed25519 public key and of a P-256 coordinate.
const COORDINATE_LEN: usize = 32;
/// Smallest accepted RSA modulus, in bytes (2048 bits).
const MIN_RSA_MODULUS_LEN: usize = 256;
/// Largest accepted RSA modulus, in bytes (8192 bits).
const MAX_RSA_MODULUS_LEN: usize = 1024;

/// base64url without padding, as JOSE uses everywhere.
pub(super) fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public key material of a supported key, already decoded.
pub(super) enum PublicKey {
    /// Ed25519 public key (32 bytes).
    Ed25519 { x: Vec<u8> },
    /// P-256 point coordinates (32 bytes each).
    P256 { x: Vec<u8>, y: Vec<u8> },
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    /// The algorithm this key type signs with.
    pub(super) fn algorithm(&self) -> SigningAlgorithm {
        match self {
            Self::Ed25519 { .. } => SigningAlgorithm::EdDSA,
            Self::P256 { .. } => SigningAlgorithm::ES256,
            Self::Rsa { .. } => SigningAlgorithm::RS256,
        }
    }

    /// The key's parameters as a JWK object (`kty` and the key members only).
    fn key_members(&self) -> Value {
        match self {
            Self::Ed25519 { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(x)}),
            Self::P256 { x, y } => {
                json!({"kty": "EC", "crv": "P-256", "x": b64u(x), "y": b64u(y)})
            }
            Self::Rsa { n, e } => json!({"kty": "RSA", "n": b64u(n), "e": b64u(e)}),
        }
    }

    /// The full public JWK (`kty`, key members, `kid`, `alg`, `use: sig`) and its kid, which
    /// is the key's RFC 7638 thumbprint.
    pub(super) fn to_jwk(&self) -> Result<(String, Value), CryptoError> {
        let mut jwk = self.key_members();
        let kid = thumbprint(&jwk)?;
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(kid.clone()));
            members.insert("alg".into(), self.algorithm().as_str().into());
            members.insert("use".into(), "sig".into());
        }
        Ok((kid, jwk))
    }

    /// Reads and validates the public key in a JWK: a supported key type and curve, the
    /// right lengths, and a key aws-lc accepts (point on the curve, RSA modulus of 2048 to
    /// 8192 bits).
    pub(super) fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, CryptoError> {
        if jwk.contains_key("d") {
            return Err(CryptoError::InvalidJwk("contains private key material"));
        }
        let key = match member(jwk, "kty")? {
            "OKP" => {
                if member(jwk, "crv")? != "Ed25519" {
                    return Err(CryptoError::InvalidJwk("unsupported OKP curve"));
                }
                let x = decode_member(jwk, "x")?;
                if x.len() != COORDINATE_LEN {
                    return Err(CryptoError::InvalidJwk("bad Ed25519 key length"));
                }
                ParsedPublicKey::new(&ED25519, &x)
                    .map_err(|_| CryptoError::InvalidJwk("invalid Ed25519 key"))?;
                Self::Ed25519 { x }
            }
            "EC" => {
                if member(jwk, "crv")? != "P-256" {
                    return Err(CryptoError::InvalidJwk("unsupported EC curve"));
                }
                let x = decode_member(jwk, "x")?;
                let y = decode_member(jwk, "y")?;
                if x.len() != COORDINATE_LEN || y.len() != COORDINATE_LEN {
                    return Err(CryptoError::InvalidJwk("bad P-256 coordinate length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * COORDINATE_LEN);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                    .map_err(|_| CryptoError::InvalidJwk("point not on P-256"))?;
                Self::P256 { x, y }
            }
            "RSA" => {
                let n = strip_leading_zeros(decode_member(jwk, "n")?);
                let e = strip_leading_zeros(decode_member(jwk, "e")?);
                if n.len() < MIN_RSA_MODULUS_LEN || n.len() > MAX_RSA_MODULUS_LEN {
                    return Err(CryptoError::InvalidJwk("RSA modulus size out of range"));
                }
                if e.is_empty() || e.len() > 8 {
                    return Err(CryptoError::InvalidJwk("bad RSA exponent"));
                }
                PublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|_| CryptoError::InvalidJwk("invalid RSA key"))?;
                Self::Rsa { n, e }
            }
            _ => return Err(CryptoError::InvalidJwk("unsupported key type")),
        };
        Ok(key)
    }

    /// The `jsonwebtoken` verification key for this public key.
    pub(super) fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        match self {
            Self::Ed25519 { x } => jsonwebtoken::DecodingKey::from_ed_der(x),
            Self::P256 { x, y } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                jsonwebtoken::DecodingKey::from_ec_der(&point)
            }
            Self::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
        }
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// A required string member of a JWK.
pub(super) fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, CryptoError> {
    match jwk.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(CryptoError::InvalidJwk("member is not a string")),
        None => Err(CryptoError::InvalidJwk("missing required member")),
    }
}

/// A required base64url member of a JWK, decoded.
fn decode_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(member(jwk, name)?)
        .map_err(|_| CryptoError::InvalidJwk("member is not base64url"))
}

/// The RFC 7638 JWK thumbprint: base64url of the SHA-256 of the key's required members
/// serialised in lexicographic order without whitespace. Portcullis uses it as the `kid`.
///
/// Supported key types: `RSA` (`e`, `kty`, `n`), `EC` (`crv`, `kty`, `x`, `y`), `OKP`
/// (`crv`, `kty`, `x`, RFC 8037) and `oct` (`k`, `kty`). Other members are ignored.
///
/// # Errors
/// [`CryptoError::InvalidJwk`] if `jwk` is not an object, has another key type, or lacks a
/// required member (or has one that is not a string).
pub fn thumbprint(jwk: &Value) -> Result<String, CryptoError> {
    let Value::Object(jwk) = jwk else {
        return Err(CryptoError::InvalidJwk("not a JSON object"));
    };
    let required: &[&str] = match member(jwk, "kty")? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "oct" => &["k", "kty"],
        _ => return Err(CryptoError::InvalidJwk("unsupported key type")),
    };
    // Built by hand rather than through a serde_json map, whose key order depends on
    // crate features enabled elsewhere in the build.
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        let value = member(jwk, name)?;
        let quoted_name =
            serde_json::to_string(name).map_err(|_| CryptoError::InvalidJwk("name"))?;
        let quoted_value =
            serde_json::to_string(value).map_err(|_| CryptoError::InvalidJwk("value"))?;
        canonical.push_str(&quoted_name);
        canonical.push(':');
        canonical.push_str(&quoted_value);
    }
    canonical.push('}');
    Ok(b64u(&sha256(canonical.as_bytes())))
}
