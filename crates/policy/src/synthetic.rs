//! Deterministic generated realms and requests, for benchmarks (this
//! engine against others) and large tests. Plain data: a benchmark can feed
//! the same [`RealmSnapshot`] and [`SampleRequest`]s to any engine.
//!
//! ```
//! use portcullis_policy::{CompiledRealm, synthetic};
//! let shape = synthetic::Shape::small();
//! let snapshot = synthetic::realm(&shape, 7);
//! let realm = CompiledRealm::compile(&snapshot).unwrap();
//! for r in synthetic::requests(&shape, &snapshot, 10, 7) {
//!     let _ = realm.check(&r.as_check(synthetic::NOW, false));
//! }
//! ```
//!
//! Ids are derived from indices ([`user_id`], [`role_id`], [`group_id`],
//! [`policy_id`]); names are `role-{i}`, `group-{i}`, `policy-{i}`; resource
//! kinds `res-{k}`; actions from [`ACTIONS`].

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::model::{
    Attachment, Effect, Grantee, Group, Membership, Micros, PermissionGrant, Policy, RealmSnapshot,
    Role, RoleGrant, Statement, Validity,
};
use crate::request::{CheckRequest, Context, Resource};
use crate::{Permission, Scope, Segment};

/// The instant validity windows are generated around (2025-06-15).
pub const NOW: Micros = 1_750_000_000_000_000;

const DAY: Micros = 86_400_000_000;

/// Actions used by generated permissions and requests.
pub const ACTIONS: [&str; 10] = [
    "read", "create", "update", "delete", "list", "approve", "export", "share", "archive",
    "comment",
];

/// Departments of generated subject attributes.
const DEPARTMENTS: [&str; 4] = ["sales", "engineering", "finance", "legal"];

/// How big a generated realm is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Users (each in 1–2 groups, with 1–2 direct roles).
    pub users: usize,
    /// Roles (about a fifth include one or two others).
    pub roles: usize,
    /// Role permissions in total, spread evenly over roles.
    pub permissions: usize,
    /// Groups, in trees.
    pub groups: usize,
    /// Deepest group nesting (a root is depth 1).
    pub max_group_depth: usize,
    /// Policies (a third with no condition; the rest time, attribute or
    /// address conditions).
    pub policies: usize,
    /// Distinct resource kinds.
    pub kinds: usize,
}

impl Shape {
    /// The benchmark's realm: 100,000 users, 1,000 roles, 10,000
    /// permissions, 10,000 groups nested up to 5 deep, 100 policies.
    pub fn benchmark() -> Self {
        Self {
            users: 100_000,
            roles: 1_000,
            permissions: 10_000,
            groups: 10_000,
            max_group_depth: 5,
            policies: 100,
            kinds: 200,
        }
    }

    /// A small realm for tests and examples.
    pub fn small() -> Self {
        Self {
            users: 200,
            roles: 30,
            permissions: 150,
            groups: 40,
            max_group_depth: 4,
            policies: 12,
            kinds: 12,
        }
    }
}

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x853c_49e6_748f_ea9b)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.below(items.len());
        items.get(i)
    }
}

fn id(space: u128, i: usize) -> Uuid {
    Uuid::from_u128((space << 96) | i as u128)
}

/// Id of the `i`-th generated user.
pub fn user_id(i: usize) -> Uuid {
    id(0x0190_0000_0000_7000_8000_0001, i)
}

/// Id of the `i`-th generated role.
pub fn role_id(i: usize) -> Uuid {
    id(0x0190_0000_0000_7000_8000_0002, i)
}

/// Id of the `i`-th generated group.
pub fn group_id(i: usize) -> Uuid {
    id(0x0190_0000_0000_7000_8000_0003, i)
}

/// Id of the `i`-th generated policy.
pub fn policy_id(i: usize) -> Uuid {
    id(0x0190_0000_0000_7000_8000_0004, i)
}

fn kind(k: usize) -> String {
    format!("res-{k}")
}

fn action(rng: &mut Rng) -> &'static str {
    rng.pick(&ACTIONS).copied().unwrap_or("read")
}

fn scope(rng: &mut Rng) -> Scope {
    match rng.below(10) {
        0..=2 => Scope::Own,
        3..=6 => Scope::Team,
        _ => Scope::All,
    }
}

fn permission(shape: &Shape, rng: &mut Rng) -> Permission {
    Permission {
        resource: Segment::Name(kind(rng.below(shape.kinds))),
        action: if rng.chance(5) {
            Segment::Any
        } else {
            Segment::Name(action(rng).to_owned())
        },
        scope: scope(rng),
    }
}

