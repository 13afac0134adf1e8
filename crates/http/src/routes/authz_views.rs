//! The authorization service's answers as the API shows them. Core answers
//! with domain values (the engine's roles, groups, grants and policies) read
//! from one view of the realm ([`Read`]); these functions map them to the
//! `proto` types, resolving the names of referenced roles and groups and the
//! revision from that view.

use portcullis_core::authz::model::{Attachment, Group, Membership, Policy, Role, Statement};
use portcullis_core::authz::{
    Decision, EffectiveAccess, EffectivePermission, Grants, Held, PermissionUse, Read, View,
};
use portcullis_core::model::from_micros;
use portcullis_proto as proto;
use uuid::Uuid;

fn role_ref(view: &View, id: Uuid) -> proto::NamedRef {
    proto::NamedRef {
        id,
        name: view.role_name(id).to_owned(),
    }
}

fn group_ref(view: &View, id: Uuid) -> proto::NamedRef {
    proto::NamedRef {
        id,
        name: view.group_name(id).to_owned(),
    }
}

/// The answer of a write: the revision it made.
pub(crate) fn revision_view(revision: i64) -> proto::RevisionView {
    proto::RevisionView { revision }
}

fn role(view: &View, role: &Role) -> proto::RoleView {
    proto::RoleView {
        id: role.id,
        name: role.name.clone(),
        description: role.description.clone(),
        builtin: role.builtin,
        permissions: role.permissions.iter().map(ToString::to_string).collect(),
        includes: role.includes.iter().map(|&r| role_ref(view, r)).collect(),
        revision: view.revision(),
    }
}

/// A role.
pub(crate) fn role_view(r: Read<Role>) -> proto::RoleView {
    role(&r.view, &r.value)
}

/// The realm's roles.
pub(crate) fn role_list(r: Read<Vec<Role>>) -> proto::RoleList {
    proto::RoleList {
        items: r.value.iter().map(|x| role(&r.view, x)).collect(),
        revision: r.revision(),
    }
}

fn group(view: &View, group: &Group) -> proto::GroupView {
    proto::GroupView {
        id: group.id,
        name: group.name.clone(),
        description: group.description.clone(),
        parent: group.parent.map(|p| group_ref(view, p)),
        member_count: view.member_count(group.id),
        revision: view.revision(),
    }
}

/// A group.
pub(crate) fn group_view(r: Read<Group>) -> proto::GroupView {
    group(&r.view, &r.value)
}

/// The realm's groups.
pub(crate) fn group_list(r: Read<Vec<Group>>) -> proto::GroupList {
    proto::GroupList {
        items: r.value.iter().map(|x| group(&r.view, x)).collect(),
        revision: r.revision(),
    }
}

/// A group's members.
pub(crate) fn member_list(r: Read<Vec<Held<Membership>>>) -> proto::MemberList {
    let revision = r.revision();
    proto::MemberList {
        items: r
            .value
            .into_iter()
            .map(|m| proto::MemberView {
                user_id: m.grant.user,
                not_before: m.grant.validity.not_before.map(from_micros),
                expires_at: m.grant.validity.expires_at.map(from_micros),
                active: m.active,
            })
            .collect(),
        revision,
    }
}

/// A user's or group's grants.
pub(crate) fn grants_view(r: Read<Grants>) -> proto::GrantsView {
    let view = &r.view;
    proto::GrantsView {
        roles: r
            .value
            .roles
            .iter()
            .map(|g| proto::RoleGrantView {
                role: role_ref(view, g.grant.role),
                not_before: g.grant.validity.not_before.map(from_micros),
                expires_at: g.grant.validity.expires_at.map(from_micros),
                active: g.active,
            })
            .collect(),
        permissions: r
            .value
            .permissions
            .iter()
            .map(|g| proto::PermissionGrantView {
                permission: g.grant.permission.to_string(),
                effect: g.grant.effect.as_str().to_owned(),
                not_before: g.grant.validity.not_before.map(from_micros),
                expires_at: g.grant.validity.expires_at.map(from_micros),
                active: g.active,
            })
            .collect(),
        revision: view.revision(),
    }
}

