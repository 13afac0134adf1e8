//! Property-based fuzzing of form bodies (issue 17): any bytes are answered
//! with parameters or an `invalid_request`, never a panic; a parameter given
//! twice is refused however its name is encoded (RFC 6749 §3.1); values
//! decode exactly; bodies over [`MAX_FORM_BYTES`] are refused unread.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// Bytes form-encoding must escape for the pair to survive.
fn must_escape(b: u8) -> bool {
    matches!(b, b'&' | b'=' | b'+' | b'%' | b'#')
}

/// Encodes `s` character by character, escaping what must be escaped and,
/// where `escape` says so, anything else (in upper- or lowercase hex, each
/// UTF-8 byte); spaces become `+` or `%20`; other characters stay raw,
/// multibyte ones included.
fn encode(s: &str, escape: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let choice = escape[i % escape.len()];
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        if c == ' ' && choice.is_multiple_of(2) {
            out.push('+');
        } else if bytes.iter().copied().any(must_escape) || c == ' ' || choice.is_multiple_of(3) {
            for b in bytes {
                if choice.is_multiple_of(5) {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "grant_type", "code", "redirect_uri", "client_id", "client_secret", "scope",
            "refresh_token", "code_verifier", "token", "state",
        ])
        .prop_map(str::to_owned),
        2 => "[a-z_]{1,8}",
        1 => ".{1,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9._~-]{1,12}", ".{1,10}", "[ &=+%#]{1,4}",]
}

/// Distinct names with non-empty values.
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..8).prop_map(|pairs| {
        let mut seen = std::collections::HashSet::new();
        pairs
            .into_iter()
            .filter(|(n, _)| seen.insert(n.clone()))
            .collect()
    })
}

fn body(pairs: &[(String, String)], escape: &[u8]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n, escape), encode(v, escape)))
        .collect::<Vec<_>>()
        .join("&")
}

fn as_map(form: &Form<'_>) -> HashMap<String, String> {
    form.0
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any bytes are answered: parameters with non-empty values (which
    /// encode and parse back the same), or `invalid_request`.
    #[test]
    fn any_bytes_are_answered(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            prop::collection::vec(
                prop::sample::select(b"ab=&%+2F0g;# \x00\xff".to_vec()),
                0..64,
            ),
        ],
    ) {
        match Form::parse(FORM, &bytes) {
            Ok(form) => {
                prop_assert!(form.0.values().all(|v| !v.is_empty()));
                let encoded = form.encode();
                let again = Form::parse(FORM, encoded.as_bytes()).unwrap();
                prop_assert_eq!(as_map(&again), as_map(&form));
                let owned = form.into_owned();
                prop_assert_eq!(as_map(&owned), as_map(&again));
            }
            Err(e) => prop_assert_eq!(e.error, "invalid_request"),
        }
    }

    /// Distinct names, however encoded, decode to exactly their values, in
    /// any order.
    #[test]
    fn encoded_pairs_decode_exactly(pairs in pairs(), escape in prop::collection::vec(any::<u8>(), 1..16)) {
        let text = body(&pairs, &escape);
        let form = Form::parse(FORM, text.as_bytes()).unwrap();
        let expected: HashMap<String, String> = pairs.into_iter().collect();
        prop_assert_eq!(as_map(&form), expected);
    }

    /// A parameter given twice with values is refused, however each
    /// occurrence is encoded and wherever the two sit; given twice with one
    /// empty value, it counts once (empty is absent).
    #[test]
    fn repeated_parameters_are_refused(
        pairs in pairs().prop_filter("one pair at least", |p| !p.is_empty()),
        which in any::<prop::sample::Index>(),
        second in value(),
        at in any::<prop::sample::Index>(),
        escape in prop::collection::vec(any::<u8>(), 1..16),
        other_escape in prop::collection::vec(any::<u8>(), 1..16),
        empty_second in prop::bool::weighted(0.2),
    ) {
        let (name, _) = pairs[which.index(pairs.len())].clone();
        let repeat = if empty_second {
            format!("{}=", encode(&name, &other_escape))
        } else {
            format!("{}={}", encode(&name, &other_escape), encode(&second, &other_escape))
        };
        let mut parts: Vec<String> = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n, &escape), encode(v, &escape)))
            .collect();
        parts.insert(at.index(parts.len() + 1), repeat);
        let text = parts.join("&");
        let result = Form::parse(FORM, text.as_bytes());
        if empty_second {
            prop_assert!(result.is_ok(), "{}", text);
        } else {
            let err = result.unwrap_err();
            prop_assert_eq!(err.error, "invalid_request");
            prop_assert!(err.error_description.contains("repeated"), "{}", err.error_description);
        }
    }

    /// Bodies over [`MAX_FORM_BYTES`] are refused, at or under it read.
    #[test]
    fn size_limit_holds(len in prop_oneof![0usize..64, (MAX_FORM_BYTES - 64)..(MAX_FORM_BYTES + 64)]) {
        let mut text = "a=".to_owned();
        text.push_str(&"b".repeat(len.saturating_sub(2)));
        text.truncate(len);
        let result = Form::parse(FORM, text.as_bytes());
        prop_assert_eq!(result.is_ok(), len <= MAX_FORM_BYTES, "{}", len);
        prop_assert_eq!(Form::parse_urlencoded(text.as_bytes()).is_ok(), len <= MAX_FORM_BYTES);
    }

    /// Only `application/x-www-form-urlencoded` (any case, any parameters)
    /// is read.
    #[test]
    fn only_form_content_types_are_read(
        content_type in prop::option::of(prop_oneof![
            prop::sample::select(vec![
                "application/x-www-form-urlencoded",
                "APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8",
                " application/x-www-form-urlencoded ;x=y",
                "application/json",
                "multipart/form-data",
                "application/x-www-form-urlencoded-extra",
                "text/plain;application/x-www-form-urlencoded",
                "",
            ])
            .prop_map(str::to_owned),
            ".{0,40}",
        ]),
    ) {
        let result = Form::parse(content_type.as_deref(), b"a=b");
        let essence = content_type
            .as_deref()
            .and_then(|c| c.split(';').next())
            .map(str::trim);
        let is_form = essence.is_some_and(|e| e.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        prop_assert_eq!(result.is_ok(), is_form);
    }
}

#[test]
fn repeats_are_found_after_decoding() {
    for body in [
        "scope=a&sc%6Fpe=b",
        "scope=a&%73%63%6f%70%65=b",
        "a+b=1&a%20b=2",
        "client_id=x&grant_type=y&client_id=x",
    ] {
        assert_eq!(
            Form::parse(FORM, body.as_bytes()).unwrap_err().error,
            "invalid_request",
            "{body}"
        );
    }
    // An empty occurrence is absent, so it repeats nothing.
    assert!(Form::parse(FORM, b"scope=&scope=a&scope").is_ok());
}
