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

/// PostgreSQL, one atomic statement. `live` locks the token's session first
/// (the order session revocation uses: session, then tokens), so a rotation
/// racing a revocation waits instead of deadlocking; of two racing rotations
/// the second re-checks the spent row after the first commits and matches
/// nothing.
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
