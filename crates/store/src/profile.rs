//! [`ProfileStore`] for [`SqlStore`]: profile schemas (every version, JSON
//! text), profile documents (JSON text, conditional on their revision),
//! avatars (PNG bytes), preferences, and a user's audit records.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::AuditRecord;
use portcullis_core::ports::{ProfileStore, StoreResult};
use portcullis_core::profile::ProfileSchema;
use portcullis_core::profile::model::{Preferences, StoredAvatar, StoredProfile, StoredSchema};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{all, corrupt, db_err, instant, micros, unserialisable};
use crate::entities::{audit_event, profile_schema, user_avatar, user_preference, user_profile};

/// Both backends bind `LIMIT` as a signed 64-bit integer.
const MAX_ROWS: u64 = i64::MAX.unsigned_abs();

fn version_of(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt("profile schema version"))
}

fn document(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt("profile document"))
}

impl TryFrom<profile_schema::Model> for StoredSchema {
    type Error = StoreError;
    fn try_from(m: profile_schema::Model) -> Result<Self, StoreError> {
        let schema: ProfileSchema =
            serde_json::from_str(&m.schema).map_err(|_| corrupt("profile schema"))?;
        Ok(StoredSchema {
            realm_id: m.realm_id,
            schema,
            updated_at: instant(m.updated_at)?,
        })
    }
}

