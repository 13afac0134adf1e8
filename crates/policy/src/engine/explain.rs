//! The explaining path: enumerates every source of every permission with its
//! path, evaluates every applicable policy statement, and says what decided
//! (or what was missing). Slower than [`CompiledRealm::decide`] and
//! allocating; it reaches the same decision (property-tested).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use uuid::Uuid;

use super::check::Probe;
use super::{Attach, CStatement, CompiledRealm, DIRECT, Held, NO_PARENT, UserNode};
use crate::condition::{build_data, with_arena};
use crate::explanation::{
    ConditionOutcome, DecidedBy, EffectivePermission, Explanation, PathStep, PolicyEvaluation,
    StepKind, path_text,
};
use crate::model::{Effect, Micros};
use crate::request::{CheckRequest, Decision, Reason};
use crate::{Permission, Scope, Segment};

/// How a permission source reaches the user: its first link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Direct,
    Role,
    Group,
}

/// One path from a user to a permission.
struct Source {
    steps: Vec<PathStep>,
    permission: Permission,
    effect: Effect,
    via: Via,
}

fn covers(p: &Permission, kind: &str, action: &str) -> bool {
    let seg = |s: &Segment, v: &str| match s {
        Segment::Any => true,
        Segment::Name(n) => n == v,
    };
    seg(&p.resource, kind) && seg(&p.action, action)
}

/// Roles granted to the user itself, valid at `now`.
fn direct_roles(node: &UserNode, now: Micros) -> impl Iterator<Item = &Held> {
    node.roles()
        .iter()
        .filter(move |h| h.via == DIRECT && h.window.holds(now))
}

/// The user's memberships valid at `now` (a team entry for the membership's
/// own group).
fn memberships(node: &UserNode, now: Micros) -> impl Iterator<Item = &Held> {
    node.teams()
        .iter()
        .filter(move |t| t.id == t.via && t.window.holds(now))
}

fn user_step(user: Uuid) -> PathStep {
    PathStep::new(StepKind::User, Some(user), user.to_string())
}

fn permission_step(p: &Permission) -> PathStep {
    PathStep::new(StepKind::Permission, None, p.to_string())
}

impl CompiledRealm {
    fn role_step(&self, r: u32) -> PathStep {
        let role = self.roles.get(r as usize);
        PathStep::new(
            StepKind::Role,
            role.map(|r| r.id),
            role.map_or("?", |r| r.name.as_str()),
        )
    }

    fn group_step(&self, g: u32) -> PathStep {
        let group = self.groups.get(g as usize);
        PathStep::new(
            StepKind::Group,
            group.map(|g| g.id),
            group.map_or("?", |g| g.name.as_str()),
        )
    }

    /// Each role reachable from `start` by inclusion (itself first), with the
    /// shortest chain of roles from `start` to it.
    fn role_paths(&self, start: u32) -> Vec<(u32, Vec<u32>)> {
        let mut out: Vec<(u32, Vec<u32>)> = Vec::new();
        let mut queue = VecDeque::from([(start, vec![start])]);
        let mut seen = vec![start];
        while let Some((r, path)) = queue.pop_front() {
            if let Some(node) = self.role_nodes.get(r as usize) {
                for &inc in node.includes.iter() {
                    if !seen.contains(&inc) {
                        seen.push(inc);
                        let mut p = path.clone();
                        p.push(inc);
                        queue.push_back((inc, p));
                    }
                }
            }
            out.push((r, path));
        }
        out
    }

    fn push_role_sources(
        &self,
        out: &mut Vec<Source>,
        wanted: &dyn Fn(&Permission) -> bool,
        prefix: &[PathStep],
        role: u32,
        via: Via,
    ) {
        for (r, chain) in self.role_paths(role) {
            let Some(def) = self.roles.get(r as usize) else {
                continue;
            };
            for p in def.permissions.iter().filter(|p| wanted(p)) {
                let mut steps = prefix.to_vec();
                steps.extend(chain.iter().map(|&c| self.role_step(c)));
                steps.push(permission_step(p));
                out.push(Source {
                    steps,
                    permission: p.clone(),
                    effect: Effect::Allow,
                    via,
                });
            }
        }
    }

