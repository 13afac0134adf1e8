//! Building a [`CompiledRealm`] from a snapshot.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    ANY, Attach, CGrant, CPerm, CStatement, CompileError, CompiledRealm, DIRECT, GroupNode, Held,
    Interner, NO_PARENT, RoleNode, Span, StatementIndex, UserNode, Window,
};
use crate::condition::{Condition, new_engine};
use crate::model::{Attachment, Effect, Grantee, RealmSnapshot};
use crate::pattern::{ActionPattern, ResourcePattern};
use crate::syntax::validate_condition;
use crate::{Permission, Segment};

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn intern_perm(kinds: &mut Interner, actions: &mut Interner, p: &Permission) -> CPerm {
    CPerm {
        kind: match &p.resource {
            Segment::Any => ANY,
            Segment::Name(n) => kinds.intern(n),
        },
        action: match &p.action {
            Segment::Any => ANY,
            Segment::Name(n) => actions.intern(n),
        },
        scope: p.scope,
    }
}

#[derive(Default)]
struct UserBuilder {
    roles: Vec<Held>,
    memberships: Vec<Held>,
    grants: Vec<CGrant>,
    /// `org:<name>` and `org:<id>` of the organizations the user administers.
    org_teams: Vec<Box<str>>,
}

impl UserBuilder {
    /// Flattens memberships: each membership's group and ancestors become
    /// teams, and their role and permission grants the user's, with the
    /// window of the whole path.
    fn flatten(mut self, group_nodes: &[GroupNode]) -> UserNode {
        let mut teams = Vec::new();
        for m in &self.memberships {
            let mut g = m.id;
            while let Some(node) = group_nodes.get(g as usize) {
                teams.push(Held {
                    id: g,
                    via: m.id,
                    window: m.window,
                });
                for h in node.roles.iter() {
                    let window = m.window.and(h.window);
                    if !window.is_empty() {
                        self.roles.push(Held {
                            id: h.id,
                            via: g,
                            window,
                        });
                    }
                }
                for grant in node.grants.iter() {
                    let window = m.window.and(grant.window);
                    if !window.is_empty() {
                        self.grants.push(CGrant {
                            via: g,
                            window,
                            ..*grant
                        });
                    }
                }
                g = node.parent;
            }
        }
        dedup(&mut self.roles);
        dedup(&mut teams);
        let n_roles = idx(self.roles.len());
        self.roles.extend(teams);
        self.org_teams.sort_unstable();
        self.org_teams.dedup();
        UserNode {
            held: self.roles.into_boxed_slice(),
            n_roles,
            grants: self.grants.into_boxed_slice(),
            org_teams: self.org_teams.into_boxed_slice(),
        }
    }
}

/// Removes exact repeats, keeping first occurrences in order.
fn dedup(list: &mut Vec<Held>) {
    let mut seen = rustc_hash::FxHashSet::default();
    list.retain(|h| seen.insert(*h));
}

