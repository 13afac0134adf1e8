//! Property tests: printing an AST and parsing it back gives the same AST;
//! no input makes the parsers or the evaluator panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::patch::PatchPath;
use crate::schema::ResourceSchema;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        // Words the grammar also uses, as attribute names.
        prop::sample::select(vec![
            "not", "and", "or", "pr", "eq", "true", "null", "$ref", "Not"
        ])
        .prop_map(str::to_owned),
    ]
}

fn urn() -> impl Strategy<Value = String> {
    prop_oneof![
        "urn:[a-z]{1,5}(:[a-zA-Z0-9.]{1,5}){0,4}",
        Just(crate::urn::ENTERPRISE_USER.to_owned()),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (prop::option::of(urn()), name(), prop::option::of(name()))
        .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
}

fn plain_path() -> impl Strategy<Value = AttrPath> {
    name().prop_map(AttrPath::new)
}

fn value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::String),
        "[ -~]{0,12}".prop_map(CompValue::String),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

/// Filters over `path`s, without value paths (what `[...]` holds).
fn inner_filter(path: BoxedStrategy<AttrPath>) -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (path.clone(), op(), value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        path.prop_map(Filter::Present),
    ];
    leaf.prop_recursive(5, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Filter::not),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
            (inner.clone(), inner).prop_map(|(l, r)| Filter::or(l, r)),
        ]
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (
        attr_path().prop_map(|p| AttrPath { sub: None, ..p }),
        inner_filter(plain_path().boxed()),
    )
        .prop_map(|(path, f)| Filter::ValuePath {
            path,
            filter: Box::new(f),
        });
    let leaf = prop_oneof![
        3 => inner_filter(attr_path().boxed()),
        1 => value_path,
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Filter::not),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
            (inner.clone(), inner).prop_map(|(l, r)| Filter::or(l, r)),
        ]
    })
}

fn roomy() -> FilterLimits {
    FilterLimits {
        max_length: usize::MAX,
        max_depth: 1000,
        max_nodes: 100_000,
    }
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 @.:-]{0,10}".prop_map(Value::String),
        Just(Value::String("2011-05-13T04:42:34Z".into())),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "userName",
                    "emails",
                    "value",
                    "type",
                    "name",
                    "familyName",
                    "active",
                    "id",
                    crate::urn::ENTERPRISE_USER,
                    "employeeNumber",
                    "a",
                    "not"
                ])
                .prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_then_parse_is_identity(f in filter()) {
        let printed = f.to_string();
        let parsed = Filter::parse_with_limits(&printed, &roomy())
            .unwrap_or_else(|e| panic!("{printed}: {e}"));
        prop_assert_eq!(&parsed, &f, "{}", printed);
        prop_assert_eq!(parsed.node_count(), f.node_count());
    }

    #[test]
    fn patch_paths_print_then_parse(attr in attr_path(), f in prop::option::of(inner_filter(plain_path().boxed())), sub in prop::option::of(name())) {
        let path = match f {
            Some(filter) => PatchPath { attr: AttrPath { sub: None, ..attr }, filter: Some(filter), sub },
            None => PatchPath::attr(attr),
        };
        let printed = path.to_string();
        let parsed = PatchPath::parse_with_limits(&printed, &roomy())
            .unwrap_or_else(|e| panic!("{printed}: {e}"));
        prop_assert_eq!(parsed, path);
    }

    #[test]
    fn arbitrary_input_never_panics(s in any::<String>()) {
        let _ = Filter::parse(&s);
        let _ = PatchPath::parse(&s);
        let _ = AttrPath::parse(&s);
    }

    #[test]
    fn filter_like_input_never_panics(s in r#"[a-z \[\]().:"\\0-9-]{0,60}"#) {
        if let Ok(f) = Filter::parse(&s) {
            prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        }
        let _ = PatchPath::parse(&s);
    }

    #[test]
    fn mutated_filters_never_panic(f in filter(), at in any::<prop::sample::Index>(), insert in prop::option::of(prop::sample::select(vec!['(', ')', '[', ']', '"', '\\', ' ', '.', ':', 'x', 'é']))) {
        let printed = f.to_string();
        let mut chars: Vec<char> = printed.chars().collect();
        let i = at.index(chars.len().max(1)).min(chars.len());
        match insert {
            Some(c) => chars.insert(i, c),
            None if i < chars.len() => { chars.remove(i); }
            None => {}
        }
        let mutated: String = chars.into_iter().collect();
        if let Ok(g) = Filter::parse_with_limits(&mutated, &roomy()) {
            prop_assert_eq!(Filter::parse_with_limits(&g.to_string(), &roomy()).unwrap(), g);
        }
    }

    #[test]
    fn evaluation_never_panics(f in filter(), resource in json()) {
        let _ = f.matches(&resource, ResourceSchema::user());
        let _ = f.matches(&resource, ResourceSchema::group());
        let _ = f.attribute_paths();
    }
}
