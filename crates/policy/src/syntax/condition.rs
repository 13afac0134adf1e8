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
/// levels of nesting and [`MAX_CONDITION_NODES`] values, literal ranges of
/// `ip_in_range` must parse, and literal patterns of `string_like` are at
/// most [`MAX_PATTERN_LEN`](super::MAX_PATTERN_LEN) bytes (longer patterns
/// read from the data are an evaluation error).
///
/// Two rules bound the work of an evaluation, which would otherwise grow
/// exponentially with a condition of a few dozen bytes:
/// - **no nested iteration**: the per-element logic of `map`, `filter`,
///   `reduce`, `all`, `none` and `some` (every argument after the array,
///   except `reduce`'s initial value) must not contain another of them;
/// - **a `reduce` accumulator never grows**: within `reduce`'s logic the
///   accumulator (a `var` of `accumulator…`, of the whole context, or of a
///   computed path) may be returned as it is, through `if`, `?:`, `and`,
///   `or`, `substr` or a `var` default, or consumed by an operator that
///   yields a number or a boolean; it may not be put in an array or
///   given to `merge`, `cat`, `missing` or `missing_some`.
///
/// The walk is iterative: arbitrarily deep input is refused, never recursed
/// into.
pub fn condition(value: &Value) -> Result<Value, SyntaxError> {
    validate(value, "condition")?;
    Ok(value.clone())
}

/// The operators that evaluate their logic once per element of an array.
const ITERATING: &[&str] = &["map", "filter", "reduce", "all", "none", "some"];

/// Operators whose result may be one of their arguments as it is (`substr`:
/// as a string).
const PASS_THROUGH: &[&str] = &["if", "?:", "and", "or", "substr"];

/// Operators whose result is a number or a boolean: an
/// accumulator given to them does not carry over into the next step.
const SCALAR: &[&str] = &[
    "==",
    "===",
    "!=",
    "!==",
    "!",
    "!!",
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
    "in",
    "ip_in_range",
    "string_like",
];

/// Where a value sits relative to an enclosing `reduce`'s accumulator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acc {
    /// Not in the logic of a `reduce`.
    Outside,
    /// Its value may become the next accumulator as it is.
    Returned,
    /// Its value is consumed by an operator that yields a scalar.
    Consumed,
    /// Its value would be embedded in a larger next accumulator.
    Grows,
}

/// What the walk knows about a value's position.
#[derive(Clone, Copy)]
struct Position<'v> {
    depth: usize,
    /// Inside the per-element logic of an iterating operator.
    in_loop: bool,
    acc: Acc,
    /// The value is the argument list of this operator (rather than a
    /// literal array).
    args_of: Option<&'v str>,
}

impl<'v> Position<'v> {
    /// The position of argument `index` of `count` of operator `op`.
    fn argument(self, op: &'v str, index: usize, count: usize) -> Self {
        let logic = ITERATING.contains(&op) && index >= 1 && !(op == "reduce" && index == 2);
        let acc = if op == "reduce" && index == 1 {
            Acc::Returned
        } else {
            match self.acc {
                Acc::Outside | Acc::Consumed => self.acc,
                Acc::Returned | Acc::Grows => {
                    // The conditions of `if` / `?:` are only tested.
                    let tested =
                        matches!(op, "if" | "?:") && index.is_multiple_of(2) && index + 1 < count;
                    if SCALAR.contains(&op) || tested || (op == "var" && index == 0) {
                        Acc::Consumed
                    } else if PASS_THROUGH.contains(&op) || op == "var" {
                        self.acc
                    } else {
                        Acc::Grows
                    }
                }
            }
        };
        Self {
            depth: self.depth + 1,
            in_loop: self.in_loop || logic,
            acc,
            args_of: None,
        }
    }

    /// The position of an element of a literal array.
    fn element(self) -> Self {
        Self {
            depth: self.depth + 1,
            acc: match self.acc {
                Acc::Returned => Acc::Grows,
                other => other,
            },
            args_of: None,
            ..self
        }
    }
}

/// Whether a `var` with this argument may read a `reduce` accumulator.
fn reads_accumulator(arg: &Value) -> bool {
    let path = match arg {
        Value::Array(items) => items.first(),
        other => Some(other),
    };
    match path {
        Some(Value::String(p)) => {
            p.is_empty() || p == "accumulator" || p.starts_with("accumulator.")
        }
        Some(Value::Number(_)) => false,
        // The whole context, or a path computed at run time.
        _ => true,
    }
}

/// [`condition`] without the copy, reporting fields under `root`.
pub(crate) fn validate(value: &Value, root: &str) -> Result<(), SyntaxError> {
    let top = Position {
        depth: 1,
        in_loop: false,
        acc: Acc::Outside,
        args_of: None,
    };
    let mut stack: Vec<(&Value, String, Position<'_>)> = vec![(value, root.to_owned(), top)];
    let mut nodes = 0usize;
    while let Some((v, field, at)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_CONDITION_NODES {
            return Err(SyntaxError::new(
                root,
                format!("is too large: at most {MAX_CONDITION_NODES} values"),
            ));
        }
        if at.depth > MAX_CONDITION_DEPTH {
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
                let Some(op) = OPERATORS.iter().copied().find(|known| *known == op) else {
                    return Err(SyntaxError::new(
                        field,
                        format!("unknown operator '{op}' (known: {})", OPERATORS.join(", ")),
                    ));
                };
                if at.in_loop && ITERATING.contains(&op) {
                    return Err(SyntaxError::new(
                        field,
                        format!(
                            "'{op}' inside the logic of another iterating operator (map, filter, reduce, all, none, some) is not allowed: nested iteration multiplies the work"
                        ),
                    ));
                }
                if op == "var" && at.acc == Acc::Grows && reads_accumulator(arg) {
                    return Err(SyntaxError::new(
                        field,
                        "a reduce accumulator may not be put in an array or given to merge, cat, missing or missing_some: it would grow at every step",
                    ));
                }
                let arg_field = format!("{field}.{op}");
                match op {
                    "ip_in_range" => check_ip_ranges(arg, &arg_field)?,
                    "string_like" => check_like_pattern(arg, &arg_field)?,
                    _ => {}
                }
                let position = match arg {
                    Value::Array(_) => Position {
                        depth: at.depth + 1,
                        args_of: Some(op),
                        ..at
                    },
                    _ => at.argument(op, 0, 1),
                };
                stack.push((arg, arg_field, position));
            }
            Value::Array(items) => {
                if nodes + stack.len() + items.len() > MAX_CONDITION_NODES {
                    return Err(SyntaxError::new(
                        root,
                        format!("is too large: at most {MAX_CONDITION_NODES} values"),
                    ));
                }
                for (i, item) in items.iter().enumerate().rev() {
                    let position = match at.args_of {
                        Some(op) => Position {
                            depth: at.depth,
                            ..at
                        }
                        .argument(op, i, items.len()),
                        None => at.element(),
                    };
                    stack.push((item, format!("{field}[{i}]"), position));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A literal `string_like` pattern is at most [`MAX_PATTERN_LEN`] bytes: the
/// match costs up to the pattern's length times the text's.
///
/// [`MAX_PATTERN_LEN`]: super::MAX_PATTERN_LEN
fn check_like_pattern(arg: &Value, field: &str) -> Result<(), SyntaxError> {
    match arg {
        Value::Array(args) => match args.get(1) {
            Some(Value::String(p)) if p.len() > super::MAX_PATTERN_LEN => Err(SyntaxError::new(
                format!("{field}[1]"),
                format!("must be at most {} bytes", super::MAX_PATTERN_LEN),
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
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
