//! The compiled, indexed view of one realm that checks run against.
//!
//! [`CompiledRealm::compile`] turns a [`RealmSnapshot`] into flat, index-based
//! tables; nothing in it depends on the current time, so one compiled realm
//! answers for any `now`. Every grant keeps its validity window and every
//! link of a path (membership, grant to the group) is checked at `now`.
//!
//! - `compile.rs`: building the tables, cycle and reference checks.
//! - `check.rs`: the allocation-free decision path.
//! - `explain.rs`: the explaining path (paths as steps and text, policies
//!   evaluated), effective permissions.
//! - `subject.rs`: what a subject holds at an instant (roles, groups).
//! - `cycles.rs`: would-be cycles for the admin API.

mod check;
mod compile;
mod cycles;
mod explain;
mod subject;
#[cfg(test)]
mod tests;

use datalogic_rs::Engine;
use rustc_hash::FxHashMap;
use uuid::Uuid;

use crate::Scope;
use crate::condition::Condition;
use crate::explanation::EffectivePermission;
use crate::model::{Group, Micros, Policy, Role, Validity};
use crate::pattern::{ActionPattern, ResourcePattern};
use crate::request::{CheckRequest, Decision};

/// Why a snapshot could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Roles include each other in a cycle (names, first repeated last).
    #[error("roles include each other in a cycle: {}", .0.join(" -> "))]
    RoleCycle(Vec<String>),
    /// Groups are each other's parents in a cycle (child first, first
    /// repeated last).
    #[error("groups are each other's parents in a cycle: {}", .0.join(" -> "))]
    GroupCycle(Vec<String>),
    /// A role that is referenced (included, granted, attached to) does not
    /// exist.
    #[error("role {0} is referenced but does not exist")]
    UnknownRole(Uuid),
    /// A group that is referenced (parent, membership, grant, attachment)
    /// does not exist.
    #[error("group {0} is referenced but does not exist")]
    UnknownGroup(Uuid),
    /// A policy's condition is invalid.
    #[error("policy '{policy}' has an invalid condition: {message}")]
    Condition {
        /// The policy's name.
        policy: String,
        /// What is wrong.
        message: String,
    },
}

/// Interned id of `*` in a permission's resource or action segment.
pub(crate) const ANY: u32 = u32::MAX;
/// Interned id of a requested name no permission or policy mentions.
pub(crate) const UNKNOWN: u32 = u32::MAX - 1;
/// No parent group.
pub(crate) const NO_PARENT: u32 = u32::MAX;
/// `via` of something held directly, not through a group.
pub(crate) const DIRECT: u32 = u32::MAX;

/// A validity as an inclusive range of instants; empty when `from > until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Window {
    from: i64,
    until: i64,
}

impl Window {
    pub(crate) fn of(v: &Validity) -> Self {
        let from = v.not_before.unwrap_or(i64::MIN);
        match v.expires_at {
            None => Self {
                from,
                until: i64::MAX,
            },
            Some(exp) => match exp.checked_sub(1) {
                Some(until) => Self { from, until },
                None => Self {
                    from: i64::MAX,
                    until: i64::MIN,
                },
            },
        }
    }

    #[inline]
    pub(crate) fn holds(self, now: Micros) -> bool {
        self.from <= now && now <= self.until
    }

    /// Both windows at once (a path holds when every link holds).
    pub(crate) fn and(self, other: Window) -> Window {
        Window {
            from: self.from.max(other.from),
            until: self.until.min(other.until),
        }
    }

    pub(crate) fn is_empty(self) -> bool {
        self.from > self.until
    }
}

/// A permission with interned resource and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CPerm {
    pub(crate) kind: u32,
    pub(crate) action: u32,
    pub(crate) scope: Scope,
}

impl CPerm {
    #[inline]
    pub(crate) fn covers(&self, kind: u32, action: u32) -> bool {
        (self.kind == ANY || self.kind == kind) && (self.action == ANY || self.action == action)
    }
}