    /// Every path from the user to a (`wanted`) permission at `now`.
    fn sources(
        &self,
        user: Uuid,
        now: Micros,
        wanted: &dyn Fn(&Permission) -> bool,
    ) -> Vec<Source> {
        let mut out = Vec::new();
        let Some(node) = self.users.get(&user) else {
            return out;
        };
        let me = user_step(user);
        for g in node
            .grants
            .iter()
            .filter(|g| g.via == DIRECT && g.window.holds(now))
        {
            if let Some(pg) = self.grants.get(g.index as usize)
                && wanted(&pg.permission)
            {
                out.push(Source {
                    steps: vec![me.clone(), permission_step(&pg.permission)],
                    permission: pg.permission.clone(),
                    effect: pg.effect,
                    via: Via::Direct,
                });
            }
        }
        for h in direct_roles(node, now) {
            self.push_role_sources(&mut out, wanted, std::slice::from_ref(&me), h.id, Via::Role);
        }
        for m in memberships(node, now) {
            let mut chain = vec![me.clone()];
            let mut g = m.id;
            while let Some(gnode) = self.group_nodes.get(g as usize) {
                chain.push(self.group_step(g));
                for grant in gnode.grants.iter().filter(|x| x.window.holds(now)) {
                    if let Some(pg) = self.grants.get(grant.index as usize)
                        && wanted(&pg.permission)
                    {
                        let mut steps = chain.clone();
                        steps.push(permission_step(&pg.permission));
                        out.push(Source {
                            steps,
                            permission: pg.permission.clone(),
                            effect: pg.effect,
                            via: Via::Group,
                        });
                    }
                }
                for h in gnode.roles.iter().filter(|h| h.window.holds(now)) {
                    self.push_role_sources(&mut out, wanted, &chain, h.id, Via::Group);
                }
                if gnode.parent == NO_PARENT {
                    break;
                }
                g = gnode.parent;
            }
        }
        out
    }

