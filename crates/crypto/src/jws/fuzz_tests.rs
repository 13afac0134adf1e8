//! Property-based fuzzing of compact JWS reading and verification (issue 17):
//! any string is answered with a header or an error, never a panic; nothing
//! verifies unless the verifying key signed exactly those bytes; a header
//! naming a critical extension, or a token over [`MAX_TOKEN_BYTES`], is
//! refused; any JWK-shaped JSON is read or refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Two keys of each algorithm but RSA (one: generating it is slow); the
/// second key of an algorithm signs what the first must refuse.
fn keys() -> &'static [SigningKey] {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
        ]
        .into_iter()
        .map(|alg| {
            let generated = generate_signing_key(alg).unwrap();
            SigningKey::from_pkcs8(alg, &generated.private_pkcs8_der).unwrap()
        })
        .collect()
    })
}

fn key_index() -> impl Strategy<Value = usize> {
    0..5usize
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header` and `claims` as given, whatever they contain.
fn sign_raw(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let signature = key.sign_bytes(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

/// Some JSON for claims and header members.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|e| Value::Object(e.into_iter().collect())),
        ]
    })
}

/// Claims: the registered ones of the types jsonwebtoken checks (it refuses
/// a token whose `sub`, `iss`, `aud`, `exp` or `nbf` has another type, with
/// [`CryptoError::InvalidClaims`]), and anything else.
fn claims() -> impl Strategy<Value = Value> {
    let registered = prop_oneof![
        (prop::sample::select(vec!["sub", "iss", "jti"]), ".{0,12}")
            .prop_map(|(k, v)| (k.to_owned(), Value::from(v))),
        (
            prop::sample::select(vec!["exp", "nbf", "iat"]),
            any::<u32>()
        )
            .prop_map(|(k, v)| (k.to_owned(), Value::from(v))),
        prop::collection::vec(".{0,8}", 0..3).prop_map(|a| ("aud".to_owned(), json!(a))),
    ];
    let other = ("x_[a-z]{1,5}", json_value());
    prop::collection::vec(prop_oneof![registered, other], 0..5)
        .prop_map(|e| Value::Object(e.into_iter().collect()))
}

/// `alg` values an attacker tries: ours, none, HMAC, near misses.
fn alg() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "EdDSA", "ES256", "RS256", "none", "None", "HS256", "RS384", "PS256", "ES256K",
            "eddsa", "EdDSA ", "", "ES256\u{0}",
        ])
        .prop_map(Value::from),
        1 => ".{0,8}".prop_map(Value::from),
        1 => json_value(),
    ]
}

/// `kid` values meant to confuse a key lookup.
fn kid() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "../../etc/passwd",
            "' OR '1'='1",
            "\u{0}",
            "*",
            "",
            "kid\nX-Injected: 1",
            "%00",
        ])
        .prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
        "[a-zA-Z0-9_-]{43}".prop_map(Value::from),
        Just(Value::from("k".repeat(5000))),
        json_value(),
    ]
}

/// A protected header: sometimes with `crit`, `b64`, `jku`, `jwk`, `x5u`
/// (which must all be ignored or refused, never followed).
fn header() -> impl Strategy<Value = Value> {
    (
        prop::option::weighted(0.95, alg()),
        prop::option::of(kid()),
        prop::option::of(prop_oneof![
            Just(Value::from("JWT")),
            Just(Value::from("at+jwt")),
            json_value()
        ]),
        prop::option::weighted(
            0.3,
            prop_oneof![
                Just(json!(["exp"])),
                Just(json!(["b64"])),
                Just(json!([])),
                Just(Value::Null),
                json_value(),
            ],
        ),
        prop::option::weighted(
            0.3,
            (
                prop::sample::select(vec!["b64", "jku", "jwk", "x5u", "x5c", "zip", "cty"]),
                json_value(),
            ),
        ),
    )
        .prop_map(|(alg, kid, typ, crit, extra)| {
            let mut h = serde_json::Map::new();
            if let Some((k, v)) = extra {
                h.insert(k.to_owned(), v);
            }
            for (k, v) in [("alg", alg), ("kid", kid), ("typ", typ), ("crit", crit)] {
                if let Some(v) = v {
                    h.insert(k.to_owned(), v);
                }
            }
            Value::Object(h)
        })
}

/// A base64url segment: of JSON, of random bytes, or not base64url at all.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value().prop_map(|v| b64(&serde_json::to_vec(&v).unwrap())),
        prop::collection::vec(any::<u8>(), 0..128).prop_map(|b| b64(&b)),
        "[A-Za-z0-9_-]{0,90}",
        "[A-Za-z0-9+/=_. -]{0,40}",
        ".{0,20}",
    ]
}

/// Any string shaped like a token, more or less.
fn token_like() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        prop::collection::vec(segment(), 0..5).prop_map(|s| s.join(".")),
        (header(), segment(), segment())
            .prop_map(|(h, p, s)| { format!("{}.{p}.{s}", b64(&serde_json::to_vec(&h).unwrap())) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any string: the header is read or refused, and nothing verifies
    /// with any key (no signature was made).
    #[test]
    fn unsigned_strings_never_verify(token in token_like()) {
        if let Ok(header) = decode_header(&token) {
            prop_assert_eq!(token.split('.').count(), 3);
            prop_assert!(token.len() <= MAX_TOKEN_BYTES);
            let _ = header.kid;
        }
        for key in keys() {
            prop_assert!(verify::<Value>(&token, &key.verifying_key()).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A token verifies with a key only if that key signed it, its `alg` is
    /// the key's and it names no critical extension; `kid` plays no part.
    #[test]
    fn only_the_signer_with_its_alg_and_no_crit_verifies(
        signer in key_index(),
        mut header in header(),
        signer_alg in prop::bool::weighted(0.7),
        string_kid in prop::option::weighted(0.7, "[a-zA-Z0-9._-]{0,12}"),
        claims in claims(),
    ) {
        let keys = keys();
        if signer_alg {
            header["alg"] = json!(keys[signer].alg().as_str());
        }
        if let Some(kid) = string_kid {
            header["kid"] = json!(kid);
        }
        let token = sign_raw(&keys[signer], &header, &claims);
        let honest = header.get("alg") == Some(&json!(keys[signer].alg().as_str()))
            && header.get("crit").is_none()
            && serde_json::from_value::<JwsHeader>(header.clone()).is_ok()
            // Members jsonwebtoken types (`jwk`, `x5c`, ...) must have its types.
            && jsonwebtoken::decode_header(&token).is_ok();
        for (i, key) in keys.iter().enumerate() {
            let verdict = verify::<Value>(&token, &key.verifying_key());
            if i == signer && honest {
                prop_assert_eq!(verdict, Ok(claims.clone()));
                // The kid, whatever it is, reads back verbatim, unused
                // (`"kid": null` reads back as no kid).
                prop_assert_eq!(
                    decode_header(&token).unwrap().kid.map(Value::from),
                    header.get("kid").filter(|k| !k.is_null()).cloned()
                );
            } else {
                prop_assert!(verdict.is_err(), "key {} accepted a token of key {}: {}", i, signer, header);
            }
        }
    }

    /// Changing, deleting or inserting any byte of a valid token makes it
    /// fail (base64url is decoded strictly, so even the unused bits of the
    /// last character count).
    #[test]
    fn tampering_any_byte_fails(
        signer in key_index(),
        claims in claims(),
        position in any::<prop::sample::Index>(),
        byte in prop_oneof![
            prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".to_vec()),
            any::<u8>(),
        ],
        edit in 0..3u8,
    ) {
        let key = &keys()[signer];
        let token = key.sign(&claims, "JWT").unwrap();
        let verifier = key.verifying_key();
        prop_assert_eq!(verify::<Value>(&token, &verifier), Ok(claims));
        let mut bytes = token.clone().into_bytes();
        let at = position.index(bytes.len());
        match edit {
            0 => {
                prop_assume!(bytes[at] != byte);
                bytes[at] = byte;
            }
            1 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, byte),
        }
        if let Ok(tampered) = String::from_utf8(bytes) {
            prop_assert!(
                verify::<Value>(&tampered, &verifier).is_err(),
                "{} verified after edit {} at {}", tampered, edit, at
            );
        }
    }

    /// Any JSON object shaped like a JWK is read or refused, never a panic;
    /// what is read never verifies our tokens unless it is our key.
    #[test]
    fn any_jwk_is_answered(
        kty in prop::sample::select(vec!["OKP", "EC", "RSA", "oct", ""]),
        crv in prop::option::of(prop::sample::select(vec!["Ed25519", "P-256", "P-384", "X25519"])),
        members in prop::collection::vec(
            (
                prop::sample::select(vec!["x", "y", "n", "e", "d", "alg", "use", "kid", "k"]),
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::from(b64(&b))),
                    "[A-Za-z0-9_-]{0,50}".prop_map(Value::from),
                    prop::sample::select(vec!["AQAB", "AAEAAQ", "", "sig", "enc", "EdDSA", "RS256"])
                        .prop_map(Value::from),
                    json_value(),
                ],
            ),
            0..6,
        ),
        signer in key_index(),
    ) {
        let mut jwk = serde_json::Map::new();
        jwk.insert("kty".into(), Value::from(kty));
        if let Some(crv) = crv {
            jwk.insert("crv".into(), Value::from(crv));
        }
        jwk.extend(members.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let jwk = Value::Object(jwk);
        let _ = thumbprint(&jwk);
        if let Ok(verifier) = VerifyingKey::from_jwk(&jwk) {
            let token = keys()[signer].sign(&json!({"sub": "x"}), "JWT").unwrap();
            prop_assert!(verify::<Value>(&token, &verifier).is_err());
        }
    }
}

#[test]
fn crit_headers_are_refused_even_when_signed() {
    // Found by the fuzz tests: jsonwebtoken ignores `crit`, so a token whose
    // header demanded an extension Portcullis does not implement verified.
    for key in keys() {
        let verifier = key.verifying_key();
        for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!(null)] {
            let header = json!({"alg": key.alg().as_str(), "crit": crit, "exp": 1, "b64": false});
            let token = sign_raw(key, &header, &json!({"sub": "x"}));
            assert_eq!(
                verify::<Value>(&token, &verifier),
                Err(CryptoError::MalformedToken),
                "{header}"
            );
        }
        // Without `crit`, unknown members are ignored.
        let header = json!({"alg": key.alg().as_str(), "b64": false, "x5u": "https://evil"});
        let token = sign_raw(key, &header, &json!({"sub": "x"}));
        assert_eq!(verify::<Value>(&token, &verifier), Ok(json!({"sub": "x"})));
    }
}

#[test]
fn oversized_tokens_are_refused_before_any_work() {
    let key = &keys()[0];
    let verifier = key.verifying_key();
    let fits = key
        .sign(&json!({"pad": "x".repeat(MAX_TOKEN_BYTES / 2)}), "JWT")
        .unwrap();
    assert!(verify::<Value>(&fits, &verifier).is_ok());
    let big = key
        .sign(&json!({"pad": "x".repeat(MAX_TOKEN_BYTES)}), "JWT")
        .unwrap();
    assert!(big.len() > MAX_TOKEN_BYTES);
    assert_eq!(
        verify::<Value>(&big, &verifier),
        Err(CryptoError::MalformedToken)
    );
    assert_eq!(decode_header(&big), Err(CryptoError::MalformedToken));
    // Deep JSON in the header is refused by serde_json's recursion limit,
    // without overflowing the stack.
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let token = format!("{}.e30.AAAA", b64(deep.as_bytes()));
    assert_eq!(decode_header(&token), Err(CryptoError::MalformedToken));
}
