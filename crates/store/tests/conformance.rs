//! Runs the conformance suite against SQLite (a fresh file per test) and, when
//! `TEST_POSTGRES_URL` is set, PostgreSQL (a fresh database per test). Without
//! it the PostgreSQL tests print a notice and pass, unless
//! `TEST_REQUIRE_POSTGRES=1`, which makes them fail.

// Test helpers: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::ports::{RealmStore, Store};
use portcullis_store::{SqlStore, conformance, testing};

/// A migrated SQLite store in a temporary directory that lives as long as it.
struct Sqlite {
    store: Arc<SqlStore>,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = testing::fresh_sqlite_url(dir.path()).await;
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        Self {
            store: Arc::new(store),
            _dir: dir,
        }
    }

    async fn finish(self) {
        self.store.close().await;
    }
}

/// `TEST_POSTGRES_URL`, or `None` (with a notice) when it is not set and
/// PostgreSQL is not required.
fn postgres_base_url() -> Option<String> {
    let Ok(base_url) = std::env::var("TEST_POSTGRES_URL") else {
        if std::env::var("TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("TEST_REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set");
        }
        eprintln!("notice: TEST_POSTGRES_URL is not set; skipping this PostgreSQL test");
        return None;
    };
    Some(base_url)
}

/// A migrated store in a fresh PostgreSQL database, or `None` when no server
/// is configured.
struct Postgres {
    store: Arc<SqlStore>,
    base_url: String,
    url: String,
}

impl Postgres {
    async fn new() -> Option<Self> {
        let base_url = postgres_base_url()?;
        let url = testing::fresh_postgres_database(&base_url).await.unwrap();
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        Some(Self {
            store: Arc::new(store),
            base_url,
            url,
        })
    }

