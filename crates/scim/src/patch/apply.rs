//! Application of PATCH operations to a JSON resource.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{PatchOpKind, PatchOperation, PatchRequest, member_path};
use crate::error::ScimError;
use crate::filter::eval::matches_element;
use crate::filter::{AttrPath, CompareOp, Filter};
use crate::schema::{AttributeDef, AttributeType, Mutability, ResourceSchema, Schema};

type Obj = Map<String, Value>;

pub(super) fn apply(
    request: &PatchRequest,
    resource: &mut Value,
    schema: &ResourceSchema,
) -> Result<bool, ScimError> {
    let Some(original) = resource.as_object() else {
        return Err(ScimError::invalid_value(
            "the resource is not a JSON object",
        ));
    };
    let mut work = original.clone();
    for (i, op) in request.operations.iter().enumerate() {
        apply_op(&mut work, op, schema).map_err(|e| ScimError {
            detail: format!("operation {i}: {}", e.detail),
            ..e
        })?;
    }
    for attr in schema.core.attributes.iter().filter(|a| a.required) {
        let before = key_ci(original, &attr.name).is_some();
        let after = key_ci(&work, &attr.name).is_some();
        if before && !after {
            return Err(ScimError::invalid_value(format!(
                "`{}` is required and cannot be removed",
                attr.name
            )));
        }
    }
    let changed = work != *original;
    if changed {
        *resource = Value::Object(work);
    }
    Ok(changed)
}

/// The key of `map` equal to `key` ignoring case (exact match first).
fn key_ci(map: &Obj, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

fn get_ci<'m>(map: &'m Obj, key: &str) -> Option<&'m Value> {
    key_ci(map, key).and_then(|k| map.get(&k))
}

fn remove_ci(map: &mut Obj, key: &str) -> Option<Value> {
    key_ci(map, key).and_then(|k| map.remove(&k))
}

/// Sets `key`, replacing a member spelled in another case.
fn put(map: &mut Obj, key: &str, value: Value) {
    remove_ci(map, key);
    map.insert(key.to_owned(), value);
}

fn apply_op(res: &mut Obj, op: &PatchOperation, schema: &ResourceSchema) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        let Some(Value::Object(values)) = &op.value else {
            return Err(ScimError::invalid_value(
                "a path-less operation needs an object value",
            ));
        };
        return apply_members(res, op.kind, values, None, schema);
    };
    let target = Target {
        attr: &path.attr,
        filter: path.filter.as_ref(),
        sub: path.sub.as_deref(),
        lenient_read_only: false,
    };
    apply_path(res, op.kind, &target, op.value.clone(), schema)
}

/// A path-less value's members, each applied as if it were a path.
fn apply_members(
    res: &mut Obj,
    kind: PatchOpKind,
    values: &Obj,
    urn: Option<&str>,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    for (key, value) in values {
        // `schemas` of the resource, or of an extension's object as some
        // clients serialize it: not an attribute.
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if urn.is_none()
            && let Some(ext) = schema.extension(key)
        {
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!(
                    "`{key}` must be an object"
                )));
            };
            let id = ext.id.clone();
            ensure_extension(res, ext);
            apply_members(res, kind, inner, Some(&id), schema)?;
            continue;
        }
        let attr = member_path(key, urn)?;
        let target = Target {
            attr: &attr,
            filter: None,
            sub: None,
            lenient_read_only: true,
        };
        apply_path(res, kind, &target, Some(value.clone()), schema)?;
    }
    Ok(())
}

struct Target<'a> {
    attr: &'a AttrPath,
    filter: Option<&'a Filter>,
    sub: Option<&'a str>,
    /// In a path-less value, an unchanged read-only attribute is ignored.
    lenient_read_only: bool,
}

/// Adds the extension's object and its URN in `schemas`.
fn ensure_extension(res: &mut Obj, ext: &Schema) {
    match key_ci(res, &ext.id) {
        Some(k) if res.get(&k).is_some_and(Value::is_object) => {}
        _ => put(res, &ext.id, Value::Object(Map::new())),
    }
    let schemas = res
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = schemas
        && !list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&ext.id)))
    {
        list.push(Value::String(ext.id.clone()));
    }
}

