//! AWS-IAM-style policy documents, translated into native statements.

use serde_json::{Value, json};

use super::{SyntaxError, effect, pattern, patterns, sid, validate_condition};
use crate::condition::parse_range;
use crate::model::Statement;

/// Most statements in one document.
pub const MAX_STATEMENTS: usize = 256;

/// Parses an AWS-IAM-style document:
///
/// ```json
/// {"Version": "2012-10-17",
///  "Statement": [{"Sid": "…", "Effect": "Allow", "Action": ["documents:read"],
///                 "Resource": "documents/*",
///                 "Condition": {"StringEquals": {"subject.attributes.department": "sales"}}}]}
/// ```
///
/// `Statement` may be one object or a list (of at most [`MAX_STATEMENTS`]);
/// `Action` and `Resource` a string or a list (of at most
/// [`MAX_PATTERNS`](super::MAX_PATTERNS)), both required; `Sid` at most
/// [`MAX_PATTERN_LEN`](super::MAX_PATTERN_LEN) bytes. `NotAction`,
/// `NotResource`, `Principal` and `NotPrincipal` are not supported; any other
/// unknown field is refused.
///
/// Condition keys are dotted paths into the condition data
/// (`subject.attributes.department`, `context.ip`, `resource.owner`); values
/// may be one value or a list (any of them matches). Operators, and the JSON
/// Logic they become:
///
/// | IAM | JSON Logic |
/// | --- | --- |
/// | `StringEquals` / `StringNotEquals` | `in` the list / its negation |
/// | `StringLike` / `StringNotLike` | `string_like` (`*`, `?`) / negation |
/// | `NumericEquals` .. `NumericGreaterThanEquals` | `==`, `!=`, `<`, `<=`, `>`, `>=`, on a present value |
/// | `Bool` | `in [true, "true"]` (or false) |
/// | `IpAddress` / `NotIpAddress` | `ip_in_range` / negation |
///
/// Several keys, or several operators, must all hold (`and`).
pub fn iam_document(value: &Value) -> Result<Vec<Statement>, SyntaxError> {
    let Value::Object(doc) = value else {
        return Err(SyntaxError::new("document", "must be an object"));
    };
    for (key, v) in doc {
        match key.as_str() {
            "Version" | "Id" => {
                if !v.is_string() {
                    return Err(SyntaxError::new(
                        format!("document.{key}"),
                        "must be a string",
                    ));
                }
            }
            "Statement" => {}
            other => {
                return Err(SyntaxError::new(
                    format!("document.{other}"),
                    "unknown field (expected Version, Id, Statement)",
                ));
            }
        }
    }
    match doc.get("Statement") {
        None | Some(Value::Null) => Err(SyntaxError::new("document.Statement", "is required")),
        Some(Value::Array(items)) if items.is_empty() => Err(SyntaxError::new(
            "document.Statement",
            "must have at least one statement",
        )),
        Some(Value::Array(items)) if items.len() > MAX_STATEMENTS => Err(SyntaxError::new(
            "document.Statement",
            format!("must have at most {MAX_STATEMENTS} statements"),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| statement(s, &format!("document.Statement[{i}]")))
            .collect(),
        Some(single @ Value::Object(_)) => Ok(vec![statement(single, "document.Statement")?]),
        Some(_) => Err(SyntaxError::new(
            "document.Statement",
            "must be an object or a list of objects",
        )),
    }
}

fn statement(value: &Value, field: &str) -> Result<Statement, SyntaxError> {
    let Value::Object(obj) = value else {
        return Err(SyntaxError::new(field, "must be an object"));
    };
    for key in obj.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "Resource" | "Condition" => {}
            "NotAction" | "NotResource" | "Principal" | "NotPrincipal" => {
                return Err(SyntaxError::new(
                    format!("{field}.{key}"),
                    "is not supported: Portcullis policies attach to users, groups, roles or the realm, and list what they match",
                ));
            }
            other => {
                return Err(SyntaxError::new(
                    format!("{field}.{other}"),
                    "unknown field (expected Sid, Effect, Action, Resource, Condition)",
                ));
            }
        }
    }
    let sid = sid(obj.get("Sid"), &format!("{field}.Sid"))?;
    let effect = effect(obj.get("Effect"), &format!("{field}.Effect"))?;
    let actions = string_or_list(obj.get("Action"), &format!("{field}.Action"))?;
    let resources = string_or_list(obj.get("Resource"), &format!("{field}.Resource"))?;
    let condition = match obj.get("Condition") {
        None | Some(Value::Null) => None,
        Some(c) => {
            let cfield = format!("{field}.Condition");
            let logic = translate_condition(c, &cfield)?;
            validate_condition(&logic, &cfield)?;
            Some(logic)
        }
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        condition,
    })
}

fn string_or_list(value: Option<&Value>, field: &str) -> Result<Vec<String>, SyntaxError> {
    match value {
        None | Some(Value::Null) => Err(SyntaxError::new(field, "is required")),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(SyntaxError::new(field, "must not be empty"))
        }
        Some(Value::Array(items)) => patterns(items, field),
        Some(v) => Ok(vec![pattern(v, field)?]),
    }
}

/// Most keys and values accepted in one IAM condition block.
const MAX_CONDITION_ENTRIES: usize = 256;

