#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::*;
use crate::request::{CheckRequest, Context, Decision, Reason, Resource};
use crate::{CompileError, CompiledRealm, DecidedBy, Permission, StepKind, syntax};

/// A stable id per name.
fn id(name: &str) -> Uuid {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    Uuid::from_u128(h)
}

fn p(s: &str) -> Permission {
    Permission::parse(s).unwrap()
}

const ALICE: &str = "alice";
const BOB: &str = "bob";
const DAY: Micros = 86_400_000_000;

#[derive(Default)]
struct Realm {
    snap: RealmSnapshot,
}

impl Realm {
    fn role(mut self, name: &str, perms: &[&str], includes: &[&str]) -> Self {
        self.snap.roles.push(Role {
            id: id(name),
            name: name.into(),
            description: None,
            permissions: perms.iter().map(|s| p(s)).collect(),
            includes: includes.iter().map(|n| id(n)).collect(),
            builtin: false,
        });
        self
    }

    fn group(mut self, name: &str, parent: Option<&str>) -> Self {
        self.snap.groups.push(Group {
            id: id(name),
            name: name.into(),
            description: None,
            parent: parent.map(id),
        });
        self
    }

    fn member(self, user: &str, group: &str) -> Self {
        self.member_during(user, group, Validity::ALWAYS)
    }

    fn member_during(mut self, user: &str, group: &str, validity: Validity) -> Self {
        self.snap.memberships.push(Membership {
            user: id(user),
            group: id(group),
            validity,
        });
        self
    }

    fn role_to(self, to: Grantee, role: &str) -> Self {
        self.role_to_during(to, role, Validity::ALWAYS)
    }

    fn role_to_during(mut self, to: Grantee, role: &str, validity: Validity) -> Self {
        self.snap.role_grants.push(RoleGrant {
            to,
            role: id(role),
            validity,
        });
        self
    }

    fn perm_to(mut self, to: Grantee, perm: &str, effect: Effect) -> Self {
        self.snap.permission_grants.push(PermissionGrant {
            to,
            permission: p(perm),
            effect,
            validity: Validity::ALWAYS,
        });
        self
    }

    fn policy(
        mut self,
        name: &str,
        priority: i32,
        attached_to: Attachment,
        statements: Vec<Statement>,
    ) -> Self {
        self.snap.policies.push(Policy {
            id: id(name),
            name: name.into(),
            description: None,
            priority,
            attached_to,
            statements,
            enabled: true,
        });
        self
    }

    fn compile(&self) -> CompiledRealm {
        CompiledRealm::compile(&self.snap).unwrap()
    }
}

fn user(name: &str) -> Grantee {
    Grantee::User(id(name))
}

fn group(name: &str) -> Grantee {
    Grantee::Group(id(name))
}

fn stmt(v: Value) -> Statement {
    syntax::native_statement(&v).unwrap()
}

/// A check with sensible defaults; tweak fields before `run`.
struct Ask {
    subject: Uuid,
    action: String,
    resource: Resource,
    context: Context,
    attributes: Option<serde_json::Map<String, Value>>,
    now: Micros,
}

fn ask(who: &str, action: &str, kind: &str) -> Ask {
    Ask {
        subject: id(who),
        action: action.into(),
        resource: Resource::of_kind(kind),
        context: Context {
            ip: None,
            hour: 10,
            day: 3,
            extra: serde_json::Map::new(),
        },
        attributes: None,
        now: 1_000 * DAY,
    }
}

impl Ask {
    fn owner(mut self, who: &str) -> Self {
        self.resource.owner = Some(id(who).to_string());
        self
    }
    fn team(mut self, team: &str) -> Self {
        self.resource.team = Some(team.into());
        self
    }
    fn at(mut self, now: Micros) -> Self {
        self.now = now;
        self
    }
    fn when(mut self, day: u8, hour: u8) -> Self {
        self.context.day = day;
        self.context.hour = hour;
        self
    }
    fn ip(mut self, ip: &str) -> Self {
        self.context.ip = Some(ip.parse().unwrap());
        self
    }
    fn attr(mut self, key: &str, value: Value) -> Self {
        self.attributes
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.into(), value);
        self
    }
    fn id(mut self, rid: &str) -> Self {
        self.resource.id = Some(rid.into());
        self
    }

    fn request(&self, explain: bool) -> CheckRequest<'_> {
        CheckRequest {
            subject: self.subject,
            subject_attributes: self.attributes.as_ref(),
            action: &self.action,
            resource: &self.resource,
            context: &self.context,
            now: self.now,
            explain,
        }
    }

    /// Runs fast and explained; both must agree.
    fn run(&self, realm: &CompiledRealm) -> Decision {
        let fast = realm.check(&self.request(false));
        let explained = realm.check(&self.request(true));
        assert_eq!(fast.allowed, explained.allowed, "fast vs explained");
        assert_eq!(fast.reason, explained.reason, "fast vs explained");
        assert!(fast.explanation.is_none());
        assert!(explained.explanation.is_some());
        explained
    }

    fn reason(&self, realm: &CompiledRealm) -> Reason {
        self.run(realm).reason
    }
}

#[test]
fn direct_deny_wins_over_role_allow() {
    let realm = Realm::default()
        .role("reader", &["documents:read:all"], &[])
        .role_to(user(ALICE), "reader")
        .perm_to(user(ALICE), "documents:read:all", Effect::Deny)
        .compile();
    let d = ask(ALICE, "read", "documents").run(&realm);
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::DirectDeny);
    assert_eq!(
        d.explanation.unwrap().path_text.unwrap(),
        format!("user {} -> permission documents:read:all", id(ALICE))
    );
}

