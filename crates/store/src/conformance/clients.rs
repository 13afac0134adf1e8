//! OAuth clients: round trip, uniqueness per realm, update, delete, tenant
//! isolation, cascade with the realm, and what deleting a client ends.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::clients::{AuthMethod, ClientType, GrantType, OAuthClient};
use portcullis_core::model::{CodeOutcome, RotateOutcome, SigningAlgorithm, new_id};
use portcullis_core::ports::Store;
use serde_json::json;

use super::{
    CLIENT, T0, at, auth_code, client, client_session, consent, realm, realm_user_session,
    replacement, token,
};

/// A client round-trips exactly; `client_id` is unique per realm only; a
/// realm sees only its own clients, listed by `client_id`.
pub async fn clients_round_trip_and_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let web = client(a.id, "web");
    store.create_client(&web).await.unwrap();
    assert_eq!(
        store.get_client(a.id, "web").await.unwrap(),
        Some(web.clone())
    );
    assert_eq!(store.get_client(b.id, "web").await.unwrap(), None);
    assert_eq!(store.get_client(a.id, "WEB").await.unwrap(), None);

    let again = client(a.id, "web");
    assert!(matches!(
        store.create_client(&again).await,
        Err(StoreError::Conflict(_))
    ));
    // The same client_id in another realm is another client.
    let other = OAuthClient {
        client_type: ClientType::Public,
        auth_method: AuthMethod::None,
        secret_hash: None,
        jwks: Some(json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc"}]})),
        access_token_ttl: None,
        refresh_token_ttl: Some(86_400),
        require_consent: true,
        enabled: false,
        id_token_alg: SigningAlgorithm::EdDSA,
        grant_types: vec![GrantType::AuthorizationCode],
        ..client(b.id, "web")
    };
    store.create_client(&other).await.unwrap();
    assert_eq!(
        store.get_client(b.id, "web").await.unwrap(),
        Some(other.clone())
    );
    let machine = OAuthClient {
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        ..client(a.id, "a-machine")
    };
    store.create_client(&machine).await.unwrap();
    assert_eq!(
        store.list_clients(a.id).await.unwrap(),
        vec![machine.clone(), web.clone()]
    );
    assert_eq!(store.list_clients(b.id).await.unwrap(), vec![other]);

    // A client of a realm that does not exist.
    assert!(matches!(
        store.create_client(&client(new_id(), "ghost")).await,
        Err(StoreError::NotFound)
    ));
}

/// Updates change every mutable field and nothing else; updates and
/// deletes address a client within its realm only; deleting the realm
/// deletes its clients.
pub async fn clients_update_delete_cascade<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let web = client(a.id, "web");
    store.create_client(&web).await.unwrap();

    let changed = OAuthClient {
        name: "Renamed".to_owned(),
        links: portcullis_core::clients::ClientLinks {
            logo_uri: Some("https://cdn.example.com/logo.png".to_owned()),
            policy_uri: Some("https://example.com/privacy".to_owned()),
            tos_uri: None,
        },
        auth_method: AuthMethod::PrivateKeyJwt,
        secret_hash: None,
        redirect_uris: vec!["com.example.app:/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
        scopes: vec!["openid".to_owned(), "orders:read".to_owned()],
        id_token_alg: SigningAlgorithm::ES256,
        jwks: Some(json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]})),
        access_token_ttl: None,
        refresh_token_ttl: Some(3600),
        require_consent: true,
        enabled: false,
        updated_at: at(60),
        ..web.clone()
    };
    store.update_client(&changed).await.unwrap();
    assert_eq!(
        store.get_client(a.id, "web").await.unwrap(),
        Some(changed.clone())
    );
    // Neither the realm, the client_id nor the creation time move.
    let moved = OAuthClient {
        realm_id: b.id,
        ..changed.clone()
    };
    assert!(matches!(
        store.update_client(&moved).await,
        Err(StoreError::NotFound)
    ));
    let renamed_id = OAuthClient {
        client_id: "other".to_owned(),
        created_at: at(99),
        ..changed.clone()
    };
    store.update_client(&renamed_id).await.unwrap();
    let stored = store.get_client(a.id, "web").await.unwrap().unwrap();
    assert_eq!(stored.client_id, "web");
    assert_eq!(stored.created_at, T0);
    assert!(
        store
            .update_client(&client(a.id, "never-created"))
            .await
            .is_err()
    );

    assert_eq!(
        store.delete_client(b.id, web.id, at(1)).await.unwrap(),
        None
    );
    assert_eq!(
        store.delete_client(a.id, web.id, at(1)).await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        store.delete_client(a.id, web.id, at(1)).await.unwrap(),
        None
    );
    assert_eq!(store.get_client(a.id, "web").await.unwrap(), None);

    store.create_client(&client(b.id, "x")).await.unwrap();
    assert!(store.delete_realm(b.id).await.unwrap());
    assert!(store.list_clients(b.id).await.unwrap().is_empty());
}

