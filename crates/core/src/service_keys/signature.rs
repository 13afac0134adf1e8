//! The signed-request scheme of service keys: the canonical string, and
//! the checks on a request's signature headers.
//!
//! A request carries five headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Portcullis-Key` | the key's id |
//! | `X-Portcullis-Timestamp` | Unix seconds, within 300 s of the server's clock |
//! | `X-Portcullis-Nonce` | 16 to 128 characters of `A-Z a-z 0-9 - _`, new for every request |
//! | `X-Portcullis-Content-SHA256` | lower-case hex SHA-256 of the body (of nothing, for no body) |
//! | `X-Portcullis-Signature` | lower-case hex HMAC-SHA256 of the canonical string, keyed with the secret's text |
//!
//! The canonical string is eight lines joined by `\n`, without a final one:
//!
//! ```text
//! PORTCULLIS-HMAC-SHA256
//! <key id>
//! <timestamp>
//! <nonce>
//! <METHOD>
//! <path, as sent, without the query>
//! <query: its a=b pairs, as sent, sorted bytewise, joined by &>
//! <content sha256>
//! ```

use crate::error::{Error, Result};

/// The first line of every canonical string.
pub const SCHEME: &str = "PORTCULLIS-HMAC-SHA256";
/// How far a request's timestamp may be from the server's clock, in seconds.
pub const MAX_SKEW_SECONDS: i64 = 300;
/// SHA-256 of an empty body, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The signature headers of a request, as sent.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    /// `X-Portcullis-Key`.
    pub key_id: &'a str,
    /// `X-Portcullis-Timestamp`.
    pub timestamp: &'a str,
    /// `X-Portcullis-Nonce`.
    pub nonce: &'a str,
    /// `X-Portcullis-Content-SHA256`.
    pub content_sha256: &'a str,
    /// `X-Portcullis-Signature`.
    pub signature: &'a str,
    /// The method.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query, without `?` (empty when none).
    pub query: &'a str,
    /// The body received.
    pub body: &'a [u8],
}

