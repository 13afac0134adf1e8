//! The compiled-in list of the most common passwords, for refusing them at registration and
//! password change (NIST SP 800-63B §5.1.1.2).
//!
//! The list is `data/common-passwords.txt`: the 30,000 most frequent passwords of the
//! password-frequency list shipped with the `zxcvbn` crate (see `data/README.md` for the exact
//! source and license). Entries are lower case, one per line.

use std::collections::HashSet;
use std::sync::LazyLock;

/// The raw list, one lower-case password per line.
const LIST: &str = include_str!("../data/common-passwords.txt");

/// Number of passwords in the compiled-in list.
pub const COMMON_PASSWORD_COUNT: usize = count_lines(LIST.as_bytes());

// The list must stay meaningful: refuse to build with a truncated data file.
const _: () = assert!(COMMON_PASSWORD_COUNT >= 10_000);

/// Counts non-empty `\n`-separated lines at compile time.
const fn count_lines(mut bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut line_len = 0;
    while let [first, rest @ ..] = bytes {
        if *first == b'\n' {
            if line_len > 0 {
                count += 1;
            }
            line_len = 0;
        } else {
            line_len += 1;
        }
        bytes = rest;
    }
    if line_len > 0 {
        count += 1;
    }
    count
}

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    LIST.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Whether `password` is one of the most common passwords, ignoring case
/// (`"Password"` and `"PASSWORD"` match `"password"`). Exact match only: no trimming, no
/// substring search.
#[must_use]
pub fn is_common_password(password: &str) -> bool {
    // No list entry is longer than this; skip the lower-casing allocation for long inputs.
    const LONGEST_ENTRY: usize = 64;
    if password.len() > LONGEST_ENTRY * 4 {
        return false;
    }
    COMMON.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::generate_password;

    #[test]
    fn well_known_passwords_are_common() {
        for pw in [
            "password", "123456", "qwerty", "letmein", "iloveyou", "dragon", "monkey",
        ] {
            assert!(is_common_password(pw), "{pw}");
        }
        assert!(is_common_password("PassWord"));
        assert!(is_common_password("QWERTY"));
        assert!(is_common_password("pic's"));
    }

    #[test]
    fn random_and_near_misses_are_not_common() {
        assert!(!is_common_password(&generate_password()[..20]));
        assert!(!is_common_password("Xq7#mZp2!vLr9@Tw4$Kb"));
        assert!(!is_common_password(""));
        assert!(!is_common_password(" password"));
        assert!(!is_common_password("password "));
        assert!(!is_common_password(&"a".repeat(10_000)));
    }

    #[test]
    fn list_is_large_lowercase_and_unique() {
        const { assert!(COMMON_PASSWORD_COUNT >= 10_000) };
        assert_eq!(
            COMMON.len(),
            COMMON_PASSWORD_COUNT,
            "duplicates in the list"
        );
        assert_eq!(LIST.lines().count(), COMMON_PASSWORD_COUNT);
        for entry in COMMON.iter() {
            assert_eq!(*entry, entry.to_lowercase(), "not lower case: {entry}");
            assert_eq!(*entry, entry.trim(), "whitespace: {entry:?}");
            assert!(entry.len() <= 64);
        }
    }

    #[test]
    fn count_lines_handles_edges() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\n\nb"), 2);
    }
}
