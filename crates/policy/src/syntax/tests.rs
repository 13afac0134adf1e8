#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};

use super::*;
use crate::model::Effect;

fn field_of(r: Result<impl std::fmt::Debug, SyntaxError>) -> String {
    r.unwrap_err().field
}

#[test]
fn native_statement_fields() {
    let s = native_statement(&json!({"effect": "Deny", "actions": ["read", "doc*:write"],
        "resources": ["documents/*"], "sid": "x", "condition": {"==": [1, 1]}}))
    .unwrap();
    assert_eq!(s.effect, Effect::Deny);
    assert_eq!(s.actions, ["read", "doc*:write"]);
    assert_eq!(s.resources, ["documents/*"]);
    assert_eq!(s.sid.as_deref(), Some("x"));
    assert!(s.condition.is_some());
    let s =
        native_statement(&json!({"effect": "ALLOW", "action": "read", "resource": "x"})).unwrap();
    assert_eq!((s.actions.len(), s.resources.len()), (1, 1));
    let s = native_statement(&json!({"effect": "allow"})).unwrap();
    assert!(s.actions.is_empty() && s.resources.is_empty() && s.condition.is_none());
}

#[test]
fn native_statement_errors_name_the_field() {
    assert_eq!(field_of(native_statement(&json!([]))), "statement");
    assert_eq!(field_of(native_statement(&json!({}))), "effect");
    assert_eq!(
        field_of(native_statement(&json!({"effect": "maybe"}))),
        "effect"
    );
    assert_eq!(
        field_of(native_statement(
            &json!({"effect": "allow", "actions": ["read", ""]})
        )),
        "actions[1]"
    );
    assert_eq!(
        field_of(native_statement(
            &json!({"effect": "allow", "actions": "read"})
        )),
        "actions"
    );
    assert_eq!(
        field_of(native_statement(&json!({"effect": "allow", "resource": 3}))),
        "resource"
    );
    assert_eq!(
        field_of(native_statement(
            &json!({"effect": "allow", "resource": "a", "resources": ["b"]})
        )),
        "resource"
    );
    assert_eq!(
        field_of(native_statement(
            &json!({"effect": "allow", "resources": ["has space"]})
        )),
        "resources[0]"
    );
    let err = native_statement(&json!({"effect": "allow",
        "condition": {"and": [true, {"==": [1, 1]}, {"regex": ["a", "b"]}]}}))
    .unwrap_err();
    assert_eq!(err.field, "condition.and[2]");
    assert!(
        err.message.contains("unknown operator 'regex'"),
        "{}",
        err.message
    );
    assert_eq!(
        err.to_string(),
        format!("condition.and[2]: {}", err.message)
    );
}

#[test]
fn condition_validation() {
    let ok = json!({"and": [{">=": [{"var": "hour"}, 9]}, {"in": [{"var": "day"}, [1, 2, 3]]}]});
    assert_eq!(condition(&ok).unwrap(), ok);
    assert!(condition(&json!(true)).is_ok());
    assert_eq!(field_of(condition(&json!({}))), "condition");
    assert_eq!(
        field_of(condition(&json!({"==": [1, 1], "!=": [1, 2]}))),
        "condition"
    );
    assert_eq!(
        field_of(condition(&json!({"or": [{"!": {"foo": 1}}]}))),
        "condition.or[0].!"
    );
    assert_eq!(
        field_of(condition(
            &json!({"ip_in_range": [{"var": "ip"}, ["10.0.0.0/8", "banana"]]})
        )),
        "condition.ip_in_range[1][1]"
    );
    assert_eq!(
        field_of(condition(
            &json!({"ip_in_range": [{"var": "ip"}, "300.0.0.0/8"]})
        )),
        "condition.ip_in_range[1]"
    );
    assert_eq!(
        field_of(condition(&json!({"ip_in_range": "x"}))),
        "condition.ip_in_range"
    );
    assert!(condition(&json!({"ip_in_range": [{"var": "ip"}, {"var": "ranges"}]})).is_ok());
    // size limit
    let wide = Value::Array((0..MAX_CONDITION_NODES + 1).map(|i| json!(i)).collect());
    let err = condition(&json!({"in": [1, wide]})).unwrap_err();
    assert!(err.message.contains("too large"), "{}", err.message);
}

