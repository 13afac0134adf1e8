use super::*;
use argon2::PasswordHasher as _;

/// Small parameters so the tests stay fast.
const FAST: Argon2Params = Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

fn hasher() -> PasswordHasher {
    PasswordHasher::new(FAST).unwrap()
}

#[test]
fn default_params_are_owasp() {
    let p = Argon2Params::default();
    assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19_456, 2, 1));
}

#[test]
fn default_params_hash_and_verify() {
    let h = PasswordHasher::new(Argon2Params::default()).unwrap();
    let phc = h.hash("hunter2 but longer").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert_eq!(
        h.verify("hunter2 but longer", &phc).unwrap(),
        Verification::Valid {
            needs_rehash: false
        }
    );
}

#[test]
fn round_trip_and_wrong_password() {
    let h = hasher();
    let phc = h.hash("correct horse battery staple").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
    assert_eq!(
        h.verify("correct horse battery staple", &phc).unwrap(),
        Verification::Valid {
            needs_rehash: false
        }
    );
    assert_eq!(
        h.verify("correct horse battery stapler", &phc).unwrap(),
        Verification::Invalid
    );
    assert_eq!(h.verify("", &phc).unwrap(), Verification::Invalid);
    assert!(!Verification::Invalid.is_valid());
}

#[test]
fn salts_are_random() {
    let h = hasher();
    assert_ne!(h.hash("same").unwrap(), h.hash("same").unwrap());
}

#[test]
fn salt_is_16_bytes() {
    let phc = hasher().hash("x").unwrap();
    let parsed = PasswordHash::new(&phc).unwrap();
    assert_eq!(parsed.salt.unwrap().as_ref().len(), 16);
    assert_eq!(parsed.hash.unwrap().len(), 32);
}

#[test]
fn needs_rehash_when_params_change() {
    let old = hasher();
    let phc = old.hash("pw").unwrap();
    for params in [
        Argon2Params {
            memory_kib: 512,
            ..FAST
        },
        Argon2Params {
            iterations: 2,
            ..FAST
        },
        Argon2Params {
            parallelism: 2,
            ..FAST
        },
    ] {
        let new = PasswordHasher::new(params).unwrap();
        assert_eq!(new.params(), params);
        assert_eq!(
            new.verify("pw", &phc).unwrap(),
            Verification::Valid { needs_rehash: true },
            "{params:?}"
        );
        assert_eq!(new.verify("pW", &phc).unwrap(), Verification::Invalid);
    }
}

#[test]
fn argon2i_and_argon2d_verify_with_rehash() {
    let params = argon2::Params::new(256, 1, 1, None).unwrap();
    for alg in [Algorithm::Argon2i, Algorithm::Argon2d] {
        let phc = Argon2::new(alg, Version::V0x13, params.clone())
            .hash_password_with_salt(b"legacy", b"somesaltsomesalt")
            .unwrap()
            .to_string();
        assert!(phc.starts_with(&format!("${alg}$")), "{phc}");
        assert_eq!(
            hasher().verify("legacy", &phc).unwrap(),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(
            hasher().verify("Legacy", &phc).unwrap(),
            Verification::Invalid
        );
    }
}

#[test]
fn argon2_version_16_needs_rehash() {
    let params = argon2::Params::new(256, 1, 1, None).unwrap();
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x10, params)
        .hash_password_with_salt(b"old", b"somesaltsomesalt")
        .unwrap()
        .to_string();
    assert_eq!(
        hasher().verify("old", &phc).unwrap(),
        Verification::Valid { needs_rehash: true }
    );
}

#[test]
fn reference_implementation_vector_verifies() {
    // Known-answer test of the Argon2 reference implementation (P-H-C/phc-winner-argon2
    // `test.c`: password "password", salt "somesalt", argon2id v19, t = 2, m = 2^8 KiB, p = 1).
    let phc =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
    assert_eq!(
        hasher().verify("password", phc).unwrap(),
        Verification::Valid { needs_rehash: true }
    );
    assert_eq!(
        hasher().verify("passwort", phc).unwrap(),
        Verification::Invalid
    );
}

#[test]
fn bcrypt_verifies_with_rehash() {
    let stored = bcrypt::hash("legacy password", 4).unwrap();
    assert!(stored.starts_with("$2b$04$"));
    let h = hasher();
    assert_eq!(
        h.verify("legacy password", &stored).unwrap(),
        Verification::Valid { needs_rehash: true }
    );
    assert_eq!(
        h.verify("legacy passwore", &stored).unwrap(),
        Verification::Invalid
    );
    // The $2a$ and $2y$ spellings of the same hash are accepted too.
    for prefix in ["$2a$", "$2y$"] {
        let variant = format!("{prefix}{}", &stored[4..]);
        assert_eq!(
            h.verify("legacy password", &variant).unwrap(),
            Verification::Valid { needs_rehash: true }
        );
    }
}

#[test]
fn bcrypt_with_absurd_cost_is_refused() {
    let stored = bcrypt::hash("pw", 4).unwrap();
    let expensive = format!("$2b$31{}", &stored[6..]);
    assert_eq!(
        hasher().verify("pw", &expensive),
        Err(CryptoError::UnsupportedHash)
    );
}

