//! Property-based fuzzing of JSON Logic conditions (issue 17): whatever
//! validates compiles, and evaluates on any request data to a boolean or an
//! error, never a panic, within a bounded arena (an evaluation that outgrows
//! it panics in bumpalo, which fails the property).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::request::{Context, Resource};
use crate::syntax::{self, MAX_CONDITION_NODES};

/// Arena bytes an evaluation may use here; every accepted condition of the
/// sizes generated stays far below it, while the exponential shapes the
/// validation refuses would cross it within a few steps.
const ARENA_LIMIT: usize = 4 << 20;

/// Paths a condition reads: the data's own, iteration scopes, and nonsense.
const PATHS: &[&str] = &[
    "",
    "hour",
    "day",
    "weekday",
    "ip",
    "context.ip",
    "context.items",
    "context.text",
    "context.n",
    "subject.id",
    "subject.roles",
    "subject.groups",
    "subject.attributes.department",
    "resource.owner",
    "resource.attributes",
    "accumulator",
    "current",
    "nothing.here",
    "0",
    "subject.roles.0",
];

fn scalar() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0, 1]).prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
        prop::sample::select(vec!["10.0.0.0/8", "::1", "a*b?", "ñ", "", "1e400", "-0"])
            .prop_map(serde_json::Value::from),
    ]
}

fn var() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        4 => prop::sample::select(PATHS).prop_map(|p| json!({ "var": p })),
        1 => (prop::sample::select(PATHS), scalar()).prop_map(|(p, d)| json!({ "var": [p, d] })),
        1 => any::<i64>().prop_map(|i| json!({ "var": i })),
    ]
}

/// Any JSON Logic tree over [`syntax::OPERATORS`], with any arguments.
fn logic() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![2 => scalar(), 3 => var()].prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            6 => (
                prop::sample::select(syntax::OPERATORS),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(op, args)| json!({ op: args })),
            2 => (prop::sample::select(syntax::OPERATORS), inner.clone())
                .prop_map(|(op, arg)| json!({ op: arg })),
            1 => prop::collection::vec(inner, 0..4).prop_map(serde_json::Value::Array),
        ]
    })
}

/// Conditions built around iteration, the shapes that could multiply work:
/// iterating operators whose logic grows, wraps or re-reads the
/// accumulator, or iterates again.
fn loops() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        6 => Just(json!({"var": "accumulator"})),
        1 => Just(json!({"var": "current"})),
        1 => Just(json!({"var": ""})),
        1 => Just(json!({"var": "context.items"})),
        1 => Just(json!({"var": {"cat": ["accu", "mulator"]}})),
        1 => Just(json!(1)),
        1 => Just(json!("x")),
    ];
    let body = leaf.prop_recursive(3, 16, 3, |inner| {
        let iterating = prop::sample::select(vec!["map", "filter", "reduce", "all", "some", "none"]);
        prop_oneof![
            6 => (
                prop::sample::select(vec![
                    "merge", "cat", "missing", "missing_some", "+", "if", "or", "substr", "in", "==",
                    "max",
                ]),
                prop::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(op, args)| json!({ op: args })),
            2 => prop::collection::vec(inner.clone(), 1..3).prop_map(serde_json::Value::Array),
            1 => (iterating, inner).prop_map(|(op, logic)| {
                json!({ op: [{"var": "context.items"}, logic, 0] })
            }),
        ]
    });
    (
        prop::sample::select(vec![
            "reduce", "reduce", "reduce", "reduce", "map", "filter", "all", "some", "none",
        ]),
        body,
        prop_oneof![Just(json!("x")), Just(json!([1])), Just(json!(0))],
        prop::sample::select(vec!["cat", "==", "merge", "!!"]),
    )
        .prop_map(|(op, logic, initial, outer)| {
            let iteration = if op == "reduce" {
                json!({ op: [{"var": "context.items"}, logic, initial] })
            } else {
                json!({ op: [{"var": "context.items"}, logic] })
            };
            // Something that walks the whole result.
            json!({ outer: [iteration, "y"] })
        })
}

