//! Hand-written SQL for the bulk-import hot path (measured by
//! `cargo xtask bench import`), one text per backend.
//!
//! - SQLite: one `BEGIN IMMEDIATE` transaction per batch on the writer
//!   connection, one prepared statement per row (SQLite caches it).
//! - PostgreSQL: one transaction per batch, one `INSERT ... SELECT FROM
//!   UNNEST(...)` for the new rows and one `UPDATE ... FROM UNNEST(...)` for
//!   the changed ones: two round trips whatever the batch size.
//!
//! The batch runs in a task of its own, so a caller that gives up midway
//! (a client that hangs up) cannot leave a transaction open on the pooled
//! connection: the task commits or rolls back.

use portcullis_core::StoreError;
use portcullis_core::model::User;
use portcullis_core::ports::ExistingUser;
use sqlx::{PgPool, Row, SqlitePool};
use uuid::Uuid;

use crate::convert::micros;

const SQLITE_INSERT: &str = "INSERT INTO users (id, realm_id, email, email_canonical, name, \
    password_hash, active, email_verified, attributes, created_at, updated_at, last_login_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)";

const SQLITE_UPDATE: &str = "UPDATE users SET email = ?3, email_canonical = ?4, name = ?5, \
    password_hash = ?6, active = ?7, email_verified = ?8, attributes = ?9, created_at = ?10, updated_at = ?11 \
    WHERE realm_id = ?2 AND id = ?1";

const BUMP: &str = "UPDATE realms SET authz_revision = authz_revision + 1 WHERE id = $1";

const PG_INSERT: &str = "INSERT INTO users (id, realm_id, email, email_canonical, name, \
    password_hash, active, email_verified, attributes, created_at, updated_at, last_login_at) \
    SELECT v.id, $1, v.email, v.canon, v.name, v.hash, v.active, v.verified, v.attrs, v.created, \
    v.updated, NULL FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::bool[], $8::bool[], $9::text[], $10::int8[], $11::int8[]) \
    AS v(id, email, canon, name, hash, active, verified, attrs, created, updated)";

const PG_UPDATE: &str = "UPDATE users u SET email = v.email, email_canonical = v.canon, \
    name = v.name, password_hash = v.hash, active = v.active, email_verified = v.verified, \
    attributes = v.attrs, created_at = v.created, updated_at = v.updated FROM UNNEST($2::uuid[], $3::text[], $4::text[], \
    $5::text[], $6::text[], $7::bool[], $8::bool[], $9::text[], $10::int8[], $11::int8[]) \
    AS v(id, email, canon, name, hash, active, verified, attrs, created, updated) \
    WHERE u.realm_id = $1 AND u.id = v.id";

fn sqlx_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("a user's id or e-mail address is taken".to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::Backend(e.to_string()),
    }
}

fn attributes(u: &User) -> String {
    serde_json::Value::Object(u.attributes.clone()).to_string()
}

/// Whether writing these users changes what policy conditions see.
fn touches_attributes(inserts: &[User], updates: &[User]) -> bool {
    !updates.is_empty() || inserts.iter().any(|u| !u.attributes.is_empty())
}

/// SQLite: writes a batch in one transaction.
pub(crate) async fn sqlite_write(
    pool: SqlitePool,
    realm_id: Uuid,
    inserts: Vec<User>,
    updates: Vec<User>,
) -> Result<(), StoreError> {
    let task = tokio::spawn(async move {
        let mut conn = pool.acquire().await.map_err(sqlx_err)?;
        let outcome = sqlite_batch(&mut conn, realm_id, &inserts, &updates).await;
        if outcome.is_err()
            && let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await
            && !e.to_string().contains("no transaction is active")
        {
            tracing::warn!(error = %e, "closing SQLite writer connection after a failed rollback");
            conn.close_on_drop();
        }
        outcome.map_err(sqlx_err)
    });
    task.await
        .map_err(|e| StoreError::Backend(format!("import batch task: {e}")))?
}

async fn sqlite_batch(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
    realm_id: Uuid,
    inserts: &[User],
    updates: &[User],
) -> Result<(), sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await?;
    if touches_attributes(inserts, updates) {
        sqlx::query(BUMP)
            .bind(realm_id)
            .execute(&mut **conn)
            .await?;
    }
    for (sql, rows) in [(SQLITE_INSERT, inserts), (SQLITE_UPDATE, updates)] {
        for u in rows {
            sqlx::query(sql)
                .bind(u.id)
                .bind(realm_id)
                .bind(u.email.as_str())
                .bind(u.email.canonical())
                .bind(u.name.as_deref())
                .bind(u.password_hash.as_deref())
                .bind(u.active)
                .bind(u.email_verified)
                .bind(attributes(u))
                .bind(micros(u.created_at))
                .bind(micros(u.updated_at))
                .execute(&mut **conn)
                .await?;
        }
    }
    sqlx::query("COMMIT").execute(&mut **conn).await?;
    Ok(())
}