fn translate_condition(value: &Value, field: &str) -> Result<Value, SyntaxError> {
    let Value::Object(ops) = value else {
        return Err(SyntaxError::new(field, "must be an object of operators"));
    };
    let mut clauses = Vec::new();
    let mut entries = 0usize;
    for (op, block) in ops {
        let op_field = format!("{field}.{op}");
        let Value::Object(keys) = block else {
            return Err(SyntaxError::new(
                op_field,
                "must be an object of condition keys",
            ));
        };
        if keys.is_empty() {
            return Err(SyntaxError::new(op_field, "must name at least one key"));
        }
        for (key, values) in keys {
            let key_field = format!("{op_field}.{key}");
            check_key(key, &key_field)?;
            let values = value_list(values, &key_field)?;
            entries += values.len().max(1);
            if entries > MAX_CONDITION_ENTRIES {
                return Err(SyntaxError::new(
                    field,
                    format!("is too large: at most {MAX_CONDITION_ENTRIES} keys and values"),
                ));
            }
            clauses.push(clause(op, key, &values, &op_field, &key_field)?);
        }
    }
    Ok(match clauses.len() {
        0 => return Err(SyntaxError::new(field, "must name at least one operator")),
        1 => clauses.pop().unwrap_or(Value::Bool(true)),
        _ => json!({ "and": clauses }),
    })
}

fn check_key(key: &str, field: &str) -> Result<(), SyntaxError> {
    let valid = !key.is_empty()
        && key.len() <= 256
        && key.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        });
    if valid {
        Ok(())
    } else {
        Err(SyntaxError::new(
            field,
            "a condition key is a dotted path into the condition data, like subject.attributes.department or context.ip",
        ))
    }
}

fn value_list<'v>(values: &'v Value, field: &str) -> Result<Vec<&'v Value>, SyntaxError> {
    match values {
        Value::Array(items) if items.is_empty() => {
            Err(SyntaxError::new(field, "must have at least one value"))
        }
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(_) | Value::Null => Err(SyntaxError::new(
            field,
            "must be a value or a list of values",
        )),
        v => Ok(vec![v]),
    }
}

fn any_of(mut clauses: Vec<Value>) -> Value {
    if clauses.len() == 1 {
        clauses.pop().unwrap_or(Value::Bool(false))
    } else {
        json!({ "or": clauses })
    }
}

fn not(v: Value) -> Value {
    json!({ "!": v })
}

fn clause(
    op: &str,
    key: &str,
    values: &[&Value],
    op_field: &str,
    key_field: &str,
) -> Result<Value, SyntaxError> {
    let var = json!({ "var": key });
    let indexed = |i: usize| {
        if values.len() == 1 {
            key_field.to_owned()
        } else {
            format!("{key_field}[{i}]")
        }
    };
    let strings = || -> Result<Vec<Value>, SyntaxError> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(_) => Ok((*v).clone()),
                _ => Err(SyntaxError::new(indexed(i), "must be a string")),
            })
            .collect()
    };
    let numbers = || -> Result<Vec<Value>, SyntaxError> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Number(_) => Ok((*v).clone()),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| s.trim().parse::<f64>().map(Value::from))
                    .ok()
                    .filter(|n| !n.is_null())
                    .ok_or_else(|| SyntaxError::new(indexed(i), "must be a number")),
                _ => Err(SyntaxError::new(indexed(i), "must be a number")),
            })
            .collect()
    };
    let numeric = |cmp: &str| -> Result<Value, SyntaxError> {
        let present = json!({ "!==": [var.clone(), null] });
        let any = any_of(
            numbers()?
                .into_iter()
                .map(|n| json!({ cmp: [var.clone(), n] }))
                .collect(),
        );
        Ok(json!({ "and": [present, any] }))
    };
    let string_equals =
        || -> Result<Value, SyntaxError> { Ok(json!({ "in": [var.clone(), strings()?] })) };
    let string_like = || -> Result<Value, SyntaxError> {
        Ok(any_of(
            strings()?
                .into_iter()
                .map(|p| json!({ "string_like": [var.clone(), p] }))
                .collect(),
        ))
    };
    let ip = || -> Result<Value, SyntaxError> {
        let ranges = values
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if parse_range(s).is_some() => Ok((*v).clone()),
                _ => Err(SyntaxError::new(
                    indexed(i),
                    "must be a CIDR block or an IP address",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "ip_in_range": [var.clone(), ranges] }))
    };
    match op {
        "StringEquals" => string_equals(),
        "StringNotEquals" => string_equals().map(not),
        "StringLike" => string_like(),
        "StringNotLike" => string_like().map(not),
        "NumericEquals" => numeric("=="),
        "NumericNotEquals" => numeric("==").map(not),
        "NumericLessThan" => numeric("<"),
        "NumericLessThanEquals" => numeric("<="),
        "NumericGreaterThan" => numeric(">"),
        "NumericGreaterThanEquals" => numeric(">="),
        "Bool" => {
            let [single] = values else {
                return Err(SyntaxError::new(key_field, "Bool takes one value"));
            };
            let b = match single {
                Value::Bool(b) => *b,
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(SyntaxError::new(key_field, "must be true or false")),
            };
            Ok(json!({ "in": [var, [b, b.to_string()]] }))
        }
        "IpAddress" => ip(),
        "NotIpAddress" => ip().map(not),
        other => Err(SyntaxError::new(
            op_field,
            format!(
                "unsupported condition operator '{other}' (supported: StringEquals, StringNotEquals, StringLike, StringNotLike, NumericEquals, NumericNotEquals, NumericLessThan, NumericLessThanEquals, NumericGreaterThan, NumericGreaterThanEquals, Bool, IpAddress, NotIpAddress)"
            ),
        )),
    }
}