impl CompiledRealm {
    /// Compiles a snapshot: checks references and cycles, flattens role
    /// inclusion, indexes grants by grantee and policy statements by
    /// resource kind, and compiles every enabled policy's conditions once.
    pub fn compile(snapshot: &RealmSnapshot) -> Result<CompiledRealm, CompileError> {
        let engine = new_engine();
        let mut kinds = Interner::default();
        let mut actions = Interner::default();

        // Roles.
        let roles = snapshot.roles.clone();
        let mut role_ids = FxHashMap::default();
        let mut role_by_name = FxHashMap::default();
        for (i, r) in roles.iter().enumerate() {
            role_ids.insert(r.id, idx(i));
            role_by_name.insert(r.name.clone(), idx(i));
        }
        let role_index = |id: Uuid| {
            role_ids
                .get(&id)
                .copied()
                .ok_or(CompileError::UnknownRole(id))
        };
        let mut includes: Vec<Box<[u32]>> = Vec::with_capacity(roles.len());
        for r in &roles {
            let mut inc = r
                .includes
                .iter()
                .map(|&id| role_index(id))
                .collect::<Result<Vec<_>, _>>()?;
            inc.sort_unstable();
            inc.dedup();
            includes.push(inc.into_boxed_slice());
        }
        if let Some(cycle) = find_role_cycle(&includes) {
            return Err(CompileError::RoleCycle(
                cycle
                    .iter()
                    .filter_map(|&i| roles.get(i as usize).map(|r| r.name.clone()))
                    .collect(),
            ));
        }
        let closures = role_closures(&includes);
        let mut role_perms = Vec::new();
        let mut role_closures = Vec::new();
        let role_nodes: Vec<RoleNode> = roles
            .iter()
            .zip(closures)
            .zip(includes)
            .map(|((r, closure), includes)| {
                let mut perms: Vec<CPerm> = r
                    .permissions
                    .iter()
                    .map(|p| intern_perm(&mut kinds, &mut actions, p))
                    .collect();
                perms.sort_unstable();
                perms.dedup();
                RoleNode {
                    perms: Span::push(&mut role_perms, &perms),
                    closure: Span::push(&mut role_closures, &closure),
                    includes,
                }
            })
            .collect();
        role_perms.shrink_to_fit();
        role_closures.shrink_to_fit();

        // Groups.
        let groups = snapshot.groups.clone();
        let mut group_ids = FxHashMap::default();
        let mut group_by_name = FxHashMap::default();
        for (i, g) in groups.iter().enumerate() {
            group_ids.insert(g.id, idx(i));
            group_by_name.insert(g.name.clone(), idx(i));
        }
        let group_index = |id: Uuid| {
            group_ids
                .get(&id)
                .copied()
                .ok_or(CompileError::UnknownGroup(id))
        };
        let parents = groups
            .iter()
            .map(|g| g.parent.map_or(Ok(NO_PARENT), group_index))
            .collect::<Result<Vec<u32>, _>>()?;
        if let Some(cycle) = find_parent_cycle(&parents) {
            return Err(CompileError::GroupCycle(
                cycle
                    .iter()
                    .filter_map(|&i| groups.get(i as usize).map(|g| g.name.clone()))
                    .collect(),
            ));
        }
        let mut group_roles: Vec<Vec<Held>> = vec![Vec::new(); groups.len()];
        let mut group_grants: Vec<Vec<CGrant>> = vec![Vec::new(); groups.len()];
        let mut users: FxHashMap<Uuid, UserBuilder> = FxHashMap::default();

        for m in &snapshot.memberships {
            let g = group_index(m.group)?;
            users.entry(m.user).or_default().memberships.push(Held {
                id: g,
                via: g,
                window: Window::of(&m.validity),
            });
        }
        for rg in &snapshot.role_grants {
            let held = Held {
                id: role_index(rg.role)?,
                via: DIRECT,
                window: Window::of(&rg.validity),
            };
            match rg.to {
                Grantee::User(u) => users.entry(u).or_default().roles.push(held),
                Grantee::Group(g) => {
                    if let Some(list) = group_roles.get_mut(group_index(g)? as usize) {
                        list.push(held);
                    }
                }
            }
        }
        for (i, pg) in snapshot.permission_grants.iter().enumerate() {
            let grant = CGrant {
                perm: intern_perm(&mut kinds, &mut actions, &pg.permission),
                deny: pg.effect == Effect::Deny,
                index: idx(i),
                via: DIRECT,
                window: Window::of(&pg.validity),
            };
            match pg.to {
                Grantee::User(u) => users.entry(u).or_default().grants.push(grant),
                Grantee::Group(g) => {
                    if let Some(list) = group_grants.get_mut(group_index(g)? as usize) {
                        list.push(grant);
                    }
                }
            }
        }
        let group_nodes: Vec<GroupNode> = parents
            .into_iter()
            .zip(group_roles)
            .zip(group_grants)
            .map(|((parent, roles), grants)| GroupNode {
                parent,
                roles: roles.into_boxed_slice(),
                grants: grants.into_boxed_slice(),
            })
            .collect();
        organization_roles_and_teams(snapshot, &role_by_name, &mut users);
        let mut users: FxHashMap<Uuid, UserNode> = users
            .into_iter()
            .map(|(id, b)| (id, b.flatten(&group_nodes)))
            .collect();
        users.shrink_to_fit();

        // Policies: enabled ones only; a disabled policy never applies.
        let policies = snapshot.policies.clone();
        let mut statements = Vec::new();
        // Per statement: the kinds it pins, or None when it may match any.
        let mut pinned: Vec<Option<Vec<u32>>> = Vec::new();
        for (pi, p) in policies.iter().enumerate() {
            if !p.enabled {
                continue;
            }
            let attach = match p.attached_to {
                Attachment::Realm => Attach::Realm,
                Attachment::User(u) => Attach::User(u),
                Attachment::Group(g) => Attach::Group(group_index(g)?),
                Attachment::Role(r) => Attach::Role(role_index(r)?),
            };
            for (si, s) in p.statements.iter().enumerate() {
                let condition = match &s.condition {
                    None => None,
                    Some(c) => {
                        let field = format!("statements[{si}].condition");
                        validate_condition(c, &field).map_err(|e| CompileError::Condition {
                            policy: p.name.clone(),
                            message: e.to_string(),
                        })?;
                        Some(Condition::compile(&engine, c).map_err(|message| {
                            CompileError::Condition {
                                policy: p.name.clone(),
                                message: format!("{field}: {message}"),
                            }
                        })?)
                    }
                };
                let resources: Box<[ResourcePattern]> = s
                    .resources
                    .iter()
                    .map(|r| ResourcePattern::new(r))
                    .collect();
                let kinds_pinned = if resources.is_empty() {
                    None
                } else {
                    resources
                        .iter()
                        .map(|r| r.pinned_kind().map(|k| kinds.intern(k)))
                        .collect::<Option<Vec<u32>>>()
                };
                pinned.push(kinds_pinned);
                statements.push(CStatement {
                    policy: idx(pi),
                    index: idx(si),
                    deny: s.effect == Effect::Deny,
                    priority: p.priority,
                    attach,
                    actions: s.actions.iter().map(|a| ActionPattern::new(a)).collect(),
                    resources,
                    condition,
                });
            }
        }
        let deny_index = build_index(&statements, &pinned, true, kinds.len());
        let allow_index = build_index(&statements, &pinned, false, kinds.len());

        Ok(CompiledRealm {
            revision: snapshot.revision,
            engine,
            roles,
            role_nodes,
            role_perms,
            role_closures,
            role_ids,
            role_by_name,
            groups,
            group_nodes,
            group_ids,
            group_by_name,
            users,
            attributes: shared_attributes(snapshot),
            grants: snapshot.permission_grants.clone(),
            kinds,
            actions,
            policies,
            statements,
            deny_index,
            allow_index,
        })
    }
}

