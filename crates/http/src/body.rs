//! JSON request bodies, and the one answer to a body of the wrong shape.
//!
//! A body that is not JSON at all is a 415 (no JSON content type), a 400
//! `malformed-json` (a syntax error) or a 413 (over the limit). A body that is
//! JSON but does not fit the request type answers 422 `validation-error`
//! with one entry per wrong field, named by its JSON path (`email`,
//! `mappers[0].role`, `address.city`): a missing field, a value of the wrong
//! type, an unknown field (request types deny unknown fields) alike.
//!
//! serde stops at the first error, so the fields are found by asking serde
//! again: the body is parsed into a [`Value`], and each error serde reports
//! is recorded and then repaired in that value (an unknown field removed, a
//! wrong or missing value replaced by a stand-in serde accepts), until the
//! value deserializes or a budget runs out. serde stays the one judge of what
//! a request type accepts (aliases, defaults, tagged enums, custom
//! deserializers), and the good path parses once, as before.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use portcullis_core::{Error, FieldError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON body. Rejections are problems: 415 without a JSON content type, 400
/// for malformed JSON, 422 naming every wrong field for well-formed JSON of
/// the wrong shape, 413 when the body is over the limit.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        parse(&body).map(Json)
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`;
/// anything else is read as [`Json`] reads it.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0")
            || (!req.headers().contains_key(header::CONTENT_LENGTH)
                && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(OptionalJson(T::default()));
        }
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(OptionalJson(v))
    }
}

/// `application/json` or `application/*+json`, as axum's own extractor accepts.
pub(crate) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

fn bytes_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the body exceeds {} bytes", crate::MAX_BODY_BYTES),
        )
    } else {
        ApiError::new(e.status(), "bad-request", "the body could not be read")
    }
}

/// Reads `T` from a JSON body, or the problem that says what is wrong with it.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every request body of the API is an object; serde would read some
    // structs from an array too.
    let opening = body.iter().find(|b| !b.is_ascii_whitespace());
    if opening != Some(&b'{') {
        let value = serde_json::from_slice::<Value>(body).map_err(|e| malformed(&e))?;
        let found = match value {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::Object(_) => "an object",
        };
        return Err(Error::Validation(vec![FieldError::new(
            "",
            format!("must be an object, not {found}"),
        )])
        .into());
    }
    let first = match serde_json::from_slice::<T>(body) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if first.is_syntax() || first.is_eof() || first.is_io() {
        return Err(malformed(&first));
    }
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(e) => return Err(malformed(&e)),
    };
    // Each attempt walks the whole body: fewer for a large one.
    let budget = if body.len() > 64 * 1024 { 16 } else { 256 };
    let mut errors = field_errors::<T>(value, budget);
    if errors.is_empty() {
        // serde judged the text and its value differently: report what the
        // text's parser said.
        let path = serde_path_to_error::deserialize::<_, T>(
            &mut serde_json::Deserializer::from_slice(body),
        )
        .err()
        .map(|e| segments(e.path()))
        .unwrap_or_default();
        let fault = Fault::of(path, &strip_position(&first.to_string()));
        errors.push(fault.problem(&Value::Null));
    }
    Err(Error::Validation(errors).into())
}

fn malformed(e: &serde_json::Error) -> ApiError {
    let reason = match e.classify() {
        serde_json::error::Category::Eof => "the body ended early".to_owned(),
        _ => format!(
            "{} (line {}, column {})",
            strip_position(&e.to_string()),
            e.line(),
            e.column()
        ),
    };
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed-json",
        format!("the body is not valid JSON: {reason}"),
    )
}

/// serde_json's message without its " at line 1 column 23".
fn strip_position(msg: &str) -> String {
    match msg.rsplit_once(" at line ") {
        Some((head, tail)) if tail.contains(" column ") => head.to_owned(),
        _ => msg.to_owned(),
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A JSON path as the API names fields: `mappers[0].role`.
fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// What serde found wrong.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Missing,
    Unknown,
    WrongType { expected: String, found: String },
    WrongValue { expected: String },
    NotAVariant { variants: Vec<String> },
    Other(String),
}

/// One error serde reported, where it is.
#[derive(Debug, Clone, PartialEq)]
struct Fault {
    at: Vec<Seg>,
    kind: Kind,
}

/// The words between the first pair of backticks of `s`, and what follows.
fn backticked(s: &str) -> Option<(&str, &str)> {
    let (_, rest) = s.split_once('`')?;
    rest.split_once('`')
}

fn all_backticked(mut s: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((word, rest)) = backticked(s) {
        out.push(word.to_owned());
        s = rest;
    }
    out
}

impl Fault {
    /// Reads serde's message about the value at `path`.
    fn of(mut path: Vec<Seg>, msg: &str) -> Self {
        let kind = if let Some(rest) = msg.strip_prefix("missing field ") {
            if let Some((name, _)) = backticked(rest) {
                path.push(Seg::Key(name.to_owned()));
            }
            Kind::Missing
        } else if let Some(rest) = msg.strip_prefix("unknown field ") {
            if let Some((name, _)) = backticked(rest)
                && path.last() != Some(&Seg::Key(name.to_owned()))
            {
                path.push(Seg::Key(name.to_owned()));
            }
            Kind::Unknown
        } else if let Some(rest) = msg.strip_prefix("invalid type: ") {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
            Kind::WrongType {
                expected: expected.to_owned(),
                found: found.to_owned(),
            }
        } else if let Some(rest) = msg
            .strip_prefix("invalid value: ")
            .or_else(|| msg.strip_prefix("invalid length "))
        {
            let expected = rest.split_once(", expected ").map_or("?", |(_, e)| e);
            Kind::WrongValue {
                expected: expected.to_owned(),
            }
        } else if let Some(rest) = msg.strip_prefix("unknown variant ") {
            let variants = match rest.split_once(", expected ") {
                Some((_, list)) => all_backticked(list),
                None => Vec::new(),
            };
            Kind::NotAVariant { variants }
        } else {
            Kind::Other(strip_position(msg))
        };
        Fault { at: path, kind }
    }

    /// The entry of the problem's `errors` array; `body` is the value the
    /// fault was found in.
    fn problem(&self, body: &Value) -> FieldError {
        let reason = match &self.kind {
            Kind::Missing => "is required".to_owned(),
            Kind::Unknown => "is not a known field".to_owned(),
            // serde reads some objects (tagged enums) whole, and then names
            // the object rather than its member.
            Kind::WrongType { expected, found }
                if get(body, &self.at).is_some_and(|v| v.is_object())
                    && found_kind(found) != "an object" =>
            {
                format!(
                    "has a member that must be {}, not {}",
                    expectation(expected),
                    found_kind(found)
                )
            }
            Kind::WrongType { expected, found } => {
                format!(
                    "must be {}, not {}",
                    expectation(expected),
                    found_kind(found)
                )
            }
            Kind::WrongValue { expected } => format!("must be {}", expectation(expected)),
            Kind::NotAVariant { variants } if !variants.is_empty() => {
                format!("must be one of: {}", variants.join(", "))
            }
            Kind::NotAVariant { .. } => "is not one of the accepted values".to_owned(),
            Kind::Other(msg) => msg.clone(),
        };
        FieldError::new(path_text(&self.at), reason)
    }
}

/// serde's "expected ..." in plain words.
fn expectation(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            "a whole number of zero or more".to_owned()
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" | "a sequence of items" => "an array".to_owned(),
        "a map" | "map" => "an object".to_owned(),
        "a borrowed string" | "a string" | "a str" | "a character" | "char" => {
            "a string".to_owned()
        }
        "a boolean" | "bool" => "a boolean".to_owned(),
        _ if e.starts_with("struct ")
            || e.starts_with("internally tagged enum")
            || e.starts_with("adjacently tagged enum") =>
        {
            "an object".to_owned()
        }
        _ if e.starts_with("tuple struct ") || e.starts_with("a tuple") => "an array".to_owned(),
        _ => e.to_owned(),
    }
}

/// serde's "invalid type: string \"secret\"" as a kind only: values are not
/// echoed (they may be passwords).
fn found_kind(found: &str) -> &'static str {
    let word = found.split([' ', '`', '"']).next().unwrap_or("");
    match word {
        "string" | "character" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        "map" => "an object",
        "sequence" => "an array",
        "null" | "unit" | "Option" => "null",
        _ => "a value of another type",
    }
}

/// serde's first complaint about `value` as a `T`, if any.
fn first_fault<T: DeserializeOwned>(value: &Value) -> Option<Fault> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => None,
        Err(e) => {
            let path = segments(e.path());
            Some(Fault::of(path, &e.inner().to_string()))
        }
    }
}

/// Every wrong field of `value` as a `T`, as far as `budget` attempts go.
fn field_errors<T: DeserializeOwned>(mut value: Value, mut budget: usize) -> Vec<FieldError> {
    const MAX_ERRORS: usize = 50;
    let mut errors = Vec::new();
    let mut reported: Vec<Vec<Seg>> = Vec::new();
    let Some(mut fault) = first_fault::<T>(&value) else {
        return errors;
    };
    loop {
        // What is inside a field already reported (the members of an
        // object that was missing) is not reported again.
        if !reported.iter().any(|r| fault.at.starts_with(r)) {
            errors.push(fault.problem(&value));
            reported.push(fault.at.clone());
            // A wrong or missing tag of a tagged enum: the members that
            // depend on it are not judged.
            if matches!(fault.kind, Kind::Missing | Kind::NotAVariant { .. })
                && let Some((_, parent)) = fault.at.split_last()
                && is_tagged_enum::<T>(&value, parent, &mut budget)
            {
                reported.push(parent.to_vec());
            }
            if errors.len() >= MAX_ERRORS {
                break;
            }
        }
        match repair::<T>(&mut value, &fault, &mut budget) {
            Some(Some(next)) => fault = next,
            Some(None) | None => break,
        }
    }
    errors
}

/// Whether serde reads the value at `at` as a tagged enum (one attempt).
fn is_tagged_enum<T: DeserializeOwned>(value: &Value, at: &[Seg], budget: &mut usize) -> bool {
    let Some(left) = budget.checked_sub(1) else {
        return false;
    };
    *budget = left;
    let mut probe = value.clone();
    let probe_at = if at.is_empty() {
        probe = Value::Bool(false);
        true
    } else {
        put(&mut probe, at, Value::Bool(false))
    };
    probe_at
        && matches!(
            first_fault::<T>(&probe),
            Some(Fault { at: ref where_, kind: Kind::WrongType { ref expected, .. } })
                if where_ == at && expected.contains("tagged enum")
        )
}

/// The parent object of `at` and the key `at` names in it.
fn slot<'v, 'a>(value: &'v mut Value, at: &'a [Seg]) -> Option<(&'v mut Value, &'a Seg)> {
    let (last, parent) = at.split_last()?;
    let mut cur = value;
    for seg in parent {
        cur = match seg {
            Seg::Key(k) => cur.as_object_mut()?.get_mut(k)?,
            Seg::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some((cur, last))
}

/// The value at `at`.
fn get<'v>(value: &'v Value, at: &[Seg]) -> Option<&'v Value> {
    at.iter().try_fold(value, |cur, seg| match seg {
        Seg::Key(k) => cur.as_object()?.get(k),
        Seg::Index(i) => cur.as_array()?.get(*i),
    })
}

fn put(value: &mut Value, at: &[Seg], v: Value) -> bool {
    let Some((parent, last)) = slot(value, at) else {
        return false;
    };
    if matches!(last, Seg::Key(_)) && !parent.is_object() {
        // A struct sent as an array, as serde allows: go on as an object.
        *parent = Value::Object(Default::default());
    }
    match (parent, last) {
        (Value::Object(m), Seg::Key(k)) => {
            m.insert(k.clone(), v);
            true
        }
        (Value::Array(a), Seg::Index(i)) => match a.get_mut(*i) {
            Some(slot) => {
                *slot = v;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Fixes `fault` in `value` so serde can go on: `Some(next)` with the next
/// fault (`None` once `value` deserializes), or `None` when it cannot be
/// fixed or the budget is spent.
fn repair<T: DeserializeOwned>(
    value: &mut Value,
    fault: &Fault,
    budget: &mut usize,
) -> Option<Option<Fault>> {
    let mut attempt = |value: &Value| -> Option<Option<Fault>> {
        *budget = budget.checked_sub(1)?;
        Some(first_fault::<T>(value))
    };
    if fault.kind == Kind::Unknown {
        let (parent, Seg::Key(k)) = slot(value, &fault.at)? else {
            return None;
        };
        parent.as_object_mut()?.remove(k)?;
        return attempt(value);
    }
    // The body itself of the wrong kind has no parent: nothing inside it
    // can be judged.
    let (_, parent) = fault.at.split_last()?;
    let mut candidates: Vec<Value> = Vec::new();
    if let Kind::NotAVariant { variants } = &fault.kind {
        candidates.extend(variants.first().map(|v| Value::String(v.clone())));
    }
    candidates.extend([
        Value::String(String::new()),
        Value::from(0),
        Value::Bool(false),
        Value::Object(Default::default()),
        Value::Array(Vec::new()),
        Value::Null,
    ]);
    let mut tried_variants = false;
    let mut i = 0;
    while let Some(candidate) = candidates.get(i).cloned() {
        i += 1;
        if !put(value, &fault.at, candidate) {
            return None;
        }
        let next = attempt(value)?;
        let Some(next) = next else {
            return Some(None);
        };
        let blames_candidate = next.at == fault.at || next.at == parent;
        if !blames_candidate {
            return Some(Some(next));
        }
        // A tag of an internally tagged enum: try the first variant serde offers.
        if let Kind::NotAVariant { variants } = &next.kind
            && !tried_variants
            && let Some(v) = variants.first()
        {
            tried_variants = true;
            candidates.insert(i, Value::String(v.clone()));
        }
    }
    None
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