/// The columns of a batch, as PostgreSQL arrays.
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    email: Vec<String>,
    canon: Vec<String>,
    name: Vec<Option<String>>,
    hash: Vec<Option<String>>,
    active: Vec<bool>,
    verified: Vec<bool>,
    attrs: Vec<String>,
    created: Vec<i64>,
    updated: Vec<i64>,
}

impl Columns {
    fn of(users: &[User]) -> Self {
        let mut c = Columns::default();
        for u in users {
            c.id.push(u.id);
            c.email.push(u.email.as_str().to_owned());
            c.canon.push(u.email.canonical());
            c.name.push(u.name.clone());
            c.hash.push(u.password_hash.clone());
            c.active.push(u.active);
            c.verified.push(u.email_verified);
            c.attrs.push(attributes(u));
            c.created.push(micros(u.created_at));
            c.updated.push(micros(u.updated_at));
        }
        c
    }

    async fn run(
        self,
        sql: &'static str,
        realm_id: Uuid,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(sql)
            .bind(realm_id)
            .bind(self.id)
            .bind(self.email)
            .bind(self.canon)
            .bind(self.name)
            .bind(self.hash)
            .bind(self.active)
            .bind(self.verified)
            .bind(self.attrs)
            .bind(self.created)
            .bind(self.updated)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// PostgreSQL: writes a batch in one transaction.
pub(crate) async fn postgres_write(
    pool: PgPool,
    realm_id: Uuid,
    inserts: Vec<User>,
    updates: Vec<User>,
) -> Result<(), StoreError> {
    let task = tokio::spawn(async move {
        let mut tx = pool.begin().await?;
        if touches_attributes(&inserts, &updates) {
            sqlx::query(BUMP).bind(realm_id).execute(&mut *tx).await?;
        }
        if !inserts.is_empty() {
            Columns::of(&inserts)
                .run(PG_INSERT, realm_id, &mut tx)
                .await?;
        }
        if !updates.is_empty() {
            Columns::of(&updates)
                .run(PG_UPDATE, realm_id, &mut tx)
                .await?;
        }
        tx.commit().await
    });
    task.await
        .map_err(|e| StoreError::Backend(format!("import batch task: {e}")))?
        .map_err(sqlx_err)
}

/// SQLite: the users a batch may collide with.
pub(crate) async fn sqlite_existing(
    pool: &SqlitePool,
    realm_id: Uuid,
    ids: &[Uuid],
    emails: &[String],
) -> Result<Vec<ExistingUser>, StoreError> {
    let marks = |n: usize| vec!["?"; n.max(1)].join(",");
    let sql = format!(
        "SELECT id, realm_id, email_canonical FROM users WHERE id IN ({}) \
         UNION SELECT id, realm_id, email_canonical FROM users WHERE realm_id = ? \
         AND email_canonical IN ({})",
        marks(ids.len()),
        marks(emails.len())
    );
    // Only placeholders are generated; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if ids.is_empty() {
        q = q.bind(Uuid::nil());
    }
    for id in ids {
        q = q.bind(*id);
    }
    q = q.bind(realm_id);
    if emails.is_empty() {
        q = q.bind("");
    }
    for e in emails {
        q = q.bind(e.as_str());
    }
    let rows = q.fetch_all(pool).await.map_err(sqlx_err)?;
    rows.iter()
        .map(|r| {
            Ok(ExistingUser {
                id: r.try_get(0)?,
                realm_id: r.try_get(1)?,
                email_canonical: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(sqlx_err)
}

/// PostgreSQL: the users a batch may collide with.
pub(crate) async fn postgres_existing(
    pool: &PgPool,
    realm_id: Uuid,
    ids: &[Uuid],
    emails: &[String],
) -> Result<Vec<ExistingUser>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, realm_id, email_canonical FROM users WHERE id = ANY($1) \
         UNION SELECT id, realm_id, email_canonical FROM users WHERE realm_id = $2 \
         AND email_canonical = ANY($3)",
    )
    .bind(ids)
    .bind(realm_id)
    .bind(emails)
    .fetch_all(pool)
    .await
    .map_err(sqlx_err)?;
    rows.iter()
        .map(|r| {
            Ok(ExistingUser {
                id: r.try_get(0)?,
                realm_id: r.try_get(1)?,
                email_canonical: r.try_get(2)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(sqlx_err)
}