/// Builds a value nested `depth` arrays deep without recursion.
fn nested_arrays(depth: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// Drops a deep value without recursing (serde_json's drop recurses).
fn dismantle(mut v: Value) {
    let mut stack = Vec::new();
    loop {
        match &mut v {
            Value::Array(items) => stack.append(items),
            Value::Object(map) => {
                let taken = std::mem::take(map);
                stack.extend(taken.into_iter().map(|(_, v)| v));
            }
            _ => {}
        }
        match stack.pop() {
            Some(next) => v = next,
            None => break,
        }
    }
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let deep = nested_arrays(100_000);
    let err = condition(&deep).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{}", err.message);
    assert!(err.field.starts_with("condition[0][0]"), "{}", err.field);
    dismantle(deep);

    let mut ops = json!({"var": "hour"});
    for _ in 0..100_000 {
        // Not `json!`: it would serialize (recursively) the interpolated value.
        let mut map = serde_json::Map::new();
        map.insert("!".into(), ops);
        ops = Value::Object(map);
    }
    let err = condition(&ops).unwrap_err();
    assert!(err.message.contains("nested too deeply"));
    dismantle(ops);

    // The limit itself: 32 levels pass, 33 do not.
    let at_limit = nested_arrays(MAX_CONDITION_DEPTH - 1);
    assert!(condition(&at_limit).is_ok());
    let over = nested_arrays(MAX_CONDITION_DEPTH);
    assert!(condition(&over).is_err());

    // And through a native statement, with the field named.
    let err = native_statement(&json!({"effect": "allow", "condition": {"!": nested_arrays(40)}}))
        .unwrap_err();
    assert!(err.field.starts_with("condition.![0]"), "{}", err.field);
}

#[test]
fn iam_documents_parse() {
    let statements = iam_document(&json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "A", "Effect": "allow", "Action": "documents:read", "Resource": ["documents/*", "reports"]}]
    }))
    .unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].sid.as_deref(), Some("A"));
    assert_eq!(statements[0].actions, ["documents:read"]);
    assert_eq!(statements[0].resources, ["documents/*", "reports"]);
    assert!(statements[0].condition.is_none());

    let s = iam_document(
        &json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"resource.owner": "x"}}}}),
    )
    .unwrap();
    assert_eq!(s[0].effect, Effect::Deny);
    assert_eq!(
        s[0].condition,
        Some(json!({"in": [{"var": "resource.owner"}, ["x"]]}))
    );
}

