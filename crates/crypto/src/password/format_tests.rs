//! Known-answer vectors for every imported format, cost limits, and `is_importable`.
//!
//! Where the vectors come from is said at each one: RFCs and FIPS 180 where they fit the format,
//! the documentation of the system that writes the format, or a second implementation
//! (Python's `hashlib` on OpenSSL; Django 5.2 and passlib 1.9 themselves for their formats).

// A refusal is timed to show that a hostile cost is refused before any work is done.
#![allow(clippy::disallowed_methods)]

use super::*;

/// Small parameters so the tests stay fast.
const FAST: Argon2Params = Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

fn hasher() -> PasswordHasher {
    PasswordHasher::new(FAST).unwrap()
}

const REHASH: Verification = Verification::Valid { needs_rehash: true };

/// Checks that `stored` is importable as `format`, verifies `password` with a rehash, and
/// refuses `password` with its last character changed.
#[track_caller]
fn known_answer(stored: &str, password: &str, format: HashFormat) {
    assert_eq!(is_importable(stored), Ok(format), "{stored}");
    let h = hasher();
    assert_eq!(h.verify(password, stored), Ok(REHASH), "{stored}");
    let mut wrong = password.to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'x' { 'y' } else { 'x' });
    assert_eq!(
        h.verify(&wrong, stored),
        Ok(Verification::Invalid),
        "{stored}"
    );
    assert_eq!(h.verify("", stored), Ok(Verification::Invalid), "{stored}");
}

#[test]
fn scrypt_rfc7914_vector() {
    // RFC 7914 section 12: P = "pleaseletmein", S = "SodiumChloride", N = 16384, r = 8, p = 1,
    // dkLen = 64 (7023bdcb...), in PHC form (cross-checked with Python's hashlib.scrypt).
    known_answer(
        "$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw",
        "pleaseletmein",
        HashFormat::Scrypt,
    );
}

#[test]
fn scrypt_passlib_vectors() {
    // Written by passlib 1.9 (`scrypt.using(rounds=10, block_size=8, parallelism=2)`), p > 1.
    known_answer(
        "$scrypt$ln=10,r=8,p=2$mlPqnbN2DmGsVYpxjhGi9A$UmAnlmbxQx2swhp6FX8DZhRsaHUJXoPUN+qSqJoiSVk",
        "correct horse",
        HashFormat::Scrypt,
    );
    // passlib's documented example (its default cost, 64 MiB): classified only, hashing it
    // takes seconds in a debug build.
    assert_eq!(
        is_importable(
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"
        ),
        Ok(HashFormat::Scrypt)
    );
}

