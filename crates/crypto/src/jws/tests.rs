use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    aud: String,
    nbf: u64,
}

/// Deliberately long expired and not yet valid: `verify` must not look at time claims.
fn claims() -> Claims {
    Claims {
        sub: "user-1".into(),
        exp: 1,
        aud: "someone-else".into(),
        nbf: 4_102_444_800,
    }
}

/// One generated key per algorithm, shared by the tests (RSA generation is slow).
fn key(alg: SigningAlgorithm) -> &'static GeneratedKey {
    static KEYS: OnceLock<Vec<GeneratedKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        SigningAlgorithm::ALL
            .iter()
            .map(|&alg| generate_signing_key(alg).unwrap())
            .collect()
    });
    keys.iter().find(|k| k.alg == alg).unwrap()
}

fn signing_key(alg: SigningAlgorithm) -> SigningKey {
    let generated = key(alg);
    SigningKey::from_pkcs8(alg, &generated.private_pkcs8_der).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn round_trip_for_every_algorithm() {
    for alg in SigningAlgorithm::ALL {
        let generated = key(alg);
        let signer = signing_key(alg);
        assert_eq!(signer.alg(), alg);
        assert_eq!(signer.kid(), generated.kid);
        assert_eq!(signer.public_jwk(), &generated.public_jwk);

        let token = signer.sign(&claims(), "JWT").unwrap();
        let header = decode_header(&token).unwrap();
        assert_eq!(
            header,
            JwsHeader {
                alg: alg.as_str().into(),
                kid: Some(generated.kid.clone()),
                typ: Some("JWT".into()),
            }
        );

        let verifier = VerifyingKey::from_jwk(&generated.public_jwk).unwrap();
        assert_eq!(verifier.alg(), alg);
        assert_eq!(verifier.kid(), generated.kid);
        let decoded: Claims = verify(&token, &verifier).unwrap();
        assert_eq!(decoded, claims());

        let from_signer: Claims = verify(&token, &signer.verifying_key()).unwrap();
        assert_eq!(from_signer, claims());
    }
}

#[test]
fn kid_is_the_thumbprint_and_jwk_has_required_members() {
    for alg in SigningAlgorithm::ALL {
        let generated = key(alg);
        let jwk = &generated.public_jwk;
        assert_eq!(thumbprint(jwk).unwrap(), generated.kid);
        assert_eq!(generated.kid.len(), 43);
        assert_eq!(jwk["kid"], generated.kid.as_str());
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none());
        match alg {
            SigningAlgorithm::EdDSA => {
                assert_eq!(jwk["kty"], "OKP");
                assert_eq!(jwk["crv"], "Ed25519");
                assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
            }
            SigningAlgorithm::ES256 => {
                assert_eq!(jwk["kty"], "EC");
                assert_eq!(jwk["crv"], "P-256");
                assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
                assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
            }
            SigningAlgorithm::RS256 => {
                assert_eq!(jwk["kty"], "RSA");
                assert_eq!(jwk["e"], "AQAB");
                let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
                assert_eq!(n.len(), 256);
            }
        }
    }
}

#[test]
fn typ_is_carried_and_empty_typ_is_omitted() {
    let signer = signing_key(SigningAlgorithm::EdDSA);
    let token = signer.sign(&claims(), "at+jwt").unwrap();
    assert_eq!(
        decode_header(&token).unwrap().typ.as_deref(),
        Some("at+jwt")
    );
    let token = signer.sign(&claims(), "").unwrap();
    assert_eq!(decode_header(&token).unwrap().typ, None);
    let _: Claims = verify(&token, &signer.verifying_key()).unwrap();
}

#[test]
fn another_key_of_the_same_algorithm_fails() {
    for alg in SigningAlgorithm::ALL {
        let token = signing_key(alg).sign(&claims(), "JWT").unwrap();
        let other = if alg == SigningAlgorithm::RS256 {
            // Avoid a second slow RSA generation: a fixed foreign key from the RFC.
            VerifyingKey::from_jwk(&rfc7638_rsa_jwk()).unwrap()
        } else {
            let other = generate_signing_key(alg).unwrap();
            VerifyingKey::from_jwk(&other.public_jwk).unwrap()
        };
        assert_eq!(
            verify::<Claims>(&token, &other).unwrap_err(),
            CryptoError::InvalidSignature,
            "{alg}"
        );
    }
}

#[test]
fn key_of_another_algorithm_fails() {
    for alg in SigningAlgorithm::ALL {
        let token = signing_key(alg).sign(&claims(), "JWT").unwrap();
        for other in SigningAlgorithm::ALL.into_iter().filter(|&o| o != alg) {
            let verifier = VerifyingKey::from_jwk(&key(other).public_jwk).unwrap();
            assert_eq!(
                verify::<Claims>(&token, &verifier).unwrap_err(),
                CryptoError::AlgorithmMismatch
            );
        }
    }
}