fn drop_extension(res: &mut Obj, ext: &Schema) {
    remove_ci(res, &ext.id);
    if let Some(Value::Array(list)) = res.get_mut("schemas") {
        list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&ext.id)));
    }
}

fn apply_path(
    res: &mut Obj,
    kind: PatchOpKind,
    t: &Target<'_>,
    value: Option<Value>,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    if t.filter.is_none()
        && t.sub.is_none()
        && let Some(ext) = schema.extension_named_by(t.attr)
    {
        return match kind {
            PatchOpKind::Remove => {
                drop_extension(res, ext);
                Ok(())
            }
            _ => match value {
                Some(Value::Object(inner)) => {
                    ensure_extension(res, ext);
                    let id = ext.id.clone();
                    apply_members(res, kind, &inner, Some(&id), schema)
                }
                Some(Value::Null) if kind == PatchOpKind::Replace => {
                    drop_extension(res, ext);
                    Ok(())
                }
                _ => Err(ScimError::invalid_value(format!(
                    "`{}` takes an object",
                    ext.id
                ))),
            },
        };
    }
    let Some((ext, def)) = schema.resolve_attribute(t.attr.urn.as_deref(), &t.attr.name) else {
        return Err(ScimError::invalid_path(format!(
            "unknown attribute `{}`",
            t.attr
        )));
    };
    let sub_name = t.attr.sub.as_deref().or(t.sub);
    let sub_def = match sub_name {
        Some(s) => Some(def.sub_attribute(s).ok_or_else(|| {
            ScimError::invalid_path(format!("`{}` has no sub-attribute `{s}`", def.name))
        })?),
        None => None,
    };
    if t.filter.is_some() && !def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "`{}` is single-valued: a value filter `[...]` does not apply",
            def.name
        )));
    }
    let read_only = def.mutability == Mutability::ReadOnly
        || sub_def.is_some_and(|s| s.mutability == Mutability::ReadOnly);
    if read_only {
        let container = match ext {
            Some(e) => get_ci(res, &e.id).and_then(Value::as_object),
            None => Some(&*res),
        };
        let current = container.and_then(|c| get_ci(c, &def.name));
        if t.lenient_read_only
            && sub_def.is_none()
            && kind != PatchOpKind::Remove
            && current == value.as_ref()
        {
            return Ok(());
        }
        let name = sub_def.map_or(def.name.clone(), |s| format!("{}.{}", def.name, s.name));
        return Err(ScimError::mutability(format!("`{name}` is read-only")));
    }
    let container: &mut Obj = match ext {
        None => res,
        Some(e) => {
            if kind == PatchOpKind::Remove && get_ci(res, &e.id).is_none() {
                return Ok(());
            }
            ensure_extension(res, e);
            match key_ci(res, &e.id).and_then(|k| res.get_mut(&k)) {
                Some(Value::Object(c)) => c,
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "`{}` must be an object",
                        e.id
                    )));
                }
            }
        }
    };
    let key = key_ci(container, &def.name).unwrap_or_else(|| def.name.clone());
    let result = match (t.filter, sub_def) {
        (Some(filter), _) => filtered(container, &key, kind, def, filter, sub_def, value),
        (None, Some(sd)) if def.multi_valued => every_value_sub(container, &key, kind, sd, value),
        (None, Some(sd)) => single_sub(container, &key, kind, sd, value),
        (None, None) => whole(container, &key, kind, def, value),
    };
    if let Some(e) = ext
        && get_ci(res, &e.id)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        drop_extension(res, e);
    }
    result
}

fn bad_type(def: &AttributeDef, v: &Value) -> ScimError {
    let kind = serde_json::to_value(def.kind)
        .ok()
        .and_then(|k| k.as_str().map(str::to_owned))
        .unwrap_or_default();
    let shown: String = v.to_string().chars().take(64).collect();
    ScimError::invalid_value(format!("`{}` takes a {kind}, not {shown}", def.name))
}

