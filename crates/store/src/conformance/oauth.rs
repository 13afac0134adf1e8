//! Authorization codes (redeemed once, also under concurrency) and consents.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::{AuthCode, CodeOutcome, Consent, new_id};
use portcullis_core::ports::Store;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{at, auth_code, client, consent, digest, realm_user_session, user};

/// A code round-trips through its one redemption, which records the time
/// and the client session; presenting it again is `Reused` with the first
/// redemption's record, whatever the second would grant; an unknown code is
/// `Invalid`. Expiry is not checked; digests are unique; a code needs an
/// existing user and client of its realm.
pub async fn code_redeemed_once<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    store.create_client(&client(r.id, "web")).await.unwrap();
    let code = auth_code(&s, "web");
    store.insert_auth_code(&code).await.unwrap();

    let grant = new_id();
    // At its expiry instant: still consumed (the caller checks expiry).
    let outcome = store
        .consume_auth_code(r.id, &code.code_hash, grant, at(60))
        .await
        .unwrap();
    let mut spent = code.clone();
    spent.used_at = Some(at(60));
    spent.grant_session_id = Some(grant);
    assert_eq!(outcome, CodeOutcome::Consumed(spent.clone()));
    for attempt in 0..2 {
        let outcome = store
            .consume_auth_code(r.id, &code.code_hash, new_id(), at(61 + attempt))
            .await
            .unwrap();
        assert_eq!(outcome, CodeOutcome::Reused(spent.clone()));
    }
    assert_eq!(
        store
            .consume_auth_code(r.id, &digest(), new_id(), at(1))
            .await
            .unwrap(),
        CodeOutcome::Invalid
    );

    // A bare code (no redirect URI, nonce or challenge) round-trips too.
    let mut bare = auth_code(&s, "web");
    bare.redirect_uri = None;
    bare.nonce = None;
    bare.code_challenge = None;
    bare.scope = String::new();
    store.insert_auth_code(&bare).await.unwrap();
    let outcome = store
        .consume_auth_code(r.id, &bare.code_hash, grant, at(2))
        .await
        .unwrap();
    let CodeOutcome::Consumed(stored) = outcome else {
        panic!("expected Consumed, got {outcome:?}");
    };
    assert_eq!(
        stored,
        AuthCode {
            used_at: Some(at(2)),
            grant_session_id: Some(grant),
            ..bare
        }
    );

    let mut dup = auth_code(&s, "web");
    dup.code_hash = code.code_hash.clone();
    assert!(matches!(
        store.insert_auth_code(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    let mut ghost_user = auth_code(&s, "web");
    ghost_user.user_id = Uuid::now_v7();
    assert!(matches!(
        store.insert_auth_code(&ghost_user).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .insert_auth_code(&auth_code(&s, "no-such-client"))
            .await,
        Err(StoreError::NotFound)
    ));
}

/// Eight concurrent redemptions of one code: exactly one consumes it, the
/// others see reuse carrying the winner's client session.
pub async fn code_concurrent_redemption_one_wins<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    store.create_client(&client(r.id, "web")).await.unwrap();
    let code = auth_code(&s, "web");
    store.insert_auth_code(&code).await.unwrap();

    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        let hash = code.code_hash.clone();
        let realm_id = r.id;
        tasks.spawn(async move {
            let grant = new_id();
            let outcome = store
                .consume_auth_code(realm_id, &hash, grant, at(1 + i))
                .await;
            (grant, outcome)
        });
    }
    let mut winner = None;
    let mut reused = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (grant, outcome) = joined.unwrap();
        match outcome.unwrap() {
            CodeOutcome::Consumed(spent) => {
                assert_eq!(spent.id, code.id);
                assert_eq!(spent.grant_session_id, Some(grant));
                assert!(winner.replace(spent).is_none(), "two redemptions won");
            }
            CodeOutcome::Reused(seen) => reused.push(seen),
            CodeOutcome::Invalid => panic!("a concurrent redemption returned Invalid"),
        }
    }
    let winner = winner.expect("no redemption won");
    assert_eq!(reused.len(), 7);
    for seen in reused {
        assert_eq!(seen, winner);
    }
}

