//! Authorization data: roles, groups, memberships, grants, policies, the
//! revision and the audit table.

use std::collections::HashSet;
use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::{AuditRecord, AuthzChange, new_id};
use portcullis_core::ports::Store;
use portcullis_policy::Permission;
use portcullis_policy::builtin::{REALM_ADMIN, USER, builtin_roles};
use portcullis_policy::model::{
    Attachment, Effect, Grantee, Group, Membership, PermissionGrant, Policy, RealmSnapshot, Role,
    RoleGrant, Statement, Validity,
};
use serde_json::json;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{T0, at, realm, user};

fn perm(s: &str) -> Permission {
    Permission::parse(s).unwrap()
}

/// An instant as Unix microseconds, as the policy model keeps times.
fn us(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap()
}

fn until(t: OffsetDateTime) -> Validity {
    Validity {
        not_before: None,
        expires_at: Some(us(t)),
    }
}

fn audit(realm_id: Uuid, action: &str) -> AuditRecord {
    AuditRecord {
        id: new_id(),
        realm_id,
        actor: None,
        actor_realm_id: None,
        action: action.to_owned(),
        target: "test".to_owned(),
        before: None,
        after: None,
        request_id: None,
        at: T0,
    }
}

/// Applies a change that must succeed; returns the new revision.
async fn apply<S: Store + ?Sized>(store: &S, realm_id: Uuid, change: AuthzChange) -> i64 {
    store
        .apply_authz_change(realm_id, None, &change, &audit(realm_id, "test.change"))
        .await
        .unwrap_or_else(|e| panic!("{change:?} failed: {e:?}"))
}

/// Applies a change that must fail; returns the error.
async fn apply_err<S: Store + ?Sized>(
    store: &S,
    realm_id: Uuid,
    change: AuthzChange,
) -> StoreError {
    match store
        .apply_authz_change(realm_id, None, &change, &audit(realm_id, "test.change"))
        .await
    {
        Ok(rev) => panic!("{change:?} succeeded (revision {rev}) but should have failed"),
        Err(e) => e,
    }
}

fn assert_not_found(e: StoreError) {
    assert!(matches!(e, StoreError::NotFound), "{e:?}");
}

fn assert_conflict(e: StoreError) {
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
}

/// A custom role; `permissions` and `includes` as given (unsorted, with
/// duplicates if the caller wants them).
fn role(name: &str, permissions: &[&str], includes: Vec<Uuid>) -> Role {
    Role {
        id: new_id(),
        name: name.to_owned(),
        description: Some(format!("the {name} role")),
        permissions: permissions.iter().map(|p| perm(p)).collect(),
        includes,
        builtin: false,
    }
}

/// What the store returns for a role: sets sorted and deduplicated.
fn normalised(r: &Role) -> Role {
    let mut r = r.clone();
    r.permissions.sort();
    r.permissions.dedup();
    r.includes.sort();
    r.includes.dedup();
    r
}

fn group(name: &str, parent: Option<Uuid>) -> Group {
    Group {
        id: new_id(),
        name: name.to_owned(),
        description: Some(format!("the {name} group")),
        parent,
    }
}

fn policy(name: &str, attached_to: Attachment) -> Policy {
    Policy {
        id: new_id(),
        name: name.to_owned(),
        description: None,
        priority: 0,
        attached_to,
        statements: vec![Statement {
            sid: Some("office-hours".to_owned()),
            effect: Effect::Allow,
            actions: vec!["read".to_owned(), "documents:list".to_owned()],
            resources: vec!["documents/*".to_owned()],
            condition: Some(json!({"<": [{"var": "context.hour"}, 18]})),
        }],
        enabled: true,
    }
}

/// The realm's roles that are not built-in.
fn custom_roles(s: &RealmSnapshot) -> Vec<Role> {
    s.roles.iter().filter(|r| !r.builtin).cloned().collect()
}

fn builtin_role(s: &RealmSnapshot, name: &str) -> Role {
    s.roles.iter().find(|r| r.name == name).unwrap().clone()
}

/// A realm with one user, created.
async fn realm_and_user<S: Store + ?Sized>(store: &S, name: &str) -> (Uuid, Uuid) {
    let r = realm(name);
    store.create_realm(&r).await.unwrap();
    let u = user(r.id, &format!("someone@{name}.example.com"));
    store.create_user(&u).await.unwrap();
    (r.id, u.id)
}

async fn add_user<S: Store + ?Sized>(store: &S, realm_id: Uuid, email: &str) -> Uuid {
    let u = user(realm_id, email);
    store.create_user(&u).await.unwrap();
    u.id
}

/// Every realm starts with the built-in roles at revision 0; they cannot be
/// deleted or renamed, but their permissions can change.
pub async fn authz_builtin_roles<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    store.create_realm(&acme).await.unwrap();
    let snap = store.authz_snapshot(acme.id).await.unwrap();
    assert_eq!(snap.revision, 0);
    assert_eq!(store.authz_revision(acme.id).await.unwrap(), 0);
    let builtin = builtin_roles();
    assert_eq!(snap.roles.len(), builtin.len());
    for b in &builtin {
        let stored = builtin_role(&snap, b.name);
        assert!(stored.builtin);
        assert_eq!(stored.description.as_deref(), Some(b.description));
        let mut expected = b.permissions.clone();
        expected.sort();
        assert_eq!(stored.permissions, expected);
        assert!(stored.includes.is_empty());
    }
    assert!(builtin_role(&snap, USER).builtin);
    assert!(snap.groups.is_empty());
    assert!(snap.memberships.is_empty());
    assert!(snap.role_grants.is_empty());
    assert!(snap.permission_grants.is_empty());
    assert!(snap.policies.is_empty());

    let admin = builtin_role(&snap, REALM_ADMIN);
    assert_conflict(apply_err(&*store, acme.id, AuthzChange::DeleteRole(admin.id)).await);
    let mut renamed = admin.clone();
    renamed.name = "boss".to_owned();
    assert_conflict(apply_err(&*store, acme.id, AuthzChange::UpdateRole(renamed)).await);
    assert_eq!(store.authz_snapshot(acme.id).await.unwrap(), snap);
    assert!(store.list_audit(acme.id, 10).await.unwrap().is_empty());

    let mut extended = admin.clone();
    extended.permissions.push(perm("reports:read:all"));
    extended.description = Some("Runs the place".to_owned());
    assert_eq!(
        apply(&*store, acme.id, AuthzChange::UpdateRole(extended.clone())).await,
        1
    );
    let after = store.authz_snapshot(acme.id).await.unwrap();
    assert_eq!(builtin_role(&after, REALM_ADMIN), normalised(&extended));

    // Each realm has its own.
    let other = realm("other");
    store.create_realm(&other).await.unwrap();
    let other_snap = store.authz_snapshot(other.id).await.unwrap();
    assert_eq!(other_snap.roles.len(), builtin.len());
    let acme_ids: HashSet<Uuid> = after.roles.iter().map(|r| r.id).collect();
    assert!(other_snap.roles.iter().all(|r| !acme_ids.contains(&r.id)));
}

