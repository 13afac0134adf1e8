//! Fresh, isolated databases for tests: one per test, so tests can run in
//! parallel without seeing each other's rows. Used by this crate's
//! conformance tests and by the testkit.

use std::path::Path;

use portcullis_core::StoreError;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use url::Url;
use uuid::Uuid;

fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

/// A new, unique database name: `pc_test_<uuid simple>`.
fn test_database_name() -> String {
    format!("pc_test_{}", Uuid::now_v7().simple())
}

/// Connects to `base_url` (a role allowed to create databases, such as
/// `postgres://postgres@127.0.0.1:5432/postgres`), creates an empty database
/// `pc_test_<uuid>` and returns the URL of that database (same host,
/// credentials and parameters). The database is not migrated.
pub async fn fresh_postgres_database(base_url: &str) -> Result<String, StoreError> {
    let mut url = Url::parse(base_url).map_err(|e| backend("invalid PostgreSQL URL", e))?;
    let name = test_database_name();
    let mut conn = PgConnection::connect(base_url)
        .await
        .map_err(|e| backend("cannot connect to PostgreSQL", e))?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| backend("cannot create test database", e))?;
    let _ = conn.close().await;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drops a database made by [`fresh_postgres_database`], connecting through
/// `base_url`. Only names of the form `pc_test_<hex>` are accepted.
pub async fn drop_postgres_database(base_url: &str, database_url: &str) -> Result<(), StoreError> {
    let url = Url::parse(database_url).map_err(|e| backend("invalid PostgreSQL URL", e))?;
    let name = url.path().trim_start_matches('/');
    let valid = name
        .strip_prefix("pc_test_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(StoreError::Backend(
            "refusing to drop a database not made by fresh_postgres_database".to_owned(),
        ));
    }
    let mut conn = PgConnection::connect(base_url)
        .await
        .map_err(|e| backend("cannot connect to PostgreSQL", e))?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .map_err(|e| backend("cannot drop test database", e))?;
    let _ = conn.close().await;
    Ok(())
}

/// The URL of a new SQLite database file `pc_test_<uuid>.db` in `dir` (created
/// if missing). The file itself is created by [`crate::SqlStore::connect`].
pub async fn fresh_sqlite_url(dir: &Path) -> String {
    // A failure surfaces when the store opens the file.
    let _ = tokio::fs::create_dir_all(dir).await;
    let path = dir.join(format!("{}.db", test_database_name()));
    let path = path
        .to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    format!("sqlite://{path}")
}

/// SQLite's `PRAGMA integrity_check` on the database at `url`: `"ok"`, or
/// the problems it found (one per line).
pub async fn sqlite_integrity_check(url: &str) -> Result<String, StoreError> {
    let mut conn = sqlx::SqliteConnection::connect(url)
        .await
        .map_err(|e| backend("cannot open the SQLite database", e))?;
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| backend("integrity check", e))?;
    let _ = conn.close().await;
    Ok(rows
        .into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// PostgreSQL's `amcheck` on the database at `url`: every table's heap
/// (`verify_heapam`) and every B-tree index of the `public` schema
/// (`bt_index_check`, with each heap tuple's index entry). Returns how many
/// relations were checked; an error names the first that is corrupt.
/// Creates the extension if needed (the role must be allowed to).
pub async fn postgres_integrity_check(url: &str) -> Result<usize, StoreError> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| backend("cannot connect to PostgreSQL", e))?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck")
        .execute(&mut conn)
        .await
        .map_err(|e| backend("CREATE EXTENSION amcheck", e))?;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| backend("listing tables", e))?;
    for (table,) in &tables {
        let problems: Vec<(Option<String>,)> =
            sqlx::query_as("SELECT msg FROM verify_heapam($1::regclass, check_toast => true)")
                .bind(table)
                .fetch_all(&mut conn)
                .await
                .map_err(|e| backend("verify_heapam", e))?;
        if let Some((msg,)) = problems.first() {
            return Err(backend(
                "corrupt table",
                format!("{table}: {}", msg.clone().unwrap_or_default()),
            ));
        }
    }
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE a.amname = 'btree' AND n.nspname = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| backend("listing indexes", e))?;
    for (index,) in &indexes {
        sqlx::query("SELECT bt_index_check($1::regclass, true)")
            .bind(index)
            .execute(&mut conn)
            .await
            .map_err(|e| backend(&format!("corrupt index {index}"), e))?;
    }
    let _ = conn.close().await;
    Ok(tables.len() + indexes.len())
}
