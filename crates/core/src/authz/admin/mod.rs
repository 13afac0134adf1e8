//! Administration of roles, groups, grants and policies, one module each
//! (`roles`, `groups`, `grants`, `policies`); this module holds the views
//! they answer with. Every method takes
//! the caller's right ([`Allowed`]), validates its input against the current view
//! (references, cycles), and applies one change with its audit record.

use portcullis_policy::model::{
    Attachment, Effect, Grantee, Group, Membership, PermissionGrant, Policy, Role, RoleGrant,
    Statement,
};
use portcullis_policy::syntax;
use portcullis_proto as proto;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::input::{self, finish};
use super::{Authz, Built, Caller, View};
use crate::access::{
    Allowed, GroupsManage, GroupsRead, PoliciesManage, PoliciesRead, RolesManage, RolesRead,
};
use crate::error::{Error, FieldError, Result};
use crate::model::{AuthzChange, from_micros, new_id};

/// A new role.
pub type RoleInput = proto::CreateRoleRequest;
/// Changes to a role.
pub type RolePatch = proto::UpdateRoleRequest;
/// A new group.
pub type GroupInput = proto::CreateGroupRequest;
/// Changes to a group.
pub type GroupPatch = proto::UpdateGroupRequest;
/// A role grant.
pub type GrantInput = proto::GrantRoleRequest;
/// A direct permission grant.
pub type PermissionGrantInput = proto::GrantPermissionRequest;
/// A policy in either syntax (the request's JSON object).
pub type PolicyInput = Value;

mod grants;
mod groups;
mod policies;
mod roles;

pub use grants::{GranteeRef, ManageGrants, ReadGrants};

fn named(view: &View, id: Uuid, role: bool) -> proto::NamedRef {
    let name = if role {
        view.compiled.role(id).map(|r| r.name.clone())
    } else {
        view.compiled.group(id).map(|g| g.name.clone())
    };
    proto::NamedRef {
        id,
        name: name.unwrap_or_default(),
    }
}

fn role_view(view: &View, role: &Role, revision: i64) -> proto::RoleView {
    proto::RoleView {
        id: role.id,
        name: role.name.clone(),
        description: role.description.clone(),
        builtin: role.builtin,
        permissions: role.permissions.iter().map(ToString::to_string).collect(),
        includes: role
            .includes
            .iter()
            .map(|&r| named(view, r, true))
            .collect(),
        revision,
    }
}

fn group_view(view: &View, group: &Group, revision: i64) -> proto::GroupView {
    proto::GroupView {
        id: group.id,
        name: group.name.clone(),
        description: group.description.clone(),
        parent: group.parent.map(|p| named(view, p, false)),
        member_count: view
            .snapshot
            .memberships
            .iter()
            .filter(|m| m.group == group.id)
            .count(),
        revision,
    }
}

fn effect_str(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

fn statement_view(s: &Statement) -> proto::StatementView {
    proto::StatementView {
        sid: s.sid.clone(),
        effect: effect_str(s.effect).to_uppercase(),
        actions: s.actions.clone(),
        resources: s.resources.clone(),
        condition: s.condition.clone(),
    }
}

fn attachment_view(view: &View, a: Attachment) -> proto::AttachmentView {
    let (kind, id, name) = match a {
        Attachment::Realm => ("realm", None, None),
        Attachment::User(u) => ("user", Some(u), None),
        Attachment::Group(g) => ("group", Some(g), Some(named(view, g, false).name)),
        Attachment::Role(r) => ("role", Some(r), Some(named(view, r, true).name)),
    };
    proto::AttachmentView {
        kind: kind.to_owned(),
        id,
        name,
    }
}

fn policy_view(view: &View, p: &Policy, revision: i64) -> proto::PolicyView {
    proto::PolicyView {
        id: p.id,
        name: p.name.clone(),
        description: p.description.clone(),
        priority: p.priority,
        enabled: p.enabled,
        attached_to: attachment_view(view, p.attached_to),
        statements: p.statements.iter().map(statement_view).collect(),
        revision,
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}
