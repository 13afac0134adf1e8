//! [`TransferStore`] for [`SqlStore`]: keyset pages of users for export,
//! batches of users for import (hand-written SQL in [`crate::import_sql`]),
//! and many authorization changes in one transaction.

use async_trait::async_trait;
use portcullis_core::model::{AuditRecord, AuthzChange, User};
use portcullis_core::ports::{ExistingUser, StoreResult, TransferStore};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{all, db_err};
use crate::entities::user;
use crate::import_sql;
use crate::store::Backend;

#[async_trait]
impl TransferStore for SqlStore {
    async fn users_after(
        &self,
        realm_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<User>> {
        let mut select = user::Entity::find().filter(user::Column::RealmId.eq(realm_id));
        if let Some(after) = after {
            select = select.filter(user::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(user::Column::Id)
            .limit(limit)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn existing_users(
        &self,
        realm_id: Uuid,
        ids: &[Uuid],
        emails: &[String],
    ) -> StoreResult<Vec<ExistingUser>> {
        match self.backend {
            Backend::Sqlite => {
                let pool = self.writer.get_sqlite_connection_pool();
                import_sql::sqlite_existing(pool, realm_id, ids, emails).await
            }
            Backend::Postgres => {
                let pool = self.writer.get_postgres_connection_pool();
                import_sql::postgres_existing(pool, realm_id, ids, emails).await
            }
        }
    }

    async fn write_users(
        &self,
        realm_id: Uuid,
        inserts: &[User],
        updates: &[User],
    ) -> StoreResult<()> {
        if inserts.is_empty() && updates.is_empty() {
            return Ok(());
        }
        let (inserts, updates) = (inserts.to_vec(), updates.to_vec());
        match self.backend {
            Backend::Sqlite => {
                let pool = self.writer.get_sqlite_connection_pool().clone();
                import_sql::sqlite_write(pool, realm_id, inserts, updates).await
            }
            Backend::Postgres => {
                let pool = self.writer.get_postgres_connection_pool().clone();
                import_sql::postgres_write(pool, realm_id, inserts, updates).await
            }
        }
    }

    async fn apply_authz_changes(
        &self,
        realm_id: Uuid,
        changes: &[AuthzChange],
        audit: &AuditRecord,
    ) -> StoreResult<i64> {
        crate::authz::apply_many(self, realm_id, changes, audit).await
    }
}
