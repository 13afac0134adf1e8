//! Hand-written SQL for the refresh-token rotation hot path, one text per
//! backend (the portable SeaORM version took five round trips).
//!
//! - PostgreSQL: one atomic statement (data-modifying CTEs), run through
//!   SeaORM's raw-statement API: one round trip.
//! - SQLite: `BEGIN IMMEDIATE`, three statements and `COMMIT` sent as one
//!   multi-statement query to the single writer connection through sqlx: one
//!   trip to SQLite's worker thread instead of five. It runs in its own task,
//!   so a caller that gives up midway cannot leave the transaction open; after
//!   a failure midway it is rolled back, and a connection whose rollback fails
//!   is closed rather than returned to the pool.
//!
//! Both yield the spent token's row when the rotation happened and no row
//! otherwise, in which case nothing was changed.
//!
//! Parameters, in order: `now`, `realm_id`, presented hash, replacement id,
//! replacement hash, replacement `created_at`, `expires_at`, `ip`,
//! replacement `used_at`, `revoked_at`.

use portcullis_core::StoreError;
use portcullis_core::model::RefreshToken;
use sea_orm::{DbBackend, Statement, Value};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::convert::{micros, micros_opt};
use crate::entities::refresh_token;

/// Columns of `refresh_tokens`, in entity order, each prefixed with `$p`.
#[rustfmt::skip]
macro_rules! token_columns {
    ($p:literal) => {
        concat!(
            $p, "id, ", $p, "realm_id, ", $p, "token_hash, ", $p, "family_id, ",
            $p, "session_id, ", $p, "user_id, ", $p, "client_id, ", $p, "scope, ",
            $p, "created_at, ", $p, "expires_at, ", $p, "used_at, ", $p, "revoked_at"
        )
    };
}

/// SQLite, one transaction on the single writer connection. Spend the token
/// (only when unused, unrevoked, unexpired and its session is live); insert
/// the replacement only if the spend changed a row; touch the session only if
/// the insert did. `changes()` is the row count of the previous statement.
/// Marks the presented token used, if it may rotate; returns the spent row.
const SQLITE_SPEND: &str = concat!(
    "UPDATE refresh_tokens SET used_at = ?1 ",
    "WHERE token_hash = ?3 AND realm_id = ?2 AND used_at IS NULL AND revoked_at IS NULL ",
    "AND expires_at > ?1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.realm_id = ?2 ",
    "AND s.id = refresh_tokens.session_id AND s.revoked_at IS NULL AND s.expires_at > ?1) ",
    "RETURNING ",
    token_columns!(""),
    ";"
);

/// Inserts the replacement when the previous statement spent the token.
const SQLITE_REPLACE: &str = concat!(
    "INSERT INTO refresh_tokens (",
    token_columns!(""),
    ") SELECT ?4, realm_id, ?5, family_id, session_id, user_id, client_id, scope, ?6, ?7, ?9, ?10 ",
    "FROM refresh_tokens WHERE token_hash = ?3 AND realm_id = ?2 AND changes() = 1;"
);

/// Touches the session when the previous statement inserted the replacement.
const SQLITE_TOUCH: &str = concat!(
    "UPDATE sessions SET last_used_at = ?1, ip = COALESCE(?8, ip) WHERE realm_id = ?2 ",
    "AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?3 AND realm_id = ?2) ",
    "AND changes() = 1;"
);

const SQLITE: &str = concat!(
    "BEGIN IMMEDIATE;\n",
    "UPDATE refresh_tokens SET used_at = ?1 ",
    "WHERE token_hash = ?3 AND realm_id = ?2 AND used_at IS NULL AND revoked_at IS NULL ",
    "AND expires_at > ?1 AND EXISTS (SELECT 1 FROM sessions s WHERE s.realm_id = ?2 ",
    "AND s.id = refresh_tokens.session_id AND s.revoked_at IS NULL AND s.expires_at > ?1) ",
    "RETURNING ",
    token_columns!(""),
    ";\n",
    "INSERT INTO refresh_tokens (",
    token_columns!(""),
    ") SELECT ?4, realm_id, ?5, family_id, session_id, user_id, client_id, scope, ?6, ?7, ?9, ?10 ",
    "FROM refresh_tokens WHERE token_hash = ?3 AND realm_id = ?2 AND changes() = 1;\n",
    "UPDATE sessions SET last_used_at = ?1, ip = COALESCE(?8, ip) WHERE realm_id = ?2 ",
    "AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?3 AND realm_id = ?2) ",
    "AND changes() = 1;\n",
    "COMMIT;",
);

