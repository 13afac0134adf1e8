//! Refresh tokens and rotation.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::RotateOutcome;
use portcullis_core::ports::Store;
use tokio::task::JoinSet;

use super::{CLIENT, T0, at, digest, realm_user_session, replacement, session, token};

/// A token digest can be stored once.
pub async fn refresh_duplicate_hash_conflicts<S: Store + ?Sized>(store: Arc<S>) {
    let (_r, _u, s) = realm_user_session(&*store, "acme").await;
    let t = token(&s, 600);
    store.insert_refresh_token(&t).await.unwrap();
    let mut dup = token(&s, 600);
    dup.token_hash = t.token_hash.clone();
    let err = store.insert_refresh_token(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

/// Rotation spends the token, stores the replacement in its family, touches
/// the session; presenting the spent token again is `Reused` and changes nothing.
pub async fn rotate_rotates_once_then_reports_reuse<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let first = token(&s, 600);
    store.insert_refresh_token(&first).await.unwrap();

    let next = replacement(r.id, at(60), 600);
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &first.token_hash,
            &next,
            at(60),
            Some("198.51.100.7"),
        )
        .await
        .unwrap();
    let mut spent = first.clone();
    spent.used_at = Some(at(60));
    assert_eq!(outcome, RotateOutcome::Rotated(spent.clone()));
    let touched = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, at(60));
    assert_eq!(touched.ip.as_deref(), Some("198.51.100.7"));

    // The replacement inherited family, session, user, client and scope.
    let third = replacement(r.id, at(120), 600);
    let outcome = store
        .rotate_refresh_token(r.id, Some(CLIENT), &next.token_hash, &third, at(120), None)
        .await
        .unwrap();
    let RotateOutcome::Rotated(spent_next) = outcome else {
        panic!("expected Rotated, got {outcome:?}");
    };
    assert_eq!(spent_next.id, next.id);
    assert_eq!(spent_next.token_hash, next.token_hash);
    assert_eq!(spent_next.family_id, first.family_id);
    assert_eq!(spent_next.session_id, s.id);
    assert_eq!(spent_next.user_id, first.user_id);
    assert_eq!(spent_next.client_id, first.client_id);
    assert_eq!(spent_next.scope, first.scope);
    assert_eq!(spent_next.created_at, at(60));
    assert_eq!(spent_next.expires_at, at(660));
    assert_eq!(spent_next.used_at, Some(at(120)));
    assert_eq!(spent_next.revoked_at, None);
    let touched = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, at(120));
    assert_eq!(touched.ip.as_deref(), Some("198.51.100.7"));

    // Replay of the first token: Reused, with its record, and no change.
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &first.token_hash,
            &replacement(r.id, at(180), 600),
            at(180),
            Some("203.0.113.66"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Reused(spent));
    let after = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(after, touched);
    // The replay's replacement was not stored: the family holds the two spent
    // tokens and `third`.
    assert_eq!(
        store
            .revoke_refresh_family(r.id, first.family_id, at(200))
            .await
            .unwrap(),
        3
    );
    // Once the family is revoked, a replay is still recognised as reuse.
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &first.token_hash,
            &replacement(r.id, at(201), 600),
            at(201),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Reused(_)), "{outcome:?}");
}

