//! [`FederationStore`] for [`SqlStore`]: identity providers, social
//! accounts and federation attempts.
//!
//! A provider's settings and an attempt's payload are stored as JSON. An
//! attempt is taken with one `DELETE ... RETURNING`, so of concurrent takes
//! exactly one gets the row; an expired one is deleted all the same and
//! reported as absent. Links and attempts go with their provider, user and
//! realm (foreign keys `ON DELETE CASCADE`).

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::federation::{
    FederationAttempt, IdentityProvider, ProviderKind, SocialAccount,
};
use portcullis_core::ports::{FederationStore, StoreResult};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{
    all, conflict, corrupt, db_err, instant, instant_opt, micros, micros_opt, unserialisable,
};
use crate::entities::{federation_attempt, identity_provider, social_account};

fn provider_row(p: &IdentityProvider) -> StoreResult<identity_provider::Model> {
    Ok(identity_provider::Model {
        id: p.id,
        realm_id: p.realm_id,
        alias: p.alias.clone(),
        kind: p.kind.as_str().to_owned(),
        display_name: p.display_name.clone(),
        enabled: p.enabled,
        config: serde_json::to_string(&p.config).map_err(unserialisable)?,
        secret: p.secret.clone(),
        created_at: micros(p.created_at),
        updated_at: micros(p.updated_at),
    })
}

