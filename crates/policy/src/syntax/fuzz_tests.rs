//! Property-based fuzzing of policy input (issue 17): any JSON, hostile or
//! nearly valid, is answered with a statement or a [`SyntaxError`] naming a
//! field, never a panic; the depth and size limits hold exactly; and what
//! parses survives a round trip through its native form and through text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::model::Statement;

/// Keys and strings the parsers look for, so that random objects often hit
/// the interesting paths.
const WORDS: &[&str] = &[
    "effect",
    "actions",
    "action",
    "resources",
    "resource",
    "sid",
    "condition",
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Action",
    "Resource",
    "Condition",
    "NotAction",
    "Principal",
    "allow",
    "DENY",
    "Allow",
    "*",
    "documents:read",
    "documents/*",
    "StringEquals",
    "StringLike",
    "NumericLessThan",
    "Bool",
    "IpAddress",
    "NotIpAddress",
    "subject.attributes.department",
    "context.ip",
    "10.0.0.0/8",
    "var",
    "and",
    "or",
    "!",
    "==",
    "in",
    "map",
    "reduce",
    "merge",
    "cat",
    "ip_in_range",
    "string_like",
    "accumulator",
    "current",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => ".{0,10}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        word().prop_map(Value::from),
    ]
}

/// Any JSON value, up to 8 levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(8, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// How one level of a deep chain wraps what is inside it, and the levels it
/// adds.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    /// `[x]`: one level.
    Array,
    /// `{"!": x}`: one level.
    Not,
    /// `{"and": [x, true]}`: two levels.
    And,
    /// `{"if": [true, x, false]}`: two levels.
    If,
}

impl Wrap {
    fn levels(self) -> usize {
        match self {
            Wrap::Array | Wrap::Not => 1,
            Wrap::And | Wrap::If => 2,
        }
    }

    fn apply(self, inner: Value) -> Value {
        let op = |name: &str, arg: Value| {
            let mut map = Map::new();
            map.insert(name.to_owned(), arg);
            Value::Object(map)
        };
        match self {
            Wrap::Array => Value::Array(vec![inner]),
            Wrap::Not => op("!", inner),
            Wrap::And => op("and", Value::Array(vec![inner, Value::Bool(true)])),
            Wrap::If => op(
                "if",
                Value::Array(vec![Value::Bool(true), inner, Value::Bool(false)]),
            ),
        }
    }
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        Just(Wrap::Array),
        Just(Wrap::Not),
        Just(Wrap::And),
        Just(Wrap::If)
    ]
}

/// A valid (shallow) JSON Logic condition.
fn valid_condition() -> impl Strategy<Value = Value> {
    let var = prop::sample::select(vec![
        "hour",
        "day",
        "ip",
        "weekday",
        "context.ip",
        "subject.attributes.department",
        "resource.owner",
    ])
    .prop_map(|path| json!({ "var": path }));
    let scalar = prop_oneof![
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    let cmp = (
        prop::sample::select(vec!["==", "!=", "<", ">=", "in", "==="]),
        var.clone(),
        scalar,
    )
        .prop_map(|(op, v, s)| json!({ op: [v, s] }));
    let ip = (
        var.clone(),
        prop::sample::select(vec!["10.0.0.0/8", "::1", "192.168.1.1"]),
    )
        .prop_map(|(v, r)| json!({ "ip_in_range": [v, r] }));
    let like = (var, "[a-z*?]{0,8}").prop_map(|(v, p)| json!({ "string_like": [v, p] }));
    prop_oneof![cmp, ip, like].prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|c| json!({ "and": c })),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|c| json!({ "or": c })),
            inner.prop_map(|c| json!({ "!": c })),
        ]
    })
}

/// A string that is sometimes a valid pattern, sometimes not quite.
fn maybe_pattern() -> impl Strategy<Value = Value> {
    prop_oneof![
        80 => "[a-z*][a-z0-9*:/_.-]{0,12}".prop_map(Value::from),
        1 => Just(Value::from("")),
        1 => "[a-z]{1,4} [a-z]{1,4}".prop_map(Value::from),
        1 => "[a-z]{0,4}[\\x00-\\x1f][a-z]{0,4}".prop_map(Value::from),
        1 => Just(Value::from("x".repeat(MAX_PATTERN_LEN + 1))),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

fn maybe_effect() -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(
        0.95,
        prop_oneof![
            20 => prop::sample::select(vec!["allow", "ALLOW", "Allow", "deny", "DENY", "dEnY"])
                .prop_map(Value::from),
            1 => word().prop_map(Value::from),
            1 => leaf(),
        ],
    )
}

fn maybe_condition() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop_oneof![
        6 => valid_condition(),
        1 => json_value(),
    ])
}

