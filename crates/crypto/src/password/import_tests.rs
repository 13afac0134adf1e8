//! The Keycloak and Auth0 converters. Keycloak's PBKDF2 vectors were computed with Python's
//! `hashlib.pbkdf2_hmac` (OpenSSL) with Keycloak's own parameters (16-byte salt, 512-bit key,
//! its default iteration counts); the Argon2 one is the Argon2 reference implementation's test
//! vector, re-expressed as Keycloak stores it.

use serde_json::json;

use super::*;

const FAST: Argon2Params = Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

const REHASH: Verification = Verification::Valid { needs_rehash: true };

fn verify(password: &str, stored: &str) -> Result<Verification, CryptoError> {
    PasswordHasher::new(FAST).unwrap().verify(password, stored)
}

fn keycloak_secret(value: &str, salt: &str) -> String {
    json!({"value": value, "salt": salt, "additionalParameters": {}}).to_string()
}

fn keycloak_pbkdf2(algorithm: &str, iterations: u32) -> String {
    json!({"hashIterations": iterations, "algorithm": algorithm, "additionalParameters": {}})
        .to_string()
}

const KEYCLOAK_SALT: &str = "AAECAwQFBgcICQoLDA0ODw==";

#[test]
fn keycloak_pbkdf2_credentials() {
    // Password "correct horse", salt 00 01 .. 0f, 64-byte keys.
    for (algorithm, iterations, value, prefix, format) in [
        (
            "pbkdf2-sha256",
            27_500,
            "qnA427fe69fAjkevcHZvnm7vp3MewnxKL4g2WLfI7U6teQVH1eR2L5DfcV0psPIfjGPtlZbkpnogYX+2TaSl6w==",
            "$pbkdf2-sha256$i=27500,l=64$AAECAwQFBgcICQoLDA0ODw$",
            HashFormat::Pbkdf2Sha256,
        ),
        (
            "pbkdf2-sha512",
            210_000,
            "l4pqr0UVqxiWEnbGDBV//hzeVcB7ZgsFnr5Z+SZYIYjhXWCECCVC/oKM2WWMwBzQGCBfe2yb+20zK3Rr1rkPjg==",
            "$pbkdf2-sha512$i=210000,l=64$AAECAwQFBgcICQoLDA0ODw$",
            HashFormat::Pbkdf2Sha512,
        ),
        (
            "pbkdf2",
            20_000,
            "fniHe4wujMvABtTa8nlrXUNDmQbEVpEAOGSrBOKjUxr8fq0EhOTrbtwxv0kDHkCeZpDFXImqFMKFND2GDrIqXQ==",
            "$pbkdf2-sha1$i=20000,l=64$AAECAwQFBgcICQoLDA0ODw$",
            HashFormat::Pbkdf2Sha1,
        ),
    ] {
        let stored = from_keycloak(
            &keycloak_secret(value, KEYCLOAK_SALT),
            &keycloak_pbkdf2(algorithm, iterations),
        )
        .unwrap();
        assert!(stored.starts_with(prefix), "{stored}");
        let b64_fields = stored.rsplitn(3, '$').take(2).collect::<Vec<_>>().concat();
        assert!(
            !b64_fields.contains('='),
            "PHC B64 has no padding: {stored}"
        );
        assert_eq!(is_importable(&stored), Ok(format));
        assert_eq!(verify("correct horse", &stored), Ok(REHASH), "{algorithm}");
        assert_eq!(
            verify("correct horsE", &stored),
            Ok(Verification::Invalid),
            "{algorithm}"
        );
    }
}

