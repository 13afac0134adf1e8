//! The checks of a declared schema: names, kinds and their limits,
//! audiences, claims and scopes, labels; patterns compiled under size
//! limits. [`ProfileSchema::compile`] runs them all and names every
//! problem.

use std::collections::{BTreeMap, BTreeSet};

use regex::{Regex, RegexBuilder};

use super::schema::{
    Audience, ClaimScope, CompiledField, CompiledSchema, DEFAULT_STRING_LEN, FieldKind,
    MAX_CLAIM_LEN, MAX_DISPLAY_NAME_LEN, MAX_FIELDS, MAX_HELP_LEN, MAX_ITEMS, MAX_NAME_LEN,
    MAX_OPTION_LEN, MAX_OPTIONS, MAX_PATTERN_LEN, MAX_SCOPE_LEN, MAX_STRING_LEN, PATTERN_DFA_LIMIT,
    PATTERN_NEST_LIMIT, PATTERN_SIZE_LIMIT, ProfileSchema, built_ins, is_built_in, is_reserved,
};
use crate::error::{Error, FieldError};

/// Compiles `pattern`, anchored, within the size limits.
pub(super) fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    if pattern.chars().count() > MAX_PATTERN_LEN {
        return Err(format!("must be at most {MAX_PATTERN_LEN} characters"));
    }
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_DFA_LIMIT)
        .nest_limit(PATTERN_NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                "is too complex (its compiled form exceeds the size limit)".to_owned()
            }
            // The syntax error's text names the problem and where; the
            // pattern is the administrator's own.
            regex::Error::Syntax(s) => format!("is not a valid regular expression: {s}"),
            _ => "is not a valid regular expression".to_owned(),
        })
}

/// Whether `c` is refused in text: control characters, bidirectional
/// overrides and isolates (text spoofing), line and paragraph separators.
pub(super) fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err("must be 1 to 64 characters");
    }
    if !starts_with_letter
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err("must start with a-z and hold only a-z, 0-9 and '_'");
    }
    Ok(())
}

fn check_claim_name(claim: &str) -> Result<(), &'static str> {
    if claim.is_empty() || claim.len() > MAX_CLAIM_LEN {
        return Err("must be 1 to 128 characters");
    }
    let starts_with_letter = claim
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter
        || !claim
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
    {
        return Err(
            "must start with a letter and hold only A-Z, a-z, 0-9, '_', '-', '.', ':' and '/'",
        );
    }
    if is_reserved(claim) {
        return Err("is a claim Portcullis sets itself");
    }
    Ok(())
}

fn check_scope(scope: &ClaimScope) -> Result<(), &'static str> {
    let ClaimScope::Custom(s) = scope else {
        return Ok(());
    };
    let starts_with_letter = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if s.is_empty() || s.len() > MAX_SCOPE_LEN || !starts_with_letter {
        return Err("must be 1 to 64 characters, starting with a letter");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err("may hold only A-Z, a-z, 0-9, '_', '-', '.' and ':'");
    }
    if matches!(s.as_str(), "openid" | "offline_access") {
        return Err("is a protocol scope that releases no profile claim");
    }
    Ok(())
}

fn check_label(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(is_forbidden_char) {
        return Err("must not contain control characters".to_owned());
    }
    crate::text::plain("", value).map_err(|e| e.reason)
}

