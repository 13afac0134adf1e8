//! Roles and the permission catalogue.

use super::*;

impl Authz<'_> {
    // ---- roles ----

    /// Every role of the realm, by name.
    pub async fn list_roles(&self, admin: &Allowed<RolesRead>) -> Result<Read<Vec<Role>>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let mut roles = view.snapshot.roles.clone();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Read { view, value: roles })
    }

    /// One role, by id or name.
    pub async fn get_role(&self, admin: &Allowed<RolesRead>, role: &str) -> Result<Read<Role>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let id = input::role_in_path(&view, role)?;
        let role = view
            .compiled
            .role(id)
            .ok_or(Error::NotFound("role"))?
            .clone();
        Ok(Read { view, value: role })
    }

    async fn role_after(&self, caller: &Caller<'_>, id: Uuid, revision: i64) -> Result<Read<Role>> {
        let view = self.view(caller.realm.id, Some(revision)).await?;
        let role = view
            .compiled
            .role(id)
            .ok_or(Error::NotFound("role"))?
            .clone();
        Ok(Read { view, value: role })
    }

    /// Creates a role.
    pub async fn create_role(
        &self,
        admin: &Allowed<RolesManage>,
        new: RoleInput,
    ) -> Result<Read<Role>> {
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
    ) -> Result<Read<Role>> {
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
                keeps_admin_rights(old, &new)?;
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
    ) -> Result<Read<Role>> {
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
                    keeps_admin_rights(old, &new)?;
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
    pub async fn delete_role(&self, admin: &Allowed<RolesManage>, role: &str) -> Result<i64> {
        let caller = &admin.caller();
        self.apply(caller, "role.delete", |view| {
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
        .await
    }

    /// The realm's permissions: the catalogue's, and those in use in roles
    /// and direct grants.
    pub async fn list_permissions(
        &self,
        admin: &Allowed<RolesRead>,
    ) -> Result<Read<Vec<PermissionUse>>> {
        self.permissions_of(admin.realm().id).await
    }

    async fn permissions_of(&self, realm_id: Uuid) -> Result<Read<Vec<PermissionUse>>> {
        let view = self.view(realm_id, None).await?;
        let defined = self.i.store.list_defined_permissions(realm_id).await?;
        let mut uses: std::collections::BTreeMap<String, PermissionUse> = Default::default();
        fn entry(
            uses: &mut std::collections::BTreeMap<String, PermissionUse>,
            key: String,
        ) -> &mut PermissionUse {
            uses.entry(key.clone()).or_insert_with(|| PermissionUse {
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
        let items = uses
            .into_values()
            .map(|mut u| {
                u.roles.sort();
                u
            })
            .collect();
        Ok(Read { view, value: items })
    }

    /// Declares a permission in the realm's catalogue (or replaces its
    /// description).
    pub async fn define_permission(
        &self,
        admin: &Allowed<RolesManage>,
        input: proto::DefinePermissionRequest,
    ) -> Result<PermissionUse> {
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
        let list = self.permissions_of(caller.realm.id).await?;
        list.value
            .into_iter()
            .find(|u| u.permission == text)
            .ok_or(Error::Internal("authz-permission-defined"))
    }

    /// Removes a permission from the catalogue; grants naming it stay.
    pub async fn undefine_permission(
        &self,
        admin: &Allowed<RolesManage>,
        permission: &str,
    ) -> Result<i64> {
        let caller = &admin.caller();
        let permission = input::permission("permission", permission)
            .map_err(|e| Error::InvalidInput(vec![e]))?;
        let text = permission.to_string();
        self.apply(caller, "permission.undefine", |_| {
            Ok(Built {
                target: format!("permission:{text}"),
                before: Some(serde_json::json!({"permission": text})),
                after: None,
                change: AuthzChange::UndefinePermission(permission.clone()),
                missing: "permission",
            })
        })
        .await
    }
}

/// The built-in `realm-admin` role keeps its built-in permissions: without
/// them no administrator could administer the realm any more (not even to
/// give them back). Other roles, and what was added to it, are free.
fn keeps_admin_rights(
    old: &portcullis_policy::model::Role,
    new: &portcullis_policy::model::Role,
) -> Result<()> {
    if !(old.builtin && old.name == portcullis_policy::builtin::REALM_ADMIN) {
        return Ok(());
    }
    let texts = |r: &portcullis_policy::model::Role| -> Vec<String> {
        r.permissions.iter().map(ToString::to_string).collect()
    };
    let (had, held) = (texts(old), texts(new));
    let lost = portcullis_policy::builtin::ADMIN_PERMISSIONS
        .iter()
        .find(|p| had.iter().any(|h| h == *p) && !held.iter().any(|h| h == *p));
    if let Some(lost) = lost {
        return Err(Error::Conflict(format!(
            "the built-in '{}' role keeps its permissions ({lost} would be removed): \
             without them no administrator could administer the realm",
            old.name
        )));
    }
    Ok(())
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
