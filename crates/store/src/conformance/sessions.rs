//! Sessions.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::RotateOutcome;
use portcullis_core::ports::Store;
use uuid::Uuid;

use super::{
    CLIENT, T0, at, client_session, digest, realm_user_session, replacement, session, token, user,
};

/// Sessions round-trip exactly, with and without optional fields.
pub async fn session_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, s) = realm_user_session(&*store, "acme").await;
    assert_eq!(
        store.get_session(r.id, s.id).await.unwrap(),
        Some(s.clone())
    );
    let mut bare = session(r.id, u.id, 60);
    bare.ip = None;
    bare.user_agent = None;
    bare.device = None;
    bare.revoked_at = Some(at(1));
    store.create_session(&bare).await.unwrap();
    assert_eq!(store.get_session(r.id, bare.id).await.unwrap(), Some(bare));
    assert_eq!(store.get_session(r.id, Uuid::now_v7()).await.unwrap(), None);
    // A session needs an existing user of its own realm.
    assert!(
        store
            .create_session(&session(r.id, Uuid::now_v7(), 60))
            .await
            .is_err()
    );
}

/// Active sessions are unrevoked and unexpired, newest first, of one user.
pub async fn session_list_active<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, first) = realm_user_session(&*store, "acme").await;
    let mut second = session(r.id, u.id, 7200);
    second.created_at = at(10);
    store.create_session(&second).await.unwrap();
    let mut revoked = session(r.id, u.id, 7200);
    revoked.created_at = at(20);
    store.create_session(&revoked).await.unwrap();
    store
        .revoke_session(r.id, revoked.id, at(30))
        .await
        .unwrap();
    let mut short = session(r.id, u.id, 100);
    short.created_at = at(40);
    store.create_session(&short).await.unwrap();
    let other = user(r.id, "other@example.com");
    store.create_user(&other).await.unwrap();
    store
        .create_session(&session(r.id, other.id, 7200))
        .await
        .unwrap();

    let ids =
        |v: Vec<portcullis_core::model::Session>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let active = store
        .list_active_sessions(r.id, u.id, at(50))
        .await
        .unwrap();
    assert_eq!(ids(active), vec![short.id, second.id, first.id]);
    // `short` expires at exactly at(100): not active at that instant.
    let later = store
        .list_active_sessions(r.id, u.id, at(100))
        .await
        .unwrap();
    assert_eq!(ids(later), vec![second.id, first.id]);
    let listed = store
        .list_active_sessions(r.id, u.id, at(50))
        .await
        .unwrap();
    assert_eq!(listed[2], first);
}

/// Touching records the time and, when known, the IP.
pub async fn session_touch<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _u, s) = realm_user_session(&*store, "acme").await;
    store
        .touch_session(r.id, s.id, at(5), Some("2001:db8::1"))
        .await
        .unwrap();
    let touched = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, at(5));
    assert_eq!(touched.ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(touched.created_at, s.created_at);
    assert_eq!(touched.expires_at, s.expires_at);

    // Without an IP the last known one is kept.
    store.touch_session(r.id, s.id, at(6), None).await.unwrap();
    let touched = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, at(6));
    assert_eq!(touched.ip.as_deref(), Some("2001:db8::1"));

    // Unknown sessions are ignored.
    store
        .touch_session(r.id, Uuid::now_v7(), at(7), None)
        .await
        .unwrap();
}

/// Revoking a session revokes its refresh tokens, once.
pub async fn session_revoke_cascades_to_tokens<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, s) = realm_user_session(&*store, "acme").await;
    let t1 = token(&s, 600);
    let t2 = token(&s, 600);
    store.insert_refresh_token(&t1).await.unwrap();
    store.insert_refresh_token(&t2).await.unwrap();
    let other = session(r.id, u.id, 3600);
    store.create_session(&other).await.unwrap();
    let other_token = token(&other, 600);
    store.insert_refresh_token(&other_token).await.unwrap();

    assert_eq!(
        store.revoke_session(r.id, s.id, at(10)).await.unwrap(),
        vec![s.id]
    );
    assert!(
        store
            .revoke_session(r.id, s.id, at(20))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .revoke_session(r.id, Uuid::now_v7(), at(20))
            .await
            .unwrap()
            .is_empty()
    );
    let revoked = store.get_session(r.id, s.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(10)));

    // The session's tokens are already revoked: nothing left to revoke.
    assert_eq!(
        store
            .revoke_refresh_family(r.id, t1.family_id, at(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .revoke_refresh_family(r.id, t2.family_id, at(30))
            .await
            .unwrap(),
        0
    );
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &t1.token_hash,
            &replacement(r.id, at(11), 600),
            at(11),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);

    // The other session and its token are untouched.
    let kept = store.get_session(r.id, other.id).await.unwrap().unwrap();
    assert_eq!(kept.revoked_at, None);
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &other_token.token_hash,
            &replacement(r.id, at(12), 600),
            at(12),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
}