/// Whether an iterating operator sits in another's per-element logic.
fn nests_iteration(v: &serde_json::Value, in_loop: bool) -> bool {
    const ITERATING: [&str; 6] = ["map", "filter", "reduce", "all", "some", "none"];
    match v {
        serde_json::Value::Object(map) => map.iter().any(|(op, arg)| {
            let iterating = ITERATING.contains(&op.as_str());
            if iterating && in_loop {
                return true;
            }
            match arg {
                serde_json::Value::Array(args) => args.iter().enumerate().any(|(i, a)| {
                    let logic = iterating && i >= 1 && !(op == "reduce" && i == 2);
                    nests_iteration(a, in_loop || logic)
                }),
                other => nests_iteration(other, in_loop),
            }
        }),
        serde_json::Value::Array(items) => items.iter().any(|i| nests_iteration(i, in_loop)),
        _ => false,
    }
}

fn json_map() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    let value = scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3)
                .prop_map(|e| serde_json::Value::Object(e.into_iter().collect())),
        ]
    });
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(vec!["department", "items", "text", "n", "ip", "hour"])
                    .prop_map(str::to_owned),
                "[a-z]{1,4}",
            ],
            value,
        ),
        0..4,
    )
    .prop_map(|e| e.into_iter().collect())
}

/// Everything a check brings: resource, context, subject attributes, and
/// the names of the subject's roles and groups.
#[derive(Debug, Clone)]
struct Input {
    resource: Resource,
    context: Context,
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
    roles: Vec<String>,
    groups: Vec<String>,
}

fn input() -> impl Strategy<Value = Input> {
    let items = prop_oneof![
        prop::collection::vec(any::<i32>().prop_map(serde_json::Value::from), 0..24),
        Just((0..24).map(serde_json::Value::from).collect::<Vec<_>>()),
    ];
    (
        (
            ".{0,6}",
            prop::option::of(".{0,6}"),
            prop::option::of(".{0,6}"),
            json_map(),
        ),
        (
            prop::option::of(any::<std::net::IpAddr>()),
            any::<u8>(),
            any::<u8>(),
            json_map(),
            items,
        ),
        prop::option::of(json_map()),
        prop::collection::vec("[a-z]{1,5}", 0..3),
        prop::collection::vec("[a-z]{1,5}", 0..3),
    )
        .prop_map(
            |(
                (kind, id, owner, attributes),
                (ip, hour, day, mut extra, items),
                subject,
                roles,
                groups,
            )| {
                extra.insert("items".into(), serde_json::Value::Array(items));
                Input {
                    resource: Resource {
                        kind,
                        id,
                        owner,
                        team: None,
                        attributes,
                    },
                    context: Context {
                        ip,
                        hour,
                        day,
                        extra,
                    },
                    attributes: subject,
                    roles,
                    groups,
                }
            },
        )
}

