//! Federation: identity providers, social accounts, federation attempts,
//! and the provider a session's sign-in came through.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::federation::{
    FederationAttempt, FieldMap, IdentityProvider, Mapper, ProviderConfig, ProviderKind,
    SocialAccount, UpstreamAuth,
};
use portcullis_core::model::new_id;
use portcullis_core::ports::Store;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{T0, at, client_session, digest, realm, realm_user_session, session, user};

/// Settings with every field away from its default, so a lost field shows.
fn full_config() -> ProviderConfig {
    ProviderConfig {
        issuer: Some("https://login.example.com/tenant/".to_owned()),
        authorization_endpoint: Some("https://login.example.com/authorize".to_owned()),
        token_endpoint: Some("https://login.example.com/token".to_owned()),
        userinfo_endpoint: Some("https://api.example.com/me".to_owned()),
        jwks_uri: Some("https://login.example.com/keys".to_owned()),
        emails_endpoint: Some("https://api.example.com/me/emails".to_owned()),
        client_id: "portcullis-\u{e9}t\u{e9}".to_owned(),
        client_auth: UpstreamAuth::SignedSecret,
        scopes: vec![
            "openid".to_owned(),
            "email".to_owned(),
            "read:org".to_owned(),
        ],
        prompt: Some("select_account".to_owned()),
        allowed_algs: vec!["RS256".to_owned(), "ES256".to_owned()],
        field_map: FieldMap {
            subject: Some("/id".to_owned()),
            email: Some("/emails/0/value".to_owned()),
            email_verified: Some("email_verified".to_owned()),
            name: Some("profile.name".to_owned()),
            picture: Some("picture.data.url".to_owned()),
            attributes: BTreeMap::from([
                ("department".to_owned(), "/org/department".to_owned()),
                ("team".to_owned(), "org.team".to_owned()),
            ]),
        },
        tenant: Some("organizations".to_owned()),
        team_id: Some("TEAM123456".to_owned()),
        key_id: Some("KEY7654321".to_owned()),
        trust_email: true,
        allow_signup: false,
        auto_link: true,
        trust_upstream_mfa: true,
        default_roles: vec!["member".to_owned(), "social".to_owned()],
        mappers: vec![
            Mapper::Attribute {
                claim: "locale".to_owned(),
                attribute: "locale".to_owned(),
            },
            Mapper::Name {
                claim: "nickname".to_owned(),
            },
            Mapper::Role {
                claim: "groups".to_owned(),
                value: "admins".to_owned(),
                role: "admin".to_owned(),
            },
            Mapper::Group {
                claim: "hd".to_owned(),
                value: "example.com".to_owned(),
                group: "staff".to_owned(),
            },
            Mapper::HardcodedRole {
                role: "federated".to_owned(),
            },
        ],
    }
}

/// An OpenID provider of `realm_id` created at `T0`, with a sealed secret.
fn provider(realm_id: Uuid, alias: &str) -> IdentityProvider {
    IdentityProvider {
        id: new_id(),
        realm_id,
        alias: alias.to_owned(),
        kind: ProviderKind::Oidc,
        display_name: Some(format!("Sign in with {alias}")),
        enabled: true,
        config: full_config(),
        // Every byte value, so an encoding that mangles bytes shows.
        secret: Some((0..=255).collect()),
        created_at: T0,
        updated_at: T0,
    }
}

/// A link of a user to a provider made at `T0`.
fn link(realm_id: Uuid, user_id: Uuid, provider_id: Uuid, subject: &str) -> SocialAccount {
    SocialAccount {
        id: new_id(),
        realm_id,
        user_id,
        provider_id,
        subject: subject.to_owned(),
        email: Some(format!("{subject}@upstream.example.com")),
        name: Some("Upstream Name".to_owned()),
        created_at: T0,
        last_login_at: None,
    }
}

/// An attempt started at `T0`, living `ttl` seconds.
fn attempt(realm_id: Uuid, provider_id: Uuid, ttl: i64) -> FederationAttempt {
    FederationAttempt {
        id: new_id(),
        realm_id,
        provider_id,
        token_hash: digest(),
        binding_hash: digest(),
        payload: json!({
            "kind": "sign_in",
            "nonce": "n-0S6_WzA2Mj",
            "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "return_to": "/realms/acme/oauth2/authorize?client_id=web&state=%C3%A9",
            "amr": ["pwd", "mfa"],
            "depth": {"n": 1.5, "ok": true, "none": null},
        }),
        created_at: T0,
        expires_at: at(ttl),
    }
}

