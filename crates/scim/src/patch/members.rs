//! A Group PATCH read as member changes, so that a server can add and
//! remove memberships without loading every member of the group.

use serde_json::{Map, Value};

use super::{PatchOpKind, PatchOperation, PatchPath, PatchRequest};
use crate::filter::{CompValue, CompareOp, Filter};

/// The effect of a PATCH on a group's `members`, as member ids.
///
/// Apply it as: if `replace` is set, the members become exactly that list;
/// otherwise remove `remove` and add `add` (the two never share an id, so
/// the order does not matter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembersDelta {
    /// The complete new member list, when an operation replaced or removed
    /// all members (later additions and removals folded in).
    pub replace: Option<Vec<String>>,
    /// Ids to add.
    pub add: Vec<String>,
    /// Ids to remove.
    pub remove: Vec<String>,
}

impl MembersDelta {
    /// Whether the PATCH changes no membership.
    pub fn is_empty(&self) -> bool {
        self.replace.is_none() && self.add.is_empty() && self.remove.is_empty()
    }

    fn added(&mut self, id: String) {
        self.remove.retain(|r| *r != id);
        let list = self.replace.as_mut().unwrap_or(&mut self.add);
        if !list.contains(&id) {
            list.push(id);
        }
    }

    fn removed(&mut self, id: String) {
        match &mut self.replace {
            Some(list) => list.retain(|r| *r != id),
            None => {
                self.add.retain(|a| *a != id);
                if !self.remove.contains(&id) {
                    self.remove.push(id);
                }
            }
        }
    }

    fn replaced(&mut self, ids: Vec<String>) {
        self.add.clear();
        self.remove.clear();
        let mut unique = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        self.replace = Some(unique);
    }
}

/// Member ids of a `members` value: `[{"value": "id"}, ...]`, one such
/// object, or bare strings.
fn ids(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => super::member(o, "value")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Null => Some(Vec::new()),
        other => one(other).map(|id| vec![id]),
    }
}

/// The ids a filter selects when it is `value eq "id"`, or such tests
/// joined by `or`.
fn filter_ids(filter: &Filter, out: &mut Vec<String>) -> bool {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            out.push(id.clone());
            true
        }
        Filter::Or(l, r) => filter_ids(l, out) && filter_ids(r, out),
        _ => false,
    }
}

fn is_members(path: &PatchPath) -> bool {
    path.attr.name.eq_ignore_ascii_case("members")
        && path.attr.sub.is_none()
        && path.sub.is_none()
        && path
            .attr
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(crate::urn::GROUP))
}

impl PatchRequest {
    /// Splits a Group PATCH into its effect on `members` and the other
    /// operations (to apply to the group's JSON with [`PatchRequest::apply`]).
    ///
    /// Understood: `add`/`replace` of `members` (with a path, or as a
    /// member of a path-less value), `remove` of `members` (all of them, or
    /// those of a `value` array, as Entra sends), and `remove` of
    /// `members[value eq "id"]` (`or` of such tests allowed). Anything else
    /// touching members (a sub-attribute path, another filter) gives
    /// `None`: apply the whole request to the JSON instead.
    pub fn members_delta(&self) -> Option<(MembersDelta, PatchRequest)> {
        let mut delta = MembersDelta::default();
        let mut rest = Vec::new();
        for op in &self.operations {
            match &op.path {
                Some(path) if path.attr.name.eq_ignore_ascii_case("members") => {
                    if !is_members(path) {
                        return None;
                    }
                    match (op.kind, &path.filter, &op.value) {
                        (PatchOpKind::Add, None, Some(v)) => {
                            ids(v)?.into_iter().for_each(|id| delta.added(id))
                        }
                        (PatchOpKind::Replace, None, Some(v)) => delta.replaced(ids(v)?),
                        (PatchOpKind::Remove, None, None | Some(Value::Null)) => {
                            delta.replaced(Vec::new())
                        }
                        (PatchOpKind::Remove, None, Some(v)) => {
                            ids(v)?.into_iter().for_each(|id| delta.removed(id));
                        }
                        (PatchOpKind::Remove, Some(f), _) => {
                            let mut selected = Vec::new();
                            if !filter_ids(f, &mut selected) {
                                return None;
                            }
                            selected.into_iter().for_each(|id| delta.removed(id));
                        }
                        _ => return None,
                    }
                }
                None => {
                    let Some(Value::Object(values)) = &op.value else {
                        return None;
                    };
                    let mut others = Map::new();
                    for (k, v) in values {
                        if k.eq_ignore_ascii_case("members") {
                            match op.kind {
                                PatchOpKind::Add => {
                                    ids(v)?.into_iter().for_each(|id| delta.added(id))
                                }
                                _ => delta.replaced(ids(v)?),
                            }
                        } else {
                            others.insert(k.clone(), v.clone());
                        }
                    }
                    if !others.is_empty() {
                        rest.push(PatchOperation {
                            kind: op.kind,
                            path: None,
                            value: Some(Value::Object(others)),
                        });
                    }
                }
                Some(_) => rest.push(op.clone()),
            }
        }
        Some((delta, PatchRequest { operations: rest }))
    }
}
