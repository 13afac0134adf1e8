//! Validation of JSON Logic conditions.

use serde_json::Value;

use super::SyntaxError;
use crate::condition::parse_range;

/// Deepest JSON nesting accepted in a condition (the condition object itself
/// is level 1).
pub const MAX_CONDITION_DEPTH: usize = 32;

/// Most JSON values (objects, arrays, scalars) accepted in one condition.
pub const MAX_CONDITION_NODES: usize = 4096;

/// The operators a condition may use: standard JSON Logic, plus
/// `ip_in_range` and `string_like` (see [`crate::syntax`] and the condition
/// data description in the crate docs).
///
/// - data: `var`, `missing`, `missing_some`
/// - logic: `if`, `?:`, `==`, `===`, `!=`, `!==`, `!`, `!!`, `or`, `and`
/// - numbers: `>`, `>=`, `<`, `<=`, `max`, `min`, `+`, `-`, `*`, `/`, `%`
/// - arrays: `map`, `filter`, `reduce`, `all`, `none`, `some`, `merge`, `in`
/// - strings: `in`, `cat`, `substr`
/// - Portcullis: `ip_in_range` (`[ip, "10.0.0.0/8" or a list]`),
///   `string_like` (`[text, "glob*?"]`)
pub const OPERATORS: &[&str] = &[
    "var",
    "missing",
    "missing_some",
    "if",
    "?:",
    "==",
    "===",
    "!=",
    "!==",
    "!",
    "!!",
    "or",
    "and",
    ">",
    ">=",
    "<",
    "<=",
    "max",
    "min",
    "+",
    "-",
    "*",
    "/",
    "%",
    "map",
    "filter",
    "reduce",
    "all",
    "none",
    "some",
    "merge",
    "in",
    "cat",
    "substr",
    "ip_in_range",
    "string_like",
];

/// Validates a JSON Logic condition and returns it: only [`OPERATORS`], every
/// operation an object with exactly one key, at most [`MAX_CONDITION_DEPTH`]
/// levels of nesting and [`MAX_CONDITION_NODES`] values, and literal ranges
/// of `ip_in_range` must parse. The walk is iterative: arbitrarily deep input
/// is refused, never recursed into.
pub fn condition(value: &Value) -> Result<Value, SyntaxError> {
    validate(value, "condition")?;
    Ok(value.clone())
}

/// [`condition`] without the copy, reporting fields under `root`.
pub(crate) fn validate(value: &Value, root: &str) -> Result<(), SyntaxError> {
    let mut stack: Vec<(&Value, String, usize)> = vec![(value, root.to_owned(), 1)];
    let mut nodes = 0usize;
    while let Some((v, field, depth)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_CONDITION_NODES {
            return Err(SyntaxError::new(
                root,
                format!("is too large: at most {MAX_CONDITION_NODES} values"),
            ));
        }
        if depth > MAX_CONDITION_DEPTH {
            return Err(SyntaxError::new(
                field,
                format!("is nested too deeply: at most {MAX_CONDITION_DEPTH} levels"),
            ));
        }
        match v {
            Value::Object(map) => {
                let mut entries = map.iter();
                let (Some((op, arg)), None) = (entries.next(), entries.next()) else {
                    return Err(SyntaxError::new(
                        field,
                        "an operation is an object with exactly one operator key",
                    ));
                };
                if !OPERATORS.contains(&op.as_str()) {
                    return Err(SyntaxError::new(
                        field,
                        format!("unknown operator '{op}' (known: {})", OPERATORS.join(", ")),
                    ));
                }
                let arg_field = format!("{field}.{op}");
                if op == "ip_in_range" {
                    check_ip_ranges(arg, &arg_field)?;
                }
                stack.push((arg, arg_field, depth + 1));
            }
            Value::Array(items) => {
                if nodes + stack.len() + items.len() > MAX_CONDITION_NODES {
                    return Err(SyntaxError::new(
                        root,
                        format!("is too large: at most {MAX_CONDITION_NODES} values"),
                    ));
                }
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push((item, format!("{field}[{i}]"), depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `ip_in_range` takes two arguments; literal ranges must parse.
fn check_ip_ranges(arg: &Value, field: &str) -> Result<(), SyntaxError> {
    let Value::Array(args) = arg else {
        return Err(SyntaxError::new(
            field,
            "takes [address, range] or [address, [ranges]]",
        ));
    };
    if args.len() != 2 {
        return Err(SyntaxError::new(
            field,
            "takes [address, range] or [address, [ranges]]",
        ));
    }
    let check = |v: &Value, f: String| match v {
        Value::String(s) if parse_range(s).is_none() => Err(SyntaxError::new(
            f,
            format!("'{s}' is not a CIDR block or an IP address"),
        )),
        Value::String(_) | Value::Object(_) => Ok(()),
        _ => Err(SyntaxError::new(f, "a range must be a string")),
    };
    match args.get(1) {
        Some(Value::Array(ranges)) => {
            for (i, r) in ranges.iter().enumerate() {
                check(r, format!("{field}[1][{i}]"))?;
            }
            Ok(())
        }
        Some(r) => check(r, format!("{field}[1]")),
        None => Ok(()),
    }
}
