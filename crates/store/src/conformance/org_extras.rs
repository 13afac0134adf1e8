//! Organizations' domains, invitations and dashboard figures.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::orgs::{Invitation, Membership, OrgDomain, Organization};
use portcullis_core::ports::Store;
use uuid::Uuid;

use super::{T0, at, realm, user};
use portcullis_core::model::new_id;

fn org(realm_id: Uuid, name: &str) -> Organization {
    Organization {
        id: new_id(),
        realm_id,
        name: name.to_owned(),
        display_name: name.to_owned(),
        description: None,
        parent_id: None,
        attributes: serde_json::Map::new(),
        created_at: T0,
        updated_at: T0,
    }
}

fn domain(o: &Organization, name: &str) -> OrgDomain {
    OrgDomain {
        realm_id: o.realm_id,
        organization_id: o.id,
        domain: name.to_owned(),
        challenge: format!("challenge-{name}"),
        verified_at: None,
        verified_by: None,
        auto_join: false,
        join_role: "member".to_owned(),
        created_at: T0,
    }
}

fn invitation(o: &Organization, email: &str, hash: u8, expires: i64) -> Invitation {
    Invitation {
        id: new_id(),
        realm_id: o.realm_id,
        organization_id: o.id,
        email: email.to_owned(),
        role: "admin".to_owned(),
        token_hash: vec![hash; 32],
        invited_by: None,
        created_at: T0,
        expires_at: at(expires),
        accepted_at: None,
        accepted_by: None,
    }
}

