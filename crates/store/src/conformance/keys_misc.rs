//! Signing keys, the denylist, login failures, concurrency and health.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::SigningAlgorithm;
use portcullis_core::ports::Store;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{T0, at, realm, signing_key, user};

/// Keys round-trip exactly, list newest first per realm, and kids are unique.
pub async fn signing_keys_insert_list<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let old = signing_key(a.id, SigningAlgorithm::EdDSA, at(0));
    let mut retired = signing_key(a.id, SigningAlgorithm::RS256, at(10));
    retired.active = false;
    retired.retire_after = Some(at(1000));
    let new = signing_key(a.id, SigningAlgorithm::ES256, at(20));
    for k in [&old, &retired, &new] {
        store.insert_signing_key(k).await.unwrap();
    }
    store
        .insert_signing_key(&signing_key(b.id, SigningAlgorithm::EdDSA, at(30)))
        .await
        .unwrap();

    assert_eq!(
        store.list_signing_keys(a.id).await.unwrap(),
        vec![new.clone(), retired, old]
    );
    assert_eq!(store.list_signing_keys(b.id).await.unwrap().len(), 1);
    assert!(
        store
            .list_signing_keys(Uuid::now_v7())
            .await
            .unwrap()
            .is_empty()
    );

    let mut dup = signing_key(a.id, SigningAlgorithm::EdDSA, at(40));
    dup.kid = new.kid.clone();
    let err = store.insert_signing_key(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

/// Rotation retires the realm's active keys of the same algorithm only.
pub async fn signing_key_rotation<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let ed = signing_key(a.id, SigningAlgorithm::EdDSA, at(0));
    let es = signing_key(a.id, SigningAlgorithm::ES256, at(1));
    let mut es_retired = signing_key(a.id, SigningAlgorithm::ES256, at(-100));
    es_retired.active = false;
    es_retired.retire_after = Some(at(50));
    let es_b = signing_key(b.id, SigningAlgorithm::ES256, at(2));
    for k in [&ed, &es, &es_retired, &es_b] {
        store.insert_signing_key(k).await.unwrap();
    }

    let mut fresh = signing_key(a.id, SigningAlgorithm::ES256, at(100));
    fresh.active = false; // inserted active regardless
    store.rotate_signing_key(&fresh, at(3700)).await.unwrap();

    let keys = store.list_signing_keys(a.id).await.unwrap();
    let find = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().clone();
    let stored_fresh = find(&fresh.kid);
    assert!(stored_fresh.active);
    assert_eq!(stored_fresh.retire_after, None);
    assert_eq!(keys[0].kid, fresh.kid);
    let stored_es = find(&es.kid);
    assert!(!stored_es.active);
    assert_eq!(stored_es.retire_after, Some(at(3700)));
    // Already retired keys keep their own end.
    assert_eq!(find(&es_retired.kid).retire_after, Some(at(50)));
    // Other algorithms and other realms are untouched.
    assert_eq!(find(&ed.kid), ed);
    assert_eq!(store.list_signing_keys(b.id).await.unwrap(), vec![es_b]);

    // A failed rotation (duplicate kid) changes nothing.
    let mut dup = signing_key(a.id, SigningAlgorithm::ES256, at(200));
    dup.kid = ed.kid.clone();
    assert!(store.rotate_signing_key(&dup, at(9999)).await.is_err());
    let still = store.list_signing_keys(a.id).await.unwrap();
    assert!(still.iter().any(|k| k.kid == fresh.kid && k.active));
}

/// The denylist lists unexpired entries of every realm and purges by time.
pub async fn denylist_list_and_purge<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let (j1, j2, j3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    store
        .insert_revoked_token(a.id, j1, at(100), T0)
        .await
        .unwrap();
    store
        .insert_revoked_token(a.id, j2, at(200), T0)
        .await
        .unwrap();
    store
        .insert_revoked_token(b.id, j3, at(300), T0)
        .await
        .unwrap();
    // Revoking twice is harmless.
    store
        .insert_revoked_token(a.id, j1, at(100), T0)
        .await
        .unwrap();

    let mut listed = store.list_revoked_tokens(T0).await.unwrap();
    listed.sort_by_key(|(_, _, exp)| *exp);
    assert_eq!(
        listed,
        vec![
            (a.id, j1, at(100)),
            (a.id, j2, at(200)),
            (b.id, j3, at(300))
        ]
    );
    // Expiring exactly at `now` is no longer listed.
    let mut later = store.list_revoked_tokens(at(200)).await.unwrap();
    later.sort_by_key(|(_, _, exp)| *exp);
    assert_eq!(later, vec![(b.id, j3, at(300))]);

    assert_eq!(store.purge_revoked_tokens(at(100)).await.unwrap(), 0);
    assert_eq!(store.purge_revoked_tokens(at(201)).await.unwrap(), 2);
    assert_eq!(store.purge_revoked_tokens(at(201)).await.unwrap(), 0);
    assert_eq!(
        store.list_revoked_tokens(T0).await.unwrap(),
        vec![(b.id, j3, at(300))]
    );
}

