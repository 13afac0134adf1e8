//! [`DenylistStore`] and [`LoginFailureStore`] for [`SqlStore`]: the small
//! append-and-purge tables.

use async_trait::async_trait;
use portcullis_core::ports::{DenylistStore, LoginFailureStore, Revocations, StoreResult};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{db_err, instant, micros};
use crate::entities::{deleted_user, login_failure, revoked_token, session, user};

#[async_trait]
impl DenylistStore for SqlStore {
    /// Idempotent: revoking an already revoked token id changes nothing.
    async fn insert_revoked_token(
        &self,
        realm_id: Uuid,
        jti: Uuid,
        expires_at: OffsetDateTime,
        revoked_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = revoked_token::ActiveModel {
            jti: Set(jti),
            realm_id: Set(realm_id),
            expires_at: Set(micros(expires_at)),
            revoked_at: Set(micros(revoked_at)),
        };
        revoked_token::Entity::insert(row)
            .on_conflict_do_nothing_on([revoked_token::Column::Jti])
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_revoked_tokens(
        &self,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(Uuid, Uuid, OffsetDateTime)>> {
        let rows: Vec<(Uuid, Uuid, i64)> = revoked_token::Entity::find()
            .select_only()
            .column(revoked_token::Column::RealmId)
            .column(revoked_token::Column::Jti)
            .column(revoked_token::Column::ExpiresAt)
            .filter(revoked_token::Column::ExpiresAt.gt(micros(now)))
            .order_by_asc(revoked_token::Column::ExpiresAt)
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(realm, jti, exp)| Ok((realm, jti, instant(exp)?)))
            .collect()
    }

    async fn revocations_since(&self, since: OffsetDateTime) -> StoreResult<Revocations> {
        let since = micros(since);
        let tokens: Vec<(Uuid, i64, i64)> = revoked_token::Entity::find()
            .select_only()
            .column(revoked_token::Column::Jti)
            .column(revoked_token::Column::ExpiresAt)
            .column(revoked_token::Column::RevokedAt)
            .filter(revoked_token::Column::RevokedAt.gte(since))
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        let sessions: Vec<(Uuid, Option<i64>)> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .column(session::Column::RevokedAt)
            .filter(session::Column::RevokedAt.gte(since))
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        let users: Vec<(Uuid, i64)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::UpdatedAt)
            .filter(user::Column::UpdatedAt.gte(since))
            .filter(user::Column::Active.eq(false))
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        let deleted: Vec<(Uuid, i64)> = deleted_user::Entity::find()
            .select_only()
            .column(deleted_user::Column::UserId)
            .column(deleted_user::Column::DeletedAt)
            .filter(deleted_user::Column::DeletedAt.gte(since))
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(Revocations {
            tokens: tokens
                .into_iter()
                .map(|(jti, exp, at)| Ok((jti, instant(exp)?, instant(at)?)))
                .collect::<StoreResult<_>>()?,
            sessions: sessions
                .into_iter()
                .filter_map(|(id, at)| at.map(|at| (id, at)))
                .map(|(id, at)| Ok((id, instant(at)?)))
                .collect::<StoreResult<_>>()?,
            users: users
                .into_iter()
                .chain(deleted)
                .map(|(id, at)| Ok((id, instant(at)?)))
                .collect::<StoreResult<_>>()?,
        })
    }

    async fn insert_deleted_user(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = deleted_user::ActiveModel {
            user_id: Set(user_id),
            realm_id: Set(realm_id),
            deleted_at: Set(micros(at)),
        };
        deleted_user::Entity::insert(row)
            .on_conflict_do_nothing_on([deleted_user::Column::UserId])
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_deleted_users(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = deleted_user::Entity::delete_many()
            .filter(deleted_user::Column::DeletedAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    async fn purge_revoked_tokens(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }
}

#[async_trait]
impl LoginFailureStore for SqlStore {
    async fn record_login_failure(
        &self,
        realm_id: Uuid,
        key: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = login_failure::ActiveModel {
            id: Set(Uuid::now_v7()),
            realm_id: Set(realm_id),
            key: Set(key.to_owned()),
            at: Set(micros(at)),
        };
        login_failure::Entity::insert(row)
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn login_failures_since(
        &self,
        realm_id: Uuid,
        key: &str,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<OffsetDateTime>> {
        let rows: Vec<i64> = login_failure::Entity::find()
            .select_only()
            .column(login_failure::Column::At)
            .filter(login_failure::Column::RealmId.eq(realm_id))
            .filter(login_failure::Column::Key.eq(key))
            .filter(login_failure::Column::At.gte(micros(since)))
            .order_by_asc(login_failure::Column::At)
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(instant).collect()
    }

    async fn clear_login_failures(&self, realm_id: Uuid, key: &str) -> StoreResult<()> {
        login_failure::Entity::delete_many()
            .filter(login_failure::Column::RealmId.eq(realm_id))
            .filter(login_failure::Column::Key.eq(key))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_login_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = login_failure::Entity::delete_many()
            .filter(login_failure::Column::At.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }
}