/// A validity: mostly always; sometimes a window around [`NOW`] that holds,
/// has expired or has not started.
fn validity(rng: &mut Rng, percent_limited: u64) -> Validity {
    if !rng.chance(percent_limited) {
        return Validity::ALWAYS;
    }
    match rng.below(3) {
        0 => Validity {
            not_before: Some(NOW - 30 * DAY),
            expires_at: Some(NOW + 30 * DAY),
        },
        1 => Validity {
            not_before: None,
            expires_at: Some(NOW - DAY),
        },
        _ => Validity {
            not_before: Some(NOW + DAY),
            expires_at: None,
        },
    }
}

/// Generates a realm of the given shape; the same seed gives the same realm.
pub fn realm(shape: &Shape, seed: u64) -> RealmSnapshot {
    let mut rng = Rng::new(seed);
    let per_role = shape.permissions / shape.roles.max(1);
    let extra = shape.permissions % shape.roles.max(1);
    let roles: Vec<Role> = (0..shape.roles)
        .map(|i| {
            let count = per_role + usize::from(i < extra);
            let mut includes = Vec::new();
            if i > 0 && rng.chance(20) {
                for _ in 0..1 + rng.below(2) {
                    let j = role_id(rng.below(i));
                    if !includes.contains(&j) {
                        includes.push(j);
                    }
                }
            }
            Role {
                id: role_id(i),
                name: format!("role-{i}"),
                description: None,
                permissions: (0..count).map(|_| permission(shape, &mut rng)).collect(),
                includes,
                builtin: false,
            }
        })
        .collect();

    let roots = (shape.groups / 10).max(1);
    let mut depth = vec![1usize; shape.groups];
    let mut groups = Vec::with_capacity(shape.groups);
    for i in 0..shape.groups {
        let mut parent = None;
        if i >= roots {
            for _ in 0..4 {
                let j = rng.below(i);
                let d = depth.get(j).copied().unwrap_or(usize::MAX);
                if d < shape.max_group_depth {
                    parent = Some(j);
                    if let Some(slot) = depth.get_mut(i) {
                        *slot = d + 1;
                    }
                    break;
                }
            }
        }
        groups.push(Group {
            id: group_id(i),
            name: format!("group-{i}"),
            description: None,
            parent: parent.map(group_id),
        });
    }

    let mut memberships = Vec::new();
    let mut role_grants = Vec::new();
    let mut permission_grants = Vec::new();
    for u in 0..shape.users {
        let user = user_id(u);
        if shape.groups > 0 {
            for _ in 0..1 + rng.below(2) {
                memberships.push(Membership {
                    user,
                    group: group_id(rng.below(shape.groups)),
                    validity: validity(&mut rng, 5),
                });
            }
        }
        if shape.roles > 0 {
            for _ in 0..1 + rng.below(2) {
                role_grants.push(RoleGrant {
                    to: Grantee::User(user),
                    role: role_id(rng.below(shape.roles)),
                    validity: validity(&mut rng, 10),
                });
            }
        }
        if rng.chance(3) {
            permission_grants.push(PermissionGrant {
                to: Grantee::User(user),
                permission: permission(shape, &mut rng),
                effect: if rng.chance(33) {
                    Effect::Deny
                } else {
                    Effect::Allow
                },
                validity: validity(&mut rng, 10),
            });
        }
    }
    for g in 0..shape.groups {
        if shape.roles > 0 && rng.chance(30) {
            role_grants.push(RoleGrant {
                to: Grantee::Group(group_id(g)),
                role: role_id(rng.below(shape.roles)),
                validity: validity(&mut rng, 10),
            });
        }
        if rng.chance(5) {
            permission_grants.push(PermissionGrant {
                to: Grantee::Group(group_id(g)),
                permission: permission(shape, &mut rng),
                effect: if rng.chance(20) {
                    Effect::Deny
                } else {
                    Effect::Allow
                },
                validity: Validity::ALWAYS,
            });
        }
    }

    let policies = (0..shape.policies)
        .map(|i| {
            let attached_to = match i % 4 {
                0 => Attachment::Realm,
                1 if shape.groups > 0 => Attachment::Group(group_id(rng.below(shape.groups))),
                2 if shape.roles > 0 => Attachment::Role(role_id(rng.below(shape.roles))),
                _ => Attachment::User(user_id(rng.below(shape.users))),
            };
            let effect = if rng.chance(20) {
                Effect::Deny
            } else {
                Effect::Allow
            };
            let condition = match i % 6 {
                0 | 1 => None,
                2 => Some(json!({"and": [
                    {">=": [{"var": "hour"}, 9]},
                    {"<=": [{"var": "hour"}, 17]},
                    {"in": [{"var": "day"}, [1, 2, 3, 4, 5]]}]})),
                3 => Some(json!({"==": [{"var": "subject.attributes.department"},
                    rng.pick(&DEPARTMENTS).copied().unwrap_or("sales")]})),
                4 => Some(json!({"ip_in_range": [{"var": "context.ip"}, ["10.0.0.0/8", "192.168.0.0/16"]]})),
                _ => Some(json!({"!=": [{"var": "resource.owner"}, null]})),
            };
            Policy {
                id: policy_id(i),
                name: format!("policy-{i}"),
                description: None,
                priority: i32::try_from(rng.below(100)).unwrap_or(0),
                attached_to,
                statements: vec![Statement {
                    sid: None,
                    effect,
                    actions: if rng.chance(50) {
                        vec![action(&mut rng).to_owned()]
                    } else {
                        Vec::new()
                    },
                    resources: vec![kind(rng.below(shape.kinds))],
                    condition,
                }],
                enabled: true,
            }
        })
        .collect();

    RealmSnapshot {
        revision: 1,
        roles,
        groups,
        memberships,
        role_grants,
        permission_grants,
        policies,
        subject_attributes: (0..shape.users)
            .map(|u| (user_id(u), department_of(u)))
            .collect(),
        ..RealmSnapshot::default()
    }
}