/// Compiles a validated condition and evaluates it on `input` in an arena
/// capped at [`ARENA_LIMIT`].
fn evaluate(cond: &serde_json::Value, input: &Input) -> Result<bool, String> {
    let engine = new_engine();
    let compiled = Condition::compile(&engine, cond)?;
    let request = CheckRequest {
        subject: Uuid::nil(),
        subject_attributes: input.attributes.as_ref(),
        action: "read",
        resource: &input.resource,
        context: &input.context,
        now: 0,
        explain: false,
    };
    let roles: Vec<&str> = input.roles.iter().map(String::as_str).collect();
    let groups: Vec<&str> = input.groups.iter().map(String::as_str).collect();
    let arena = Bump::new();
    arena.set_allocation_limit(Some(ARENA_LIMIT));
    let data = build_data(&arena, &request, None, &roles, &groups);
    compiled
        .holds(&engine, data, &arena)
        .map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Any tree of known operators that validates also compiles, and
    /// evaluates on any data to a boolean or an error, in bounded memory.
    #[test]
    fn validated_conditions_evaluate_on_any_data(cond in logic(), input in input()) {
        if syntax::condition(&cond).is_ok() {
            let _ = evaluate(&cond, &input);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Iteration: nested iteration is always refused, and whatever is
    /// accepted evaluates in bounded memory over a 24-element array (the
    /// doubling accumulators the validation refuses would need 2^24 values).
    #[test]
    fn accepted_iteration_stays_bounded(cond in loops(), mut input in input()) {
        input.context.extra.insert(
            "items".into(),
            serde_json::Value::Array((0..24).map(serde_json::Value::from).collect()),
        );
        let verdict = syntax::condition(&cond);
        if nests_iteration(&cond, false) {
            prop_assert!(verdict.is_err(), "nested iteration accepted: {cond}");
        }
        if verdict.is_ok() {
            let _ = evaluate(&cond, &input);
        }
    }

    /// Wide literal arrays up to the node limit validate, compile and
    /// evaluate; one more value is refused before anything is compiled.
    #[test]
    fn wide_conditions_are_bounded(n in prop_oneof![0usize..64, (MAX_CONDITION_NODES - 8)..(MAX_CONDITION_NODES + 8)], input in input()) {
        // `{"in": [{"var": "hour"}, [0, 1, ..]]}`: 5 values besides the list's.
        let cond = json!({"in": [{"var": "hour"}, (0..n).collect::<Vec<_>>()]});
        let verdict = syntax::condition(&cond);
        prop_assert_eq!(verdict.is_ok(), n + 5 <= MAX_CONDITION_NODES, "{}", n);
        if verdict.is_ok() {
            let hour = usize::from(input.context.hour);
            prop_assert_eq!(evaluate(&cond, &input), Ok(hour < n));
        }
    }

    /// `string_like` never panics, and matches like a reference built from
    /// `*` and `?` by recursion (fine for these short strings).
    #[test]
    fn like_matches_the_reference(pattern in "[ab*?ñ]{0,8}", text in "[abñ]{0,10}") {
        fn reference(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
                Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
            }
        }
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(like(&pattern, &text), reference(&p, &t));
    }
}

#[test]
fn long_like_patterns_are_refused_when_validated_and_when_read() {
    let long = format!("*{}b", "a".repeat(crate::syntax::MAX_PATTERN_LEN));
    let err =
        syntax::condition(&json!({"string_like": [{"var": "context.text"}, long]})).unwrap_err();
    assert_eq!(err.field, "condition.string_like[1]");
    // A pattern read from the data is an evaluation error: the condition
    // fails closed instead of costing pattern × text steps.
    let mut input = Input {
        resource: Resource::of_kind("documents"),
        context: Context::default(),
        attributes: None,
        roles: Vec::new(),
        groups: Vec::new(),
    };
    input.context.extra.insert("pattern".into(), json!(long));
    input
        .context
        .extra
        .insert("text".into(), json!("a".repeat(100_000)));
    let cond = json!({"string_like": [{"var": "context.text"}, {"var": "context.pattern"}]});
    syntax::condition(&cond).unwrap();
    assert!(evaluate(&cond, &input).is_err());
    let short = json!({"string_like": [{"var": "context.text"}, "*ab"]});
    assert_eq!(evaluate(&short, &input), Ok(false));
}

#[test]
fn doubling_accumulators_would_exhaust_the_arena() {
    // What the validation refuses, evaluated anyway (bypassing it) over 24
    // items: each crosses the arena limit, proving the limit is what a
    // missing rule would hit.
    let mut input = Input {
        resource: Resource::of_kind("documents"),
        context: Context::default(),
        attributes: None,
        roles: Vec::new(),
        groups: Vec::new(),
    };
    input.context.extra.insert(
        "items".into(),
        serde_json::Value::Array((0..24).map(serde_json::Value::from).collect()),
    );
    for cond in [
        json!({"cat": [{"reduce": [{"var": "context.items"},
            {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "x"]}]}),
        json!({"!!": [{"reduce": [{"var": "context.items"},
            {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]}]}),
    ] {
        assert!(syntax::condition(&cond).is_err(), "{cond}");
        let outcome = std::panic::catch_unwind(|| evaluate(&cond, &input));
        assert!(outcome.is_err(), "{cond} stayed under the arena limit");
    }
}
