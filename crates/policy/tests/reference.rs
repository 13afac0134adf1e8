//! The compiled engine against a deliberately naive reference evaluator:
//! random small realms (roles with acyclic inclusion, groups with acyclic
//! parents, memberships and grants with random validity windows, deny grants,
//! policies with simple conditions) and random checks at random instants.
//! The reference follows the definitions literally (recursion, sets, no
//! indexing, its own glob and condition interpreter); the two must agree on
//! `allowed` and on the reason, with and without explanation, and on the
//! role and group names a user holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use portcullis_policy::model::*;
use portcullis_policy::{
    CheckRequest, CompiledRealm, Context, Permission, Reason, Resource, Scope, Segment,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

const USERS: usize = 3;
const KINDS: [&str; 3] = ["a", "b", "c"];
const ACTIONS: [&str; 3] = ["r", "w", "x"];
const ACTION_PATTERNS: [&str; 6] = ["r", "w", "*", "a:r", "b:*", "*:w"];
const RESOURCE_PATTERNS: [&str; 6] = ["a", "b", "*", "a/1", "a/*", "*/2"];
const IPS: [&str; 3] = ["10.1.2.3", "192.168.7.7", "203.0.113.5"];
const DEPARTMENTS: [&str; 2] = ["x", "y"];

fn user(i: usize) -> Uuid {
    Uuid::from_u128(0x1000 + i as u128)
}
fn role_id(i: usize) -> Uuid {
    Uuid::from_u128(0x2000 + i as u128)
}
fn group_id(i: usize) -> Uuid {
    Uuid::from_u128(0x3000 + i as u128)
}

// ---------------------------------------------------------------- specs

#[derive(Debug, Clone)]
struct PermSpec {
    kind: Option<usize>,
    action: Option<usize>,
    scope: Scope,
}

impl PermSpec {
    fn permission(&self) -> Permission {
        let seg = |i: Option<usize>, names: &[&str]| match i {
            None => Segment::Any,
            Some(i) => Segment::Name(names[i].to_owned()),
        };
        Permission {
            resource: seg(self.kind, &KINDS),
            action: seg(self.action, &ACTIONS),
            scope: self.scope,
        }
    }
}

fn perm_spec() -> impl Strategy<Value = PermSpec> {
    (
        prop::option::weighted(0.85, 0..KINDS.len()),
        prop::option::weighted(0.8, 0..ACTIONS.len()),
        prop_oneof![Just(Scope::Own), Just(Scope::Team), Just(Scope::All)],
    )
        .prop_map(|(kind, action, scope)| PermSpec {
            kind,
            action,
            scope,
        })
}

/// A validity in a 0..100 time line.
fn validity() -> impl Strategy<Value = Validity> {
    prop_oneof![
        2 => Just(Validity::ALWAYS),
        1 => (prop::option::of(0i64..100), prop::option::of(0i64..100)).prop_map(|(not_before, expires_at)| Validity { not_before, expires_at }),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Target {
    User(usize),
    Group(usize),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (0..USERS).prop_map(Target::User),
        (0..8usize).prop_map(Target::Group)
    ]
}

/// A condition, as the reference understands it.
#[derive(Debug, Clone)]
enum Cond {
    HourAtLeast(u8),
    DayIn(Vec<u8>),
    Department(usize),
    IpIn(&'static str),
    HasRole(usize),
    InGroup(usize),
    OwnerIsSubject,
    /// Fails to evaluate.
    Broken,
    Not(Box<Cond>),
    All(Vec<Cond>),
}

fn cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        (0u8..24).prop_map(Cond::HourAtLeast),
        prop::collection::vec(1u8..8, 1..4).prop_map(Cond::DayIn),
        (0..DEPARTMENTS.len()).prop_map(Cond::Department),
        prop_oneof![
            Just("10.0.0.0/8"),
            Just("192.168.7.0/24"),
            Just("203.0.113.5")
        ]
        .prop_map(Cond::IpIn),
        (0..6usize).prop_map(Cond::HasRole),
        (0..8usize).prop_map(Cond::InGroup),
        Just(Cond::OwnerIsSubject),
        Just(Cond::Broken),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            prop::collection::vec(inner, 1..3).prop_map(Cond::All),
        ]
    })
}