/// Roles round-trip; updates replace their sets; names are unique; deleting
/// a role removes its grants, inclusions and attached policies.
pub async fn authz_role_changes_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u) = realm_and_user(&*store, "acme").await;
    let reader = role("reader", &["docs:read:own", "docs:read:all"], vec![]);
    apply(&*store, r, AuthzChange::CreateRole(reader.clone())).await;
    let mut editor = role(
        "editor",
        &["docs:write:team", "docs:*:own", "docs:write:team"],
        vec![reader.id, reader.id],
    );
    apply(&*store, r, AuthzChange::CreateRole(editor.clone())).await;
    let snap = store.authz_snapshot(r).await.unwrap();
    assert_eq!(
        custom_roles(&snap),
        vec![normalised(&reader), normalised(&editor)]
    );

    editor.name = "author".to_owned();
    editor.description = None;
    editor.permissions = vec![perm("docs:create:own")];
    editor.includes = vec![];
    apply(&*store, r, AuthzChange::UpdateRole(editor.clone())).await;
    let snap = store.authz_snapshot(r).await.unwrap();
    assert_eq!(
        custom_roles(&snap),
        vec![normalised(&reader), editor.clone()]
    );

    editor.includes = vec![reader.id];
    apply(&*store, r, AuthzChange::UpdateRole(editor.clone())).await;

    assert_conflict(
        apply_err(
            &*store,
            r,
            AuthzChange::CreateRole(role("reader", &[], vec![])),
        )
        .await,
    );
    let mut duplicate = editor.clone();
    duplicate.name = "reader".to_owned();
    assert_conflict(apply_err(&*store, r, AuthzChange::UpdateRole(duplicate)).await);
    assert_not_found(
        apply_err(
            &*store,
            r,
            AuthzChange::UpdateRole(role("ghost", &[], vec![])),
        )
        .await,
    );
    assert_not_found(apply_err(&*store, r, AuthzChange::DeleteRole(new_id())).await);
    assert_not_found(
        apply_err(
            &*store,
            r,
            AuthzChange::CreateRole(role("dangling", &[], vec![new_id()])),
        )
        .await,
    );

    let g = group("staff", None);
    apply(&*store, r, AuthzChange::CreateGroup(g.clone())).await;
    for to in [Grantee::User(u), Grantee::Group(g.id)] {
        let grant = RoleGrant {
            to,
            role: reader.id,
            validity: Validity::ALWAYS,
        };
        apply(&*store, r, AuthzChange::GrantRole(grant)).await;
    }
    let kept_grant = RoleGrant {
        to: Grantee::User(u),
        role: editor.id,
        validity: Validity::ALWAYS,
    };
    apply(&*store, r, AuthzChange::GrantRole(kept_grant)).await;
    let on_reader = policy("on-reader", Attachment::Role(reader.id));
    let on_realm = policy("on-realm", Attachment::Realm);
    apply(&*store, r, AuthzChange::CreatePolicy(on_reader)).await;
    apply(&*store, r, AuthzChange::CreatePolicy(on_realm.clone())).await;

    apply(&*store, r, AuthzChange::DeleteRole(reader.id)).await;
    let snap = store.authz_snapshot(r).await.unwrap();
    editor.includes = vec![];
    assert_eq!(custom_roles(&snap), vec![editor]);
    assert_eq!(snap.role_grants, vec![kept_grant]);
    assert_eq!(snap.policies, vec![on_realm]);
    assert_eq!(snap.groups, vec![g]);
    assert_not_found(apply_err(&*store, r, AuthzChange::DeleteRole(reader.id)).await);
}

