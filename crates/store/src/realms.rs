//! [`RealmStore`] for [`SqlStore`].

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{Realm, RealmName};
use portcullis_core::ports::{RealmStore, StoreResult};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::SqlStore;
use crate::authz::insert_builtin_roles;
use crate::convert::{all, conflict, db_err, micros, realm_row};
use crate::entities::realm;

#[async_trait]
impl RealmStore for SqlStore {
    /// Inserts the realm and its built-in roles in one transaction.
    async fn create_realm(&self, r: &Realm) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        realm::Entity::insert(realm_row(r).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(conflict("realm name already in use"))?;
        insert_builtin_roles(&txn, r.id, micros(r.created_at)).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn get_realm(&self, id: Uuid) -> StoreResult<Option<Realm>> {
        realm::Entity::find_by_id(id)
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Realm::try_from)
            .transpose()
    }

    async fn get_realm_by_name(&self, name: &RealmName) -> StoreResult<Option<Realm>> {
        realm::Entity::find()
            .filter(realm::Column::Name.eq(name.as_str()))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Realm::try_from)
            .transpose()
    }

    async fn list_realms(&self) -> StoreResult<Vec<Realm>> {
        let rows = realm::Entity::find()
            .order_by_asc(realm::Column::Name)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn update_realm(&self, r: &Realm) -> StoreResult<()> {
        let changes = realm::ActiveModel {
            display_name: Set(r.display_name.clone()),
            enabled: Set(r.enabled),
            signing_alg: Set(r.signing_alg.as_str().to_owned()),
            password_min_length: Set(i64::from(r.password_min_length)),
            time_zone: Set(r.time_zone.as_str().to_owned()),
            roles_claim: Set(r.roles_claim),
            require_verified_email: Set(r.require_verified_email),
            check_email_mx: Set(r.check_email_mx),
            mfa_required_roles: Set(crate::convert::json_list(&r.mfa_required_roles)),
            updated_at: Set(micros(r.updated_at)),
            ..Default::default()
        };
        let res = realm::Entity::update_many()
            .set(changes)
            .filter(realm::Column::Id.eq(r.id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_realm(&self, id: Uuid) -> StoreResult<bool> {
        let res = realm::Entity::delete_many()
            .filter(realm::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }
}
