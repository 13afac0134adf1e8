//! The conformance suite: backend-independent tests every
//! [`Store`](portcullis_core::ports::Store) implementation must pass.
//!
//! Each public function is one test. It takes a freshly migrated, empty store
//! (behind an `Arc`, so tests can spawn tasks) and panics on failure. A
//! backend's test file runs every function once per backend (see this crate's
//! `tests/conformance.rs`); [`ALL`] lists their names so a harness can check
//! it runs every one.
//!
//! Times are fixed instants with microsecond digits (never the wall clock), so
//! round trips are checked exactly.

// This module is test code compiled into the library (feature `conformance`):
// failing loudly is its job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod authz;
mod clients;
mod edge;
mod federation;
mod keys_misc;
mod mail;
mod mfa;
mod oauth;
mod org_extras;
mod orgs;
mod otp;
mod profile;
mod realms_users;
mod sessions;
mod tokens;
mod verification;

pub use authz::*;
pub use clients::*;
pub use edge::*;
pub use federation::*;
pub use keys_misc::*;
pub use mail::*;
pub use mfa::*;
pub use oauth::*;
pub use org_extras::*;
pub use orgs::*;
pub use otp::*;
pub use profile::*;
pub use realms_users::*;
pub use sessions::*;
pub use tokens::*;
pub use verification::*;

use portcullis_core::clients::{AuthMethod, ClientType, GrantType, OAuthClient};
use portcullis_core::model::{
    AuthCode, Consent, Email, Realm, RealmName, RefreshToken, Session, SigningAlgorithm,
    StoredSigningKey, TimeZone, User, new_id,
};
use portcullis_core::ports::Store;
use time::{Duration, OffsetDateTime, macros::datetime};
use uuid::Uuid;

/// Names of every test function of the suite.
pub const ALL: &[&str] = &[
    "realm_create_get_list",
    "realm_duplicate_name_conflicts",
    "realm_update",
    "realm_delete_cascades",
    "user_round_trip_and_email_lookup",
    "user_duplicate_email_conflicts",
    "user_update",
    "user_delete_cascades",
    "user_list_pagination_and_prefix",
    "user_tenant_isolation",
    "session_round_trip",
    "session_list_active",
    "session_touch",
    "session_revoke_cascades_to_tokens",
    "session_revoke_user_sessions",
    "sessions_revoked_since_and_count_active",
    "session_tenant_isolation",
    "session_oidc_fields_and_secret_lookup",
    "session_revoke_ends_client_sessions",
    "refresh_duplicate_hash_conflicts",
    "rotate_rotates_once_then_reports_reuse",
    "rotate_rejects_expired_and_revoked_tokens",
    "rotate_rejects_revoked_or_expired_session",
    "rotate_tenant_isolation",
    "rotate_replacement_conflict_rolls_back",
    "rotate_parallel_exactly_one_wins",
    "rotate_racing_session_revocation",
    "refresh_family_revoke_and_purge",
    "rotate_bound_to_client",
    "refresh_get_by_hash",
    "signing_keys_insert_list",
    "signing_key_rotation",
    "denylist_list_and_purge",
    "revocations_since_reads_by_time",
    "login_failures_since_clear_purge",
    "concurrent_writers",
    "ping_and_backend_name",
    "authz_builtin_roles",
    "authz_role_changes_round_trip",
    "authz_group_changes_round_trip",
    "authz_grant_changes_round_trip",
    "authz_policy_changes_round_trip",
    "authz_revision_per_realm",
    "authz_stale_revision_changes_nothing",
    "authz_tenant_isolation",
    "authz_failed_change_rolls_back",
    "authz_purge_expired_grants",
    "authz_audit_round_trip",
    "authz_user_delete_removes_grants",
    "authz_realm_delete_cascades",
    "authz_concurrent_changes_serialise",
    "authz_user_attributes",
    "authz_permission_catalogue",
    "clients_round_trip_and_isolation",
    "clients_update_delete_cascade",
    "clients_delete_ends_sessions_consents_codes",
    "code_redeemed_once",
    "code_concurrent_redemption_one_wins",
    "code_tenant_isolation_and_purge",
    "consents_round_trip_and_isolation",
    "consents_cascade_with_user_and_client",
    "mfa_factor_lifecycle",
    "mfa_totp_step_parallel_one_wins",
    "mfa_backup_codes",
    "mfa_challenges",
    "mfa_cascades",
    "mfa_webauthn_ceremonies",
    "mail_settings_round_trip",
    "mail_outbox_lease_and_settle",
    "mail_outbox_concurrent_claims_take_each_once",
    "mail_templates_round_trip_and_isolation",
    "email_tokens_spent_once",
    "email_tokens_concurrent_use_one_wins",
    "mfa_challenge_otp",
    "mfa_challenge_otp_parallel_one_wins",
    "realm_mfa_required_roles",
    "email_tokens_link_purposes",
    "federation_provider_round_trip",
    "federation_provider_alias_per_realm",
    "federation_tenant_isolation",
    "federation_social_accounts",
    "federation_social_account_conflicts",
    "federation_cascades",
    "federation_attempt_taken_once",
    "federation_attempt_concurrent_takes_one_wins",
    "federation_attempt_expiry_and_purge",
    "session_idp_round_trip",
    "edge_rate_limit_policy_round_trip",
    "edge_service_keys_round_trip",
    "orgs_round_trip",
    "orgs_memberships",
    "orgs_domains",
    "orgs_invitations",
    "profile_schema_versions",
    "profile_documents_round_trip",
    "profile_avatars_and_preferences",
    "profile_cascades",
    "profile_user_audit",
    "verification_phone_round_trip",
    "verification_documents_round_trip",
    "verification_webhook_secrets",
];