/// A role or group held during `window`, directly or through a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Held {
    pub(crate) id: u32,
    /// [`DIRECT`], or the group it is held through: for a role, the group it
    /// is granted to; for a group (a team), the membership's group.
    pub(crate) via: u32,
    pub(crate) window: Window,
}

/// A permission grant, inline where it is granted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CGrant {
    pub(crate) perm: CPerm,
    pub(crate) deny: bool,
    /// Index into the snapshot's permission grants.
    pub(crate) index: u32,
    /// [`DIRECT`], or the group it is granted to.
    pub(crate) via: u32,
    pub(crate) window: Window,
}

/// A range of a shared table.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// Appends `items` to `table` and returns their span.
    pub(crate) fn push<T: Copy>(table: &mut Vec<T>, items: &[T]) -> Self {
        let start = u32::try_from(table.len()).unwrap_or(u32::MAX);
        table.extend_from_slice(items);
        Self {
            start,
            len: u32::try_from(items.len()).unwrap_or(0),
        }
    }

    #[inline]
    pub(crate) fn of<T>(self, table: &[T]) -> &[T] {
        let start = self.start as usize;
        table.get(start..start + self.len as usize).unwrap_or(&[])
    }
}

/// A role, with its permissions and inclusion closure stored in shared
/// tables (`CompiledRealm::role_perms`, `role_closures`) for locality.
pub(crate) struct RoleNode {
    /// The role's own permissions, sorted by (kind, action); `*` kinds last.
    pub(crate) perms: Span,
    /// The role and every role it includes, transitively; sorted.
    pub(crate) closure: Span,
    /// Directly included roles.
    pub(crate) includes: Box<[u32]>,
}

pub(crate) struct GroupNode {
    pub(crate) parent: u32,
    pub(crate) roles: Box<[Held]>,
    pub(crate) grants: Box<[CGrant]>,
}

/// Everything a user holds, flattened at compile time so a check reads two
/// contiguous slices instead of walking group nodes. Windows are those of the
/// whole path (membership ∩ grant).
#[derive(Default)]
pub(crate) struct UserNode {
    /// First `n_roles` roles (granted directly or to one of the user's groups
    /// or their ancestors; inclusion not expanded), then the user's groups:
    /// each membership's group and its ancestors.
    pub(crate) held: Box<[Held]>,
    pub(crate) n_roles: u32,
    /// Permission grants to the user and to its groups (and ancestors).
    pub(crate) grants: Box<[CGrant]>,
    /// The organizations it administers, as teams (`org:<name>`,
    /// `org:<id>`), sorted.
    pub(crate) org_teams: Box<[Box<str>]>,
}

impl UserNode {
    #[inline]
    pub(crate) fn roles(&self) -> &[Held] {
        self.held.get(..self.n_roles as usize).unwrap_or(&[])
    }