#[derive(Debug, Clone)]
struct StatementSpec {
    deny: bool,
    actions: Vec<usize>,
    resources: Vec<usize>,
    condition: Option<Cond>,
}

#[derive(Debug, Clone)]
enum AttachSpec {
    Realm,
    User(usize),
    Group(usize),
    Role(usize),
}

#[derive(Debug, Clone)]
struct PolicySpec {
    priority: i32,
    attach: AttachSpec,
    enabled: bool,
    statements: Vec<StatementSpec>,
}

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    let statement = (
        prop::bool::weighted(0.3),
        prop::collection::vec(0..ACTION_PATTERNS.len(), 0..3),
        prop::collection::vec(0..RESOURCE_PATTERNS.len(), 0..3),
        prop::option::weighted(0.6, cond()),
    )
        .prop_map(|(deny, actions, resources, condition)| StatementSpec {
            deny,
            actions,
            resources,
            condition,
        });
    (
        -5i32..5,
        prop_oneof![
            Just(AttachSpec::Realm),
            (0..USERS).prop_map(AttachSpec::User),
            (0..8usize).prop_map(AttachSpec::Group),
            (0..6usize).prop_map(AttachSpec::Role),
        ],
        prop::bool::weighted(0.9),
        prop::collection::vec(statement, 1..3),
    )
        .prop_map(|(priority, attach, enabled, statements)| PolicySpec {
            priority,
            attach,
            enabled,
            statements,
        })
}

#[derive(Debug, Clone)]
struct RealmSpec {
    /// Per role: permissions and raw included indices (made acyclic by
    /// taking them modulo the role's own index).
    roles: Vec<(Vec<PermSpec>, Vec<usize>)>,
    /// Per group: raw parent (modulo the group's own index).
    groups: Vec<Option<usize>>,
    memberships: Vec<(usize, usize, Validity)>,
    role_grants: Vec<(Target, usize, Validity)>,
    perm_grants: Vec<(Target, PermSpec, bool, Validity)>,
    policies: Vec<PolicySpec>,
}

fn realm_spec() -> impl Strategy<Value = RealmSpec> {
    (
        prop::collection::vec(
            (
                prop::collection::vec(perm_spec(), 0..4),
                prop::collection::vec(0..6usize, 0..3),
            ),
            0..6,
        ),
        prop::collection::vec(prop::option::weighted(0.7, 0..8usize), 0..8),
        prop::collection::vec((0..USERS, 0..8usize, validity()), 0..8),
        prop::collection::vec((target(), 0..6usize, validity()), 0..8),
        prop::collection::vec(
            (
                target(),
                perm_spec(),
                prop::bool::weighted(0.25),
                validity(),
            ),
            0..6,
        ),
        prop::collection::vec(policy_spec(), 0..4),
    )
        .prop_map(
            |(roles, groups, memberships, role_grants, perm_grants, policies)| RealmSpec {
                roles,
                groups,
                memberships,
                role_grants,
                perm_grants,
                policies,
            },
        )
}

#[derive(Debug, Clone)]
struct CheckSpec {
    user: usize,
    action: usize,
    kind: usize,
    id: Option<&'static str>,
    owner: Option<usize>,
    team: Option<String>,
    hour: u8,
    day: u8,
    ip: Option<&'static str>,
    department: Option<usize>,
    now: i64,
}

fn check_spec() -> impl Strategy<Value = CheckSpec> {
    (
        0..=USERS,
        0..ACTIONS.len(),
        0..KINDS.len(),
        prop::option::of(prop_oneof![Just("1"), Just("2")]),
        prop::option::of(0..=USERS),
        prop::option::of(prop_oneof![
            (0..8usize).prop_map(|g| format!("group{g}")),
            (0..8usize).prop_map(|g| group_id(g).to_string()),
            Just("nope".to_owned()),
        ]),
        0u8..24,
        1u8..8,
        prop::option::of(prop_oneof![Just(IPS[0]), Just(IPS[1]), Just(IPS[2])]),
        prop::option::of(0..DEPARTMENTS.len()),
        -5i64..105,
    )
        .prop_map(
            |(user, action, kind, id, owner, team, hour, day, ip, department, now)| CheckSpec {
                user,
                action,
                kind,
                id,
                owner,
                team,
                hour,
                day,
                ip,
                department,
                now,
            },
        )
}

