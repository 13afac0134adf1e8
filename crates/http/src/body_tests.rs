use axum::http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use serde_json::json;

use super::*;

fn with(content_type: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h
}

#[test]
fn json_content_types() {
    for yes in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/problem+json",
        "application/merge-patch+JSON ; x=y",
    ] {
        assert!(is_json(&with(yes)), "{yes}");
    }
    for no in [
        "text/plain",
        "application/jsonx",
        "application/x-www-form-urlencoded",
        "json",
        "text/json",
        "application/+jsonp",
        "",
    ] {
        assert!(!is_json(&with(no)), "{no}");
    }
    assert!(!is_json(&HeaderMap::new()));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Address {
    city: String,
    #[serde(default)]
    zip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
enum Mapper {
    Role { role: String },
    Claim { claim: String, to: String },
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Level {
    Low,
    High,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Body {
    email: String,
    #[serde(default, alias = "pw")]
    password: Option<String>,
    #[serde(default)]
    age: Option<u32>,
    #[serde(default)]
    address: Option<Address>,
    #[serde(default)]
    mappers: Vec<Mapper>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The `errors` of the answer to `body`, as (field, reason) pairs.
fn errors(body: serde_json::Value) -> Vec<(String, String)> {
    let text = serde_json::to_vec(&body).unwrap();
    let value = serde_json::from_slice::<Value>(&text).unwrap();
    assert!(serde_json::from_slice::<Body>(&text).is_err(), "{body}");
    let errors = field_errors::<Body>(value, 256);
    errors.into_iter().map(|e| (e.field, e.reason)).collect()
}

fn fields(body: serde_json::Value) -> Vec<String> {
    errors(body).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn a_good_body_parses_once() {
    let b: Body = parse(br#"{"email":"a@b.c","pw":"x","level":"high"}"#).unwrap();
    assert_eq!(b.password.as_deref(), Some("x"));
    assert_eq!(b.level, Some(Level::High));
}

#[test]
fn each_kind_of_wrong_field_is_named() {
    assert_eq!(errors(json!({})), [("email".into(), "is required".into())]);
    assert_eq!(
        errors(json!({"email": 5})),
        [("email".into(), "must be a string, not a number".into())]
    );
    assert_eq!(
        errors(json!({"email": "a", "emial": "b"})),
        [("emial".into(), "is not a known field".into())]
    );
    assert_eq!(
        errors(json!({"email": "a", "age": -1})),
        [(
            "age".into(),
            "must be a whole number of zero or more".into()
        )]
    );
    assert_eq!(
        errors(json!({"email": "a", "level": "medium"})),
        [("level".into(), "must be one of: low, high".into())]
    );
}

#[test]
fn every_wrong_field_is_named_at_once() {
    assert_eq!(
        fields(json!({"password": 5, "emial": "x", "age": "old", "tags": [1, "b", true]})),
        ["age", "emial", "password", "tags[0]", "tags[2]", "email"]
    );
}

#[test]
fn nested_fields_are_named_by_their_path() {
    assert_eq!(
        fields(json!({
            "email": "a",
            "address": {"zip": 1, "town": "x"},
            "mappers": [
                {"type": "role"},
                {"type": "claim", "claim": "c", "to": "d"},
                {"type": "claim", "claim": 1, "to": "d", "extra": true},
                {"type": "nope"},
                {"role": "r"}
            ]
        })),
        [
            "address.town",
            "address.zip",
            "address.city",
            "mappers[0].role",
            "mappers[2]",
            "mappers[3].type",
            "mappers[4].type",
        ]
    );
}

#[test]
fn a_wrong_member_of_a_tagged_enum_names_the_enum() {
    let found = errors(json!({"email": "a", "mappers": [{"type": "role", "role": 5}]}));
    assert_eq!(
        found,
        [(
            "mappers[0]".into(),
            "has a member that must be a string, not a number".into()
        )]
    );
}

#[test]
fn a_missing_object_is_named_once_not_its_members() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        address: Address,
        name: String,
    }
    let value = json!({"name": 1});
    let errors = field_errors::<Outer>(value, 256);
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "address"]);
}

#[test]
fn values_are_never_echoed() {
    for (field, reason) in
        errors(json!({"email": "a", "password": ["hunter2"], "level": "hunter2"}))
    {
        assert!(!reason.contains("hunter2"), "{field}: {reason}");
    }
}

#[test]
fn the_wrong_kind_of_body_is_one_error() {
    assert_eq!(
        errors(json!("email")),
        [("".into(), "must be an object, not a string".into())]
    );
    assert_eq!(errors(json!(null)).len(), 1);
}

#[test]
fn a_body_is_an_object() {
    // serde alone would read the struct from an array.
    assert!(serde_json::from_slice::<Body>(br#"["a@b.c"]"#).is_ok());
    for body in [&br#" ["a@b.c"]"#[..], b"\"x\"", b"5", b"null", b"true"] {
        let e = parse::<Body>(body).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let e = parse::<Body>(b"  [1,").unwrap_err();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = parse::<Body>(b"").unwrap_err();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn malformed_json_is_a_400_and_shape_a_422() {
    let e = parse::<Body>(b"{\"email\": ").unwrap_err();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = parse::<Body>(b"{\"email\" 1}").unwrap_err();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = parse::<Body>(b"{\"email\": 1}").unwrap_err();
    assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn the_budget_bounds_the_work() {
    let many: serde_json::Map<String, Value> =
        (0..500).map(|i| (format!("x{i}"), Value::Null)).collect();
    let errors = field_errors::<Body>(Value::Object(many), 20);
    assert!(!errors.is_empty() && errors.len() <= 21, "{}", errors.len());
}