/// Unknown, expired and revoked tokens are `Invalid` and change nothing.
pub async fn rotate_rejects_expired_and_revoked_tokens<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let rotate = |hash: Vec<u8>, now| {
        let store = store.clone();
        async move {
            store
                .rotate_refresh_token(
                    r.id,
                    Some(CLIENT),
                    &hash,
                    &replacement(r.id, now, 600),
                    now,
                    None,
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(rotate(digest(), at(1)).await, RotateOutcome::Invalid);

    let expiring = token(&s, 100);
    store.insert_refresh_token(&expiring).await.unwrap();
    // Expired at exactly its expiry instant.
    assert_eq!(
        rotate(expiring.token_hash.clone(), at(100)).await,
        RotateOutcome::Invalid
    );
    assert_eq!(
        rotate(expiring.token_hash.clone(), at(500)).await,
        RotateOutcome::Invalid
    );
    // Still usable just before: the failed attempts changed nothing.
    assert!(matches!(
        rotate(expiring.token_hash.clone(), at(99)).await,
        RotateOutcome::Rotated(_)
    ));

    let revoked = token(&s, 600);
    store.insert_refresh_token(&revoked).await.unwrap();
    assert_eq!(
        store
            .revoke_refresh_family(r.id, revoked.family_id, at(2))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        rotate(revoked.token_hash.clone(), at(3)).await,
        RotateOutcome::Invalid
    );
    let session_now = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(session_now.last_used_at, at(99));
}

/// A token whose session is revoked or expired cannot be rotated.
pub async fn rotate_rejects_revoked_or_expired_session<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, s) = realm_user_session(&*store, "acme").await;
    let short = session(r.id, u.id, 100);
    store.create_session(&short).await.unwrap();
    // The token outlives its session.
    let outliving = token(&short, 1000);
    store.insert_refresh_token(&outliving).await.unwrap();
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &outliving.token_hash,
            &replacement(r.id, at(150), 600),
            at(150),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &outliving.token_hash,
            &replacement(r.id, at(50), 600),
            at(50),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");

    // A revoked session: its (revoked) tokens are refused. Even a token that
    // somehow escaped revocation is refused because of the session.
    let t = token(&s, 600);
    store.insert_refresh_token(&t).await.unwrap();
    store.revoke_session(r.id, s.id, at(10)).await.unwrap();
    let mut late = token(&s, 600);
    late.created_at = at(11);
    store.insert_refresh_token(&late).await.unwrap();
    for hash in [&t.token_hash, &late.token_hash] {
        let outcome = store
            .rotate_refresh_token(
                r.id,
                Some(CLIENT),
                hash,
                &replacement(r.id, at(12), 600),
                at(12),
                None,
            )
            .await
            .unwrap();
        assert_eq!(outcome, RotateOutcome::Invalid);
    }
    let revoked = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(revoked.last_used_at, T0);
}

/// A token presented in another realm is `Invalid` and stays usable in its own.
pub async fn rotate_tenant_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let (a, _ua, _sa) = realm_user_session(&*store, "a").await;
    let (b, _ub, sb) = realm_user_session(&*store, "b").await;
    let tb = token(&sb, 600);
    store.insert_refresh_token(&tb).await.unwrap();

    let outcome = store
        .rotate_refresh_token(
            a.id,
            Some(CLIENT),
            &tb.token_hash,
            &replacement(a.id, at(1), 600),
            at(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert_eq!(
        store
            .revoke_refresh_family(a.id, tb.family_id, at(2))
            .await
            .unwrap(),
        0
    );

    let outcome = store
        .rotate_refresh_token(
            b.id,
            Some(CLIENT),
            &tb.token_hash,
            &replacement(b.id, at(3), 600),
            at(3),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
    // Once spent, realm a still sees nothing (not even reuse).
    let outcome = store
        .rotate_refresh_token(
            a.id,
            Some(CLIENT),
            &tb.token_hash,
            &replacement(a.id, at(4), 600),
            at(4),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
}

/// If the replacement cannot be stored, the whole rotation is undone.
pub async fn rotate_replacement_conflict_rolls_back<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let first = token(&s, 600);
    let other = token(&s, 600);
    store.insert_refresh_token(&first).await.unwrap();
    store.insert_refresh_token(&other).await.unwrap();

    let mut clash = replacement(r.id, at(5), 600);
    clash.token_hash = other.token_hash.clone();
    let err = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &first.token_hash,
            &clash,
            at(5),
            Some("192.0.2.99"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let untouched = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(untouched, s);

    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &first.token_hash,
            &replacement(r.id, at(6), 600),
            at(6),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
}

/// Twenty concurrent rotations of one token: exactly one wins, the rest see reuse.
pub async fn rotate_parallel_exactly_one_wins<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let t = token(&s, 600);
    store.insert_refresh_token(&t).await.unwrap();

    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        let hash = t.token_hash.clone();
        let realm_id = r.id;
        tasks.spawn(async move {
            let now = at(10 + i);
            store
                .rotate_refresh_token(
                    realm_id,
                    Some(CLIENT),
                    &hash,
                    &replacement(realm_id, now, 600),
                    now,
                    None,
                )
                .await
        });
    }
    let mut rotated = 0;
    let mut reused = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap().unwrap() {
            RotateOutcome::Rotated(spent) => {
                assert_eq!(spent.id, t.id);
                rotated += 1;
            }
            RotateOutcome::Reused(seen) => {
                assert_eq!(seen.id, t.id);
                assert!(seen.used_at.is_some());
                reused += 1;
            }
            RotateOutcome::Invalid => panic!("a parallel rotation returned Invalid"),
        }
    }
    assert_eq!((rotated, reused), (1, 19));
    // One replacement was stored: the family holds the spent token and it.
    assert_eq!(
        store
            .revoke_refresh_family(r.id, t.family_id, at(100))
            .await
            .unwrap(),
        2
    );
}