#[test]
fn keycloak_argon2_credential() {
    // The Argon2 reference implementation's vector (password "password", salt "somesalt",
    // argon2id v19, t = 2, m = 256 KiB, p = 1) as Keycloak 24+ stores it: raw hash and salt in
    // standard base64, the parameters as one-element string lists.
    let secret = keycloak_secret(
        "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=",
        "c29tZXNhbHQ=",
    );
    let credential = r#"{"hashIterations":2,"algorithm":"argon2","additionalParameters":{"hashLength":["32"],"memory":["256"],"type":["id"],"version":["1.3"],"parallelism":["1"]}}"#;
    let stored = from_keycloak(&secret, credential).unwrap();
    assert_eq!(
        stored,
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
    );
    assert_eq!(verify("password", &stored), Ok(REHASH));
    assert_eq!(verify("Password", &stored), Ok(Verification::Invalid));

    // The same hash claimed as argon2i does not verify; version 1.0 maps to v=16.
    let argon2i = credential.replace(r#"["id"]"#, r#"["i"]"#);
    let stored = from_keycloak(&secret, &argon2i).unwrap();
    assert!(stored.starts_with("$argon2i$v=19$"));
    assert_eq!(verify("password", &stored), Ok(Verification::Invalid));
    let v10 = credential.replace(r#"["1.3"]"#, r#"["1.0"]"#);
    assert!(
        from_keycloak(&secret, &v10)
            .unwrap()
            .starts_with("$argon2id$v=16$")
    );

    // Keycloak's real default parameters (7168 KiB, t = 5) are accepted as they are.
    let defaults = credential
        .replace(r#""hashIterations":2"#, r#""hashIterations":5"#)
        .replace(r#"["256"]"#, r#"["7168"]"#);
    assert_eq!(
        is_importable(&from_keycloak(&secret, &defaults).unwrap()),
        Ok(HashFormat::Argon2id)
    );
}

#[test]
fn keycloak_refusals() {
    let secret = keycloak_secret(
        "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=",
        "c29tZXNhbHQ=",
    );
    let argon2 = r#"{"hashIterations":2,"algorithm":"argon2","additionalParameters":{"hashLength":["32"],"memory":["256"],"type":["id"],"version":["1.3"],"parallelism":["1"]}}"#;
    let refused = |secret: &str, credential: &str| {
        matches!(
            from_keycloak(secret, credential),
            Err(CryptoError::UnimportableHash(_))
        )
    };
    assert!(refused(&secret, &keycloak_pbkdf2("pbkdf2-sha384", 1000)));
    assert!(refused(&secret, &keycloak_pbkdf2("md5", 1)));
    assert!(refused(&secret, &keycloak_pbkdf2("pbkdf2-sha256", 0)));
    assert!(refused(
        &secret,
        &keycloak_pbkdf2("pbkdf2-sha256", 20_000_000)
    ));
    assert!(refused(&secret, &argon2.replace(r#"["32"]"#, r#"["64"]"#)));
    assert!(refused(&secret, &argon2.replace(r#"["id"]"#, r#"["x"]"#)));
    assert!(refused(
        &secret,
        &argon2.replace(r#"["1.3"]"#, r#"["2.0"]"#)
    ));
    assert!(refused(
        &secret,
        &argon2.replace(r#"["256"]"#, r#"["4194304"]"#)
    ));
    assert!(refused(
        &secret,
        &argon2.replace(r#"["256"]"#, r#"["lots"]"#)
    ));
    assert!(refused(
        &secret,
        &argon2.replace(r#""memory":["256"],"#, "")
    ));
    assert!(refused(&secret, "not json"));
    assert!(refused("{}", &keycloak_pbkdf2("pbkdf2-sha256", 1000)));
    assert!(refused(
        &keycloak_secret("!!!", KEYCLOAK_SALT),
        &keycloak_pbkdf2("pbkdf2-sha256", 1000)
    ));
    assert!(refused(
        &json!({"value": "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4="}).to_string(),
        &keycloak_pbkdf2("pbkdf2-sha256", 1000)
    ));
    // A bcrypt provider's credential must hold a bcrypt string.
    assert!(refused(&secret, &keycloak_pbkdf2("bcrypt", 10)));
    let bcrypt = keycloak_secret(
        "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K",
        "",
    );
    assert_eq!(
        from_keycloak(&bcrypt, &keycloak_pbkdf2("bcrypt", 10)).unwrap(),
        "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"
    );
    // Oversized fields are refused before parsing.
    let huge = format!(
        r#"{{"value":"{}","salt":"AAAA"}}"#,
        "A".repeat(MAX_KEYCLOAK_FIELD_LEN)
    );
    assert!(refused(&huge, &keycloak_pbkdf2("pbkdf2-sha256", 1000)));
}

#[test]
fn auth0_documented_examples() {
    // From Auth0's "Bulk User Import Database Schema and Examples".
    let bcrypt = json!({"algorithm": "bcrypt", "hash": {"value": "$2b$10$C9hB01.YxRSTcn/ZOOo4j.TW7xCKKFKBSF.C7E0xiUwumqIDqWUXG"}});
    assert_eq!(
        from_auth0(&bcrypt).unwrap(),
        "$2b$10$C9hB01.YxRSTcn/ZOOo4j.TW7xCKKFKBSF.C7E0xiUwumqIDqWUXG"
    );
    let argon2 = json!({"algorithm": "argon2", "hash": {"value": "$argon2id$v=19$m=65536,t=2,p=1$J6Q/82PCyaNpYKRELJyTZg$m04qUAB8rexWDR4+/0f+SFB+4XMFxt7YAvAq2UycYos"}});
    assert_eq!(
        is_importable(&from_auth0(&argon2).unwrap()),
        Ok(HashFormat::Argon2id)
    );
    let pbkdf2 = json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha512$i=100000,l=64$KNyFsA2rWoE$I2CQGI9H0JxdDf3kERRI97kPCGxh0KWBIV3MxyaS191gDGfzVBGyS4BibhgqWQ0/ails8mHuU9ckASxHOOq58w"}});
    assert_eq!(
        from_auth0(&pbkdf2).unwrap(),
        "$pbkdf2-sha512$i=100000,l=64$KNyFsA2rWoE$I2CQGI9H0JxdDf3kERRI97kPCGxh0KWBIV3MxyaS191gDGfzVBGyS4BibhgqWQ0/ails8mHuU9ckASxHOOq58w"
    );
    let sha256 = json!({"algorithm": "sha256", "hash": {"value": "d24e794fce503c3ddb1cd1ba1dd5d9b250cf9917336a0316fefd87fecf79200f", "encoding": "hex"}, "salt": {"value": "abc123", "position": "prefix"}});
    assert_eq!(
        from_auth0(&sha256).unwrap(),
        "$sha256-salted$pos=prefix$YWJjMTIz$0k55T85QPD3bHNG6HdXZslDPmRczagMW/v2H/s95IA8"
    );
    // Auth0's md4 and pbkdf2-md4 examples, its hmac and ldap ones, are refused with a reason.
    for refused in [
        json!({"algorithm": "md4", "hash": {"value": "AbuUujgF0pPPkJPSFRTpmA==", "encoding": "base64"}}),
        json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-md4$i=100000,l=64$+N375B8q0Fw$fp2R9KAM4hK/votGHC5Fu+jhqbxUD8+Nic/EMSGvNC3UP/k7wSHI0uXluHRSkZfl/BOheYqNOemayG90ZaSSQw", "encoding": "utf8"}}),
        json!({"algorithm": "ldap", "hash": {"value": "{SSHA384}/cgEjdoZh85DhurDeOQEMO1rMlAur93SVPbYe5XSD4lF7nNuvrBju5hUeg9A6agRemgSXGl5YuE=", "encoding": "utf8"}}),
        json!({"algorithm": "hmac", "hash": {"value": "cg7f42jH39/2EaAU4wNd4s2lKIk=", "encoding": "base64", "digest": "sha1", "key": {"value": "736868", "encoding": "hex"}}}),
    ] {
        assert!(
            matches!(from_auth0(&refused), Err(CryptoError::UnimportableHash(_))),
            "{refused}"
        );
    }
    let Err(CryptoError::UnimportableHash(reason)) = from_auth0(
        &json!({"algorithm": "md5", "hash": {"value": "5f4dcc3b5aa765d61d8327deb882cf99", "encoding": "hex"}}),
    ) else {
        panic!("md5 must be refused");
    };
    assert!(reason.contains("too weak"), "{reason}");
}

#[test]
fn auth0_salted_sha_vectors() {
    // SHA-256/512("abc") of FIPS 180-2, and Python hashlib vectors for the other encodings.
    let cases = [
        (
            json!({"algorithm": "sha256", "hash": {"value": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "encoding": "hex"}, "salt": {"value": "a", "position": "prefix"}}),
            "bc",
        ),
        (
            json!({"algorithm": "sha512", "hash": {"value": "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F", "encoding": "hex"}, "salt": {"value": "63", "encoding": "hex", "position": "suffix"}}),
            "ab",
        ),
        (
            json!({"algorithm": "sha256", "hash": {"value": "TwbH7D0EqeGOI0UO3LAmB1hiQxGLkKUV8yaX74I8F78=", "encoding": "base64"}, "salt": {"value": "AAFOYUNs", "encoding": "base64", "position": "prefix"}}),
            "correct horse",
        ),
        (
            // URL-safe base64, unpadded, as Auth0 also accepts.
            json!({"algorithm": "sha512", "hash": {"value": "-_lV2xhUztQArHag7TlMjAd3aKyVAapXtMLsfGmVod3ynk15nyO7Y-TZCVrsTJ3J1ZxZ32d2wusHGJDgw_vn8w", "encoding": "base64"}, "salt": {"value": "AAFOYUNs", "encoding": "base64", "position": "prefix"}}),
            "correct horse",
        ),
        (
            json!({"algorithm": "sha256", "hash": {"value": "3b1a15961d5f7b60d8b6b0a53c4720589c9cffc7bf95bc0667d76c2e01b544e9", "encoding": "hex"}, "salt": {"value": "pepper", "position": "suffix"}, "password": {"encoding": "utf16le"}}),
            "correct horse",
        ),
        (
            json!({"algorithm": "sha512", "hash": {"value": "953ef233fea0044e6bfa8a5dfd809148ed57ea5801c49eb9f53ec21deccee7d072a76678033c59c6f919ccf717ed4031d337ce72667a8ebac357087178978650", "encoding": "hex"}, "salt": {"value": "pepper", "position": "suffix"}, "password": {"encoding": "ucs2"}}),
            "correct horse",
        ),
        (
            json!({"algorithm": "sha256", "hash": {"value": "4104d36f8da2c254349f85836793ebe029e0c957063a34c91c2e9203187b5631", "encoding": "hex"}}),
            "correct horse",
        ),
        (
            json!({"algorithm": "sha512", "hash": {"value": "4922d660d73aa870ebd4f9a4b1caa052402777184e6c2c488330eabe90e6d390f3e29ad272dabff1de9ee57d187983ac881bd458f9911542d73a2730ab76b3c7", "encoding": "hex"}, "salt": {"value": "salt", "encoding": "utf8", "position": "prefix"}, "password": {"encoding": "binary"}}),
            "pässwörd",
        ),
    ];
    for (custom, password) in &cases {
        let stored = from_auth0(custom).unwrap();
        assert!(
            matches!(
                is_importable(&stored),
                Ok(HashFormat::SaltedSha256 | HashFormat::SaltedSha512)
            ),
            "{stored}"
        );
        assert_eq!(verify(password, &stored), Ok(REHASH), "{custom}");
        assert_eq!(
            verify(&format!("{password}!"), &stored),
            Ok(Verification::Invalid),
            "{custom}"
        );
    }
}

#[test]
fn auth0_pbkdf2_defaults_are_written_out() {
    // RFC 6070 test 5 without i and l: Auth0's default i (100000) is written out, l is the
    // output's length. With the real count (4096) it verifies.
    let without = json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$PS7sT+QchJuAyNg2YsDkSospGpZM8vBwOA", "encoding": "utf8"}});
    assert_eq!(
        from_auth0(&without).unwrap(),
        "$pbkdf2-sha1$i=100000,l=25$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$PS7sT+QchJuAyNg2YsDkSospGpZM8vBwOA"
    );
    let with_i = json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=4096$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$PS7sT+QchJuAyNg2YsDkSospGpZM8vBwOA"}});
    let stored = from_auth0(&with_i).unwrap();
    assert_eq!(verify("passwordPASSWORDpassword", &stored), Ok(REHASH));
    let wrong_l = json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=4096,l=64$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$PS7sT+QchJuAyNg2YsDkSospGpZM8vBwOA"}});
    assert!(from_auth0(&wrong_l).is_err());
}

#[test]
fn auth0_refusals() {
    let sha = |extra: serde_json::Value| {
        let mut base = json!({"algorithm": "sha256", "hash": {"value": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "encoding": "hex"}, "salt": {"value": "a", "position": "prefix"}});
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        from_auth0(&base)
    };
    assert!(sha(json!({})).is_ok());
    for extra in [
        json!({"hash": {"value": "ba7816bf", "encoding": "hex"}}), // short
        json!({"hash": {"value": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}}), // no encoding
        json!({"hash": {"value": "zz", "encoding": "hex"}}),
        json!({"hash": {"value": "ba78", "encoding": "utf8"}}),
        json!({"salt": {"value": "a"}}), // no position
        json!({"salt": {"value": "a", "position": "middle"}}),
        json!({"salt": {"value": "a", "encoding": "rot13", "position": "prefix"}}),
        json!({"salt": {"value": "xyz", "encoding": "hex", "position": "prefix"}}),
        json!({"password": {"encoding": "utf32"}}),
        json!({"salt": {"value": "a".repeat(2000), "position": "prefix"}}),
        json!({"algorithm": "whirlpool"}),
        json!({"algorithm": "scrypt"}),
        json!({"algorithm": "bcrypt"}), // a hex digest is no bcrypt string
        json!({"algorithm": "argon2"}),
        json!({"algorithm": 5}),
        json!({"hash": "not an object"}),
    ] {
        assert!(
            matches!(sha(extra.clone()), Err(CryptoError::UnimportableHash(_))),
            "{extra}"
        );
    }
    // argon2/bcrypt/pbkdf2 take no salt, only utf8, and must be what they claim.
    let bcrypt = "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K";
    for custom in [
        json!({"algorithm": "bcrypt", "hash": {"value": bcrypt, "encoding": "base64"}}),
        json!({"algorithm": "bcrypt", "hash": {"value": bcrypt}, "salt": {"value": "a", "position": "prefix"}}),
        json!({"algorithm": "bcrypt", "hash": {"value": bcrypt}, "password": {"encoding": "latin1"}}),
        json!({"algorithm": "argon2", "hash": {"value": bcrypt}}),
        json!({"algorithm": "bcrypt", "hash": {"value": format!("bcrypt_sha256${bcrypt}")}}),
        json!({"algorithm": "pbkdf2", "hash": {"value": bcrypt}}),
        json!({"algorithm": "bcrypt", "hash": {"value": "$2b$31$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"}}),
        json!([]),
        json!(null),
    ] {
        assert!(
            matches!(from_auth0(&custom), Err(CryptoError::UnimportableHash(_))),
            "{custom}"
        );
    }
}

#[test]
fn auth0_password_hash_field() {
    let doc = "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K";
    assert_eq!(from_auth0_password_hash(doc).unwrap(), doc);
    assert!(from_auth0_password_hash(&format!("bcrypt${doc}")).is_err());
    assert!(
        from_auth0_password_hash("$pbkdf2-sha256$i=1,l=16$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
            .is_err()
    );
    assert!(from_auth0_password_hash("secret").is_err());
}

#[test]
fn converted_hashes_upgrade_to_argon2id_on_sign_in() {
    // What the login path does: verify the imported hash, and on `needs_rehash` store a fresh
    // hash of the password, which then verifies as current.
    let hasher = PasswordHasher::new(FAST).unwrap();
    let imported = [
        (
            from_keycloak(
                &keycloak_secret(
                    "qnA427fe69fAjkevcHZvnm7vp3MewnxKL4g2WLfI7U6teQVH1eR2L5DfcV0psPIfjGPtlZbkpnogYX+2TaSl6w==",
                    KEYCLOAK_SALT,
                ),
                &keycloak_pbkdf2("pbkdf2-sha256", 27_500),
            )
            .unwrap(),
            "correct horse",
        ),
        (
            from_auth0(&json!({"algorithm": "sha256", "hash": {"value": "TwbH7D0EqeGOI0UO3LAmB1hiQxGLkKUV8yaX74I8F78=", "encoding": "base64"}, "salt": {"value": "AAFOYUNs", "encoding": "base64", "position": "prefix"}})).unwrap(),
            "correct horse",
        ),
        (
            from_auth0_password_hash("$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K").unwrap(),
            "hello",
        ),
    ];
    for (stored, password) in imported {
        assert_eq!(hasher.verify(password, &stored), Ok(REHASH), "{stored}");
        let upgraded = hasher.hash(password).unwrap();
        assert_eq!(is_importable(&upgraded), Ok(HashFormat::Argon2id));
        assert_eq!(
            hasher.verify(password, &upgraded),
            Ok(Verification::Valid {
                needs_rehash: false
            })
        );
    }
}
