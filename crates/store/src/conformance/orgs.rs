//! Organizations and their members.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::orgs::{Membership, OrgQuery, Organization};
use portcullis_core::ports::Store;
use serde_json::json;
use uuid::Uuid;

use super::{T0, at, realm, user};
use portcullis_core::model::new_id;

fn org(realm_id: Uuid, name: &str, parent: Option<Uuid>) -> Organization {
    let mut attributes = serde_json::Map::new();
    attributes.insert("tier".to_owned(), json!("gold"));
    Organization {
        id: new_id(),
        realm_id,
        name: name.to_owned(),
        display_name: format!("{} Corp", name.to_uppercase()),
        description: Some("A customer".to_owned()),
        parent_id: parent,
        attributes,
        created_at: T0,
        updated_at: T0,
    }
}

fn query(search: Option<&str>, parent: Option<Uuid>) -> OrgQuery {
    OrgQuery {
        search: search.map(str::to_owned),
        parent,
        offset: 0,
        limit: 100,
    }
}

fn names(page: &portcullis_core::model::Page<Organization>) -> Vec<&str> {
    page.items.iter().map(|o| o.name.as_str()).collect()
}

/// Organizations round-trip exactly, are unique by name in their realm
/// (not across realms), list by name with search (name or display name,
/// case-insensitive, wildcards literal) and by parent, update (names
/// still unique), refuse a parent of another realm, and delete only
/// without children.
pub async fn orgs_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();

    let root = org(acme.id, "globex", None);
    store.create_organization(&root).await.unwrap();
    let child = org(acme.id, "globex-eu", Some(root.id));
    store.create_organization(&child).await.unwrap();
    let plain = org(acme.id, "initech_100", None);
    store.create_organization(&plain).await.unwrap();
    assert_eq!(
        store.get_organization(acme.id, child.id).await.unwrap(),
        Some(child.clone())
    );
    assert_eq!(
        store
            .get_organization_by_name(acme.id, "globex")
            .await
            .unwrap(),
        Some(root.clone())
    );
    // Realm isolation: not found through another realm.
    assert_eq!(
        store.get_organization(other.id, root.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_organization_by_name(other.id, "globex")
            .await
            .unwrap(),
        None
    );
    // Names are unique per realm only.
    let dup = org(acme.id, "globex", None);
    assert!(matches!(
        store.create_organization(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .create_organization(&org(other.id, "globex", None))
        .await
        .unwrap();
    // A parent of another realm, or none at all, is not found.
    let stray = org(other.id, "stray", Some(root.id));
    assert!(matches!(
        store.create_organization(&stray).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .create_organization(&org(acme.id, "orphan", Some(new_id())))
            .await,
        Err(StoreError::NotFound)
    ));

    let all = store
        .list_organizations(acme.id, &query(None, None))
        .await
        .unwrap();
    assert_eq!(names(&all), ["globex", "globex-eu", "initech_100"]);
    assert_eq!(all.total, 3);
    let found = store
        .list_organizations(acme.id, &query(Some("EU"), None))
        .await
        .unwrap();
    assert_eq!(names(&found), ["globex-eu"]);
    // By display name, case-insensitive.
    let found = store
        .list_organizations(acme.id, &query(Some("initech_100 corp"), None))
        .await
        .unwrap();
    assert_eq!(names(&found), ["initech_100"]);
    // `_` and `%` are literal.
    let found = store
        .list_organizations(acme.id, &query(Some("%"), None))
        .await
        .unwrap();
    assert!(found.items.is_empty());
    let found = store
        .list_organizations(acme.id, &query(Some("h_1"), None))
        .await
        .unwrap();
    assert_eq!(names(&found), ["initech_100"]);
    let children = store
        .list_organizations(acme.id, &query(None, Some(root.id)))
        .await
        .unwrap();
    assert_eq!(names(&children), ["globex-eu"]);
    let page = store
        .list_organizations(
            acme.id,
            &OrgQuery {
                offset: 1,
                limit: 1,
                ..query(None, None)
            },
        )
        .await
        .unwrap();
    assert_eq!((names(&page), page.total), (vec!["globex-eu"], 3));

    // Updates.
    let mut moved = plain.clone();
    moved.name = "initech".to_owned();
    moved.display_name = "Initech".to_owned();
    moved.description = None;
    moved.parent_id = Some(root.id);
    moved.attributes = serde_json::Map::new();
    moved.updated_at = at(5);
    assert!(store.update_organization(&moved).await.unwrap());
    assert_eq!(
        store.get_organization(acme.id, plain.id).await.unwrap(),
        Some(moved.clone())
    );
    let found = store
        .list_organizations(acme.id, &query(Some("initech"), None))
        .await
        .unwrap();
    assert_eq!(names(&found), ["initech"]);
    let mut clash = moved.clone();
    clash.name = "globex-eu".to_owned();
    assert!(matches!(
        store.update_organization(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    let mut elsewhere = moved.clone();
    elsewhere.realm_id = other.id;
    elsewhere.parent_id = None;
    assert!(!store.update_organization(&elsewhere).await.unwrap());

    // A parent with children cannot be deleted; its children can.
    assert!(matches!(
        store.delete_organization(acme.id, root.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(!store.delete_organization(other.id, child.id).await.unwrap());
    assert!(store.delete_organization(acme.id, child.id).await.unwrap());
    assert!(store.delete_organization(acme.id, moved.id).await.unwrap());
    assert!(!store.delete_organization(acme.id, moved.id).await.unwrap());
    assert!(store.delete_organization(acme.id, root.id).await.unwrap());
    assert_eq!(
        store.get_organization(acme.id, root.id).await.unwrap(),
        None
    );
    // Deleting a realm deletes its organizations.
    store.delete_realm(other.id).await.unwrap();
    assert!(
        store
            .list_organizations(other.id, &query(None, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Memberships: added once (a second put changes the role and reports it
/// was there), listed oldest first with the member's address, per user
/// across organizations, removed; never across realms; deleted with the
/// organization or the user.
pub async fn orgs_memberships<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let ann = user(acme.id, "ann@example.com");
    let bob = user(acme.id, "bob@example.com");
    let eve = user(other.id, "eve@example.com");
    for u in [&ann, &bob, &eve] {
        store.create_user(u).await.unwrap();
    }
    let globex = org(acme.id, "globex", None);
    let initech = org(acme.id, "initech", None);
    let foreign = org(other.id, "foreign", None);
    for o in [&globex, &initech, &foreign] {
        store.create_organization(o).await.unwrap();
    }
    let member = |o: &Organization, u: Uuid, role: &str, t: i64| Membership {
        realm_id: o.realm_id,
        organization_id: o.id,
        user_id: u,
        role: role.to_owned(),
        created_at: at(t),
    };
    assert!(
        store
            .put_membership(&member(&globex, ann.id, "owner", 1))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_membership(&member(&globex, bob.id, "member", 2))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_membership(&member(&initech, ann.id, "member", 3))
            .await
            .unwrap()
    );
    // A second put changes the role only.
    assert!(
        !store
            .put_membership(&member(&globex, bob.id, "admin", 9))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_membership(acme.id, globex.id, bob.id)
            .await
            .unwrap(),
        Some(member(&globex, bob.id, "admin", 2))
    );
    // Never across realms: a user or an organization of another realm.
    assert!(matches!(
        store
            .put_membership(&member(&globex, eve.id, "member", 4))
            .await,
        Err(StoreError::NotFound)
    ));
    let crossed = Membership {
        realm_id: acme.id,
        ..member(&foreign, ann.id, "member", 4)
    };
    assert!(matches!(
        store.put_membership(&crossed).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .get_membership(other.id, globex.id, ann.id)
            .await
            .unwrap(),
        None
    );

    let page = store
        .list_memberships(acme.id, globex.id, 0, 10)
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    let listed: Vec<(&str, &str)> = page
        .items
        .iter()
        .map(|m| (m.email.as_str(), m.membership.role.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("ann@example.com", "owner"), ("bob@example.com", "admin")]
    );
    assert_eq!(page.items[0].name.as_deref(), Some("Test User"));
    let second = store
        .list_memberships(acme.id, globex.id, 1, 1)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].membership.user_id, bob.id);
    assert!(
        store
            .list_memberships(other.id, globex.id, 0, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let mut of_ann: Vec<Uuid> = store
        .memberships_of(acme.id, ann.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.organization_id)
        .collect();
    of_ann.sort();
    let mut expected = vec![globex.id, initech.id];
    expected.sort();
    assert_eq!(of_ann, expected);
    assert!(
        store
            .memberships_of(other.id, ann.id)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        !store
            .delete_membership(other.id, globex.id, bob.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_membership(acme.id, globex.id, bob.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_membership(acme.id, globex.id, bob.id)
            .await
            .unwrap()
    );
    // Deleting the user, then the organization, deletes their memberships.
    store.delete_user(acme.id, ann.id).await.unwrap();
    assert!(
        store
            .memberships_of(acme.id, ann.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .put_membership(&member(&initech, bob.id, "member", 5))
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_organization(acme.id, initech.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .memberships_of(acme.id, bob.id)
            .await
            .unwrap()
            .is_empty()
    );
}