#[test]
fn deny_granted_to_a_group_wins_too() {
    let realm = Realm::default()
        .group("contractors", None)
        .member(ALICE, "contractors")
        .perm_to(user(ALICE), "documents:*:all", Effect::Allow)
        .perm_to(group("contractors"), "documents:delete:all", Effect::Deny)
        .compile();
    assert_eq!(
        ask(ALICE, "delete", "documents").reason(&realm),
        Reason::DirectDeny
    );
    assert_eq!(
        ask(ALICE, "read", "documents").reason(&realm),
        Reason::DirectAllow
    );
}

#[test]
fn deny_grant_only_where_its_scope_reaches() {
    let realm = Realm::default()
        .perm_to(user(ALICE), "documents:read:all", Effect::Allow)
        .perm_to(user(ALICE), "documents:read:own", Effect::Deny)
        .compile();
    assert_eq!(
        ask(ALICE, "read", "documents").owner(ALICE).reason(&realm),
        Reason::DirectDeny
    );
    assert_eq!(
        ask(ALICE, "read", "documents").owner(BOB).reason(&realm),
        Reason::DirectAllow
    );
}

#[test]
fn direct_allow() {
    let realm = Realm::default()
        .role("reader", &["documents:read:all"], &[])
        .role_to(user(ALICE), "reader")
        .perm_to(user(ALICE), "analytics:read:all", Effect::Allow)
        .compile();
    let d = ask(ALICE, "read", "analytics").run(&realm);
    assert!(d.allowed);
    assert_eq!(d.reason, Reason::DirectAllow);
    // Direct allow takes precedence over a role allowing the same.
    let realm = Realm::default()
        .role("reader", &["documents:read:all"], &[])
        .role_to(user(ALICE), "reader")
        .perm_to(user(ALICE), "documents:read:all", Effect::Allow)
        .compile();
    assert_eq!(
        ask(ALICE, "read", "documents").reason(&realm),
        Reason::DirectAllow
    );
}

#[test]
fn role_allow() {
    let realm = Realm::default()
        .role("admin", &["users:*:all", "products:*:all"], &[])
        .role("manager", &["orders:read:team"], &[])
        .role_to(user(ALICE), "admin")
        .compile();
    let d = ask(ALICE, "delete", "products").run(&realm);
    assert_eq!(d.reason, Reason::RoleAllow);
    let e = d.explanation.unwrap();
    assert_eq!(
        e.path_text.unwrap(),
        format!(
            "user {} -> role admin -> permission products:*:all",
            id(ALICE)
        )
    );
    assert!(matches!(e.decided_by, Some(DecidedBy::Grant { .. })));
    assert_eq!(
        ask(BOB, "delete", "products").reason(&realm),
        Reason::NoMatch
    );
    assert_eq!(ask(ALICE, "read", "orders").reason(&realm), Reason::NoMatch);
}

#[test]
fn role_grant_counts_only_inside_its_validity() {
    let start = 100 * DAY;
    let end = 200 * DAY;
    let realm = Realm::default()
        .role("temp", &["reports:read:all"], &[])
        .role_to_during(
            user(ALICE),
            "temp",
            Validity {
                not_before: Some(start),
                expires_at: Some(end),
            },
        )
        .compile();
    let r = |now| ask(ALICE, "read", "reports").at(now).reason(&realm);
    assert_eq!(r(start - 1), Reason::NoMatch, "before not_before");
    assert_eq!(r(start), Reason::RoleAllow, "at not_before");
    assert_eq!(r(end - 1), Reason::RoleAllow, "just before expiry");
    assert_eq!(r(end), Reason::NoMatch, "at expiry");
    assert_eq!(r(end + DAY), Reason::NoMatch, "after expiry");
    // Names follow the clock too.
    assert_eq!(realm.role_names(id(ALICE), start), vec!["temp"]);
    assert!(realm.role_names(id(ALICE), end).is_empty());
}

#[test]
fn every_link_of_a_group_path_must_hold() {
    let realm = Realm::default()
        .role("deployer", &["deployments:create:all"], &[])
        .group("platform", None)
        .member_during(
            ALICE,
            "platform",
            Validity {
                not_before: None,
                expires_at: Some(50 * DAY),
            },
        )
        .role_to_during(
            group("platform"),
            "deployer",
            Validity {
                not_before: Some(10 * DAY),
                expires_at: None,
            },
        )
        .compile();
    let r = |now| ask(ALICE, "create", "deployments").at(now).reason(&realm);
    assert_eq!(r(5 * DAY), Reason::NoMatch, "grant to group not yet valid");
    assert_eq!(r(20 * DAY), Reason::GroupAllow);
    assert_eq!(r(60 * DAY), Reason::NoMatch, "membership expired");
    assert!(realm.group_names(id(ALICE), 60 * DAY).is_empty());
}

#[test]
fn group_permission() {
    let realm = Realm::default()
        .group("analysts", None)
        .member(ALICE, "analysts")
        .perm_to(group("analysts"), "reports:read:all", Effect::Allow)
        .compile();
    let d = ask(ALICE, "read", "reports").run(&realm);
    assert_eq!(d.reason, Reason::GroupAllow);
    assert_eq!(
        d.explanation.unwrap().path_text.unwrap(),
        format!(
            "user {} -> group analysts -> permission reports:read:all",
            id(ALICE)
        )
    );
    assert_eq!(ask(BOB, "read", "reports").reason(&realm), Reason::NoMatch);
}