#[test]
fn changed_header_alg_and_none_are_refused() {
    for alg in SigningAlgorithm::ALL {
        let signer = signing_key(alg);
        let verifier = signer.verifying_key();
        let token = signer.sign(&claims(), "JWT").unwrap();
        let parts = segments(&token);
        for forged_alg in ["none", "HS256", "RS384", "ES256", "EdDSA", "RS256", "rs256"] {
            if forged_alg == alg.as_str() {
                continue;
            }
            let header = json!({"alg": forged_alg, "typ": "JWT", "kid": signer.kid()});
            for signature in [parts[2].as_str(), ""] {
                let forged = format!("{}.{}.{}", b64(&header), parts[1], signature);
                assert!(
                    verify::<Claims>(&forged, &verifier).is_err(),
                    "{alg} accepted {forged_alg}"
                );
            }
        }
        // Unsigned token with the right alg and an empty signature.
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        assert!(verify::<Claims>(&unsigned, &verifier).is_err());
    }
}

#[test]
fn hmac_with_public_key_as_secret_is_refused() {
    // Classic alg confusion: HS256 keyed with the public key's bytes.
    let signer = signing_key(SigningAlgorithm::RS256);
    let secret = serde_json::to_vec(signer.public_jwk()).unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(
        verify::<Claims>(&forged, &signer.verifying_key()).unwrap_err(),
        CryptoError::AlgorithmMismatch
    );
}

#[test]
fn tampered_payload_or_signature_fails() {
    for alg in SigningAlgorithm::ALL {
        let signer = signing_key(alg);
        let verifier = signer.verifying_key();
        let token = signer.sign(&claims(), "JWT").unwrap();
        let parts = segments(&token);
        let mut other = claims();
        other.sub = "admin".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(
            verify::<Claims>(&forged, &verifier).unwrap_err(),
            CryptoError::InvalidSignature
        );
        let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
        sig[0] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(
            verify::<Claims>(&forged, &verifier).unwrap_err(),
            CryptoError::InvalidSignature
        );
    }
}

#[test]
fn claims_of_the_wrong_shape_are_invalid_claims() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Other {
        scope: Vec<String>,
    }
    let signer = signing_key(SigningAlgorithm::ES256);
    let token = signer.sign(&claims(), "JWT").unwrap();
    assert_eq!(
        verify::<Other>(&token, &signer.verifying_key()).unwrap_err(),
        CryptoError::InvalidClaims
    );
}

#[test]
fn garbage_tokens_are_errors_not_panics() {
    let verifier = signing_key(SigningAlgorithm::EdDSA).verifying_key();
    let garbage = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJFZERTQSJ9",
        "eyJhbGciOiJFZERTQSJ9..",
        "eyJhbGciOiJFZERTQSJ9.e30.",
        "eyJhbGciOiJFZERTQSJ9.e30.!!!",
        "eyJhbGciOiJFZERTQSJ9.!!!.AAAA",
        "bm90IGpzb24.e30.AAAA",
        "WzFd.e30.AAAA",
        "e30.e30.AAAA",
        "eyJhbGciOjV9.e30.AAAA",
        "\u{0}.\u{ffff}.\u{1F600}",
    ];
    for token in garbage {
        assert!(verify::<Value>(token, &verifier).is_err(), "{token:?}");
    }
    for token in [
        "",
        "a.b.c",
        "a.b",
        "bm90IGpzb24.e30.AAAA",
        "e30.e30.AAAA",
        "WzFd.e30.x",
    ] {
        assert_eq!(
            decode_header(token).unwrap_err(),
            CryptoError::MalformedToken,
            "{token:?}"
        );
    }
    // A "none" header decodes (so the caller can see it), but never verifies.
    let none = format!("{}.e30.", b64(&json!({"alg": "none"})));
    assert_eq!(decode_header(&none).unwrap().alg, "none");
    assert!(verify::<Value>(&none, &verifier).is_err());
}

#[test]
fn from_pkcs8_rejects_wrong_or_garbage_keys() {
    let ed = key(SigningAlgorithm::EdDSA);
    let ec = key(SigningAlgorithm::ES256);
    let rsa = key(SigningAlgorithm::RS256);
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::ES256, &ed.private_pkcs8_der).is_err());
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::RS256, &ec.private_pkcs8_der).is_err());
    assert!(SigningKey::from_pkcs8(SigningAlgorithm::EdDSA, &rsa.private_pkcs8_der).is_err());
    for alg in SigningAlgorithm::ALL {
        for der in [&b""[..], b"\x30\x00", &[0xffu8; 64]] {
            assert_eq!(
                SigningKey::from_pkcs8(alg, der).unwrap_err(),
                CryptoError::InvalidKey
            );
        }
    }
}

