//! Hand-written SQL for the refresh-token rotation hot path, one text per
//! backend (the portable SeaORM version took five round trips).
//!
//! - PostgreSQL: one atomic statement (data-modifying CTEs), run through
//!   SeaORM's raw-statement API: one round trip.
//! - SQLite: group commit. Concurrent rotations queue for one task that runs
//!   them in a single `BEGIN IMMEDIATE` transaction on the writer connection,
//!   each as one multi-statement query (one trip to SQLite's worker thread).
//!   Under low load a batch holds one rotation. The task owns the transaction,
//!   so a caller that gives up midway cannot leave it open; after a failure it
//!   is rolled back, and a connection whose rollback fails is closed rather
//!   than returned to the pool.
//!
//! Both yield the spent token's row when the rotation happened and no row
//! otherwise, in which case nothing was changed. A token issued to another
//! client than the presenting one (`client_id`, NULL for the first-party API)
//! never matches.
//!
//! Parameters, in order: `now`, `realm_id`, presented hash, `ip`,
//! `client_id`, replacement id, replacement hash, replacement `created_at`,
//! `expires_at`, `used_at`, `revoked_at`.
//!
//! The SQLite text is several statements sharing numbered parameters. sqlx
//! binds each statement's unused lower-numbered slots (`?4` in a statement
//! that uses `?5` but not `?4`) as if they were anonymous parameters, taking
//! values from a running count over the whole query, and stops binding a
//! statement once that count passes the number of values, leaving its later
//! parameters NULL. The order above keeps those holes few (one, three and
//! none), so every statement gets all its values. (With `client_id` last,
//! the session update silently lost its `ip`; the conformance suite checks
//! it.)

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

/// SQLite, one rotation: spend the token (only when issued to the presenting
/// client, unused, unrevoked, unexpired and its session is live; `IS` is
/// SQLite's NULL-safe equality) and return its row; insert the
/// replacement only if the spend changed a row; touch the session only if the
/// insert did. `changes()` is the row count of the previous statement. Sent as
/// one multi-statement query, so a rotation is one trip to SQLite's worker
/// thread; it runs inside the batch's transaction.
const SQLITE: &str = concat!(
    "UPDATE refresh_tokens SET used_at = ?1 ",
    "WHERE token_hash = ?3 AND realm_id = ?2 AND client_id IS ?5 AND used_at IS NULL ",
    "AND revoked_at IS NULL AND expires_at > ?1 AND EXISTS (SELECT 1 FROM sessions s ",
    "WHERE s.realm_id = ?2 AND s.id = refresh_tokens.session_id AND s.revoked_at IS NULL ",
    "AND s.expires_at > ?1) RETURNING ",
    token_columns!(""),
    ";\n",
    "INSERT INTO refresh_tokens (",
    token_columns!(""),
    ") SELECT ?6, realm_id, ?7, family_id, session_id, user_id, client_id, scope, ?8, ?9, ?10, ?11 ",
    "FROM refresh_tokens WHERE token_hash = ?3 AND realm_id = ?2 AND changes() = 1;\n",
    "UPDATE sessions SET last_used_at = ?1, ip = COALESCE(?4, ip) WHERE realm_id = ?2 ",
    "AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?3 AND realm_id = ?2) ",
    "AND changes() = 1;",
);

/// PostgreSQL, one statement: lock the token's live session (so a racing
/// revocation of the session waits or is waited for), spend the token when
/// it was issued to the presenting client and is unused, unrevoked and
/// unexpired, insert the replacement and touch the session, each step fed by
/// the previous one.
const POSTGRES: &str = concat!(
    "WITH live AS (SELECT s.id FROM sessions s WHERE s.realm_id = $2 ",
    "AND s.revoked_at IS NULL AND s.expires_at > $1 AND s.id = (SELECT t.session_id ",
    "FROM refresh_tokens t WHERE t.realm_id = $2 AND t.token_hash = $3 ",
    "AND t.client_id IS NOT DISTINCT FROM $5) FOR UPDATE), ",
    "spent AS (UPDATE refresh_tokens t SET used_at = $1 FROM live ",
    "WHERE t.session_id = live.id AND t.token_hash = $3 AND t.realm_id = $2 ",
    "AND t.client_id IS NOT DISTINCT FROM $5 AND t.used_at IS NULL ",
    "AND t.revoked_at IS NULL AND t.expires_at > $1 RETURNING ",
    token_columns!("t."),
    "), inserted AS (INSERT INTO refresh_tokens (",
    token_columns!(""),
    ") SELECT $6, realm_id, $7, family_id, session_id, user_id, client_id, scope, $8, $9, $10, $11 ",
    "FROM spent), ",
    "touched AS (UPDATE sessions SET last_used_at = $1, ip = COALESCE($4, ip) ",
    "WHERE realm_id = $2 AND id IN (SELECT session_id FROM spent)) ",
    "SELECT ",
    token_columns!(""),
    " FROM spent",
);