/// Deleting a client ends its client sessions (with their refresh tokens)
/// and deletes its consents and codes, in its realm only; other clients,
/// browser sessions and a later client of the same `client_id` are not
/// affected.
pub async fn clients_delete_ends_sessions_consents_codes<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, browser) = realm_user_session(&*store, "acme").await;
    let (b, ub, sb) = realm_user_session(&*store, "b").await;
    let web = client(r.id, "web");
    let other = client(r.id, "other");
    let web_b = client(b.id, "web");
    for c in [&web, &other, &web_b] {
        store.create_client(c).await.unwrap();
    }
    let web_session = client_session(&browser, "web");
    let other_session = client_session(&browser, "other");
    let web_session_b = client_session(&sb, "web");
    let mut web_token = token(&web_session, 600);
    web_token.client_id = Some("web".to_owned());
    let mut other_token = token(&other_session, 600);
    other_token.client_id = Some("other".to_owned());
    let browser_token = token(&browser, 600);
    for s in [&web_session, &other_session, &web_session_b] {
        store.create_session(s).await.unwrap();
    }
    for t in [&web_token, &other_token, &browser_token] {
        store.insert_refresh_token(t).await.unwrap();
    }
    let web_code = auth_code(&browser, "web");
    let other_code = auth_code(&browser, "other");
    let web_code_b = auth_code(&sb, "web");
    for c in [&web_code, &other_code, &web_code_b] {
        store.insert_auth_code(c).await.unwrap();
    }
    for (realm_id, user_id, client_id) in [
        (r.id, u.id, "web"),
        (r.id, u.id, "other"),
        (b.id, ub.id, "web"),
    ] {
        store
            .put_consent(&consent(realm_id, user_id, client_id))
            .await
            .unwrap();
    }

    assert_eq!(
        store.delete_client(r.id, web.id, at(1)).await.unwrap(),
        Some(vec![web_session.id])
    );

    // Its client session and its token are revoked.
    let ended = store
        .get_session(r.id, web_session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.revoked_at, Some(at(1)));
    let outcome = store
        .rotate_refresh_token(
            r.id,
            Some("web"),
            &web_token.token_hash,
            &replacement(r.id, at(1), 600),
            at(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert!(
        store
            .get_refresh_token(r.id, &web_token.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // Its consents and codes are gone.
    assert_eq!(store.get_consent(r.id, u.id, "web").await.unwrap(), None);
    assert_eq!(
        store
            .consume_auth_code(r.id, &web_code.code_hash, new_id(), at(1))
            .await
            .unwrap(),
        CodeOutcome::Invalid
    );
    // A new client with the same client_id inherits nothing.
    store.create_client(&client(r.id, "web")).await.unwrap();
    assert_eq!(store.get_consent(r.id, u.id, "web").await.unwrap(), None);
    assert!(
        store
            .get_session(r.id, web_session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );

    // The rest is untouched: the browser session and the other client in
    // this realm, the same client_id in the other realm.
    for (realm_id, id) in [
        (r.id, browser.id),
        (r.id, other_session.id),
        (b.id, web_session_b.id),
    ] {
        let s = store.get_session(realm_id, id).await.unwrap().unwrap();
        assert_eq!(s.revoked_at, None);
    }
    for (client_id, t) in [
        (Some("other"), &other_token),
        (Some(CLIENT), &browser_token),
    ] {
        let outcome = store
            .rotate_refresh_token(
                r.id,
                client_id,
                &t.token_hash,
                &replacement(r.id, at(2), 600),
                at(2),
                None,
            )
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
    }
    assert!(
        store
            .get_consent(r.id, u.id, "other")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_consent(b.id, ub.id, "web")
            .await
            .unwrap()
            .is_some()
    );
    for (realm_id, code) in [(r.id, &other_code), (b.id, &web_code_b)] {
        let outcome = store
            .consume_auth_code(realm_id, &code.code_hash, new_id(), at(3))
            .await
            .unwrap();
        assert!(matches!(outcome, CodeOutcome::Consumed(_)), "{outcome:?}");
    }
}