#[test]
fn debug_output_hides_key_material() {
    let generated = key(SigningAlgorithm::ES256);
    let signer = signing_key(SigningAlgorithm::ES256);
    for debug in [
        format!("{generated:?}"),
        format!("{signer:?}"),
        format!("{:?}", signer.verifying_key()),
    ] {
        assert!(debug.contains(&generated.kid), "{debug}");
        assert!(debug.contains("ES256"), "{debug}");
        assert!(!debug.contains("private"), "{debug}");
        assert!(!debug.contains(generated.public_jwk["x"].as_str().unwrap()));
    }
}

#[test]
fn keys_are_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<SigningKey>();
    assert_traits::<VerifyingKey>();
}

/// The RSA public key of RFC 7638 section 3.1 (RFC 7517 appendix A.1).
fn rfc7638_rsa_jwk() -> Value {
    json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    })
}

#[test]
fn rfc7638_thumbprint_vector() {
    assert_eq!(
        thumbprint(&rfc7638_rsa_jwk()).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // Member order and extra members do not matter.
    let mut reordered = serde_json::Map::new();
    reordered.insert("e".into(), "AQAB".into());
    reordered.insert("use".into(), "sig".into());
    reordered.insert("n".into(), rfc7638_rsa_jwk()["n"].clone());
    reordered.insert("kty".into(), "RSA".into());
    assert_eq!(
        thumbprint(&Value::Object(reordered)).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // The JWK's own kid is kept when present, the thumbprint used when absent.
    let with_kid = VerifyingKey::from_jwk(&rfc7638_rsa_jwk()).unwrap();
    assert_eq!(with_kid.kid(), "2011-04-29");
    let mut without = rfc7638_rsa_jwk();
    without.as_object_mut().unwrap().remove("kid");
    assert_eq!(
        VerifyingKey::from_jwk(&without).unwrap().kid(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn rfc8037_okp_thumbprint_vector() {
    // RFC 8037 appendix A.3.
    let jwk = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    });
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap().alg(),
        SigningAlgorithm::EdDSA
    );
}

#[test]
fn thumbprint_rejects_bad_jwks() {
    for jwk in [
        json!("string"),
        json!([]),
        json!({}),
        json!({"kty": "RSA", "n": "abc"}),
        json!({"kty": "EC", "crv": "P-256", "x": "a"}),
        json!({"kty": "XYZ"}),
        json!({"kty": 5}),
        json!({"kty": "OKP", "crv": "Ed25519", "x": 5}),
    ] {
        assert!(thumbprint(&jwk).is_err(), "{jwk}");
    }
}

#[test]
fn from_jwk_rejects_bad_keys() {
    let ed = key(SigningAlgorithm::EdDSA).public_jwk.clone();
    let ec = key(SigningAlgorithm::ES256).public_jwk.clone();
    let edit = |base: &Value, field: &str, value: Value| {
        let mut jwk = base.clone();
        jwk.as_object_mut().unwrap().insert(field.into(), value);
        jwk
    };
    let short_rsa = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB"});
    let mut bad_point_y = URL_SAFE_NO_PAD.decode(ec["y"].as_str().unwrap()).unwrap();
    bad_point_y[31] ^= 1;
    let cases = [
        json!(null),
        json!({"kty": "oct", "k": "AAAA"}),
        edit(&ed, "crv", json!("X25519")),
        edit(&ed, "x", json!("AAAA")),
        edit(&ed, "x", json!("not base64!")),
        edit(&ed, "use", json!("enc")),
        edit(&ed, "alg", json!("ES256")),
        edit(&ed, "alg", json!("none")),
        edit(&ed, "d", json!("AAAA")),
        edit(&ed, "kid", json!(42)),
        edit(&ec, "crv", json!("P-384")),
        edit(&ec, "y", json!(URL_SAFE_NO_PAD.encode(bad_point_y))),
        short_rsa,
        edit(&rfc7638_rsa_jwk(), "alg", json!("PS256")),
    ];
    for jwk in cases {
        assert!(VerifyingKey::from_jwk(&jwk).is_err(), "{jwk}");
    }
}

#[test]
fn jwk_without_alg_or_use_is_accepted() {
    let mut jwk = key(SigningAlgorithm::ES256).public_jwk.clone();
    let members = jwk.as_object_mut().unwrap();
    members.remove("alg");
    members.remove("use");
    members.remove("kid");
    let verifier = VerifyingKey::from_jwk(&jwk).unwrap();
    assert_eq!(verifier.alg(), SigningAlgorithm::ES256);
    assert_eq!(verifier.kid(), key(SigningAlgorithm::ES256).kid);
}