/// The PostgreSQL rotation statement.
pub(crate) fn postgres(
    realm_id: Uuid,
    client_id: Option<&str>,
    presented_hash: &[u8],
    replacement: &RefreshToken,
    now: OffsetDateTime,
    ip: Option<&str>,
) -> Statement {
    let values: [Value; 11] = [
        micros(now).into(),
        realm_id.into(),
        presented_hash.to_vec().into(),
        ip.map(str::to_owned).into(),
        client_id.map(str::to_owned).into(),
        replacement.id.into(),
        replacement.token_hash.clone().into(),
        micros(replacement.created_at).into(),
        micros(replacement.expires_at).into(),
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

/// The token columns of a spent-token row.
fn spent_row(row: &sqlx::sqlite::SqliteRow) -> Result<refresh_token::Model, sqlx::Error> {
    Ok(refresh_token::Model {
        id: row.try_get(0)?,
        realm_id: row.try_get(1)?,
        token_hash: row.try_get(2)?,
        family_id: row.try_get(3)?,
        session_id: row.try_get(4)?,
        user_id: row.try_get(5)?,
        client_id: row.try_get(6)?,
        scope: row.try_get(7)?,
        created_at: row.try_get(8)?,
        expires_at: row.try_get(9)?,
        used_at: row.try_get(10)?,
        revoked_at: row.try_get(11)?,
    })
}

/// Most rotations committed in one SQLite transaction.
const MAX_BATCH: usize = 64;

/// One rotation waiting for the batching task.
struct Pending {
    realm_id: Uuid,
    client_id: Option<String>,
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
        client_id: Option<&str>,
        presented_hash: &[u8],
        replacement: &RefreshToken,
        now: OffsetDateTime,
        ip: Option<&str>,
    ) -> Result<Option<refresh_token::Model>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Pending {
            realm_id,
            client_id: client_id.map(str::to_owned),
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

/// Binds one rotation's eleven parameters.
fn bind_job<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    job: &Pending,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    query
        .bind(micros(job.now))
        .bind(job.realm_id)
        .bind(job.presented_hash.clone())
        .bind(job.ip.clone())
        .bind(job.client_id.clone())
        .bind(job.replacement.id)
        .bind(job.replacement.token_hash.clone())
        .bind(micros(job.replacement.created_at))
        .bind(micros(job.replacement.expires_at))
        .bind(micros_opt(job.replacement.used_at))
        .bind(micros_opt(job.replacement.revoked_at))
}

/// Runs every rotation of a batch in one write transaction and commits it.
async fn batch_in_one_transaction(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
    batch: &[Pending],
) -> Result<Vec<Option<refresh_token::Model>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await?;
    let mut spent = Vec::with_capacity(batch.len());
    for job in batch {
        let rows = bind_job(sqlx::query(SQLITE), job)
            .fetch_all(&mut **conn)
            .await?;
        spent.push(rows.first().map(spent_row).transpose()?);
    }
    sqlx::query("COMMIT").execute(&mut **conn).await?;
    Ok(spent)
}

/// Runs a batch in one transaction on the writer connection. After a failure
/// the transaction is rolled back, and a connection whose rollback is not
/// certain is closed rather than returned to the pool.
async fn run_in_transaction(
    writer: &SqlitePool,
    batch: &[Pending],
) -> Result<Vec<Option<refresh_token::Model>>, StoreError> {
    let mut conn = writer.acquire().await.map_err(sqlx_err)?;
    match batch_in_one_transaction(&mut conn, batch).await {
        Ok(spent) => Ok(spent),
        Err(e) => {
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await
                && !is_no_transaction(&rollback)
            {
                tracing::warn!(error = %rollback, "closing SQLite writer connection after a failed rollback");
                conn.close_on_drop();
            }
            Err(sqlx_err(e))
        }
    }
}

/// Runs a batch and answers each waiting caller. The batching task owns the
/// work, so a caller that gives up midway cannot leave a transaction open.
async fn run_batch(writer: &SqlitePool, batch: Vec<Pending>) {
    match run_in_transaction(writer, &batch).await {
        Ok(spent) => {
            for (job, outcome) in batch.into_iter().zip(spent) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
        Err(e) => {
            // Rolled back: nothing of the batch happened. Run each rotation on
            // its own so one bad request cannot fail the others.
            tracing::debug!(error = %e, "batched rotation failed; retrying one by one");
            for job in batch {
                let outcome = run_in_transaction(writer, std::slice::from_ref(&job))
                    .await
                    .map(|mut spent| spent.pop().flatten());
                let _ = job.reply.send(outcome);
            }
        }
    }
}
