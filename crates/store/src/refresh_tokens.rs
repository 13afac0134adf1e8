//! [`RefreshTokenStore`] for [`SqlStore`], including the rotation hot path.
//!
//! Rotation runs the per-backend statement of [`crate::rotate_sql`]: the
//! token is marked used with a conditional update (unused, unrevoked,
//! unexpired, session live), so of two racing rotations exactly one matches;
//! the replacement is inserted in the spent token's family and the session is
//! touched, all atomically. Only a token issued to the presenting client
//! matches. When nothing matched, one `SELECT` tells `Reused` (the token was
//! used before, and is that client's) from `Invalid`, and nothing was changed.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{RefreshToken, RotateOutcome};
use portcullis_core::ports::{RefreshTokenStore, StoreResult};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IntoActiveModel, QueryFilter,
    QueryResult,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::convert::{conflict, db_err, micros, refresh_token_row};
use crate::entities::refresh_token;
use crate::rotate_sql;
use crate::store::{Backend, SqlStore};

const DUPLICATE_TOKEN: &str = "refresh token already exists";

/// The spent token's row returned by the rotation statement, if any.
fn spent(rows: Vec<QueryResult>) -> StoreResult<Option<RefreshToken>> {
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let model = refresh_token::Model::from_query_result(row, "").map_err(db_err)?;
    Ok(Some(model.try_into()?))
}

/// A token by its digest, within a realm.
async fn find<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    token_hash: &[u8],
) -> StoreResult<Option<refresh_token::Model>> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::RealmId.eq(realm_id))
        .filter(refresh_token::Column::TokenHash.eq(token_hash.to_vec()))
        .one(db)
        .await
        .map_err(db_err)
}

/// What a presented token that could not be rotated is: `Reused` only when it
/// was used and is the presenting client's; another client's token, used or
/// not, is `Invalid`.
async fn classify<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    client_id: Option<&str>,
    presented_hash: &[u8],
) -> StoreResult<RotateOutcome> {
    match find(db, realm_id, presented_hash).await? {
        Some(row) if row.used_at.is_some() && row.client_id.as_deref() == client_id => {
            Ok(RotateOutcome::Reused(row.try_into()?))
        }
        _ => Ok(RotateOutcome::Invalid),
    }
}

#[async_trait]
impl RefreshTokenStore for SqlStore {
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        refresh_token::Entity::insert(refresh_token_row(token).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict(DUPLICATE_TOKEN))?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        realm_id: Uuid,
        client_id: Option<&str>,
        presented_hash: &[u8],
        replacement: &RefreshToken,
        now: OffsetDateTime,
        ip: Option<&str>,
    ) -> StoreResult<RotateOutcome> {
        match self.backend {
            Backend::Sqlite => {
                let rotator = self.rotator.as_ref().ok_or_else(|| {
                    StoreError::Backend("SQLite store without its rotator".to_owned())
                })?;
                let spent = rotator
                    .rotate(realm_id, client_id, presented_hash, replacement, now, ip)
                    .await?;
                match spent {
                    Some(spent) => Ok(RotateOutcome::Rotated(spent.try_into()?)),
                    // Nothing changed; the reader sees the committed state.
                    None => classify(&self.reader, realm_id, client_id, presented_hash).await,
                }
            }
            Backend::Postgres => {
                // One atomic statement: no explicit transaction needed.
                let statement =
                    rotate_sql::postgres(realm_id, client_id, presented_hash, replacement, now, ip);
                let rows = self
                    .writer
                    .query_all_raw(statement)
                    .await
                    .map_err(conflict(DUPLICATE_TOKEN))?;
                match spent(rows)? {
                    Some(spent) => Ok(RotateOutcome::Rotated(spent)),
                    None => classify(&self.writer, realm_id, client_id, presented_hash).await,
                }
            }
        }
    }

    async fn get_refresh_token(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshToken>> {
        find(&self.reader, realm_id, token_hash)
            .await?
            .map(RefreshToken::try_from)
            .transpose()
    }

    async fn revoke_refresh_family(
        &self,
        realm_id: Uuid,
        family_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        let res = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(micros(at)))
            .filter(refresh_token::Column::RealmId.eq(realm_id))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    async fn purge_expired_refresh_tokens(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }
}
