//! [`SqlStore`]: connecting, pool layout, migrations and the [`Store`] trait.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::ports::{Store, StoreResult};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, Statement, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::convert::db_err;
use crate::migration::Migrator;

/// How long a SQLite connection waits for a lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reader connections for a SQLite file (the writer is a single connection).
const SQLITE_READERS: u32 = 4;
/// Connections to PostgreSQL.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
/// Idle connections beyond the minimum are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a caller waits for a pooled connection (SQLite: the one writer).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a caller waits for a PostgreSQL connection, retrying refused
/// connections meanwhile: when the server is down, requests fail with 503
/// after this long instead of hanging, and a pool exhausted this long sheds
/// load.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// The PostgreSQL advisory lock the instances of one database take turns
/// on to migrate it (any fixed number; this one spells "PORTCULL").
pub const MIGRATION_LOCK: i64 = 0x504f_5254_4355_4c4c;
/// How long an instance waits for another's migrations before giving up.
const MIGRATION_WAIT: Duration = Duration::from_secs(600);

/// One SQL statement a [`SqlStore`] ran, as [`SqlStore::observe_queries`]
/// reports it.
#[derive(Debug, Clone, Copy)]
pub struct QueryEvent<'a> {
    /// The database system, as OpenTelemetry names it: `sqlite` or `postgresql`.
    pub system: &'static str,
    /// The statement, with placeholders (`$1`, `?`) where its values go.
    pub sql: &'a str,
    /// How long it took, waiting for a connection excluded.
    pub elapsed: Duration,
    /// Whether it failed.
    pub failed: bool,
}

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The storage ports of `portcullis-core`, implemented once for SQLite and
/// PostgreSQL on SeaORM.
///
/// SQLite uses two pools over the same file: a single-connection writer pool
/// (every write and every write transaction, so writers queue in the process
/// instead of failing with `SQLITE_BUSY`) and a small reader pool (WAL lets
/// readers run beside the writer). PostgreSQL uses one pool for both.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) backend: Backend,
    pub(crate) writer: DatabaseConnection,
    pub(crate) reader: DatabaseConnection,
    /// Group commit of refresh-token rotations (SQLite only).
    pub(crate) rotator: Option<crate::rotate_sql::SqliteRotator>,
}

impl SqlStore {
    /// Connects to a database by URL, without migrating.
    ///
    /// Accepted: `sqlite://path/to/file.db`, `sqlite:relative.db`,
    /// `sqlite:///absolute/file.db` (the file and its parent directory are
    /// created when missing), `sqlite::memory:`, and `postgres://` or
    /// `postgresql://` URLs. Any other scheme is refused with an error naming it.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => connect_sqlite(url).await,
            "postgres" | "postgresql" => connect_postgres(url).await,
            other => Err(StoreError::Backend(format!(
                "unsupported database URL scheme `{other}` (expected sqlite, postgres or postgresql)"
            ))),
        }
    }

    /// Applies every pending migration. Running it again is a no-op.
    ///
    /// On PostgreSQL, instances that start together take turns: each runs
    /// the migrations on a connection of its own holding a session advisory
    /// lock ([`MIGRATION_LOCK`]), so one applies them while the others wait,
    /// then find nothing left to do. (SQLite serves one instance: its writer
    /// is the process's single connection.)
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Migrator::up(&self.writer, None).await.map_err(db_err);
        }
        let pool = self.writer.get_postgres_connection_pool().connect_options();
        let single = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(MIGRATION_WAIT)
            .connect_with((*pool).clone())
            .await
            .map_err(|e| config_err("cannot connect to PostgreSQL to migrate", e))?;
        let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(single.clone());
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_lock($1)",
            [MIGRATION_LOCK.into()],
        );
        let locked = tokio::time::timeout(MIGRATION_WAIT, conn.execute_raw(lock)).await;
        let outcome = match locked {
            Err(_) => Err(StoreError::Backend(format!(
                "another instance held the migration lock for more than {} s",
                MIGRATION_WAIT.as_secs()
            ))),
            Ok(Err(e)) => Err(db_err(e)),
            Ok(Ok(_)) => {
                let migrated = Migrator::up(&conn, None).await.map_err(db_err);
                let unlock = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_unlock($1)",
                    [MIGRATION_LOCK.into()],
                );
                // Closing the session below releases the lock in any case.
                let _ = conn.execute_raw(unlock).await;
                migrated
            }
        };
        single.close().await;
        outcome
    }

    /// Reports every SQL statement the store runs through its pools to `observe`,
    /// right after it ran, on the task that ran it (so the caller's tracing span
    /// is current): for traces of database calls. The statement's text has
    /// placeholders where values go; the values are never reported. The SQLite
    /// group commit of refresh-token rotations, which runs on a connection of its
    /// own, is not reported. Call it before sharing the store.
    pub fn observe_queries(&mut self, observe: impl Fn(&QueryEvent<'_>) + Send + Sync + 'static) {
        let observe = std::sync::Arc::new(observe);
        let system = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        };
        for conn in [&mut self.writer, &mut self.reader] {
            let observe = observe.clone();
            conn.set_metric_callback(move |info| {
                observe(&QueryEvent {
                    system,
                    sql: &info.statement.sql,
                    elapsed: info.elapsed,
                    failed: info.failed,
                });
            });
        }
    }

    /// Closes the connection pools; calls made afterwards fail.
    pub async fn close(&self) {
        // Closing twice or a failing close leaves nothing for the caller to do.
        let _ = self.reader.close_by_ref().await;
        let _ = self.writer.close_by_ref().await;
    }

    /// Starts a write transaction on the writer (`BEGIN IMMEDIATE` on SQLite,
    /// so the write lock is taken up front instead of on the first write).
    pub(crate) async fn begin_write(&self) -> StoreResult<DatabaseTransaction> {
        let mut options = TransactionOptions::default();
        if self.backend == Backend::Sqlite {
            options.sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
        }
        self.writer
            .begin_with_options(options)
            .await
            .map_err(db_err)
    }
}