    async fn finish(self) {
        self.store.close().await;
        testing::drop_postgres_database(&self.base_url, &self.url)
            .await
            .unwrap();
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        /// Every suite function, by name, as this file runs them.
        const RUN: &[&str] = &[$(stringify!($name)),*];

        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = Sqlite::new().await;
                    conformance::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }

        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = Postgres::new().await else { return };
                    conformance::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

suite!(
    realm_create_get_list,
    realm_duplicate_name_conflicts,
    realm_update,
    realm_delete_cascades,
    user_round_trip_and_email_lookup,
    user_duplicate_email_conflicts,
    user_update,
    user_delete_cascades,
    user_list_pagination_and_prefix,
    user_tenant_isolation,
    session_round_trip,
    session_list_active,
    session_touch,
    session_revoke_cascades_to_tokens,
    session_revoke_user_sessions,
    sessions_revoked_since_and_count_active,
    session_tenant_isolation,
    session_oidc_fields_and_secret_lookup,
    session_revoke_ends_client_sessions,
    refresh_duplicate_hash_conflicts,
    rotate_rotates_once_then_reports_reuse,
    rotate_rejects_expired_and_revoked_tokens,
    rotate_rejects_revoked_or_expired_session,
    rotate_tenant_isolation,
    rotate_replacement_conflict_rolls_back,
    rotate_parallel_exactly_one_wins,
    rotate_racing_session_revocation,
    refresh_family_revoke_and_purge,
    rotate_bound_to_client,
    refresh_get_by_hash,
    signing_keys_insert_list,
    signing_key_rotation,
    denylist_list_and_purge,
    revocations_since_reads_by_time,
    login_failures_since_clear_purge,
    concurrent_writers,
    ping_and_backend_name,
    authz_builtin_roles,
    authz_role_changes_round_trip,
    authz_group_changes_round_trip,
    authz_grant_changes_round_trip,
    authz_policy_changes_round_trip,
    authz_revision_per_realm,
    authz_stale_revision_changes_nothing,
    authz_tenant_isolation,
    authz_failed_change_rolls_back,
    authz_purge_expired_grants,
    authz_audit_round_trip,
    authz_user_delete_removes_grants,
    authz_realm_delete_cascades,
    authz_concurrent_changes_serialise,
    authz_user_attributes,
    authz_permission_catalogue,
    clients_round_trip_and_isolation,
    clients_update_delete_cascade,
    clients_delete_ends_sessions_consents_codes,
    code_redeemed_once,
    code_concurrent_redemption_one_wins,
    code_tenant_isolation_and_purge,
    consents_round_trip_and_isolation,
    consents_cascade_with_user_and_client,
    mfa_factor_lifecycle,
    mfa_totp_step_parallel_one_wins,
    mfa_backup_codes,
    mfa_challenges,
    mfa_cascades,
    mfa_webauthn_ceremonies,
    mail_settings_round_trip,
    mail_outbox_lease_and_settle,
    mail_outbox_concurrent_claims_take_each_once,
    mail_templates_round_trip_and_isolation,
    email_tokens_spent_once,
    email_tokens_concurrent_use_one_wins,
    mfa_challenge_otp,
    mfa_challenge_otp_parallel_one_wins,
    realm_mfa_required_roles,
    email_tokens_link_purposes,
    federation_provider_round_trip,
    federation_provider_alias_per_realm,
    federation_tenant_isolation,
    federation_social_accounts,
    federation_social_account_conflicts,
    federation_cascades,
    federation_attempt_taken_once,
    federation_attempt_concurrent_takes_one_wins,
    federation_attempt_expiry_and_purge,
    session_idp_round_trip,
    edge_rate_limit_policy_round_trip,
    edge_service_keys_round_trip,
    orgs_round_trip,
    orgs_memberships,
    orgs_domains,
    orgs_invitations,
    profile_schema_versions,
    profile_documents_round_trip,
    profile_avatars_and_preferences,
    profile_cascades,
    profile_user_audit,
    verification_phone_round_trip,
    verification_documents_round_trip,
    verification_webhook_secrets,
);

#[test]
fn every_suite_function_runs() {
    assert_eq!(RUN, conformance::ALL);
}

// Backend-specific behaviour of `SqlStore` itself.

#[tokio::test]
async fn unknown_scheme_is_refused_by_name() {
    let err = SqlStore::connect("mysql://root@localhost/db")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`mysql`"), "{err}");
    let err = SqlStore::connect("no-scheme-at-all").await.unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
}

#[tokio::test]
async fn sqlite_file_and_parent_directories_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/portcullis.db");
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.backend_name(), "sqlite");
    store.close().await;
    // `sqlite:` without slashes works too, and finds the migrated schema.
    let again = SqlStore::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    again.migrate().await.unwrap();
    assert!(again.list_realms().await.unwrap().is_empty());
    again.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_store_works() {
    async fn memory() -> Arc<SqlStore> {
        let store = SqlStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        Arc::new(store)
    }
    conformance::realm_create_get_list(memory().await).await;
    conformance::rotate_rotates_once_then_reports_reuse(memory().await).await;
    // A failed rotation must not close the only connection (and so the database).
    let store = memory().await;
    conformance::rotate_replacement_conflict_rolls_back(store.clone()).await;
    assert_eq!(store.list_realms().await.unwrap().len(), 1);
    // Snapshots take a read transaction on the same connection; failed
    // changes must give it back rolled back.
    conformance::authz_failed_change_rolls_back(memory().await).await;
    conformance::authz_stale_revision_changes_nothing(memory().await).await;
    conformance::authz_concurrent_changes_serialise(memory().await).await;
}

#[tokio::test]
async fn sqlite_migrate_is_idempotent() {
    let db = Sqlite::new().await;
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    db.finish().await;
}

#[tokio::test]
async fn postgres_migrate_is_idempotent() {
    let Some(db) = Postgres::new().await else {
        return;
    };
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    assert_eq!(db.store.backend_name(), "postgres");
    db.finish().await;
}

