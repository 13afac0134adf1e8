//! [`SigningKeyStore`] for [`SqlStore`].

use async_trait::async_trait;
use portcullis_core::model::StoredSigningKey;
use portcullis_core::ports::{SigningKeyStore, StoreResult};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{all, conflict, db_err, micros, signing_key_row};
use crate::entities::signing_key;

const DUPLICATE_KID: &str = "signing key id already exists";

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        signing_key::Entity::insert(signing_key_row(key).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict(DUPLICATE_KID))?;
        Ok(())
    }

    async fn list_signing_keys(&self, realm_id: Uuid) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = signing_key::Entity::find()
            .filter(signing_key::Column::RealmId.eq(realm_id))
            .order_by_desc(signing_key::Column::CreatedAt)
            .order_by_desc(signing_key::Column::Kid)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn rotate_signing_key(
        &self,
        new_key: &StoredSigningKey,
        old_retire_after: OffsetDateTime,
    ) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        let retire = signing_key::ActiveModel {
            active: Set(false),
            retire_after: Set(Some(micros(old_retire_after))),
            ..Default::default()
        };
        signing_key::Entity::update_many()
            .set(retire)
            .filter(signing_key::Column::RealmId.eq(new_key.realm_id))
            .filter(signing_key::Column::Alg.eq(new_key.alg.as_str()))
            .filter(signing_key::Column::Active.eq(true))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let mut row = signing_key_row(new_key);
        row.active = true;
        signing_key::Entity::insert(row.into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(conflict(DUPLICATE_KID))?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }
}
