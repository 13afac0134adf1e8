//! OAuth clients: round trip, uniqueness per realm, update, delete, tenant
//! isolation and cascade with the realm.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::clients::{AuthMethod, ClientType, GrantType, OAuthClient};
use portcullis_core::model::SigningAlgorithm;
use portcullis_core::model::new_id;
use portcullis_core::ports::Store;
use serde_json::json;
use uuid::Uuid;

use super::{T0, at, realm};

fn client(realm_id: Uuid, client_id: &str) -> OAuthClient {
    OAuthClient {
        id: new_id(),
        realm_id,
        client_id: client_id.to_owned(),
        name: format!("App {client_id}"),
        client_type: ClientType::Confidential,
        auth_method: AuthMethod::ClientSecretBasic,
        secret_hash: Some(vec![7; 32]),
        redirect_uris: vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1:8080/cb".to_owned(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".to_owned()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".to_owned(), "profile".to_owned()],
        id_token_alg: SigningAlgorithm::RS256,
        jwks: None,
        access_token_ttl: Some(600),
        refresh_token_ttl: None,
        require_consent: false,
        enabled: true,
        created_at: T0,
        updated_at: T0,
    }
}

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

    assert!(!store.delete_client(b.id, web.id).await.unwrap());
    assert!(store.delete_client(a.id, web.id).await.unwrap());
    assert!(!store.delete_client(a.id, web.id).await.unwrap());
    assert_eq!(store.get_client(a.id, "web").await.unwrap(), None);

    store.create_client(&client(b.id, "x")).await.unwrap();
    assert!(store.delete_realm(b.id).await.unwrap());
    assert!(store.list_clients(b.id).await.unwrap().is_empty());
}