#[test]
fn iam_errors_name_the_field() {
    let doc = |statement: Value| json!({"Version": "2012-10-17", "Statement": [statement]});
    let base = || json!({"Effect": "Allow", "Action": "read", "Resource": "x"});
    let with = |key: &str, value: Value| {
        let mut s = base();
        s[key] = value;
        doc(s)
    };
    assert_eq!(field_of(iam_document(&json!([]))), "document");
    assert_eq!(
        field_of(iam_document(&json!({"Version": "x"}))),
        "document.Statement"
    );
    assert_eq!(
        field_of(iam_document(&json!({"Statement": [], "Extra": 1}))),
        "document.Extra"
    );
    assert_eq!(
        field_of(iam_document(&with("NotAction", json!("read")))),
        "document.Statement[0].NotAction"
    );
    assert_eq!(
        field_of(iam_document(&with("Principal", json!("*")))),
        "document.Statement[0].Principal"
    );
    assert_eq!(
        field_of(iam_document(&with("NotResource", json!("*")))),
        "document.Statement[0].NotResource"
    );
    assert_eq!(
        field_of(iam_document(&with("Bogus", json!(1)))),
        "document.Statement[0].Bogus"
    );
    assert_eq!(
        field_of(iam_document(&with("Effect", json!("Perhaps")))),
        "document.Statement[0].Effect"
    );
    assert_eq!(
        field_of(iam_document(&with("Action", json!(["read", 5])))),
        "document.Statement[0].Action[1]"
    );
    let mut no_resource = base();
    no_resource.as_object_mut().unwrap().remove("Resource");
    assert_eq!(
        field_of(iam_document(&doc(no_resource))),
        "document.Statement[0].Resource"
    );
    assert_eq!(
        field_of(iam_document(&with("Condition", json!("x")))),
        "document.Statement[0].Condition"
    );
    assert_eq!(
        field_of(iam_document(&with(
            "Condition",
            json!({"DateGreaterThan": {"context.time": "x"}})
        ))),
        "document.Statement[0].Condition.DateGreaterThan"
    );
    assert_eq!(
        field_of(iam_document(&with(
            "Condition",
            json!({"ForAnyValue:StringEquals": {"a": "b"}})
        ))),
        "document.Statement[0].Condition.ForAnyValue:StringEquals"
    );
    assert_eq!(
        field_of(iam_document(&with(
            "Condition",
            json!({"NumericLessThan": {"resource.attributes.n": "abc"}})
        ))),
        "document.Statement[0].Condition.NumericLessThan.resource.attributes.n"
    );
    assert_eq!(
        field_of(iam_document(&with(
            "Condition",
            json!({"IpAddress": {"context.ip": ["10.0.0.0/8", "nope"]}})
        ))),
        "document.Statement[0].Condition.IpAddress.context.ip[1]"
    );
    assert_eq!(
        field_of(iam_document(&with(
            "Condition",
            json!({"StringEquals": {"bad key!": "x"}})
        ))),
        "document.Statement[0].Condition.StringEquals.bad key!"
    );
    assert_eq!(
        field_of(iam_document(&with(
            "Condition",
            json!({"Bool": {"subject.attributes.mfa": "maybe"}})
        ))),
        "document.Statement[0].Condition.Bool.subject.attributes.mfa"
    );
    // A single statement object is named without an index.
    assert_eq!(
        field_of(iam_document(
            &json!({"Statement": {"Effect": "Allow", "Action": "a"}})
        )),
        "document.Statement.Resource"
    );
}