    #[inline]
    pub(crate) fn teams(&self) -> &[Held] {
        self.held.get(self.n_roles as usize..).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attach {
    Realm,
    User(Uuid),
    Group(u32),
    Role(u32),
}

pub(crate) struct CStatement {
    /// Index into `policies`.
    pub(crate) policy: u32,
    /// Index of the statement within its policy.
    pub(crate) index: u32,
    pub(crate) deny: bool,
    pub(crate) priority: i32,
    pub(crate) attach: Attach,
    pub(crate) actions: Box<[ActionPattern]>,
    pub(crate) resources: Box<[ResourcePattern]>,
    pub(crate) condition: Option<Condition>,
}

impl CStatement {
    /// Whether the action and resource patterns match (empty lists match
    /// everything).
    #[inline]
    pub(crate) fn matches(&self, kind: &str, action: &str, id: Option<&str>) -> bool {
        (self.actions.is_empty() || self.actions.iter().any(|p| p.matches(kind, action)))
            && (self.resources.is_empty() || self.resources.iter().any(|p| p.matches(kind, id)))
    }
}

/// Statements of one effect, by the resource kind they pin; each list is in
/// priority order (higher first).
#[derive(Default)]
pub(crate) struct StatementIndex {
    pub(crate) by_kind: Box<[Box<[u32]>]>,
    /// Statements that may match any kind.
    pub(crate) any: Box<[u32]>,
    /// Every statement (for kinds the index cannot narrow).
    pub(crate) all: Box<[u32]>,
}

impl StatementIndex {
    /// Candidate statements for a requested kind: two lists to walk.
    #[inline]
    pub(crate) fn candidates(&self, kind: u32, kind_text: &str) -> (&[u32], &[u32]) {
        if kind_text.contains('/') {
            return (&self.all, &[]);
        }
        let pinned = self.by_kind.get(kind as usize).map_or(&[][..], |l| &l[..]);
        (pinned, &self.any)
    }
}

/// String interner for resource kinds or actions.
#[derive(Default)]
pub(crate) struct Interner {
    ids: FxHashMap<Box<str>, u32>,
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(UNKNOWN - 1);
        self.ids.insert(name.into(), id);
        id
    }

    #[inline]
    pub(crate) fn get(&self, name: &str) -> u32 {
        self.ids.get(name).copied().unwrap_or(UNKNOWN)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    fn heap_bytes(&self) -> usize {
        map_bytes(&self.ids) + self.ids.keys().map(|k| k.len()).sum::<usize>()
    }
}

/// The compiled, indexed view of one realm's authorization data. `Send +
/// Sync`: share it with `Arc`. Built once per revision; answers for any
/// `now`.
pub struct CompiledRealm {
    pub(crate) revision: i64,
    pub(crate) engine: Engine,
    pub(crate) roles: Vec<Role>,
    pub(crate) role_nodes: Vec<RoleNode>,
    pub(crate) role_perms: Vec<CPerm>,
    pub(crate) role_closures: Vec<u32>,
    pub(crate) role_ids: FxHashMap<Uuid, u32>,
    pub(crate) role_by_name: FxHashMap<String, u32>,
    pub(crate) groups: Vec<Group>,
    pub(crate) group_nodes: Vec<GroupNode>,
    pub(crate) group_ids: FxHashMap<Uuid, u32>,
    pub(crate) group_by_name: FxHashMap<String, u32>,
    pub(crate) users: FxHashMap<Uuid, UserNode>,
    /// Stored subject attributes, by user; equal maps are shared.
    pub(crate) attributes:
        FxHashMap<Uuid, std::sync::Arc<serde_json::Map<String, serde_json::Value>>>,
    pub(crate) grants: Vec<crate::model::PermissionGrant>,
    pub(crate) kinds: Interner,
    pub(crate) actions: Interner,
    pub(crate) policies: Vec<Policy>,
    pub(crate) statements: Vec<CStatement>,
    pub(crate) deny_index: StatementIndex,
    pub(crate) allow_index: StatementIndex,
}

impl std::fmt::Debug for CompiledRealm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRealm")
            .field("revision", &self.revision)
            .field("roles", &self.roles.len())
            .field("groups", &self.groups.len())
            .field("users", &self.users.len())
            .field("policies", &self.policies.len())
            .finish_non_exhaustive()
    }
}

impl CompiledRealm {
    /// A role's own permissions.
    #[inline]
    pub(crate) fn perms_of(&self, role: u32) -> &[CPerm] {
        self.role_nodes
            .get(role as usize)
            .map_or(&[][..], |n| n.perms.of(&self.role_perms))
    }

    /// A role and every role it includes, sorted.
    #[inline]
    pub(crate) fn closure_of(&self, role: u32) -> &[u32] {
        self.role_nodes
            .get(role as usize)
            .map_or(&[][..], |n| n.closure.of(&self.role_closures))
    }