fn config_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

fn is_sqlite_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path == ":memory:" || query.split('&').any(|p| p == "mode=memory")
}

async fn connect_sqlite(url: &str) -> Result<SqlStore, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| config_err("invalid SQLite URL", e))?
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);

    if is_sqlite_memory(url) {
        // An in-memory database lives as long as its connections: one connection
        // that never closes serves both reads and writes.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| config_err("cannot open SQLite database", e))?;
        let conn = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        return Ok(SqlStore {
            backend: Backend::Sqlite,
            rotator: Some(crate::rotate_sql::SqliteRotator::start(
                conn.get_sqlite_connection_pool().clone(),
            )),
            writer: conn.clone(),
            reader: conn,
        });
    }

    if let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
        && !Path::new(parent).exists()
    {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| config_err("cannot create the SQLite database directory", e))?;
    }

    // The writer opens first: it creates the file and switches it to WAL, which
    // needs an exclusive lock that readers opening at the same time could hold.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await
        .map_err(|e| config_err("cannot open SQLite database", e))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(SQLITE_READERS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.create_if_missing(false))
        .await
        .map_err(|e| config_err("cannot open SQLite database", e))?;
    Ok(SqlStore {
        backend: Backend::Sqlite,
        rotator: Some(crate::rotate_sql::SqliteRotator::start(writer.clone())),
        writer: SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
        reader: SqlxSqliteConnector::from_sqlx_sqlite_pool(reader),
    })
}

async fn connect_postgres(url: &str) -> Result<SqlStore, StoreError> {
    let options =
        PgConnectOptions::from_str(url).map_err(|e| config_err("invalid PostgreSQL URL", e))?;
    let pool = PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .test_before_acquire(false)
        .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| config_err("cannot connect to PostgreSQL", e))?;
    let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    Ok(SqlStore {
        rotator: None,
        backend: Backend::Postgres,
        writer: conn.clone(),
        reader: conn,
    })
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        self.reader.ping().await.map_err(db_err)
    }

    fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Statement};

    async fn pragma(db: &DatabaseConnection, name: &str) -> String {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("PRAGMA {name}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0)
            .map(|v| v.to_string())
            .or_else(|_| row.try_get_by_index::<String>(0))
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_connections_are_configured() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let store = SqlStore::connect(&url).await.unwrap();
        for db in [&store.writer, &store.reader] {
            assert_eq!(pragma(db, "journal_mode").await, "wal");
            assert_eq!(pragma(db, "foreign_keys").await, "1");
            assert_eq!(pragma(db, "synchronous").await, "1");
            assert_eq!(pragma(db, "busy_timeout").await, "5000");
        }
        store.close().await;
    }

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_sqlite_memory("sqlite::memory:"));
        assert!(is_sqlite_memory("sqlite://:memory:"));
        assert!(is_sqlite_memory("sqlite://x?mode=memory&cache=shared"));
        assert!(!is_sqlite_memory("sqlite://data/portcullis.db"));
        assert!(!is_sqlite_memory("sqlite:memory.db"));
    }
}
