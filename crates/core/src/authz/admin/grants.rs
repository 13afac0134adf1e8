//! Grants of roles and permissions to users and groups.

use super::*;

impl Authz<'_> {
    // ---- grants ----

    /// A user's or group's grants.
    pub async fn grants(&self, of: ReadGrants<'_>) -> Result<Read<Grants>> {
        let (caller, to) = of.split();
        let caller = &caller;
        let view = self.view(caller.realm.id, None).await?;
        let grantee = grantee(&view, to)?;
        let now = self.now_micros();
        let grants = Grants {
            roles: view
                .snapshot
                .role_grants
                .iter()
                .filter(|g| g.to == grantee)
                .map(|g| Held {
                    grant: *g,
                    active: g.validity.holds_at(now),
                })
                .collect(),
            permissions: view
                .snapshot
                .permission_grants
                .iter()
                .filter(|g| g.to == grantee)
                .map(|g| Held {
                    grant: g.clone(),
                    active: g.validity.holds_at(now),
                })
                .collect(),
        };
        Ok(Read {
            view,
            value: grants,
        })
    }

    /// Grants a role to a user or group (replacing the window of an existing grant).
    pub async fn grant_role(&self, to: ManageGrants<'_>, body: GrantInput) -> Result<i64> {
        let (caller, to) = to.split();
        let caller = &caller;
        let now = self.i.clock.now();
        self.apply(caller, "role.grant", |view| {
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
        .await
    }

    /// Revokes a role grant.
    pub async fn revoke_role(&self, to: ManageGrants<'_>, role: &str) -> Result<i64> {
        let (caller, to) = to.split();
        let caller = &caller;
        self.apply(caller, "role.revoke", |view| {
            let grantee = grantee(view, to)?;
            let role = input::role_in_path(view, role)?;
            // As `PUT /identity/users/{id}` refuses it: an administrator does
            // not lock himself out by accident.
            if grantee == Grantee::User(caller.who.user_id)
                && view
                    .compiled
                    .role_id(portcullis_policy::builtin::REALM_ADMIN)
                    == Some(role)
            {
                return Err(Error::Conflict(
                    "you cannot remove your own administrator rights".into(),
                ));
            }
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
        .await
    }

    /// Grants or denies a permission directly.
    pub async fn grant_permission(
        &self,
        to: ManageGrants<'_>,
        body: PermissionGrantInput,
    ) -> Result<i64> {
        let (caller, to) = to.split();
        let caller = &caller;
        let now = self.i.clock.now();
        self.apply(caller, "permission.grant", |view| {
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
        .await
    }

    /// Removes a direct permission grant.
    pub async fn revoke_permission(&self, to: ManageGrants<'_>, permission: &str) -> Result<i64> {
        let (caller, to) = to.split();
        let caller = &caller;
        self.apply(caller, "permission.revoke", |view| {
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
        .await
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
