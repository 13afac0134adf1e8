//! Administration of roles, groups, grants and policies. Every method takes
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

/// Fields a policy body may have.
const POLICY_FIELDS: &[&str] = &[
    "name",
    "description",
    "priority",
    "enabled",
    "attached_to",
    "effect",
    "actions",
    "resources",
    "resource",
    "condition",
    "document",
];

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

impl Authz<'_> {
    // ---- roles ----

    /// Every role of the realm, by name.
    pub async fn list_roles(&self, admin: &Allowed<RolesRead>) -> Result<proto::RoleList> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let mut roles: Vec<&Role> = view.snapshot.roles.iter().collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(proto::RoleList {
            items: roles
                .into_iter()
                .map(|r| role_view(&view, r, view.revision()))
                .collect(),
            revision: view.revision(),
        })
    }

    /// One role, by id or name.
    pub async fn get_role(
        &self,
        admin: &Allowed<RolesRead>,
        role: &str,
    ) -> Result<proto::RoleView> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let id = input::role_in_path(&view, role)?;
        let role = view.compiled.role(id).ok_or(Error::NotFound("role"))?;
        Ok(role_view(&view, role, view.revision()))
    }

    async fn role_after(
        &self,
        caller: &Caller<'_>,
        id: Uuid,
        revision: i64,
    ) -> Result<proto::RoleView> {
        let view = self.view(caller.who.realm.id, Some(revision)).await?;
        let role = view.compiled.role(id).ok_or(Error::NotFound("role"))?;
        Ok(role_view(&view, role, view.revision()))
    }

    /// Creates a role.
    pub async fn create_role(
        &self,
        admin: &Allowed<RolesManage>,
        new: RoleInput,
    ) -> Result<proto::RoleView> {
        let caller = &admin.caller();
        let id = new_id();
        let revision = self
            .apply(caller, "role.create", |view| {
                let mut errors = Vec::new();
                let name = input::name("name", new.name.trim())
                    .map_err(|e| errors.push(e))
                    .ok();
                let description = input::description("description", new.description.as_deref())
                    .map_err(|e| errors.push(e))
                    .ok()
                    .flatten();
                let permissions = input::permissions("permissions", &new.permissions, &mut errors);
                let includes = role_refs(view, "includes", &new.includes, &mut errors);
                if let Some(n) = &name
                    && view.compiled.role_id(n).is_some()
                {
                    return Err(Error::Conflict(format!("a role named '{n}' exists")));
                }
                finish(errors)?;
                let role = Role {
                    id,
                    name: name.unwrap_or_default(),
                    description,
                    permissions,
                    includes,
                    builtin: false,
                };
                Ok(Built {
                    target: format!("role:{id}"),
                    before: None,
                    after: to_json(&role),
                    change: AuthzChange::CreateRole(role),
                    missing: "role",
                })
            })
            .await?;
        self.role_after(caller, id, revision).await
    }

    /// Changes a role's name, description, permissions or included roles.
    pub async fn update_role(
        &self,
        admin: &Allowed<RolesManage>,
        role: &str,
        patch: RolePatch,
    ) -> Result<proto::RoleView> {
        let caller = &admin.caller();
        let mut role_id = None;
        let revision = self
            .apply(caller, "role.update", |view| {
                let id = input::role_in_path(view, role)?;
                role_id = Some(id);
                let old = view.compiled.role(id).ok_or(Error::NotFound("role"))?;
                let mut new = old.clone();
                let mut errors = Vec::new();
                if let Some(name) = &patch.name {
                    match input::name("name", name.trim()) {
                        Ok(n) if n != old.name && old.builtin => {
                            errors.push(FieldError::new("name", "built-in roles cannot be renamed"))
                        }
                        Ok(n) => {
                            if n != old.name && view.compiled.role_id(&n).is_some() {
                                return Err(Error::Conflict(format!("a role named '{n}' exists")));
                            }
                            new.name = n;
                        }
                        Err(e) => errors.push(e),
                    }
                }
                if let Some(d) = &patch.description {
                    match input::description("description", d.as_deref()) {
                        Ok(d) => new.description = d,
                        Err(e) => errors.push(e),
                    }
                }
                if let Some(p) = &patch.permissions {
                    new.permissions = input::permissions("permissions", p, &mut errors);
                }
                if let Some(inc) = &patch.includes {
                    new.includes = role_refs(view, "includes", inc, &mut errors);
                    for (n, &included) in new.includes.iter().enumerate() {
                        if let Some(cycle) = view.compiled.role_inclusion_cycle(id, included) {
                            errors.push(FieldError::new(
                                format!("includes[{n}]"),
                                format!("would create a cycle: {}", cycle.join(" -> ")),
                            ));
                        }
                    }
                }
                finish(errors)?;
                Ok(Built {
                    target: format!("role:{id}"),
                    before: to_json(old),
                    after: to_json(&new),
                    change: AuthzChange::UpdateRole(new),
                    missing: "role",
                })
            })
            .await?;
        let id = role_id.ok_or(Error::Internal("authz-role"))?;
        self.role_after(caller, id, revision).await
    }

    /// Adds (`add = true`) or removes permissions of a role.
    pub async fn role_permissions(
        &self,
        admin: &Allowed<RolesManage>,
        role: &str,
        body: proto::RolePermissionsRequest,
        add: bool,
    ) -> Result<proto::RoleView> {
        let caller = &admin.caller();
        let mut listed: Vec<String> = body.permission.into_iter().collect();
        listed.extend(body.permissions);
        if listed.is_empty() {
            return Err(Error::input(
                "permission",
                "give a permission or a list of permissions",
            ));
        }
        let mut role_id = None;
        let revision = self
            .apply(
                caller,
                if add {
                    "role.permission.add"
                } else {
                    "role.permission.remove"
                },
                |view| {
                    let id = input::role_in_path(view, role)?;
                    role_id = Some(id);
                    let old = view.compiled.role(id).ok_or(Error::NotFound("role"))?;
                    let mut errors = Vec::new();
                    let field = if listed.len() == 1 {
                        "permission"
                    } else {
                        "permissions"
                    };
                    let perms = input::permissions(field, &listed, &mut errors);
                    finish(errors)?;
                    let mut new = old.clone();
                    if add {
                        for p in perms {
                            if !new.permissions.contains(&p) {
                                new.permissions.push(p);
                            }
                        }
                    } else {
                        for p in &perms {
                            if !new.permissions.contains(p) {
                                return Err(Error::NotFound("permission on this role"));
                            }
                        }
                        new.permissions.retain(|p| !perms.contains(p));
                    }
                    Ok(Built {
                        target: format!("role:{id}"),
                        before: to_json(old),
                        after: to_json(&new),
                        change: AuthzChange::UpdateRole(new),
                        missing: "role",
                    })
                },
            )
            .await?;
        let id = role_id.ok_or(Error::Internal("authz-role"))?;
        self.role_after(caller, id, revision).await
    }

    /// Deletes a role (not a built-in one) and every grant of it.
    pub async fn delete_role(
        &self,
        admin: &Allowed<RolesManage>,
        role: &str,
    ) -> Result<proto::RevisionView> {
        let caller = &admin.caller();
        let revision = self
            .apply(caller, "role.delete", |view| {
                let id = input::role_in_path(view, role)?;
                let old = view.compiled.role(id).ok_or(Error::NotFound("role"))?;
                if old.builtin {
                    return Err(Error::Conflict(format!(
                        "'{}' is a built-in role and cannot be deleted",
                        old.name
                    )));
                }
                Ok(Built {
                    target: format!("role:{id}"),
                    before: to_json(old),
                    after: None,
                    change: AuthzChange::DeleteRole(id),
                    missing: "role",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    /// The realm's permissions: the catalogue's, and those in use in roles
    /// and direct grants.
    pub async fn list_permissions(
        &self,
        admin: &Allowed<RolesRead>,
    ) -> Result<proto::PermissionList> {
        self.permissions_of(admin.realm().id).await
    }

    async fn permissions_of(&self, realm_id: Uuid) -> Result<proto::PermissionList> {
        let view = self.view(realm_id, None).await?;
        let defined = self.i.store.list_defined_permissions(realm_id).await?;
        let mut uses: std::collections::BTreeMap<String, proto::PermissionUse> = Default::default();
        fn entry(
            uses: &mut std::collections::BTreeMap<String, proto::PermissionUse>,
            key: String,
        ) -> &mut proto::PermissionUse {
            uses.entry(key.clone())
                .or_insert_with(|| proto::PermissionUse {
                    permission: key,
                    defined: false,
                    description: None,
                    roles: Vec::new(),
                    direct_grants: 0,
                })
        }
        for (permission, description) in defined {
            let e = entry(&mut uses, permission);
            e.defined = true;
            e.description = description;
        }
        for role in &view.snapshot.roles {
            for p in &role.permissions {
                entry(&mut uses, p.to_string())
                    .roles
                    .push(role.name.clone());
            }
        }
        for g in &view.snapshot.permission_grants {
            entry(&mut uses, g.permission.to_string()).direct_grants += 1;
        }
        Ok(proto::PermissionList {
            items: uses
                .into_values()
                .map(|mut u| {
                    u.roles.sort();
                    u
                })
                .collect(),
            revision: view.revision(),
        })
    }

    /// Declares a permission in the realm's catalogue (or replaces its
    /// description).
    pub async fn define_permission(
        &self,
        admin: &Allowed<RolesManage>,
        input: proto::DefinePermissionRequest,
    ) -> Result<proto::PermissionUse> {
        let caller = &admin.caller();
        let mut errors = Vec::new();
        let permission = input::permission("permission", &input.permission)
            .map_err(|e| errors.push(e))
            .ok();
        let description = input::description("description", input.description.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        input::finish(errors)?;
        let (Some(permission), Some(description)) = (permission, description) else {
            return Err(Error::Internal("authz-input"));
        };
        let text = permission.to_string();
        self.apply(caller, "permission.define", |_| {
            Ok(Built {
                target: format!("permission:{text}"),
                before: None,
                after: Some(serde_json::json!({"permission": text, "description": description})),
                change: AuthzChange::DefinePermission {
                    permission: permission.clone(),
                    description: description.clone(),
                },
                missing: "realm",
            })
        })
        .await?;
        let list = self.permissions_of(caller.who.realm.id).await?;
        list.items
            .into_iter()
            .find(|u| u.permission == text)
            .ok_or(Error::Internal("authz-permission-defined"))
    }

    /// Removes a permission from the catalogue; grants naming it stay.
    pub async fn undefine_permission(
        &self,
        admin: &Allowed<RolesManage>,
        permission: &str,
    ) -> Result<proto::RevisionView> {
        let caller = &admin.caller();
        let permission = input::permission("permission", permission)
            .map_err(|e| Error::InvalidInput(vec![e]))?;
        let text = permission.to_string();
        let revision = self
            .apply(caller, "permission.undefine", |_| {
                Ok(Built {
                    target: format!("permission:{text}"),
                    before: Some(serde_json::json!({"permission": text})),
                    after: None,
                    change: AuthzChange::UndefinePermission(permission.clone()),
                    missing: "permission",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    // ---- grants ----

    /// A user's or group's grants.
    pub async fn grants(&self, of: ReadGrants<'_>) -> Result<proto::GrantsView> {
        let (caller, to) = of.split();
        let caller = &caller;
        let view = self.view(caller.who.realm.id, None).await?;
        let grantee = grantee(&view, to)?;
        let now = self.now_micros();
        Ok(proto::GrantsView {
            roles: view
                .snapshot
                .role_grants
                .iter()
                .filter(|g| g.to == grantee)
                .map(|g| proto::RoleGrantView {
                    role: named(&view, g.role, true),
                    not_before: g.validity.not_before.map(from_micros),
                    expires_at: g.validity.expires_at.map(from_micros),
                    active: g.validity.holds_at(now),
                })
                .collect(),
            permissions: view
                .snapshot
                .permission_grants
                .iter()
                .filter(|g| g.to == grantee)
                .map(|g| proto::PermissionGrantView {
                    permission: g.permission.to_string(),
                    effect: effect_str(g.effect).to_owned(),
                    not_before: g.validity.not_before.map(from_micros),
                    expires_at: g.validity.expires_at.map(from_micros),
                    active: g.validity.holds_at(now),
                })
                .collect(),
            revision: view.revision(),
        })
    }

    /// Grants a role to a user or group (replacing the window of an existing grant).
    pub async fn grant_role(
        &self,
        to: ManageGrants<'_>,
        body: GrantInput,
    ) -> Result<proto::RevisionView> {
        let (caller, to) = to.split();
        let caller = &caller;
        let now = self.i.clock.now();
        let revision = self
            .apply(caller, "role.grant", |view| {
                let grantee = grantee(view, to)?;
                let mut errors = Vec::new();
                let role = input::role_in_body(view, "role", &body.role)
                    .map_err(|e| errors.push(e))
                    .ok();
                let validity = input::validity(body.not_before, body.expires_at, now, &mut errors);
                finish(errors)?;
                let grant = RoleGrant {
                    to: grantee,
                    role: role.ok_or(Error::Internal("authz-role"))?,
                    validity,
                };
                Ok(Built {
                    target: grantee_target(grantee),
                    before: None,
                    after: to_json(&grant),
                    change: AuthzChange::GrantRole(grant),
                    missing: grantee_missing(grantee),
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    /// Revokes a role grant.
    pub async fn revoke_role(
        &self,
        to: ManageGrants<'_>,
        role: &str,
    ) -> Result<proto::RevisionView> {
        let (caller, to) = to.split();
        let caller = &caller;
        let revision = self
            .apply(caller, "role.revoke", |view| {
                let grantee = grantee(view, to)?;
                let role = input::role_in_path(view, role)?;
                let before = view
                    .snapshot
                    .role_grants
                    .iter()
                    .find(|g| g.to == grantee && g.role == role)
                    .ok_or(Error::NotFound("role grant"))?;
                Ok(Built {
                    target: grantee_target(grantee),
                    before: to_json(before),
                    after: None,
                    change: AuthzChange::RevokeRole { to: grantee, role },
                    missing: "role grant",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    /// Grants or denies a permission directly.
    pub async fn grant_permission(
        &self,
        to: ManageGrants<'_>,
        body: PermissionGrantInput,
    ) -> Result<proto::RevisionView> {
        let (caller, to) = to.split();
        let caller = &caller;
        let now = self.i.clock.now();
        let revision = self
            .apply(caller, "permission.grant", |view| {
                let grantee = grantee(view, to)?;
                let mut errors = Vec::new();
                let permission = input::permission("permission", &body.permission)
                    .map_err(|e| errors.push(e))
                    .ok();
                let effect = match body
                    .effect
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                {
                    None | Some("allow") => Effect::Allow,
                    Some("deny") => Effect::Deny,
                    Some(_) => {
                        errors.push(FieldError::new("effect", "must be 'allow' or 'deny'"));
                        Effect::Allow
                    }
                };
                let validity = input::validity(body.not_before, body.expires_at, now, &mut errors);
                finish(errors)?;
                let grant = PermissionGrant {
                    to: grantee,
                    permission: permission.ok_or(Error::Internal("authz-permission"))?,
                    effect,
                    validity,
                };
                Ok(Built {
                    target: grantee_target(grantee),
                    before: None,
                    after: to_json(&grant),
                    change: AuthzChange::GrantPermission(grant),
                    missing: grantee_missing(grantee),
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    /// Removes a direct permission grant.
    pub async fn revoke_permission(
        &self,
        to: ManageGrants<'_>,
        permission: &str,
    ) -> Result<proto::RevisionView> {
        let (caller, to) = to.split();
        let caller = &caller;
        let revision = self
            .apply(caller, "permission.revoke", |view| {
                let grantee = grantee(view, to)?;
                let permission = input::permission("permission", permission)
                    .map_err(|e| Error::InvalidInput(vec![e]))?;
                let before = view
                    .snapshot
                    .permission_grants
                    .iter()
                    .find(|g| g.to == grantee && g.permission == permission)
                    .ok_or(Error::NotFound("permission grant"))?;
                Ok(Built {
                    target: grantee_target(grantee),
                    before: to_json(before),
                    after: None,
                    change: AuthzChange::RevokePermission {
                        to: grantee,
                        permission,
                    },
                    missing: "permission grant",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    // ---- groups ----

    /// Every group, by name.
    pub async fn list_groups(&self, admin: &Allowed<GroupsRead>) -> Result<proto::GroupList> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let mut groups: Vec<&Group> = view.snapshot.groups.iter().collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(proto::GroupList {
            items: groups
                .into_iter()
                .map(|g| group_view(&view, g, view.revision()))
                .collect(),
            revision: view.revision(),
        })
    }

    /// One group, by id or name.
    pub async fn get_group(
        &self,
        admin: &Allowed<GroupsRead>,
        group: &str,
    ) -> Result<proto::GroupView> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let id = input::group_in_path(&view, group)?;
        let g = view.compiled.group(id).ok_or(Error::NotFound("group"))?;
        Ok(group_view(&view, g, view.revision()))
    }

    async fn group_after(
        &self,
        caller: &Caller<'_>,
        id: Uuid,
        revision: i64,
    ) -> Result<proto::GroupView> {
        let view = self.view(caller.who.realm.id, Some(revision)).await?;
        let g = view.compiled.group(id).ok_or(Error::NotFound("group"))?;
        Ok(group_view(&view, g, view.revision()))
    }

    /// Creates a group.
    pub async fn create_group(
        &self,
        admin: &Allowed<GroupsManage>,
        new: GroupInput,
    ) -> Result<proto::GroupView> {
        let caller = &admin.caller();
        let id = new_id();
        let revision = self
            .apply(caller, "group.create", |view| {
                let mut errors = Vec::new();
                let name = input::name("name", new.name.trim())
                    .map_err(|e| errors.push(e))
                    .ok();
                let description = input::description("description", new.description.as_deref())
                    .map_err(|e| errors.push(e))
                    .ok()
                    .flatten();
                let parent = new.parent.as_deref().and_then(|p| {
                    input::group_in_body(view, "parent", p)
                        .map_err(|e| errors.push(e))
                        .ok()
                });
                if let Some(n) = &name
                    && view.compiled.group_id(n).is_some()
                {
                    return Err(Error::Conflict(format!("a group named '{n}' exists")));
                }
                finish(errors)?;
                let group = Group {
                    id,
                    name: name.unwrap_or_default(),
                    description,
                    parent,
                };
                Ok(Built {
                    target: format!("group:{id}"),
                    before: None,
                    after: to_json(&group),
                    change: AuthzChange::CreateGroup(group),
                    missing: "group",
                })
            })
            .await?;
        self.group_after(caller, id, revision).await
    }

    /// Changes a group's name, description or parent.
    pub async fn update_group(
        &self,
        admin: &Allowed<GroupsManage>,
        group: &str,
        patch: GroupPatch,
    ) -> Result<proto::GroupView> {
        let caller = &admin.caller();
        let mut group_id = None;
        let revision = self
            .apply(caller, "group.update", |view| {
                let id = input::group_in_path(view, group)?;
                group_id = Some(id);
                let old = view.compiled.group(id).ok_or(Error::NotFound("group"))?;
                let mut new = old.clone();
                let mut errors = Vec::new();
                if let Some(name) = &patch.name {
                    match input::name("name", name.trim()) {
                        Ok(n) => {
                            if n != old.name && view.compiled.group_id(&n).is_some() {
                                return Err(Error::Conflict(format!("a group named '{n}' exists")));
                            }
                            new.name = n;
                        }
                        Err(e) => errors.push(e),
                    }
                }
                if let Some(d) = &patch.description {
                    match input::description("description", d.as_deref()) {
                        Ok(d) => new.description = d,
                        Err(e) => errors.push(e),
                    }
                }
                if let Some(parent) = &patch.parent {
                    new.parent = match parent.as_deref() {
                        None => None,
                        Some(p) => match input::group_in_body(view, "parent", p) {
                            Ok(pid) => {
                                if let Some(cycle) = view.compiled.group_parent_cycle(id, pid) {
                                    errors.push(FieldError::new(
                                        "parent",
                                        format!("would create a cycle: {}", cycle.join(" -> ")),
                                    ));
                                }
                                Some(pid)
                            }
                            Err(e) => {
                                errors.push(e);
                                None
                            }
                        },
                    };
                }
                finish(errors)?;
                Ok(Built {
                    target: format!("group:{id}"),
                    before: to_json(old),
                    after: to_json(&new),
                    change: AuthzChange::UpdateGroup(new),
                    missing: "group",
                })
            })
            .await?;
        let id = group_id.ok_or(Error::Internal("authz-group"))?;
        self.group_after(caller, id, revision).await
    }

    /// Deletes a group; its children move up to its parent.
    pub async fn delete_group(
        &self,
        admin: &Allowed<GroupsManage>,
        group: &str,
    ) -> Result<proto::RevisionView> {
        let caller = &admin.caller();
        let revision = self
            .apply(caller, "group.delete", |view| {
                let id = input::group_in_path(view, group)?;
                let old = view.compiled.group(id).ok_or(Error::NotFound("group"))?;
                Ok(Built {
                    target: format!("group:{id}"),
                    before: to_json(old),
                    after: None,
                    change: AuthzChange::DeleteGroup(id),
                    missing: "group",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    /// A group's direct members.
    pub async fn members(
        &self,
        admin: &Allowed<GroupsRead>,
        group: &str,
    ) -> Result<proto::MemberList> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let id = input::group_in_path(&view, group)?;
        let now = self.now_micros();
        Ok(proto::MemberList {
            items: view
                .snapshot
                .memberships
                .iter()
                .filter(|m| m.group == id)
                .map(|m| proto::MemberView {
                    user_id: m.user,
                    not_before: m.validity.not_before.map(from_micros),
                    expires_at: m.validity.expires_at.map(from_micros),
                    active: m.validity.holds_at(now),
                })
                .collect(),
            revision: view.revision(),
        })
    }

    /// Adds a member (or changes the window of a membership).
    pub async fn add_member(
        &self,
        admin: &Allowed<GroupsManage>,
        group: &str,
        body: proto::AddMemberRequest,
    ) -> Result<proto::RevisionView> {
        let caller = &admin.caller();
        let now = self.i.clock.now();
        let revision = self
            .apply(caller, "group.member.add", |view| {
                let id = input::group_in_path(view, group)?;
                let mut errors = Vec::new();
                let validity = input::validity(body.not_before, body.expires_at, now, &mut errors);
                finish(errors)?;
                let m = Membership {
                    user: body.user_id,
                    group: id,
                    validity,
                };
                Ok(Built {
                    target: format!("group:{id}"),
                    before: None,
                    after: to_json(&m),
                    change: AuthzChange::AddMember(m),
                    missing: "user",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        admin: &Allowed<GroupsManage>,
        group: &str,
        user: Uuid,
    ) -> Result<proto::RevisionView> {
        let caller = &admin.caller();
        let revision = self
            .apply(caller, "group.member.remove", |view| {
                let id = input::group_in_path(view, group)?;
                let before = view
                    .snapshot
                    .memberships
                    .iter()
                    .find(|m| m.group == id && m.user == user)
                    .ok_or(Error::NotFound("membership"))?;
                Ok(Built {
                    target: format!("group:{id}"),
                    before: to_json(before),
                    after: None,
                    change: AuthzChange::RemoveMember { user, group: id },
                    missing: "membership",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }

    // ---- policies ----

    /// Every policy, highest priority first.
    pub async fn list_policies(&self, admin: &Allowed<PoliciesRead>) -> Result<proto::PolicyList> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let mut items: Vec<&Policy> = view.snapshot.policies.iter().collect();
        items.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        Ok(proto::PolicyList {
            items: items
                .into_iter()
                .map(|p| policy_view(&view, p, view.revision()))
                .collect(),
            revision: view.revision(),
        })
    }

    /// One policy by id or name.
    pub async fn get_policy(
        &self,
        admin: &Allowed<PoliciesRead>,
        policy: &str,
    ) -> Result<proto::PolicyView> {
        let caller = &admin.caller();
        let view = self.view(caller.who.realm.id, None).await?;
        let p = find_policy(&view, policy)?;
        Ok(policy_view(&view, p, view.revision()))
    }

    /// Creates a policy from a native or IAM-style body.
    pub async fn create_policy(
        &self,
        admin: &Allowed<PoliciesManage>,
        body: PolicyInput,
    ) -> Result<proto::PolicyView> {
        let caller = &admin.caller();
        let id = new_id();
        let revision = self
            .apply(caller, "policy.create", |view| {
                let policy = parse_policy(view, id, &body, None)?;
                if view.snapshot.policies.iter().any(|p| p.name == policy.name) {
                    return Err(Error::Conflict(format!(
                        "a policy named '{}' exists",
                        policy.name
                    )));
                }
                Ok(Built {
                    target: format!("policy:{id}"),
                    before: None,
                    after: to_json(&policy),
                    change: AuthzChange::CreatePolicy(policy),
                    missing: "policy",
                })
            })
            .await?;
        let view = self.view(caller.who.realm.id, Some(revision)).await?;
        let p = find_policy(&view, &id.to_string())?;
        Ok(policy_view(&view, p, view.revision()))
    }

    /// Changes a policy: fields given replace the stored ones.
    pub async fn update_policy(
        &self,
        admin: &Allowed<PoliciesManage>,
        policy: &str,
        body: PolicyInput,
    ) -> Result<proto::PolicyView> {
        let caller = &admin.caller();
        let mut policy_id = None;
        let revision = self
            .apply(caller, "policy.update", |view| {
                let old = find_policy(view, policy)?;
                policy_id = Some(old.id);
                let new = parse_policy(view, old.id, &body, Some(old))?;
                if new.name != old.name && view.snapshot.policies.iter().any(|p| p.name == new.name)
                {
                    return Err(Error::Conflict(format!(
                        "a policy named '{}' exists",
                        new.name
                    )));
                }
                Ok(Built {
                    target: format!("policy:{}", old.id),
                    before: to_json(old),
                    after: to_json(&new),
                    change: AuthzChange::UpdatePolicy(new),
                    missing: "policy",
                })
            })
            .await?;
        let id = policy_id.ok_or(Error::Internal("authz-policy"))?;
        let view = self.view(caller.who.realm.id, Some(revision)).await?;
        let p = find_policy(&view, &id.to_string())?;
        Ok(policy_view(&view, p, view.revision()))
    }

    /// Deletes a policy.
    pub async fn delete_policy(
        &self,
        admin: &Allowed<PoliciesManage>,
        policy: &str,
    ) -> Result<proto::RevisionView> {
        let caller = &admin.caller();
        let revision = self
            .apply(caller, "policy.delete", |view| {
                let old = find_policy(view, policy)?;
                Ok(Built {
                    target: format!("policy:{}", old.id),
                    before: to_json(old),
                    after: None,
                    change: AuthzChange::DeletePolicy(old.id),
                    missing: "policy",
                })
            })
            .await?;
        Ok(proto::RevisionView { revision })
    }
}

/// A user (by id) or a group (by id or name) receiving grants.
#[derive(Debug, Clone, Copy)]
pub enum GranteeRef<'a> {
    /// A user id.
    User(Uuid),
    /// A group id or name.
    Group(&'a str),
}

/// Whose grants to read, with the right that reading them needs: a user's
/// need `roles:read`, a group's `groups:read`.
#[derive(Debug, Clone, Copy)]
pub enum ReadGrants<'a> {
    /// A user's grants.
    User(&'a Allowed<RolesRead>, Uuid),
    /// A group's grants (by id or name).
    Group(&'a Allowed<GroupsRead>, &'a str),
}

impl<'a> ReadGrants<'a> {
    fn split(self) -> (Caller<'a>, GranteeRef<'a>) {
        match self {
            Self::User(admin, id) => (admin.caller(), GranteeRef::User(id)),
            Self::Group(admin, g) => (admin.caller(), GranteeRef::Group(g)),
        }
    }
}

/// Whose grants to change, with the right that changing them needs: a
/// user's need `roles:manage`, a group's `groups:manage`.
#[derive(Debug, Clone, Copy)]
pub enum ManageGrants<'a> {
    /// A user's grants.
    User(&'a Allowed<RolesManage>, Uuid),
    /// A group's grants (by id or name).
    Group(&'a Allowed<GroupsManage>, &'a str),
}

impl<'a> ManageGrants<'a> {
    fn split(self) -> (Caller<'a>, GranteeRef<'a>) {
        match self {
            Self::User(admin, id) => (admin.caller(), GranteeRef::User(id)),
            Self::Group(admin, g) => (admin.caller(), GranteeRef::Group(g)),
        }
    }
}

fn grantee(view: &View, to: GranteeRef<'_>) -> Result<Grantee> {
    match to {
        GranteeRef::User(id) => Ok(Grantee::User(id)),
        GranteeRef::Group(g) => Ok(Grantee::Group(input::group_in_path(view, g)?)),
    }
}

fn grantee_target(g: Grantee) -> String {
    match g {
        Grantee::User(u) => format!("user:{u}"),
        Grantee::Group(g) => format!("group:{g}"),
    }
}

fn grantee_missing(g: Grantee) -> &'static str {
    match g {
        Grantee::User(_) => "user",
        Grantee::Group(_) => "group",
    }
}

fn role_refs(view: &View, field: &str, refs: &[String], errors: &mut Vec<FieldError>) -> Vec<Uuid> {
    let mut out = Vec::new();
    if refs.len() > input::MAX_LIST {
        errors.push(FieldError::new(
            field,
            format!("at most {} entries", input::MAX_LIST),
        ));
        return out;
    }
    for (n, r) in refs.iter().enumerate() {
        match input::role_in_body(view, &format!("{field}[{n}]"), r) {
            Ok(id) if !out.contains(&id) => out.push(id),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    out
}

fn find_policy<'v>(view: &'v View, policy: &str) -> Result<&'v Policy> {
    let by_id = Uuid::parse_str(policy).ok();
    view.snapshot
        .policies
        .iter()
        .find(|p| Some(p.id) == by_id || p.name == policy)
        .ok_or(Error::NotFound("policy"))
}

fn syntax_err(prefix: &str, e: syntax::SyntaxError) -> Error {
    let field = if prefix.is_empty() {
        e.field
    } else if e.field.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{}", e.field)
    };
    Error::input(field, e.message)
}

/// Parses a policy body (native fields or an IAM `document`), over `old`'s
/// values for a PATCH.
fn parse_policy(view: &View, id: Uuid, body: &Value, old: Option<&Policy>) -> Result<Policy> {
    let Some(obj) = body.as_object() else {
        return Err(Error::input("", "a policy is a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !POLICY_FIELDS.contains(&k.as_str())) {
        return Err(Error::input(unknown.clone(), "unknown field"));
    }
    let mut errors = Vec::new();
    let name = match (obj.get("name"), old) {
        (Some(Value::String(n)), _) => input::policy_name(n).map_err(|e| errors.push(e)).ok(),
        (Some(_), _) => {
            errors.push(FieldError::new("name", "must be a string"));
            None
        }
        (None, Some(o)) => Some(o.name.clone()),
        (None, None) => {
            errors.push(FieldError::new("name", "is required"));
            None
        }
    };
    let description = match obj.get("description") {
        Some(Value::String(d)) => input::description("description", Some(d))
            .map_err(|e| errors.push(e))
            .ok()
            .flatten(),
        Some(Value::Null) => None,
        Some(_) => {
            errors.push(FieldError::new("description", "must be a string"));
            None
        }
        None => old.and_then(|o| o.description.clone()),
    };
    let priority = match obj.get("priority") {
        Some(v) => match v.as_i64().and_then(|p| i32::try_from(p).ok()) {
            Some(p) if (-1_000_000..=1_000_000).contains(&p) => p,
            _ => {
                errors.push(FieldError::new(
                    "priority",
                    "must be an integer between -1000000 and 1000000",
                ));
                0
            }
        },
        None => old.map_or(0, |o| o.priority),
    };
    let enabled = match obj.get("enabled") {
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new("enabled", "must be true or false"));
            true
        }
        None => old.is_none_or(|o| o.enabled),
    };
    let attached_to = match obj.get("attached_to") {
        None => old.map_or(Attachment::Realm, |o| o.attached_to),
        Some(v) => attachment(view, v).unwrap_or_else(|e| {
            errors.push(e);
            Attachment::Realm
        }),
    };
    let native_keys = ["effect", "actions", "resources", "resource", "condition"];
    let has_native = native_keys.iter().any(|k| obj.contains_key(*k));
    let statements = match (obj.get("document"), has_native) {
        (Some(_), true) => {
            errors.push(FieldError::new(
                "document",
                "give either an IAM-style document or effect/actions/resources/condition, not both",
            ));
            Vec::new()
        }
        (Some(doc), false) => match syntax::iam_document(doc) {
            Ok(s) => s,
            Err(e) => return Err(syntax_err("document", e)),
        },
        (None, true) => {
            // Native fields, over the stored single statement for a PATCH.
            let mut stmt = Map::new();
            if let Some(o) = old
                && let [s] = o.statements.as_slice()
            {
                stmt.insert("effect".into(), json!(effect_str(s.effect)));
                stmt.insert("actions".into(), json!(s.actions));
                stmt.insert("resources".into(), json!(s.resources));
                if let Some(c) = &s.condition {
                    stmt.insert("condition".into(), c.clone());
                }
            }
            for k in native_keys {
                if let Some(v) = obj.get(k) {
                    if k == "resource" {
                        stmt.remove("resources");
                    }
                    if k == "resources" {
                        stmt.remove("resource");
                    }
                    stmt.insert(k.to_owned(), v.clone());
                }
            }
            match syntax::native_statement(&Value::Object(stmt)) {
                Ok(s) => vec![s],
                Err(e) => return Err(syntax_err("", e)),
            }
        }
        (None, false) => match old {
            Some(o) => o.statements.clone(),
            None => {
                errors.push(FieldError::new(
                    "effect",
                    "is required (or give an IAM-style 'document')",
                ));
                Vec::new()
            }
        },
    };
    finish(errors)?;
    Ok(Policy {
        id,
        name: name.unwrap_or_default(),
        description,
        priority,
        attached_to,
        statements,
        enabled,
    })
}

/// `{"kind": "realm" | "user" | "group" | "role", "id": ...}` (group and role
/// by id or name).
fn attachment(view: &View, v: &Value) -> std::result::Result<Attachment, FieldError> {
    let bad = || {
        FieldError::new(
            "attached_to",
            "must be {\"kind\": \"realm\"|\"user\"|\"group\"|\"role\", \"id\": ...}",
        )
    };
    let obj = v.as_object().ok_or_else(bad)?;
    if obj.keys().any(|k| k != "kind" && k != "id") {
        return Err(bad());
    }
    let kind = obj.get("kind").and_then(Value::as_str).ok_or_else(bad)?;
    let id = obj.get("id").and_then(Value::as_str);
    match (kind, id) {
        ("realm", None) => Ok(Attachment::Realm),
        ("user", Some(u)) => Uuid::parse_str(u)
            .map(Attachment::User)
            .map_err(|_| FieldError::new("attached_to.id", "must be a user id")),
        ("group", Some(g)) => {
            input::group_in_body(view, "attached_to.id", g).map(Attachment::Group)
        }
        ("role", Some(r)) => input::role_in_body(view, "attached_to.id", r).map(Attachment::Role),
        _ => Err(bad()),
    }
}
