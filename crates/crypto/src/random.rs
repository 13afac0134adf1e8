//! Random values from the OS CSPRNG, SHA-256 and constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// `N` bytes from the operating system's CSPRNG.
///
/// The OS generator does not fail on supported platforms once the process runs; if it ever
/// does, continuing with predictable "random" values would be a security hole, so the process
/// aborts (no unwinding, no partially initialised secrets).
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// Fills `dest` from the OS CSPRNG, aborting the process on the (impossible) failure.
pub(crate) fn fill_random(dest: &mut [u8]) {
    if getrandom::fill(dest).is_err() {
        std::process::abort();
    }
}

/// A fresh opaque token: 32 random bytes (256 bits), base64url without padding (43 chars).
///
/// Used for refresh tokens, client secrets, authorization codes and similar bearer values.
#[must_use]
pub fn random_token() -> String {
    let bytes = zeroize::Zeroizing::new(random_bytes::<32>());
    URL_SAFE_NO_PAD.encode(bytes.as_slice())
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 of `data` under `key` (RFC 2104).
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, data);
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(tag.as_ref()) {
        *o = *b;
    }
    out
}

/// A uniformly random string of `digits` decimal digits (leading zeros kept),
/// for one-time codes sent by e-mail or SMS: 6 digits carry about 19.9 bits.
/// Each digit is drawn by rejection sampling, so no value is more likely.
#[must_use]
pub fn random_digits(digits: usize) -> String {
    let mut out = String::with_capacity(digits);
    while out.len() < digits {
        let buf = zeroize::Zeroizing::new(random_bytes::<16>());
        for &byte in buf.iter() {
            // 250 is the largest multiple of 10 that fits in a byte.
            if byte >= 250 {
                continue;
            }
            out.push(char::from(b'0' + byte % 10));
            if out.len() == digits {
                break;
            }
        }
    }
    out
}

/// Compares two byte strings in time independent of their contents.
///
/// The lengths are not secret: slices of different length compare unequal immediately.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Characters of generated passwords: alphanumerics without the look-alikes
/// `0 O o 1 l I` (56 characters, about 5.81 bits each).
const PASSWORD_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";

/// Length of [`generate_password`]'s output.
const GENERATED_PASSWORD_LEN: usize = 24;

/// A strong random password for a human to type once (the bootstrap administrator's).
///
/// 24 characters drawn uniformly (rejection sampling, no modulo bias) from an alphabet of 56
/// unambiguous alphanumerics: about 139 bits of entropy. The result always contains at least
/// one digit, one upper-case and one lower-case letter, so it passes composition rules.
#[must_use]
pub fn generate_password() -> String {
    loop {
        let candidate = random_password_candidate();
        let has = |pred: fn(&u8) -> bool| candidate.bytes().any(|b| pred(&b));
        if has(u8::is_ascii_digit) && has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) {
            return candidate;
        }
    }
}

/// One uniformly random string of [`GENERATED_PASSWORD_LEN`] alphabet characters.
fn random_password_candidate() -> String {
    // The largest multiple of the alphabet size that fits in a byte; bytes at or above it are
    // rejected so that every character is equally likely.
    let alphabet_len = PASSWORD_ALPHABET.len();
    let limit = 256 - 256 % alphabet_len;
    let mut out = String::with_capacity(GENERATED_PASSWORD_LEN);
    while out.len() < GENERATED_PASSWORD_LEN {
        let buf = zeroize::Zeroizing::new(random_bytes::<32>());
        for &byte in buf.iter() {
            let value = usize::from(byte);
            if value >= limit {
                continue;
            }
            if let Some(&c) = PASSWORD_ALPHABET.get(value % alphabet_len) {
                out.push(char::from(c));
            }
            if out.len() == GENERATED_PASSWORD_LEN {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn random_bytes_differ() {
        let a = random_bytes::<32>();
        let b = random_bytes::<32>();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        assert_eq!(random_bytes::<0>(), [0u8; 0]);
    }

    #[test]
    fn random_token_shape() {
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&t).unwrap().len(), 32);
        assert_ne!(t, random_token());
    }

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 "abc" test vector.
        let digest = sha256(b"abc");
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn random_digits_are_digits_and_cover_every_value() {
        let mut counts = [0usize; 10];
        for _ in 0..500 {
            let code = random_digits(6);
            assert_eq!(code.len(), 6);
            for b in code.bytes() {
                assert!(b.is_ascii_digit());
                counts[usize::from(b - b'0')] += 1;
            }
        }
        // 3,000 digits: about 300 each.
        assert!(counts.iter().all(|&c| c > 200), "{counts:?}");
        assert_eq!(random_digits(0), "");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn generated_passwords_are_strong_and_unambiguous() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let p = generate_password();
            assert_eq!(p.len(), 24);
            assert!(p.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
            assert!(!p.contains(['0', 'O', 'o', '1', 'l', 'I']));
            assert!(p.bytes().any(|b| b.is_ascii_digit()));
            assert!(p.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(p.bytes().any(|b| b.is_ascii_lowercase()));
            assert!(seen.insert(p));
        }
    }

    #[test]
    fn alphabet_is_unambiguous_and_unique() {
        assert_eq!(PASSWORD_ALPHABET.len(), 56);
        assert!(!PASSWORD_ALPHABET.iter().any(|c| b"0Oo1lI".contains(c)));
        let unique: HashSet<_> = PASSWORD_ALPHABET.iter().collect();
        assert_eq!(unique.len(), PASSWORD_ALPHABET.len());
    }

    #[test]
    fn generated_password_characters_cover_the_alphabet() {
        let mut counts = [0usize; 256];
        for _ in 0..300 {
            for b in random_password_candidate().bytes() {
                counts[usize::from(b)] += 1;
            }
        }
        // 7,200 draws over 56 symbols: about 129 each; every symbol must appear.
        for &c in PASSWORD_ALPHABET {
            assert!(counts[usize::from(c)] > 40, "{} too rare", char::from(c));
        }
    }
}
