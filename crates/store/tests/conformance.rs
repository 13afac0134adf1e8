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

/// A migrated store in a fresh PostgreSQL database, or `None` when no server
/// is configured.
struct Postgres {
    store: Arc<SqlStore>,
    base_url: String,
    url: String,
}

impl Postgres {
    async fn new() -> Option<Self> {
        let Ok(base_url) = std::env::var("TEST_POSTGRES_URL") else {
            if std::env::var("TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("TEST_REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set");
            }
            eprintln!("notice: TEST_POSTGRES_URL is not set; skipping this PostgreSQL test");
            return None;
        };
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
    refresh_duplicate_hash_conflicts,
    rotate_rotates_once_then_reports_reuse,
    rotate_rejects_expired_and_revoked_tokens,
    rotate_rejects_revoked_or_expired_session,
    rotate_tenant_isolation,
    rotate_replacement_conflict_rolls_back,
    rotate_parallel_exactly_one_wins,
    rotate_racing_session_revocation,
    refresh_family_revoke_and_purge,
    signing_keys_insert_list,
    signing_key_rotation,
    denylist_list_and_purge,
    login_failures_since_clear_purge,
    concurrent_writers,
    ping_and_backend_name,
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
