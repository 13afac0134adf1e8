//! [`RiskStore`] for [`SqlStore`]: session baselines, known devices and
//! realm risk policies. Baselines and policies are stored as JSON.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::ports::{RiskStore, StoreResult};
use portcullis_core::risk::{Baseline, KnownDevice, RiskPolicy};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{corrupt, db_err, instant, micros, unserialisable};
use crate::entities::{known_device, risk_policy, session_baseline};

impl TryFrom<known_device::Model> for KnownDevice {
    type Error = StoreError;
    fn try_from(m: known_device::Model) -> Result<Self, StoreError> {
        Ok(KnownDevice {
            realm_id: m.realm_id,
            user_id: m.user_id,
            fingerprint: m.fingerprint,
            description: m.description,
            first_seen_at: instant(m.first_seen_at)?,
            last_seen_at: instant(m.last_seen_at)?,
            last_network: m.last_network,
            country: m.country,
            location: m.latitude.zip(m.longitude),
        })
    }
}

#[async_trait]
impl RiskStore for SqlStore {
    async fn get_baseline(
        &self,
        realm_id: Uuid,
        session_id: Uuid,
    ) -> StoreResult<Option<Baseline>> {
        let row = session_baseline::Entity::find()
            .filter(session_baseline::Column::RealmId.eq(realm_id))
            .filter(session_baseline::Column::SessionId.eq(session_id))
            .one(&self.writer)
            .await
            .map_err(db_err)?;
        row.map(|r| serde_json::from_str(&r.baseline).map_err(|_| corrupt("session baseline")))
            .transpose()
    }

    async fn put_baseline(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        session_id: Uuid,
        baseline: &Baseline,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = session_baseline::Model {
            session_id,
            realm_id,
            user_id,
            baseline: serde_json::to_string(baseline).map_err(unserialisable)?,
            updated_at: micros(now),
        };
        session_baseline::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::column(session_baseline::Column::SessionId)
                    .update_columns([
                        session_baseline::Column::Baseline,
                        session_baseline::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_devices(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Vec<KnownDevice>> {
        let rows = known_device::Entity::find()
            .filter(known_device::Column::RealmId.eq(realm_id))
            .filter(known_device::Column::UserId.eq(user_id))
            .order_by_desc(known_device::Column::LastSeenAt)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn upsert_device(&self, d: &KnownDevice) -> StoreResult<()> {
        let row = known_device::Model {
            realm_id: d.realm_id,
            user_id: d.user_id,
            fingerprint: d.fingerprint.clone(),
            description: d.description.clone(),
            first_seen_at: micros(d.first_seen_at),
            last_seen_at: micros(d.last_seen_at),
            last_network: d.last_network.clone(),
            country: d.country.clone(),
            latitude: d.location.map(|l| l.0),
            longitude: d.location.map(|l| l.1),
        };
        known_device::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([
                    known_device::Column::RealmId,
                    known_device::Column::UserId,
                    known_device::Column::Fingerprint,
                ])
                .update_columns([
                    known_device::Column::Description,
                    known_device::Column::LastSeenAt,
                    known_device::Column::LastNetwork,
                    known_device::Column::Country,
                    known_device::Column::Latitude,
                    known_device::Column::Longitude,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_device(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        fingerprint: &str,
    ) -> StoreResult<bool> {
        let res = known_device::Entity::delete_many()
            .filter(known_device::Column::RealmId.eq(realm_id))
            .filter(known_device::Column::UserId.eq(user_id))
            .filter(known_device::Column::Fingerprint.eq(fingerprint))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn get_risk_policy(&self, realm_id: Uuid) -> StoreResult<Option<RiskPolicy>> {
        let row = risk_policy::Entity::find_by_id(realm_id)
            .one(&self.reader)
            .await
            .map_err(db_err)?;
        row.map(|r| serde_json::from_str(&r.policy).map_err(|_| corrupt("risk policy")))
            .transpose()
    }

    async fn put_risk_policy(
        &self,
        realm_id: Uuid,
        policy: &RiskPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = risk_policy::Model {
            realm_id,
            policy: serde_json::to_string(policy).map_err(unserialisable)?,
            updated_at: micros(now),
        };
        risk_policy::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::column(risk_policy::Column::RealmId)
                    .update_columns([risk_policy::Column::Policy, risk_policy::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
