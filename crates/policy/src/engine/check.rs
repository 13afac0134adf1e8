//! The decision path without explanation: interned lookups and flat scans,
//! no allocation unless an applicable policy statement has a condition.
//!
//! Order (see docs/architecture.md, "Authorization decision"):
//! 1. a deny permission grant, to the user or one of its groups → `DirectDeny`;
//! 2. a DENY statement that applies and whose condition holds (or fails to
//!    evaluate: fail closed) → `PolicyDeny`;
//! 3. an allow granted directly to the user → `DirectAllow`;
//! 4. a permission of a role granted directly to the user → `RoleAllow`;
//! 5. anything reached through a group (a grant to the group or an ancestor,
//!    or a role granted to them) → `GroupAllow`;
//! 6. an ALLOW statement that applies and whose condition holds →
//!    `PolicyAllow`;
//! 7. otherwise `NoMatch`.
//!
//! The reason for an allow follows the first link of the path that grants
//! it: user → permission, user → role, user → group.

use std::cell::Cell;

use datalogic_rs::DataValue;
use uuid::Uuid;

use super::{ANY, Attach, CPerm, CStatement, CompiledRealm, DIRECT, UserNode};
use crate::Scope;
use crate::condition::{build_data, with_arena};
use crate::request::{CheckRequest, Reason};

/// One request, resolved against a realm.
pub(crate) struct Probe<'r, 'q> {
    pub(crate) realm: &'r CompiledRealm,
    pub(crate) req: &'q CheckRequest<'q>,
    pub(crate) user: Option<&'r UserNode>,
    pub(crate) kind: u32,
    pub(crate) action: u32,
    owner: Cell<Option<bool>>,
    team: Cell<Option<bool>>,
}

/// Whether `owner` names `subject` (hyphenated, any case).
fn owner_is(owner: Option<&str>, subject: Uuid) -> bool {
    let Some(owner) = owner else { return false };
    let mut buf = Uuid::encode_buffer();
    owner.eq_ignore_ascii_case(subject.hyphenated().encode_lower(&mut buf))
}

impl<'r, 'q> Probe<'r, 'q> {
    pub(crate) fn new(realm: &'r CompiledRealm, req: &'q CheckRequest<'q>) -> Self {
        Self {
            realm,
            req,
            user: realm.users.get(&req.subject),
            kind: realm.kinds.get(&req.resource.kind),
            action: realm.actions.get(req.action),
            owner: Cell::new(None),
            team: Cell::new(None),
        }
    }

    /// Whether the resource's owner is the subject.
    #[inline]
    pub(crate) fn owner_is_subject(&self) -> bool {
        if let Some(known) = self.owner.get() {
            return known;
        }
        let answer = owner_is(self.req.resource.owner.as_deref(), self.req.subject);
        self.owner.set(Some(answer));
        answer
    }

    /// Whether the resource's team is one of the subject's groups at `now`.
    pub(crate) fn team_is_subjects(&self) -> bool {
        if let Some(known) = self.team.get() {
            return known;
        }
        let answer = match (self.user, self.req.resource.team.as_deref()) {
            (Some(user), Some(team))
                if team.starts_with(crate::model::ORGANIZATION_TEAM_PREFIX) =>
            {
                user.org_teams.binary_search_by(|t| (**t).cmp(team)).is_ok()
            }
            (Some(user), Some(team)) => self
                .realm
                .team_group(team)
                .is_some_and(|g| self.realm.in_group(user, self.req.now, g)),
            _ => false,
        };
        self.team.set(Some(answer));
        answer
    }

    /// Whether a permission of this scope reaches the resource.
    #[inline]
    pub(crate) fn reaches(&self, scope: Scope) -> bool {
        match scope {
            Scope::All => true,
            Scope::Team => self.owner_is_subject() || self.team_is_subjects(),
            Scope::Own => self.owner_is_subject(),
        }
    }

    #[inline]
    fn grants(&self, p: &CPerm) -> bool {
        p.covers(self.kind, self.action) && self.reaches(p.scope)
    }

    /// Whether role `role` (with what it includes) grants the request.
    #[inline]
    fn role_grants(&self, role: u32) -> bool {
        let realm = self.realm;
        match realm.closure_of(role) {
            [only] => self.perms_grant(realm.perms_of(*only)),
            closure => closure.iter().any(|&r| self.perms_grant(realm.perms_of(r))),
        }
    }

    /// Scans the permissions of the requested kind and the `*` ones.
    #[inline]
    fn perms_grant(&self, perms: &[CPerm]) -> bool {
        if perms.len() <= 16 {
            return perms.iter().any(|p| self.grants(p));
        }
        let start = perms.partition_point(|p| p.kind < self.kind);
        let end = perms.partition_point(|p| p.kind <= self.kind);
        let any_start = perms.partition_point(|p| p.kind < ANY);
        let exact = perms.get(start..end).unwrap_or(&[]);
        let wild = perms.get(any_start..).unwrap_or(&[]);
        exact.iter().chain(wild).any(|p| self.grants(p))
    }