/// The OAuth `client_id` of the suite's refresh tokens ([`token`]).
pub const CLIENT: &str = "web-app";

/// The suite's reference instant (with microsecond digits, to check precision).
pub const T0: OffsetDateTime = datetime!(2026-11-23 12:00:00.123456 UTC);

/// `T0` plus a number of seconds.
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// A realm named `name` created at `T0`.
pub fn realm(name: &str) -> Realm {
    Realm {
        id: new_id(),
        name: RealmName::parse(name).unwrap(),
        display_name: format!("Realm {name}"),
        enabled: true,
        signing_alg: SigningAlgorithm::EdDSA,
        password_min_length: 12,
        time_zone: TimeZone::utc(),
        roles_claim: true,
        require_verified_email: false,
        check_email_mx: false,
        mfa_required_roles: Vec::new(),
        created_at: T0,
        updated_at: T0,
    }
}

/// A user of `realm_id` created at `T0`.
pub fn user(realm_id: Uuid, email: &str) -> User {
    User {
        id: new_id(),
        realm_id,
        email: Email::parse(email).unwrap(),
        name: Some("Test User".to_owned()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        active: true,
        email_verified: false,
        attributes: serde_json::Map::new(),
        created_at: T0,
        updated_at: T0,
        last_login_at: None,
    }
}

/// A session of a user created at `T0`, expiring after `ttl` seconds.
pub fn session(realm_id: Uuid, user_id: Uuid, ttl: i64) -> Session {
    Session {
        id: new_id(),
        realm_id,
        user_id,
        created_at: T0,
        last_used_at: T0,
        expires_at: at(ttl),
        revoked_at: None,
        ip: Some("192.0.2.1".to_owned()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".to_owned()),
        device: Some("Firefox 120 on Linux".to_owned()),
        auth_time: T0,
        amr: vec!["pwd".to_owned()],
        secret_hash: None,
        client_id: None,
        parent_id: None,
        idp: None,
    }
}

/// A client session of `client_id` under the browser session `parent`, as
/// a code redemption creates it.
pub fn client_session(parent: &Session, client_id: &str) -> Session {
    Session {
        client_id: Some(client_id.to_owned()),
        parent_id: Some(parent.id),
        auth_time: parent.auth_time,
        amr: parent.amr.clone(),
        ..session(parent.realm_id, parent.user_id, 3600)
    }
}

/// A confidential client of `realm_id` created at `T0`.
pub fn client(realm_id: Uuid, client_id: &str) -> OAuthClient {
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
        links: Default::default(),
        created_at: T0,
        updated_at: T0,
    }
}

/// A consent of a user to a client given at `T0`.
pub fn consent(realm_id: Uuid, user_id: Uuid, client_id: &str) -> Consent {
    Consent {
        realm_id,
        user_id,
        client_id: client_id.to_owned(),
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        created_at: T0,
        updated_at: T0,
    }
}

/// An unused authorization code issued at `T0` in `session` to `client_id`,
/// living 60 seconds.
pub fn auth_code(session: &Session, client_id: &str) -> AuthCode {
    AuthCode {
        id: new_id(),
        realm_id: session.realm_id,
        code_hash: digest(),
        client_id: client_id.to_owned(),
        user_id: session.user_id,
        session_id: session.id,
        redirect_uri: Some("https://app.example.com/cb".to_owned()),
        scope: "openid profile".to_owned(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        created_at: T0,
        expires_at: at(60),
        used_at: None,
        grant_session_id: None,
    }
}

/// A fresh random 32-byte digest.
pub fn digest() -> Vec<u8> {
    let mut bytes = Uuid::now_v7().as_bytes().to_vec();
    bytes.extend_from_slice(Uuid::now_v7().as_bytes());
    bytes
}

/// The first token of a new family in `session`, expiring after `ttl` seconds.
pub fn token(session: &Session, ttl: i64) -> RefreshToken {
    RefreshToken {
        id: new_id(),
        realm_id: session.realm_id,
        token_hash: digest(),
        family_id: new_id(),
        session_id: session.id,
        user_id: session.user_id,
        client_id: Some(CLIENT.to_owned()),
        scope: Some("openid profile".to_owned()),
        created_at: T0,
        expires_at: at(ttl),
        used_at: None,
        revoked_at: None,
    }
}

/// A replacement token as core builds it before rotation: family, session,
/// user, client and scope are placeholders the store must overwrite.
pub fn replacement(realm_id: Uuid, issued: OffsetDateTime, ttl: i64) -> RefreshToken {
    RefreshToken {
        id: new_id(),
        realm_id,
        token_hash: digest(),
        family_id: Uuid::nil(),
        session_id: Uuid::nil(),
        user_id: Uuid::nil(),
        client_id: None,
        scope: None,
        created_at: issued,
        expires_at: issued + Duration::seconds(ttl),
        used_at: None,
        revoked_at: None,
    }
}

/// A signing key of a realm.
pub fn signing_key(
    realm_id: Uuid,
    alg: SigningAlgorithm,
    created_at: OffsetDateTime,
) -> StoredSigningKey {
    StoredSigningKey {
        kid: format!("kid-{}", Uuid::now_v7().simple()),
        realm_id,
        alg,
        private_key_enc: digest(),
        public_jwk: format!(r#"{{"kty":"OKP","alg":"{}"}}"#, alg.as_str()),
        created_at,
        active: true,
        retire_after: None,
    }
}

/// Creates a realm, a user in it and a session of that user (valid for an hour).
pub async fn realm_user_session<S: Store + ?Sized>(
    store: &S,
    name: &str,
) -> (Realm, User, Session) {
    let r = realm(name);
    store.create_realm(&r).await.unwrap();
    let u = user(r.id, &format!("owner@{name}.example.com"));
    store.create_user(&u).await.unwrap();
    let s = session(r.id, u.id, 3600);
    store.create_session(&s).await.unwrap();
    (r, u, s)
}