/// Revocations since a time: token ids by revocation time, ended sessions,
/// deactivated accounts (not accounts changed otherwise) and deleted ones, of
/// every realm.
pub async fn revocations_since_reads_by_time<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let (j1, j2) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert_revoked_token(a.id, j1, at(900), at(10))
        .await
        .unwrap();
    store
        .insert_revoked_token(b.id, j2, at(900), at(20))
        .await
        .unwrap();
    let mut gone = user(a.id, "gone@example.com");
    store.create_user(&gone).await.unwrap();
    let mut renamed = user(b.id, "renamed@example.com");
    store.create_user(&renamed).await.unwrap();
    let s1 = super::session(a.id, gone.id, 3600);
    store.create_session(&s1).await.unwrap();
    store.revoke_session(a.id, s1.id, at(15)).await.unwrap();
    gone.active = false;
    gone.updated_at = at(25);
    store.update_user(&gone).await.unwrap();
    renamed.updated_at = at(30);
    store.update_user(&renamed).await.unwrap();

    let all = store.revocations_since(at(10)).await.unwrap();
    let mut tokens = all.tokens.clone();
    tokens.sort_by_key(|t| t.2);
    assert_eq!(tokens, vec![(j1, at(900), at(10)), (j2, at(900), at(20))]);
    assert_eq!(all.sessions, vec![(s1.id, at(15))]);
    assert_eq!(all.users, vec![(gone.id, at(25))]);
    assert_eq!(all.latest(), Some(at(25)));

    let later = store.revocations_since(at(16)).await.unwrap();
    assert_eq!(later.tokens, vec![(j2, at(900), at(20))]);
    assert!(later.sessions.is_empty());
    assert_eq!(later.users, vec![(gone.id, at(25))]);
    assert!(store.revocations_since(at(26)).await.unwrap().is_empty());

    // A deleted account leaves a tombstone (recording it twice is
    // harmless), purged by time.
    store
        .insert_deleted_user(b.id, renamed.id, at(40))
        .await
        .unwrap();
    store
        .insert_deleted_user(b.id, renamed.id, at(40))
        .await
        .unwrap();
    assert!(store.delete_user(b.id, renamed.id).await.unwrap());
    let deleted = store.revocations_since(at(26)).await.unwrap();
    assert_eq!(deleted.users, vec![(renamed.id, at(40))]);
    assert_eq!(store.purge_deleted_users(at(40)).await.unwrap(), 0);
    assert_eq!(store.purge_deleted_users(at(41)).await.unwrap(), 1);
    assert!(store.revocations_since(at(26)).await.unwrap().is_empty());
}

/// Failures are listed per realm and key, oldest first; cleared and purged.
pub async fn login_failures_since_clear_purge<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let acct = "acct:alice@example.com";
    let ip = "ip:192.0.2.1";
    for s in [30, 10, 20] {
        store.record_login_failure(a.id, acct, at(s)).await.unwrap();
    }
    store.record_login_failure(a.id, ip, at(15)).await.unwrap();
    store
        .record_login_failure(b.id, acct, at(25))
        .await
        .unwrap();
    // Two failures at the same instant are both kept.
    store
        .record_login_failure(a.id, acct, at(30))
        .await
        .unwrap();

    assert_eq!(
        store.login_failures_since(a.id, acct, at(0)).await.unwrap(),
        vec![at(10), at(20), at(30), at(30)]
    );
    assert_eq!(
        store
            .login_failures_since(a.id, acct, at(20))
            .await
            .unwrap(),
        vec![at(20), at(30), at(30)]
    );
    assert_eq!(
        store.login_failures_since(b.id, acct, at(0)).await.unwrap(),
        vec![at(25)]
    );
    assert_eq!(
        store.login_failures_since(a.id, ip, at(0)).await.unwrap(),
        vec![at(15)]
    );

    store.clear_login_failures(a.id, acct).await.unwrap();
    assert!(
        store
            .login_failures_since(a.id, acct, at(0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.login_failures_since(a.id, ip, at(0)).await.unwrap(),
        vec![at(15)]
    );
    assert_eq!(
        store.login_failures_since(b.id, acct, at(0)).await.unwrap(),
        vec![at(25)]
    );

    // Purge is strictly before the cut-off, across realms.
    assert_eq!(store.purge_login_failures(at(15)).await.unwrap(), 0);
    assert_eq!(store.purge_login_failures(at(26)).await.unwrap(), 2);
    assert!(
        store
            .login_failures_since(b.id, acct, at(0))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Fifty concurrent writers (and readers) all succeed.
pub async fn concurrent_writers<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("busy");
    store.create_realm(&r).await.unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let store = store.clone();
        let realm_id = r.id;
        tasks.spawn(async move {
            let u = user(realm_id, &format!("user{i}@example.com"));
            store.create_user(&u).await?;
            store
                .record_login_failure(realm_id, "ip:192.0.2.1", at(i))
                .await?;
            let mut changed = u.clone();
            changed.last_login_at = Some(at(i));
            store.update_user(&changed).await?;
            let read = store.get_user(realm_id, u.id).await?;
            assert_eq!(read, Some(changed));
            Ok::<_, StoreError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap().unwrap();
    }
    let failures = store
        .login_failures_since(r.id, "ip:192.0.2.1", at(0))
        .await
        .unwrap();
    assert_eq!(failures.len(), 50);
    let page = store
        .list_users(
            r.id,
            &portcullis_core::model::UserQuery {
                email_prefix: None,
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 50);
}

/// The store answers and names its backend.
pub async fn ping_and_backend_name<S: Store + ?Sized>(store: Arc<S>) {
    store.ping().await.unwrap();
    assert!(matches!(store.backend_name(), "sqlite" | "postgres"));
}