/// Groups round-trip; names are unique; parents must exist; deleting a group
/// moves its children to its parent and removes its memberships, grants and
/// attached policies.
pub async fn authz_group_changes_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u) = realm_and_user(&*store, "acme").await;
    let root = group("root", None);
    let mid = group("mid", Some(root.id));
    let mut leaf = group("leaf", Some(mid.id));
    let mut other = group("other", Some(mid.id));
    for g in [&root, &mid, &leaf, &other] {
        apply(&*store, r, AuthzChange::CreateGroup(g.clone())).await;
    }
    let snap = store.authz_snapshot(r).await.unwrap();
    assert_eq!(
        snap.groups,
        vec![root.clone(), mid.clone(), leaf.clone(), other.clone()]
    );

    leaf.name = "leaf-renamed".to_owned();
    leaf.description = None;
    leaf.parent = Some(root.id);
    apply(&*store, r, AuthzChange::UpdateGroup(leaf.clone())).await;
    assert_eq!(store.authz_snapshot(r).await.unwrap().groups[2], leaf);

    assert_conflict(apply_err(&*store, r, AuthzChange::CreateGroup(group("root", None))).await);
    let mut duplicate = leaf.clone();
    duplicate.name = "mid".to_owned();
    assert_conflict(apply_err(&*store, r, AuthzChange::UpdateGroup(duplicate)).await);
    assert_not_found(
        apply_err(
            &*store,
            r,
            AuthzChange::CreateGroup(group("orphan", Some(new_id()))),
        )
        .await,
    );
    let mut bad_parent = leaf.clone();
    bad_parent.parent = Some(new_id());
    assert_not_found(apply_err(&*store, r, AuthzChange::UpdateGroup(bad_parent)).await);
    assert_not_found(apply_err(&*store, r, AuthzChange::UpdateGroup(group("ghost", None))).await);

    // Give `mid` a membership, grants and a policy; `root` a membership.
    let x = role("x", &["docs:read:all"], vec![]);
    apply(&*store, r, AuthzChange::CreateRole(x.clone())).await;
    let in_root = Membership {
        user: u,
        group: root.id,
        validity: Validity::ALWAYS,
    };
    let in_mid = Membership {
        user: u,
        group: mid.id,
        validity: Validity::ALWAYS,
    };
    apply(&*store, r, AuthzChange::AddMember(in_root)).await;
    apply(&*store, r, AuthzChange::AddMember(in_mid)).await;
    let mid_grant = RoleGrant {
        to: Grantee::Group(mid.id),
        role: x.id,
        validity: Validity::ALWAYS,
    };
    apply(&*store, r, AuthzChange::GrantRole(mid_grant)).await;
    let mid_permission = PermissionGrant {
        to: Grantee::Group(mid.id),
        permission: perm("docs:delete:team"),
        effect: Effect::Deny,
        validity: Validity::ALWAYS,
    };
    apply(&*store, r, AuthzChange::GrantPermission(mid_permission)).await;
    let mid_policy = policy("mid-policy", Attachment::Group(mid.id));
    apply(&*store, r, AuthzChange::CreatePolicy(mid_policy)).await;

    apply(&*store, r, AuthzChange::DeleteGroup(mid.id)).await;
    let snap = store.authz_snapshot(r).await.unwrap();
    other.parent = Some(root.id);
    assert_eq!(snap.groups, vec![root.clone(), leaf.clone(), other.clone()]);
    assert_eq!(snap.memberships, vec![in_root]);
    assert!(snap.role_grants.is_empty());
    assert!(snap.permission_grants.is_empty());
    assert!(snap.policies.is_empty());
    assert_eq!(custom_roles(&snap), vec![normalised(&x)]);

    // Deleting a top-level group makes its children top-level.
    apply(&*store, r, AuthzChange::DeleteGroup(root.id)).await;
    let snap = store.authz_snapshot(r).await.unwrap();
    leaf.parent = None;
    other.parent = None;
    assert_eq!(snap.groups, vec![leaf, other]);
    assert!(snap.memberships.is_empty());
    assert_not_found(apply_err(&*store, r, AuthzChange::DeleteGroup(root.id)).await);
}

/// Memberships and grants round-trip; granting again replaces validity (and
/// effect); removing something absent is `NotFound`, and so is referring to
/// a user, group or role that does not exist.
pub async fn authz_grant_changes_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u1) = realm_and_user(&*store, "acme").await;
    let u2 = add_user(&*store, r, "second@acme.example.com").await;
    let g = group("staff", None);
    apply(&*store, r, AuthzChange::CreateGroup(g.clone())).await;
    let x = role("x", &["docs:read:all"], vec![]);
    apply(&*store, r, AuthzChange::CreateRole(x.clone())).await;
    let window = Validity {
        not_before: Some(us(at(-60))),
        expires_at: Some(us(at(3600))),
    };

    // Memberships.
    let m1 = Membership {
        user: u1,
        group: g.id,
        validity: Validity::ALWAYS,
    };
    let m2 = Membership {
        user: u2,
        group: g.id,
        validity: window,
    };
    apply(&*store, r, AuthzChange::AddMember(m1)).await;
    apply(&*store, r, AuthzChange::AddMember(m2)).await;
    let m1_again = Membership {
        validity: until(at(60)),
        ..m1
    };
    apply(&*store, r, AuthzChange::AddMember(m1_again)).await;
    // Ordered by group, then user (ids are UUIDv7: u1 sorts before u2).
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().memberships,
        vec![m1_again, m2]
    );
    apply(
        &*store,
        r,
        AuthzChange::RemoveMember {
            user: u2,
            group: g.id,
        },
    )
    .await;
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().memberships,
        vec![m1_again]
    );
    assert_not_found(
        apply_err(
            &*store,
            r,
            AuthzChange::RemoveMember {
                user: u2,
                group: g.id,
            },
        )
        .await,
    );

    // Role grants.
    let to_user = RoleGrant {
        to: Grantee::User(u1),
        role: x.id,
        validity: Validity::ALWAYS,
    };
    let to_group = RoleGrant {
        to: Grantee::Group(g.id),
        role: x.id,
        validity: window,
    };
    apply(&*store, r, AuthzChange::GrantRole(to_user)).await;
    apply(&*store, r, AuthzChange::GrantRole(to_group)).await;
    let to_user_again = RoleGrant {
        validity: window,
        ..to_user
    };
    apply(&*store, r, AuthzChange::GrantRole(to_user_again)).await;
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().role_grants,
        vec![to_user_again, to_group]
    );
    apply(
        &*store,
        r,
        AuthzChange::RevokeRole {
            to: Grantee::User(u1),
            role: x.id,
        },
    )
    .await;
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().role_grants,
        vec![to_group]
    );
    for to in [Grantee::User(u1), Grantee::User(u2)] {
        let revoke = AuthzChange::RevokeRole { to, role: x.id };
        assert_not_found(apply_err(&*store, r, revoke).await);
    }

    // Permission grants.
    let allow = PermissionGrant {
        to: Grantee::User(u1),
        permission: perm("docs:read:all"),
        effect: Effect::Allow,
        validity: Validity::ALWAYS,
    };
    let group_deny = PermissionGrant {
        to: Grantee::Group(g.id),
        permission: perm("docs:read:all"),
        effect: Effect::Deny,
        validity: window,
    };
    apply(&*store, r, AuthzChange::GrantPermission(allow.clone())).await;
    apply(&*store, r, AuthzChange::GrantPermission(group_deny.clone())).await;
    let now_deny = PermissionGrant {
        effect: Effect::Deny,
        validity: until(at(10)),
        ..allow.clone()
    };
    apply(&*store, r, AuthzChange::GrantPermission(now_deny.clone())).await;
    let other_permission = PermissionGrant {
        permission: perm("docs:*:own"),
        ..allow.clone()
    };
    apply(
        &*store,
        r,
        AuthzChange::GrantPermission(other_permission.clone()),
    )
    .await;
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().permission_grants,
        vec![now_deny, group_deny.clone(), other_permission.clone()]
    );
    let revoke = AuthzChange::RevokePermission {
        to: Grantee::User(u1),
        permission: perm("docs:read:all"),
    };
    apply(&*store, r, revoke.clone()).await;
    assert_not_found(apply_err(&*store, r, revoke).await);
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().permission_grants,
        vec![group_deny, other_permission]
    );

    // References to nothing.
    let ghost = new_id();
    let missing = [
        AuthzChange::AddMember(Membership {
            user: ghost,
            group: g.id,
            validity: Validity::ALWAYS,
        }),
        AuthzChange::AddMember(Membership {
            user: u1,
            group: ghost,
            validity: Validity::ALWAYS,
        }),
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::User(u1),
            role: ghost,
            validity: Validity::ALWAYS,
        }),
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::User(ghost),
            role: x.id,
            validity: Validity::ALWAYS,
        }),
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::Group(ghost),
            role: x.id,
            validity: Validity::ALWAYS,
        }),
        AuthzChange::GrantPermission(PermissionGrant {
            to: Grantee::User(ghost),
            ..allow.clone()
        }),
        AuthzChange::GrantPermission(PermissionGrant {
            to: Grantee::Group(ghost),
            ..allow.clone()
        }),
    ];
    for change in missing {
        assert_not_found(apply_err(&*store, r, change).await);
    }
}