/// A code is invisible from another realm, before and after its use; purge
/// deletes codes that expired strictly before the cut-off, across realms;
/// deleting the user deletes their codes.
pub async fn code_tenant_isolation_and_purge<S: Store + ?Sized>(store: Arc<S>) {
    let (a, ua, sa) = realm_user_session(&*store, "a").await;
    let (b, _ub, sb) = realm_user_session(&*store, "b").await;
    store.create_client(&client(a.id, "web")).await.unwrap();
    store.create_client(&client(b.id, "web")).await.unwrap();
    let code_b = auth_code(&sb, "web");
    store.insert_auth_code(&code_b).await.unwrap();
    // A code cannot point at a user of another realm.
    let mut cross = auth_code(&sb, "web");
    cross.realm_id = a.id;
    assert!(store.insert_auth_code(&cross).await.is_err());

    assert_eq!(
        store
            .consume_auth_code(a.id, &code_b.code_hash, new_id(), at(1))
            .await
            .unwrap(),
        CodeOutcome::Invalid
    );
    let outcome = store
        .consume_auth_code(b.id, &code_b.code_hash, new_id(), at(2))
        .await
        .unwrap();
    assert!(matches!(outcome, CodeOutcome::Consumed(_)), "{outcome:?}");
    assert_eq!(
        store
            .consume_auth_code(a.id, &code_b.code_hash, new_id(), at(3))
            .await
            .unwrap(),
        CodeOutcome::Invalid
    );

    // Expiries: code_b at(60), a1 at(60), a2 at(120), a3 at(180).
    let a1 = auth_code(&sa, "web");
    let mut a2 = auth_code(&sa, "web");
    a2.expires_at = at(120);
    let mut a3 = auth_code(&sa, "web");
    a3.expires_at = at(180);
    for c in [&a1, &a2, &a3] {
        store.insert_auth_code(c).await.unwrap();
    }
    assert_eq!(store.purge_auth_codes(at(60)).await.unwrap(), 0);
    assert_eq!(store.purge_auth_codes(at(61)).await.unwrap(), 2);
    assert_eq!(store.purge_auth_codes(at(61)).await.unwrap(), 0);
    for (code, outcome) in [(&a1, false), (&code_b, false), (&a2, true)] {
        let realm_id = code.realm_id;
        let found = store
            .consume_auth_code(realm_id, &code.code_hash, new_id(), at(62))
            .await
            .unwrap();
        assert_eq!(
            matches!(found, CodeOutcome::Consumed(_)),
            outcome,
            "{found:?}"
        );
    }
    // Deleting the user deletes a3 (and the spent a2).
    assert!(store.delete_user(a.id, ua.id).await.unwrap());
    assert_eq!(store.purge_auth_codes(at(10_000)).await.unwrap(), 0);
    assert_eq!(
        store
            .consume_auth_code(a.id, &a3.code_hash, new_id(), at(63))
            .await
            .unwrap(),
        CodeOutcome::Invalid
    );
}