// ---------------------------------------------------------------- building

fn cond_json(c: &Cond) -> Value {
    match c {
        Cond::HourAtLeast(h) => json!({">=": [{"var": "hour"}, h]}),
        Cond::DayIn(days) => json!({"in": [{"var": "context.day"}, days]}),
        Cond::Department(d) => {
            json!({"==": [{"var": "subject.attributes.department"}, DEPARTMENTS[*d]]})
        }
        Cond::IpIn(net) => json!({"ip_in_range": [{"var": "ip"}, net]}),
        Cond::HasRole(r) => json!({"in": [format!("role{r}"), {"var": "subject.roles"}]}),
        Cond::InGroup(g) => json!({"in": [format!("group{g}"), {"var": "subject.groups"}]}),
        Cond::OwnerIsSubject => {
            json!({"==": [{"var": "resource.owner"}, {"var": "subject.id"}]})
        }
        Cond::Broken => json!({"ip_in_range": [{"var": "hour"}, "10.0.0.0/8"]}),
        Cond::Not(inner) => json!({"!": cond_json(inner)}),
        Cond::All(items) => json!({"and": items.iter().map(cond_json).collect::<Vec<_>>()}),
    }
}

/// Conditions of each statement of each policy of the snapshot, as the
/// reference understands them.
type Conds = Vec<Vec<Option<Cond>>>;

/// The snapshot (references taken modulo what exists, so it always compiles)
/// and its conditions.
fn build(spec: &RealmSpec) -> (RealmSnapshot, Conds) {
    let n_roles = spec.roles.len();
    let n_groups = spec.groups.len();
    let roles = spec
        .roles
        .iter()
        .enumerate()
        .map(|(i, (perms, includes))| Role {
            id: role_id(i),
            name: format!("role{i}"),
            description: None,
            permissions: perms.iter().map(PermSpec::permission).collect(),
            includes: if i == 0 {
                Vec::new()
            } else {
                includes.iter().map(|j| role_id(j % i)).collect()
            },
            builtin: false,
        })
        .collect();
    let groups = spec
        .groups
        .iter()
        .enumerate()
        .map(|(i, parent)| Group {
            id: group_id(i),
            name: format!("group{i}"),
            description: None,
            parent: match parent {
                Some(p) if i > 0 => Some(group_id(p % i)),
                _ => None,
            },
        })
        .collect();
    let grantee = |t: Target| match t {
        Target::User(u) => Some(Grantee::User(user(u))),
        Target::Group(g) if n_groups > 0 => Some(Grantee::Group(group_id(g % n_groups))),
        Target::Group(_) => None,
    };
    let memberships = if n_groups == 0 {
        Vec::new()
    } else {
        spec.memberships
            .iter()
            .map(|&(u, g, validity)| Membership {
                user: user(u),
                group: group_id(g % n_groups),
                validity,
            })
            .collect()
    };
    let role_grants = if n_roles == 0 {
        Vec::new()
    } else {
        spec.role_grants
            .iter()
            .filter_map(|&(t, r, validity)| {
                Some(RoleGrant {
                    to: grantee(t)?,
                    role: role_id(r % n_roles),
                    validity,
                })
            })
            .collect()
    };
    let permission_grants = spec
        .perm_grants
        .iter()
        .filter_map(|(t, p, deny, validity)| {
            Some(PermissionGrant {
                to: grantee(*t)?,
                permission: p.permission(),
                effect: if *deny { Effect::Deny } else { Effect::Allow },
                validity: *validity,
            })
        })
        .collect();
    let kept: Vec<&PolicySpec> = spec
        .policies
        .iter()
        .filter(|p| match p.attach {
            AttachSpec::Group(_) => n_groups > 0,
            AttachSpec::Role(_) => n_roles > 0,
            _ => true,
        })
        .collect();
    let conds = kept
        .iter()
        .map(|p| p.statements.iter().map(|s| s.condition.clone()).collect())
        .collect();
    let policies = kept
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let attached_to = match p.attach {
                AttachSpec::Realm => Attachment::Realm,
                AttachSpec::User(u) => Attachment::User(user(u)),
                AttachSpec::Group(g) if n_groups > 0 => Attachment::Group(group_id(g % n_groups)),
                AttachSpec::Role(r) if n_roles > 0 => Attachment::Role(role_id(r % n_roles)),
                _ => return None,
            };
            Some(Policy {
                id: Uuid::from_u128(0x4000 + i as u128),
                name: format!("policy{i}"),
                description: None,
                priority: p.priority,
                attached_to,
                enabled: p.enabled,
                statements: p
                    .statements
                    .iter()
                    .map(|s| Statement {
                        sid: None,
                        effect: if s.deny { Effect::Deny } else { Effect::Allow },
                        actions: s
                            .actions
                            .iter()
                            .map(|&a| ACTION_PATTERNS[a].to_owned())
                            .collect(),
                        resources: s
                            .resources
                            .iter()
                            .map(|&r| RESOURCE_PATTERNS[r].to_owned())
                            .collect(),
                        condition: s.condition.as_ref().map(cond_json),
                    })
                    .collect(),
            })
        })
        .collect();
    let snap = RealmSnapshot {
        revision: 1,
        roles,
        groups,
        memberships,
        role_grants,
        permission_grants,
        policies,
        // Requests bring their subject's attributes (stored ones are covered
        // by the engine's unit tests).
        subject_attributes: Vec::new(),
        // Organizations are covered by the engine's unit tests.
        ..RealmSnapshot::default()
    };
    (snap, conds)
}

