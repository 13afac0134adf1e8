//! `attributes` / `excludedAttributes` (RFC 7644 §3.9) applied to a
//! resource, with the `returned` characteristic of each attribute.

use serde_json::{Map, Value};

use super::AttributeSelection;
use crate::filter::AttrPath;
use crate::schema::{AttributeDef, ResourceSchema, Returned, Schema};

/// The resource as the client asked to see it:
/// - `schemas` and attributes returned `always` (`id`) are always kept;
/// - attributes returned `never` (`password`) are always dropped;
/// - attributes returned on `request` are kept only when named in
///   `attributes`;
/// - with `attributes`, only the named attributes (or sub-attributes:
///   `name.givenName`, `emails.value`) are kept; naming an extension URN
///   keeps its whole object;
/// - with `excludedAttributes`, the named attributes or sub-attributes are
///   dropped.
///
/// Attributes the schema does not define are treated as returned by
/// default. Names compare ignoring case; the core schema's URN prefix may
/// be given or not.
pub fn project(resource: &Value, schema: &ResourceSchema, selection: &AttributeSelection) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert(key.clone(), value.clone());
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            if let Some(kept) = project_extension(ext, value, schema, selection) {
                out.insert(key.clone(), kept);
            }
            continue;
        }
        let def = schema
            .resolve_attribute(None, key)
            .filter(|(ext, _)| ext.is_none())
            .map(|(_, d)| d);
        let names = |p: &AttrPath| {
            p.name.eq_ignore_ascii_case(key)
                && p.urn
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(&schema.core.id))
        };
        if let Some(kept) = project_attr(value, def, selection, false, &names) {
            out.insert(key.clone(), kept);
        }
    }
    Value::Object(out)
}

fn project_extension(
    ext: &Schema,
    value: &Value,
    schema: &ResourceSchema,
    selection: &AttributeSelection,
) -> Option<Value> {
    let inner = value.as_object()?;
    let names_ext = |p: &AttrPath| {
        schema
            .extension_named_by(p)
            .is_some_and(|e| e.id.eq_ignore_ascii_case(&ext.id))
    };
    let whole = match selection {
        AttributeSelection::Include(paths) | AttributeSelection::Exclude(paths) => {
            paths.iter().any(names_ext)
        }
        AttributeSelection::Default => false,
    };
    let mut kept = Map::new();
    for (k, v) in inner {
        let names = |p: &AttrPath| {
            p.name.eq_ignore_ascii_case(k)
                && p.urn
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&ext.id))
        };
        if let Some(x) = project_attr(v, ext.attribute(k), selection, whole, &names) {
            kept.insert(k.clone(), x);
        }
    }
    (!kept.is_empty()).then_some(Value::Object(kept))
}

/// One attribute's projection. `whole`: the selection names the extension
/// holding it as a whole.
fn project_attr(
    value: &Value,
    def: Option<&AttributeDef>,
    selection: &AttributeSelection,
    whole: bool,
    names: &dyn Fn(&AttrPath) -> bool,
) -> Option<Value> {
    let returned = def.map_or(Returned::Default, |d| d.returned);
    match returned {
        Returned::Never => return None,
        Returned::Always => return Some(without_never(value, def)),
        Returned::Default | Returned::Request => {}
    }
    match selection {
        AttributeSelection::Default => {
            (returned == Returned::Default).then(|| without_never(value, def))
        }
        AttributeSelection::Include(paths) => {
            let matching: Vec<&AttrPath> = paths.iter().filter(|p| names(p)).collect();
            if whole || matching.iter().any(|p| p.sub.is_none()) {
                return Some(without_never(value, def));
            }
            if matching.is_empty() {
                return None;
            }
            let subs: Vec<&str> = matching.iter().filter_map(|p| p.sub.as_deref()).collect();
            let kept = map_values(value, &|obj| {
                obj.iter()
                    .filter(|(k, _)| {
                        let sub = def.and_then(|d| d.sub_attribute(k));
                        let returned = sub.map_or(Returned::Default, |s| s.returned);
                        returned == Returned::Always
                            || (returned != Returned::Never
                                && subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            });
            non_empty(kept)
        }
        AttributeSelection::Exclude(paths) => {
            let matching: Vec<&AttrPath> = paths.iter().filter(|p| names(p)).collect();
            if returned == Returned::Request || whole || matching.iter().any(|p| p.sub.is_none()) {
                return None;
            }
            let subs: Vec<&str> = matching.iter().filter_map(|p| p.sub.as_deref()).collect();
            let kept = map_values(&without_never(value, def), &|obj| {
                obj.iter()
                    .filter(|(k, _)| {
                        let always = def
                            .and_then(|d| d.sub_attribute(k))
                            .is_some_and(|s| s.returned == Returned::Always);
                        always || !subs.iter().any(|s| s.eq_ignore_ascii_case(k))
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            });
            non_empty(kept)
        }
    }
}

/// Applies `f` to a complex value, or to each complex value of an array.
type Obj = Map<String, Value>;

fn map_values(value: &Value, f: &dyn Fn(&Obj) -> Obj) -> Value {
    match value {
        Value::Object(obj) => Value::Object(f(obj)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| match i {
                    Value::Object(obj) => Value::Object(f(obj)),
                    other => other.clone(),
                })
                .filter(|i| !i.as_object().is_some_and(Map::is_empty))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn non_empty(v: Value) -> Option<Value> {
    match &v {
        Value::Object(o) if o.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        _ => Some(v),
    }
}

/// Drops sub-attributes returned `never`.
fn without_never(value: &Value, def: Option<&AttributeDef>) -> Value {
    let Some(def) = def.filter(|d| {
        d.sub_attributes
            .iter()
            .any(|s| s.returned == Returned::Never)
    }) else {
        return value.clone();
    };
    map_values(value, &|obj| {
        obj.iter()
            .filter(|(k, _)| {
                def.sub_attribute(k)
                    .is_none_or(|s| s.returned != Returned::Never)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}