/// A native statement object that is valid more often than not.
fn near_native() -> impl Strategy<Value = Value> {
    (
        maybe_effect(),
        prop::option::of(prop_oneof![
            4 => prop::collection::vec(maybe_pattern(), 0..4).prop_map(Value::Array),
            1 => maybe_pattern(),
        ]),
        prop::option::weighted(0.1, maybe_pattern()),
        prop::option::of(prop_oneof![
            4 => prop::collection::vec(maybe_pattern(), 0..4).prop_map(Value::Array),
            1 => maybe_pattern(),
        ]),
        prop::option::weighted(0.2, maybe_pattern()),
        prop::option::weighted(
            0.3,
            prop_oneof![3 => "[A-Za-z0-9]{0,8}".prop_map(Value::from), 1 => leaf()],
        ),
        maybe_condition(),
        prop::option::weighted(0.2, (word(), json_value())),
    )
        .prop_map(
            |(effect, actions, action, resources, resource, sid, condition, extra)| {
                let mut obj = Map::new();
                let fields = [
                    ("effect", effect),
                    ("actions", actions),
                    ("resources", resources),
                    ("resource", resource),
                    ("sid", sid),
                    ("condition", condition),
                ];
                for (key, value) in fields {
                    if let Some(v) = value {
                        obj.insert(key.to_owned(), v);
                    }
                }
                // `action` alone, sometimes beside `actions` (refused).
                if let Some(a) = action {
                    obj.insert("action".to_owned(), a);
                }
                if let Some((k, v)) = extra {
                    obj.insert(k, v);
                }
                Value::Object(obj)
            },
        )
}

/// A value of the type an IAM condition operator takes (sometimes not).
fn iam_value(op: &str) -> BoxedStrategy<Value> {
    let right: BoxedStrategy<Value> = if op.starts_with("String") {
        "[a-z*?]{0,6}".prop_map(Value::from).boxed()
    } else if op.starts_with("Numeric") {
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            (-1e3f64..1e3).prop_map(Value::from),
            "-?[0-9]{1,4}(\\.[0-9]{1,3})?".prop_map(Value::from),
        ]
        .boxed()
    } else if op == "Bool" {
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            prop::sample::select(vec!["true", "FALSE"]).prop_map(Value::from),
        ]
        .boxed()
    } else {
        prop::sample::select(vec!["10.0.0.0/8", "::1", "192.168.1.1", "fe80::/10"])
            .prop_map(Value::from)
            .boxed()
    };
    let wrong = prop_oneof![
        "[a-z]{0,6}".prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec!["maybe", "1.2.3.4/33", "x1"]).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({})),
    ];
    let one = prop_oneof![12 => right, 1 => wrong];
    prop_oneof![
        3 => one.clone(),
        2 => prop::collection::vec(one, 1..4).prop_map(Value::Array),
        1 => Just(json!([])),
    ]
    .boxed()
}

fn iam_condition() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        16 => prop::sample::select(vec![
            "StringEquals",
            "StringNotEquals",
            "StringLike",
            "StringNotLike",
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
            "Bool",
            "IpAddress",
            "NotIpAddress",
        ]),
        1 => prop::sample::select(vec!["DateGreaterThan", "ForAnyValue:StringEquals", "stringequals"]),
    ];
    let key = prop_oneof![
        12 => prop::sample::select(vec![
            "subject.attributes.department",
            "context.ip",
            "resource.owner",
            "context.risk",
            "subject.attributes.mfa",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,10}",
    ];
    let block = op.prop_flat_map(move |op| {
        prop::collection::vec((key.clone(), iam_value(op)), 0..3)
            .prop_map(move |entries| (op.to_owned(), Value::Object(entries.into_iter().collect())))
    });
    prop_oneof![
        12 => prop::collection::vec(block, 1..3)
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        1 => Just(json!({})),
        1 => leaf(),
    ]
}