// ---------------------------------------------------------------- reference

/// A check, in the reference's terms.
struct Question<'a> {
    subject: Uuid,
    action: &'a str,
    resource: &'a Resource,
    context: &'a Context,
    department: Option<&'a str>,
    now: i64,
}

/// The group and its ancestors (recursively).
fn with_ancestors(snap: &RealmSnapshot, group: Uuid, out: &mut BTreeSet<Uuid>) {
    out.insert(group);
    let g = snap.groups.iter().find(|g| g.id == group).unwrap();
    if let Some(parent) = g.parent {
        with_ancestors(snap, parent, out);
    }
}

fn ref_groups(snap: &RealmSnapshot, u: Uuid, now: i64) -> BTreeSet<Uuid> {
    let mut out = BTreeSet::new();
    for m in &snap.memberships {
        if m.user == u && m.validity.holds_at(now) {
            with_ancestors(snap, m.group, &mut out);
        }
    }
    out
}

fn with_included(snap: &RealmSnapshot, role: Uuid, out: &mut BTreeSet<Uuid>) {
    if !out.insert(role) {
        return;
    }
    let r = snap.roles.iter().find(|r| r.id == role).unwrap();
    for &inc in &r.includes {
        with_included(snap, inc, out);
    }
}

/// Roles granted directly (`direct`) or through groups, with inclusion.
fn ref_roles(snap: &RealmSnapshot, u: Uuid, now: i64, direct: Option<bool>) -> BTreeSet<Uuid> {
    let groups = ref_groups(snap, u, now);
    let mut out = BTreeSet::new();
    for g in &snap.role_grants {
        if !g.validity.holds_at(now) {
            continue;
        }
        let to_user = g.to == Grantee::User(u);
        let to_group = matches!(g.to, Grantee::Group(id) if groups.contains(&id));
        let wanted = match direct {
            None => to_user || to_group,
            Some(true) => to_user,
            Some(false) => to_group,
        };
        if wanted {
            with_included(snap, g.role, &mut out);
        }
    }
    out
}

fn seg_covers(seg: &Segment, name: &str) -> bool {
    match seg {
        Segment::Any => true,
        Segment::Name(n) => n == name,
    }
}

fn ref_reaches(snap: &RealmSnapshot, p: &Permission, q: &Question<'_>) -> bool {
    if !seg_covers(&p.resource, &q.resource.kind) || !seg_covers(&p.action, q.action) {
        return false;
    }
    let own = q.resource.owner.as_deref().map(str::to_lowercase) == Some(q.subject.to_string());
    let groups = ref_groups(snap, q.subject, q.now);
    let team = q.resource.team.as_deref().is_some_and(|t| {
        snap.groups
            .iter()
            .any(|g| groups.contains(&g.id) && (g.name == t || g.id.to_string() == t))
    });
    match p.scope {
        Scope::All => true,
        Scope::Team => own || team,
        Scope::Own => own,
    }
}

