//! [`AuthzStore`] for [`SqlStore`]: roles, groups, memberships, grants,
//! policies, each realm's authorization revision, and the audit table.
//!
//! Every change runs in one write transaction that first bumps the realm's
//! revision (`UPDATE realms ... RETURNING`). On PostgreSQL that row lock
//! serialises the changes of a realm, so the checks a change makes (a role
//! is built-in, a policy's target exists) cannot be overtaken by another
//! change; on SQLite the single writer does the same. The optimistic check
//! (`expected_revision`) compares with the value before the bump; a failure
//! of any step rolls the whole transaction back, revision and audit row
//! included.

mod apply;
mod rows;
mod snapshot;

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{AuditRecord, AuthzChange};
use portcullis_core::ports::{AuthzStore, StoreResult};
use portcullis_policy::builtin::builtin_roles;
use portcullis_policy::model::{Attachment, RealmSnapshot};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, IsolationLevel,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{all, db_err, micros};
use crate::entities::{
    audit_event, group_member, permission_definition, permission_grant, realm, role, role_grant,
};
use crate::store::Backend;

/// Bumps a realm's revision and returns the new value; `None` when the realm
/// does not exist. Inside a write transaction this locks the realm's row
/// until commit, so call it before touching any other row of the realm.
pub(crate) async fn bump_revision<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Option<i64>> {
    let rows = realm::Entity::update_many()
        .col_expr(
            realm::Column::AuthzRevision,
            Expr::col(realm::Column::AuthzRevision).add(1),
        )
        .filter(realm::Column::Id.eq(realm_id))
        .exec_with_returning(db)
        .await
        .map_err(db_err)?;
    Ok(rows.first().map(|r| r.authz_revision))
}

/// Inserts the built-in roles (`realm-admin`, `user`) of a new realm, with
/// their permissions, created at `at` (Unix microseconds).
pub(crate) async fn insert_builtin_roles<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    at: i64,
) -> StoreResult<()> {
    for builtin in builtin_roles() {
        let id = Uuid::now_v7();
        let row = role::Model {
            id,
            realm_id,
            name: builtin.name.to_owned(),
            description: Some(builtin.description.to_owned()),
            builtin: true,
            created_at: at,
            updated_at: at,
        };
        role::Entity::insert(row.into_active_model())
            .exec_without_returning(db)
            .await
            .map_err(db_err)?;
        apply::insert_role_permissions(db, realm_id, id, &builtin.permissions).await?;
    }
    Ok(())
}

/// Deletes the policies attached to a user (the user is being deleted; its
/// memberships and grants go by cascade).
pub(crate) async fn delete_user_policies<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    user_id: Uuid,
) -> StoreResult<()> {
    apply::delete_attached_policies(db, realm_id, Attachment::User(user_id)).await
}

/// Rows per audit `INSERT`: a batch is cut greedily into statements of these
/// sizes (200 rows: 3 × 64 + 2 × 4), so that the database sees four distinct
/// statements, which stay prepared, instead of one new statement per batch
/// size. The largest binds 576 values, well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters per statement.
const AUDIT_INSERT_SIZES: [usize; 4] = [64, 16, 4, 1];

/// How [`AUDIT_INSERT_SIZES`] cuts `n` rows: the size of each statement.
fn audit_statements(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    for size in AUDIT_INSERT_SIZES {
        while n >= size {
            sizes.push(size);
            n -= size;
        }
    }
    sizes
}