const POSTGRES: &str = concat!(
    "WITH live AS (SELECT s.id FROM sessions s WHERE s.realm_id = $2 ",
    "AND s.revoked_at IS NULL AND s.expires_at > $1 AND s.id = (SELECT t.session_id ",
    "FROM refresh_tokens t WHERE t.realm_id = $2 AND t.token_hash = $3) FOR UPDATE), ",
    "spent AS (UPDATE refresh_tokens t SET used_at = $1 FROM live ",
    "WHERE t.session_id = live.id AND t.token_hash = $3 AND t.realm_id = $2 ",
    "AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $1 RETURNING ",
    token_columns!("t."),
    "), inserted AS (INSERT INTO refresh_tokens (",
    token_columns!(""),
    ") SELECT $4, realm_id, $5, family_id, session_id, user_id, client_id, scope, $6, $7, $9, $10 ",
    "FROM spent), ",
    "touched AS (UPDATE sessions SET last_used_at = $1, ip = COALESCE($8, ip) ",
    "WHERE realm_id = $2 AND id IN (SELECT session_id FROM spent)) ",
    "SELECT ",
    token_columns!(""),
    " FROM spent",
);

/// The PostgreSQL rotation statement.
pub(crate) fn postgres(
    realm_id: Uuid,
    presented_hash: &[u8],
    replacement: &RefreshToken,
    now: OffsetDateTime,
    ip: Option<&str>,
) -> Statement {
    let values: [Value; 10] = [
        micros(now).into(),
        realm_id.into(),
        presented_hash.to_vec().into(),
        replacement.id.into(),
        replacement.token_hash.clone().into(),
        micros(replacement.created_at).into(),
        micros(replacement.expires_at).into(),
        ip.map(str::to_owned).into(),
        micros_opt(replacement.used_at).into(),
        micros_opt(replacement.revoked_at).into(),
    ];
    Statement::from_sql_and_values(DbBackend::Postgres, POSTGRES, values)
}

fn sqlx_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("refresh token already exists".to_owned())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// SQLite's answer to `ROLLBACK` when the failed statement already ended the
/// transaction.
fn is_no_transaction(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.message().contains("no transaction is active"))
}

fn spent_row(row: &sqlx::sqlite::SqliteRow) -> Result<refresh_token::Model, sqlx::Error> {
    spent_row_at(row, 0)
}

/// The token columns of a row, starting at column `at`.
fn spent_row_at(
    row: &sqlx::sqlite::SqliteRow,
    at: usize,
) -> Result<refresh_token::Model, sqlx::Error> {
    Ok(refresh_token::Model {
        id: row.try_get(at)?,
        realm_id: row.try_get(at + 1)?,
        token_hash: row.try_get(at + 2)?,
        family_id: row.try_get(at + 3)?,
        session_id: row.try_get(at + 4)?,
        user_id: row.try_get(at + 5)?,
        client_id: row.try_get(at + 6)?,
        scope: row.try_get(at + 7)?,
        created_at: row.try_get(at + 8)?,
        expires_at: row.try_get(at + 9)?,
        used_at: row.try_get(at + 10)?,
        revoked_at: row.try_get(at + 11)?,
    })
}

/// Runs the SQLite rotation on the writer pool; the spent token's row if it
/// rotated.
pub(crate) async fn sqlite(
    writer: &SqlitePool,
    realm_id: Uuid,
    presented_hash: &[u8],
    replacement: &RefreshToken,
    now: OffsetDateTime,
    ip: Option<&str>,
) -> Result<Option<refresh_token::Model>, StoreError> {
    let writer = writer.clone();
    let query = sqlx::query(SQLITE)
        .bind(micros(now))
        .bind(realm_id)
        .bind(presented_hash.to_vec())
        .bind(replacement.id)
        .bind(replacement.token_hash.clone())
        .bind(micros(replacement.created_at))
        .bind(micros(replacement.expires_at))
        .bind(ip.map(str::to_owned))
        .bind(micros_opt(replacement.used_at))
        .bind(micros_opt(replacement.revoked_at));
    let task = tokio::spawn(async move {
        let mut conn = writer.acquire().await.map_err(sqlx_err)?;
        match query.fetch_all(&mut *conn).await {
            Ok(rows) => rows
                .first()
                .map(spent_row)
                .transpose()
                .map_err(|e| StoreError::Backend(e.to_string())),
            Err(e) => {
                // The transaction may still be open: roll it back, and if that
                // is not certain, never reuse this connection.
                if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await
                    && !is_no_transaction(&rollback)
                {
                    tracing::warn!(error = %rollback, "closing SQLite writer connection after a failed rollback");
                    conn.close_on_drop();
                }
                Err(sqlx_err(e))
            }
        }
    });
    task.await
        .map_err(|e| StoreError::Backend(format!("rotation task failed: {e}")))?
}

/// Most rotations committed in one SQLite transaction.
const MAX_BATCH: usize = 64;

