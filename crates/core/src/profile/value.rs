//! The values of profile fields: each kind's check and normal form.
//!
//! A value normalises to `None` (absent: `null`, a string that trims to
//! nothing, an empty array or address) or to the form stored: strings
//! trimmed, phone numbers as `+` and digits, URLs serialised, email domains
//! lower-cased.

use regex::Regex;
use serde_json::{Map, Value};

use super::check::is_forbidden_char;
use super::schema::{CompiledField, DEFAULT_STRING_LEN, FieldKind, MAX_OPTION_LEN};
use crate::error::FieldError;
use crate::model::Email;

/// The most characters of a URL.
pub const MAX_URL_LEN: usize = 2048;
/// The most characters of a phone number as typed (with separators).
pub const MAX_PHONE_INPUT_LEN: usize = 32;
/// The most characters of one part of an address.
pub const MAX_ADDRESS_PART_LEN: usize = 255;
/// The most characters of an address's `formatted` part.
pub const MAX_ADDRESS_FORMATTED_LEN: usize = 1024;
/// The parts of an address (OpenID Connect Core 5.1.1).
pub const ADDRESS_PARTS: [&str; 6] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

type Checked = Result<Option<Value>, Vec<FieldError>>;

fn fail(path: &str, reason: impl Into<String>) -> Checked {
    Err(vec![FieldError::new(path, reason)])
}

/// Normalises `value` for `field`, naming errors after `field`'s name
/// (items as `name[i]`, address parts as `name.part`).
pub(super) fn normalise(cf: &CompiledField, value: &Value) -> Checked {
    let field = &cf.field;
    let name = field.name.as_str();
    if value.is_null() {
        return Ok(None);
    }
    if !field.multivalued {
        if value.is_array() {
            return fail(name, "must be a single value, not a list");
        }
        return item(&field.kind, cf.pattern.as_ref(), name, value);
    }
    let Value::Array(items) = value else {
        return fail(name, "must be a list");
    };
    let limit = field.item_limit();
    if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        return fail(name, format!("must hold at most {limit} values"));
    }
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let path = format!("{name}[{i}]");
        match item(&field.kind, cf.pattern.as_ref(), &path, v) {
            Ok(Some(v)) if out.contains(&v) => {
                errors.push(FieldError::new(path, "is listed twice"));
            }
            Ok(Some(v)) => out.push(v),
            Ok(None) => errors.push(FieldError::new(path, "must not be empty")),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        Err(errors)
    } else if out.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Value::Array(out)))
    }
}

/// Trims a string value and checks its length and characters. `None` for
/// a string of white space only.
fn text(v: &Value, max: usize, multiline: bool) -> Result<Option<String>, String> {
    let Value::String(s) = v else {
        return Err("must be a string".to_owned());
    };
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let s = if multiline {
        trimmed.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        trimmed.to_owned()
    };
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars()
        .any(|c| is_forbidden_char(c) && !(multiline && c == '\n'))
    {
        return Err("must not contain control characters".to_owned());
    }
    Ok(Some(s))
}