/// How many migrations, counted from the newest, undo everything down to
/// and including `name`.
fn migrations_from(name: &str) -> u32 {
    use portcullis_store::Migrator;
    use sea_orm_migration::MigratorTrait;
    let all = Migrator::migrations();
    let position = all.iter().position(|m| m.name() == name).unwrap();
    u32::try_from(all.len() - position).unwrap()
}

/// Migrates `url` to the foundation only, adds realms and users (admins and
/// not), then applies the authorization migration: every realm gets the
/// built-in roles and every admin a `realm-admin` grant. Rolling the
/// migration back and applying it again works too.
async fn authz_migration_seeds(url: &str) {
    use portcullis_core::model::new_id;
    use portcullis_core::ports::{AuthzStore, UserStore};
    use portcullis_policy::builtin::{REALM_ADMIN, USER, builtin_roles};
    use portcullis_policy::model::{Grantee, RoleGrant, Validity};
    use portcullis_store::Migrator;
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;

    let db = Database::connect(url).await.unwrap();
    Migrator::up(&db, Some(1)).await.unwrap();
    let realms = [new_id(), new_id(), new_id()];
    for (i, id) in realms.iter().enumerate() {
        let insert = Query::insert()
            .into_table(Alias::new("realms"))
            .columns(
                [
                    "id",
                    "name",
                    "display_name",
                    "enabled",
                    "signing_alg",
                    "password_min_length",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                (*id).into(),
                format!("realm{i}").into(),
                "Realm".into(),
                true.into(),
                "EdDSA".into(),
                12i64.into(),
                1i64.into(),
                1i64.into(),
            ])
            .take();
        db.execute(&insert).await.unwrap();
    }
    // Realm 0: an admin and a user; realm 1: an admin; realm 2: nobody.
    let users = [
        (realms[0], new_id(), true),
        (realms[0], new_id(), false),
        (realms[1], new_id(), true),
    ];
    for (i, (realm_id, id, admin)) in users.iter().enumerate() {
        let insert = Query::insert()
            .into_table(Alias::new("users"))
            .columns(
                [
                    "id",
                    "realm_id",
                    "email",
                    "email_canonical",
                    "active",
                    "is_admin",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                (*id).into(),
                (*realm_id).into(),
                format!("u{i}@example.com").into(),
                format!("u{i}@example.com").into(),
                true.into(),
                (*admin).into(),
                2i64.into(),
                2i64.into(),
            ])
            .take();
        db.execute(&insert).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    // Down through the realm settings migration, to just after the
    // authorization one: the settings migration puts `is_admin` back from
    // the grants, and going up again turns it into the same grants.
    Migrator::down(
        &db,
        Some(migrations_from("m20261125_000001_realm_settings")),
    )
    .await
    .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db.close().await.unwrap();

    let store = SqlStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let builtin = builtin_roles();
    for realm_id in realms {
        let snap = store.authz_snapshot(realm_id).await.unwrap();
        assert_eq!(snap.revision, 0);
        assert_eq!(snap.roles.len(), builtin.len());
        for b in &builtin {
            let role = snap.roles.iter().find(|r| r.name == b.name).unwrap();
            assert!(role.builtin);
            let mut expected = b.permissions.clone();
            expected.sort();
            assert_eq!(role.permissions, expected);
        }
        let admin_role = snap.roles.iter().find(|r| r.name == REALM_ADMIN).unwrap();
        let user_role = snap.roles.iter().find(|r| r.name == USER).unwrap();
        // Admins hold `realm-admin`; everyone holds `user`.
        let mut expected: Vec<RoleGrant> = users
            .iter()
            .filter(|(r, _, admin)| *r == realm_id && *admin)
            .map(|(_, user, _)| RoleGrant {
                to: Grantee::User(*user),
                role: admin_role.id,
                validity: Validity::ALWAYS,
            })
            .collect();
        expected.extend(
            users
                .iter()
                .filter(|(r, _, _)| *r == realm_id)
                .map(|(_, user, _)| RoleGrant {
                    to: Grantee::User(*user),
                    role: user_role.id,
                    validity: Validity::ALWAYS,
                }),
        );
        assert_eq!(
            snap.role_grants.len(),
            expected.len(),
            "{:?}",
            snap.role_grants
        );
        for grant in &expected {
            assert!(snap.role_grants.contains(grant), "{grant:?} missing");
        }
    }
    // `is_admin` is gone (the realm settings migration dropped it), the
    // admin is still there.
    assert!(
        store
            .get_user(users[0].0, users[0].1)
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_authz_migration_seeds_builtin_roles_and_admin_grants() {
    let dir = tempfile::tempdir().unwrap();
    let url = testing::fresh_sqlite_url(dir.path()).await;
    authz_migration_seeds(&format!("{url}?mode=rwc")).await;
}

#[tokio::test]
async fn postgres_authz_migration_seeds_builtin_roles_and_admin_grants() {
    let Some(base_url) = postgres_base_url() else {
        return;
    };
    let url = testing::fresh_postgres_database(&base_url).await.unwrap();
    authz_migration_seeds(&url).await;
    testing::drop_postgres_database(&base_url, &url)
        .await
        .unwrap();
}

/// Migrates `url` to just before the OpenID Provider migration and adds a
/// session; applying it gives the session `auth_time = created_at` and
/// `amr = pwd`. Rolling it back with codes, consents and client sessions in
/// place, and applying it again, works too.
async fn oidc_migration_fills_sessions(url: &str) {
    use portcullis_core::model::new_id;
    use portcullis_core::ports::{ClientStore, OAuthStore, SessionStore};
    use portcullis_store::Migrator;
    use sea_orm::sea_query::{Alias, Expr, Query};
    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;
    use time::OffsetDateTime;

    const OIDC: &str = "m20261201_000001_oidc";
    let before = u32::try_from(Migrator::migrations().len()).unwrap() - migrations_from(OIDC);
    let db = Database::connect(url).await.unwrap();
    Migrator::up(&db, Some(before)).await.unwrap();
    let (realm_id, user_id, session_id) = (new_id(), new_id(), new_id());
    let created = 1_795_000_000_123_456i64;
    let rows: [(&str, Vec<(&str, sea_orm::Value)>); 3] = [
        (
            "realms",
            vec![
                ("id", realm_id.into()),
                ("name", "acme".into()),
                ("display_name", "Acme".into()),
                ("enabled", true.into()),
                ("signing_alg", "EdDSA".into()),
                ("password_min_length", 12i64.into()),
                ("created_at", 1i64.into()),
                ("updated_at", 1i64.into()),
            ],
        ),
        (
            "users",
            vec![
                ("id", user_id.into()),
                ("realm_id", realm_id.into()),
                ("email", "u@example.com".into()),
                ("email_canonical", "u@example.com".into()),
                ("active", true.into()),
                ("created_at", 2i64.into()),
                ("updated_at", 2i64.into()),
            ],
        ),
        (
            "sessions",
            vec![
                ("id", session_id.into()),
                ("realm_id", realm_id.into()),
                ("user_id", user_id.into()),
                ("created_at", created.into()),
                ("last_used_at", (created + 5).into()),
                ("expires_at", (created + 3_600_000_000).into()),
            ],
        ),
    ];
    for (table, values) in rows {
        let (columns, values): (Vec<_>, Vec<_>) = values.into_iter().unzip();
        let insert = Query::insert()
            .into_table(Alias::new(table))
            .columns(columns.into_iter().map(Alias::new))
            .values_panic(values.into_iter().map(Expr::from))
            .take();
        db.execute(&insert).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    db.close().await.unwrap();

    let created_at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(created) * 1_000).unwrap();
    let check = move |store: SqlStore| async move {
        let s = store
            .get_session(realm_id, session_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.created_at, created_at);
        assert_eq!(s.auth_time, created_at);
        assert_eq!(s.amr, vec!["pwd".to_owned()]);
        assert_eq!(
            (s.secret_hash, s.client_id, s.parent_id),
            (None, None, None)
        );
        store
    };
    let store = check(SqlStore::connect(url).await.unwrap()).await;
    // Rows in everything the migration adds.
    let mut browser = store
        .get_session(realm_id, session_id)
        .await
        .unwrap()
        .unwrap();
    browser.id = new_id();
    browser.secret_hash = Some(vec![1; 32]);
    browser.amr = vec!["pwd".to_owned(), "otp".to_owned()];
    store.create_session(&browser).await.unwrap();
    store
        .create_client(&conformance::client(realm_id, "web"))
        .await
        .unwrap();
    store
        .create_session(&conformance::client_session(&browser, "web"))
        .await
        .unwrap();
    store
        .insert_auth_code(&conformance::auth_code(&browser, "web"))
        .await
        .unwrap();
    store
        .put_consent(&conformance::consent(realm_id, user_id, "web"))
        .await
        .unwrap();
    store.close().await;

    let db = Database::connect(url).await.unwrap();
    Migrator::down(&db, Some(migrations_from(OIDC)))
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db.close().await.unwrap();
    let store = check(SqlStore::connect(url).await.unwrap()).await;
    let again = store
        .get_session(realm_id, browser.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.amr, vec!["pwd".to_owned()]);
    assert_eq!(again.secret_hash, None);
    assert!(
        store
            .list_consents(realm_id, user_id)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_oidc_migration_fills_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let url = testing::fresh_sqlite_url(dir.path()).await;
    oidc_migration_fills_sessions(&format!("{url}?mode=rwc")).await;
}

#[tokio::test]
async fn postgres_oidc_migration_fills_sessions() {
    let Some(base_url) = postgres_base_url() else {
        return;
    };
    let url = testing::fresh_postgres_database(&base_url).await.unwrap();
    oidc_migration_fills_sessions(&url).await;
    testing::drop_postgres_database(&base_url, &url)
        .await
        .unwrap();
}

/// With a realm, a federated session and rows in every federation table,
/// rolling the federation migration back drops its tables and the
/// sessions' `idp`, and takes the identity-provider permissions from
/// `realm-admin`; applying it again gives them back to every existing
/// realm's `realm-admin` (as to a realm created before it) and leaves the
/// old sessions without a provider.
async fn federation_migration_down_and_up(url: &str) {
    use portcullis_core::ports::{FederationStore, SessionStore, UserStore};
    use portcullis_policy::builtin::{REALM_ADMIN, builtin_roles};
    use portcullis_store::Migrator;
    use sea_orm::Database;
    use sea_orm_migration::MigratorTrait;

    const FEDERATION: &str = "m20261207_000001_federation";
    // Read with SQL of its own: the store's snapshot reads tables of later
    // migrations (organizations), absent while they are rolled back.
    let admin_permissions = |store: SqlStore, realm_id: uuid::Uuid| async move {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let db = Database::connect(url).await.unwrap();
        let backend = db.get_database_backend();
        let placeholder = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let sql = format!(
            "SELECT p.permission AS permission FROM role_permissions p JOIN roles r \
             ON r.id = p.role_id WHERE r.realm_id = {placeholder} AND r.name = '{REALM_ADMIN}'"
        );
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [realm_id.into()],
            ))
            .await
            .unwrap();
        let mut permissions: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "permission").unwrap())
            .collect();
        db.close().await.unwrap();
        permissions.sort();
        (store, permissions)
    };
    let mut expected: Vec<String> = builtin_roles()
        .into_iter()
        .find(|r| r.name == REALM_ADMIN)
        .unwrap()
        .permissions
        .iter()
        .map(ToString::to_string)
        .collect();
    expected.sort();

    let store = SqlStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let (realm, user, _) = conformance::realm_user_session(&store, "acme").await;
    let mut federated = conformance::session(realm.id, user.id, 3600);
    federated.idp = Some("corp".to_owned());
    store.create_session(&federated).await.unwrap();
    let provider = portcullis_core::model::federation::IdentityProvider {
        id: portcullis_core::model::new_id(),
        realm_id: realm.id,
        alias: "corp".to_owned(),
        kind: portcullis_core::model::federation::ProviderKind::Oidc,
        display_name: None,
        enabled: true,
        config: Default::default(),
        secret: Some(vec![1, 2, 3]),
        created_at: conformance::T0,
        updated_at: conformance::T0,
    };
    store.create_provider(&provider).await.unwrap();
    store
        .insert_social_account(&portcullis_core::model::federation::SocialAccount {
            id: portcullis_core::model::new_id(),
            realm_id: realm.id,
            user_id: user.id,
            provider_id: provider.id,
            subject: "s".to_owned(),
            email: None,
            name: None,
            created_at: conformance::T0,
            last_login_at: None,
        })
        .await
        .unwrap();
    store
        .insert_federation_attempt(&portcullis_core::model::federation::FederationAttempt {
            id: portcullis_core::model::new_id(),
            realm_id: realm.id,
            provider_id: provider.id,
            token_hash: conformance::digest(),
            binding_hash: conformance::digest(),
            payload: serde_json::json!({"next": "link"}),
            created_at: conformance::T0,
            expires_at: conformance::at(600),
        })
        .await
        .unwrap();
    let (store, permissions) = admin_permissions(store, realm.id).await;
    assert_eq!(permissions, expected);
    store.close().await;

    let db = Database::connect(url).await.unwrap();
    Migrator::down(&db, Some(migrations_from(FEDERATION)))
        .await
        .unwrap();
    db.close().await.unwrap();
    // Without the migration (and those after it), `realm-admin` lacks the
    // permissions they add, as a realm created before them did.
    let store = SqlStore::connect(url).await.unwrap();
    let (store, permissions) = admin_permissions(store, realm.id).await;
    let later = [
        "identity-providers:",
        "security:",
        "service-keys:",
        "organizations:",
        "scim:",
    ];
    let without: Vec<String> = expected
        .iter()
        .filter(|p| !later.iter().any(|l| p.starts_with(l)))
        .cloned()
        .collect();
    assert_eq!(expected.len() - without.len(), 9);
    assert_eq!(permissions, without);

    store.migrate().await.unwrap();
    let (store, permissions) = admin_permissions(store, realm.id).await;
    assert_eq!(permissions, expected);
    let again = store
        .get_session(realm.id, federated.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.idp, None);
    assert!(store.list_providers(realm.id).await.unwrap().is_empty());
    assert!(store.get_user(realm.id, user.id).await.unwrap().is_some());
    store.close().await;
}