/// Converts one value (not the array of a multi-valued attribute) to the
/// attribute's type, where the intent is plain.
pub(super) fn coerce(v: Value, def: &AttributeDef) -> Result<Value, ScimError> {
    if v.is_null() {
        return Ok(v);
    }
    match def.kind {
        AttributeType::Complex => match v {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, x) in map {
                    match def.sub_attribute(&k) {
                        Some(sd) => put(&mut out, &sd.name, coerce(x, sd)?),
                        None => {
                            out.insert(k, x);
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            scalar => match def.sub_attribute("value") {
                Some(vd) => {
                    let mut out = Map::new();
                    out.insert(vd.name.clone(), coerce(scalar, vd)?);
                    Ok(Value::Object(out))
                }
                None => Err(bad_type(def, &scalar)),
            },
        },
        AttributeType::Boolean => match &v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(bad_type(def, &v)),
        },
        AttributeType::Integer => match &v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad_type(def, &v)),
            _ => Err(bad_type(def, &v)),
        },
        AttributeType::Decimal => match &v {
            Value::Number(_) => Ok(v),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad_type(def, &v)),
            _ => Err(bad_type(def, &v)),
        },
        AttributeType::DateTime => match &v {
            Value::String(s) if OffsetDateTime::parse(s, &Rfc3339).is_ok() => Ok(v),
            _ => Err(bad_type(def, &v)),
        },
        AttributeType::String => match v {
            Value::String(_) => Ok(v),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(bad_type(def, &other)),
        },
        AttributeType::Reference | AttributeType::Binary => match v {
            Value::String(_) => Ok(v),
            other => Err(bad_type(def, &other)),
        },
    }
}

/// The values of a multi-valued attribute: an array, or one value.
fn coerce_values(v: Value, def: &AttributeDef) -> Result<Vec<Value>, ScimError> {
    let items = match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        one => vec![one],
    };
    items
        .into_iter()
        .filter(|x| !x.is_null())
        .map(|x| coerce(x, def).map(strip_nulls))
        .collect()
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, x)| !x.is_null()).collect())
        }
        other => other,
    }
}

fn has_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn check_immutable(
    def: &AttributeDef,
    current: Option<&Value>,
    new: &Value,
) -> Result<(), ScimError> {
    if def.mutability == Mutability::Immutable && has_value(current) && current != Some(new) {
        return Err(ScimError::mutability(format!(
            "`{}` is immutable and already has a value",
            def.name
        )));
    }
    Ok(())
}

/// Merges sub-attributes into a complex value; `null` removes one.
fn merge(target: &mut Obj, new: Obj, def: &AttributeDef) -> Result<(), ScimError> {
    for (k, x) in new {
        let sub = def.sub_attribute(&k);
        if x.is_null() {
            remove_ci(target, &k);
            continue;
        }
        if let Some(sd) = sub {
            check_immutable(sd, get_ci(target, &k), &x)?;
        }
        put(target, &k, x);
    }
    Ok(())
}