/// Organization roles that name a role of the realm become held roles;
/// `owner` and `admin` make the organization and every one below it the
/// member's teams (`org:<name>`, `org:<id>`). Unknown organizations are
/// skipped (a membership read after its organization was deleted).
fn organization_roles_and_teams(
    snapshot: &RealmSnapshot,
    role_by_name: &FxHashMap<String, u32>,
    users: &mut FxHashMap<Uuid, UserBuilder>,
) {
    if snapshot.organization_members.is_empty() {
        return;
    }
    let orgs: FxHashMap<Uuid, &crate::model::OrganizationNode> =
        snapshot.organizations.iter().map(|o| (o.id, o)).collect();
    let mut children: FxHashMap<Uuid, Vec<Uuid>> = FxHashMap::default();
    for o in &snapshot.organizations {
        if let Some(p) = o.parent {
            children.entry(p).or_default().push(o.id);
        }
    }
    let prefix = crate::model::ORGANIZATION_TEAM_PREFIX;
    for m in &snapshot.organization_members {
        if !orgs.contains_key(&m.organization) {
            continue;
        }
        let user = users.entry(m.user).or_default();
        let organization_own = matches!(m.role.as_str(), "owner" | "admin" | "member");
        if let Some(&role) = role_by_name.get(&m.role).filter(|_| !organization_own) {
            user.roles.push(Held {
                id: role,
                via: DIRECT,
                window: Window::of(&crate::model::Validity::ALWAYS),
            });
        }
        if m.role != "owner" && m.role != "admin" {
            continue;
        }
        // The organization and its descendants; the visited set ends a
        // cycle, should stored data ever hold one.
        let mut stack = vec![m.organization];
        let mut seen = rustc_hash::FxHashSet::default();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(o) = orgs.get(&id) {
                user.org_teams
                    .push(format!("{prefix}{}", o.name).into_boxed_str());
                user.org_teams
                    .push(format!("{prefix}{}", o.id).into_boxed_str());
            }
            if let Some(kids) = children.get(&id) {
                stack.extend(kids.iter().copied());
            }
        }
    }
}