#[tokio::test]
async fn sqlite_federation_migration_down_and_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = testing::fresh_sqlite_url(dir.path()).await;
    federation_migration_down_and_up(&url).await;
}

#[tokio::test]
async fn postgres_federation_migration_down_and_up() {
    let Some(base_url) = postgres_base_url() else {
        return;
    };
    let url = testing::fresh_postgres_database(&base_url).await.unwrap();
    federation_migration_down_and_up(&url).await;
    testing::drop_postgres_database(&base_url, &url)
        .await
        .unwrap();
}

/// Instances starting together on one PostgreSQL database: one migrates,
/// the others wait for it and find nothing left to do; none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_instances_migrate_one_database_at_once() {
    let Some(base_url) = postgres_base_url() else {
        return;
    };
    let url = testing::fresh_postgres_database(&base_url).await.unwrap();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(SqlStore::connect(&url).await.unwrap()));
    }
    let runs: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let store = stores.first().unwrap();
    // The schema is whole: the store answers, and migrating again is a no-op.
    store.ping().await.unwrap();
    assert!(store.list_realms().await.unwrap().is_empty());
    store.migrate().await.unwrap();
    for s in &stores {
        s.close().await;
    }
    testing::drop_postgres_database(&base_url, &url)
        .await
        .unwrap();
}