impl ProfileSchema {
    /// Checks the schema whole and compiles its patterns. Every problem is
    /// named, in one [`Error::Validation`], with paths such as
    /// `fields[2].name` or `fields[4].kind.pattern`.
    pub fn compile(&self) -> Result<CompiledSchema, Error> {
        let mut errors = Vec::new();
        if self.fields.len() > MAX_FIELDS {
            errors.push(FieldError::new(
                "fields",
                format!("must hold at most {MAX_FIELDS} fields"),
            ));
        }
        let mut fields: BTreeMap<String, CompiledField> = BTreeMap::new();
        let mut claims: BTreeMap<&str, usize> = BTreeMap::new();
        for (n, field) in self.fields.iter().enumerate().take(MAX_FIELDS) {
            let at = |attr: &str| format!("fields[{n}].{attr}");
            let err = |errors: &mut Vec<FieldError>, attr: &str, reason: String| {
                errors.push(FieldError::new(at(attr), reason));
            };
            let built_in = built_ins().into_iter().find(|b| b.name == field.name);
            if let Err(reason) = check_name(&field.name) {
                err(&mut errors, "name", reason.to_owned());
            } else if built_in.is_none() && is_reserved(&field.name) {
                err(&mut errors, "name", "is a reserved claim name".to_owned());
            } else if fields.contains_key(&field.name) {
                err(&mut errors, "name", "is declared twice".to_owned());
            }
            let pattern = kind_errors(&field.kind, &at("kind"), &mut errors);
            if let Some(b) = &built_in {
                if field.kind.type_name() != b.kind {
                    err(
                        &mut errors,
                        "kind.type",
                        format!("must be {} for the built-in field {}", b.kind, b.name),
                    );
                }
                if field.claim.as_deref().is_some_and(|c| c != b.name) {
                    err(
                        &mut errors,
                        "claim",
                        format!("must be {} (or unset) for a built-in field", b.name),
                    );
                }
                if field.claim_scope.as_ref().is_some_and(|s| *s != b.scope) {
                    err(
                        &mut errors,
                        "claim_scope",
                        format!(
                            "must be {} for the built-in field {}",
                            b.scope.as_str(),
                            b.name
                        ),
                    );
                }
            } else if let Some(claim) = &field.claim {
                if let Err(reason) = check_claim_name(claim) {
                    err(&mut errors, "claim", reason.to_owned());
                } else if is_built_in(claim) {
                    err(
                        &mut errors,
                        "claim",
                        "is the claim of a built-in field".to_owned(),
                    );
                }
            }
            match (&field.claim, &field.claim_scope) {
                (Some(claim), scope) => {
                    if let Some(first) = claims.insert(claim, n) {
                        err(
                            &mut errors,
                            "claim",
                            format!("is already the claim of fields[{first}]"),
                        );
                    }
                    match scope {
                        None if built_in.is_none() => {
                            err(
                                &mut errors,
                                "claim_scope",
                                "is required with a claim".to_owned(),
                            );
                        }
                        Some(scope) => {
                            if let Err(reason) = check_scope(scope) {
                                err(&mut errors, "claim_scope", reason.to_owned());
                            }
                        }
                        None => {}
                    }
                    if !field.readable_by.contains(&Audience::User) {
                        err(
                            &mut errors,
                            "claim",
                            "needs a field the user can read: tokens show their claims to their holder"
                                .to_owned(),
                        );
                    }
                }
                (None, Some(_)) => {
                    err(
                        &mut errors,
                        "claim_scope",
                        "is set without a claim".to_owned(),
                    );
                }
                (None, None) => {}
            }
            if !field.editable_by.is_subset(&field.readable_by) {
                err(
                    &mut errors,
                    "editable_by",
                    "may name only audiences in readable_by".to_owned(),
                );
            }
            if field.required && field.editable_by.is_empty() {
                err(
                    &mut errors,
                    "required",
                    "a required field must be editable by someone".to_owned(),
                );
            }
            if field.multivalued {
                match field.max_items {
                    Some(0) => err(&mut errors, "max_items", "must be at least 1".to_owned()),
                    Some(m) if m > MAX_ITEMS => err(
                        &mut errors,
                        "max_items",
                        format!("must be at most {MAX_ITEMS}"),
                    ),
                    _ => {}
                }
                if matches!(field.kind, FieldKind::Boolean) {
                    err(
                        &mut errors,
                        "multivalued",
                        "a boolean cannot be multivalued".to_owned(),
                    );
                }
                if built_in.is_some() {
                    err(
                        &mut errors,
                        "multivalued",
                        "a built-in field holds one value".to_owned(),
                    );
                }
            } else if field.max_items.is_some() {
                err(
                    &mut errors,
                    "max_items",
                    "applies only to multivalued fields".to_owned(),
                );
            }
            if let Some(label) = &field.display_name
                && let Err(reason) = check_label(label, MAX_DISPLAY_NAME_LEN)
            {
                err(&mut errors, "display_name", reason);
            }
            if let Some(help) = &field.help_text
                && let Err(reason) = check_label(help, MAX_HELP_LEN)
            {
                err(&mut errors, "help_text", reason);
            }
            let scope = field.claim.as_ref().and_then(|_| {
                field
                    .claim_scope
                    .clone()
                    .or_else(|| built_in.as_ref().map(|b| b.scope.clone()))
            });
            fields.entry(field.name.clone()).or_insert(CompiledField {
                field: field.clone(),
                pattern,
                scope,
            });
        }
        if errors.is_empty() {
            Ok(CompiledSchema {
                schema: self.clone(),
                fields,
            })
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// Checks a kind's limits; returns its compiled pattern.
fn kind_errors(kind: &FieldKind, at: &str, errors: &mut Vec<FieldError>) -> Option<Regex> {
    let mut err = |attr: &str, reason: String| {
        errors.push(FieldError::new(format!("{at}.{attr}"), reason));
    };
    match kind {
        FieldKind::String {
            min_length,
            max_length,
            pattern,
        } => {
            let max = max_length.unwrap_or(DEFAULT_STRING_LEN);
            if *max_length == Some(0) || max > MAX_STRING_LEN {
                err("max_length", format!("must be 1 to {MAX_STRING_LEN}"));
            }
            if min_length.is_some_and(|min| min > max) {
                err("min_length", "must not exceed max_length".to_owned());
            }
            match pattern.as_deref().map(compile_pattern) {
                Some(Ok(re)) => return Some(re),
                Some(Err(reason)) => err("pattern", reason),
                None => {}
            }
        }
        FieldKind::Number { min, max } => {
            if min.is_some_and(|v| !v.is_finite()) {
                err("min", "must be a finite number".to_owned());
            }
            if max.is_some_and(|v| !v.is_finite()) {
                err("max", "must be a finite number".to_owned());
            }
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                err("min", "must not exceed max".to_owned());
            }
        }
        FieldKind::Integer { min, max } => {
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                err("min", "must not exceed max".to_owned());
            }
        }
        FieldKind::OneOf { options } => {
            if options.is_empty() || options.len() > MAX_OPTIONS {
                err("options", format!("must hold 1 to {MAX_OPTIONS} options"));
            }
            let mut seen = BTreeSet::new();
            for (i, option) in options.iter().enumerate().take(MAX_OPTIONS) {
                let reason = if option.is_empty() || option.chars().count() > MAX_OPTION_LEN {
                    Some(format!("must be 1 to {MAX_OPTION_LEN} characters"))
                } else if option.trim() != option {
                    Some("must not start or end with white space".to_owned())
                } else if option.chars().any(is_forbidden_char) {
                    Some("must not contain control characters".to_owned())
                } else if !seen.insert(option) {
                    Some("is listed twice".to_owned())
                } else {
                    None
                };
                if let Some(reason) = reason {
                    err(&format!("options[{i}]"), reason);
                }
            }
        }
        FieldKind::Date
        | FieldKind::Boolean
        | FieldKind::Url
        | FieldKind::Phone
        | FieldKind::Email
        | FieldKind::Address => {}
    }
    None
}