/// Policies round-trip (enabled or not, conditions included); names are
/// unique; what they attach to must exist.
pub async fn authz_policy_changes_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u) = realm_and_user(&*store, "acme").await;
    let g = group("staff", None);
    apply(&*store, r, AuthzChange::CreateGroup(g.clone())).await;
    let x = role("x", &[], vec![]);
    apply(&*store, r, AuthzChange::CreateRole(x.clone())).await;

    let mut p1 = policy("realm-wide", Attachment::Realm);
    p1.priority = 10;
    p1.description = Some("applies to everyone".to_owned());
    let mut p2 = policy("for-user", Attachment::User(u));
    p2.enabled = false;
    p2.priority = -3;
    let p3 = policy("for-group", Attachment::Group(g.id));
    let mut p4 = policy("for-role", Attachment::Role(x.id));
    p4.statements.push(Statement {
        sid: None,
        effect: Effect::Deny,
        actions: vec![],
        resources: vec![],
        condition: None,
    });
    for p in [&p1, &p2, &p3, &p4] {
        apply(&*store, r, AuthzChange::CreatePolicy(p.clone())).await;
    }
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().policies,
        vec![p1.clone(), p2.clone(), p3.clone(), p4.clone()]
    );

    p1.name = "renamed".to_owned();
    p1.priority = -5;
    p1.attached_to = Attachment::Group(g.id);
    p1.statements = vec![];
    p1.enabled = false;
    p1.description = None;
    apply(&*store, r, AuthzChange::UpdatePolicy(p1.clone())).await;
    assert_eq!(store.authz_snapshot(r).await.unwrap().policies[0], p1);

    assert_conflict(
        apply_err(
            &*store,
            r,
            AuthzChange::CreatePolicy(policy("for-user", Attachment::Realm)),
        )
        .await,
    );
    let mut duplicate = p1.clone();
    duplicate.name = "for-group".to_owned();
    assert_conflict(apply_err(&*store, r, AuthzChange::UpdatePolicy(duplicate)).await);

    for to in [
        Attachment::User(new_id()),
        Attachment::Group(new_id()),
        Attachment::Role(new_id()),
    ] {
        let create = AuthzChange::CreatePolicy(policy("dangling", to));
        assert_not_found(apply_err(&*store, r, create).await);
        let mut moved = p3.clone();
        moved.attached_to = to;
        assert_not_found(apply_err(&*store, r, AuthzChange::UpdatePolicy(moved)).await);
    }
    assert_not_found(
        apply_err(
            &*store,
            r,
            AuthzChange::UpdatePolicy(policy("ghost", Attachment::Realm)),
        )
        .await,
    );

    apply(&*store, r, AuthzChange::DeletePolicy(p2.id)).await;
    assert_not_found(apply_err(&*store, r, AuthzChange::DeletePolicy(p2.id)).await);
    assert_eq!(
        store.authz_snapshot(r).await.unwrap().policies,
        vec![p1, p3, p4]
    );
}

/// Every change bumps its realm's revision by exactly one, and only its
/// realm's; unknown realms are `NotFound`.
pub async fn authz_revision_per_realm<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    for i in 1..=3 {
        let g = group(&format!("g{i}"), None);
        assert_eq!(apply(&*store, a.id, AuthzChange::CreateGroup(g)).await, i);
        assert_eq!(store.authz_revision(a.id).await.unwrap(), i);
    }
    assert_eq!(store.authz_revision(b.id).await.unwrap(), 0);
    assert_eq!(store.authz_snapshot(b.id).await.unwrap().revision, 0);
    let g = group("g1", None);
    assert_eq!(apply(&*store, b.id, AuthzChange::CreateGroup(g)).await, 1);
    assert_eq!(store.authz_revision(a.id).await.unwrap(), 3);
    assert_eq!(store.authz_snapshot(a.id).await.unwrap().revision, 3);
    assert_eq!(store.authz_snapshot(b.id).await.unwrap().revision, 1);

    // Purging never bumps.
    store.purge_expired_grants(at(0)).await.unwrap();
    assert_eq!(store.authz_revision(a.id).await.unwrap(), 3);

    let ghost = new_id();
    assert_not_found(store.authz_revision(ghost).await.unwrap_err());
    assert_not_found(store.authz_snapshot(ghost).await.unwrap_err());
    let change = AuthzChange::CreateGroup(group("g", None));
    assert_not_found(apply_err(&*store, ghost, change).await);
}