#[test]
fn inherited_through_three_ancestor_levels() {
    let realm = Realm::default()
        .group("company", None)
        .group("engineering", Some("company"))
        .group("platform", Some("engineering"))
        .group("sre", Some("platform"))
        .member(ALICE, "sre")
        .perm_to(group("company"), "wiki:read:all", Effect::Allow)
        .compile();
    let d = ask(ALICE, "read", "wiki").run(&realm);
    assert_eq!(d.reason, Reason::GroupAllow);
    assert_eq!(
        d.explanation.unwrap().path_text.unwrap(),
        format!(
            "user {} -> group sre -> group platform -> group engineering -> group company -> permission wiki:read:all",
            id(ALICE)
        )
    );
    assert_eq!(
        realm.group_names(id(ALICE), 0),
        vec!["company", "engineering", "platform", "sre"]
    );
}

#[test]
fn role_composition() {
    let realm = Realm::default()
        .role("viewer", &["documents:read:all"], &[])
        .role("editor", &["documents:update:all"], &["viewer"])
        .role("lead", &["documents:delete:all"], &["editor"])
        .role_to(user(ALICE), "lead")
        .compile();
    let d = ask(ALICE, "read", "documents").run(&realm);
    assert_eq!(d.reason, Reason::RoleAllow);
    assert_eq!(
        d.explanation.unwrap().path_text.unwrap(),
        format!(
            "user {} -> role lead -> role editor -> role viewer -> permission documents:read:all",
            id(ALICE)
        )
    );
    assert_eq!(
        realm.role_names(id(ALICE), 0),
        vec!["editor", "lead", "viewer"]
    );
}

#[test]
fn explanation_path_for_two_deep_group_role_permission() {
    let realm = Realm::default()
        .role("deployer", &["deployments:create:team"], &[])
        .group("platform", None)
        .group("engineering", Some("platform"))
        .member(ALICE, "engineering")
        .role_to(group("platform"), "deployer")
        .compile();
    let d = ask(ALICE, "create", "deployments")
        .team("platform")
        .run(&realm);
    assert!(d.allowed);
    assert_eq!(d.reason, Reason::GroupAllow);
    let e = d.explanation.unwrap();
    let text = format!(
        "user {} -> group engineering -> group platform -> role deployer -> permission deployments:create:team",
        id(ALICE)
    );
    assert_eq!(e.path_text.as_deref(), Some(text.as_str()));
    let kinds: Vec<StepKind> = e.path.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StepKind::User,
            StepKind::Group,
            StepKind::Group,
            StepKind::Role,
            StepKind::Permission
        ]
    );
    assert_eq!(e.path[3].id, Some(id("deployer")));
    assert!(d.message.contains(&text), "{}", d.message);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["reason"], "group_allow");
    assert_eq!(json["path"][1]["kind"], "group");
}

#[test]
fn scopes_own_team_all() {
    let realm = Realm::default()
        .role("self", &["profiles:update:own"], &[])
        .role("teamlead", &["orders:read:team"], &[])
        .role("auditor", &["logs:read:all"], &[])
        .group("sales", None)
        .group("emea", Some("sales"))
        .member(ALICE, "emea")
        .role_to(user(ALICE), "self")
        .role_to(user(ALICE), "teamlead")
        .role_to(user(ALICE), "auditor")
        .compile();
    let r = |a: Ask| a.reason(&realm);
    // own
    assert_eq!(
        r(ask(ALICE, "update", "profiles").owner(ALICE)),
        Reason::RoleAllow
    );
    assert_eq!(
        r(ask(ALICE, "update", "profiles").owner(BOB)),
        Reason::NoMatch
    );
    assert_eq!(r(ask(ALICE, "update", "profiles")), Reason::NoMatch);
    // owner comparison ignores case
    let mut upper = ask(ALICE, "update", "profiles");
    upper.resource.owner = Some(id(ALICE).to_string().to_uppercase());
    assert_eq!(r(upper), Reason::RoleAllow);
    // team: by name, by id, through an ancestor; own resources count too
    assert_eq!(
        r(ask(ALICE, "read", "orders").team("emea")),
        Reason::RoleAllow
    );
    assert_eq!(
        r(ask(ALICE, "read", "orders").team("sales")),
        Reason::RoleAllow
    );
    assert_eq!(
        r(ask(ALICE, "read", "orders").team(&id("emea").to_string())),
        Reason::RoleAllow
    );
    assert_eq!(
        r(ask(ALICE, "read", "orders").team("marketing")),
        Reason::NoMatch
    );
    assert_eq!(
        r(ask(ALICE, "read", "orders").owner(ALICE)),
        Reason::RoleAllow
    );
    assert_eq!(r(ask(ALICE, "read", "orders")), Reason::NoMatch);
    // all
    assert_eq!(r(ask(ALICE, "read", "logs")), Reason::RoleAllow);
    assert_eq!(
        r(ask(ALICE, "read", "logs").owner(BOB).team("x")),
        Reason::RoleAllow
    );

    let d = ask(ALICE, "update", "profiles").owner(BOB).run(&realm);
    let missing = d.explanation.unwrap().missing.unwrap();
    assert_eq!(
        missing,
        "no grant of profiles:update at scope all; held: profiles:update:own (resource owner is someone else)"
    );
}

#[test]
fn default_deny() {
    let realm = Realm::default().compile();
    let d = ask(ALICE, "read", "anything").run(&realm);
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::NoMatch);
    let e = d.explanation.unwrap();
    assert!(e.decided_by.is_none());
    assert_eq!(
        e.missing.unwrap(),
        "no grant of anything:read at scope all; held: nothing for anything:read"
    );
}

