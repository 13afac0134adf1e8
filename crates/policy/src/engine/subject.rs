//! What a subject holds at an instant: groups (memberships and their
//! ancestors) and roles (granted directly or to those groups, and included).

use uuid::Uuid;

use super::{CompiledRealm, DIRECT, UserNode};
use crate::model::Micros;

impl CompiledRealm {
    /// Calls `f` on each group the user is in at `now`: each valid
    /// membership's group and its ancestors. A group may come more than
    /// once. Stops (returning true) as soon as `f` returns true.
    #[inline]
    pub(crate) fn any_group(
        &self,
        user: &UserNode,
        now: Micros,
        mut f: impl FnMut(u32) -> bool,
    ) -> bool {
        user.teams().iter().any(|t| t.window.holds(now) && f(t.id))
    }

    /// Calls `f(role, through_group)` on each role granted to the user at
    /// `now`, directly or to one of its groups (inclusion not expanded).
    /// Stops (returning true) as soon as `f` returns true.
    #[inline]
    pub(crate) fn any_granted_role(
        &self,
        user: &UserNode,
        now: Micros,
        mut f: impl FnMut(u32, bool) -> bool,
    ) -> bool {
        user.roles()
            .iter()
            .any(|h| h.window.holds(now) && f(h.id, h.via != DIRECT))
    }

    /// Whether the user is in group `group` at `now` (or in a descendant).
    #[inline]
    pub(crate) fn in_group(&self, user: &UserNode, now: Micros, group: u32) -> bool {
        self.any_group(user, now, |g| g == group)
    }

    /// Whether the user holds role `role` at `now`, directly, through a group
    /// or through inclusion.
    #[inline]
    pub(crate) fn holds_role(&self, user: &UserNode, now: Micros, role: u32) -> bool {
        self.any_granted_role(user, now, |r, _| {
            self.closure_of(r).binary_search(&role).is_ok()
        })
    }

    /// Indices of the roles the user holds at `now`, with inclusion; sorted,
    /// deduplicated.
    pub(crate) fn held_role_ids(&self, user: &UserNode, now: Micros) -> Vec<u32> {
        let mut out = Vec::new();
        self.any_granted_role(user, now, |r, _| {
            out.extend_from_slice(self.closure_of(r));
            false
        });
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Names of the roles the user holds at `now`; sorted, deduplicated.
    pub(crate) fn held_role_names(&self, user: Uuid, now: Micros) -> Vec<&str> {
        let Some(node) = self.users.get(&user) else {
            return Vec::new();
        };
        let mut names: Vec<&str> = self
            .held_role_ids(node, now)
            .into_iter()
            .filter_map(|i| self.roles.get(i as usize).map(|r| r.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Names of the groups the user is in at `now`, ancestors included;
    /// sorted, deduplicated.
    pub(crate) fn held_group_names(&self, user: Uuid, now: Micros) -> Vec<&str> {
        let Some(node) = self.users.get(&user) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        self.any_group(node, now, |g| {
            if let Some(group) = self.groups.get(g as usize) {
                names.push(group.name.as_str());
            }
            false
        });
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The group a resource's `team` names: a group name, else a group id.
    pub(crate) fn team_group(&self, team: &str) -> Option<u32> {
        if let Some(&g) = self.group_by_name.get(team) {
            return Some(g);
        }
        let id = Uuid::try_parse(team).ok()?;
        self.group_ids.get(&id).copied()
    }
}