fn iam_statement() -> impl Strategy<Value = Value> {
    let list = || {
        prop_oneof![
            8 => maybe_pattern(),
            8 => prop::collection::vec(maybe_pattern(), 1..4).prop_map(Value::Array),
            1 => Just(json!([])),
        ]
    };
    (
        maybe_effect(),
        prop::option::weighted(0.95, list()),
        prop::option::weighted(0.95, list()),
        prop::option::weighted(
            0.3,
            prop_oneof![3 => "[A-Za-z0-9]{0,8}".prop_map(Value::from), 1 => leaf()],
        ),
        prop::option::weighted(0.5, iam_condition()),
        prop::option::weighted(
            0.05,
            prop::sample::select(vec!["NotAction", "Principal", "Bogus", "effect"]),
        ),
    )
        .prop_map(|(effect, action, resource, sid, condition, extra)| {
            let mut obj = Map::new();
            for (key, value) in [
                ("Effect", effect),
                ("Action", action),
                ("Resource", resource),
                ("Sid", sid),
                ("Condition", condition),
            ] {
                if let Some(v) = value {
                    obj.insert(key.to_owned(), v);
                }
            }
            if let Some(k) = extra {
                obj.insert(k.to_owned(), Value::from("*"));
            }
            Value::Object(obj)
        })
}

fn near_iam() -> impl Strategy<Value = Value> {
    (
        prop::option::weighted(
            0.8,
            prop_oneof![8 => Just(Value::from("2012-10-17")), 1 => leaf()],
        ),
        prop_oneof![
            12 => prop::collection::vec(iam_statement(), 1..3).prop_map(Value::Array),
            1 => Just(json!([])),
            2 => iam_statement(),
            1 => leaf(),
        ],
        prop::option::weighted(0.1, (word(), json_value())),
    )
        .prop_map(|(version, statements, extra)| {
            let mut doc = Map::new();
            if let Some(v) = version {
                doc.insert("Version".to_owned(), v);
            }
            doc.insert("Statement".to_owned(), statements);
            if let Some((k, v)) = extra {
                doc.insert(k, v);
            }
            Value::Object(doc)
        })
}

/// A statement written back in the native syntax.
fn to_native(s: &Statement) -> Value {
    let mut obj = Map::new();
    obj.insert("effect".into(), json!(s.effect.as_str()));
    obj.insert("actions".into(), json!(s.actions));
    obj.insert("resources".into(), json!(s.resources));
    if let Some(sid) = &s.sid {
        obj.insert("sid".into(), json!(sid));
    }
    if let Some(c) = &s.condition {
        obj.insert("condition".into(), c.clone());
    }
    Value::Object(obj)
}

/// What every parsed statement satisfies.
fn check_invariants(s: &Statement) -> Result<(), TestCaseError> {
    for p in s.actions.iter().chain(&s.resources) {
        prop_assert!(!p.is_empty() && p.len() <= MAX_PATTERN_LEN, "{p:?}");
        prop_assert!(!p.chars().any(|c| c.is_whitespace() || c.is_control()));
    }
    prop_assert!(s.actions.len() <= MAX_PATTERNS && s.resources.len() <= MAX_PATTERNS);
    prop_assert!(
        s.sid
            .as_ref()
            .is_none_or(|sid| sid.len() <= MAX_PATTERN_LEN)
    );
    if let Some(c) = &s.condition {
        prop_assert!(
            condition(c).is_ok(),
            "stored condition does not validate: {c}"
        );
    }
    Ok(())
}

/// Parse → native form → parse gives the same statement, and so does a trip
/// through JSON text (how policies are stored).
fn check_round_trip(s: &Statement) -> Result<(), TestCaseError> {
    let again = native_statement(&to_native(s));
    prop_assert_eq!(again.as_ref(), Ok(s));
    let text = serde_json::to_string(s).unwrap();
    let stored: Statement = serde_json::from_str(&text).unwrap();
    prop_assert_eq!(&stored, s);
    Ok(())
}

fn check_error(e: &SyntaxError, roots: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(!e.message.is_empty());
    prop_assert!(
        roots.iter().any(|r| e.field.starts_with(r)),
        "field {:?} ({})",
        e.field,
        e.message
    );
    Ok(())
}