/// Domains round-trip, are claimed once per organization, verified by one
/// organization of a realm only (not across realms), change policy and go
/// with their organization.
pub async fn orgs_domains<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let globex = org(acme.id, "globex");
    let initech = org(acme.id, "initech");
    let foreign = org(other.id, "globex");
    for o in [&globex, &initech, &foreign] {
        store.create_organization(o).await.unwrap();
    }
    let d = domain(&globex, "globex.example");
    store.create_org_domain(&d).await.unwrap();
    assert!(matches!(
        store.create_org_domain(&d).await,
        Err(StoreError::Conflict(_))
    ));
    // An organization of another realm cannot be named through this one.
    let stray = OrgDomain {
        realm_id: acme.id,
        ..domain(&foreign, "stray.example")
    };
    assert!(matches!(
        store.create_org_domain(&stray).await,
        Err(StoreError::NotFound)
    ));
    // Claimed by two organizations, and in another realm: all pending.
    store
        .create_org_domain(&domain(&initech, "globex.example"))
        .await
        .unwrap();
    store
        .create_org_domain(&domain(&foreign, "globex.example"))
        .await
        .unwrap();
    store
        .create_org_domain(&domain(&globex, "b.example"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_org_domain(acme.id, globex.id, "globex.example")
            .await
            .unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        store
            .get_org_domain(other.id, globex.id, "globex.example")
            .await
            .unwrap(),
        None
    );
    let listed: Vec<String> = store
        .list_org_domains(acme.id, globex.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.domain)
        .collect();
    assert_eq!(listed, ["b.example", "globex.example"]);
    assert_eq!(
        store
            .verified_org_domain(acme.id, "globex.example")
            .await
            .unwrap(),
        None
    );

    assert!(
        store
            .verify_org_domain(acme.id, globex.id, "globex.example", "dns", at(5))
            .await
            .unwrap()
    );
    let verified = store
        .verified_org_domain(acme.id, "globex.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(verified.organization_id, globex.id);
    assert_eq!(verified.verified_at, Some(at(5)));
    assert_eq!(verified.verified_by.as_deref(), Some("dns"));
    // One organization per realm verifies a domain; another realm may.
    assert!(matches!(
        store
            .verify_org_domain(acme.id, initech.id, "globex.example", "admin", at(6))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .verify_org_domain(other.id, foreign.id, "globex.example", "admin", at(6))
            .await
            .unwrap()
    );
    assert!(
        !store
            .verify_org_domain(acme.id, globex.id, "nope.example", "dns", at(6))
            .await
            .unwrap()
    );
    // Policy.
    assert!(
        store
            .set_org_domain_policy(acme.id, globex.id, "globex.example", true, "admin")
            .await
            .unwrap()
    );
    let changed = store
        .get_org_domain(acme.id, globex.id, "globex.example")
        .await
        .unwrap()
        .unwrap();
    assert!(changed.auto_join);
    assert_eq!(changed.join_role, "admin");
    assert!(
        !store
            .set_org_domain_policy(other.id, globex.id, "globex.example", true, "admin")
            .await
            .unwrap()
    );
    // Removed: another organization may verify it now.
    assert!(
        !store
            .delete_org_domain(other.id, globex.id, "globex.example")
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_org_domain(acme.id, globex.id, "globex.example")
            .await
            .unwrap()
    );
    assert!(
        store
            .verify_org_domain(acme.id, initech.id, "globex.example", "admin", at(7))
            .await
            .unwrap()
    );
    // Deleting an organization deletes its domains.
    store
        .delete_organization(acme.id, initech.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .verified_org_domain(acme.id, "globex.example")
            .await
            .unwrap(),
        None
    );
}

/// Invitations replace the pending one of their address, are found by
/// digest in their realm only, are accepted once before they expire (the
/// membership added in the same step, a member keeping its role), and
/// the dashboard's figures count members, activity and second factors.
pub async fn orgs_invitations<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let globex = org(acme.id, "globex");
    store.create_organization(&globex).await.unwrap();
    let mut ann = user(acme.id, "ann@example.com");
    ann.last_login_at = Some(at(100));
    store.create_user(&ann).await.unwrap();
    let bob = user(acme.id, "bob@example.com");
    store.create_user(&bob).await.unwrap();

    let first = invitation(&globex, "ann@example.com", 1, 60);
    store.put_invitation(&first).await.unwrap();
    let second = invitation(&globex, "ann@example.com", 2, 60);
    store.put_invitation(&second).await.unwrap();
    let to_bob = invitation(&globex, "bob@example.com", 3, 60);
    store.put_invitation(&to_bob).await.unwrap();
    // The first was replaced.
    assert_eq!(
        store
            .get_invitation_by_hash(acme.id, &[1; 32])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_invitation_by_hash(acme.id, &[2; 32])
            .await
            .unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store
            .get_invitation_by_hash(other.id, &[2; 32])
            .await
            .unwrap(),
        None
    );
    let pending = store.list_invitations(acme.id, globex.id).await.unwrap();
    assert_eq!(pending.len(), 2);
    assert!(
        store
            .list_invitations(other.id, globex.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .invitations_for_email(acme.id, "ann@example.com")
            .await
            .unwrap(),
        std::slice::from_ref(&second)
    );

    let m = |u: Uuid| Membership {
        realm_id: acme.id,
        organization_id: globex.id,
        user_id: u,
        role: "admin".to_owned(),
        created_at: at(10),
    };
    // Expired, or through another realm: not accepted.
    assert!(
        !store
            .accept_invitation(acme.id, second.id, &m(ann.id), at(61))
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_invitation(other.id, second.id, &m(ann.id), at(10))
            .await
            .unwrap()
    );
    assert!(
        store
            .accept_invitation(acme.id, second.id, &m(ann.id), at(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_invitation(acme.id, second.id, &m(ann.id), at(11))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_membership(acme.id, globex.id, ann.id)
            .await
            .unwrap()
            .map(|m| m.role),
        Some("admin".to_owned())
    );
    let accepted = store
        .get_invitation_by_hash(acme.id, &[2; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accepted.accepted_at, Some(at(10)));
    assert_eq!(accepted.accepted_by, Some(ann.id));
    assert!(
        store
            .invitations_for_email(acme.id, "ann@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    // A member keeps its role.
    store
        .put_membership(&Membership {
            role: "owner".to_owned(),
            ..m(bob.id)
        })
        .await
        .unwrap();
    assert!(
        store
            .accept_invitation(acme.id, to_bob.id, &m(bob.id), at(12))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_membership(acme.id, globex.id, bob.id)
            .await
            .unwrap()
            .map(|m| m.role),
        Some("owner".to_owned())
    );
    // Deleted, only through its organization.
    let third = invitation(&globex, "cy@example.com", 4, 60);
    store.put_invitation(&third).await.unwrap();
    assert!(
        !store
            .delete_invitation(other.id, globex.id, third.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_invitation(acme.id, globex.id, third.id)
            .await
            .unwrap()
    );

    let stats = store
        .organization_stats(acme.id, globex.id, at(50))
        .await
        .unwrap();
    assert_eq!((stats.members, stats.active, stats.with_mfa), (2, 1, 0));
    assert!(
        store
            .organization_stats(other.id, globex.id, at(50))
            .await
            .unwrap()
            .members
            == 0
    );
    assert!(
        store
            .organization_member_audit(other.id, globex.id, 20)
            .await
            .unwrap()
            .is_empty()
    );
}