#[test]
fn pbkdf2_phc_sha256_vector() {
    // RFC 6070-style vector for PBKDF2-HMAC-SHA256 (P = "passwordPASSWORDpassword",
    // S = "saltSALTsaltSALTsaltSALTsaltSALTsalt", c = 4096, dkLen = 40), in the PHC form
    // written by the RustCrypto `pbkdf2` crate.
    let phc = "$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0\
               $NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q";
    let h = hasher();
    assert_eq!(
        h.verify("passwordPASSWORDpassword", phc).unwrap(),
        Verification::Valid { needs_rehash: true }
    );
    assert_eq!(
        h.verify("passwordPASSWORDpassworD", phc).unwrap(),
        Verification::Invalid
    );
}

#[test]
fn pbkdf2_phc_sha512_and_django() {
    // Computed with Python's hashlib.pbkdf2_hmac.
    let sha512 = "$pbkdf2-sha512$i=1000,l=64$MDEyMzQ1Njc4OWFiY2RlZg$OM0FAoIqCVK1sWtxDiffVlBejtLa+ks4TP71JiecwuSZCG8iLbnlIEPOMoVX+i2B2wkSxjQ8CRGR9OkNGuIPMQ";
    let django = "pbkdf2_sha256$1000$SaltSaltSalt1234$lm73RxmV0hdJmw3+Lzhzc7SMHJxejEcKLIk6+6L2i8U=";
    let h = hasher();
    for stored in [sha512, django] {
        assert_eq!(
            h.verify("correct horse", stored).unwrap(),
            Verification::Valid { needs_rehash: true },
            "{stored}"
        );
        assert_eq!(
            h.verify("correct horsE", stored).unwrap(),
            Verification::Invalid
        );
    }
}

#[test]
fn garbage_hashes_are_errors_not_panics() {
    let h = hasher();
    let good = h.hash("pw").unwrap();
    let truncated = &good[..good.len() - 10];
    let garbage = [
        "",
        "$",
        "$$$$",
        "plaintext",
        "$argon2id$",
        "$argon2id$v=19$m=256,t=1,p=1$",
        "$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ",
        "$argon2id$v=19$m=1,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=99$m=256,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2x$v=19$m=256,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=1,p=1$!!!$???",
        "$2b$",
        "$2b$04$short",
        "$2b$xx$abcdefghijklmnopqrstuu5Q0y0R0bHbLiKxnMbhsZbNHLXl6kd1W",
        "$pbkdf2-sha256$",
        "$pbkdf2-sha256$i=0,l=32$c2FsdA$AAAA",
        "$pbkdf2-sha1$i=1000$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
        "pbkdf2_sha256$",
        "pbkdf2_sha256$abc$salt$AAAA",
        "pbkdf2_sha256$1000$salt$not base64!",
        "pbkdf2_sha256$1000$salt$hash$extra",
        "$5$rounds=5000$salt$hash",
        "$6$salt$hash",
        "{SSHA}abcdef",
        truncated,
        "\u{0}\u{ffff}",
    ];
    for stored in garbage {
        assert_eq!(
            h.verify("pw", stored),
            Err(CryptoError::UnsupportedHash),
            "{stored:?}"
        );
    }
}

#[test]
fn long_and_unicode_passwords_are_not_truncated() {
    let h = hasher();
    let hundred: String = "ab".repeat(50);
    let phc = h.hash(&hundred).unwrap();
    assert!(h.verify(&hundred, &phc).unwrap().is_valid());
    assert_eq!(
        h.verify(&format!("{hundred}c"), &phc).unwrap(),
        Verification::Invalid
    );

    let long: String = "pässwörd🔑漢字".repeat(32);
    assert!(long.chars().count() >= 256);
    let phc = h.hash(&long).unwrap();
    assert!(h.verify(&long, &phc).unwrap().is_valid());
    let mut changed = long.clone();
    changed.pop();
    changed.push('字');
    changed.push('!');
    assert_eq!(h.verify(&changed, &phc).unwrap(), Verification::Invalid);
    // Unicode is hashed as given (no normalisation): a different code point is different.
    let nfd = "pa\u{0308}sswort";
    let nfc = "p\u{00e4}sswort";
    let phc = h.hash(nfc).unwrap();
    assert_eq!(h.verify(nfd, &phc).unwrap(), Verification::Invalid);
}

#[test]
fn invalid_params_are_rejected() {
    for params in [
        Argon2Params {
            memory_kib: 0,
            ..FAST
        },
        Argon2Params {
            iterations: 0,
            ..FAST
        },
        Argon2Params {
            parallelism: 0,
            ..FAST
        },
        Argon2Params {
            memory_kib: 16,
            iterations: 1,
            parallelism: 4,
        },
    ] {
        assert!(
            matches!(
                PasswordHasher::new(params),
                Err(CryptoError::InvalidParams(_))
            ),
            "{params:?}"
        );
    }
}

#[test]
fn dummy_verify_runs_and_is_shared_by_clones() {
    let h = hasher();
    assert!(h.dummy.get().is_none());
    h.dummy_verify("whatever");
    let dummy = h.dummy.get().unwrap().clone();
    assert!(dummy.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
    let clone = h.clone();
    clone.dummy_verify("other");
    assert_eq!(clone.dummy.get().unwrap(), &dummy);
}

#[test]
fn hasher_is_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<PasswordHasher>();
    let debug = format!("{:?}", hasher());
    assert!(debug.contains("memory_kib"));
}