/// A permission of the catalogue or in use.
pub(crate) fn permission_use(u: PermissionUse) -> proto::PermissionUse {
    proto::PermissionUse {
        permission: u.permission,
        defined: u.defined,
        description: u.description,
        roles: u.roles,
        direct_grants: u.direct_grants,
    }
}

/// The realm's permissions.
pub(crate) fn permission_list(r: Read<Vec<PermissionUse>>) -> proto::PermissionList {
    let revision = r.revision();
    proto::PermissionList {
        items: r.value.into_iter().map(permission_use).collect(),
        revision,
    }
}

fn statement(s: &Statement) -> proto::StatementView {
    proto::StatementView {
        sid: s.sid.clone(),
        effect: s.effect.as_str().to_uppercase(),
        actions: s.actions.clone(),
        resources: s.resources.clone(),
        condition: s.condition.clone(),
    }
}

fn attachment(view: &View, a: Attachment) -> proto::AttachmentView {
    let (kind, id, name) = match a {
        Attachment::Realm => ("realm", None, None),
        Attachment::User(u) => ("user", Some(u), None),
        Attachment::Group(g) => ("group", Some(g), Some(view.group_name(g).to_owned())),
        Attachment::Role(r) => ("role", Some(r), Some(view.role_name(r).to_owned())),
    };
    proto::AttachmentView {
        kind: kind.to_owned(),
        id,
        name,
    }
}

fn policy(view: &View, p: &Policy) -> proto::PolicyView {
    proto::PolicyView {
        id: p.id,
        name: p.name.clone(),
        description: p.description.clone(),
        priority: p.priority,
        enabled: p.enabled,
        attached_to: attachment(view, p.attached_to),
        statements: p.statements.iter().map(statement).collect(),
        revision: view.revision(),
    }
}

/// A policy.
pub(crate) fn policy_view(r: Read<Policy>) -> proto::PolicyView {
    policy(&r.view, &r.value)
}

/// The realm's policies.
pub(crate) fn policy_list(r: Read<Vec<Policy>>) -> proto::PolicyList {
    proto::PolicyList {
        items: r.value.iter().map(|x| policy(&r.view, x)).collect(),
        revision: r.revision(),
    }
}

/// A decision as the API answers it, made at `revision`.
fn decision(d: Decision, revision: i64) -> proto::CheckResponseBody {
    proto::CheckResponseBody {
        allowed: d.allowed,
        decision: if d.allowed { "allow" } else { "deny" }.to_owned(),
        reason: d.reason.as_str().to_owned(),
        message: d.message.into_owned(),
        explanation: d.explanation.and_then(|e| serde_json::to_value(e).ok()),
        revision,
    }
}

/// The answer of a check.
pub(crate) fn check_response(r: Read<Decision>) -> proto::CheckResponseBody {
    let revision = r.revision();
    decision(r.value, revision)
}

/// The answer of a batch of checks, all made at one revision.
pub(crate) fn check_batch_response(r: Read<Vec<Decision>>) -> proto::CheckBatchResponse {
    let revision = r.revision();
    proto::CheckBatchResponse {
        results: r.value.into_iter().map(|d| decision(d, revision)).collect(),
        revision,
    }
}

fn effective_permission(p: EffectivePermission) -> proto::EffectivePermissionView {
    proto::EffectivePermissionView {
        permission: p.permission.to_string(),
        effect: p.effect.as_str().to_owned(),
        sources: p.sources,
    }
}

/// A user's effective permissions.
pub(crate) fn effective_permissions(r: Read<EffectiveAccess>) -> proto::EffectivePermissions {
    let revision = r.revision();
    let a = r.value;
    proto::EffectivePermissions {
        user_id: a.user_id,
        roles: a.roles,
        groups: a.groups,
        permissions: a
            .permissions
            .into_iter()
            .map(effective_permission)
            .collect(),
        revision,
    }
}