/// Family revocation counts newly revoked tokens; purge deletes expired ones.
pub async fn refresh_family_revoke_and_purge<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let (b, _ub, sb) = realm_user_session(&*store, "b").await;
    let first = token(&s, 100);
    store.insert_refresh_token(&first).await.unwrap();
    let second = replacement(r.id, at(10), 100);
    let outcome = store
        .rotate_refresh_token(r.id, Some(CLIENT), &first.token_hash, &second, at(10), None)
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)));
    let unrelated = token(&s, 1000);
    store.insert_refresh_token(&unrelated).await.unwrap();
    let other_realm = token(&sb, 50);
    store.insert_refresh_token(&other_realm).await.unwrap();

    // Both tokens of the family (the used one too) become revoked, once.
    assert_eq!(
        store
            .revoke_refresh_family(r.id, first.family_id, at(20))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .revoke_refresh_family(r.id, first.family_id, at(21))
            .await
            .unwrap(),
        0
    );
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &second.token_hash,
            &replacement(r.id, at(22), 100),
            at(22),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);

    // Purge: expiries are first at(100), second at(110), unrelated at(1000),
    // other_realm at(50). Strictly before the cut-off, across realms.
    assert_eq!(store.purge_expired_refresh_tokens(at(50)).await.unwrap(), 0);
    assert_eq!(
        store.purge_expired_refresh_tokens(at(101)).await.unwrap(),
        2
    );
    assert_eq!(
        store.purge_expired_refresh_tokens(at(111)).await.unwrap(),
        1
    );
    assert_eq!(
        store.purge_expired_refresh_tokens(at(111)).await.unwrap(),
        0
    );
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &unrelated.token_hash,
            &replacement(r.id, at(200), 100),
            at(200),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
    let outcome = store
        .rotate_refresh_token(
            b.id,
            Some(CLIENT),
            &other_realm.token_hash,
            &replacement(b.id, at(1), 100),
            at(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
}

/// Rotations racing the revocation of their session neither fail nor leave a
/// live token behind: the session's family ends up fully revoked.
pub async fn rotate_racing_session_revocation<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _s) = realm_user_session(&*store, "acme").await;
    for round in 0..10 {
        let s = session(r.id, u.id, 3600);
        store.create_session(&s).await.unwrap();
        let t = token(&s, 600);
        store.insert_refresh_token(&t).await.unwrap();

        let rotating = {
            let store = store.clone();
            let hash = t.token_hash.clone();
            let realm_id = r.id;
            tokio::spawn(async move {
                let now = at(round);
                store
                    .rotate_refresh_token(
                        realm_id,
                        Some(CLIENT),
                        &hash,
                        &replacement(realm_id, now, 600),
                        now,
                        None,
                    )
                    .await
            })
        };
        let revoking = {
            let store = store.clone();
            let (realm_id, id) = (r.id, s.id);
            tokio::spawn(async move { store.revoke_session(realm_id, id, at(round)).await })
        };
        let outcome = rotating.await.unwrap().unwrap();
        assert_eq!(revoking.await.unwrap().unwrap(), vec![s.id]);
        assert!(
            matches!(outcome, RotateOutcome::Rotated(_) | RotateOutcome::Invalid),
            "{outcome:?}"
        );
        assert_eq!(
            store
                .revoke_refresh_family(r.id, t.family_id, at(1000))
                .await
                .unwrap(),
            0,
            "round {round}: a token of the revoked session is still live"
        );
    }
}