impl TryFrom<identity_provider::Model> for IdentityProvider {
    type Error = StoreError;
    fn try_from(m: identity_provider::Model) -> Result<Self, StoreError> {
        Ok(IdentityProvider {
            id: m.id,
            realm_id: m.realm_id,
            alias: m.alias,
            kind: ProviderKind::parse(&m.kind).ok_or_else(|| corrupt("identity provider kind"))?,
            display_name: m.display_name,
            enabled: m.enabled,
            config: serde_json::from_str(&m.config)
                .map_err(|_| corrupt("identity provider settings"))?,
            secret: m.secret,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

fn social_account_row(a: &SocialAccount) -> social_account::Model {
    social_account::Model {
        id: a.id,
        realm_id: a.realm_id,
        user_id: a.user_id,
        provider_id: a.provider_id,
        subject: a.subject.clone(),
        email: a.email.clone(),
        name: a.name.clone(),
        created_at: micros(a.created_at),
        last_login_at: micros_opt(a.last_login_at),
    }
}

impl TryFrom<social_account::Model> for SocialAccount {
    type Error = StoreError;
    fn try_from(m: social_account::Model) -> Result<Self, StoreError> {
        Ok(SocialAccount {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            provider_id: m.provider_id,
            subject: m.subject,
            email: m.email,
            name: m.name,
            created_at: instant(m.created_at)?,
            last_login_at: instant_opt(m.last_login_at)?,
        })
    }
}

fn attempt_row(a: &FederationAttempt) -> federation_attempt::Model {
    federation_attempt::Model {
        id: a.id,
        realm_id: a.realm_id,
        provider_id: a.provider_id,
        token_hash: a.token_hash.clone(),
        binding_hash: a.binding_hash.clone(),
        payload: a.payload.to_string(),
        created_at: micros(a.created_at),
        expires_at: micros(a.expires_at),
    }
}

impl TryFrom<federation_attempt::Model> for FederationAttempt {
    type Error = StoreError;
    fn try_from(m: federation_attempt::Model) -> Result<Self, StoreError> {
        Ok(FederationAttempt {
            id: m.id,
            realm_id: m.realm_id,
            provider_id: m.provider_id,
            token_hash: m.token_hash,
            binding_hash: m.binding_hash,
            payload: serde_json::from_str(&m.payload)
                .map_err(|_| corrupt("federation attempt payload"))?,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
        })
    }
}

#[async_trait]
impl FederationStore for SqlStore {
    async fn create_provider(&self, provider: &IdentityProvider) -> StoreResult<()> {
        identity_provider::Entity::insert(provider_row(provider)?.into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("identity provider alias already in use"))?;
        Ok(())
    }

    async fn get_provider(
        &self,
        realm_id: Uuid,
        alias: &str,
    ) -> StoreResult<Option<IdentityProvider>> {
        identity_provider::Entity::find()
            .filter(identity_provider::Column::RealmId.eq(realm_id))
            .filter(identity_provider::Column::Alias.eq(alias))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(IdentityProvider::try_from)
            .transpose()
    }

    async fn list_providers(&self, realm_id: Uuid) -> StoreResult<Vec<IdentityProvider>> {
        let rows = identity_provider::Entity::find()
            .filter(identity_provider::Column::RealmId.eq(realm_id))
            .order_by_asc(identity_provider::Column::Alias)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn update_provider(&self, provider: &IdentityProvider) -> StoreResult<()> {
        // Every column set, then the ones that never change left out.
        let mut row = provider_row(provider)?.into_active_model().reset_all();
        row.id = ActiveValue::NotSet;
        row.realm_id = ActiveValue::NotSet;
        row.alias = ActiveValue::NotSet;
        row.created_at = ActiveValue::NotSet;
        let res = identity_provider::Entity::update_many()
            .set(row)
            .filter(identity_provider::Column::RealmId.eq(provider.realm_id))
            .filter(identity_provider::Column::Id.eq(provider.id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_provider(&self, realm_id: Uuid, alias: &str) -> StoreResult<bool> {
        let res = identity_provider::Entity::delete_many()
            .filter(identity_provider::Column::RealmId.eq(realm_id))
            .filter(identity_provider::Column::Alias.eq(alias))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    async fn insert_social_account(&self, account: &SocialAccount) -> StoreResult<()> {
        social_account::Entity::insert(social_account_row(account).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("account already linked"))?;
        Ok(())
    }

    async fn find_social_account(
        &self,
        realm_id: Uuid,
        provider_id: Uuid,
        subject: &str,
    ) -> StoreResult<Option<SocialAccount>> {
        social_account::Entity::find()
            .filter(social_account::Column::RealmId.eq(realm_id))
            .filter(social_account::Column::ProviderId.eq(provider_id))
            .filter(social_account::Column::Subject.eq(subject))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(SocialAccount::try_from)
            .transpose()
    }

    async fn list_social_accounts(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Vec<SocialAccount>> {
        let rows = social_account::Entity::find()
            .filter(social_account::Column::RealmId.eq(realm_id))
            .filter(social_account::Column::UserId.eq(user_id))
            .order_by_asc(social_account::Column::CreatedAt)
            .order_by_asc(social_account::Column::Id)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn touch_social_account(
        &self,
        realm_id: Uuid,
        id: Uuid,
        email: Option<&str>,
        name: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let res = social_account::Entity::update_many()
            .col_expr(
                social_account::Column::Email,
                Expr::value(email.map(str::to_owned)),
            )
            .col_expr(
                social_account::Column::Name,
                Expr::value(name.map(str::to_owned)),
            )
            .col_expr(
                social_account::Column::LastLoginAt,
                Expr::value(micros(now)),
            )
            .filter(social_account::Column::RealmId.eq(realm_id))
            .filter(social_account::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_social_account(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<bool> {
        let res = social_account::Entity::delete_many()
            .filter(social_account::Column::RealmId.eq(realm_id))
            .filter(social_account::Column::UserId.eq(user_id))
            .filter(social_account::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    async fn insert_federation_attempt(&self, attempt: &FederationAttempt) -> StoreResult<()> {
        federation_attempt::Entity::insert(attempt_row(attempt).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("federation attempt already exists"))?;
        Ok(())
    }

    async fn take_federation_attempt(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<FederationAttempt>> {
        // One statement: of concurrent takes, exactly one deletes the row
        // and gets it back. An expired attempt is deleted too, and absent.
        let taken = federation_attempt::Entity::delete_many()
            .filter(federation_attempt::Column::RealmId.eq(realm_id))
            .filter(federation_attempt::Column::TokenHash.eq(token_hash.to_vec()))
            .exec_with_returning(&self.writer)
            .await
            .map_err(db_err)?;
        let Some(row) = taken.into_iter().next() else {
            return Ok(None);
        };
        if row.expires_at <= micros(now) {
            return Ok(None);
        }
        FederationAttempt::try_from(row).map(Some)
    }

    async fn peek_federation_attempt(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<FederationAttempt>> {
        federation_attempt::Entity::find()
            .filter(federation_attempt::Column::RealmId.eq(realm_id))
            .filter(federation_attempt::Column::TokenHash.eq(token_hash.to_vec()))
            .filter(federation_attempt::Column::ExpiresAt.gt(micros(now)))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(FederationAttempt::try_from)
            .transpose()
    }

    async fn purge_federation_attempts(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = federation_attempt::Entity::delete_many()
            .filter(federation_attempt::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider_model() -> identity_provider::Model {
        identity_provider::Model {
            id: Uuid::now_v7(),
            realm_id: Uuid::now_v7(),
            alias: "corp".to_owned(),
            kind: "oidc".to_owned(),
            display_name: None,
            enabled: true,
            config: r#"{"client_id":"abc"}"#.to_owned(),
            secret: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn stored_provider_is_read_back() {
        let p = IdentityProvider::try_from(provider_model()).unwrap();
        assert_eq!(p.kind, ProviderKind::Oidc);
        assert_eq!(p.config.client_id, "abc");
        let again = IdentityProvider::try_from(provider_row(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn unknown_kind_or_corrupt_settings_are_errors() {
        let kind = identity_provider::Model {
            kind: "saml".to_owned(),
            ..provider_model()
        };
        let config = identity_provider::Model {
            config: "{not json".to_owned(),
            ..provider_model()
        };
        let wrong_shape = identity_provider::Model {
            config: r#"{"client_id":42}"#.to_owned(),
            ..provider_model()
        };
        for m in [kind, config, wrong_shape] {
            assert!(matches!(
                IdentityProvider::try_from(m),
                Err(StoreError::Backend(msg)) if msg.starts_with("invalid stored value")
            ));
        }
    }

    #[test]
    fn corrupt_attempt_payload_is_an_error() {
        let m = federation_attempt::Model {
            id: Uuid::now_v7(),
            realm_id: Uuid::now_v7(),
            provider_id: Uuid::now_v7(),
            token_hash: vec![1; 32],
            binding_hash: vec![2; 32],
            payload: "{".to_owned(),
            created_at: 1,
            expires_at: 2,
        };
        assert!(matches!(
            FederationAttempt::try_from(m),
            Err(StoreError::Backend(_))
        ));
    }
}