#[test]
fn scrypt_costs_are_capped() {
    let tail = "$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw";
    // OWASP's recommended parameters (128 MiB) are the largest memory accepted.
    assert_eq!(
        is_importable(&format!("$scrypt$ln=17,r=8,p=1{tail}")),
        Ok(HashFormat::Scrypt)
    );
    assert_eq!(
        is_importable(&format!("$scrypt$ln=14,r=8,p=16{tail}")),
        Ok(HashFormat::Scrypt)
    );
    for params in [
        "ln=18,r=8,p=1",      // 256 MiB
        "ln=17,r=16,p=1",     // 256 MiB
        "ln=17,r=8,p=3",      // work 3 * 2^20
        "ln=40,r=1,p=1",      // 2^40 blocks
        "ln=63,r=1,p=1",      // overflows 2^ln * 128
        "ln=10,r=8,p=100000", // work
        "ln=10,r=4294967295,p=4294967295",
        "ln=0,r=8,p=1",
        "ln=10,r=0,p=1",
        "ln=10,r=8,p=0",
        "ln=10,r=8",
        "ln=10,r=8,p=1,x=1",
    ] {
        let stored = format!("$scrypt${params}{tail}");
        let started = std::time::Instant::now();
        assert!(
            matches!(
                is_importable(&stored),
                Err(CryptoError::UnimportableHash(_))
            ),
            "{params}"
        );
        assert_eq!(
            hasher().verify("pleaseletmein", &stored),
            Err(CryptoError::UnsupportedHash),
            "{params}"
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}

#[test]
fn pbkdf2_sha1_rfc6070_vector() {
    // RFC 6070 test 5: P = "passwordPASSWORDpassword", S = "saltSALTsaltSALTsaltSALTsaltSALTsalt",
    // c = 4096, dkLen = 25 (3d2eec4f...), in PHC form.
    known_answer(
        "$pbkdf2-sha1$i=4096,l=25$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$PS7sT+QchJuAyNg2YsDkSospGpZM8vBwOA",
        "passwordPASSWORDpassword",
        HashFormat::Pbkdf2Sha1,
    );
}

#[test]
fn pbkdf2_existing_forms_classify() {
    for (stored, format) in [
        (
            "$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q",
            HashFormat::Pbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha512$i=1000,l=64$MDEyMzQ1Njc4OWFiY2RlZg$OM0FAoIqCVK1sWtxDiffVlBejtLa+ks4TP71JiecwuSZCG8iLbnlIEPOMoVX+i2B2wkSxjQ8CRGR9OkNGuIPMQ",
            HashFormat::Pbkdf2Sha512,
        ),
        (
            "pbkdf2_sha256$1000$SaltSaltSalt1234$lm73RxmV0hdJmw3+Lzhzc7SMHJxejEcKLIk6+6L2i8U=",
            HashFormat::Pbkdf2Sha256,
        ),
    ] {
        assert_eq!(is_importable(stored), Ok(format), "{stored}");
    }
}

#[test]
fn django_vectors() {
    // Written by Django 5.2's own hashers (small costs), password "correct horse".
    known_answer(
        "argon2$argon2id$v=19$m=256,t=1,p=1$eEFTRlZyTWQ5NGpsRXdLdWh3VWxYaA$TfSyJ8z4IjHjo3PUjmbJ7Hj91mJBJA5B6n2Is+DLGmA",
        "correct horse",
        HashFormat::Argon2id,
    );
    known_answer(
        "bcrypt_sha256$$2b$04$5069TdNJTFNNFwQbh/qEkeOjT.7lN9/DLYhEkY0K.1ZEH38IHhJ1q",
        "correct horse",
        HashFormat::BcryptSha256,
    );
    // bcrypt_sha256 pre-hashes, so a password past bcrypt's 72 bytes still counts in full.
    let long = "x".repeat(100);
    let stored = "bcrypt_sha256$$2b$04$L9W43JyCJwN6dUwk7DYEgekB6qNw0BmfpRUzZ6c7RggT2y.FZEieq";
    assert_eq!(hasher().verify(&long, stored), Ok(REHASH));
    assert_eq!(
        hasher().verify(&"x".repeat(99), stored),
        Ok(Verification::Invalid)
    );
    // A Django prefix on the wrong kind of hash is refused.
    assert!(is_importable("bcrypt_sha256$$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$AAAA").is_err());
    // Django's other hashers are not among the import formats: pbkdf2_sha1 and plain bcrypt
    // (written by Django 5.2 for "correct horse") are refused.
    for stored in [
        "pbkdf2_sha1$1000$SaltSaltSalt1234$9iuUFI5V2QXj19HdzouWLQlfJrQ=",
        "bcrypt$$2b$04$AnwOd5c9k/uCQXq54dm9NOmmCa2hlziG4gQ3vxump9XbL2z/mGfxS",
    ] {
        assert_eq!(
            is_importable(stored),
            Err(CryptoError::UnimportableHash(
                "unknown password hash format"
            ))
        );
    }
}

#[test]
fn bcrypt_auth0_documented_vector_and_72_byte_truncation() {
    // Auth0's bulk import docs: "$2b$10$nFguVi9L..." was generated from the string "hello".
    known_answer(
        "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K",
        "hello",
        HashFormat::Bcrypt,
    );
    // Plain bcrypt reads only the first 72 bytes: that is how such hashes were made.
    let stored = bcrypt::hash("y".repeat(72), 4).unwrap();
    assert_eq!(hasher().verify(&"y".repeat(80), &stored), Ok(REHASH));
    // $2x$ (crypt_blowfish's bug-compatible mode) and costs outside 4..=16 are refused.
    assert!(is_importable(&format!("$2x${}", &stored[4..])).is_err());
    assert!(is_importable(&format!("$2b$03{}", &stored[6..])).is_err());
    assert!(is_importable(&format!("$2b$17{}", &stored[6..])).is_err());
}

#[test]
fn salted_sha_fips180_vectors() {
    // FIPS 180-2 appendix B.1 and C.1: SHA-256("abc") and SHA-512("abc"), split as salt and
    // password both ways, and unsalted.
    let sha256 = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0";
    let sha512 =
        "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw";
    let cases = [
        (
            format!("$sha256-salted$pos=prefix$YQ${sha256}"),
            "bc",
            HashFormat::SaltedSha256,
        ),
        (
            format!("$sha256-salted$pos=suffix$Yw${sha256}"),
            "ab",
            HashFormat::SaltedSha256,
        ),
        (
            format!("$sha256-salted$pos=none$${sha256}"),
            "abc",
            HashFormat::SaltedSha256,
        ),
        (
            format!("$sha512-salted$pos=prefix$YWI${sha512}"),
            "c",
            HashFormat::SaltedSha512,
        ),
        (
            format!("$sha512-salted$pos=suffix$YmM${sha512}"),
            "a",
            HashFormat::SaltedSha512,
        ),
    ];
    for (stored, password, format) in &cases {
        known_answer(stored, password, *format);
    }
}

#[test]
fn salted_sha_password_encodings() {
    // Python's hashlib: SHA-256("salt" || latin-1 "pässwörd") and SHA-512 likewise.
    let latin1_256 =
        "$sha256-salted$pos=prefix,enc=latin1$c2FsdA$7tKL3ZJnY+bufM9lLcXELZ3xPHVt5RHBiRL1Ga333Ds";
    known_answer(latin1_256, "pässwörd", HashFormat::SaltedSha256);
    // A character latin-1 cannot hold never matches (no truncation to its low byte).
    assert_eq!(
        hasher().verify("pässwörd\u{100}", latin1_256),
        Ok(Verification::Invalid)
    );
    let h = hasher();
    // The UTF-8 reading of the same hash does not match.
    let utf8 = latin1_256.replace(",enc=latin1", "");
    assert_eq!(h.verify("pässwörd", &utf8), Ok(Verification::Invalid));
    assert!(matches!(
        is_importable(
            "$sha256-salted$pos=prefix,enc=utf7$c2FsdA$7tKL3ZJnY+bufM9lLcXELZ3xPHVt5RHBiRL1Ga333Ds"
        ),
        Err(CryptoError::UnimportableHash(_))
    ));
}

#[test]
fn salted_sha_malformed_is_refused() {
    let hash = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0";
    for stored in [
        format!("$sha256-salted$pos=prefix${hash}"), // no salt field
        format!("$sha256-salted$pos=prefix$$${hash}"), // extra field
        format!("$sha256-salted$pos=prefix$${hash}"), // empty salt with a position
        format!("$sha256-salted$pos=none$YQ${hash}"), // salt with position none
        format!("$sha256-salted$pos=middle$YQ${hash}"), // unknown position
        format!("$sha256-salted$pos=prefix,pos=suffix$YQ${hash}"), // repeated
        format!("$sha256-salted$pos=prefix,x=1$YQ${hash}"), // unknown parameter
        format!("$sha256-salted$$YQ${hash}"),        // no position
        format!("$sha256-salted$pos=prefix$YQ==${hash}"), // padded B64
        format!("$sha256-salted$pos=prefix$YQ${hash}AA"), // 33 bytes
        format!("$sha512-salted$pos=prefix$YQ${hash}"), // 32 bytes for SHA-512
        format!("$sha384-salted$pos=prefix$YQ${hash}"), // unknown digest
        format!("$sha256-salted$pos=prefix${}${hash}", "A".repeat(400)), // salt > 256 bytes
    ] {
        assert!(
            matches!(
                is_importable(&stored),
                Err(CryptoError::UnimportableHash(_))
            ),
            "{stored}"
        );
        assert_eq!(
            hasher().verify("abc", &stored),
            Err(CryptoError::UnsupportedHash),
            "{stored}"
        );
    }
}

#[test]
fn argon2_classification_and_caps() {
    let reference =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
    assert_eq!(is_importable(reference), Ok(HashFormat::Argon2id));
    let fresh = hasher().hash("pw").unwrap();
    assert_eq!(is_importable(&fresh), Ok(HashFormat::Argon2id));
    // The phc-winner-argon2 reference test vector for argon2i v19, t = 2, m = 2^8, p = 1.
    known_answer(
        "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
        "password",
        HashFormat::Argon2i,
    );
    for stored in [
        "$argon2id$v=19$m=2097152,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=65,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=4096,t=1,p=65$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=18$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
    ] {
        let started = std::time::Instant::now();
        assert!(is_importable(stored).is_err(), "{stored}");
        assert_eq!(
            hasher().verify("password", stored),
            Err(CryptoError::UnsupportedHash)
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}

#[test]
fn is_importable_reasons_never_echo_the_input() {
    let secretish = "$pbkdf2-sha256$i=99999999999,l=32$U0VDUkVUU0VDUkVU$U0VDUkVUU0VDUkVUU0VDUkVUU0VDUkVUU0VDUkVU";
    let Err(CryptoError::UnimportableHash(reason)) = is_importable(secretish) else {
        panic!("expected a refusal");
    };
    for fragment in ["U0VDUkVU", "99999999999"] {
        assert!(!reason.contains(fragment), "{reason}");
        assert!(
            !CryptoError::UnimportableHash(reason)
                .to_string()
                .contains(fragment)
        );
    }
    assert_eq!(
        is_importable("plaintext"),
        Err(CryptoError::UnimportableHash(
            "unknown password hash format"
        ))
    );
    assert!(is_importable(&"$".repeat(MAX_STORED_HASH_LEN + 1)).is_err());
}

#[test]
fn format_names_are_distinct() {
    let all = [
        HashFormat::Argon2id,
        HashFormat::Argon2i,
        HashFormat::Argon2d,
        HashFormat::Bcrypt,
        HashFormat::BcryptSha256,
        HashFormat::Scrypt,
        HashFormat::Pbkdf2Sha1,
        HashFormat::Pbkdf2Sha256,
        HashFormat::Pbkdf2Sha512,
        HashFormat::SaltedSha256,
        HashFormat::SaltedSha512,
    ];
    let names: std::collections::HashSet<_> = all.iter().map(|f| f.name()).collect();
    assert_eq!(names.len(), all.len());
}