/// A token rotates only for the client it was issued to (`None`: the
/// first-party API): presented by another, used or not, it is `Invalid` and
/// changes nothing; only its own client sees `Reused`.
pub async fn rotate_bound_to_client<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let rotate = |client: Option<&'static str>, hash: Vec<u8>, now| {
        let store = store.clone();
        async move {
            store
                .rotate_refresh_token(
                    r.id,
                    client,
                    &hash,
                    &replacement(r.id, now, 600),
                    now,
                    Some("203.0.113.5"),
                )
                .await
                .unwrap()
        }
    };

    // A client's token.
    let t = token(&s, 600);
    store.insert_refresh_token(&t).await.unwrap();
    for client in [Some("other-app"), Some("WEB-APP"), None] {
        assert_eq!(
            rotate(client, t.token_hash.clone(), at(1)).await,
            RotateOutcome::Invalid,
            "{client:?}"
        );
    }
    assert_eq!(
        store.get_session(r.id, s.id).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.get_refresh_token(r.id, &t.token_hash).await.unwrap(),
        Some(t.clone())
    );
    let RotateOutcome::Rotated(spent) = rotate(Some(CLIENT), t.token_hash.clone(), at(2)).await
    else {
        panic!("the token's own client could not rotate it");
    };
    assert_eq!(spent.client_id.as_deref(), Some(CLIENT));
    assert_eq!(spent.used_at, Some(at(2)));
    // Spent: another client still sees nothing, its own client sees reuse.
    for client in [Some("other-app"), None] {
        assert_eq!(
            rotate(client, t.token_hash.clone(), at(3)).await,
            RotateOutcome::Invalid,
            "{client:?}"
        );
    }
    assert_eq!(
        rotate(Some(CLIENT), t.token_hash.clone(), at(4)).await,
        RotateOutcome::Reused(spent)
    );

    // A first-party token (no client).
    let mut api = token(&s, 600);
    api.client_id = None;
    store.insert_refresh_token(&api).await.unwrap();
    assert_eq!(
        rotate(Some(CLIENT), api.token_hash.clone(), at(5)).await,
        RotateOutcome::Invalid
    );
    let next = replacement(r.id, at(6), 600);
    let outcome = store
        .rotate_refresh_token(r.id, None, &api.token_hash, &next, at(6), None)
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
    // The replacement inherited "no client": it rotates with `None` only.
    assert_eq!(
        store
            .get_refresh_token(r.id, &next.token_hash)
            .await
            .unwrap()
            .unwrap()
            .client_id,
        None
    );
    assert_eq!(
        rotate(Some(CLIENT), next.token_hash.clone(), at(7)).await,
        RotateOutcome::Invalid
    );
    assert!(matches!(
        rotate(None, next.token_hash.clone(), at(8)).await,
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        rotate(Some(CLIENT), api.token_hash.clone(), at(9)).await,
        RotateOutcome::Invalid
    );
    assert!(matches!(
        rotate(None, api.token_hash.clone(), at(9)).await,
        RotateOutcome::Reused(_)
    ));
}

/// A token is found by its digest in its own realm, used or not.
pub async fn refresh_get_by_hash<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    let (b, _ub, _sb) = realm_user_session(&*store, "b").await;
    let t = token(&s, 600);
    store.insert_refresh_token(&t).await.unwrap();
    assert_eq!(
        store.get_refresh_token(r.id, &t.token_hash).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        store.get_refresh_token(b.id, &t.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_refresh_token(r.id, &digest()).await.unwrap(),
        None
    );

    let next = replacement(r.id, at(10), 600);
    store
        .rotate_refresh_token(r.id, Some(CLIENT), &t.token_hash, &next, at(10), None)
        .await
        .unwrap();
    store
        .revoke_refresh_family(r.id, t.family_id, at(20))
        .await
        .unwrap();
    let spent = store
        .get_refresh_token(r.id, &t.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.used_at, Some(at(10)));
    assert_eq!(spent.revoked_at, Some(at(20)));
    let stored = store
        .get_refresh_token(r.id, &next.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, next.id);
    assert_eq!(stored.family_id, t.family_id);
    assert_eq!(stored.session_id, s.id);
    assert_eq!(stored.client_id.as_deref(), Some(CLIENT));
    assert_eq!(stored.scope, t.scope);
    assert_eq!(stored.created_at, at(10));
    assert_eq!(stored.expires_at, at(610));
    assert_eq!(stored.used_at, None);
    assert_eq!(stored.revoked_at, Some(at(20)));
}