#[test]
fn abac_allow_by_priority() {
    let realm = Realm::default()
        .policy(
            "low",
            10,
            Attachment::Realm,
            vec![stmt(json!({"effect": "ALLOW", "resources": ["reports"]}))],
        )
        .policy(
            "high",
            90,
            Attachment::Realm,
            vec![stmt(json!({"effect": "ALLOW", "resources": ["reports"],
                "condition": {"==": [{"var": "subject.attributes.department"}, "finance"]}}))],
        )
        .policy(
            "unrelated",
            100,
            Attachment::Realm,
            vec![stmt(json!({"effect": "ALLOW", "resources": ["other"]}))],
        )
        .compile();
    let d = ask(ALICE, "read", "reports")
        .attr("department", json!("finance"))
        .run(&realm);
    assert_eq!(d.reason, Reason::PolicyAllow);
    let e = d.explanation.unwrap();
    match e.decided_by {
        Some(DecidedBy::Policy { name, priority, .. }) => {
            assert_eq!(name, "high");
            assert_eq!(priority, 90);
        }
        other => panic!("{other:?}"),
    }
    let names: Vec<&str> = e.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["high", "low"],
        "only matching policies, by priority"
    );
    assert_eq!(e.path_text.as_deref(), Some("realm -> policy high"));

    let d = ask(ALICE, "read", "reports")
        .attr("department", json!("sales"))
        .run(&realm);
    assert_eq!(d.reason, Reason::PolicyAllow);
    let e = d.explanation.unwrap();
    assert!(matches!(e.decided_by, Some(DecidedBy::Policy { ref name, .. }) if name == "low"));
    assert_eq!(e.policies[0].condition, crate::ConditionOutcome::NotHeld);
    assert!(!e.policies[0].applied);
}

#[test]
fn deny_policy_wins() {
    let realm = Realm::default()
        .role("reader", &["documents:read:all"], &[])
        .role_to(user(ALICE), "reader")
        .perm_to(user(ALICE), "documents:update:all", Effect::Allow)
        .policy(
            "no-classified",
            1,
            Attachment::Realm,
            vec![stmt(
                json!({"effect": "deny", "actions": ["*"], "resources": ["documents"],
                "condition": {"==": [{"var": "resource.attributes.classified"}, true]}}),
            )],
        )
        .compile();
    let mut a = ask(ALICE, "read", "documents");
    a.resource
        .attributes
        .insert("classified".into(), json!(true));
    let d = a.run(&realm);
    assert_eq!(d.reason, Reason::PolicyDeny);
    assert!(d.message.contains("no-classified"), "{}", d.message);
    let mut a = ask(ALICE, "update", "documents");
    a.resource
        .attributes
        .insert("classified".into(), json!(true));
    assert_eq!(
        a.reason(&realm),
        Reason::PolicyDeny,
        "wins over a direct allow"
    );
    assert_eq!(
        ask(ALICE, "read", "documents").reason(&realm),
        Reason::RoleAllow
    );
}

#[test]
fn disabled_policy_never_applies() {
    let mut realm = Realm::default().policy(
        "off",
        1,
        Attachment::Realm,
        vec![stmt(json!({"effect": "allow"}))],
    );
    realm.snap.policies[0].enabled = false;
    assert_eq!(
        ask(ALICE, "read", "x").reason(&realm.compile()),
        Reason::NoMatch
    );
}

#[test]
fn policy_attachments() {
    let allow = || vec![stmt(json!({"effect": "allow", "resources": ["r"]}))];
    let realm = Realm::default()
        .role("base", &[], &[])
        .role("boss", &[], &["base"])
        .group("g", None)
        .group("child", Some("g"))
        .member(ALICE, "child")
        .role_to(group("g"), "boss")
        .policy("to-user", 1, Attachment::User(id(BOB)), allow())
        .policy(
            "to-group",
            1,
            Attachment::Group(id("g")),
            vec![stmt(json!({"effect": "allow", "resources": ["s"]}))],
        )
        .policy(
            "to-role",
            1,
            Attachment::Role(id("base")),
            vec![stmt(json!({"effect": "allow", "resources": ["t"]}))],
        )
        .compile();
    assert_eq!(ask(BOB, "read", "r").reason(&realm), Reason::PolicyAllow);
    assert_eq!(ask(ALICE, "read", "r").reason(&realm), Reason::NoMatch);
    assert_eq!(ask(ALICE, "read", "s").reason(&realm), Reason::PolicyAllow);
    assert_eq!(ask(BOB, "read", "s").reason(&realm), Reason::NoMatch);
    let d = ask(ALICE, "read", "t").run(&realm);
    assert_eq!(d.reason, Reason::PolicyAllow);
    assert_eq!(
        d.explanation.unwrap().path_text.unwrap(),
        format!(
            "user {} -> group child -> group g -> role boss -> role base -> policy to-role",
            id(ALICE)
        )
    );
    assert_eq!(ask(BOB, "read", "t").reason(&realm), Reason::NoMatch);
}

#[test]
fn statement_patterns() {
    let realm = Realm::default()
        .policy(
            "p",
            1,
            Attachment::Realm,
            vec![stmt(json!({"effect": "allow",
                "actions": ["documents:re*", "approve"],
                "resources": ["documents/4*", "invoices"]}))],
        )
        .compile();
    let r = |a: Ask| a.reason(&realm);
    assert_eq!(
        r(ask(ALICE, "read", "documents").id("42")),
        Reason::PolicyAllow
    );
    assert_eq!(r(ask(ALICE, "read", "documents").id("52")), Reason::NoMatch);
    assert_eq!(
        r(ask(ALICE, "read", "documents")),
        Reason::NoMatch,
        "needs an id"
    );
    assert_eq!(r(ask(ALICE, "approve", "invoices")), Reason::PolicyAllow);
    assert_eq!(
        r(ask(ALICE, "read", "invoices")),
        Reason::NoMatch,
        "qualified action"
    );
    assert_eq!(
        r(ask(ALICE, "approve", "documents").id("4")),
        Reason::PolicyAllow
    );
}