/// Each user's organizations as attributes: `organizations` (names, sorted)
/// and `organization_roles` (name -> role), over what is stored under
/// those names.
fn organization_attributes(snapshot: &RealmSnapshot) -> FxHashMap<Uuid, Map<String, Value>> {
    let names: FxHashMap<Uuid, &str> = snapshot
        .organizations
        .iter()
        .map(|o| (o.id, o.name.as_str()))
        .collect();
    let mut by_user: FxHashMap<Uuid, std::collections::BTreeMap<&str, &str>> = FxHashMap::default();
    for m in &snapshot.organization_members {
        if let Some(name) = names.get(&m.organization) {
            by_user
                .entry(m.user)
                .or_default()
                .insert(name, m.role.as_str());
        }
    }
    by_user
        .into_iter()
        .map(|(user, orgs)| {
            let mut map = Map::new();
            map.insert(
                "organizations".to_owned(),
                Value::Array(orgs.keys().map(|n| Value::from(*n)).collect()),
            );
            map.insert(
                "organization_roles".to_owned(),
                Value::Object(
                    orgs.iter()
                        .map(|(n, r)| ((*n).to_owned(), Value::from(*r)))
                        .collect(),
                ),
            );
            (user, map)
        })
        .collect()
}

/// Each user's stored attributes, with its organizations, equal maps
/// shared (most users of a realm have one of a few combinations: a
/// department, a location).
fn shared_attributes(snapshot: &RealmSnapshot) -> FxHashMap<Uuid, Arc<Map<String, Value>>> {
    let mut distinct: FxHashMap<String, Arc<Map<String, Value>>> = FxHashMap::default();
    let mut by_user = FxHashMap::default();
    let mut orgs = organization_attributes(snapshot);
    let mut merged: Vec<(Uuid, Map<String, Value>)> = snapshot
        .subject_attributes
        .iter()
        .map(|(u, a)| {
            let mut a = a.clone();
            if let Some(o) = orgs.remove(u) {
                a.extend(o);
            }
            (*u, a)
        })
        .collect();
    merged.extend(orgs);
    for (user, attributes) in &merged {
        if attributes.is_empty() {
            continue;
        }
        let key = serde_json::to_string(attributes).unwrap_or_default();
        let shared = distinct
            .entry(key)
            .or_insert_with(|| Arc::new(attributes.clone()))
            .clone();
        by_user.insert(*user, shared);
    }
    by_user
}

fn build_index(
    statements: &[CStatement],
    pinned: &[Option<Vec<u32>>],
    deny: bool,
    kinds: usize,
) -> StatementIndex {
    let mut order: Vec<u32> = statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.deny == deny)
        .map(|(i, _)| idx(i))
        .collect();
    // Higher priority first; stable, so snapshot order breaks ties.
    order.sort_by_key(|&i| {
        std::cmp::Reverse(statements.get(i as usize).map_or(i32::MIN, |s| s.priority))
    });
    let mut by_kind: Vec<Vec<u32>> = vec![Vec::new(); kinds];
    let mut any = Vec::new();
    for &i in &order {
        match pinned.get(i as usize) {
            Some(Some(ks)) => {
                let mut ks = ks.clone();
                ks.sort_unstable();
                ks.dedup();
                for k in ks {
                    if let Some(list) = by_kind.get_mut(k as usize) {
                        list.push(i);
                    }
                }
            }
            _ => any.push(i),
        }
    }
    StatementIndex {
        by_kind: by_kind.into_iter().map(Vec::into_boxed_slice).collect(),
        any: any.into_boxed_slice(),
        all: order.into_boxed_slice(),
    }
}

