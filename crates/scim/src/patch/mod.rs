//! PATCH (RFC 7644 §3.5.2): `PatchOp` requests, their paths, and their
//! application to a resource held as JSON.
//!
//! ```
//! use portcullis_scim::{PatchLimits, PatchRequest, ResourceSchema};
//! use serde_json::json;
//!
//! // Microsoft Entra ID writes `Replace`, booleans as strings, and paths with a filter.
//! let body = json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [
//!         {"op": "Replace", "path": "active", "value": "False"},
//!         {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@example.com"}
//!     ]
//! });
//! let patch = PatchRequest::parse(&body, &PatchLimits::default()).unwrap();
//! let mut user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!                       "id": "1", "userName": "bjensen", "active": true});
//! assert!(patch.apply(&mut user, ResourceSchema::user()).unwrap());
//! assert_eq!(user["active"], false);
//! assert_eq!(user["emails"], json!([{"type": "work", "value": "b@example.com"}]));
//! ```
//!
//! # Semantics
//! Operations apply in order, all or nothing: [`PatchRequest::apply`]
//! changes the resource only when every operation succeeded.
//! - `add`: to a multi-valued attribute appends the values not already
//!   there (a complex value is there when one with the same `value` and
//!   `type` is); to a complex attribute merges its sub-attributes; to
//!   anything else sets it. Without `path`, `value` is an object whose
//!   members are added one by one.
//! - `replace`: sets the attribute (a multi-valued one loses its other
//!   values; a complex one keeps the sub-attributes not given); with a
//!   value filter replaces the matching values, or the sub-attribute of the
//!   matching values. Without `path`, `value` is an object whose members
//!   are replaced one by one. A `null` value removes the attribute.
//! - `remove`: removes the attribute, the sub-attribute, or with a value
//!   filter the matching values (their sub-attribute, with `].sub`). A
//!   filter matching nothing changes nothing. Without `path`: `noTarget`.
//! - `readOnly` attributes (`id`, `meta`, a User's `groups`) are refused
//!   with `mutability`, and so is changing an `immutable` one that has a
//!   value. Removing a `required` attribute is `invalidValue`.
//! - A value whose `primary` is true makes the other values of its
//!   attribute non-primary.
//! - Attributes the schema does not define are `invalidPath`.
//!
//! # What providers actually send
//! - `op` in any case (`Replace`, `ADD`); a `path` of `""` counts as absent.
//! - Values are converted to the attribute's type where the intent is
//!   plain: `"True"`/`"False"` to booleans, numeric strings to numbers, a
//!   bare string for a complex attribute to `{"value": ...}` (Entra's
//!   `manager`).
//! - Without `path`, members of `value` may be paths themselves
//!   (`"name.givenName"`, `"urn:...:enterprise:2.0:User:department"`), or
//!   an extension URN holding an object.
//! - A value filter of `eq` conditions joined by `and` that matches nothing
//!   creates the value on `add` and `replace` (Entra's
//!   `emails[type eq "work"].value` for a user with no work email).
//! - `remove` on a multi-valued attribute with a `value` array removes
//!   those values only (Entra's `members` removal), not the whole attribute.
//! - In a path-less `add`/`replace`, a `readOnly` attribute whose value is
//!   unchanged (Okta resends `id`) is ignored.

mod apply;
mod members;

use std::fmt;

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::parser::{Parser, split_attr_path};
use crate::filter::{AttrPath, Filter, FilterError, FilterLimits};
use crate::urn;

pub use members::MembersDelta;

/// A PATCH operation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `replace`.
    Replace,
}

impl PatchOpKind {
    /// The kind for an `op` value, ignoring case.
    pub fn parse(op: &str) -> Option<Self> {
        if op.eq_ignore_ascii_case("add") {
            Some(Self::Add)
        } else if op.eq_ignore_ascii_case("remove") {
            Some(Self::Remove)
        } else if op.eq_ignore_ascii_case("replace") {
            Some(Self::Replace)
        } else {
            None
        }
    }

    /// `add`, `remove` or `replace`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        }
    }
}

/// A PATCH path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`,
/// each optionally URN-prefixed.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with its sub-attribute when there is no filter
    /// (`name.familyName`).
    pub attr: AttrPath,
    /// The value filter (`type eq "work"` in `emails[type eq "work"]`).
    pub filter: Option<Filter>,
    /// The sub-attribute after the filter (`value` in
    /// `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a path with the default [`FilterLimits`].
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        Self::parse_with_limits(input, &FilterLimits::default())
    }

    /// Parses a path with the given limits.
    pub fn parse_with_limits(input: &str, limits: &FilterLimits) -> Result<Self, FilterError> {
        let (attr, filter, sub) = Parser::new(input, limits)?.patch_path()?;
        Ok(Self { attr, filter, sub })
    }

    /// A path without filter.
    pub fn attr(attr: AttrPath) -> Self {
        Self {
            attr,
            filter: None,
            sub: None,
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// One operation of a [`PatchRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// `add`, `remove` or `replace`.
    pub kind: PatchOpKind,
    /// The target; `None` for a path-less `add`/`replace`, whose value is
    /// then an object.
    pub path: Option<PatchPath>,
    /// The value; always present for `add` and `replace`.
    pub value: Option<Value>,
}

/// Bounds on a PATCH request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchLimits {
    /// Most operations (default 1,000).
    pub max_operations: usize,
    /// Largest `value` of one operation, in bytes of JSON, approximately
    /// (default 256 KiB).
    pub max_value_bytes: usize,
    /// Limits on the value filters of paths.
    pub filter: FilterLimits,
}