/// Whether a value to add is already among `existing`: equal, or a complex
/// value with the same `value` (and the same `type`, when both have one).
fn already_there(existing: &[Value], new: &Value) -> bool {
    existing.iter().any(|e| {
        if e == new {
            return true;
        }
        let (Some(e), Some(n)) = (e.as_object(), new.as_object()) else {
            return false;
        };
        let same_value = match (get_ci(e, "value"), get_ci(n, "value")) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        let same_type = match (get_ci(e, "type"), get_ci(n, "type")) {
            (Some(Value::String(a)), Some(Value::String(b))) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        same_value && same_type
    })
}

/// A value marked primary makes the others non-primary.
fn fix_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| {
        v.as_object()
            .and_then(|o| get_ci(o, "primary"))
            .is_some_and(|p| p == &Value::Bool(true))
    };
    let Some(keep) = touched
        .iter()
        .rev()
        .copied()
        .find(|i| items.get(*i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != keep
            && is_primary(item)
            && let Some(obj) = item.as_object_mut()
        {
            put(obj, "primary", Value::Bool(false));
        }
    }
}

/// The attribute as a whole: `emails`, `active`, `name`.
fn whole(
    c: &mut Obj,
    key: &str,
    kind: PatchOpKind,
    def: &AttributeDef,
    value: Option<Value>,
) -> Result<(), ScimError> {
    match kind {
        PatchOpKind::Remove => {
            match value.filter(|v| def.multi_valued && !v.is_null()) {
                // Entra: remove these members, not all of them.
                Some(v) => {
                    let targets = coerce_values(v, def)?;
                    if let Some(Value::Array(items)) = c.get_mut(key) {
                        items.retain(|item| {
                            !targets
                                .iter()
                                .any(|t| already_there(std::slice::from_ref(item), t))
                        });
                        if items.is_empty() {
                            c.remove(key);
                        }
                    }
                }
                None => {
                    if def.mutability == Mutability::Immutable && has_value(c.get(key)) {
                        return Err(ScimError::mutability(format!(
                            "`{}` is immutable",
                            def.name
                        )));
                    }
                    c.remove(key);
                }
            }
            Ok(())
        }
        PatchOpKind::Replace | PatchOpKind::Add => {
            let v = value.unwrap_or(Value::Null);
            if v.is_null() {
                if kind == PatchOpKind::Replace {
                    check_immutable(def, c.get(key), &v)?;
                    c.remove(key);
                }
                return Ok(());
            }
            if def.multi_valued {
                let mut new = coerce_values(v, def)?;
                if kind == PatchOpKind::Replace {
                    if new.is_empty() {
                        c.remove(key);
                        return Ok(());
                    }
                    let touched: Vec<usize> = (0..new.len()).collect();
                    fix_primary(&mut new, &touched);
                    c.insert(key.to_owned(), Value::Array(new));
                    return Ok(());
                }
                let mut items = match c.remove(key) {
                    Some(Value::Array(items)) => items,
                    Some(Value::Null) | None => Vec::new(),
                    Some(one) => vec![one],
                };
                let mut touched = Vec::new();
                for n in new.drain(..) {
                    if !already_there(&items, &n) {
                        touched.push(items.len());
                        items.push(n);
                    }
                }
                fix_primary(&mut items, &touched);
                if !items.is_empty() {
                    c.insert(key.to_owned(), Value::Array(items));
                }
                return Ok(());
            }
            let v = coerce(v, def)?;
            if let (AttributeType::Complex, Value::Object(new)) = (def.kind, &v) {
                let mut target = match c.remove(key) {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                merge(&mut target, new.clone(), def)?;
                if !target.is_empty() {
                    c.insert(key.to_owned(), Value::Object(target));
                }
                return Ok(());
            }
            check_immutable(def, c.get(key), &v)?;
            c.insert(key.to_owned(), v);
            Ok(())
        }
    }
}

/// `name.familyName`: a sub-attribute of a single complex attribute.
fn single_sub(
    c: &mut Obj,
    key: &str,
    kind: PatchOpKind,
    sd: &AttributeDef,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let v = match kind {
        PatchOpKind::Remove => Value::Null,
        _ => coerce(value.unwrap_or(Value::Null), sd)?,
    };
    let mut target = match c.remove(key) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    if v.is_null() {
        remove_ci(&mut target, &sd.name);
    } else {
        check_immutable(sd, get_ci(&target, &sd.name), &v)?;
        put(&mut target, &sd.name, v);
    }
    if !target.is_empty() {
        c.insert(key.to_owned(), Value::Object(target));
    }
    Ok(())
}

fn take_items(c: &mut Obj, key: &str) -> Vec<Value> {
    match c.remove(key) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(one) => vec![one],
    }
}

fn put_items(c: &mut Obj, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        c.insert(key.to_owned(), Value::Array(items));
    }
}