/// With an expected revision that is not the current one, a change fails
/// with `Stale` and changes nothing: data, revision and audit stay.
pub async fn authz_stale_revision_changes_nothing<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let first = AuthzChange::CreateGroup(group("first", None));
    let rev = store
        .apply_authz_change(r.id, Some(0), &first, &audit(r.id, "group.create"))
        .await
        .unwrap();
    assert_eq!(rev, 1);
    let before = store.authz_snapshot(r.id).await.unwrap();

    for expected in [0, 2, 5, -1] {
        let change = AuthzChange::CreateGroup(group("second", None));
        let err = store
            .apply_authz_change(r.id, Some(expected), &change, &audit(r.id, "group.create"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Stale), "{err:?}");
    }
    assert_eq!(store.authz_snapshot(r.id).await.unwrap(), before);
    assert_eq!(store.authz_revision(r.id).await.unwrap(), 1);
    assert_eq!(store.list_audit(r.id, 10).await.unwrap().len(), 1);

    let change = AuthzChange::CreateGroup(group("second", None));
    let rev = store
        .apply_authz_change(r.id, Some(1), &change, &audit(r.id, "group.create"))
        .await
        .unwrap();
    assert_eq!(rev, 2);
    assert_eq!(store.authz_snapshot(r.id).await.unwrap().groups.len(), 2);
}

/// A change in one realm cannot refer to another realm's users, roles,
/// groups or policies, and a realm's snapshot only holds its own rows.
pub async fn authz_tenant_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let (a, ua) = realm_and_user(&*store, "a").await;
    let (b, ub) = realm_and_user(&*store, "b").await;
    // The same names in both realms are fine.
    let ga = group("staff", None);
    let gb = group("staff", None);
    apply(&*store, a, AuthzChange::CreateGroup(ga.clone())).await;
    apply(&*store, b, AuthzChange::CreateGroup(gb.clone())).await;
    let ra = role("editor", &["docs:write:all"], vec![]);
    let rb = role("editor", &["docs:write:all"], vec![]);
    apply(&*store, a, AuthzChange::CreateRole(ra.clone())).await;
    apply(&*store, b, AuthzChange::CreateRole(rb.clone())).await;
    let pb = policy("policy", Attachment::Group(gb.id));
    apply(&*store, b, AuthzChange::CreatePolicy(pb.clone())).await;
    apply(
        &*store,
        b,
        AuthzChange::AddMember(Membership {
            user: ub,
            group: gb.id,
            validity: Validity::ALWAYS,
        }),
    )
    .await;
    apply(
        &*store,
        b,
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::User(ub),
            role: rb.id,
            validity: Validity::ALWAYS,
        }),
    )
    .await;
    let b_before = store.authz_snapshot(b).await.unwrap();
    let a_revision = store.authz_revision(a).await.unwrap();

    let mut rb_renamed = rb.clone();
    rb_renamed.name = "hijacked".to_owned();
    let mut gb_moved = gb.clone();
    gb_moved.parent = Some(ga.id);
    let mut pb_changed = pb.clone();
    pb_changed.attached_to = Attachment::Realm;
    let always = Validity::ALWAYS;
    let attempts = [
        AuthzChange::AddMember(Membership {
            user: ub,
            group: ga.id,
            validity: always,
        }),
        AuthzChange::AddMember(Membership {
            user: ua,
            group: gb.id,
            validity: always,
        }),
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::User(ua),
            role: rb.id,
            validity: always,
        }),
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::User(ub),
            role: ra.id,
            validity: always,
        }),
        AuthzChange::GrantRole(RoleGrant {
            to: Grantee::Group(gb.id),
            role: ra.id,
            validity: always,
        }),
        AuthzChange::GrantPermission(PermissionGrant {
            to: Grantee::User(ub),
            permission: perm("docs:read:all"),
            effect: Effect::Allow,
            validity: always,
        }),
        AuthzChange::GrantPermission(PermissionGrant {
            to: Grantee::Group(gb.id),
            permission: perm("docs:read:all"),
            effect: Effect::Allow,
            validity: always,
        }),
        AuthzChange::CreatePolicy(policy("x", Attachment::User(ub))),
        AuthzChange::CreatePolicy(policy("x", Attachment::Group(gb.id))),
        AuthzChange::CreatePolicy(policy("x", Attachment::Role(rb.id))),
        AuthzChange::CreateRole(role("composite", &[], vec![rb.id])),
        AuthzChange::CreateGroup(group("child", Some(gb.id))),
        AuthzChange::UpdateRole(rb_renamed),
        AuthzChange::UpdateGroup(gb_moved),
        AuthzChange::UpdatePolicy(pb_changed),
        AuthzChange::DeleteRole(rb.id),
        AuthzChange::DeleteGroup(gb.id),
        AuthzChange::DeletePolicy(pb.id),
        AuthzChange::RemoveMember {
            user: ub,
            group: gb.id,
        },
        AuthzChange::RevokeRole {
            to: Grantee::User(ub),
            role: rb.id,
        },
    ];
    for change in attempts {
        assert_not_found(apply_err(&*store, a, change).await);
    }
    assert_eq!(store.authz_snapshot(b).await.unwrap(), b_before);
    assert_eq!(store.authz_revision(a).await.unwrap(), a_revision);

    let snap_a = store.authz_snapshot(a).await.unwrap();
    let b_ids: HashSet<Uuid> = b_before
        .roles
        .iter()
        .map(|r| r.id)
        .chain(b_before.groups.iter().map(|g| g.id))
        .chain(b_before.policies.iter().map(|p| p.id))
        .chain([ub])
        .collect();
    assert!(snap_a.roles.iter().all(|r| !b_ids.contains(&r.id)));
    assert_eq!(snap_a.groups, vec![ga]);
    assert!(snap_a.memberships.is_empty());
    assert!(snap_a.role_grants.is_empty());
    assert!(snap_a.policies.is_empty());
    assert!(
        store
            .list_audit(a, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.realm_id == a)
    );
}

