//! Parsing of policy input for the admin API. Every error names the field it
//! is about (`effect`, `actions[1]`, `condition.and[2]`,
//! `document.Statement[0].Condition`), so the API can report it as a
//! validation error on that field.
//!
//! Two syntaxes produce the same [`Statement`]s:
//! - the native one ([`native_statement`]): `{"effect", "actions",
//!   "resources", "condition"}` with a JSON Logic condition;
//! - AWS-IAM-style documents ([`iam_document`]), whose conditions are
//!   translated into the same JSON Logic.

mod condition;
mod iam;

use serde_json::Value;

use crate::model::{Effect, Statement};

pub use condition::{MAX_CONDITION_DEPTH, MAX_CONDITION_NODES, OPERATORS, condition};
pub use iam::MAX_STATEMENTS;
pub use iam::iam_document;

pub(crate) use condition::validate as validate_condition;

/// Input that does not parse, and which field is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SyntaxError {
    /// The field, as a path: `condition.and[2]`, `document.Statement[0].Effect`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl SyntaxError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Longest action or resource pattern accepted (and longest `sid`, and
/// longest literal `string_like` pattern in a condition).
pub const MAX_PATTERN_LEN: usize = 256;

/// Most action or resource patterns in one statement's list.
pub const MAX_PATTERNS: usize = 256;

/// Checks a list of patterns: at most [`MAX_PATTERNS`] of them, each valid.
pub(crate) fn patterns(items: &[Value], field: &str) -> Result<Vec<String>, SyntaxError> {
    if items.len() > MAX_PATTERNS {
        return Err(SyntaxError::new(
            field,
            format!("must have at most {MAX_PATTERNS} patterns"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| pattern(v, &format!("{field}[{i}]")))
        .collect()
}

/// An optional statement id: a string of at most [`MAX_PATTERN_LEN`] bytes.
pub(crate) fn sid(value: Option<&Value>, field: &str) -> Result<Option<String>, SyntaxError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > MAX_PATTERN_LEN => Err(SyntaxError::new(
            field,
            format!("must be at most {MAX_PATTERN_LEN} bytes"),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SyntaxError::new(field, "must be a string")),
    }
}

/// Checks one action or resource pattern: non-empty, at most
/// [`MAX_PATTERN_LEN`] bytes, no whitespace or control characters.
pub(crate) fn pattern(value: &Value, field: &str) -> Result<String, SyntaxError> {
    let Value::String(s) = value else {
        return Err(SyntaxError::new(field, "must be a string"));
    };
    if s.is_empty() {
        return Err(SyntaxError::new(field, "must not be empty"));
    }
    if s.len() > MAX_PATTERN_LEN {
        return Err(SyntaxError::new(
            field,
            format!("must be at most {MAX_PATTERN_LEN} bytes"),
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SyntaxError::new(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(s.clone())
}

/// A list of patterns given either as `plural` (a list of strings) or as
/// `singular` (one string); absent means every action / resource.
fn pattern_list(
    obj: &serde_json::Map<String, Value>,
    plural: &str,
    singular: &str,
) -> Result<Vec<String>, SyntaxError> {
    match (obj.get(plural), obj.get(singular)) {
        (Some(_), Some(_)) => Err(SyntaxError::new(
            singular,
            format!("give either '{plural}' or '{singular}', not both"),
        )),
        (Some(Value::Array(items)), None) => patterns(items, plural),
        (Some(Value::Null), None) | (None, None) => Ok(Vec::new()),
        (Some(_), None) => Err(SyntaxError::new(plural, "must be a list of strings")),
        (None, Some(v)) => Ok(vec![pattern(v, singular)?]),
    }
}

/// Parses `ALLOW` / `DENY` (any case).
pub(crate) fn effect(value: Option<&Value>, field: &str) -> Result<Effect, SyntaxError> {
    match value {
        None | Some(Value::Null) => Err(SyntaxError::new(field, "is required (ALLOW or DENY)")),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("allow") => Ok(Effect::Allow),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("deny") => Ok(Effect::Deny),
        Some(_) => Err(SyntaxError::new(field, "must be ALLOW or DENY")),
    }
}

/// Parses a native statement: an object with
/// - `effect`: `"ALLOW"` or `"DENY"` (any case), required;
/// - `actions`: a list of action patterns (at most [`MAX_PATTERNS`]), or
///   `action`: one pattern; absent means every action;
/// - `resources`: a list of resource patterns (at most [`MAX_PATTERNS`]), or
///   `resource`: one pattern; absent means every resource;
/// - `sid`: an optional statement id (at most [`MAX_PATTERN_LEN`] bytes);
/// - `condition`: an optional JSON Logic condition (see [`condition`]).
///
/// Other fields are ignored: the caller passes only the relevant ones (seed
/// 001's example carries `name` and `priority` beside them).
pub fn native_statement(value: &Value) -> Result<Statement, SyntaxError> {
    let Value::Object(obj) = value else {
        return Err(SyntaxError::new("statement", "must be an object"));
    };
    let effect = effect(obj.get("effect"), "effect")?;
    let actions = pattern_list(obj, "actions", "action")?;
    let resources = pattern_list(obj, "resources", "resource")?;
    let sid = sid(obj.get("sid"), "sid")?;
    let condition = match obj.get("condition") {
        None | Some(Value::Null) => None,
        Some(c) => {
            validate_condition(c, "condition")?;
            Some(c.clone())
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

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