/// Consents: inserted, replaced (scopes and `updated_at`, keeping
/// `created_at`), listed by `client_id`, withdrawn; confined to their realm;
/// refused for a user or client that does not exist.
pub async fn consents_round_trip_and_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let (a, ua, _sa) = realm_user_session(&*store, "a").await;
    let (b, ub, _sb) = realm_user_session(&*store, "b").await;
    for c in ["web", "cli", "zeta"] {
        store.create_client(&client(a.id, c)).await.unwrap();
    }
    store.create_client(&client(b.id, "web")).await.unwrap();
    let second = user(a.id, "second@a.example.com");
    store.create_user(&second).await.unwrap();

    let web = consent(a.id, ua.id, "web");
    store.put_consent(&web).await.unwrap();
    assert_eq!(
        store.get_consent(a.id, ua.id, "web").await.unwrap(),
        Some(web.clone())
    );
    let mut changed = web.clone();
    changed.scopes = vec![
        "openid".to_owned(),
        "profile".to_owned(),
        "email".to_owned(),
    ];
    changed.created_at = at(99);
    changed.updated_at = at(30);
    store.put_consent(&changed).await.unwrap();
    let stored = store
        .get_consent(a.id, ua.id, "web")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        Consent {
            created_at: web.created_at,
            ..changed.clone()
        }
    );
    let mut empty = consent(a.id, ua.id, "zeta");
    empty.scopes = Vec::new();
    store.put_consent(&empty).await.unwrap();
    let cli = consent(a.id, ua.id, "cli");
    store.put_consent(&cli).await.unwrap();
    store
        .put_consent(&consent(a.id, second.id, "web"))
        .await
        .unwrap();
    let web_b = consent(b.id, ub.id, "web");
    store.put_consent(&web_b).await.unwrap();

    assert_eq!(
        store.list_consents(a.id, ua.id).await.unwrap(),
        vec![cli.clone(), stored.clone(), empty.clone()]
    );
    assert_eq!(
        store.list_consents(b.id, ub.id).await.unwrap(),
        vec![web_b.clone()]
    );
    // Another realm sees nothing and changes nothing.
    assert_eq!(store.get_consent(b.id, ua.id, "web").await.unwrap(), None);
    assert!(store.list_consents(b.id, ua.id).await.unwrap().is_empty());
    assert!(!store.delete_consent(b.id, ua.id, "web").await.unwrap());

    assert!(store.delete_consent(a.id, ua.id, "web").await.unwrap());
    assert!(!store.delete_consent(a.id, ua.id, "web").await.unwrap());
    assert_eq!(store.get_consent(a.id, ua.id, "web").await.unwrap(), None);
    assert_eq!(
        store.list_consents(a.id, ua.id).await.unwrap(),
        vec![cli, empty]
    );
    assert!(
        store
            .get_consent(a.id, second.id, "web")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.get_consent(b.id, ub.id, "web").await.unwrap(),
        Some(web_b)
    );

    // Missing user, missing client, a client or user of another realm.
    for bad in [
        consent(a.id, Uuid::now_v7(), "web"),
        consent(a.id, ua.id, "no-such-client"),
        consent(b.id, ua.id, "web"),
        consent(a.id, ub.id, "web"),
    ] {
        assert!(
            matches!(store.put_consent(&bad).await, Err(StoreError::NotFound)),
            "{bad:?}"
        );
    }
}

/// Consents are deleted with their user, their client and their realm.
pub async fn consents_cascade_with_user_and_client<S: Store + ?Sized>(store: Arc<S>) {
    let (a, ua, _sa) = realm_user_session(&*store, "a").await;
    let (b, ub, _sb) = realm_user_session(&*store, "b").await;
    let web = client(a.id, "web");
    let cli = client(a.id, "cli");
    store.create_client(&web).await.unwrap();
    store.create_client(&cli).await.unwrap();
    store.create_client(&client(b.id, "web")).await.unwrap();
    let second = user(a.id, "second@a.example.com");
    store.create_user(&second).await.unwrap();
    for (user_id, client_id) in [
        (ua.id, "web"),
        (ua.id, "cli"),
        (second.id, "web"),
        (second.id, "cli"),
    ] {
        store
            .put_consent(&consent(a.id, user_id, client_id))
            .await
            .unwrap();
    }
    store
        .put_consent(&consent(b.id, ub.id, "web"))
        .await
        .unwrap();

    assert!(store.delete_user(a.id, second.id).await.unwrap());
    assert!(
        store
            .list_consents(a.id, second.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_consents(a.id, ua.id).await.unwrap().len(), 2);

    assert!(
        store
            .delete_client(a.id, cli.id, at(1))
            .await
            .unwrap()
            .is_some()
    );
    let left = store.list_consents(a.id, ua.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].client_id, "web");
    assert_eq!(store.list_consents(b.id, ub.id).await.unwrap().len(), 1);

    assert!(store.delete_realm(a.id).await.unwrap());
    assert!(store.list_consents(a.id, ua.id).await.unwrap().is_empty());
    assert_eq!(store.list_consents(b.id, ub.id).await.unwrap().len(), 1);
}
