//! Backup codes: ten single-use codes of 80 random bits each, written as
//! four groups of four Crockford base32 symbols (`7k2m-q9xd-...`), shown
//! once and stored as SHA-256 digests of their normal form.

use portcullis_crypto::{random_bytes, sha256};

/// How many codes a user gets.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Symbols of a code.
const SYMBOLS: usize = 16;
/// Crockford's base32 alphabet: no `i`, `l`, `o` or `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh code, grouped for reading.
pub(crate) fn generate() -> String {
    // 80 bits: 16 symbols of 5 bits.
    let bytes = random_bytes::<10>();
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let mut out = String::with_capacity(SYMBOLS + 3);
    for i in 0..SYMBOLS {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 5 * (SYMBOLS - 1 - i);
        let index = usize::try_from((bits >> shift) & 0x1f).unwrap_or(0);
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'0')));
    }
    out
}

/// The normal form of a typed code: case, spaces and dashes ignored, and
/// the letters people confuse with digits read as those digits (`o` as 0,
/// `i` and `l` as 1). `None` when it cannot be a code.
pub(crate) fn normalise(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(SYMBOLS);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == SYMBOLS).then_some(out)
}

/// The stored digest of a code, or `None` when the text cannot be a code.
pub(crate) fn digest(typed: &str) -> Option<Vec<u8>> {
    normalise(typed).map(|n| sha256(n.as_bytes()).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_distinct_and_normalise_to_themselves() {
        let codes: Vec<String> = (0..50).map(|_| generate()).collect();
        for c in &codes {
            assert_eq!(c.len(), 19, "{c}");
            assert_eq!(c.matches('-').count(), 3, "{c}");
            assert_eq!(normalise(c).unwrap(), c.replace('-', ""));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn typing_variations_give_the_same_digest() {
        let d = digest("0123-4567-89ab-cdef").unwrap();
        assert_eq!(digest("O123 4567 89AB CDEF"), Some(d.clone()));
        assert_eq!(digest("0123456789abcdef"), Some(d));
        assert_eq!(digest("0l23-4567-89ab-cdef"), digest("0123-4567-89ab-cdef"));
    }

    #[test]
    fn non_codes_have_no_digest() {
        for typed in [
            "",
            "0123-4567-89ab-cde",
            "0123-4567-89ab-cdeff",
            "0123-4567-89ab-cdeu",
            "é123-4567-89ab-cdef",
        ] {
            assert_eq!(digest(typed), None, "{typed:?}");
        }
    }
}