async fn insert_audit_rows<C: ConnectionTrait>(
    db: &C,
    rows: Vec<audit_event::ActiveModel>,
) -> StoreResult<()> {
    audit_event::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl AuthzStore for SqlStore {
    async fn authz_snapshot(&self, realm_id: Uuid) -> StoreResult<RealmSnapshot> {
        // PostgreSQL: one snapshot for every statement. SQLite (WAL): a read
        // transaction sees the database as of its first read.
        let txn = match self.backend {
            Backend::Postgres => {
                self.reader
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await
            }
            Backend::Sqlite => self.reader.begin().await,
        }
        .map_err(db_err)?;
        let snapshot = snapshot::load(&txn, realm_id).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(snapshot)
    }

    async fn authz_revision(&self, realm_id: Uuid) -> StoreResult<i64> {
        snapshot::revision(&self.reader, realm_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn apply_authz_change(
        &self,
        realm_id: Uuid,
        expected_revision: Option<i64>,
        change: &AuthzChange,
        audit: &AuditRecord,
    ) -> StoreResult<i64> {
        let audit_row = rows::audit_row(realm_id, audit)?;
        // Dropping the transaction on an early return rolls it back.
        let txn = self.begin_write().await?;
        let revision = bump_revision(&txn, realm_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if expected_revision.is_some_and(|expected| expected != revision - 1) {
            return Err(StoreError::Stale);
        }
        apply::apply(&txn, realm_id, change, audit_row.at).await?;
        audit_event::Entity::insert(audit_row.into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(revision)
    }

    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()> {
        let rows = records
            .iter()
            .map(|r| rows::audit_row(r.realm_id, r).map(IntoActiveModel::into_active_model))
            .collect::<StoreResult<Vec<_>>>()?;
        let sizes = audit_statements(rows.len());
        match sizes.len() {
            0 => Ok(()),
            // One statement is atomic on its own.
            1 => insert_audit_rows(&self.writer, rows).await,
            _ => {
                let txn = self.begin_write().await?;
                let mut rows = rows.into_iter();
                for size in sizes {
                    insert_audit_rows(&txn, rows.by_ref().take(size).collect()).await?;
                }
                txn.commit().await.map_err(db_err)
            }
        }
    }

    async fn list_defined_permissions(
        &self,
        realm_id: Uuid,
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        permission_definition::Entity::find()
            .select_only()
            .columns([
                permission_definition::Column::Permission,
                permission_definition::Column::Description,
            ])
            .filter(permission_definition::Column::RealmId.eq(realm_id))
            .order_by_asc(permission_definition::Column::Permission)
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn list_audit(&self, realm_id: Uuid, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::RealmId.eq(realm_id))
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .limit(u64::from(limit))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn purge_expired_grants(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let now = micros(now);
        let txn = self.begin_write().await?;
        let members = group_member::Entity::delete_many()
            .filter(group_member::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let roles = role_grant::Entity::delete_many()
            .filter(role_grant::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let permissions = permission_grant::Entity::delete_many()
            .filter(permission_grant::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(members.rows_affected + roles.rows_affected + permissions.rows_affected)
    }
}

/// Applies `changes` in order in one transaction with one revision bump and
/// one audit record (bulk import); all or nothing.
pub(crate) async fn apply_many(
    store: &SqlStore,
    realm_id: Uuid,
    changes: &[AuthzChange],
    audit: &AuditRecord,
) -> StoreResult<i64> {
    let audit_row = rows::audit_row(realm_id, audit)?;
    // Dropping the transaction on an early return rolls it back.
    let txn = store.begin_write().await?;
    let revision = bump_revision(&txn, realm_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    for change in changes {
        apply::apply(&txn, realm_id, change, audit_row.at).await?;
    }
    audit_event::Entity::insert(audit_row.into_active_model())
        .exec_without_returning(&txn)
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    Ok(revision)
}

#[cfg(test)]
mod tests {
    use super::audit_statements;

    #[test]
    fn audit_batches_are_cut_into_few_statement_sizes() {
        assert!(audit_statements(0).is_empty());
        assert_eq!(audit_statements(1), [1]);
        assert_eq!(audit_statements(7), [4, 1, 1, 1]);
        assert_eq!(audit_statements(200), [64, 64, 64, 4, 4]);
        for n in 0..2000 {
            let sizes = audit_statements(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.len() <= n / 64 + 3 + 3 + 3);
        }
    }
}