/// A generated user's stored attributes: its department.
fn department_of(user: usize) -> Map<String, Value> {
    let department = DEPARTMENTS
        .get(user % DEPARTMENTS.len())
        .copied()
        .unwrap_or("sales");
    let mut attributes = Map::new();
    attributes.insert("department".into(), json!(department));
    attributes
}

/// A generated request, owning its data; [`SampleRequest::as_check`] borrows
/// it as a [`CheckRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// The subject.
    pub subject: Uuid,
    /// Its attributes (its stored `department`; passing them in the request
    /// gives the same decisions as leaving them to the realm).
    pub attributes: Map<String, Value>,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: Resource,
    /// The context.
    pub context: Context,
}

impl SampleRequest {
    /// This request as a check at `now`.
    pub fn as_check(&self, now: Micros, explain: bool) -> CheckRequest<'_> {
        CheckRequest {
            subject: self.subject,
            subject_attributes: Some(&self.attributes),
            action: &self.action,
            resource: &self.resource,
            context: &self.context,
            now,
            explain,
        }
    }
}

/// Generates requests against a generated realm: random users, about half
/// asking for something one of their direct roles grants (at some scope),
/// owners and teams sometimes the subject's, random hours, days and
/// addresses.
pub fn requests(
    shape: &Shape,
    snapshot: &RealmSnapshot,
    count: usize,
    seed: u64,
) -> Vec<SampleRequest> {
    let mut rng = Rng::new(seed.wrapping_add(0x5eed));
    let mut roles_of: Vec<Vec<usize>> = vec![Vec::new(); shape.users];
    let mut groups_of: Vec<Vec<usize>> = vec![Vec::new(); shape.users];
    let index = |id: Uuid| usize::try_from(id.as_u128() & 0xffff_ffff).unwrap_or(0);
    for g in &snapshot.role_grants {
        if let Grantee::User(u) = g.to
            && let Some(list) = roles_of.get_mut(index(u))
        {
            list.push(index(g.role));
        }
    }
    for m in &snapshot.memberships {
        if let Some(list) = groups_of.get_mut(index(m.user)) {
            list.push(index(m.group));
        }
    }
    (0..count)
        .map(|_| {
            let u = rng.below(shape.users);
            let subject = user_id(u);
            let held = roles_of
                .get(u)
                .and_then(|r| rng.pick(r).copied())
                .and_then(|r| snapshot.roles.get(r))
                .and_then(|r| rng.pick(&r.permissions).cloned());
            let (kind_name, action_name) = match held {
                Some(p) if rng.chance(50) => (
                    match p.resource {
                        Segment::Name(n) => n,
                        Segment::Any => kind(rng.below(shape.kinds)),
                    },
                    match p.action {
                        Segment::Name(n) => n,
                        Segment::Any => action(&mut rng).to_owned(),
                    },
                ),
                _ => (kind(rng.below(shape.kinds)), action(&mut rng).to_owned()),
            };
            let owner = match rng.below(10) {
                0..=2 => Some(subject.to_string()),
                3..=6 => Some(user_id(rng.below(shape.users)).to_string()),
                _ => None,
            };
            let team = if rng.chance(30) {
                groups_of
                    .get(u)
                    .and_then(|g| rng.pick(g).copied())
                    .map(|g| format!("group-{g}"))
            } else {
                None
            };
            let attributes = department_of(u);
            let ip = if rng.chance(50) {
                std::net::IpAddr::from([10, 1, (rng.below(256)) as u8, (rng.below(256)) as u8])
            } else {
                std::net::IpAddr::from([203, 0, 113, (rng.below(256)) as u8])
            };
            SampleRequest {
                subject,
                attributes,
                action: action_name,
                resource: Resource {
                    kind: kind_name,
                    id: Some(rng.below(1_000_000).to_string()),
                    owner,
                    team,
                    attributes: Map::new(),
                },
                context: Context {
                    ip: Some(ip),
                    hour: (rng.below(24)) as u8,
                    day: (1 + rng.below(7)) as u8,
                    extra: Map::new(),
                },
            }
        })
        .collect()
}