/// A provider round-trips exactly (settings and secret bytes included),
/// with and without optional fields; providers are listed by alias;
/// updates change kind, label, enabled flag, settings, secret and
/// `updated_at` only; deletes report whether the provider existed.
pub async fn federation_provider_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let corp = provider(r.id, "corp");
    store.create_provider(&corp).await.unwrap();
    assert_eq!(
        store.get_provider(r.id, "corp").await.unwrap(),
        Some(corp.clone())
    );
    assert_eq!(store.get_provider(r.id, "CORP").await.unwrap(), None);
    assert_eq!(store.get_provider(r.id, "other").await.unwrap(), None);

    let bare = IdentityProvider {
        kind: ProviderKind::Github,
        display_name: None,
        enabled: false,
        config: ProviderConfig::default(),
        secret: None,
        ..provider(r.id, "a-github")
    };
    store.create_provider(&bare).await.unwrap();
    let apple = IdentityProvider {
        kind: ProviderKind::Apple,
        ..provider(r.id, "z-apple")
    };
    store.create_provider(&apple).await.unwrap();
    assert_eq!(
        store.list_providers(r.id).await.unwrap(),
        vec![bare.clone(), corp.clone(), apple.clone()]
    );

    let changed = IdentityProvider {
        kind: ProviderKind::Microsoft,
        display_name: Some("Work account".to_owned()),
        enabled: false,
        config: ProviderConfig {
            tenant: Some("common".to_owned()),
            mappers: Vec::new(),
            ..full_config()
        },
        secret: Some(vec![0, 1, 2, 0xff]),
        updated_at: at(60),
        ..corp.clone()
    };
    store.update_provider(&changed).await.unwrap();
    assert_eq!(
        store.get_provider(r.id, "corp").await.unwrap(),
        Some(changed.clone())
    );
    // Neither the alias nor the creation time move.
    let renamed = IdentityProvider {
        alias: "renamed".to_owned(),
        created_at: at(99),
        secret: None,
        ..changed.clone()
    };
    store.update_provider(&renamed).await.unwrap();
    assert_eq!(store.get_provider(r.id, "renamed").await.unwrap(), None);
    let stored = store.get_provider(r.id, "corp").await.unwrap().unwrap();
    assert_eq!((stored.created_at, stored.secret), (T0, None));
    // A provider that was never created.
    assert!(matches!(
        store.update_provider(&provider(r.id, "ghost")).await,
        Err(StoreError::NotFound)
    ));

    assert!(store.delete_provider(r.id, "corp").await.unwrap());
    assert!(!store.delete_provider(r.id, "corp").await.unwrap());
    assert_eq!(store.get_provider(r.id, "corp").await.unwrap(), None);
    assert_eq!(store.list_providers(r.id).await.unwrap(), vec![bare, apple]);
}

/// An alias is unique within a realm only; a provider needs an existing
/// realm.
pub async fn federation_provider_alias_per_realm<S: Store + ?Sized>(store: Arc<S>) {
    let a = realm("a");
    let b = realm("b");
    store.create_realm(&a).await.unwrap();
    store.create_realm(&b).await.unwrap();
    let first = provider(a.id, "google");
    store.create_provider(&first).await.unwrap();
    let again = IdentityProvider {
        kind: ProviderKind::Google,
        ..provider(a.id, "google")
    };
    assert!(matches!(
        store.create_provider(&again).await,
        Err(StoreError::Conflict(_))
    ));
    // The same id twice is refused too.
    let same_id = IdentityProvider {
        alias: "other".to_owned(),
        ..first.clone()
    };
    assert!(matches!(
        store.create_provider(&same_id).await,
        Err(StoreError::Conflict(_))
    ));
    let elsewhere = provider(b.id, "google");
    store.create_provider(&elsewhere).await.unwrap();
    assert_eq!(
        store.get_provider(a.id, "google").await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.get_provider(b.id, "google").await.unwrap(),
        Some(elsewhere)
    );
    assert!(matches!(
        store.create_provider(&provider(new_id(), "google")).await,
        Err(StoreError::NotFound)
    ));
}

