//! Realms and users.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::{
    Email, RealmName, RotateOutcome, SigningAlgorithm, TimeZone, UserQuery,
};
use portcullis_core::ports::Store;
use uuid::Uuid;

use super::{
    CLIENT, T0, at, realm, realm_user_session, replacement, session, signing_key, token, user,
};

/// Realms round-trip exactly, are found by id and name, and list by name.
pub async fn realm_create_get_list<S: Store + ?Sized>(store: Arc<S>) {
    let beta = realm("beta");
    let alpha = realm("alpha");
    store.create_realm(&beta).await.unwrap();
    store.create_realm(&alpha).await.unwrap();

    assert_eq!(
        store.get_realm(alpha.id).await.unwrap(),
        Some(alpha.clone())
    );
    let by_name = store
        .get_realm_by_name(&RealmName::parse("beta").unwrap())
        .await
        .unwrap();
    assert_eq!(by_name, Some(beta.clone()));
    assert_eq!(store.get_realm(Uuid::now_v7()).await.unwrap(), None);
    let missing = RealmName::parse("gamma").unwrap();
    assert_eq!(store.get_realm_by_name(&missing).await.unwrap(), None);
    assert_eq!(store.list_realms().await.unwrap(), vec![alpha, beta]);
}

/// A realm name can be used once.
pub async fn realm_duplicate_name_conflicts<S: Store + ?Sized>(store: Arc<S>) {
    store.create_realm(&realm("acme")).await.unwrap();
    let err = store.create_realm(&realm("acme")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.list_realms().await.unwrap().len(), 1);
}