impl Default for PatchLimits {
    fn default() -> Self {
        Self {
            max_operations: 1000,
            max_value_bytes: 256 * 1024,
            filter: FilterLimits::default(),
        }
    }
}

/// A parsed `PatchOp` request body.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, in order.
    pub operations: Vec<PatchOperation>,
}

/// The size of a JSON value as written, approximately, without recursion.
pub(crate) fn json_size(v: &Value) -> usize {
    let mut size = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        size = size.saturating_add(match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => {
                stack.extend(items);
                2 + items.len()
            }
            Value::Object(map) => {
                stack.extend(map.values());
                2 + map.keys().map(|k| k.len() + 4).sum::<usize>()
            }
        });
    }
    size
}

/// The member `key` of an object, matched exactly or else ignoring case.
fn member<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    crate::filter::eval::get_ci(obj, key)
}

impl PatchRequest {
    /// Parses a `PatchOp` body.
    ///
    /// Errors: not an object, `schemas` without the PatchOp URN, no
    /// `Operations` array, an operation that is not an object or whose `op`
    /// is not add/remove/replace: `invalidSyntax`; more operations than
    /// allowed: `tooMany`; a malformed `path`: `invalidPath`; `remove`
    /// without `path`: `noTarget`; `add`/`replace` without `value`, a
    /// path-less one whose `value` is not an object, a value over the size
    /// limit: `invalidValue`.
    pub fn parse(body: &Value, limits: &PatchLimits) -> Result<Self, ScimError> {
        let Some(body) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "a PatchOp request is a JSON object",
            ));
        };
        let schemas_ok = member(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(urn::PATCH_OP))
                })
            });
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{}\"]",
                urn::PATCH_OP
            )));
        }
        let Some(ops) = member(body, "Operations").and_then(Value::as_array) else {
            return Err(ScimError::invalid_syntax(
                "`Operations` must be an array of operations",
            ));
        };
        if ops.len() > limits.max_operations {
            return Err(ScimError::too_many(format!(
                "{} operations, more than the {} allowed",
                ops.len(),
                limits.max_operations
            )));
        }
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                parse_operation(op, limits).map_err(|e| ScimError {
                    detail: format!("operation {i}: {}", e.detail),
                    ..e
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { operations })
    }

    /// Parses a `PatchOp` body from bytes; JSON errors are `invalidSyntax`.
    pub fn from_slice(body: &[u8], limits: &PatchLimits) -> Result<Self, ScimError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))?;
        Self::parse(&value, limits)
    }

    /// Applies the operations to `resource` (a SCIM resource as JSON, with
    /// extension attributes under their URN), all or nothing; see the
    /// module documentation for the rules. Returns whether the resource
    /// changed.
    pub fn apply(
        &self,
        resource: &mut Value,
        schema: &crate::schema::ResourceSchema,
    ) -> Result<bool, ScimError> {
        apply::apply(self, resource, schema)
    }
}

fn parse_operation(op: &Value, limits: &PatchLimits) -> Result<PatchOperation, ScimError> {
    let Some(op) = op.as_object() else {
        return Err(ScimError::invalid_syntax("an operation is a JSON object"));
    };
    let kind = match member(op, "op") {
        Some(Value::String(s)) => PatchOpKind::parse(s).ok_or_else(|| {
            ScimError::invalid_syntax(format!("op `{s}` is not add, remove or replace"))
        })?,
        _ => {
            return Err(ScimError::invalid_syntax(
                "`op` must be add, remove or replace",
            ));
        }
    };
    let path = match member(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            PatchPath::parse_with_limits(s, &limits.filter)
                .map_err(|e| ScimError::invalid_path(format!("path `{s}`: {e}")))?,
        ),
        Some(_) => return Err(ScimError::invalid_path("`path` must be a string")),
    };
    let value = member(op, "value").cloned();
    if let Some(v) = &value {
        let size = json_size(v);
        if size > limits.max_value_bytes {
            return Err(ScimError::invalid_value(format!(
                "the value is about {size} bytes, more than the {} allowed",
                limits.max_value_bytes
            )));
        }
    }
    match (kind, &path, &value) {
        (PatchOpKind::Remove, None, _) => Err(ScimError::no_target("remove needs a path")),
        (PatchOpKind::Add | PatchOpKind::Replace, _, None) => Err(ScimError::invalid_value(
            format!("{} needs a value", kind.as_str()),
        )),
        (PatchOpKind::Add | PatchOpKind::Replace, None, Some(v)) if !v.is_object() => {
            Err(ScimError::invalid_value(format!(
                "{} without a path needs an object value",
                kind.as_str()
            )))
        }
        _ => Ok(PatchOperation { kind, path, value }),
    }
}

/// Parses a member name of a path-less value: an attribute path, made
/// relative to `urn` when given.
fn member_path(key: &str, urn: Option<&str>) -> Result<AttrPath, ScimError> {
    let mut path = split_attr_path(key)
        .map_err(|reason| ScimError::invalid_path(format!("`{key}`: {reason}")))?;
    if path.urn.is_none() {
        path.urn = urn.map(str::to_owned);
    }
    Ok(path)
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