/// Naive recursive glob: `*` matches any run.
fn glob(p: &[u8], t: &[u8]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(b'*'), _) => glob(&p[1..], t) || (!t.is_empty() && glob(p, &t[1..])),
        (Some(c), Some(d)) if c == d => glob(&p[1..], &t[1..]),
        _ => false,
    }
}

fn ref_statement_matches(s: &Statement, q: &Question<'_>) -> bool {
    let kind = &q.resource.kind;
    let action_ok = s.actions.is_empty()
        || s.actions.iter().any(|a| {
            let text = if a.contains(':') {
                format!("{kind}:{}", q.action)
            } else {
                q.action.to_owned()
            };
            glob(a.as_bytes(), text.as_bytes())
        });
    let resource_ok = s.resources.is_empty()
        || s.resources.iter().any(|r| {
            if r.contains('/') {
                match &q.resource.id {
                    Some(id) => glob(r.as_bytes(), format!("{kind}/{id}").as_bytes()),
                    None => false,
                }
            } else {
                glob(r.as_bytes(), kind.as_bytes())
            }
        });
    action_ok && resource_ok
}

/// Evaluates a condition: Err for "fails to evaluate".
fn ref_cond(snap: &RealmSnapshot, c: &Cond, q: &Question<'_>) -> Result<bool, ()> {
    Ok(match c {
        Cond::HourAtLeast(h) => q.context.hour >= *h,
        Cond::DayIn(days) => days.contains(&q.context.day),
        Cond::Department(d) => q.department == Some(DEPARTMENTS[*d]),
        Cond::IpIn(net) => {
            let net: IpNet = net
                .parse()
                .unwrap_or_else(|_| IpNet::from(net.parse::<IpAddr>().unwrap()));
            q.context.ip.is_some_and(|ip| net.contains(&ip))
        }
        Cond::HasRole(r) => {
            let roles = ref_roles(snap, q.subject, q.now, None);
            snap.roles
                .iter()
                .any(|role| role.name == format!("role{r}") && roles.contains(&role.id))
        }
        Cond::InGroup(g) => {
            let groups = ref_groups(snap, q.subject, q.now);
            snap.groups
                .iter()
                .any(|group| group.name == format!("group{g}") && groups.contains(&group.id))
        }
        Cond::OwnerIsSubject => q.resource.owner.as_deref() == Some(&q.subject.to_string()),
        Cond::Broken => return Err(()),
        Cond::Not(inner) => !ref_cond(snap, inner, q)?,
        Cond::All(items) => {
            // JSON Logic `and` stops at the first false operand.
            for item in items {
                if !ref_cond(snap, item, q)? {
                    return Ok(false);
                }
            }
            true
        }
    })
}

fn ref_attached(snap: &RealmSnapshot, a: Attachment, q: &Question<'_>) -> bool {
    match a {
        Attachment::Realm => true,
        Attachment::User(u) => u == q.subject,
        Attachment::Group(g) => ref_groups(snap, q.subject, q.now).contains(&g),
        Attachment::Role(r) => ref_roles(snap, q.subject, q.now, None).contains(&r),
    }
}

/// Whether some statement of the effect applies (conditions by spec: a DENY
/// whose condition fails applies, an ALLOW does not).
fn ref_policy(snap: &RealmSnapshot, conds: &Conds, deny: bool, q: &Question<'_>) -> bool {
    for (p, pconds) in snap.policies.iter().zip(conds) {
        if !p.enabled || !ref_attached(snap, p.attached_to, q) {
            continue;
        }
        for (s, cond) in p.statements.iter().zip(pconds) {
            if (s.effect == Effect::Deny) != deny || !ref_statement_matches(s, q) {
                continue;
            }
            let holds = match cond {
                None => true,
                Some(c) => match ref_cond(snap, c, q) {
                    Ok(b) => b,
                    Err(()) => deny,
                },
            };
            if holds {
                return true;
            }
        }
    }
    false
}

