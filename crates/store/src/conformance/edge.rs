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