/// Revoking a user's sessions spares `keep`, skips revoked ones and returns the ids.
pub async fn session_revoke_user_sessions<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, s1) = realm_user_session(&*store, "acme").await;
    let s2 = session(r.id, u.id, 3600);
    let s3 = session(r.id, u.id, 3600);
    let already = session(r.id, u.id, 3600);
    for s in [&s2, &s3, &already] {
        store.create_session(s).await.unwrap();
    }
    store.revoke_session(r.id, already.id, at(1)).await.unwrap();
    let other = user(r.id, "other@example.com");
    store.create_user(&other).await.unwrap();
    let other_session = session(r.id, other.id, 3600);
    store.create_session(&other_session).await.unwrap();
    let tokens: Vec<_> = [&s1, &s2, &s3].iter().map(|s| token(s, 600)).collect();
    for t in &tokens {
        store.insert_refresh_token(t).await.unwrap();
    }

    let mut revoked = store
        .revoke_user_sessions(r.id, u.id, Some(s2.id), at(10))
        .await
        .unwrap();
    revoked.sort();
    let mut expected = vec![s1.id, s3.id];
    expected.sort();
    assert_eq!(revoked, expected);
    for id in [s1.id, s3.id] {
        let s = store.get_session(r.id, id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(at(10)));
    }
    let already_now = store.get_session(r.id, already.id).await.unwrap().unwrap();
    assert_eq!(already_now.revoked_at, Some(at(1)));
    assert_eq!(
        store
            .get_session(r.id, s2.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(
        store
            .get_session(r.id, other_session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    // Tokens of revoked sessions are revoked; the kept session's token is not.
    assert_eq!(
        store
            .revoke_refresh_family(r.id, tokens[0].family_id, at(20))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .revoke_refresh_family(r.id, tokens[2].family_id, at(20))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .revoke_refresh_family(r.id, tokens[1].family_id, at(20))
            .await
            .unwrap(),
        1
    );

    // Without `keep` the rest goes too; a second call finds nothing.
    assert_eq!(
        store
            .revoke_user_sessions(r.id, u.id, None, at(30))
            .await
            .unwrap(),
        vec![s2.id]
    );
    assert!(
        store
            .revoke_user_sessions(r.id, u.id, None, at(40))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Revoked-since lists (realm, session) of every realm; the active count spans realms.
pub async fn sessions_revoked_since_and_count_active<S: Store + ?Sized>(store: Arc<S>) {
    let (a, ua, a1) = realm_user_session(&*store, "a").await;
    let (b, _ub, b1) = realm_user_session(&*store, "b").await;
    let a2 = session(a.id, ua.id, 3600);
    let a3 = session(a.id, ua.id, 30);
    store.create_session(&a2).await.unwrap();
    store.create_session(&a3).await.unwrap();
    assert_eq!(store.count_active_sessions(T0).await.unwrap(), 4);
    assert_eq!(store.count_active_sessions(at(30)).await.unwrap(), 3);
    assert_eq!(store.count_active_sessions(at(3600)).await.unwrap(), 0);

    store.revoke_session(a.id, a1.id, at(10)).await.unwrap();
    store.revoke_session(b.id, b1.id, at(20)).await.unwrap();
    assert_eq!(store.count_active_sessions(T0).await.unwrap(), 2);

    let mut since = store.sessions_revoked_since(at(10)).await.unwrap();
    since.sort();
    let mut expected = vec![(a.id, a1.id), (b.id, b1.id)];
    expected.sort();
    assert_eq!(since, expected);
    assert_eq!(
        store.sessions_revoked_since(at(11)).await.unwrap(),
        vec![(b.id, b1.id)]
    );
    assert!(
        store
            .sessions_revoked_since(at(21))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Every session method is confined to its realm.
pub async fn session_tenant_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let (a, _ua, _sa) = realm_user_session(&*store, "a").await;
    let (b, ub, sb) = realm_user_session(&*store, "b").await;
    let tb = token(&sb, 600);
    store.insert_refresh_token(&tb).await.unwrap();

    assert_eq!(store.get_session(a.id, sb.id).await.unwrap(), None);
    assert!(
        store
            .list_active_sessions(a.id, ub.id, T0)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .touch_session(a.id, sb.id, at(5), Some("203.0.113.9"))
        .await
        .unwrap();
    assert!(
        store
            .revoke_session(a.id, sb.id, at(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .revoke_user_sessions(a.id, ub.id, None, at(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_session(b.id, sb.id).await.unwrap(),
        Some(sb.clone())
    );

    // A session cannot point at a user of another realm.
    let mut cross = session(a.id, ub.id, 60);
    cross.realm_id = a.id;
    assert!(store.create_session(&cross).await.is_err());
    // Nor a token at a session of another realm.
    let mut cross_token = token(&sb, 600);
    cross_token.realm_id = a.id;
    assert!(store.insert_refresh_token(&cross_token).await.is_err());
    // b's token still works.
    let outcome = store
        .rotate_refresh_token(
            b.id,
            Some(CLIENT),
            &tb.token_hash,
            &replacement(b.id, at(6), 600),
            at(6),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
}

/// The OpenID Provider's fields round-trip; a browser session is found by
/// its cookie digest, revoked or not, in its own realm only; a digest is
/// unique per realm.
pub async fn session_oidc_fields_and_secret_lookup<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, browser) = realm_user_session(&*store, "acme").await;
    let (b, ub, _sb) = realm_user_session(&*store, "b").await;
    let mut sso = session(r.id, u.id, 3600);
    sso.auth_time = at(-90);
    sso.amr = vec!["pwd".to_owned(), "otp".to_owned()];
    sso.secret_hash = Some(digest());
    store.create_session(&sso).await.unwrap();
    assert_eq!(
        store.get_session(r.id, sso.id).await.unwrap(),
        Some(sso.clone())
    );
    let mut child = client_session(&sso, "web");
    child.amr = Vec::new();
    store.create_session(&child).await.unwrap();
    assert_eq!(
        store.get_session(r.id, child.id).await.unwrap(),
        Some(child.clone())
    );
    let listed = store.list_active_sessions(r.id, u.id, T0).await.unwrap();
    assert!(listed.contains(&child) && listed.contains(&sso) && listed.contains(&browser));

    let secret = sso.secret_hash.clone().unwrap();
    assert_eq!(
        store.get_session_by_secret(r.id, &secret).await.unwrap(),
        Some(sso.clone())
    );
    assert_eq!(
        store.get_session_by_secret(b.id, &secret).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_session_by_secret(r.id, &digest()).await.unwrap(),
        None
    );
    store.revoke_session(r.id, sso.id, at(5)).await.unwrap();
    let found = store
        .get_session_by_secret(r.id, &secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.revoked_at, Some(at(5)));

    // The same digest twice in a realm is refused; in another realm it is
    // another session.
    let mut clash = session(r.id, u.id, 3600);
    clash.secret_hash = Some(secret.clone());
    assert!(matches!(
        store.create_session(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    let mut elsewhere = session(b.id, ub.id, 3600);
    elsewhere.secret_hash = Some(secret.clone());
    store.create_session(&elsewhere).await.unwrap();
    assert_eq!(
        store.get_session_by_secret(b.id, &secret).await.unwrap(),
        Some(elsewhere)
    );
}

/// Revoking a browser session revokes its unrevoked client sessions and
/// every refresh token in them, and returns their ids; revoking a client
/// session alone leaves its parent and siblings.
pub async fn session_revoke_ends_client_sessions<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, browser) = realm_user_session(&*store, "acme").await;
    let (b, _ub, sb) = realm_user_session(&*store, "b").await;
    let c1 = client_session(&browser, "web");
    let c2 = client_session(&browser, "cli");
    let c3 = client_session(&browser, "web");
    let ended_before = client_session(&browser, "web");
    let other_browser = session(r.id, u.id, 3600);
    store.create_session(&other_browser).await.unwrap();
    let unrelated = client_session(&other_browser, "web");
    for s in [&c1, &c2, &c3, &ended_before, &unrelated] {
        store.create_session(s).await.unwrap();
    }
    assert_eq!(
        store
            .revoke_session(r.id, ended_before.id, at(1))
            .await
            .unwrap(),
        vec![ended_before.id]
    );
    let tokens: Vec<_> = [&browser, &c1, &c2, &c3, &unrelated]
        .into_iter()
        .map(|s| token(s, 600))
        .collect();
    for t in &tokens {
        store.insert_refresh_token(t).await.unwrap();
    }

    // A client session alone.
    assert_eq!(
        store.revoke_session(r.id, c3.id, at(5)).await.unwrap(),
        vec![c3.id]
    );
    assert_eq!(
        store
            .get_session(r.id, browser.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );

    // Another realm cannot reach them.
    assert!(
        store
            .revoke_session(b.id, browser.id, at(8))
            .await
            .unwrap()
            .is_empty()
    );
    // The browser session: it comes first, then its live children.
    let revoked = store
        .revoke_session(r.id, browser.id, at(10))
        .await
        .unwrap();
    assert_eq!(revoked.first(), Some(&browser.id));
    let mut sorted = revoked.clone();
    sorted.sort();
    let mut expected = vec![browser.id, c1.id, c2.id];
    expected.sort();
    assert_eq!(sorted, expected);
    for (id, when) in [
        (browser.id, at(10)),
        (c1.id, at(10)),
        (c2.id, at(10)),
        (c3.id, at(5)),
        (ended_before.id, at(1)),
    ] {
        let s = store.get_session(r.id, id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, Some(when));
    }
    // Their tokens are revoked; the other browser's client session keeps its.
    for t in &tokens[..4] {
        assert_eq!(
            store
                .revoke_refresh_family(r.id, t.family_id, at(20))
                .await
                .unwrap(),
            0
        );
    }
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some(CLIENT),
            &tokens[4].token_hash,
            &replacement(r.id, at(21), 600),
            at(21),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
    assert!(
        store
            .revoke_session(r.id, browser.id, at(30))
            .await
            .unwrap()
            .is_empty()
    );
    // The other realm's session was never touched.
    assert_eq!(
        store
            .get_session(b.id, sb.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}
