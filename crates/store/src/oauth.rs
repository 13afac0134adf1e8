//! [`OAuthStore`] for [`SqlStore`]: authorization codes and consents.
//!
//! A code is redeemed with one conditional update (`used_at IS NULL`) that
//! returns the updated row, so of two racing redemptions exactly one matches;
//! when nothing matched, one `SELECT` tells `Reused` from `Invalid`, and
//! nothing was changed. Codes and consents are deleted with their realm,
//! user or client by foreign keys.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{AuthCode, CodeOutcome, Consent};
use portcullis_core::ports::{OAuthStore, StoreResult};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{
    all, conflict, db_err, instant, instant_opt, json_list, micros, micros_opt, parse_list,
};
use crate::entities::{oauth_code, oauth_consent};

impl TryFrom<oauth_code::Model> for AuthCode {
    type Error = StoreError;
    fn try_from(m: oauth_code::Model) -> Result<Self, StoreError> {
        Ok(AuthCode {
            id: m.id,
            realm_id: m.realm_id,
            code_hash: m.code_hash,
            client_id: m.client_id,
            user_id: m.user_id,
            session_id: m.session_id,
            redirect_uri: m.redirect_uri,
            scope: m.scope,
            nonce: m.nonce,
            code_challenge: m.code_challenge,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
            used_at: instant_opt(m.used_at)?,
            grant_session_id: m.grant_session_id,
        })
    }
}

fn code_row(c: &AuthCode) -> oauth_code::Model {
    oauth_code::Model {
        id: c.id,
        realm_id: c.realm_id,
        code_hash: c.code_hash.clone(),
        client_id: c.client_id.clone(),
        user_id: c.user_id,
        session_id: c.session_id,
        redirect_uri: c.redirect_uri.clone(),
        scope: c.scope.clone(),
        nonce: c.nonce.clone(),
        code_challenge: c.code_challenge.clone(),
        created_at: micros(c.created_at),
        expires_at: micros(c.expires_at),
        used_at: micros_opt(c.used_at),
        grant_session_id: c.grant_session_id,
    }
}

impl TryFrom<oauth_consent::Model> for Consent {
    type Error = StoreError;
    fn try_from(m: oauth_consent::Model) -> Result<Self, StoreError> {
        Ok(Consent {
            realm_id: m.realm_id,
            user_id: m.user_id,
            client_id: m.client_id,
            scopes: parse_list(&m.scopes, "consented scopes")?,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

fn consent_row(c: &Consent) -> oauth_consent::Model {
    oauth_consent::Model {
        realm_id: c.realm_id,
        user_id: c.user_id,
        client_id: c.client_id.clone(),
        scopes: json_list(&c.scopes),
        created_at: micros(c.created_at),
        updated_at: micros(c.updated_at),
    }
}

#[async_trait]
impl OAuthStore for SqlStore {
    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()> {
        oauth_code::Entity::insert(code_row(code).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("authorization code already exists"))?;
        Ok(())
    }

    async fn consume_auth_code(
        &self,
        realm_id: Uuid,
        code_hash: &[u8],
        grant_session_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<CodeOutcome> {
        let spent = oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(micros(now)))
            .col_expr(
                oauth_code::Column::GrantSessionId,
                Expr::value(grant_session_id),
            )
            .filter(oauth_code::Column::RealmId.eq(realm_id))
            .filter(oauth_code::Column::CodeHash.eq(code_hash.to_vec()))
            .filter(oauth_code::Column::UsedAt.is_null())
            .exec_with_returning(&self.writer)
            .await
            .map_err(db_err)?;
        if let Some(row) = spent.into_iter().next() {
            return Ok(CodeOutcome::Consumed(row.try_into()?));
        }
        // Nothing changed; the reader sees the committed state.
        let found = oauth_code::Entity::find()
            .filter(oauth_code::Column::RealmId.eq(realm_id))
            .filter(oauth_code::Column::CodeHash.eq(code_hash.to_vec()))
            .one(&self.reader)
            .await
            .map_err(db_err)?;
        match found {
            Some(row) if row.used_at.is_some() => Ok(CodeOutcome::Reused(row.try_into()?)),
            _ => Ok(CodeOutcome::Invalid),
        }
    }

    async fn purge_auth_codes(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = oauth_code::Entity::delete_many()
            .filter(oauth_code::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    async fn get_consent(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Consent>> {
        oauth_consent::Entity::find()
            .filter(oauth_consent::Column::RealmId.eq(realm_id))
            .filter(oauth_consent::Column::UserId.eq(user_id))
            .filter(oauth_consent::Column::ClientId.eq(client_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Consent::try_from)
            .transpose()
    }

    async fn put_consent(&self, consent: &Consent) -> StoreResult<()> {
        // A missing user or client fails the foreign keys: `NotFound`.
        oauth_consent::Entity::insert(consent_row(consent).into_active_model())
            .on_conflict(
                OnConflict::columns([
                    oauth_consent::Column::RealmId,
                    oauth_consent::Column::UserId,
                    oauth_consent::Column::ClientId,
                ])
                .update_columns([
                    oauth_consent::Column::Scopes,
                    oauth_consent::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_consents(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Vec<Consent>> {
        let rows = oauth_consent::Entity::find()
            .filter(oauth_consent::Column::RealmId.eq(realm_id))
            .filter(oauth_consent::Column::UserId.eq(user_id))
            .order_by_asc(oauth_consent::Column::ClientId)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn delete_consent(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<bool> {
        let res = oauth_consent::Entity::delete_many()
            .filter(oauth_consent::Column::RealmId.eq(realm_id))
            .filter(oauth_consent::Column::UserId.eq(user_id))
            .filter(oauth_consent::Column::ClientId.eq(client_id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }
}
