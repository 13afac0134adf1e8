//! Parsing of admin input into engine types: names, references by id or
//! name, permissions, validity windows. Errors are 400s naming the field.

use portcullis_policy::Permission;
use portcullis_policy::model::Validity;
use time::OffsetDateTime;
use uuid::Uuid;

use super::View;
use crate::error::{Error, FieldError, Result};
use crate::model::micros;

/// Longest role, group or policy name.
pub(crate) const MAX_NAME: usize = 64;
/// Longest description.
pub(crate) const MAX_DESCRIPTION: usize = 1024;
/// Most permissions or included roles given in one request.
pub(crate) const MAX_LIST: usize = 1000;

/// A role, group or policy name: 1-64 characters of letters, digits and
/// `_ - . :`, starting with a letter or digit.
pub(crate) fn name(field: &str, value: &str) -> std::result::Result<String, FieldError> {
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_NAME
        && value.chars().next().is_some_and(char::is_alphanumeric)
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "must be 1-{MAX_NAME} letters, digits, '_', '-', '.' or ':', starting with a letter or digit"
            ),
        ))
    }
}

/// A policy name: 1-128 characters, no control characters, no surrounding
/// spaces (policies are named like "Business Hours Only").
pub(crate) fn policy_name(value: &str) -> std::result::Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 128 || v.chars().any(char::is_control) {
        Err(FieldError::new(
            "name",
            "must be 1-128 characters without control characters",
        ))
    } else {
        Ok(v.to_owned())
    }
}

/// An optional description, at most 1024 characters, trimmed; empty is none.
pub(crate) fn description(
    field: &str,
    value: Option<&str>,
) -> std::result::Result<Option<String>, FieldError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(FieldError::new(
            field,
            format!("must be at most {MAX_DESCRIPTION} characters"),
        )),
        Some(d) => {
            crate::text::plain(field, d)?;
            Ok(Some(d.to_owned()))
        }
    }
}

/// A permission string.
pub(crate) fn permission(field: &str, value: &str) -> std::result::Result<Permission, FieldError> {
    Permission::parse(value).map_err(|e| FieldError::new(field, e.to_string()))
}

/// A list of permission strings, deduplicated in order.
pub(crate) fn permissions(
    field: &str,
    values: &[String],
    errors: &mut Vec<FieldError>,
) -> Vec<Permission> {
    if values.len() > MAX_LIST {
        errors.push(FieldError::new(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
        return Vec::new();
    }
    let mut out: Vec<Permission> = Vec::with_capacity(values.len());
    for (n, v) in values.iter().enumerate() {
        match permission(&format!("{field}[{n}]"), v) {
            Ok(p) if !out.contains(&p) => out.push(p),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    out
}

/// A role named by id or by name.
pub(crate) fn role_ref(view: &View, value: &str) -> Option<Uuid> {
    match Uuid::parse_str(value) {
        Ok(id) if view.compiled.role(id).is_some() => Some(id),
        _ => view.compiled.role_id(value),
    }
}

/// A group named by id or by name.
pub(crate) fn group_ref(view: &View, value: &str) -> Option<Uuid> {
    match Uuid::parse_str(value) {
        Ok(id) if view.compiled.group(id).is_some() => Some(id),
        _ => view.compiled.group_id(value),
    }
}

/// A role reference in a path: 404 when unknown.
pub(crate) fn role_in_path(view: &View, value: &str) -> Result<Uuid> {
    role_ref(view, value).ok_or(Error::NotFound("role"))
}

/// A group reference in a path: 404 when unknown.
pub(crate) fn group_in_path(view: &View, value: &str) -> Result<Uuid> {
    group_ref(view, value).ok_or(Error::NotFound("group"))
}

/// A role reference in a body: 400 naming the field when unknown.
pub(crate) fn role_in_body(
    view: &View,
    field: &str,
    value: &str,
) -> std::result::Result<Uuid, FieldError> {
    role_ref(view, value).ok_or_else(|| FieldError::new(field, format!("unknown role '{value}'")))
}

/// A group reference in a body: 400 naming the field when unknown.
pub(crate) fn group_in_body(
    view: &View,
    field: &str,
    value: &str,
) -> std::result::Result<Uuid, FieldError> {
    group_ref(view, value).ok_or_else(|| FieldError::new(field, format!("unknown group '{value}'")))
}

/// A grant's validity window: `expires_at` must be in the future and after
/// `not_before`.
pub(crate) fn validity(
    not_before: Option<OffsetDateTime>,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    errors: &mut Vec<FieldError>,
) -> Validity {
    if let Some(exp) = expires_at
        && exp <= now
    {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    if let (Some(nb), Some(exp)) = (not_before, expires_at)
        && nb >= exp
    {
        errors.push(FieldError::new("not_before", "must be before expires_at"));
    }
    Validity {
        not_before: not_before.map(micros),
        expires_at: expires_at.map(micros),
    }
}

/// Turns collected field errors into a 400.
pub(crate) fn finish(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidInput(errors))
    }
}