    /// Whether a policy attachment reaches the subject at `now`.
    #[inline]
    pub(crate) fn attached(&self, attach: Attach) -> bool {
        match attach {
            Attach::Realm => true,
            Attach::User(u) => u == self.req.subject,
            Attach::Group(g) => self
                .user
                .is_some_and(|user| self.realm.in_group(user, self.req.now, g)),
            Attach::Role(r) => self
                .user
                .is_some_and(|user| self.realm.holds_role(user, self.req.now, r)),
        }
    }

    /// Whether a statement matches the request's action and resource and is
    /// attached to the subject (its condition aside).
    #[inline]
    pub(crate) fn applicable(&self, st: &CStatement) -> bool {
        let res = self.req.resource;
        st.matches(&res.kind, self.req.action, res.id.as_deref()) && self.attached(st.attach)
    }

    /// The statement candidates of one effect.
    fn candidates(&self, deny: bool) -> impl Iterator<Item = &'r CStatement> + use<'r, '_> {
        let index = if deny {
            &self.realm.deny_index
        } else {
            &self.realm.allow_index
        };
        let (a, b) = index.candidates(self.kind, &self.req.resource.kind);
        a.iter()
            .chain(b)
            .filter_map(|&i| self.realm.statements.get(i as usize))
    }

    /// Whether some statement of the effect applies and its condition holds.
    /// A DENY whose condition fails to evaluate applies (fail closed); an
    /// ALLOW whose condition fails does not.
    fn statement_holds(&self, deny: bool) -> bool {
        let mut conditioned = false;
        for st in self.candidates(deny) {
            if !self.applicable(st) {
                continue;
            }
            if st.condition.is_none() {
                return true;
            }
            conditioned = true;
        }
        if !conditioned {
            return false;
        }
        with_arena(|arena| {
            let mut data: Option<(&DataValue<'_>, bool)> = None;
            for st in self.candidates(deny) {
                let Some(cond) = &st.condition else { continue };
                if !self.applicable(st) {
                    continue;
                }
                let d = match data {
                    Some((d, with_sets)) if with_sets || !cond.needs_sets => d,
                    _ => {
                        let (roles, groups) = if cond.needs_sets {
                            self.names_in(arena)
                        } else {
                            (&[][..], &[][..])
                        };
                        let d = build_data(
                            arena,
                            self.req,
                            self.realm.attributes.get(&self.req.subject).map(|a| &**a),
                            roles,
                            groups,
                        );
                        data = Some((d, cond.needs_sets));
                        d
                    }
                };
                match cond.holds(&self.realm.engine, d, arena) {
                    Ok(true) => return true,
                    Ok(false) => {}
                    Err(_) if deny => return true,
                    Err(_) => {}
                }
            }
            false
        })
    }

    /// The subject's role and group names at `now`, in the arena.
    pub(crate) fn names_in<'a>(
        &self,
        arena: &'a datalogic_rs::bumpalo::Bump,
    ) -> (&'a [&'a str], &'a [&'a str])
    where
        'r: 'a,
    {
        let Some(user) = self.user else {
            return (&[], &[]);
        };
        let realm = self.realm;
        let roles = realm.held_role_ids(user, self.req.now);
        let roles = arena.alloc_slice_fill_iter(
            roles
                .iter()
                .map(|&i| realm.roles.get(i as usize).map_or("", |r| r.name.as_str())),
        );
        roles.sort_unstable();
        let mut groups = Vec::new();
        realm.any_group(user, self.req.now, |g| {
            groups.push(g);
            false
        });
        groups.sort_unstable();
        groups.dedup();
        let groups = arena.alloc_slice_fill_iter(
            groups
                .iter()
                .map(|&g| realm.groups.get(g as usize).map_or("", |g| g.name.as_str())),
        );
        groups.sort_unstable();
        (roles, groups)
    }
}

impl CompiledRealm {
    /// The decision without explanation.
    pub(crate) fn decide(&self, req: &CheckRequest<'_>) -> Reason {
        let probe = Probe::new(self, req);
        let now = req.now;
        let mut direct_allow = false;
        let mut group_allow = false;
        if let Some(user) = probe.user {
            for g in user.grants.iter() {
                if g.window.holds(now) && probe.grants(&g.perm) {
                    if g.deny {
                        return Reason::DirectDeny;
                    }
                    if g.via == DIRECT {
                        direct_allow = true;
                    } else {
                        group_allow = true;
                    }
                }
            }
        }
        if probe.statement_holds(true) {
            return Reason::PolicyDeny;
        }
        if direct_allow {
            return Reason::DirectAllow;
        }
        if let Some(user) = probe.user {
            let roles = user.roles();
            let granted = |direct: bool| {
                roles.iter().any(|h| {
                    (h.via == DIRECT) == direct && h.window.holds(now) && probe.role_grants(h.id)
                })
            };
            if granted(true) {
                return Reason::RoleAllow;
            }
            if group_allow || granted(false) {
                return Reason::GroupAllow;
            }
        }
        if probe.statement_holds(false) {
            return Reason::PolicyAllow;
        }
        Reason::NoMatch
    }
}