/// A realm sees, changes and deletes only its own providers, links and
/// attempts, and cannot link its users to another realm's provider nor
/// another realm's users to its providers.
pub async fn federation_tenant_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let (a, ua, _) = realm_user_session(&*store, "a").await;
    let (b, ub, _) = realm_user_session(&*store, "b").await;
    let pa = provider(a.id, "corp");
    store.create_provider(&pa).await.unwrap();
    let la = link(a.id, ua.id, pa.id, "alice");
    store.insert_social_account(&la).await.unwrap();
    let ta = attempt(a.id, pa.id, 600);
    store.insert_federation_attempt(&ta).await.unwrap();

    assert_eq!(store.get_provider(b.id, "corp").await.unwrap(), None);
    assert!(store.list_providers(b.id).await.unwrap().is_empty());
    let moved = IdentityProvider {
        realm_id: b.id,
        enabled: false,
        ..pa.clone()
    };
    assert!(matches!(
        store.update_provider(&moved).await,
        Err(StoreError::NotFound)
    ));
    assert!(!store.delete_provider(b.id, "corp").await.unwrap());

    assert_eq!(
        store
            .find_social_account(b.id, pa.id, "alice")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .list_social_accounts(b.id, ua.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .touch_social_account(b.id, la.id, None, None, at(5))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        !store
            .delete_social_account(b.id, ua.id, la.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .take_federation_attempt(b.id, &ta.token_hash, at(1))
            .await
            .unwrap(),
        None
    );

    // Across realms nothing links and no attempt starts.
    for (realm_id, user_id) in [(b.id, ub.id), (b.id, ua.id), (a.id, ub.id)] {
        assert!(matches!(
            store
                .insert_social_account(&link(realm_id, user_id, pa.id, "mallory"))
                .await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(matches!(
        store
            .insert_federation_attempt(&attempt(b.id, pa.id, 600))
            .await,
        Err(StoreError::NotFound)
    ));

    // Realm A's rows are untouched.
    assert_eq!(
        store.get_provider(a.id, "corp").await.unwrap(),
        Some(pa.clone())
    );
    assert_eq!(
        store.list_social_accounts(a.id, ua.id).await.unwrap(),
        vec![la]
    );
    assert_eq!(
        store
            .take_federation_attempt(a.id, &ta.token_hash, at(1))
            .await
            .unwrap(),
        Some(ta)
    );
}

/// Links round-trip, are found by (provider, subject), listed per user
/// oldest first (then by id), touched at each sign-in and deleted by
/// their user only.
pub async fn federation_social_accounts<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let other = user(r.id, "other@acme.example.com");
    store.create_user(&other).await.unwrap();
    let providers: Vec<IdentityProvider> = ["corp", "github", "google"]
        .into_iter()
        .map(|alias| provider(r.id, alias))
        .collect();
    for p in &providers {
        store.create_provider(p).await.unwrap();
    }
    let mut newest = link(r.id, u.id, providers[0].id, "u-corp");
    newest.created_at = at(30);
    newest.last_login_at = Some(at(31));
    let mut tie_a = link(r.id, u.id, providers[1].id, "u-github");
    tie_a.created_at = at(10);
    tie_a.email = None;
    tie_a.name = None;
    let mut tie_b = link(r.id, u.id, providers[2].id, "u-google");
    tie_b.created_at = at(10);
    let theirs = link(r.id, other.id, providers[0].id, "other-corp");
    for l in [&newest, &tie_a, &tie_b, &theirs] {
        store.insert_social_account(l).await.unwrap();
    }

    assert_eq!(
        store
            .find_social_account(r.id, providers[0].id, "u-corp")
            .await
            .unwrap(),
        Some(newest.clone())
    );
    assert_eq!(
        store
            .find_social_account(r.id, providers[1].id, "u-github")
            .await
            .unwrap(),
        Some(tie_a.clone())
    );
    // The subject is matched exactly, and at its own provider only.
    for (provider_id, subject) in [
        (providers[0].id, "U-CORP"),
        (providers[1].id, "u-corp"),
        (new_id(), "u-corp"),
    ] {
        assert_eq!(
            store
                .find_social_account(r.id, provider_id, subject)
                .await
                .unwrap(),
            None
        );
    }
    let mut ties = vec![tie_a.clone(), tie_b.clone()];
    ties.sort_by_key(|l| l.id);
    let expected: Vec<SocialAccount> = ties.into_iter().chain([newest.clone()]).collect();
    assert_eq!(
        store.list_social_accounts(r.id, u.id).await.unwrap(),
        expected
    );
    assert_eq!(
        store.list_social_accounts(r.id, other.id).await.unwrap(),
        vec![theirs.clone()]
    );

    // A sign-in records what the upstream gave this time, nothing kept.
    store
        .touch_social_account(
            r.id,
            newest.id,
            Some("new@upstream.example.com"),
            None,
            at(50),
        )
        .await
        .unwrap();
    let touched = SocialAccount {
        email: Some("new@upstream.example.com".to_owned()),
        name: None,
        last_login_at: Some(at(50)),
        ..newest.clone()
    };
    assert_eq!(
        store
            .find_social_account(r.id, providers[0].id, "u-corp")
            .await
            .unwrap(),
        Some(touched.clone())
    );
    store
        .touch_social_account(r.id, tie_a.id, None, Some("Octocat"), at(51))
        .await
        .unwrap();
    let found = store
        .find_social_account(r.id, providers[1].id, "u-github")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.email, found.name, found.last_login_at),
        (None, Some("Octocat".to_owned()), Some(at(51)))
    );
    assert!(matches!(
        store
            .touch_social_account(r.id, new_id(), None, None, at(52))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .find_social_account(r.id, providers[0].id, "other-corp")
            .await
            .unwrap(),
        Some(theirs.clone())
    );

    // Deleted through its own user only.
    assert!(
        !store
            .delete_social_account(r.id, other.id, newest.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_social_account(r.id, u.id, newest.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_social_account(r.id, u.id, newest.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_social_account(r.id, providers[0].id, "u-corp")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_social_accounts(r.id, u.id).await.unwrap().len(),
        2
    );
    // The provider is free for the user again.
    store
        .insert_social_account(&link(r.id, u.id, providers[0].id, "u-corp-2"))
        .await
        .unwrap();
}

/// An upstream subject links to one user per provider, and a user has at
/// most one link per provider; a link needs an existing user and
/// provider.
pub async fn federation_social_account_conflicts<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let other = user(r.id, "other@acme.example.com");
    store.create_user(&other).await.unwrap();
    let corp = provider(r.id, "corp");
    let github = provider(r.id, "github");
    store.create_provider(&corp).await.unwrap();
    store.create_provider(&github).await.unwrap();
    let first = link(r.id, u.id, corp.id, "12345");
    store.insert_social_account(&first).await.unwrap();

    // The same subject at the same provider, for another user.
    assert!(matches!(
        store
            .insert_social_account(&link(r.id, other.id, corp.id, "12345"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A second link of the same user to the same provider.
    assert!(matches!(
        store
            .insert_social_account(&link(r.id, u.id, corp.id, "67890"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The same id twice.
    let same_id = SocialAccount {
        provider_id: github.id,
        subject: "other".to_owned(),
        ..first.clone()
    };
    assert!(matches!(
        store.insert_social_account(&same_id).await,
        Err(StoreError::Conflict(_))
    ));
    // The same subject at another provider is another account.
    store
        .insert_social_account(&link(r.id, other.id, github.id, "12345"))
        .await
        .unwrap();
    // Missing user or provider.
    for (user_id, provider_id) in [(new_id(), corp.id), (u.id, new_id())] {
        assert!(matches!(
            store
                .insert_social_account(&link(r.id, user_id, provider_id, "ghost"))
                .await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(
        store.list_social_accounts(r.id, u.id).await.unwrap(),
        vec![first]
    );
}

/// Links go with their user, their provider or their realm; attempts
/// with their provider or their realm. Nothing else goes.
pub async fn federation_cascades<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let stays = user(r.id, "stays@acme.example.com");
    store.create_user(&stays).await.unwrap();
    let corp = provider(r.id, "corp");
    let github = provider(r.id, "github");
    store.create_provider(&corp).await.unwrap();
    store.create_provider(&github).await.unwrap();
    let u_corp = link(r.id, u.id, corp.id, "u-corp");
    let stays_corp = link(r.id, stays.id, corp.id, "stays-corp");
    let stays_github = link(r.id, stays.id, github.id, "stays-github");
    for l in [&u_corp, &stays_corp, &stays_github] {
        store.insert_social_account(l).await.unwrap();
    }
    let corp_attempt = attempt(r.id, corp.id, 600);
    let github_attempt = attempt(r.id, github.id, 600);
    for t in [&corp_attempt, &github_attempt] {
        store.insert_federation_attempt(t).await.unwrap();
    }

    // A deleted user's links go.
    assert!(store.delete_user(r.id, u.id).await.unwrap());
    assert_eq!(
        store
            .find_social_account(r.id, corp.id, "u-corp")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .list_social_accounts(r.id, u.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_social_accounts(r.id, stays.id)
            .await
            .unwrap()
            .len(),
        2
    );

    // A deleted provider's links and attempts go; the other's stay.
    assert!(store.delete_provider(r.id, "corp").await.unwrap());
    assert_eq!(
        store
            .find_social_account(r.id, corp.id, "stays-corp")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_social_accounts(r.id, stays.id).await.unwrap(),
        vec![stays_github.clone()]
    );
    assert_eq!(
        store
            .take_federation_attempt(r.id, &corp_attempt.token_hash, at(1))
            .await
            .unwrap(),
        None
    );
    // A new provider with the same alias inherits nothing.
    let corp_again = provider(r.id, "corp");
    store.create_provider(&corp_again).await.unwrap();
    assert_eq!(
        store
            .find_social_account(r.id, corp_again.id, "stays-corp")
            .await
            .unwrap(),
        None
    );

    // A deleted realm's providers, links and attempts go.
    let gone = realm("gone");
    store.create_realm(&gone).await.unwrap();
    let member = user(gone.id, "member@gone.example.com");
    store.create_user(&member).await.unwrap();
    let gone_provider = provider(gone.id, "corp");
    store.create_provider(&gone_provider).await.unwrap();
    store
        .insert_social_account(&link(gone.id, member.id, gone_provider.id, "m"))
        .await
        .unwrap();
    let gone_attempt = attempt(gone.id, gone_provider.id, 600);
    store
        .insert_federation_attempt(&gone_attempt)
        .await
        .unwrap();
    assert!(store.delete_realm(gone.id).await.unwrap());
    assert!(store.list_providers(gone.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .find_social_account(gone.id, gone_provider.id, "m")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_federation_attempt(gone.id, &gone_attempt.token_hash, at(1))
            .await
            .unwrap(),
        None
    );
    // Only the surviving realm's attempt is left to purge.
    assert_eq!(
        store.purge_federation_attempts(at(100_000)).await.unwrap(),
        1
    );

    assert_eq!(
        store.list_providers(r.id).await.unwrap(),
        vec![corp_again, github.clone()]
    );
    assert_eq!(
        store
            .find_social_account(r.id, github.id, "stays-github")
            .await
            .unwrap(),
        Some(stays_github)
    );
}

/// An attempt round-trips exactly (payload JSON included) and is taken
/// once; its handle's digest is unique; it needs an existing provider of
/// its realm.
pub async fn federation_attempt_taken_once<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _, _) = realm_user_session(&*store, "acme").await;
    let corp = provider(r.id, "corp");
    store.create_provider(&corp).await.unwrap();
    let first = attempt(r.id, corp.id, 600);
    store.insert_federation_attempt(&first).await.unwrap();
    let clash = FederationAttempt {
        id: new_id(),
        ..attempt(r.id, corp.id, 600)
    };
    let clash = FederationAttempt {
        token_hash: first.token_hash.clone(),
        ..clash
    };
    assert!(matches!(
        store.insert_federation_attempt(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .insert_federation_attempt(&attempt(r.id, new_id(), 600))
            .await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store
            .take_federation_attempt(r.id, &digest(), at(1))
            .await
            .unwrap(),
        None
    );
    // A peek takes nothing, and sees nothing of another realm.
    for _ in 0..2 {
        assert_eq!(
            store
                .peek_federation_attempt(r.id, &first.token_hash, at(1))
                .await
                .unwrap(),
            Some(first.clone())
        );
    }
    assert_eq!(
        store
            .peek_federation_attempt(new_id(), &first.token_hash, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_federation_attempt(r.id, &first.token_hash, at(1))
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .peek_federation_attempt(r.id, &first.token_hash, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_federation_attempt(r.id, &first.token_hash, at(2))
            .await
            .unwrap(),
        None
    );
    // Its digest is free again once taken.
    let reused = FederationAttempt {
        payload: json!("a string payload"),
        ..attempt(r.id, corp.id, 600)
    };
    let reused = FederationAttempt {
        token_hash: first.token_hash.clone(),
        ..reused
    };
    store.insert_federation_attempt(&reused).await.unwrap();
    assert_eq!(
        store
            .take_federation_attempt(r.id, &first.token_hash, at(3))
            .await
            .unwrap(),
        Some(reused)
    );
}

/// Of concurrent takes of one attempt exactly one gets it.
pub async fn federation_attempt_concurrent_takes_one_wins<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _, _) = realm_user_session(&*store, "acme").await;
    let corp = provider(r.id, "corp");
    store.create_provider(&corp).await.unwrap();
    let a = attempt(r.id, corp.id, 600);
    store.insert_federation_attempt(&a).await.unwrap();
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let (realm_id, token_hash) = (r.id, a.token_hash.clone());
        tasks.spawn(async move {
            store
                .take_federation_attempt(realm_id, &token_hash, at(n))
                .await
                .unwrap()
        });
    }
    let taken: Vec<FederationAttempt> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(taken, vec![a]);
}

/// An expired attempt is not handed out and is gone after the try; a
/// purge deletes the attempts that expired before its instant, in every
/// realm, and nothing else.
pub async fn federation_attempt_expiry_and_purge<S: Store + ?Sized>(store: Arc<S>) {
    let (r, _, _) = realm_user_session(&*store, "acme").await;
    let (b, _, _) = realm_user_session(&*store, "b").await;
    let corp = provider(r.id, "corp");
    let corp_b = provider(b.id, "corp");
    store.create_provider(&corp).await.unwrap();
    store.create_provider(&corp_b).await.unwrap();

    // Expired at exactly its expiry.
    let late = attempt(r.id, corp.id, 300);
    store.insert_federation_attempt(&late).await.unwrap();
    // A peek sees it until just before its expiry.
    assert!(
        store
            .peek_federation_attempt(r.id, &late.token_hash, at(299))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .peek_federation_attempt(r.id, &late.token_hash, at(300))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_federation_attempt(r.id, &late.token_hash, at(300))
            .await
            .unwrap(),
        None
    );
    // The failed take removed it: not there even before its expiry.
    assert_eq!(
        store
            .take_federation_attempt(r.id, &late.token_hash, at(0))
            .await
            .unwrap(),
        None
    );

    let ten = attempt(r.id, corp.id, 10);
    let twenty = attempt(r.id, corp.id, 20);
    let thirty = attempt(r.id, corp.id, 30);
    let ten_b = attempt(b.id, corp_b.id, 10);
    for t in [&ten, &twenty, &thirty, &ten_b] {
        store.insert_federation_attempt(t).await.unwrap();
    }
    assert_eq!(store.purge_federation_attempts(at(20)).await.unwrap(), 2);
    assert_eq!(store.purge_federation_attempts(at(20)).await.unwrap(), 0);
    for (realm_id, gone) in [(r.id, &ten), (b.id, &ten_b)] {
        assert_eq!(
            store
                .take_federation_attempt(realm_id, &gone.token_hash, at(0))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .take_federation_attempt(r.id, &twenty.token_hash, at(19))
            .await
            .unwrap(),
        Some(twenty)
    );
    assert_eq!(store.purge_federation_attempts(at(31)).await.unwrap(), 1);
    assert_eq!(
        store
            .take_federation_attempt(r.id, &thirty.token_hash, at(0))
            .await
            .unwrap(),
        None
    );
}

/// A session records the provider its sign-in came through, or none.
pub async fn session_idp_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, local) = realm_user_session(&*store, "acme").await;
    assert_eq!(local.idp, None);
    let mut federated = session(r.id, u.id, 3600);
    federated.idp = Some("google".to_owned());
    federated.amr = vec!["fed".to_owned()];
    federated.secret_hash = Some(digest());
    store.create_session(&federated).await.unwrap();
    assert_eq!(
        store.get_session(r.id, federated.id).await.unwrap(),
        Some(federated.clone())
    );
    assert_eq!(
        store.get_session(r.id, local.id).await.unwrap(),
        Some(local.clone())
    );
    let secret = federated.secret_hash.clone().unwrap();
    assert_eq!(
        store.get_session_by_secret(r.id, &secret).await.unwrap(),
        Some(federated.clone())
    );
    let mut child = client_session(&federated, "web");
    child.idp = federated.idp.clone();
    store.create_session(&child).await.unwrap();
    let active = store.list_active_sessions(r.id, u.id, T0).await.unwrap();
    assert!(active.contains(&federated) && active.contains(&child) && active.contains(&local));
    // The alias is text, not a reference: the session outlives the
    // provider.
    let google = IdentityProvider {
        kind: ProviderKind::Google,
        ..provider(r.id, "google")
    };
    store.create_provider(&google).await.unwrap();
    assert!(store.delete_provider(r.id, "google").await.unwrap());
    assert_eq!(
        store.get_session(r.id, federated.id).await.unwrap(),
        Some(federated)
    );
}