/// One rotation waiting for the batching task.
struct Pending {
    realm_id: Uuid,
    presented_hash: Vec<u8>,
    replacement: RefreshToken,
    now: OffsetDateTime,
    ip: Option<String>,
    reply: tokio::sync::oneshot::Sender<Result<Option<refresh_token::Model>, StoreError>>,
}

/// Group commit for SQLite rotations: concurrent rotations are queued and run
/// by one task in a single transaction on the writer connection, so the pages
/// they share and the file locks are written and taken once per batch rather
/// than once per rotation. Each rotation keeps its own conditional update: a
/// token presented twice in one batch still rotates exactly once. Under low
/// load a batch holds one rotation.
#[derive(Debug, Clone)]
pub(crate) struct SqliteRotator {
    queue: tokio::sync::mpsc::Sender<Pending>,
}

impl SqliteRotator {
    /// Starts the batching task on the writer pool. It ends when the last
    /// clone of the rotator is dropped.
    pub(crate) fn start(writer: SqlitePool) -> Self {
        let (queue, mut pending) = tokio::sync::mpsc::channel::<Pending>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match pending.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                run_batch(&writer, batch).await;
            }
        });
        Self { queue }
    }

    /// Rotates one token (see `RefreshTokenStore::rotate_refresh_token`); the
    /// spent token's row if it rotated.
    pub(crate) async fn rotate(
        &self,
        realm_id: Uuid,
        presented_hash: &[u8],
        replacement: &RefreshToken,
        now: OffsetDateTime,
        ip: Option<&str>,
    ) -> Result<Option<refresh_token::Model>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Pending {
            realm_id,
            presented_hash: presented_hash.to_vec(),
            replacement: replacement.clone(),
            now,
            ip: ip.map(str::to_owned),
            reply,
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::Backend("rotation queue closed".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("rotation task ended".to_owned()))?
    }
}

/// Binds one rotation's ten parameters.
fn bind_job<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    job: &Pending,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    query
        .bind(micros(job.now))
        .bind(job.realm_id)
        .bind(job.presented_hash.clone())
        .bind(job.replacement.id)
        .bind(job.replacement.token_hash.clone())
        .bind(micros(job.replacement.created_at))
        .bind(micros(job.replacement.expires_at))
        .bind(job.ip.clone())
        .bind(micros_opt(job.replacement.used_at))
        .bind(micros_opt(job.replacement.revoked_at))
}

/// Runs every rotation of a batch in one write transaction and commits it.
async fn batch_in_one_transaction(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
    batch: &[Pending],
) -> Result<Vec<Option<Result<refresh_token::Model, sqlx::Error>>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await?;
    let mut spent = Vec::with_capacity(batch.len());
    for job in batch {
        let row = bind_job(sqlx::query(SQLITE_SPEND), job)
            .fetch_optional(&mut **conn)
            .await?;
        if row.is_some() {
            bind_job(sqlx::query(SQLITE_REPLACE), job)
                .execute(&mut **conn)
                .await?;
            bind_job(sqlx::query(SQLITE_TOUCH), job)
                .execute(&mut **conn)
                .await?;
        }
        spent.push(row.as_ref().map(spent_row));
    }
    sqlx::query("COMMIT").execute(&mut **conn).await?;
    Ok(spent)
}

async fn run_batch(writer: &SqlitePool, batch: Vec<Pending>) {
    if batch.len() == 1 {
        for job in batch {
            let outcome = sqlite(
                writer,
                job.realm_id,
                &job.presented_hash,
                &job.replacement,
                job.now,
                job.ip.as_deref(),
            )
            .await;
            let _ = job.reply.send(outcome);
        }
        return;
    }
    let result = match writer.acquire().await {
        Ok(mut conn) => match batch_in_one_transaction(&mut conn, &batch).await {
            Ok(spent) => Ok(spent),
            Err(e) => {
                if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await
                    && !is_no_transaction(&rollback)
                {
                    tracing::warn!(error = %rollback, "closing SQLite writer connection after a failed rollback");
                    conn.close_on_drop();
                }
                Err(e)
            }
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(spent) => {
            for (job, outcome) in batch.into_iter().zip(spent) {
                let outcome = outcome
                    .transpose()
                    .map_err(|e| StoreError::Backend(e.to_string()));
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            // Rolled back: nothing of the batch happened. Run each rotation on its
            // own so one bad request cannot fail the others.
            tracing::debug!(error = %e, "batched rotation failed; retrying one by one");
            for job in batch {
                let outcome = sqlite(
                    writer,
                    job.realm_id,
                    &job.presented_hash,
                    &job.replacement,
                    job.now,
                    job.ip.as_deref(),
                )
                .await;
                let _ = job.reply.send(outcome);
            }
        }
    }
}