const BUSINESS_HOURS: &str = r#"{"name":"Business Hours Only","resource":"sensitive_data","condition":{"and":[{">=":[{"var":"hour"},9]},{"<=":[{"var":"hour"},17]},{"in":[{"var":"day"},[1,2,3,4,5]]}]},"effect":"ALLOW","priority":100}"#;

#[test]
fn seed_business_hours_policy() {
    let json: Value = serde_json::from_str(BUSINESS_HOURS).unwrap();
    let statement = syntax::native_statement(&json).unwrap();
    assert_eq!(statement.resources, ["sensitive_data"]);
    assert!(statement.actions.is_empty());
    let realm = Realm::default()
        .policy(
            json["name"].as_str().unwrap(),
            i32::try_from(json["priority"].as_i64().unwrap()).unwrap(),
            Attachment::Realm,
            vec![statement],
        )
        .compile();
    let at = |day, hour| {
        ask(ALICE, "read", "sensitive_data")
            .when(day, hour)
            .run(&realm)
    };
    let wed_10 = at(3, 10);
    assert!(wed_10.allowed);
    assert_eq!(wed_10.reason, Reason::PolicyAllow);
    assert!(!at(6, 10).allowed, "Saturday");
    assert!(!at(3, 18).allowed, "18:00");
    assert!(at(5, 17).allowed, "Friday 17:xx");
    assert!(!at(3, 8).allowed, "8:00");
    let refused = at(6, 10);
    assert_eq!(refused.reason, Reason::NoMatch);
    let e = refused.explanation.unwrap();
    assert_eq!(e.policies.len(), 1);
    assert_eq!(e.policies[0].condition, crate::ConditionOutcome::NotHeld);
    assert!(e.missing.unwrap().contains("did not hold"));
    assert!(!ask(ALICE, "read", "other").when(3, 10).run(&realm).allowed);
}

#[test]
fn stored_subject_attributes_feed_conditions_unless_the_request_brings_its_own() {
    let statement = stmt(json!({
        "effect": "ALLOW", "resources": ["ledgers"], "actions": ["read"],
        "condition": {"==": [{"var": "subject.attributes.department"}, "finance"]}
    }));
    let mut realm = Realm::default().policy("finance-reads", 0, Attachment::Realm, vec![statement]);
    let finance = serde_json::Map::from_iter([("department".to_owned(), json!("finance"))]);
    let sales = serde_json::Map::from_iter([("department".to_owned(), json!("sales"))]);
    realm.snap.subject_attributes = vec![
        (id(ALICE), finance.clone()),
        (id(BOB), sales),
        (id("carol"), finance),
    ];
    let realm = realm.compile();
    // Equal maps are stored once.
    assert!(std::sync::Arc::ptr_eq(
        &realm.attributes[&id(ALICE)],
        &realm.attributes[&id("carol")]
    ));
    assert!(ask(ALICE, "read", "ledgers").run(&realm).allowed);
    assert!(!ask(BOB, "read", "ledgers").run(&realm).allowed);
    assert!(
        !ask("dave", "read", "ledgers").run(&realm).allowed,
        "no attributes"
    );
    // A request's own attributes replace the stored ones.
    let claimed = ask(BOB, "read", "ledgers").attr("department", json!("finance"));
    assert!(claimed.run(&realm).allowed);
    let e = ask(ALICE, "read", "ledgers")
        .run(&realm)
        .explanation
        .unwrap();
    assert_eq!(e.policies[0].condition, crate::ConditionOutcome::Held);
}

#[test]
fn cidr_conditions() {
    let realm = Realm::default()
        .role("reader", &["payroll:read:all"], &[])
        .role_to(user(ALICE), "reader")
        .policy(
            "office-only",
            50,
            Attachment::Realm,
            vec![stmt(json!({"effect": "DENY", "resources": ["payroll"],
                "condition": {"!": {"ip_in_range": [{"var": "context.ip"}, ["10.0.0.0/8", "192.168.1.0/24"]]}}}))],
        )
        .policy(
            "vpn-readers",
            10,
            Attachment::Realm,
            vec![stmt(json!({"effect": "ALLOW", "actions": ["read"], "resources": ["intranet"],
                "condition": {"ip_in_range": [{"var": "ip"}, "10.8.0.0/16"]}}))],
        )
        .compile();
    let r = |a: Ask| a.reason(&realm);
    assert_eq!(
        r(ask(ALICE, "read", "payroll").ip("10.1.2.3")),
        Reason::RoleAllow
    );
    assert_eq!(
        r(ask(ALICE, "read", "payroll").ip("192.168.1.77")),
        Reason::RoleAllow
    );
    assert_eq!(
        r(ask(ALICE, "read", "payroll").ip("8.8.8.8")),
        Reason::PolicyDeny
    );
    assert_eq!(
        r(ask(ALICE, "read", "payroll")),
        Reason::PolicyDeny,
        "no ip: outside"
    );
    assert_eq!(
        r(ask(BOB, "read", "intranet").ip("10.8.3.4")),
        Reason::PolicyAllow
    );
    assert_eq!(
        r(ask(BOB, "read", "intranet").ip("10.9.3.4")),
        Reason::NoMatch
    );
    assert_eq!(r(ask(BOB, "read", "intranet").ip("::1")), Reason::NoMatch);
}