/// A change that fails halfway (a duplicate name, a dangling reference
/// after the old sets were deleted) leaves data, revision and audit as
/// they were.
pub async fn authz_failed_change_rolls_back<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let base = role("base", &["docs:read:all"], vec![]);
    let x = role("x", &["docs:write:all", "docs:read:own"], vec![base.id]);
    apply(&*store, r.id, AuthzChange::CreateRole(base.clone())).await;
    apply(&*store, r.id, AuthzChange::CreateRole(x.clone())).await;
    let before = store.authz_snapshot(r.id).await.unwrap();
    let audit_before = store.list_audit(r.id, 100).await.unwrap();

    let mut dangling = x.clone();
    dangling.permissions = vec![perm("everything:*:all")];
    dangling.includes = vec![base.id, new_id()];
    let failing = [
        AuthzChange::CreateRole(role("x", &["a:b:own"], vec![])),
        AuthzChange::UpdateRole(dangling),
        AuthzChange::CreateRole(role("y", &["a:b:own"], vec![new_id()])),
        AuthzChange::DeleteGroup(new_id()),
    ];
    for change in failing {
        apply_err(&*store, r.id, change).await;
    }
    assert_eq!(store.authz_snapshot(r.id).await.unwrap(), before);
    assert_eq!(store.list_audit(r.id, 100).await.unwrap(), audit_before);
    assert_eq!(store.authz_revision(r.id).await.unwrap(), 2);
}

/// Purging deletes memberships and grants that expired at or before `now`,
/// in every realm, and nothing else.
pub async fn authz_purge_expired_grants<S: Store + ?Sized>(store: Arc<S>) {
    let mut kept_counts = Vec::new();
    let mut realms = Vec::new();
    for name in ["a", "b"] {
        let (r, u) = realm_and_user(&*store, name).await;
        let x = role("x", &[], vec![]);
        apply(&*store, r, AuthzChange::CreateRole(x.clone())).await;
        let validities = [
            until(at(-10)),   // expired
            until(at(0)),     // expires exactly now: purged
            until(at(1)),     // still valid
            Validity::ALWAYS, // never expires
        ];
        for (i, validity) in validities.into_iter().enumerate() {
            let g = group(&format!("g{i}"), None);
            apply(&*store, r, AuthzChange::CreateGroup(g.clone())).await;
            let changes = [
                AuthzChange::AddMember(Membership {
                    user: u,
                    group: g.id,
                    validity,
                }),
                AuthzChange::GrantRole(RoleGrant {
                    to: Grantee::Group(g.id),
                    role: x.id,
                    validity,
                }),
                AuthzChange::GrantPermission(PermissionGrant {
                    to: Grantee::Group(g.id),
                    permission: perm("docs:read:all"),
                    effect: Effect::Allow,
                    validity,
                }),
            ];
            for change in changes {
                apply(&*store, r, change).await;
            }
        }
        kept_counts.push(store.authz_revision(r).await.unwrap());
        realms.push(r);
    }

    // Two of four validities expired, three tables, two realms.
    assert_eq!(store.purge_expired_grants(at(0)).await.unwrap(), 12);
    assert_eq!(store.purge_expired_grants(at(0)).await.unwrap(), 0);
    for (r, revision) in realms.into_iter().zip(kept_counts) {
        let snap = store.authz_snapshot(r).await.unwrap();
        assert_eq!(snap.revision, revision);
        let kept = [until(at(1)), Validity::ALWAYS];
        assert_eq!(snap.memberships.len(), 2);
        assert!(snap.memberships.iter().all(|m| kept.contains(&m.validity)));
        assert_eq!(snap.role_grants.len(), 2);
        assert!(snap.role_grants.iter().all(|g| kept.contains(&g.validity)));
        assert_eq!(snap.permission_grants.len(), 2);
        assert!(
            snap.permission_grants
                .iter()
                .all(|g| kept.contains(&g.validity))
        );
        assert_eq!(snap.groups.len(), 4);
    }
    assert_eq!(store.purge_expired_grants(at(1)).await.unwrap(), 6);
}