fn item(kind: &FieldKind, pattern: Option<&Regex>, path: &str, v: &Value) -> Checked {
    if v.is_null() {
        return Ok(None);
    }
    let as_text = |max: usize| text(v, max, false).map_err(|r| vec![FieldError::new(path, r)]);
    match kind {
        FieldKind::String {
            min_length,
            max_length,
            ..
        } => {
            let max = max_length.unwrap_or(DEFAULT_STRING_LEN);
            let Some(s) = as_text(usize::try_from(max).unwrap_or(usize::MAX))? else {
                return Ok(None);
            };
            if let Some(min) = min_length
                && s.chars().count() < usize::try_from(*min).unwrap_or(usize::MAX)
            {
                return fail(path, format!("must be at least {min} characters"));
            }
            if pattern.is_some_and(|re| !re.is_match(&s)) {
                return fail(path, "does not match the required pattern");
            }
            Ok(Some(Value::String(s)))
        }
        FieldKind::Number { min, max } => {
            let Some(n) = v.as_number().and_then(serde_json::Number::as_f64) else {
                return fail(path, "must be a number");
            };
            if min.is_some_and(|min| n < min) || max.is_some_and(|max| n > max) {
                return fail(path, range_reason(*min, *max));
            }
            Ok(Some(v.clone()))
        }
        FieldKind::Integer { min, max } => {
            let Some(n) = v.as_i64() else {
                return fail(path, "must be an integer");
            };
            if min.is_some_and(|min| n < min) || max.is_some_and(|max| n > max) {
                return fail(path, range_reason(*min, *max));
            }
            Ok(Some(Value::from(n)))
        }
        FieldKind::Date => {
            let Some(s) = as_text(10)? else {
                return Ok(None);
            };
            if !is_date(&s) {
                return fail(path, "must be a calendar date, YYYY-MM-DD");
            }
            Ok(Some(Value::String(s)))
        }
        FieldKind::Boolean => match v {
            Value::Bool(_) => Ok(Some(v.clone())),
            _ => fail(path, "must be true or false"),
        },
        FieldKind::OneOf { options } => {
            let Some(s) = as_text(MAX_OPTION_LEN)? else {
                return Ok(None);
            };
            if !options.contains(&s) {
                return fail(path, "must be one of the listed options");
            }
            Ok(Some(Value::String(s)))
        }
        FieldKind::Url => {
            let Some(s) = as_text(MAX_URL_LEN)? else {
                return Ok(None);
            };
            match check_url(&s) {
                Ok(url) => Ok(Some(Value::String(url))),
                Err(reason) => fail(path, reason),
            }
        }
        FieldKind::Phone => {
            let Some(s) = as_text(MAX_PHONE_INPUT_LEN)? else {
                return Ok(None);
            };
            match phone(&s) {
                Some(p) => Ok(Some(Value::String(p))),
                None => fail(
                    path,
                    "must be a phone number in international form: + then 8 to 15 digits",
                ),
            }
        }
        FieldKind::Email => {
            let Some(s) = as_text(254)? else {
                return Ok(None);
            };
            match Email::parse(&s) {
                Ok(e) => Ok(Some(Value::String(e.as_str().to_owned()))),
                Err(e) => fail(path, e.reason),
            }
        }
        FieldKind::Address => address(path, v),
    }
}

fn range_reason<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("must be between {min} and {max}"),
        (Some(min), None) => format!("must be at least {min}"),
        (None, Some(max)) => format!("must be at most {max}"),
        (None, None) => "is out of range".to_owned(),
    }
}

/// `YYYY-MM-DD`, a real calendar date (leap years included).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u16>().ok())
    };
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(u8::try_from(m).unwrap_or(0)) else {
        return false;
    };
    let day = u8::try_from(d).unwrap_or(0);
    time::Date::from_calendar_date(i32::from(y), month, day).is_ok()
}

/// An absolute http(s) URL with a host and no credentials, serialised.
fn check_url(s: &str) -> Result<String, &'static str> {
    let url = url::Url::parse(s).map_err(|_| "must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials");
    }
    let out = url.to_string();
    if out.chars().count() > MAX_URL_LEN {
        return Err("is too long");
    }
    Ok(out)
}

/// E.164: `+`, then 8 to 15 digits, the first not 0; spaces, dots, dashes
/// and parentheses after the `+` are dropped.
fn phone(s: &str) -> Option<String> {
    let rest = s.strip_prefix('+')?;
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return None,
        }
    }
    let ok = (8..=15).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

fn address(path: &str, v: &Value) -> Checked {
    let Value::Object(parts) = v else {
        return fail(
            path,
            "must be an object of formatted, street_address, locality, region, postal_code and country",
        );
    };
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (key, part) in parts {
        let at = format!("{path}.{}", bounded(key));
        if !ADDRESS_PARTS.contains(&key.as_str()) {
            errors.push(FieldError::new(at, "is not a part of an address"));
            continue;
        }
        if part.is_null() {
            continue;
        }
        let multiline = matches!(key.as_str(), "formatted" | "street_address");
        let max = if key == "formatted" {
            MAX_ADDRESS_FORMATTED_LEN
        } else {
            MAX_ADDRESS_PART_LEN
        };
        match text(part, max, multiline) {
            Ok(Some(s)) => {
                out.insert(key.clone(), Value::String(s));
            }
            Ok(None) => {}
            Err(reason) => errors.push(FieldError::new(at, reason)),
        }
    }
    if !errors.is_empty() {
        Err(errors)
    } else if out.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Value::Object(out)))
    }
}

/// A name from the input, cut to 64 characters for an error's path.
pub(super) fn bounded(name: &str) -> String {
    if name.chars().count() <= 64 {
        name.to_owned()
    } else {
        let mut s: String = name.chars().take(64).collect();
        s.push('…');
        s
    }
}