/// Update changes the mutable settings only; a missing realm is `NotFound`.
pub async fn realm_update<S: Store + ?Sized>(store: Arc<S>) {
    let original = realm("acme");
    store.create_realm(&original).await.unwrap();
    let mut changed = original.clone();
    changed.display_name = "ACME Corp".to_owned();
    changed.enabled = false;
    changed.signing_alg = SigningAlgorithm::RS256;
    changed.password_min_length = 16;
    changed.updated_at = at(60);
    // Neither the name nor the creation time are updated.
    changed.time_zone = TimeZone::parse("Europe/Paris").unwrap();
    changed.roles_claim = false;
    changed.name = RealmName::parse("renamed").unwrap();
    changed.created_at = at(-60);
    store.update_realm(&changed).await.unwrap();

    let stored = store.get_realm(original.id).await.unwrap().unwrap();
    assert_eq!(stored.display_name, "ACME Corp");
    assert!(!stored.enabled);
    assert_eq!(stored.signing_alg, SigningAlgorithm::RS256);
    assert_eq!(stored.password_min_length, 16);
    assert_eq!(stored.time_zone.as_str(), "Europe/Paris");
    assert!(!stored.roles_claim);
    assert_eq!(stored.updated_at, at(60));
    assert_eq!(stored.name, original.name);
    assert_eq!(stored.created_at, original.created_at);

    let err = store.update_realm(&realm("ghost")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// Deleting a realm deletes everything it owns, and nothing of other realms.
pub async fn realm_delete_cascades<S: Store + ?Sized>(store: Arc<S>) {
    let (doomed, doomed_user, doomed_session) = realm_user_session(&*store, "doomed").await;
    let (kept, kept_user, kept_session) = realm_user_session(&*store, "kept").await;
    for (r, s) in [(&doomed, &doomed_session), (&kept, &kept_session)] {
        let t = token(s, 600);
        store.insert_refresh_token(&t).await.unwrap();
        store
            .insert_signing_key(&signing_key(r.id, SigningAlgorithm::EdDSA, T0))
            .await
            .unwrap();
        store
            .insert_revoked_token(r.id, Uuid::now_v7(), at(600), T0)
            .await
            .unwrap();
        store
            .record_login_failure(r.id, "ip:192.0.2.1", T0)
            .await
            .unwrap();
    }
    let doomed_token = token(&doomed_session, 600);
    store.insert_refresh_token(&doomed_token).await.unwrap();

    assert!(store.delete_realm(doomed.id).await.unwrap());
    assert!(!store.delete_realm(doomed.id).await.unwrap());

    assert_eq!(store.get_realm(doomed.id).await.unwrap(), None);
    assert_eq!(
        store.get_user(doomed.id, doomed_user.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_session(doomed.id, doomed_session.id)
            .await
            .unwrap(),
        None
    );
    assert!(store.list_signing_keys(doomed.id).await.unwrap().is_empty());
    let since = store
        .login_failures_since(doomed.id, "ip:192.0.2.1", at(-1))
        .await
        .unwrap();
    assert!(since.is_empty());
    let outcome = store
        .rotate_refresh_token(
            doomed.id,
            Some(CLIENT),
            &doomed_token.token_hash,
            &replacement(doomed.id, at(1), 600),
            at(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
    let revoked = store.list_revoked_tokens(T0).await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].0, kept.id);
    assert_eq!(store.count_active_sessions(T0).await.unwrap(), 1);

    // The other realm is intact.
    assert!(
        store
            .get_user(kept.id, kept_user.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_session(kept.id, kept_session.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.list_signing_keys(kept.id).await.unwrap().len(), 1);
    let kept_failures = store
        .login_failures_since(kept.id, "ip:192.0.2.1", at(-1))
        .await
        .unwrap();
    assert_eq!(kept_failures, vec![T0]);
}

/// Users round-trip exactly and are found by email case-insensitively.
pub async fn user_round_trip_and_email_lookup<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let mut alice = user(r.id, "Alice.Smith@Example.com");
    alice.last_login_at = Some(at(5));
    alice.attributes = serde_json::json!({"department": "finance", "level": 3, "tags": ["a"]})
        .as_object()
        .unwrap()
        .clone();
    // A user created with attributes changes what conditions see.
    assert_eq!(store.authz_revision(r.id).await.unwrap(), 0);
    store.create_user(&alice).await.unwrap();
    assert_eq!(store.authz_revision(r.id).await.unwrap(), 1);
    let mut bare = user(r.id, "bare@example.com");
    bare.name = None;
    bare.password_hash = None;
    bare.active = false;
    store.create_user(&bare).await.unwrap();

    assert_eq!(
        store.get_user(r.id, alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.get_user(r.id, bare.id).await.unwrap(),
        Some(bare.clone())
    );
    let found = store
        .get_user_by_email(r.id, &Email::parse("alice.smith@EXAMPLE.COM").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, alice);
    assert_eq!(found.email.as_str(), "Alice.Smith@example.com");
    let unknown = Email::parse("nobody@example.com").unwrap();
    assert_eq!(store.get_user_by_email(r.id, &unknown).await.unwrap(), None);
    assert_eq!(store.get_user(r.id, Uuid::now_v7()).await.unwrap(), None);
}

/// An email is unique per realm regardless of case, but may repeat across realms.
pub async fn user_duplicate_email_conflicts<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    store
        .create_user(&user(a.id, "Alice@example.com"))
        .await
        .unwrap();
    let err = store
        .create_user(&user(a.id, "aLiCe@EXAMPLE.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    store
        .create_user(&user(b.id, "alice@example.com"))
        .await
        .unwrap();
    // A user cannot be created in a realm that does not exist.
    assert!(
        store
            .create_user(&user(Uuid::now_v7(), "x@example.com"))
            .await
            .is_err()
    );
}

/// Update writes every mutable field; duplicates conflict; missing is `NotFound`.
pub async fn user_update<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let alice = user(r.id, "alice@example.com");
    let bob = user(r.id, "bob@example.com");
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();

    let mut changed = alice.clone();
    changed.email = Email::parse("Alice.New@example.com").unwrap();
    changed.name = None;
    changed.password_hash = Some("$argon2id$v=19$new".to_owned());
    changed.active = false;
    changed.updated_at = at(30);
    changed.last_login_at = Some(at(20));
    store.update_user(&changed).await.unwrap();
    assert_eq!(
        store.get_user(r.id, alice.id).await.unwrap(),
        Some(changed.clone())
    );
    let by_new = Email::parse("alice.new@example.com").unwrap();
    let found = store.get_user_by_email(r.id, &by_new).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(alice.id));
    let by_old = Email::parse("alice@example.com").unwrap();
    assert_eq!(store.get_user_by_email(r.id, &by_old).await.unwrap(), None);

    let mut clash = bob.clone();
    clash.email = Email::parse("ALICE.NEW@example.com").unwrap();
    let err = store.update_user(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.get_user(r.id, bob.id).await.unwrap(), Some(bob));

    let err = store
        .update_user(&user(r.id, "ghost@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// Deleting a user deletes its sessions and refresh tokens.
pub async fn user_delete_cascades<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, s) = realm_user_session(&*store, "acme").await;
    let t = token(&s, 600);
    store.insert_refresh_token(&t).await.unwrap();
    let other = user(r.id, "other@example.com");
    store.create_user(&other).await.unwrap();
    let other_session = session(r.id, other.id, 3600);
    store.create_session(&other_session).await.unwrap();

    assert!(store.delete_user(r.id, u.id).await.unwrap());
    assert!(!store.delete_user(r.id, u.id).await.unwrap());
    assert_eq!(store.get_user(r.id, u.id).await.unwrap(), None);
    assert_eq!(store.get_session(r.id, s.id).await.unwrap(), None);
    assert_eq!(
        store
            .revoke_refresh_family(r.id, t.family_id, at(1))
            .await
            .unwrap(),
        0
    );
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &t.token_hash,
            &replacement(r.id, at(1), 600),
            at(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(
        store
            .get_session(r.id, other_session.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.count_active_sessions(T0).await.unwrap(), 1);
}

/// Listing orders by id, paginates, filters by canonical email prefix and counts.
pub async fn user_list_pagination_and_prefix<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    let noise = realm("noise");
    store.create_realm(&r).await.unwrap();
    store.create_realm(&noise).await.unwrap();
    let emails = [
        "Alice@example.com",
        "alfred@example.com",
        "bob@example.com",
        "al_x@example.com",
        "carol@example.com",
    ];
    let mut ids = Vec::new();
    for e in emails {
        let u = user(r.id, e);
        store.create_user(&u).await.unwrap();
        ids.push(u.id);
    }
    store
        .create_user(&user(noise.id, "alan@example.com"))
        .await
        .unwrap();

    let page = |offset, limit, prefix: Option<&str>| UserQuery {
        email_prefix: prefix.map(str::to_owned),
        offset,
        limit,
    };
    let all = store.list_users(r.id, &page(0, 100, None)).await.unwrap();
    assert_eq!(all.total, 5);
    assert_eq!(all.items.iter().map(|u| u.id).collect::<Vec<_>>(), ids);

    let second = store.list_users(r.id, &page(2, 2, None)).await.unwrap();
    assert_eq!(second.total, 5);
    assert_eq!(
        second.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        ids[2..4].to_vec()
    );
    let past_end = store.list_users(r.id, &page(10, 5, None)).await.unwrap();
    assert!(past_end.items.is_empty());
    assert_eq!(past_end.total, 5);

    // Prefix match on the canonical (lower-cased) address.
    let al = store
        .list_users(r.id, &page(0, 100, Some("al")))
        .await
        .unwrap();
    assert_eq!(al.total, 3);
    let mut got: Vec<_> = al.items.iter().map(|u| u.email.canonical()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "al_x@example.com",
            "alfred@example.com",
            "alice@example.com"
        ]
    );
    let al_page = store
        .list_users(r.id, &page(1, 1, Some("al")))
        .await
        .unwrap();
    assert_eq!(al_page.total, 3);
    assert_eq!(al_page.items.len(), 1);
    // `_` and `%` are literal, not wildcards.
    let underscore = store
        .list_users(r.id, &page(0, 100, Some("al_")))
        .await
        .unwrap();
    assert_eq!(underscore.total, 1);
    assert_eq!(underscore.items[0].email.as_str(), "al_x@example.com");
    let percent = store
        .list_users(r.id, &page(0, 100, Some("%")))
        .await
        .unwrap();
    assert_eq!(percent.total, 0);
    let none = store
        .list_users(r.id, &page(0, 100, Some("zed")))
        .await
        .unwrap();
    assert_eq!((none.total, none.items.len()), (0, 0));
}

/// Every user method is confined to its realm.
pub async fn user_tenant_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let in_b = user(b.id, "bob@example.com");
    store.create_user(&in_b).await.unwrap();

    assert_eq!(store.get_user(a.id, in_b.id).await.unwrap(), None);
    assert_eq!(
        store.get_user_by_email(a.id, &in_b.email).await.unwrap(),
        None
    );
    let listed = store
        .list_users(
            a.id,
            &UserQuery {
                email_prefix: None,
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((listed.total, listed.items.len()), (0, 0));

    let mut hijack = in_b.clone();
    hijack.realm_id = a.id;
    hijack.active = false;
    let err = store.update_user(&hijack).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert!(!store.delete_user(a.id, in_b.id).await.unwrap());
    assert_eq!(store.get_user(b.id, in_b.id).await.unwrap(), Some(in_b));
}