/// Audit records round-trip exactly and list newest first, per realm, up to
/// the limit.
pub async fn authz_audit_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (a, actor) = realm_and_user(&*store, "a").await;
    let b = realm("b");
    store.create_realm(&b).await.unwrap();

    let denied = AuditRecord {
        id: new_id(),
        realm_id: a,
        actor: Some(actor),
        actor_realm_id: None,
        action: "authz.check.deny".to_owned(),
        target: format!("user:{actor}"),
        before: None,
        after: Some(json!({"permission": "docs:read:all", "decision": "deny"})),
        request_id: Some("req-1".to_owned()),
        at: at(1),
    };
    store
        .append_audit(std::slice::from_ref(&denied))
        .await
        .unwrap();
    let g = group("staff", None);
    let created = AuditRecord {
        id: new_id(),
        realm_id: a,
        actor: Some(actor),
        // A server administrator of another realm acted here.
        actor_realm_id: Some(b.id),
        action: "group.create".to_owned(),
        target: format!("group:{}", g.id),
        before: Some(json!(null)),
        after: Some(json!({"name": "staff", "tags": ["x", 1, 2.5, true], "nested": {"k": {}}})),
        request_id: Some("req-2".to_owned()),
        at: at(2),
    };
    store
        .apply_authz_change(a, None, &AuthzChange::CreateGroup(g), &created)
        .await
        .unwrap();
    let server = AuditRecord {
        id: new_id(),
        realm_id: a,
        actor: None,
        actor_realm_id: None,
        action: "grants.purge".to_owned(),
        target: "realm".to_owned(),
        before: None,
        after: None,
        request_id: None,
        at: at(3),
    };
    // Same instant as `server`, later id: listed first. One call may write
    // records of several realms.
    let same_time = AuditRecord {
        id: new_id(),
        action: "same.time".to_owned(),
        ..server.clone()
    };
    let other = AuditRecord {
        id: new_id(),
        realm_id: b.id,
        ..server.clone()
    };
    store
        .append_audit(&[server.clone(), same_time.clone(), other.clone()])
        .await
        .unwrap();
    store.append_audit(&[]).await.unwrap();

    assert_eq!(
        store.list_audit(a, 10).await.unwrap(),
        vec![same_time.clone(), server, created, denied]
    );
    let latest = store.list_audit(a, 1).await.unwrap();
    assert_eq!(latest, vec![same_time]);
    assert!(store.list_audit(a, 0).await.unwrap().is_empty());
    assert_eq!(store.list_audit(b.id, 10).await.unwrap(), vec![other]);
    assert!(store.list_audit(new_id(), 10).await.unwrap().is_empty());

    let orphan = AuditRecord {
        id: new_id(),
        realm_id: new_id(),
        ..audit(a, "x")
    };
    // All or none: a record of a realm that does not exist fails the call and
    // writes nothing.
    let kept = audit(a, "kept.not");
    assert_not_found(
        store
            .append_audit(&[kept.clone(), orphan])
            .await
            .unwrap_err(),
    );
    assert!(
        !store
            .list_audit(a, 100)
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == kept.id)
    );

    // More records than one INSERT holds go in one transaction.
    let many: Vec<AuditRecord> = (0..1203)
        .map(|n| AuditRecord {
            id: new_id(),
            at: at(10 + n),
            ..audit(b.id, "bulk")
        })
        .collect();
    store.append_audit(&many).await.unwrap();
    let listed = store.list_audit(b.id, 2000).await.unwrap();
    assert_eq!(listed.len(), 1204);
    assert_eq!(listed[0], many[1202]);
    assert_eq!(listed[1202], many[0]);
}

/// Deleting a user removes its memberships, grants and attached policies,
/// and bumps the realm's revision (the realm's authorization data changed).
pub async fn authz_user_delete_removes_grants<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u1) = realm_and_user(&*store, "acme").await;
    let u2 = add_user(&*store, r, "second@acme.example.com").await;
    let g = group("staff", None);
    apply(&*store, r, AuthzChange::CreateGroup(g.clone())).await;
    let x = role("x", &[], vec![]);
    apply(&*store, r, AuthzChange::CreateRole(x.clone())).await;
    for u in [u1, u2] {
        let changes = [
            AuthzChange::AddMember(Membership {
                user: u,
                group: g.id,
                validity: Validity::ALWAYS,
            }),
            AuthzChange::GrantRole(RoleGrant {
                to: Grantee::User(u),
                role: x.id,
                validity: Validity::ALWAYS,
            }),
            AuthzChange::GrantPermission(PermissionGrant {
                to: Grantee::User(u),
                permission: perm("docs:read:own"),
                effect: Effect::Allow,
                validity: Validity::ALWAYS,
            }),
            AuthzChange::CreatePolicy(policy(&format!("for-{u}"), Attachment::User(u))),
        ];
        for change in changes {
            apply(&*store, r, change).await;
        }
    }
    let revision = store.authz_revision(r).await.unwrap();

    assert!(store.delete_user(r, u1).await.unwrap());
    let snap = store.authz_snapshot(r).await.unwrap();
    assert_eq!(snap.revision, revision + 1);
    assert_eq!(
        snap.memberships.iter().map(|m| m.user).collect::<Vec<_>>(),
        vec![u2]
    );
    assert_eq!(snap.role_grants.len(), 1);
    assert_eq!(snap.role_grants[0].to, Grantee::User(u2));
    assert_eq!(snap.permission_grants.len(), 1);
    assert_eq!(snap.permission_grants[0].to, Grantee::User(u2));
    assert_eq!(snap.policies.len(), 1);
    assert_eq!(snap.policies[0].attached_to, Attachment::User(u2));

    assert!(!store.delete_user(r, u1).await.unwrap());
    assert_eq!(store.authz_revision(r).await.unwrap(), revision + 1);
    assert!(!store.delete_user(new_id(), u2).await.unwrap());
}

/// Deleting a realm deletes its whole authorization data (nested groups,
/// composed roles, grants, policies, audit), and nothing of other realms.
pub async fn authz_realm_delete_cascades<S: Store + ?Sized>(store: Arc<S>) {
    let mut kept = None;
    for name in ["doomed", "kept"] {
        let (r, u) = realm_and_user(&*store, name).await;
        let root = group("root", None);
        let child = group("child", Some(root.id));
        let grandchild = group("grandchild", Some(child.id));
        let base = role("base", &["docs:read:all"], vec![]);
        let top = role("top", &["docs:write:all"], vec![base.id]);
        let changes = [
            AuthzChange::CreateGroup(root.clone()),
            AuthzChange::CreateGroup(child.clone()),
            AuthzChange::CreateGroup(grandchild.clone()),
            AuthzChange::CreateRole(base.clone()),
            AuthzChange::CreateRole(top.clone()),
            AuthzChange::AddMember(Membership {
                user: u,
                group: grandchild.id,
                validity: Validity::ALWAYS,
            }),
            AuthzChange::GrantRole(RoleGrant {
                to: Grantee::Group(root.id),
                role: top.id,
                validity: Validity::ALWAYS,
            }),
            AuthzChange::GrantPermission(PermissionGrant {
                to: Grantee::User(u),
                permission: perm("docs:delete:own"),
                effect: Effect::Deny,
                validity: Validity::ALWAYS,
            }),
            AuthzChange::CreatePolicy(policy("p", Attachment::Role(base.id))),
        ];
        for change in changes {
            apply(&*store, r, change).await;
        }
        kept = Some(r);
    }
    let kept = kept.unwrap();
    let doomed = store
        .list_realms()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_str() == "doomed")
        .unwrap();
    let kept_before = store.authz_snapshot(kept).await.unwrap();

    assert!(store.delete_realm(doomed.id).await.unwrap());
    assert_not_found(store.authz_snapshot(doomed.id).await.unwrap_err());
    assert!(store.list_audit(doomed.id, 10).await.unwrap().is_empty());
    assert_eq!(store.authz_snapshot(kept).await.unwrap(), kept_before);
    assert_eq!(store.list_audit(kept, 100).await.unwrap().len(), 9);
}