#[test]
fn iteration_that_multiplies_work_is_refused() {
    // Found by the fuzz tests: each of these, a few dozen bytes, made one
    // evaluation take exponential time or memory (2^n for n items).
    let refused = [
        // Nested iteration: items^depth evaluations.
        json!({"map": [{"var": "context.items"}, {"map": [{"var": "context.items"}, 1]}]}),
        json!({"some": [[1, 2], {"all": [[1, 2], true]}]}),
        json!({"reduce": [[1, 2], {"filter": [{"var": "current"}, true]}, 0]}),
        // A doubling accumulator.
        json!({"reduce": [{"var": "context.items"},
            {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]}),
        json!({"reduce": [{"var": "context.items"},
            {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "x"]}),
        json!({"reduce": [{"var": "context.items"},
            {"missing": [{"var": "accumulator"}, {"var": "accumulator"}]}, ["a"]]}),
        // Shared twice, then walked by `cat`.
        json!({"cat": [{"reduce": [{"var": "context.items"},
            [{"var": "accumulator"}, {"var": "accumulator"}], "x"]}]}),
        // Wrapped once a step, each level escaping the last.
        json!({"cat": [{"reduce": [{"var": "context.items"},
            [{"substr": [{"var": "accumulator"}]}], "x"]}]}),
        // Growing linearly (quadratic memory over a long array).
        json!({"reduce": [{"var": "context.items"},
            {"cat": [{"var": "accumulator.x"}, {"var": "current"}]}, ""]}),
        // The accumulator through the whole context or a computed path.
        json!({"reduce": [[1], {"merge": [{"var": ""}, {"var": ""}]}, []]}),
        json!({"reduce": [[1], {"merge": [{"var": {"cat": ["accu", "mulator"]}}]}, []]}),
        json!({"reduce": [[1], {"if": [true, [{"var": ["accumulator", 0]}], 0]}, []]}),
    ];
    for cond in refused {
        let err = condition(&cond).unwrap_err();
        assert!(
            err.message.contains("nested iteration") || err.message.contains("grow"),
            "{cond}: {err}"
        );
    }
    let accepted = [
        json!({"reduce": [{"var": "context.items"},
            {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}),
        json!({"reduce": [[1, 2], {"if": [{">": [{"var": "current"}, {"var": "accumulator"}]},
            {"var": "current"}, {"var": "accumulator"}]}, 0]}),
        json!({"reduce": [[1, 2], {"and": [{"var": "accumulator"}, {"in": [{"var": "current"}, [1]]}]}, true]}),
        json!({"reduce": [[1], {"substr": [{"var": "accumulator"}, 1]}, "abc"]}),
        json!({"map": [{"var": "context.items"}, {"merge": [{"var": ""}, {"var": ""}]}]}),
        json!({"some": [{"map": [{"var": "context.items"}, {"+": [{"var": ""}, 1]}]},
            {">": [{"var": ""}, 3]}]}),
        json!({"reduce": [{"filter": [[1, 2], true]}, {"+": [{"var": "accumulator"}, 1]},
            {"reduce": [[1], {"var": "accumulator"}, 0]}]}),
        // `accumulator` outside a reduce is just a name in the data.
        json!({"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}),
    ];
    for cond in accepted {
        assert!(condition(&cond).is_ok(), "{cond}: {:?}", condition(&cond));
    }
    // The error names where the nested iteration is.
    let err = condition(&json!({"map": [[1], {"!": {"map": [[1], 1]}}]})).unwrap_err();
    assert_eq!(err.field, "condition.map[1].!");
}

#[test]
fn long_like_patterns_and_sids_and_lists_are_refused() {
    let long = "a".repeat(MAX_PATTERN_LEN + 1);
    assert_eq!(
        field_of(condition(&json!({"string_like": [{"var": "x"}, long]}))),
        "condition.string_like[1]"
    );
    assert_eq!(
        field_of(iam_document(
            &json!({"Statement": {"Effect": "Allow", "Action": "a",
            "Resource": "*", "Condition": {"StringLike": {"context.x": long}}}})
        )),
        "document.Statement.Condition.string_like[1]"
    );
    assert_eq!(
        field_of(native_statement(&json!({"effect": "allow", "sid": long}))),
        "sid"
    );
    let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("a{i}")).collect();
    assert_eq!(
        field_of(native_statement(
            &json!({"effect": "allow", "resources": many})
        )),
        "resources"
    );
    let statement = json!({"Effect": "Allow", "Action": "a", "Resource": "*"});
    assert_eq!(
        field_of(iam_document(
            &json!({"Statement": vec![statement; MAX_STATEMENTS + 1]})
        )),
        "document.Statement"
    );
}

#[test]
fn condition_numbers_survive_storage_as_text() {
    // Found by the fuzz tests: without serde_json's `float_roundtrip`, this
    // number read back one ulp off.
    let s = iam_document(
        &json!({"Statement": {"Effect": "Allow", "Action": "a", "Resource": "*",
        "Condition": {"NumericEquals": {"context.n": -914.6361977252676}}}}),
    )
    .unwrap();
    let text = serde_json::to_string(&s).unwrap();
    let stored: Vec<crate::model::Statement> = serde_json::from_str(&text).unwrap();
    assert_eq!(stored, s);
}