/// Sets or removes a sub-attribute of one value; a value left empty is
/// dropped by the caller.
fn set_sub(item: &mut Value, sd: &AttributeDef, v: &Value) -> Result<(), ScimError> {
    let Some(obj) = item.as_object_mut() else {
        return Err(ScimError::invalid_value(format!(
            "a value is not an object with `{}`",
            sd.name
        )));
    };
    if v.is_null() {
        remove_ci(obj, &sd.name);
    } else {
        check_immutable(sd, get_ci(obj, &sd.name), v)?;
        put(obj, &sd.name, v.clone());
    }
    Ok(())
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// `emails.value` without a filter: that sub-attribute of every value.
fn every_value_sub(
    c: &mut Obj,
    key: &str,
    kind: PatchOpKind,
    sd: &AttributeDef,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let v = match kind {
        PatchOpKind::Remove => Value::Null,
        _ => coerce(value.unwrap_or(Value::Null), sd)?,
    };
    let mut items = take_items(c, key);
    if items.is_empty() && !v.is_null() {
        let mut obj = Map::new();
        obj.insert(sd.name.clone(), v);
        items.push(Value::Object(obj));
    } else {
        for item in &mut items {
            set_sub(item, sd, &v)?;
        }
        items.retain(|i| !is_empty_object(i));
    }
    put_items(c, key, items);
    Ok(())
}

/// The object a filter of `eq` conditions joined by `and` describes
/// (`type eq "work"` gives `{"type": "work"}`), to create the value it
/// looks for.
fn template(filter: &Filter, def: &AttributeDef, out: &mut Obj) -> bool {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() && path.urn.is_none() => {
            let name = def
                .sub_attribute(&path.name)
                .map_or_else(|| path.name.clone(), |s| s.name.clone());
            put(out, &name, value.to_json());
            true
        }
        Filter::And(l, r) => template(l, def, out) && template(r, def, out),
        _ => false,
    }
}

/// `emails[type eq "work"]` and `emails[type eq "work"].value`.
fn filtered(
    c: &mut Obj,
    key: &str,
    kind: PatchOpKind,
    def: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let mut items = take_items(c, key);
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| matches_element(filter, item, Some(def)))
        .map(|(i, _)| i)
        .collect();
    let result = filtered_inner(&mut items, &matched, kind, def, filter, sub, value);
    items.retain(|i| !is_empty_object(i));
    put_items(c, key, items);
    result
}

fn filtered_inner(
    items: &mut Vec<Value>,
    matched: &[usize],
    kind: PatchOpKind,
    def: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    value: Option<Value>,
) -> Result<(), ScimError> {
    if kind == PatchOpKind::Remove {
        match sub {
            Some(sd) => {
                for i in matched {
                    if let Some(item) = items.get_mut(*i) {
                        set_sub(item, sd, &Value::Null)?;
                    }
                }
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        return Ok(());
    }
    let v = value.unwrap_or(Value::Null);
    let new = match sub {
        Some(sd) => coerce(v, sd)?,
        None => coerce(v, def)?,
    };
    if matched.is_empty() {
        let mut created = Map::new();
        if !template(filter, def, &mut created) {
            return Err(ScimError::no_target(format!(
                "no value of `{}` matches `{filter}`",
                def.name
            )));
        }
        match (sub, new) {
            (_, Value::Null) => return Ok(()),
            (Some(sd), n) => put(&mut created, &sd.name, n),
            (None, Value::Object(n)) => merge(&mut created, n, def)?,
            (None, other) => return Err(bad_type(def, &other)),
        }
        items.push(strip_nulls(coerce(Value::Object(created), def)?));
        let last = items.len() - 1;
        fix_primary(items, &[last]);
        return Ok(());
    }
    for i in matched {
        let Some(item) = items.get_mut(*i) else {
            continue;
        };
        match (sub, &new) {
            (Some(sd), n) => set_sub(item, sd, n)?,
            (None, Value::Null) => *item = Value::Object(Map::new()),
            (None, Value::Object(n)) if kind == PatchOpKind::Add => match item.as_object_mut() {
                Some(obj) => merge(obj, n.clone(), def)?,
                None => *item = strip_nulls(Value::Object(n.clone())),
            },
            (None, n) => *item = strip_nulls(n.clone()),
        }
    }
    fix_primary(items, matched);
    Ok(())
}
