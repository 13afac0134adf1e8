//! Bulk import and export in storage: users a page at a time by id
//! (keyset pagination), batches of users written in one transaction, and
//! many authorization changes applied with one revision bump.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::model::{AuditRecord, AuthzChange, User};

/// A user row that an imported line may collide with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingUser {
    /// Its id.
    pub id: Uuid,
    /// Its realm (another realm's id is refused, never touched).
    pub realm_id: Uuid,
    /// Its canonical address.
    pub email_canonical: String,
}

/// What bulk import and export need beyond the ordinary ports.
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// Up to `limit` users of the realm with ids greater than `after`, by id.
    async fn users_after(
        &self,
        realm_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<User>>;
    /// Users whose id is one of `ids` (in any realm) or whose canonical
    /// address in `realm_id` is one of `emails`.
    async fn existing_users(
        &self,
        realm_id: Uuid,
        ids: &[Uuid],
        emails: &[String],
    ) -> StoreResult<Vec<ExistingUser>>;
    /// Inserts `inserts` and replaces `updates` (matched by realm and id:
    /// address, name, hash, flags, attributes, `updated_at`), all in one
    /// transaction that also bumps the realm's authorization revision when
    /// any attributes are written. All or nothing: `Conflict` on a
    /// duplicate address or id.
    async fn write_users(
        &self,
        realm_id: Uuid,
        inserts: &[User],
        updates: &[User],
    ) -> StoreResult<()>;
    /// Applies `changes` in order in one transaction, with one audit record
    /// and one bump of the realm's revision; all or nothing. Errors as
    /// [`super::AuthzStore::apply_authz_change`]'s.
    async fn apply_authz_changes(
        &self,
        realm_id: Uuid,
        changes: &[AuthzChange],
        audit: &AuditRecord,
    ) -> StoreResult<i64>;
}
