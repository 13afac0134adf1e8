//! Edge defences: realms' rate-limit policies.

use std::sync::Arc;

use portcullis_core::edge::{Group, RateLimitPolicy};
use portcullis_core::ports::Store;

use super::{T0, realm};

/// A realm's policy round-trips, is replaced by a second put, belongs to
/// its realm only, is deleted on request (reporting whether it existed)
/// and with its realm.
pub async fn edge_rate_limit_policy_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    assert_eq!(store.get_rate_limit_policy(acme.id).await.unwrap(), None);

    let mut policy = RateLimitPolicy::default();
    policy.groups.get_mut(&Group::Login).unwrap().per_ip = 7;
    store
        .put_rate_limit_policy(acme.id, &policy, T0)
        .await
        .unwrap();
    assert_eq!(
        store.get_rate_limit_policy(acme.id).await.unwrap(),
        Some(policy.clone())
    );
    assert_eq!(store.get_rate_limit_policy(other.id).await.unwrap(), None);

    policy.enabled = false;
    policy.strikes.block_seconds = vec![5, 10];
    store
        .put_rate_limit_policy(acme.id, &policy, T0)
        .await
        .unwrap();
    assert_eq!(
        store.get_rate_limit_policy(acme.id).await.unwrap(),
        Some(policy.clone())
    );

    assert!(store.delete_rate_limit_policy(acme.id).await.unwrap());
    assert!(!store.delete_rate_limit_policy(acme.id).await.unwrap());
    assert_eq!(store.get_rate_limit_policy(acme.id).await.unwrap(), None);

    store
        .put_rate_limit_policy(other.id, &policy, T0)
        .await
        .unwrap();
    store.delete_realm(other.id).await.unwrap();
    assert_eq!(store.get_rate_limit_policy(other.id).await.unwrap(), None);
}

fn key(realm_id: uuid::Uuid, name: &str) -> portcullis_core::service_keys::ServiceKey {
    portcullis_core::service_keys::ServiceKey {
        id: portcullis_core::model::new_id(),
        realm_id,
        name: name.to_owned(),
        secret: vec![1, 2, 3, 0, 255],
        previous_secret: None,
        previous_until: None,
        created_at: T0,
        updated_at: T0,
        expires_at: Some(T0 + time::Duration::days(30)),
        revoked_at: None,
        last_used_at: None,
    }
}

/// Service keys round-trip, are unique by name within a realm (not across
/// realms), list by name, take updates and uses, stay in their realm, and
/// go with their realm.
pub async fn edge_service_keys_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    use portcullis_core::StoreError;
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let zeta = key(acme.id, "zeta");
    let alpha = key(acme.id, "alpha");
    store.create_service_key(&zeta).await.unwrap();
    store.create_service_key(&alpha).await.unwrap();
    assert!(matches!(
        store.create_service_key(&key(acme.id, "alpha")).await,
        Err(StoreError::Conflict(_))
    ));
    let theirs = key(other.id, "alpha");
    store.create_service_key(&theirs).await.unwrap();

    assert_eq!(
        store.get_service_key(acme.id, zeta.id).await.unwrap(),
        Some(zeta.clone())
    );
    assert_eq!(
        store.get_service_key(other.id, zeta.id).await.unwrap(),
        None
    );
    let names: Vec<String> = store
        .list_service_keys(acme.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(store.list_service_keys(acme.id, 1).await.unwrap().len(), 1);

    let mut rotated = zeta.clone();
    rotated.previous_secret = Some(zeta.secret.clone());
    rotated.previous_until = Some(T0 + time::Duration::hours(1));
    rotated.secret = vec![9; 40];
    rotated.revoked_at = Some(T0 + time::Duration::minutes(5));
    rotated.updated_at = T0 + time::Duration::minutes(5);
    assert!(store.update_service_key(&rotated).await.unwrap());
    assert_eq!(
        store.get_service_key(acme.id, zeta.id).await.unwrap(),
        Some(rotated.clone())
    );
    // Another realm's update changes nothing.
    let mut foreign = rotated.clone();
    foreign.realm_id = other.id;
    assert!(!store.update_service_key(&foreign).await.unwrap());

    let used = T0 + time::Duration::minutes(7);
    store
        .touch_service_key(acme.id, zeta.id, used)
        .await
        .unwrap();
    let got = store
        .get_service_key(acme.id, zeta.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.last_used_at, Some(used));

    assert!(!store.delete_service_key(other.id, zeta.id).await.unwrap());
    assert!(store.delete_service_key(acme.id, zeta.id).await.unwrap());
    assert_eq!(store.get_service_key(acme.id, zeta.id).await.unwrap(), None);
    store.delete_realm(other.id).await.unwrap();
    assert_eq!(
        store.get_service_key(other.id, theirs.id).await.unwrap(),
        None
    );
}
