//! Organizations in storage: the organizations of a realm (a tree by
//! `parent_id`) and their members, each with a role in the organization.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::model::Page;
use crate::orgs::{Member, Membership, OrgQuery, Organization};

/// Organizations and memberships. Every method filters by realm.
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Stores a new organization; `Conflict` when its name is taken in the
    /// realm, `NotFound` when its parent is not an organization of the realm.
    async fn create_organization(&self, org: &Organization) -> StoreResult<()>;
    /// An organization of a realm by id.
    async fn get_organization(&self, realm_id: Uuid, id: Uuid)
    -> StoreResult<Option<Organization>>;
    /// An organization of a realm by name.
    async fn get_organization_by_name(
        &self,
        realm_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<Organization>>;
    /// A page of a realm's organizations by name, optionally those whose
    /// name or display name contains `query.search` (case-insensitive),
    /// or only the children of `query.parent`.
    async fn list_organizations(
        &self,
        realm_id: Uuid,
        query: &OrgQuery,
    ) -> StoreResult<Page<Organization>>;
    /// Replaces an organization's name, display name, description, parent,
    /// attributes and `updated_at`; false when it does not exist.
    /// `Conflict` for a name taken.
    async fn update_organization(&self, org: &Organization) -> StoreResult<bool>;
    /// Deletes an organization and its memberships; false when it did not
    /// exist. `Conflict` while it has child organizations.
    async fn delete_organization(&self, realm_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Adds a member, or changes the role of one; true when added.
    /// `NotFound` when the organization or the user is not of the realm.
    async fn put_membership(&self, m: &Membership) -> StoreResult<bool>;
    /// Removes a member; false when it was none.
    async fn delete_membership(&self, realm_id: Uuid, org: Uuid, user: Uuid) -> StoreResult<bool>;
    /// A membership.
    async fn get_membership(
        &self,
        realm_id: Uuid,
        org: Uuid,
        user: Uuid,
    ) -> StoreResult<Option<Membership>>;
    /// A page of an organization's members with their addresses and
    /// names, oldest first.
    async fn list_memberships(
        &self,
        realm_id: Uuid,
        org: Uuid,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<Member>>;
    /// The memberships of a user, every organization.
    async fn memberships_of(&self, realm_id: Uuid, user: Uuid) -> StoreResult<Vec<Membership>>;
}
