//! [`SessionStore`] for [`SqlStore`].

use async_trait::async_trait;
use portcullis_core::model::Session;
use portcullis_core::ports::{SessionStore, StoreResult};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{all, db_err, micros, session_row};
use crate::entities::{refresh_token, session};

/// Records a use of a session; the IP is only replaced when one is known.
async fn touch<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    id: Uuid,
    at: OffsetDateTime,
    ip: Option<&str>,
) -> StoreResult<u64> {
    let mut changes = session::ActiveModel {
        last_used_at: Set(micros(at)),
        ..Default::default()
    };
    if let Some(ip) = ip {
        changes.ip = Set(Some(ip.to_owned()));
    }
    let res = session::Entity::update_many()
        .set(changes)
        .filter(session::Column::RealmId.eq(realm_id))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected)
}

/// Revokes the unrevoked refresh tokens of some sessions.
async fn revoke_tokens_of<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    session_ids: Vec<Uuid>,
    at: i64,
) -> StoreResult<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(at))
        .filter(refresh_token::Column::RealmId.eq(realm_id))
        .filter(refresh_token::Column::SessionId.is_in(session_ids))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        session::Entity::insert(session_row(s).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn get_session(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<Session>> {
        session::Entity::find()
            .filter(session::Column::RealmId.eq(realm_id))
            .filter(session::Column::Id.eq(id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Session::try_from)
            .transpose()
    }

    async fn list_active_sessions(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>> {
        let rows = session::Entity::find()
            .filter(session::Column::RealmId.eq(realm_id))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(micros(now)))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn touch_session(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
        ip: Option<&str>,
    ) -> StoreResult<()> {
        touch(&self.writer, realm_id, id, at, ip).await?;
        Ok(())
    }

    async fn get_session_by_secret(
        &self,
        realm_id: Uuid,
        secret_hash: &[u8],
    ) -> StoreResult<Option<Session>> {
        session::Entity::find()
            .filter(session::Column::RealmId.eq(realm_id))
            .filter(session::Column::SecretHash.eq(secret_hash.to_vec()))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Session::try_from)
            .transpose()
    }

    async fn revoke_session(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<Uuid>> {
        let at = micros(at);
        let txn = self.begin_write().await?;
        let res = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(at))
            .filter(session::Column::RealmId.eq(realm_id))
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            txn.rollback().await.map_err(db_err)?;
            return Ok(Vec::new());
        }
        // The client sessions authorized in it end with it.
        let mut revoked = vec![id];
        revoked.extend(
            session::Entity::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(at))
                .filter(session::Column::RealmId.eq(realm_id))
                .filter(session::Column::ParentId.eq(id))
                .filter(session::Column::RevokedAt.is_null())
                .exec_with_returning(&txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|s| s.id),
        );
        revoke_tokens_of(&txn, realm_id, revoked.clone(), at).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(revoked)
    }

    async fn revoke_user_sessions(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        keep: Option<Uuid>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<Uuid>> {
        let at = micros(at);
        let txn = self.begin_write().await?;
        let mut update = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(at))
            .filter(session::Column::RealmId.eq(realm_id))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            update = update.filter(session::Column::Id.ne(keep));
        }
        let revoked: Vec<Uuid> = update
            .exec_with_returning(&txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        revoke_tokens_of(&txn, realm_id, revoked.clone(), at).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(revoked)
    }

    async fn sessions_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        session::Entity::find()
            .select_only()
            .column(session::Column::RealmId)
            .column(session::Column::Id)
            .filter(session::Column::RevokedAt.gte(micros(since)))
            .order_by_asc(session::Column::RevokedAt)
            .into_tuple::<(Uuid, Uuid)>()
            .all(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn count_active_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        session::Entity::find()
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(micros(now)))
            .count(&self.reader)
            .await
            .map_err(db_err)
    }
}