/// The query's pairs, sorted bytewise and joined by `&`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// The canonical string of a request.
pub fn canonical_string(r: &SignedRequest<'_>) -> String {
    [
        SCHEME,
        r.key_id,
        r.timestamp,
        r.nonce,
        r.method,
        r.path,
        &canonical_query(r.query),
        r.content_sha256,
    ]
    .join("\n")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The signature of a canonical string under a secret, hex.
pub fn sign(secret: &str, canonical: &str) -> String {
    hex(&portcullis_crypto::random::hmac_sha256(
        secret.as_bytes(),
        canonical.as_bytes(),
    ))
}

fn refuse(why: &'static str) -> Error {
    Error::NotAuthenticated(why)
}

/// Checks what can be checked without the key: the header shapes, the
/// timestamp against `now` (Unix seconds) and the body against its hash.
/// Returns the timestamp.
pub fn check_request(r: &SignedRequest<'_>, now: i64) -> Result<i64> {
    let nonce_ok = (16..=128).contains(&r.nonce.len())
        && r.nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !nonce_ok {
        return Err(refuse(
            "X-Portcullis-Nonce must be 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'",
        ));
    }
    let ts: i64 = r
        .timestamp
        .parse()
        .map_err(|_| refuse("X-Portcullis-Timestamp must be Unix seconds"))?;
    if (now - ts).abs() > MAX_SKEW_SECONDS {
        return Err(refuse(
            "X-Portcullis-Timestamp is more than 300 seconds from the server's clock",
        ));
    }
    let digest = hex(&portcullis_crypto::random::sha256(r.body));
    if !portcullis_crypto::random::constant_time_eq(digest.as_bytes(), r.content_sha256.as_bytes())
    {
        return Err(refuse(
            "X-Portcullis-Content-SHA256 does not match the body",
        ));
    }
    Ok(ts)
}

/// Whether `r` is signed by one of `secrets`. Every secret is tried, so
/// the time taken does not tell which one matched.
pub fn signed_by_any(r: &SignedRequest<'_>, secrets: &[&str]) -> bool {
    let canonical = canonical_string(r);
    let mut ok = false;
    for s in secrets {
        let expected = sign(s, &canonical);
        ok |= portcullis_crypto::random::constant_time_eq(
            expected.as_bytes(),
            r.signature.as_bytes(),
        );
    }
    ok
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The query's canonical form depends on its pairs, not on their
        /// order (a signer and a proxy may order them differently), and is
        /// its own canonical form.
        #[test]
        fn canonical_queries_ignore_the_pairs_order(
            pairs in proptest::collection::vec("[a-z0-9%=._~-]{0,12}", 0..8),
            seed in any::<u64>(),
        ) {
            let query = pairs.join("&");
            let mut shuffled = pairs.clone();
            let n = shuffled.len().max(1);
            shuffled.rotate_left((seed as usize) % n);
            shuffled.reverse();
            let canonical = canonical_query(&query);
            prop_assert_eq!(&canonical_query(&shuffled.join("&")), &canonical);
            prop_assert_eq!(&canonical_query(&canonical), &canonical);
        }

        /// Every field of the request is one line of the canonical string:
        /// no field can pass for another (header values and paths carry no
        /// line breaks).
        #[test]
        fn canonical_strings_keep_one_field_a_line(
            nonce in "[ -~]{0,40}",
            path in "/[ -~]{0,60}",
            query in "[ -~]{0,60}",
        ) {
            let r = SignedRequest {
                key_id: "k",
                timestamp: "1",
                nonce: &nonce,
                content_sha256: EMPTY_SHA256,
                signature: "",
                method: "GET",
                path: &path,
                query: &query,
                body: b"",
            };
            let text = canonical_string(&r);
            prop_assert_eq!(text.split('\n').count(), 8);
            prop_assert_eq!(text.split('\n').nth(3), Some(nonce.as_str()));
        }
    }

    fn request<'a>(body: &'a [u8], sha: &'a str, sig: &'a str) -> SignedRequest<'a> {
        SignedRequest {
            key_id: "0193b1c2-0000-7000-8000-000000000001",
            timestamp: "1765000000",
            nonce: "n0nce-0123456789abcdef",
            content_sha256: sha,
            signature: sig,
            method: "POST",
            path: "/api/v1/authz/check",
            query: "z=1&a=2&a=1",
            body,
        }
    }

    #[test]
    fn the_canonical_string_is_as_documented() {
        let r = request(b"", EMPTY_SHA256, "");
        assert_eq!(
            canonical_string(&r),
            "PORTCULLIS-HMAC-SHA256\n0193b1c2-0000-7000-8000-000000000001\n1765000000\n\
             n0nce-0123456789abcdef\nPOST\n/api/v1/authz/check\na=1&a=2&z=1\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(hex(&portcullis_crypto::random::sha256(b"")), EMPTY_SHA256);
    }

    #[test]
    fn signatures_verify_under_the_right_secret_only() {
        let body = br#"{"permission":"documents:read:own"}"#;
        let sha = hex(&portcullis_crypto::random::sha256(body));
        let unsigned = request(body, &sha, "");
        let sig = sign("the-secret", &canonical_string(&unsigned));
        let r = request(body, &sha, &sig);
        assert!(signed_by_any(&r, &["old", "the-secret"]));
        assert!(!signed_by_any(&r, &["old", "other"]));
        assert_eq!(check_request(&r, 1_765_000_100).unwrap(), 1_765_000_000);
        // Another path, method or query order changes nothing but what is signed.
        let moved = SignedRequest {
            path: "/api/v1/authz/check-batch",
            ..r.clone()
        };
        assert!(!signed_by_any(&moved, &["the-secret"]));
        let reordered = SignedRequest {
            query: "a=1&z=1&a=2",
            ..r.clone()
        };
        assert!(signed_by_any(&reordered, &["the-secret"]));
    }

    #[test]
    fn stale_times_bad_nonces_and_altered_bodies_are_refused() {
        let body = b"{}";
        let sha = hex(&portcullis_crypto::random::sha256(body));
        let r = request(body, &sha, "x");
        assert!(check_request(&r, 1_765_000_301).is_err());
        assert!(check_request(&r, 1_764_999_699).is_err());
        assert!(check_request(&r, 1_765_000_300).is_ok());
        let altered = SignedRequest {
            body: b"{\"a\":1}",
            ..r.clone()
        };
        assert!(check_request(&altered, 1_765_000_000).is_err());
        for nonce in ["short", "has space in it 123", &"x".repeat(129)] {
            let bad = SignedRequest { nonce, ..r.clone() };
            assert!(check_request(&bad, 1_765_000_000).is_err(), "{nonce}");
        }
        let bad_ts = SignedRequest {
            timestamp: "soon",
            ..r.clone()
        };
        assert!(check_request(&bad_ts, 1_765_000_000).is_err());
    }
}