    /// Effective permissions: every source grouped by (permission, effect).
    pub(crate) fn effective(&self, user: Uuid, now: Micros) -> Vec<EffectivePermission> {
        let mut by_perm: BTreeMap<(Permission, bool), Vec<String>> = BTreeMap::new();
        for s in self.sources(user, now, &|_| true) {
            let texts = by_perm
                .entry((s.permission, s.effect == Effect::Deny))
                .or_default();
            let text = path_text(&s.steps);
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        by_perm
            .into_iter()
            .map(|((permission, deny), sources)| EffectivePermission {
                permission,
                effect: if deny { Effect::Deny } else { Effect::Allow },
                sources,
            })
            .collect()
    }

    /// How a policy attachment reaches the subject at `now`, as steps ending
    /// before the policy; `None` when it does not.
    fn attachment_path(&self, subject: Uuid, now: Micros, attach: Attach) -> Option<Vec<PathStep>> {
        let me = user_step(subject);
        match attach {
            Attach::Realm => Some(vec![PathStep::new(StepKind::Realm, None, "")]),
            Attach::User(u) => (u == subject).then(|| vec![me]),
            Attach::Group(target) => {
                let node = self.users.get(&subject)?;
                for m in memberships(node, now) {
                    let mut chain = vec![me.clone()];
                    let mut g = m.id;
                    while g != NO_PARENT {
                        chain.push(self.group_step(g));
                        if g == target {
                            return Some(chain);
                        }
                        g = self
                            .group_nodes
                            .get(g as usize)
                            .map_or(NO_PARENT, |n| n.parent);
                    }
                }
                None
            }
            Attach::Role(target) => {
                let node = self.users.get(&subject)?;
                let via_role = |prefix: &[PathStep], role: u32| {
                    self.role_paths(role)
                        .into_iter()
                        .find(|(r, _)| *r == target)
                        .map(|(_, chain)| {
                            let mut steps = prefix.to_vec();
                            steps.extend(chain.iter().map(|&c| self.role_step(c)));
                            steps
                        })
                };
                for h in direct_roles(node, now) {
                    if let Some(path) = via_role(std::slice::from_ref(&me), h.id) {
                        return Some(path);
                    }
                }
                for m in memberships(node, now) {
                    let mut chain = vec![me.clone()];
                    let mut g = m.id;
                    while let Some(gnode) = self.group_nodes.get(g as usize) {
                        chain.push(self.group_step(g));
                        for h in gnode.roles.iter().filter(|h| h.window.holds(now)) {
                            if let Some(path) = via_role(&chain, h.id) {
                                return Some(path);
                            }
                        }
                        if gnode.parent == NO_PARENT {
                            break;
                        }
                        g = gnode.parent;
                    }
                }
                None
            }
        }
    }

    fn policy_step(&self, st: &CStatement) -> PathStep {
        let p = self.policies.get(st.policy as usize);
        PathStep::new(
            StepKind::Policy,
            p.map(|p| p.id),
            p.map_or("?", |p| p.name.as_str()),
        )
    }

    /// Every statement that matches the request and is attached to the
    /// subject, with its condition evaluated: denies first, then allows, by
    /// priority. Also returns the path (attachment then policy) of each.
    fn evaluate_policies(&self, req: &CheckRequest<'_>) -> Vec<(PolicyEvaluation, Vec<PathStep>)> {
        let res = req.resource;
        let mut applicable: Vec<(&CStatement, Vec<PathStep>)> = self
            .statements
            .iter()
            .filter(|st| st.matches(&res.kind, req.action, res.id.as_deref()))
            .filter_map(|st| {
                let mut path = self.attachment_path(req.subject, req.now, st.attach)?;
                path.push(self.policy_step(st));
                Some((st, path))
            })
            .collect();
        applicable.sort_by_key(|(st, _)| (!st.deny, std::cmp::Reverse(st.priority)));
        if applicable.is_empty() {
            return Vec::new();
        }
        let roles = self.held_role_names(req.subject, req.now);
        let groups = self.held_group_names(req.subject, req.now);
        with_arena(|arena| {
            let data = build_data(
                arena,
                req,
                self.attributes.get(&req.subject).map(|a| &**a),
                &roles,
                &groups,
            );
            applicable
                .into_iter()
                .map(|(st, path)| {
                    let condition = match &st.condition {
                        None => ConditionOutcome::None,
                        Some(c) => match c.holds(&self.engine, data, arena) {
                            Ok(true) => ConditionOutcome::Held,
                            Ok(false) => ConditionOutcome::NotHeld,
                            Err(e) => ConditionOutcome::Error {
                                message: e.to_string(),
                            },
                        },
                    };
                    let applied = match condition {
                        ConditionOutcome::None | ConditionOutcome::Held => true,
                        ConditionOutcome::NotHeld => false,
                        ConditionOutcome::Error { .. } => st.deny,
                    };
                    let policy = self.policies.get(st.policy as usize);
                    let eval = PolicyEvaluation {
                        id: policy.map_or(Uuid::nil(), |p| p.id),
                        name: policy.map_or_else(String::new, |p| p.name.clone()),
                        priority: st.priority,
                        effect: if st.deny { Effect::Deny } else { Effect::Allow },
                        statement: st.index as usize,
                        sid: policy
                            .and_then(|p| p.statements.get(st.index as usize))
                            .and_then(|s| s.sid.clone()),
                        condition,
                        applied,
                        attachment: path_text(&path),
                    };
                    (eval, path)
                })
                .collect()
        })
    }

    /// The decision with its explanation.
    pub(crate) fn check_explained(&self, req: &CheckRequest<'_>) -> Decision {
        let probe = Probe::new(self, req);
        let res = req.resource;
        let sources = self.sources(req.subject, req.now, &|p| covers(p, &res.kind, req.action));
        let covering: Vec<&Source> = sources.iter().collect();
        let policies = self.evaluate_policies(req);

        let grant = |reason: Reason, s: &Source| {
            let text = path_text(&s.steps);
            let message = if reason == Reason::DirectDeny {
                format!("Denied by an explicit deny grant: {text}.")
            } else {
                format!("Allowed: {text}.")
            };
            (
                reason,
                Some(DecidedBy::Grant {
                    permission: s.permission.clone(),
                    effect: s.effect,
                }),
                s.steps.clone(),
                message,
            )
        };
        let policy = |reason: Reason, (eval, path): &(PolicyEvaluation, Vec<PathStep>)| {
            let verb = if reason == Reason::PolicyDeny {
                "Denied"
            } else {
                "Allowed"
            };
            let message = format!(
                "{verb} by policy '{}' (priority {}, statement {}): {}.",
                eval.name,
                eval.priority,
                eval.statement,
                path_text(path)
            );
            (
                reason,
                Some(DecidedBy::Policy {
                    id: eval.id,
                    name: eval.name.clone(),
                    priority: eval.priority,
                    effect: eval.effect,
                    statement: eval.statement,
                    sid: eval.sid.clone(),
                }),
                path.clone(),
                message,
            )
        };
        let reaching_allow = |via: Via| {
            covering.iter().find(|s| {
                s.effect == Effect::Allow && s.via == via && probe.reaches(s.permission.scope)
            })
        };

        let mut missing = None;
        let (reason, decided_by, path, message) = if let Some(s) = covering
            .iter()
            .find(|s| s.effect == Effect::Deny && probe.reaches(s.permission.scope))
        {
            grant(Reason::DirectDeny, s)
        } else if let Some(p) = policies
            .iter()
            .find(|(e, _)| e.effect == Effect::Deny && e.applied)
        {
            policy(Reason::PolicyDeny, p)
        } else if let Some(s) = reaching_allow(Via::Direct) {
            grant(Reason::DirectAllow, s)
        } else if let Some(s) = reaching_allow(Via::Role) {
            grant(Reason::RoleAllow, s)
        } else if let Some(s) = reaching_allow(Via::Group) {
            grant(Reason::GroupAllow, s)
        } else if let Some(p) = policies
            .iter()
            .find(|(e, _)| e.effect == Effect::Allow && e.applied)
        {
            policy(Reason::PolicyAllow, p)
        } else {
            let text = self.missing_text(&probe, &covering, &policies);
            let message = format!("Denied: {text}.");
            missing = Some(text);
            (Reason::NoMatch, None, Vec::new(), message)
        };
        let path_text = (!path.is_empty()).then(|| path_text(&path));
        Decision {
            allowed: reason.allows(),
            reason,
            message: Cow::Owned(message),
            explanation: Some(Explanation {
                reason,
                decided_by,
                path,
                path_text,
                missing,
                policies: policies.into_iter().map(|(e, _)| e).collect(),
            }),
        }
    }

    /// What a default deny lacked: the grant needed and what was held.
    fn missing_text(
        &self,
        probe: &Probe<'_, '_>,
        covering: &[&Source],
        policies: &[(PolicyEvaluation, Vec<PathStep>)],
    ) -> String {
        let req = probe.req;
        let res = req.resource;
        let needed = if probe.owner_is_subject() {
            Scope::Own
        } else if probe.team_is_subjects() {
            Scope::Team
        } else {
            Scope::All
        };
        let mut text = format!("no grant of {}:{} at scope {needed}", res.kind, req.action);
        let why = |scope: Scope| -> String {
            match (scope, res.owner.as_deref(), res.team.as_deref()) {
                (Scope::Own, None, _) => "resource has no owner".into(),
                (Scope::Own, Some(_), _) => "resource owner is someone else".into(),
                (_, _, Some(team)) if team.starts_with(crate::model::ORGANIZATION_TEAM_PREFIX) => {
                    format!("resource team '{team}' is not an organization the user administers")
                }
                (_, _, Some(team)) => {
                    format!("resource team '{team}' is not one of the user's groups")
                }
                (_, None, None) => "resource has neither team nor owner".into(),
                (_, Some(_), None) => "resource has no team and its owner is someone else".into(),
            }
        };
        let mut held: Vec<String> = covering
            .iter()
            .filter(|s| s.effect == Effect::Allow)
            .map(|s| format!("{} ({})", s.permission, why(s.permission.scope)))
            .collect();
        held.dedup();
        if held.is_empty() {
            text.push_str(&format!("; held: nothing for {}:{}", res.kind, req.action));
        } else {
            text.push_str("; held: ");
            text.push_str(&held.join(", "));
        }
        let unmet = policies
            .iter()
            .filter(|(e, _)| e.effect == Effect::Allow && !e.applied)
            .count();
        if unmet > 0 {
            text.push_str(&format!(
                "; {unmet} allowing policy statement(s) matched but their conditions did not hold"
            ));
        }
        text
    }
}
