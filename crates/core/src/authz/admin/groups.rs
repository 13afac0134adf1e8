//! Groups, their hierarchy and members.

use super::*;

impl Authz<'_> {
    // ---- groups ----

    /// Every group, by name.
    pub async fn list_groups(&self, admin: &Allowed<GroupsRead>) -> Result<Read<Vec<Group>>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let mut groups = view.snapshot.groups.clone();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Read {
            view,
            value: groups,
        })
    }

    /// One group, by id or name.
    pub async fn get_group(&self, admin: &Allowed<GroupsRead>, group: &str) -> Result<Read<Group>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let id = input::group_in_path(&view, group)?;
        let g = view
            .compiled
            .group(id)
            .ok_or(Error::NotFound("group"))?
            .clone();
        Ok(Read { view, value: g })
    }

    async fn group_after(
        &self,
        caller: &Caller<'_>,
        id: Uuid,
        revision: i64,
    ) -> Result<Read<Group>> {
        let view = self.view(caller.realm.id, Some(revision)).await?;
        let g = view
            .compiled
            .group(id)
            .ok_or(Error::NotFound("group"))?
            .clone();
        Ok(Read { view, value: g })
    }

    /// Creates a group.
    pub async fn create_group(
        &self,
        admin: &Allowed<GroupsManage>,
        new: GroupInput,
    ) -> Result<Read<Group>> {
        self.create_group_by(&admin.caller(), new).await
    }

    /// [`Self::create_group`] for a caller whose right was decided otherwise (SCIM
    /// provisioning).
    pub(crate) async fn create_group_by(
        &self,
        caller: &Caller<'_>,
        new: GroupInput,
    ) -> Result<Read<Group>> {
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
    ) -> Result<Read<Group>> {
        self.update_group_by(&admin.caller(), group, patch).await
    }

    /// [`Self::update_group`] for a caller whose right was decided otherwise (SCIM
    /// provisioning).
    pub(crate) async fn update_group_by(
        &self,
        caller: &Caller<'_>,
        group: &str,
        patch: GroupPatch,
    ) -> Result<Read<Group>> {
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
    pub async fn delete_group(&self, admin: &Allowed<GroupsManage>, group: &str) -> Result<i64> {
        self.delete_group_by(&admin.caller(), group).await
    }

    /// [`Self::delete_group`] for a caller whose right was decided otherwise (SCIM
    /// provisioning).
    pub(crate) async fn delete_group_by(&self, caller: &Caller<'_>, group: &str) -> Result<i64> {
        self.apply(caller, "group.delete", |view| {
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
        .await
    }

    /// A group's direct members.
    pub async fn members(
        &self,
        admin: &Allowed<GroupsRead>,
        group: &str,
    ) -> Result<Read<Vec<Held<Membership>>>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let id = input::group_in_path(&view, group)?;
        let now = self.now_micros();
        let members = view
            .snapshot
            .memberships
            .iter()
            .filter(|m| m.group == id)
            .map(|m| Held {
                grant: *m,
                active: m.validity.holds_at(now),
            })
            .collect();
        Ok(Read {
            view,
            value: members,
        })
    }

    /// Adds a member (or changes the window of a membership).
    pub async fn add_member(
        &self,
        admin: &Allowed<GroupsManage>,
        group: &str,
        body: proto::AddMemberRequest,
    ) -> Result<i64> {
        self.add_member_by(&admin.caller(), group, body).await
    }

    /// [`Self::add_member`] for a caller whose right was decided otherwise (SCIM
    /// provisioning).
    pub(crate) async fn add_member_by(
        &self,
        caller: &Caller<'_>,
        group: &str,
        body: proto::AddMemberRequest,
    ) -> Result<i64> {
        let now = self.i.clock.now();
        self.apply(caller, "group.member.add", |view| {
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
        .await
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        admin: &Allowed<GroupsManage>,
        group: &str,
        user: Uuid,
    ) -> Result<i64> {
        self.remove_member_by(&admin.caller(), group, user).await
    }

    /// [`Self::remove_member`] for a caller whose right was decided otherwise (SCIM
    /// provisioning).
    pub(crate) async fn remove_member_by(
        &self,
        caller: &Caller<'_>,
        group: &str,
        user: Uuid,
    ) -> Result<i64> {
        self.apply(caller, "group.member.remove", |view| {
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
        .await
    }
}