/// Concurrent changes of one realm are serialised: each gets its own
/// revision, and of racing changes expecting the same revision exactly one
/// wins.
pub async fn authz_concurrent_changes_serialise<S: Store + ?Sized>(store: Arc<S>) {
    const WRITERS: i64 = 12;
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            let change = AuthzChange::CreateGroup(group(&format!("g{i}"), None));
            store
                .apply_authz_change(r.id, None, &change, &audit(r.id, "group.create"))
                .await
                .unwrap()
        });
    }
    let mut revisions = tasks.join_all().await;
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=WRITERS).collect::<Vec<_>>());

    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let change = AuthzChange::CreateGroup(group(&format!("race{i}"), None));
            store
                .apply_authz_change(r.id, Some(WRITERS), &change, &audit(r.id, "group.create"))
                .await
        });
    }
    let results = tasks.join_all().await;
    let won: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .copied()
        .collect();
    assert_eq!(won, vec![WRITERS + 1]);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Stale)),
        "{results:?}"
    );
    let snap = store.authz_snapshot(r.id).await.unwrap();
    assert_eq!(snap.revision, WRITERS + 1);
    assert_eq!(snap.groups.len(), usize::try_from(WRITERS + 1).unwrap());
    assert_eq!(
        store.list_audit(r.id, 100).await.unwrap().len(),
        usize::try_from(WRITERS + 1).unwrap()
    );
}

/// Stored user attributes: set and cleared as authorization changes (with a
/// revision), seen by the snapshot, never across realms; `update_user`
/// leaves them alone.
pub async fn authz_user_attributes<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let alice = user(a.id, "alice@example.com");
    let bob = user(a.id, "bob@example.com");
    let other = user(b.id, "other@example.com");
    for u in [&alice, &bob, &other] {
        store.create_user(u).await.unwrap();
    }
    let attrs = json!({"department": "finance", "clearance": 2})
        .as_object()
        .unwrap()
        .clone();
    let set = |user: Uuid| AuthzChange::SetUserAttributes {
        user,
        attributes: attrs.clone(),
    };
    assert_eq!(apply(&*store, a.id, set(alice.id)).await, 1);
    let snap = store.authz_snapshot(a.id).await.unwrap();
    assert_eq!(snap.subject_attributes, vec![(alice.id, attrs.clone())]);
    let stored = store.get_user(a.id, alice.id).await.unwrap().unwrap();
    assert_eq!(stored.attributes, attrs);

    // Another realm's user is not found, and nothing changes.
    assert_not_found(apply_err(&*store, a.id, set(other.id)).await);
    assert_not_found(apply_err(&*store, a.id, set(new_id())).await);
    assert_eq!(store.authz_revision(a.id).await.unwrap(), 1);
    assert!(
        store
            .authz_snapshot(b.id)
            .await
            .unwrap()
            .subject_attributes
            .is_empty()
    );

    // `update_user` does not touch attributes.
    let mut renamed = stored.clone();
    renamed.name = Some("Alice".into());
    renamed.attributes = serde_json::Map::new();
    store.update_user(&renamed).await.unwrap();
    let stored = store.get_user(a.id, alice.id).await.unwrap().unwrap();
    assert_eq!(stored.attributes, attrs);

    // Clearing removes the user from the snapshot's attributes.
    let clear = AuthzChange::SetUserAttributes {
        user: alice.id,
        attributes: serde_json::Map::new(),
    };
    assert_eq!(apply(&*store, a.id, clear).await, 2);
    assert!(
        store
            .authz_snapshot(a.id)
            .await
            .unwrap()
            .subject_attributes
            .is_empty()
    );
}

/// The permission catalogue: declared with a description, redeclared to
/// change it, removed; per realm; removing an unknown one is `NotFound`.
pub async fn authz_permission_catalogue<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let define = |p: &str, d: Option<&str>| AuthzChange::DefinePermission {
        permission: perm(p),
        description: d.map(str::to_owned),
    };
    assert_eq!(
        apply(
            &*store,
            a.id,
            define("reports:read:team", Some("Team reports"))
        )
        .await,
        1
    );
    assert_eq!(
        apply(&*store, a.id, define("invoices:*:all", None)).await,
        2
    );
    assert_eq!(
        store.list_defined_permissions(a.id).await.unwrap(),
        vec![
            ("invoices:*:all".to_owned(), None),
            (
                "reports:read:team".to_owned(),
                Some("Team reports".to_owned())
            ),
        ]
    );
    // Declaring again replaces the description.
    apply(
        &*store,
        a.id,
        define("reports:read:team", Some("Reports of one's teams")),
    )
    .await;
    let listed = store.list_defined_permissions(a.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].1.as_deref(), Some("Reports of one's teams"));
    assert!(
        store
            .list_defined_permissions(b.id)
            .await
            .unwrap()
            .is_empty()
    );

    let undefine = |p: &str| AuthzChange::UndefinePermission(perm(p));
    assert_not_found(apply_err(&*store, b.id, undefine("reports:read:team")).await);
    apply(&*store, a.id, undefine("reports:read:team")).await;
    assert_not_found(apply_err(&*store, a.id, undefine("reports:read:team")).await);
    assert_eq!(
        store.list_defined_permissions(a.id).await.unwrap(),
        vec![("invoices:*:all".to_owned(), None)]
    );
    // Gone with the realm.
    store.delete_realm(a.id).await.unwrap();
    assert!(
        store
            .list_defined_permissions(a.id)
            .await
            .unwrap()
            .is_empty()
    );
}
