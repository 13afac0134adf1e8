//! Property-based fuzzing of stored-hash parsing and the import converters: any string, and
//! any string behind a known prefix, is answered with a result or an error, never a panic;
//! `verify` and `is_importable` agree on what is a supported hash.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::json;

use super::*;

const FAST: Argon2Params = Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// Prefixes that lead into each parser.
const PREFIXES: &[&str] = &[
    "",
    "$argon2id$",
    "$argon2i$v=19$",
    "argon2$argon2id$v=19$m=",
    "$2b$",
    "$2y$04$",
    "bcrypt$",
    "bcrypt_sha256$$2b$",
    "$pbkdf2-sha256$i=",
    "$pbkdf2-sha1$",
    "pbkdf2_sha256$",
    "pbkdf2_sha1$1$",
    "$scrypt$ln=",
    "$scrypt$ln=1,r=1,p=1$",
    "$sha256-salted$pos=",
    "$sha512-salted$pos=prefix$",
    "$sha256-salted$pos=none$$",
];

/// Stored strings: a known prefix and an arbitrary tail (short enough that no tail can name
/// both a valid costly parameter set and a valid salt and hash).
fn stored() -> impl Strategy<Value = String> {
    (
        prop::sample::select(PREFIXES),
        "[\\PC$=,./+a-zA-Z0-9]{0,48}",
    )
        .prop_map(|(prefix, tail)| format!("{prefix}{tail}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any string: `verify` answers without panicking, and whenever it calls a string
    /// unsupported, `is_importable` refuses it too (and the other way round).
    #[test]
    fn verify_and_is_importable_agree(stored in prop_oneof![stored(), any::<String>()], password in ".{0,16}") {
        let hasher = PasswordHasher::new(FAST).unwrap();
        let importable = is_importable(&stored);
        match hasher.verify(&password, &stored) {
            Err(CryptoError::UnsupportedHash) => {
                prop_assert!(matches!(importable, Err(CryptoError::UnimportableHash(_))));
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            Ok(_) => prop_assert!(importable.is_ok()),
        }
    }

    /// Keycloak records with arbitrary fields are converted or refused, never a panic; what is
    /// converted is importable.
    #[test]
    fn keycloak_never_panics(
        value in "[A-Za-z0-9+/=]{0,100}",
        salt in "[A-Za-z0-9+/=]{0,40}",
        algorithm in prop::sample::select(&["pbkdf2", "pbkdf2-sha256", "pbkdf2-sha512", "argon2", "bcrypt", "md5", ""][..]),
        iterations in 0u32..3_000_000,
        memory in "[0-9]{0,8}",
        kind in prop::sample::select(&["id", "i", "d", "x"][..]),
        garbage in any::<String>(),
    ) {
        let secret = json!({"value": value, "salt": salt}).to_string();
        let credential = json!({
            "hashIterations": iterations,
            "algorithm": algorithm,
            "additionalParameters": {"hashLength": ["32"], "memory": [memory], "type": [kind], "version": ["1.3"], "parallelism": ["1"]},
        })
        .to_string();
        if let Ok(stored) = from_keycloak(&secret, &credential) {
            prop_assert!(is_importable(&stored).is_ok());
        }
        let _ = from_keycloak(&garbage, &credential);
        let _ = from_keycloak(&secret, &garbage);
    }

    /// Auth0 objects with arbitrary fields are converted or refused, never a panic; what is
    /// converted is importable.
    #[test]
    fn auth0_never_panics(
        algorithm in prop::sample::select(&["argon2", "bcrypt", "pbkdf2", "sha256", "sha512", "md5", "x"][..]),
        value in prop_oneof![stored(), "[0-9a-fA-F]{0,130}", any::<String>()],
        encoding in prop::sample::select(&["hex", "base64", "utf8", "x"][..]),
        salt in prop::option::of(("[ -~]{0,12}", prop::sample::select(&["hex", "base64", "utf8"][..]), prop::sample::select(&["prefix", "suffix", "x"][..]))),
        password_encoding in prop::sample::select(&["utf8", "utf16le", "latin1", "x"][..]),
    ) {
        let mut custom = json!({
            "algorithm": algorithm,
            "hash": {"value": value, "encoding": encoding},
            "password": {"encoding": password_encoding},
        });
        if let Some((value, encoding, position)) = salt {
            custom["salt"] = json!({"value": value, "encoding": encoding, "position": position});
        }
        if let Ok(stored) = from_auth0(&custom) {
            prop_assert!(is_importable(&stored).is_ok());
        }
        let _ = from_auth0_password_hash(&value);
    }
}