impl TryFrom<user_profile::Model> for StoredProfile {
    type Error = StoreError;
    fn try_from(m: user_profile::Model) -> Result<Self, StoreError> {
        Ok(StoredProfile {
            realm_id: m.realm_id,
            user_id: m.user_id,
            document: document(&m.document)?,
            schema_version: version_of(m.schema_version)?,
            revision: u64::try_from(m.revision).map_err(|_| corrupt("profile revision"))?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

impl TryFrom<user_avatar::Model> for StoredAvatar {
    type Error = StoreError;
    fn try_from(m: user_avatar::Model) -> Result<Self, StoreError> {
        Ok(StoredAvatar {
            realm_id: m.realm_id,
            user_id: m.user_id,
            sha256: digest(&m.sha256)?,
            png: m.png,
            updated_at: instant(m.updated_at)?,
        })
    }
}

impl TryFrom<user_preference::Model> for Preferences {
    type Error = StoreError;
    fn try_from(m: user_preference::Model) -> Result<Self, StoreError> {
        Ok(Preferences {
            realm_id: m.realm_id,
            user_id: m.user_id,
            locale: m.locale,
            time_zone: m.time_zone,
            notifications: serde_json::from_str(&m.notifications)
                .map_err(|_| corrupt("notification preferences"))?,
            updated_at: Some(instant(m.updated_at)?),
        })
    }
}

fn digest(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| corrupt("avatar digest"))
}

fn revision(r: u64) -> Result<i64, StoreError> {
    i64::try_from(r).map_err(|_| StoreError::Backend("profile revision out of range".into()))
}

#[async_trait]
impl ProfileStore for SqlStore {
    async fn get_profile_schema(
        &self,
        realm_id: Uuid,
        version: Option<u32>,
    ) -> StoreResult<Option<StoredSchema>> {
        let mut select =
            profile_schema::Entity::find().filter(profile_schema::Column::RealmId.eq(realm_id));
        if let Some(v) = version {
            select = select.filter(profile_schema::Column::Version.eq(i64::from(v)));
        }
        select
            .order_by_desc(profile_schema::Column::Version)
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(StoredSchema::try_from)
            .transpose()
    }

    async fn put_profile_schema(
        &self,
        realm_id: Uuid,
        schema: &ProfileSchema,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let text = serde_json::to_string(schema).map_err(unserialisable)?;
        let txn = self.begin_write().await?;
        let latest = profile_schema::Entity::find()
            .filter(profile_schema::Column::RealmId.eq(realm_id))
            .order_by_desc(profile_schema::Column::Version)
            .one(&txn)
            .await
            .map_err(db_err)?;
        if latest.is_some_and(|l| l.version >= i64::from(schema.version)) {
            return Err(StoreError::Stale);
        }
        let row = profile_schema::Model {
            realm_id,
            version: i64::from(schema.version),
            schema: text,
            updated_at: micros(at),
        };
        profile_schema::Entity::insert(row.into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(|e| match e.sql_err() {
                // A racing writer stored the same version first.
                Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Stale,
                _ => db_err(e),
            })?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn get_profile(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<StoredProfile>> {
        user_profile::Entity::find()
            .filter(user_profile::Column::RealmId.eq(realm_id))
            .filter(user_profile::Column::UserId.eq(user_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(StoredProfile::try_from)
            .transpose()
    }

    async fn save_profile(&self, p: &StoredProfile, expected_revision: u64) -> StoreResult<bool> {
        let text = serde_json::to_string(&p.document).map_err(unserialisable)?;
        if expected_revision == 0 {
            let row = user_profile::Model {
                realm_id: p.realm_id,
                user_id: p.user_id,
                document: text,
                schema_version: i64::from(p.schema_version),
                revision: revision(p.revision)?,
                updated_at: micros(p.updated_at),
            };
            return match user_profile::Entity::insert(row.into_active_model())
                .exec_without_returning(&self.writer)
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    Ok(false)
                }
                Err(e) => Err(db_err(e)),
            };
        }
        let changes = user_profile::ActiveModel {
            document: Set(text),
            schema_version: Set(i64::from(p.schema_version)),
            revision: Set(revision(p.revision)?),
            updated_at: Set(micros(p.updated_at)),
            ..Default::default()
        };
        let res = user_profile::Entity::update_many()
            .set(changes)
            .filter(user_profile::Column::RealmId.eq(p.realm_id))
            .filter(user_profile::Column::UserId.eq(p.user_id))
            .filter(user_profile::Column::Revision.eq(revision(expected_revision)?))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn profiles_below_version(
        &self,
        realm_id: Uuid,
        version: u32,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<StoredProfile>> {
        let mut select = user_profile::Entity::find()
            .filter(user_profile::Column::RealmId.eq(realm_id))
            .filter(user_profile::Column::SchemaVersion.lt(i64::from(version)));
        if let Some(after) = after {
            select = select.filter(user_profile::Column::UserId.gt(after));
        }
        let rows = select
            .order_by_asc(user_profile::Column::UserId)
            .limit(Ord::min(limit, MAX_ROWS))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn put_avatar(&self, a: &StoredAvatar) -> StoreResult<()> {
        let row = user_avatar::Model {
            realm_id: a.realm_id,
            user_id: a.user_id,
            png: a.png.clone(),
            sha256: a.sha256.to_vec(),
            updated_at: micros(a.updated_at),
        };
        user_avatar::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([user_avatar::Column::RealmId, user_avatar::Column::UserId])
                    .update_columns([
                        user_avatar::Column::Png,
                        user_avatar::Column::Sha256,
                        user_avatar::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn get_avatar(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Option<StoredAvatar>> {
        user_avatar::Entity::find()
            .filter(user_avatar::Column::RealmId.eq(realm_id))
            .filter(user_avatar::Column::UserId.eq(user_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(StoredAvatar::try_from)
            .transpose()
    }

    async fn avatar_digest(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<([u8; 32], OffsetDateTime)>> {
        let row: Option<(Vec<u8>, i64)> = user_avatar::Entity::find()
            .select_only()
            .column(user_avatar::Column::Sha256)
            .column(user_avatar::Column::UpdatedAt)
            .filter(user_avatar::Column::RealmId.eq(realm_id))
            .filter(user_avatar::Column::UserId.eq(user_id))
            .into_tuple()
            .one(&self.reader)
            .await
            .map_err(db_err)?;
        row.map(|(sha, at)| Ok((digest(&sha)?, instant(at)?)))
            .transpose()
    }

    async fn delete_avatar(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let res = user_avatar::Entity::delete_many()
            .filter(user_avatar::Column::RealmId.eq(realm_id))
            .filter(user_avatar::Column::UserId.eq(user_id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn get_preferences(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Preferences>> {
        user_preference::Entity::find()
            .filter(user_preference::Column::RealmId.eq(realm_id))
            .filter(user_preference::Column::UserId.eq(user_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Preferences::try_from)
            .transpose()
    }

    async fn put_preferences(&self, p: &Preferences) -> StoreResult<()> {
        let row = user_preference::Model {
            realm_id: p.realm_id,
            user_id: p.user_id,
            locale: p.locale.clone(),
            time_zone: p.time_zone.clone(),
            notifications: serde_json::Value::Object(p.notifications.clone()).to_string(),
            updated_at: micros(p.updated_at.unwrap_or(OffsetDateTime::UNIX_EPOCH)),
        };
        user_preference::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([
                    user_preference::Column::RealmId,
                    user_preference::Column::UserId,
                ])
                .update_columns([
                    user_preference::Column::Locale,
                    user_preference::Column::TimeZone,
                    user_preference::Column::Notifications,
                    user_preference::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_user_audit(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        before: Option<(OffsetDateTime, Uuid)>,
        limit: u64,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut select = audit_event::Entity::find()
            .filter(audit_event::Column::RealmId.eq(realm_id))
            .filter(
                Condition::any()
                    .add(audit_event::Column::Actor.eq(user_id))
                    .add(audit_event::Column::Target.eq(format!("user:{user_id}"))),
            );
        if let Some((at, id)) = before {
            let at = micros(at);
            select = select.filter(
                Condition::any().add(audit_event::Column::At.lt(at)).add(
                    Condition::all()
                        .add(audit_event::Column::At.eq(at))
                        .add(audit_event::Column::Id.lt(id)),
                ),
            );
        }
        let rows = select
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .limit(Ord::min(limit, MAX_ROWS))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }
}