/// A cycle in the inclusion graph, as role indices with the first repeated
/// last. Iterative depth-first search.
fn find_role_cycle(includes: &[Box<[u32]>]) -> Option<Vec<u32>> {
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut color = vec![WHITE; includes.len()];
    for start in 0..includes.len() {
        if color.get(start) != Some(&WHITE) {
            continue;
        }
        // (node, next child position)
        let mut stack: Vec<(u32, usize)> = vec![(idx(start), 0)];
        if let Some(c) = color.get_mut(start) {
            *c = GREY;
        }
        while let Some(&mut (node, ref mut pos)) = stack.last_mut() {
            let children = includes.get(node as usize).map_or(&[][..], |c| &c[..]);
            match children.get(*pos) {
                Some(&child) => {
                    *pos += 1;
                    match color.get(child as usize) {
                        Some(&WHITE) => {
                            if let Some(c) = color.get_mut(child as usize) {
                                *c = GREY;
                            }
                            stack.push((child, 0));
                        }
                        Some(&GREY) => {
                            let from = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                            let mut cycle: Vec<u32> =
                                stack.iter().skip(from).map(|&(n, _)| n).collect();
                            cycle.push(child);
                            return Some(cycle);
                        }
                        _ => {}
                    }
                }
                None => {
                    if let Some(c) = color.get_mut(node as usize) {
                        *c = BLACK;
                    }
                    stack.pop();
                }
            }
        }
    }
    None
}

/// For each role, itself and every role it includes transitively, sorted.
fn role_closures(includes: &[Box<[u32]>]) -> Vec<Box<[u32]>> {
    let mut seen = vec![u32::MAX; includes.len()];
    let mut stack = Vec::new();
    (0..includes.len())
        .map(|start| {
            let stamp = idx(start);
            let mut out = Vec::new();
            stack.clear();
            stack.push(stamp);
            while let Some(r) = stack.pop() {
                match seen.get_mut(r as usize) {
                    Some(s) if *s != stamp => *s = stamp,
                    _ => continue,
                }
                out.push(r);
                if let Some(children) = includes.get(r as usize) {
                    stack.extend(children.iter().copied());
                }
            }
            out.sort_unstable();
            out.into_boxed_slice()
        })
        .collect()
}

/// A cycle of parents, as group indices from a child upwards with the first
/// repeated last.
fn find_parent_cycle(parents: &[u32]) -> Option<Vec<u32>> {
    // 0 = unvisited, 1 = on the current walk, 2 = known acyclic.
    let mut state = vec![0u8; parents.len()];
    let mut walk = Vec::new();
    for start in 0..parents.len() {
        walk.clear();
        let mut g = idx(start);
        loop {
            match state.get(g as usize) {
                Some(0) => {
                    if let Some(s) = state.get_mut(g as usize) {
                        *s = 1;
                    }
                    walk.push(g);
                    g = parents.get(g as usize).copied().unwrap_or(NO_PARENT);
                    if g == NO_PARENT {
                        break;
                    }
                }
                Some(1) => {
                    let from = walk.iter().position(|&n| n == g).unwrap_or(0);
                    let mut cycle: Vec<u32> = walk.get(from..).unwrap_or(&[]).to_vec();
                    cycle.push(g);
                    return Some(cycle);
                }
                _ => break,
            }
        }
        for &n in &walk {
            if let Some(s) = state.get_mut(n as usize) {
                *s = 2;
            }
        }
    }
    None
}