const NATIVE_ROOTS: &[&str] = &[
    "statement",
    "effect",
    "actions",
    "action",
    "resources",
    "resource",
    "sid",
    "condition",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any JSON value is answered by all three parsers, without panicking.
    #[test]
    fn any_json_is_answered(v in json_value()) {
        match native_statement(&v) {
            Ok(s) => {
                check_invariants(&s)?;
                check_round_trip(&s)?;
            }
            Err(e) => check_error(&e, NATIVE_ROOTS)?,
        }
        match iam_document(&v) {
            Ok(statements) => {
                for s in &statements {
                    check_invariants(s)?;
                }
            }
            Err(e) => check_error(&e, &["document"])?,
        }
        match condition(&v) {
            Ok(c) => prop_assert_eq!(&c, &v),
            Err(e) => check_error(&e, &["condition"])?,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Nearly valid native statements: what parses keeps its invariants and
    /// round-trips; what does not names one of the statement's fields.
    #[test]
    fn near_valid_native_statements(v in near_native()) {
        match native_statement(&v) {
            Ok(s) => {
                check_invariants(&s)?;
                check_round_trip(&s)?;
            }
            Err(e) => check_error(&e, NATIVE_ROOTS)?,
        }
    }

    /// Nearly valid IAM documents: each statement parsed round-trips through
    /// the native syntax; without a condition, through the IAM syntax too.
    #[test]
    fn near_valid_iam_documents(v in near_iam()) {
        match iam_document(&v) {
            Ok(statements) => {
                prop_assert!(!statements.is_empty() && statements.len() <= MAX_STATEMENTS);
                for s in &statements {
                    check_invariants(s)?;
                    check_round_trip(s)?;
                    prop_assert!(!s.actions.is_empty() && !s.resources.is_empty());
                    if s.condition.is_none() {
                        let mut back = Map::new();
                        back.insert("Effect".into(), json!(s.effect.as_str()));
                        back.insert("Action".into(), json!(s.actions));
                        back.insert("Resource".into(), json!(s.resources));
                        if let Some(sid) = &s.sid {
                            back.insert("Sid".into(), json!(sid));
                        }
                        let again = iam_document(&json!({ "Statement": [back] }));
                        prop_assert_eq!(again, Ok(vec![s.clone()]));
                    }
                }
            }
            Err(e) => check_error(&e, &["document"])?,
        }
    }

    /// Depth: a chain of valid operations and arrays passes exactly when it is
    /// at most [`MAX_CONDITION_DEPTH`] levels deep, and the error names the
    /// level where the limit was crossed.
    #[test]
    fn depth_limit_holds(wraps in prop::collection::vec(wrap(), 0..80)) {
        let depth = 1 + wraps.iter().map(|w| w.levels()).sum::<usize>();
        let v = wraps.iter().fold(json!({"var": "hour"}), |inner, w| w.apply(inner));
        // The innermost `{"var": "hour"}` is an object over a string: one more level.
        let levels = depth + 1;
        match condition(&v) {
            Ok(_) => prop_assert!(levels <= MAX_CONDITION_DEPTH, "{levels} levels passed"),
            Err(e) => {
                prop_assert!(levels > MAX_CONDITION_DEPTH, "{levels} levels refused: {e}");
                prop_assert!(e.message.contains("nested too deeply"), "{e}");
            }
        }
        // Wrapped in a statement, the error moves under `condition`.
        let statement = native_statement(&json!({"effect": "allow", "condition": v}));
        prop_assert_eq!(statement.is_ok(), levels <= MAX_CONDITION_DEPTH);
    }

    /// Size: a list of `n` values (one node each, plus the list) passes
    /// exactly when it has at most [`MAX_CONDITION_NODES`] nodes.
    #[test]
    fn node_limit_holds(n in prop_oneof![0usize..64, 4000usize..4200, 8000usize..9000]) {
        let v = Value::Array((0..n).map(Value::from).collect());
        let result = condition(&v);
        prop_assert_eq!(result.is_ok(), n < MAX_CONDITION_NODES, "{}", n);
        if let Err(e) = result {
            prop_assert!(e.message.contains("too large"), "{e}");
        }
    }

    /// Statements, patterns and sids are counted and measured.
    #[test]
    fn document_limits_hold(
        statements in prop_oneof![1usize..8, 250usize..262],
        patterns in prop_oneof![0usize..8, 250usize..262],
        sid_len in prop_oneof![0usize..8, 250usize..262],
    ) {
        let sid = "s".repeat(sid_len);
        let actions: Vec<String> = (0..patterns).map(|i| format!("a{i}")).collect();
        let native = native_statement(&json!({"effect": "allow", "actions": actions, "sid": sid}));
        prop_assert_eq!(
            native.is_ok(),
            patterns <= MAX_PATTERNS && sid_len <= MAX_PATTERN_LEN
        );
        let one = json!({"Effect": "Deny", "Action": actions, "Resource": "*", "Sid": sid});
        let doc = json!({"Statement": vec![one; statements]});
        let iam = iam_document(&doc);
        prop_assert_eq!(
            iam.is_ok(),
            statements <= MAX_STATEMENTS
                && (1..=MAX_PATTERNS).contains(&patterns)
                && sid_len <= MAX_PATTERN_LEN,
            "{:?}",
            iam.err()
        );
    }
}