#[test]
fn conditions_fail_closed() {
    // `ip_in_range` on a number is an evaluation error.
    let erroring = json!({"ip_in_range": [{"var": "hour"}, "10.0.0.0/8"]});
    let realm = Realm::default()
        .perm_to(user(ALICE), "documents:read:all", Effect::Allow)
        .policy(
            "broken-deny",
            1,
            Attachment::Realm,
            vec![stmt(
                json!({"effect": "deny", "resources": ["documents"], "condition": erroring}),
            )],
        )
        .policy(
            "broken-allow",
            1,
            Attachment::Realm,
            vec![stmt(
                json!({"effect": "allow", "resources": ["reports"], "condition": erroring}),
            )],
        )
        .compile();
    let d = ask(ALICE, "read", "documents").run(&realm);
    assert_eq!(d.reason, Reason::PolicyDeny, "an erroring DENY applies");
    let e = d.explanation.unwrap();
    assert!(matches!(
        e.policies[0].condition,
        crate::ConditionOutcome::Error { .. }
    ));
    assert_eq!(
        ask(BOB, "read", "reports").reason(&realm),
        Reason::NoMatch,
        "an erroring ALLOW does not"
    );
}

#[test]
fn iam_document_matches_native_policy() {
    let native = vec![
        stmt(
            json!({"effect": "allow", "actions": ["documents:read", "documents:list"], "resources": ["documents/*"],
            "condition": {"and": [
                {"in": [{"var": "subject.attributes.department"}, ["sales", "legal"]]},
                {"ip_in_range": [{"var": "context.ip"}, ["10.0.0.0/8"]]}]}}),
        ),
        stmt(json!({"effect": "deny", "actions": ["*"], "resources": ["documents/secret-*"]})),
    ];
    let iam = syntax::iam_document(&json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadDocs", "Effect": "Allow", "Action": ["documents:read", "documents:list"], "Resource": "documents/*",
             "Condition": {"StringEquals": {"subject.attributes.department": ["sales", "legal"]},
                           "IpAddress": {"context.ip": "10.0.0.0/8"}}},
            {"Effect": "Deny", "Action": "*", "Resource": ["documents/secret-*"]}
        ]
    }))
    .unwrap();
    let a = Realm::default()
        .policy("p", 1, Attachment::Realm, native)
        .compile();
    let b = Realm::default()
        .policy("p", 1, Attachment::Realm, iam)
        .compile();
    for dept in ["sales", "legal", "hr"] {
        for ip in ["10.1.1.1", "11.1.1.1"] {
            for action in ["read", "list", "delete"] {
                for rid in ["1", "secret-1"] {
                    let q = ask(ALICE, action, "documents")
                        .attr("department", json!(dept))
                        .ip(ip)
                        .id(rid);
                    let (x, y) = (q.reason(&a), q.reason(&b));
                    assert_eq!(x, y, "{dept} {ip} {action} {rid}");
                }
            }
        }
    }
    let q = ask(ALICE, "read", "documents")
        .attr("department", json!("legal"))
        .ip("10.0.0.1")
        .id("7");
    assert_eq!(q.reason(&b), Reason::PolicyAllow);
    let q = ask(ALICE, "read", "documents")
        .attr("department", json!("legal"))
        .ip("10.0.0.1")
        .id("secret-7");
    assert_eq!(q.reason(&b), Reason::PolicyDeny);
}

#[test]
fn iam_numeric_bool_and_like_conditions() {
    let iam = syntax::iam_document(&json!({
        "Statement": {"Effect": "Allow", "Action": "approve", "Resource": "invoices",
            "Condition": {
                "NumericLessThanEquals": {"resource.attributes.amount": "1000"},
                "Bool": {"subject.attributes.mfa": "true"},
                "StringLike": {"subject.attributes.email": "*@example.com"},
                "NotIpAddress": {"context.ip": ["203.0.113.0/24"]}
            }}
    }))
    .unwrap();
    let realm = Realm::default()
        .policy("p", 1, Attachment::Realm, iam)
        .compile();
    let q = |amount: Value, mfa: Value, email: &str, ip: &str| {
        let mut a = ask(ALICE, "approve", "invoices")
            .attr("mfa", mfa)
            .attr("email", json!(email))
            .ip(ip);
        a.resource.attributes.insert("amount".into(), amount);
        a.reason(&realm)
    };
    let ok = Reason::PolicyAllow;
    assert_eq!(q(json!(999), json!(true), "a@example.com", "10.0.0.1"), ok);
    assert_eq!(
        q(json!(1000), json!("true"), "a@example.com", "10.0.0.1"),
        ok
    );
    assert_eq!(
        q(json!(1001), json!(true), "a@example.com", "10.0.0.1"),
        Reason::NoMatch
    );
    assert_eq!(
        q(Value::Null, json!(true), "a@example.com", "10.0.0.1"),
        Reason::NoMatch,
        "missing amount"
    );
    assert_eq!(
        q(json!(5), json!(false), "a@example.com", "10.0.0.1"),
        Reason::NoMatch
    );
    assert_eq!(
        q(json!(5), json!(true), "a@example.org", "10.0.0.1"),
        Reason::NoMatch
    );
    assert_eq!(
        q(json!(5), json!(true), "a@example.com", "203.0.113.9"),
        Reason::NoMatch
    );
}

#[test]
fn compile_detects_cycles_and_unknown_references() {
    let err = CompiledRealm::compile(
        &Realm::default()
            .role("a", &[], &["b"])
            .role("b", &[], &["c"])
            .role("c", &[], &["a"])
            .snap,
    )
    .unwrap_err();
    assert_eq!(
        err,
        CompileError::RoleCycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert!(err.to_string().contains("a -> b -> c -> a"), "{err}");

    let err =
        CompiledRealm::compile(&Realm::default().role("self", &[], &["self"]).snap).unwrap_err();
    assert_eq!(
        err,
        CompileError::RoleCycle(vec!["self".into(), "self".into()])
    );

    let err = CompiledRealm::compile(
        &Realm::default()
            .group("x", Some("z"))
            .group("y", Some("x"))
            .group("z", Some("y"))
            .snap,
    )
    .unwrap_err();
    assert!(
        matches!(err, CompileError::GroupCycle(ref c) if c.len() == 4 && c[0] == c[3]),
        "{err:?}"
    );

    let err =
        CompiledRealm::compile(&Realm::default().role("a", &[], &["ghost"]).snap).unwrap_err();
    assert_eq!(err, CompileError::UnknownRole(id("ghost")));
    let err = CompiledRealm::compile(&Realm::default().member(ALICE, "ghost").snap).unwrap_err();
    assert_eq!(err, CompileError::UnknownGroup(id("ghost")));
    let err = CompiledRealm::compile(&Realm::default().group("a", Some("ghost")).snap).unwrap_err();
    assert_eq!(err, CompileError::UnknownGroup(id("ghost")));
    let err =
        CompiledRealm::compile(&Realm::default().role_to(user(ALICE), "ghost").snap).unwrap_err();
    assert_eq!(err, CompileError::UnknownRole(id("ghost")));

    let mut bad = Realm::default().policy(
        "bad",
        1,
        Attachment::Realm,
        vec![stmt(json!({"effect": "allow"}))],
    );
    bad.snap.policies[0].statements[0].condition = Some(json!({"nope": [1]}));
    let err = CompiledRealm::compile(&bad.snap).unwrap_err();
    match err {
        CompileError::Condition { policy, message } => {
            assert_eq!(policy, "bad");
            assert!(message.contains("statements[0].condition"), "{message}");
            assert!(message.contains("unknown operator 'nope'"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn would_be_cycles() {
    let realm = Realm::default()
        .role("a", &[], &["b"])
        .role("b", &[], &["c"])
        .role("c", &[], &[])
        .role("d", &[], &[])
        .group("root", None)
        .group("mid", Some("root"))
        .group("leaf", Some("mid"))
        .group("other", None)
        .compile();
    assert_eq!(
        realm.role_inclusion_cycle(id("c"), id("a")),
        Some(vec!["c".into(), "a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        realm.role_inclusion_cycle(id("a"), id("a")),
        Some(vec!["a".into(), "a".into()])
    );
    assert_eq!(
        realm.role_inclusion_cycle(id("a"), id("c")),
        None,
        "already reachable, no cycle"
    );
    assert_eq!(realm.role_inclusion_cycle(id("d"), id("a")), None);
    assert_eq!(realm.role_inclusion_cycle(id("d"), id("ghost")), None);
    assert_eq!(
        realm.group_parent_cycle(id("root"), id("leaf")),
        Some(vec![
            "root".into(),
            "leaf".into(),
            "mid".into(),
            "root".into()
        ])
    );
    assert_eq!(
        realm.group_parent_cycle(id("mid"), id("mid")),
        Some(vec!["mid".into(), "mid".into()])
    );
    assert_eq!(realm.group_parent_cycle(id("leaf"), id("other")), None);
    assert_eq!(realm.group_parent_cycle(id("other"), id("leaf")), None);
}

#[test]
fn lookups_and_effective_permissions() {
    let realm = Realm::default()
        .role("viewer", &["documents:read:all"], &[])
        .role("editor", &["documents:update:team"], &["viewer"])
        .group("eng", None)
        .group("platform", Some("eng"))
        .member(ALICE, "platform")
        .role_to(user(ALICE), "viewer")
        .role_to(group("eng"), "editor")
        .perm_to(user(ALICE), "documents:delete:all", Effect::Deny)
        .compile();
    assert_eq!(realm.role_id("editor"), Some(id("editor")));
    assert_eq!(realm.group_id("platform"), Some(id("platform")));
    assert_eq!(realm.role(id("viewer")).unwrap().name, "viewer");
    assert_eq!(realm.group(id("platform")).unwrap().parent, Some(id("eng")));
    assert!(realm.role_id("nope").is_none());
    assert_eq!(realm.role_names(id(ALICE), 0), vec!["editor", "viewer"]);
    assert_eq!(realm.group_names(id(ALICE), 0), vec!["eng", "platform"]);
    assert!(realm.role_names(id(BOB), 0).is_empty());

    let eff = realm.effective_permissions(id(ALICE), 0);
    let summary: Vec<(String, Effect, usize)> = eff
        .iter()
        .map(|e| (e.permission.to_string(), e.effect, e.sources.len()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("documents:delete:all".to_owned(), Effect::Deny, 1),
            ("documents:read:all".to_owned(), Effect::Allow, 2),
            ("documents:update:team".to_owned(), Effect::Allow, 1),
        ]
    );
    let read = &eff[1];
    let u = id(ALICE);
    assert_eq!(
        read.sources,
        vec![
            format!("user {u} -> role viewer -> permission documents:read:all"),
            format!(
                "user {u} -> group platform -> group eng -> role editor -> role viewer -> permission documents:read:all"
            ),
        ]
    );
    assert!(realm.heap_bytes() > 0);
    assert_eq!(realm.revision(), 0);
}

#[test]
fn wildcard_permissions_and_unknown_names() {
    let realm = Realm::default()
        .role("root", &["*:*:all"], &[])
        .role("docs", &["documents:*:own"], &[])
        .role_to(user(ALICE), "root")
        .role_to(user(BOB), "docs")
        .compile();
    assert_eq!(
        ask(ALICE, "frobnicate", "never-seen").reason(&realm),
        Reason::RoleAllow
    );
    assert_eq!(
        ask(BOB, "shred", "documents").owner(BOB).reason(&realm),
        Reason::RoleAllow
    );
    assert_eq!(
        ask(BOB, "shred", "documents").owner(ALICE).reason(&realm),
        Reason::NoMatch
    );
}

#[test]
fn roles_with_many_permissions_use_the_sorted_scan() {
    let perms: Vec<String> = (0..40).map(|i| format!("kind{i}:read:all")).collect();
    let mut refs: Vec<&str> = perms.iter().map(String::as_str).collect();
    refs.push("*:audit:all");
    refs.push("kind7:*:own");
    let realm = Realm::default()
        .role("big", &refs, &[])
        .role_to(user(ALICE), "big")
        .compile();
    for i in 0..40 {
        assert_eq!(
            ask(ALICE, "read", &format!("kind{i}")).reason(&realm),
            Reason::RoleAllow
        );
        assert_eq!(
            ask(ALICE, "write", &format!("kind{i}")).reason(&realm),
            Reason::NoMatch
        );
        assert_eq!(
            ask(ALICE, "audit", &format!("kind{i}")).reason(&realm),
            Reason::RoleAllow
        );
    }
    assert_eq!(
        ask(ALICE, "write", "kind7").owner(ALICE).reason(&realm),
        Reason::RoleAllow
    );
    assert_eq!(ask(ALICE, "read", "kind40").reason(&realm), Reason::NoMatch);
}

#[test]
fn conditions_see_roles_groups_and_context() {
    let realm = Realm::default()
        .role("auditor", &[], &[])
        .group("eng", None)
        .group("team-a", Some("eng"))
        .member(ALICE, "team-a")
        .role_to(user(ALICE), "auditor")
        .policy(
            "p",
            1,
            Attachment::Realm,
            vec![stmt(
                json!({"effect": "allow", "resources": ["logs"], "condition": {"and": [
                    {"in": ["auditor", {"var": "subject.roles"}]},
                    {"in": ["eng", {"var": "subject.groups"}]},
                    {"==": [{"var": "context.tier"}, "gold"]},
                    {"==": [{"var": "weekday"}, "wednesday"]}
                ]}}),
            )],
        )
        .compile();
    let mut q = ask(ALICE, "read", "logs");
    q.context.extra.insert("tier".into(), json!("gold"));
    assert_eq!(q.reason(&realm), Reason::PolicyAllow);
    q.context.extra.insert("tier".into(), json!("silver"));
    assert_eq!(q.reason(&realm), Reason::NoMatch);
    let mut q = ask(BOB, "read", "logs");
    q.context.extra.insert("tier".into(), json!("gold"));
    assert_eq!(q.reason(&realm), Reason::NoMatch);
}

#[test]
fn organizations_give_teams_to_their_administrators_roles_and_attributes_to_members() {
    use crate::model::{OrganizationMember, OrganizationNode};
    let org = |name: &str, parent: Option<&str>| OrganizationNode {
        id: id(name),
        name: name.into(),
        parent: parent.map(id),
    };
    let member = |user: &str, org: &str, role: &str| OrganizationMember {
        user: id(user),
        organization: id(org),
        role: role.into(),
    };
    let mut realm = Realm::default()
        .role("user", &["organizations:manage:team"], &[])
        .role("auditor", &["reports:read:all"], &[])
        .group("globex", None)
        .role_to(user(ALICE), "user")
        .role_to(user(BOB), "user")
        .role_to(user("carol"), "user")
        .policy(
            "globex-only",
            0,
            Attachment::Realm,
            vec![stmt(
                json!({"effect": "ALLOW", "resources": ["wiki"], "actions": ["read"],
                "condition": {"in": ["globex", {"var": "subject.attributes.organizations"}]}}),
            )],
        );
    realm.snap.organizations = vec![
        org("globex", None),
        org("globex-eu", Some("globex")),
        org("globex-fr", Some("globex-eu")),
        org("initech", None),
    ];
    realm.snap.organization_members = vec![
        member(ALICE, "globex", "admin"),
        member(BOB, "globex-eu", "owner"),
        member("carol", "globex-fr", "member"),
        member("carol", "initech", "auditor"),
        // A membership of an organization the snapshot no longer has.
        member("dave", "gone", "admin"),
    ];
    let realm = realm.compile();
    let manage = |who: &str, team: &str| {
        ask(who, "manage", "organizations")
            .team(team)
            .run(&realm)
            .allowed
    };
    // Administrators reach their organization and every one below it, by
    // name or id; nothing above or beside.
    for team in ["org:globex", "org:globex-eu", "org:globex-fr"] {
        assert!(manage(ALICE, team), "{team}");
    }
    assert!(manage(ALICE, &format!("org:{}", id("globex-fr"))));
    assert!(!manage(ALICE, "org:initech"));
    assert!(!manage(BOB, "org:globex"));
    assert!(manage(BOB, "org:globex-fr"));
    // A member is no administrator; a group of the same name is another team.
    assert!(!manage("carol", "org:globex-fr"));
    assert!(!manage(ALICE, "globex"));
    assert!(!manage("dave", "org:gone"));
    let e = ask("carol", "manage", "organizations")
        .team("org:globex-fr")
        .run(&realm)
        .explanation
        .unwrap();
    assert!(
        e.missing
            .unwrap()
            .contains("not an organization the user administers"),
        "explained"
    );
    // A role of the realm named as an organization role is held.
    assert!(ask("carol", "read", "reports").run(&realm).allowed);
    assert!(!ask(BOB, "read", "reports").run(&realm).allowed);
    // Organizations are attributes.
    assert!(
        ask(ALICE, "read", "wiki").run(&realm).allowed,
        "a member of globex"
    );
    assert!(
        !ask(BOB, "read", "wiki").run(&realm).allowed,
        "a member of globex-eu only"
    );
    let attrs = &realm.attributes[&id("carol")];
    assert_eq!(attrs["organizations"], json!(["globex-fr", "initech"]));
    assert_eq!(attrs["organization_roles"]["initech"], "auditor");
    let attrs = &realm.attributes[&id(ALICE)];
    assert_eq!(attrs["organizations"], json!(["globex"]));
}