    /// The snapshot's revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Decides a request. With `explain = false` this allocates nothing
    /// unless an applicable policy statement has a condition.
    pub fn check(&self, request: &CheckRequest<'_>) -> Decision {
        if request.explain {
            self.check_explained(request)
        } else {
            Decision::quick(self.decide(request))
        }
    }

    /// Effective permissions of a user at `now`, each with its effect and
    /// every path to it, sorted by permission (allows before denies).
    pub fn effective_permissions(&self, user: Uuid, now: Micros) -> Vec<EffectivePermission> {
        self.effective(user, now)
    }

    /// Names of the roles the user holds at `now`: granted directly, to its
    /// groups (and their ancestors), and included by those. Sorted,
    /// deduplicated.
    pub fn role_names(&self, user: Uuid, now: Micros) -> Vec<String> {
        self.held_role_names(user, now)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Names of the groups the user belongs to at `now`, ancestors included
    /// (the user's teams). Sorted, deduplicated.
    pub fn group_names(&self, user: Uuid, now: Micros) -> Vec<String> {
        self.held_group_names(user, now)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// A role's id by name.
    pub fn role_id(&self, name: &str) -> Option<Uuid> {
        let i = *self.role_by_name.get(name)?;
        self.roles.get(i as usize).map(|r| r.id)
    }

    /// A group's id by name.
    pub fn group_id(&self, name: &str) -> Option<Uuid> {
        let i = *self.group_by_name.get(name)?;
        self.groups.get(i as usize).map(|g| g.id)
    }

    /// A role by id.
    pub fn role(&self, id: Uuid) -> Option<&Role> {
        self.roles.get(*self.role_ids.get(&id)? as usize)
    }

    /// A group by id.
    pub fn group(&self, id: Uuid) -> Option<&Group> {
        self.groups.get(*self.group_ids.get(&id)? as usize)
    }

    /// Whether making `role` include `included` would create a cycle (also
    /// when they are the same role): the cycle as names, `role` first and
    /// last. `None` when there is none or either role is unknown.
    pub fn role_inclusion_cycle(&self, role: Uuid, included: Uuid) -> Option<Vec<String>> {
        self.inclusion_cycle(role, included)
    }

    /// Whether setting `group`'s parent to `parent` would create a cycle
    /// (also when they are the same group): the cycle as names, `group`
    /// first and last. `None` when there is none or either group is unknown.
    pub fn group_parent_cycle(&self, group: Uuid, parent: Uuid) -> Option<Vec<String>> {
        self.parent_cycle(group, parent)
    }

    /// Approximate heap bytes of the compiled view, including the copies of
    /// roles, groups and policies it keeps.
    pub fn heap_bytes(&self) -> usize {
        let roles: usize = vec_bytes(&self.roles)
            + self
                .roles
                .iter()
                .map(|r| {
                    r.name.capacity()
                        + r.description.as_ref().map_or(0, String::capacity)
                        + vec_bytes(&r.permissions)
                        + r.permissions.iter().map(permission_bytes).sum::<usize>()
                        + vec_bytes(&r.includes)
                })
                .sum::<usize>();
        let role_nodes: usize = vec_bytes(&self.role_nodes)
            + self
                .role_nodes
                .iter()
                .map(|n| slice_bytes(&n.includes))
                .sum::<usize>()
            + vec_bytes(&self.role_perms)
            + vec_bytes(&self.role_closures);
        let groups: usize = vec_bytes(&self.groups)
            + self
                .groups
                .iter()
                .map(|g| g.name.capacity() + g.description.as_ref().map_or(0, String::capacity))
                .sum::<usize>();
        let group_nodes: usize = vec_bytes(&self.group_nodes)
            + self
                .group_nodes
                .iter()
                .map(|n| slice_bytes(&n.roles) + slice_bytes(&n.grants))
                .sum::<usize>();
        let users: usize = map_bytes(&self.users)
            + self
                .users
                .values()
                .map(|u| slice_bytes(&u.held) + slice_bytes(&u.grants))
                .sum::<usize>();
        let names = map_bytes(&self.role_by_name)
            + self
                .role_by_name
                .keys()
                .map(String::capacity)
                .sum::<usize>()
            + map_bytes(&self.group_by_name)
            + self
                .group_by_name
                .keys()
                .map(String::capacity)
                .sum::<usize>()
            + map_bytes(&self.role_ids)
            + map_bytes(&self.group_ids);
        let grants = vec_bytes(&self.grants)
            + self
                .grants
                .iter()
                .map(|g| permission_bytes(&g.permission))
                .sum::<usize>();
        let policies = vec_bytes(&self.policies)
            + self
                .policies
                .iter()
                .map(|p| {
                    p.name.capacity()
                        + p.description.as_ref().map_or(0, String::capacity)
                        + vec_bytes(&p.statements)
                        + p.statements
                            .iter()
                            .map(|s| {
                                s.actions.iter().map(String::capacity).sum::<usize>()
                                    + s.resources.iter().map(String::capacity).sum::<usize>()
                                    + vec_bytes(&s.actions)
                                    + vec_bytes(&s.resources)
                                    + s.condition.as_ref().map_or(0, json_bytes)
                            })
                            .sum::<usize>()
                })
                .sum::<usize>();
        let statements = vec_bytes(&self.statements)
            + self
                .statements
                .iter()
                .map(|s| {
                    slice_bytes(&s.actions)
                        + slice_bytes(&s.resources)
                        + s.actions.iter().map(ActionPattern::heap_bytes).sum::<usize>()
                        + s.resources.iter().map(ResourcePattern::heap_bytes).sum::<usize>()
                        // Compiled JSON Logic: estimated from its source.
                        + s.condition.as_ref().map_or(0, |c| c.source_bytes * 8)
                })
                .sum::<usize>();
        let index = |i: &StatementIndex| {
            slice_bytes(&i.by_kind)
                + i.by_kind.iter().map(|l| slice_bytes(l)).sum::<usize>()
                + slice_bytes(&i.any)
                + slice_bytes(&i.all)
        };
        let mut shared = rustc_hash::FxHashSet::default();
        let attributes = map_bytes(&self.attributes)
            + self
                .attributes
                .values()
                .filter(|m| shared.insert(std::sync::Arc::as_ptr(m)))
                .flat_map(|m| m.iter())
                .map(|(k, v)| k.capacity() + 16 + json_bytes(v))
                .sum::<usize>();
        roles
            + role_nodes
            + groups
            + group_nodes
            + users
            + attributes
            + names
            + grants
            + policies
            + statements
            + index(&self.deny_index)
            + index(&self.allow_index)
            + self.kinds.heap_bytes()
            + self.actions.heap_bytes()
    }
}

fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

fn slice_bytes<T>(v: &[T]) -> usize {
    std::mem::size_of_val(v)
}

fn map_bytes<K, V, S>(m: &std::collections::HashMap<K, V, S>) -> usize {
    // hashbrown: one control byte per bucket, buckets ≈ capacity · 8/7.
    let buckets = m.capacity() * 8 / 7 + 1;
    buckets * (std::mem::size_of::<(K, V)>() + 1)
}

fn permission_bytes(p: &crate::Permission) -> usize {
    let seg = |s: &crate::Segment| match s {
        crate::Segment::Any => 0,
        crate::Segment::Name(n) => n.capacity(),
    };
    seg(&p.resource) + seg(&p.action)
}

/// Approximate heap bytes of a JSON value (iterative).
fn json_bytes(v: &serde_json::Value) -> usize {
    let mut total = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total += std::mem::size_of::<serde_json::Value>();
        match v {
            serde_json::Value::String(s) => total += s.capacity(),
            serde_json::Value::Array(items) => stack.extend(items.iter()),
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    total += k.capacity() + 16;
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    total
}

// The compiled realm is shared across threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<CompiledRealm>();
};
