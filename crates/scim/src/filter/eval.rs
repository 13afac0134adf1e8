//! Evaluation of a filter against a resource held as JSON.
//!
//! Rules (RFC 7644 §3.4.2.2):
//! - A multi-valued attribute matches if any of its values matches; an
//!   absent attribute matches nothing, except `eq null` (and `ne null`
//!   matches any present value). So `ne` is "some value differs", not
//!   "no value equals": `emails.value ne "a"` matches a user with emails
//!   `a` and `b`, and a user without emails matches no `ne` (as SQL's
//!   `column <> ?` is not true for NULL).
//! - Strings compare ignoring case unless the attribute is `caseExact` in
//!   the schema (`id`, `externalId`); attributes the schema does not know
//!   compare ignoring case.
//! - `gt`/`ge`/`lt`/`le` order strings, numbers, and `dateTime` values
//!   (RFC 3339, compared as instants, for attributes of type `dateTime` or,
//!   for unknown attributes, when both sides parse as one); booleans and
//!   mixed types never order.
//! - `co`/`sw`/`ew` apply to strings only.
//! - A complex attribute compared without a sub-attribute (`emails co
//!   "x"`) compares its `value` sub-attribute.
//! - `pr` is true when the attribute has a value that is not null, not an
//!   empty string, not an empty array and not an object without values.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AttrPath, CompValue, CompareOp, Filter};
use crate::schema::{AttributeDef, AttributeType, ResourceSchema};

/// Where a path is looked up: the resource, or one value of a multi-valued
/// attribute (inside `[...]`).
#[derive(Clone, Copy)]
enum Scope<'s> {
    Resource(&'s ResourceSchema),
    Element(Option<&'s AttributeDef>),
}

impl Filter {
    /// Whether `resource` (a SCIM resource as JSON) matches the filter.
    /// Attributes are resolved with `schema` for their case-exactness and
    /// type; extension attributes are read from the object under their URN.
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        eval(self, resource, Scope::Resource(schema))
    }
}

fn eval(f: &Filter, obj: &Value, scope: Scope<'_>) -> bool {
    match f {
        Filter::And(l, r) => eval(l, obj, scope) && eval(r, obj, scope),
        Filter::Or(l, r) => eval(l, obj, scope) || eval(r, obj, scope),
        Filter::Not(inner) => !eval(inner, obj, scope),
        Filter::Present(path) => {
            let (values, _) = lookup(obj, path, scope, false);
            values.into_iter().any(non_empty)
        }
        Filter::Compare { path, op, value } => {
            let (values, def) = lookup(obj, path, scope, true);
            if *value == CompValue::Null {
                return match op {
                    CompareOp::Eq => values.is_empty(),
                    CompareOp::Ne => !values.is_empty(),
                    _ => false,
                };
            }
            values.into_iter().any(|v| compare(v, *op, value, def))
        }
        Filter::ValuePath { path, filter } => {
            let (values, def) = lookup(obj, path, scope, false);
            values
                .into_iter()
                .any(|element| eval(filter, element, Scope::Element(def)))
        }
    }
}

/// The object's member `key`, matched exactly or else ignoring case.
pub(crate) fn get_ci<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn push_flat<'v>(out: &mut Vec<&'v Value>, v: &'v Value) {
    match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|i| !i.is_null())),
        other => out.push(other),
    }
}

/// The values a path designates (arrays flattened, nulls dropped), and the
/// definition of the attribute they belong to, if the schema has one.
fn lookup<'v, 's>(
    obj: &'v Value,
    path: &AttrPath,
    scope: Scope<'s>,
    for_comparison: bool,
) -> (Vec<&'v Value>, Option<&'s AttributeDef>) {
    let Some(map) = obj.as_object() else {
        return (Vec::new(), None);
    };
    let (container, attr_def) = match scope {
        Scope::Resource(schema) => {
            match schema.resolve_attribute(path.urn.as_deref(), &path.name) {
                Some((Some(ext), def)) => {
                    (get_ci(map, &ext.id).and_then(Value::as_object), Some(def))
                }
                Some((None, def)) => (Some(map), Some(def)),
                None => match &path.urn {
                    Some(urn) if !urn.eq_ignore_ascii_case(&schema.core.id) => {
                        (get_ci(map, urn).and_then(Value::as_object), None)
                    }
                    _ => (Some(map), None),
                },
            }
        }
        Scope::Element(parent) => (Some(map), parent.and_then(|p| p.sub_attribute(&path.name))),
    };
    let mut values = Vec::new();
    if let Some(v) = container.and_then(|c| get_ci(c, &path.name)) {
        push_flat(&mut values, v);
    }
    let Some(sub) = &path.sub else {
        let complex = attr_def.is_some_and(|d| d.kind == AttributeType::Complex)
            || values.iter().any(|v| v.is_object());
        if for_comparison && complex {
            // `emails eq "x"` compares each email's `value`.
            let mut inner = Vec::new();
            for v in values {
                if let Some(x) = v.as_object().and_then(|o| get_ci(o, "value")) {
                    push_flat(&mut inner, x);
                }
            }
            let def = attr_def.and_then(|d| d.sub_attribute("value"));
            return (inner, def);
        }
        return (values, attr_def);
    };
    let mut inner = Vec::new();
    for v in values {
        if let Some(x) = v.as_object().and_then(|o| get_ci(o, sub)) {
            push_flat(&mut inner, x);
        }
    }
    (inner, attr_def.and_then(|d| d.sub_attribute(sub)))
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(non_empty),
        Value::Object(map) => map.values().any(non_empty),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn ordered(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare(
    actual: &Value,
    op: CompareOp,
    expected: &CompValue,
    def: Option<&AttributeDef>,
) -> bool {
    let kind = def.map(|d| d.kind);
    match (actual, expected) {
        (Value::String(a), CompValue::String(b)) => {
            let maybe_time = matches!(kind, Some(AttributeType::DateTime) | None);
            if maybe_time
                && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
                && let (Some(a), Some(b)) = (datetime(a), datetime(b))
            {
                return ordered(op, a.cmp(&b));
            }
            if def.is_some_and(|d| d.case_exact) {
                compare_str(a, b, op)
            } else {
                compare_str(&a.to_lowercase(), &b.to_lowercase(), op)
            }
        }
        (Value::Number(a), CompValue::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => ordered(op, a.cmp(&b)),
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|ord| ordered(op, ord)),
                _ => false,
            },
        },
        (Value::Bool(a), CompValue::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        // A boolean stored as "True"/"False" by a lenient writer.
        (Value::String(a), CompValue::Bool(b)) if kind == Some(AttributeType::Boolean) => {
            let parsed = if a.eq_ignore_ascii_case("true") {
                Some(true)
            } else if a.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            };
            match (parsed, op) {
                (Some(a), CompareOp::Eq) => a == *b,
                (Some(a), CompareOp::Ne) => a != *b,
                _ => false,
            }
        }
        // Different types are never equal.
        _ => op == CompareOp::Ne,
    }
}

fn compare_str(a: &str, b: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        _ => ordered(op, a.cmp(b)),
    }
}

/// Evaluates a value filter (the `[...]` of a PATCH path) against one
/// value of the multi-valued attribute `parent`.
pub(crate) fn matches_element(f: &Filter, element: &Value, parent: Option<&AttributeDef>) -> bool {
    eval(f, element, Scope::Element(parent))
}
