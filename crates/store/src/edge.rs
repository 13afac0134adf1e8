//! [`EdgeStore`] for [`SqlStore`]: realms' rate-limit policies, as JSON.

use async_trait::async_trait;
use portcullis_core::edge::RateLimitPolicy;
use portcullis_core::ports::{EdgeStore, StoreResult};
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, IntoActiveModel};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{corrupt, db_err, micros, unserialisable};
use crate::entities::rate_limit_policy;

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
}
