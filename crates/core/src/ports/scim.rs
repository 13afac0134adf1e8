//! SCIM 2.0 in storage: the SCIM side of accounts (user name, external id,
//! the Enterprise User extension, every other attribute a provisioning
//! client sent) and of groups (display name, external id), and the
//! translated filters of SCIM queries.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::model::{Page, User};
use crate::scim::{ScimGroupRecord, ScimUserQuery, ScimUserRecord};

/// SCIM records. Every method filters by realm.
#[async_trait]
pub trait ScimStore: Send + Sync {
    /// An account with its SCIM record (the default record when SCIM never
    /// wrote one).
    async fn scim_user(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<(User, ScimUserRecord)>>;
    /// The account whose SCIM `userName` (lower case) is `canonical`, or
    /// that has none and whose e-mail address is `canonical`.
    async fn scim_user_id_by_name(
        &self,
        realm_id: Uuid,
        canonical: &str,
    ) -> StoreResult<Option<Uuid>>;
    /// Creates an account with its SCIM record, or replaces both (the
    /// account's e-mail, name, password hash, active flag and `updated_at`
    /// and the whole record), in one transaction. `Conflict` for a user
    /// name or e-mail address taken in the realm; `NotFound` when
    /// replacing an account that does not exist or naming a manager that
    /// is not an account of the realm.
    async fn save_scim_user(
        &self,
        user: &User,
        record: &ScimUserRecord,
        create: bool,
    ) -> StoreResult<()>;
    /// A page of accounts with their SCIM records.
    async fn list_scim_users(
        &self,
        realm_id: Uuid,
        query: &ScimUserQuery,
    ) -> StoreResult<Page<(User, ScimUserRecord)>>;
    /// The SCIM records of a realm's groups (groups SCIM never named have
    /// none).
    async fn scim_groups(&self, realm_id: Uuid) -> StoreResult<Vec<ScimGroupRecord>>;
    /// Creates or replaces a group's SCIM record. `Conflict` for a display
    /// name taken in the realm; `NotFound` when the group does not exist.
    async fn save_scim_group(&self, record: &ScimGroupRecord) -> StoreResult<()>;
}
