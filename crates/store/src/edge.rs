//! [`EdgeStore`] for [`SqlStore`]: realms' rate-limit policies, as JSON,
//! and service keys (sealed secrets as base64 text).

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::edge::RateLimitPolicy;
use portcullis_core::ports::{EdgeStore, StoreResult};
use portcullis_core::service_keys::{ServiceKey, sealed_from_text, sealed_to_text};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{
    all, conflict, corrupt, db_err, instant, instant_opt, micros, micros_opt, unserialisable,
};
use crate::entities::{rate_limit_policy, service_key};

fn key_row(k: &ServiceKey) -> service_key::Model {
    service_key::Model {
        id: k.id,
        realm_id: k.realm_id,
        name: k.name.clone(),
        secret: sealed_to_text(&k.secret),
        previous_secret: k.previous_secret.as_deref().map(sealed_to_text),
        previous_until: micros_opt(k.previous_until),
        created_at: micros(k.created_at),
        updated_at: micros(k.updated_at),
        expires_at: micros_opt(k.expires_at),
        revoked_at: micros_opt(k.revoked_at),
        last_used_at: micros_opt(k.last_used_at),
    }
}

impl TryFrom<service_key::Model> for ServiceKey {
    type Error = StoreError;
    fn try_from(m: service_key::Model) -> Result<Self, StoreError> {
        let sealed = |t: &str| sealed_from_text(t).ok_or_else(|| corrupt("service key secret"));
        Ok(ServiceKey {
            id: m.id,
            realm_id: m.realm_id,
            name: m.name,
            secret: sealed(&m.secret)?,
            previous_secret: m.previous_secret.as_deref().map(sealed).transpose()?,
            previous_until: instant_opt(m.previous_until)?,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
            expires_at: instant_opt(m.expires_at)?,
            revoked_at: instant_opt(m.revoked_at)?,
            last_used_at: instant_opt(m.last_used_at)?,
        })
    }
}

#[async_trait]
impl EdgeStore for SqlStore {
    async fn get_rate_limit_policy(&self, realm_id: Uuid) -> StoreResult<Option<RateLimitPolicy>> {
        let row = rate_limit_policy::Entity::find_by_id(realm_id)
            .one(&self.reader)
            .await
            .map_err(db_err)?;
        row.map(|r| serde_json::from_str(&r.policy).map_err(|_| corrupt("rate-limit policy")))
            .transpose()
    }

    async fn put_rate_limit_policy(
        &self,
        realm_id: Uuid,
        policy: &RateLimitPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = rate_limit_policy::Model {
            realm_id,
            policy: serde_json::to_string(policy).map_err(unserialisable)?,
            updated_at: micros(now),
        };
        rate_limit_policy::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::column(rate_limit_policy::Column::RealmId)
                    .update_columns([
                        rate_limit_policy::Column::Policy,
                        rate_limit_policy::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_rate_limit_policy(&self, realm_id: Uuid) -> StoreResult<bool> {
        let res = rate_limit_policy::Entity::delete_by_id(realm_id)
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn create_service_key(&self, key: &ServiceKey) -> StoreResult<()> {
        service_key::Entity::insert(key_row(key).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("service key name already in use"))?;
        Ok(())
    }

    async fn get_service_key(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<ServiceKey>> {
        service_key::Entity::find_by_id(id)
            .filter(service_key::Column::RealmId.eq(realm_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(ServiceKey::try_from)
            .transpose()
    }

    async fn list_service_keys(&self, realm_id: Uuid, limit: u64) -> StoreResult<Vec<ServiceKey>> {
        let rows = service_key::Entity::find()
            .filter(service_key::Column::RealmId.eq(realm_id))
            .order_by_asc(service_key::Column::Name)
            .limit(limit)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn update_service_key(&self, key: &ServiceKey) -> StoreResult<bool> {
        let row = key_row(key);
        let res = service_key::Entity::update_many()
            .col_expr(service_key::Column::Secret, Expr::value(row.secret))
            .col_expr(
                service_key::Column::PreviousSecret,
                Expr::value(row.previous_secret),
            )
            .col_expr(
                service_key::Column::PreviousUntil,
                Expr::value(row.previous_until),
            )
            .col_expr(service_key::Column::ExpiresAt, Expr::value(row.expires_at))
            .col_expr(service_key::Column::RevokedAt, Expr::value(row.revoked_at))
            .col_expr(service_key::Column::UpdatedAt, Expr::value(row.updated_at))
            .filter(service_key::Column::RealmId.eq(key.realm_id))
            .filter(service_key::Column::Id.eq(key.id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn touch_service_key(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        service_key::Entity::update_many()
            .col_expr(
                service_key::Column::LastUsedAt,
                Expr::value(Some(micros(at))),
            )
            .filter(service_key::Column::RealmId.eq(realm_id))
            .filter(service_key::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_service_key(&self, realm_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let res = service_key::Entity::delete_many()
            .filter(service_key::Column::RealmId.eq(realm_id))
            .filter(service_key::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }
}
