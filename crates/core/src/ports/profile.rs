//! Profiles in storage: a realm's profile schema (every version), each
//! user's profile document, avatar and preferences, and the audit records
//! of one user (the activity feed).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;
use crate::model::AuditRecord;
use crate::profile::ProfileSchema;
use crate::profile::model::{Preferences, StoredAvatar, StoredProfile, StoredSchema};

/// Profiles, avatars, preferences. Every method filters by realm; a user's
/// rows go with the user, a realm's with the realm.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// The realm's schema at `version`, or its latest (greatest) version
    /// when `None`; `None` when the realm never stored one.
    async fn get_profile_schema(
        &self,
        realm_id: Uuid,
        version: Option<u32>,
    ) -> StoreResult<Option<StoredSchema>>;
    /// Stores a new version of the realm's schema: `Stale` unless its
    /// version is greater than every stored one (checked in the
    /// transaction that writes it). `NotFound` for an unknown realm.
    async fn put_profile_schema(
        &self,
        realm_id: Uuid,
        schema: &ProfileSchema,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// A user's profile document.
    async fn get_profile(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<StoredProfile>>;
    /// Writes `profile` if the stored one is still at `expected_revision`
    /// (0: no profile stored yet); false when it changed meanwhile (the
    /// caller reads again). `profile.revision` is the new revision.
    /// `NotFound` when the user is not of the realm.
    async fn save_profile(
        &self,
        profile: &StoredProfile,
        expected_revision: u64,
    ) -> StoreResult<bool>;
    /// Up to `limit` profiles of the realm stored under a schema version
    /// below `version`, by user id after `after`: the batches a schema
    /// change migrates.
    async fn profiles_below_version(
        &self,
        realm_id: Uuid,
        version: u32,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<StoredProfile>>;
    /// Stores (or replaces) a user's avatar. `NotFound` when the user is
    /// not of the realm.
    async fn put_avatar(&self, avatar: &StoredAvatar) -> StoreResult<()>;
    /// A user's avatar with its bytes.
    async fn get_avatar(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Option<StoredAvatar>>;
    /// The digest and time of a user's avatar, without its bytes.
    async fn avatar_digest(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<([u8; 32], OffsetDateTime)>>;
    /// Removes a user's avatar; false when there was none.
    async fn delete_avatar(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    /// A user's preferences.
    async fn get_preferences(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Preferences>>;
    /// Stores (or replaces) a user's preferences. `NotFound` when the user
    /// is not of the realm.
    async fn put_preferences(&self, prefs: &Preferences) -> StoreResult<()>;
    /// Up to `limit` audit records of the realm whose actor is the user or
    /// whose target is `user:<id>`, newest first (by time, then id),
    /// strictly before `before` (a record's time and id) when given.
    async fn list_user_audit(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        before: Option<(OffsetDateTime, Uuid)>,
        limit: u64,
    ) -> StoreResult<Vec<AuditRecord>>;
}