fn reference(snap: &RealmSnapshot, conds: &Conds, q: &Question<'_>) -> Reason {
    let now = q.now;
    let groups = &ref_groups(snap, q.subject, now);
    let grants_to = |direct: bool| {
        snap.permission_grants.iter().filter(move |g| {
            g.validity.holds_at(now)
                && match g.to {
                    Grantee::User(u) => direct && u == q.subject,
                    Grantee::Group(id) => !direct && groups.contains(&id),
                }
        })
    };
    let denied = grants_to(true)
        .chain(grants_to(false))
        .any(|g| g.effect == Effect::Deny && ref_reaches(snap, &g.permission, q));
    if denied {
        return Reason::DirectDeny;
    }
    if ref_policy(snap, conds, true, q) {
        return Reason::PolicyDeny;
    }
    let allowed_by_grant = |direct: bool| {
        grants_to(direct).any(|g| g.effect == Effect::Allow && ref_reaches(snap, &g.permission, q))
    };
    let allowed_by_roles = |direct: bool| {
        let roles = ref_roles(snap, q.subject, now, Some(direct));
        snap.roles
            .iter()
            .filter(|r| roles.contains(&r.id))
            .flat_map(|r| &r.permissions)
            .any(|p| ref_reaches(snap, p, q))
    };
    if allowed_by_grant(true) {
        return Reason::DirectAllow;
    }
    if allowed_by_roles(true) {
        return Reason::RoleAllow;
    }
    if allowed_by_grant(false) || allowed_by_roles(false) {
        return Reason::GroupAllow;
    }
    if ref_policy(snap, conds, false, q) {
        return Reason::PolicyAllow;
    }
    Reason::NoMatch
}

// ---------------------------------------------------------------- property

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compiled_engine_agrees_with_reference(
        spec in realm_spec(),
        checks in prop::collection::vec(check_spec(), 1..24),
    ) {
        let (snap, conds) = build(&spec);
        let realm = CompiledRealm::compile(&snap).unwrap();
        for c in &checks {
            let subject = user(c.user);
            let resource = Resource {
                kind: KINDS[c.kind].to_owned(),
                id: c.id.map(str::to_owned),
                owner: c.owner.map(|o| user(o).to_string()),
                team: c.team.clone(),
                attributes: serde_json::Map::new(),
            };
            let context = Context {
                ip: c.ip.map(|ip| ip.parse().unwrap()),
                hour: c.hour,
                day: c.day,
                extra: serde_json::Map::new(),
            };
            let mut attributes = serde_json::Map::new();
            if let Some(d) = c.department {
                attributes.insert("department".into(), json!(DEPARTMENTS[d]));
            }
            let q = Question {
                subject,
                action: ACTIONS[c.action],
                resource: &resource,
                context: &context,
                department: c.department.map(|d| DEPARTMENTS[d]),
                now: c.now,
            };
            let expected = reference(&snap, &conds, &q);
            for explain in [false, true] {
                let got = realm.check(&CheckRequest {
                    subject,
                    subject_attributes: Some(&attributes),
                    action: ACTIONS[c.action],
                    resource: &resource,
                    context: &context,
                    now: c.now,
                    explain,
                });
                prop_assert_eq!(got.allowed, expected.allows(), "explain={} check={:?}", explain, c);
                prop_assert_eq!(got.reason, expected, "explain={} check={:?}", explain, c);
            }

            let names = |ids: BTreeSet<Uuid>, snap_names: Vec<(Uuid, String)>| {
                let mut v: Vec<String> = snap_names
                    .into_iter()
                    .filter(|(id, _)| ids.contains(id))
                    .map(|(_, n)| n)
                    .collect();
                v.sort();
                v
            };
            let role_names = names(
                ref_roles(&snap, subject, c.now, None),
                snap.roles.iter().map(|r| (r.id, r.name.clone())).collect(),
            );
            prop_assert_eq!(realm.role_names(subject, c.now), role_names);
            let group_names = names(
                ref_groups(&snap, subject, c.now),
                snap.groups.iter().map(|g| (g.id, g.name.clone())).collect(),
            );
            prop_assert_eq!(realm.group_names(subject, c.now), group_names);
        }
    }
}
