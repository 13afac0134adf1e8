//! Organizations in storage: the organizations of a realm (a tree by
//! `parent_id`) and their members, each with a role in the organization.

use async_trait::async_trait;
use uuid::Uuid;

use time::OffsetDateTime;

use super::StoreResult;
use crate::model::{AuditRecord, Page};
use crate::orgs::{Invitation, Member, Membership, OrgDomain, OrgQuery, OrgStats, Organization};

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

/// DNS TXT look-ups: the proof of an organization's e-mail domain.
#[async_trait]
pub trait TxtResolver: Send + Sync + 'static {
    /// The TXT records of `name` (lower-case ASCII), each record's strings
    /// joined; empty when there are none (or the name does not exist); an
    /// error (a timeout, a failing server) as a short text.
    async fn txt(&self, name: &str) -> Result<Vec<String>, String>;
}

/// Organizations' e-mail domains, invitations and figures. Every method
/// filters by realm.
#[async_trait]
pub trait OrganizationExtrasStore: Send + Sync {
    /// Stores a domain claimed by an organization; `Conflict` when that
    /// organization claims it already, `NotFound` when the organization is
    /// not of the realm.
    async fn create_org_domain(&self, d: &OrgDomain) -> StoreResult<()>;
    /// An organization's domains, by domain.
    async fn list_org_domains(&self, realm_id: Uuid, org: Uuid) -> StoreResult<Vec<OrgDomain>>;
    /// One domain of an organization.
    async fn get_org_domain(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
    ) -> StoreResult<Option<OrgDomain>>;
    /// The organization's claim of `domain` that is verified, if any (one
    /// per realm at most).
    async fn verified_org_domain(
        &self,
        realm_id: Uuid,
        domain: &str,
    ) -> StoreResult<Option<OrgDomain>>;
    /// Marks a domain of an organization verified (`method`: `dns` or
    /// `admin`) at `at`; false when the organization does not claim it.
    /// `Conflict` when another organization of the realm verified it.
    async fn verify_org_domain(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
        method: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Changes a domain's policy; false when the organization does not
    /// claim it.
    async fn set_org_domain_policy(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
        auto_join: bool,
        join_role: &str,
    ) -> StoreResult<bool>;
    /// Removes a domain; false when it was not claimed.
    async fn delete_org_domain(&self, realm_id: Uuid, org: Uuid, domain: &str)
    -> StoreResult<bool>;
    /// Stores an invitation, replacing the pending (unaccepted) ones of the
    /// same organization and address: their tokens stop working.
    /// `NotFound` when the organization is not of the realm.
    async fn put_invitation(&self, inv: &Invitation) -> StoreResult<()>;
    /// An organization's pending (unaccepted) invitations, oldest first,
    /// expired ones included.
    async fn list_invitations(&self, realm_id: Uuid, org: Uuid) -> StoreResult<Vec<Invitation>>;
    /// Deletes an invitation of an organization; false when there was none.
    async fn delete_invitation(&self, realm_id: Uuid, org: Uuid, id: Uuid) -> StoreResult<bool>;
    /// The invitation whose token has the digest `hash`.
    async fn get_invitation_by_hash(
        &self,
        realm_id: Uuid,
        hash: &[u8],
    ) -> StoreResult<Option<Invitation>>;
    /// The pending (unaccepted) invitations to an address (canonical),
    /// expired ones included.
    async fn invitations_for_email(
        &self,
        realm_id: Uuid,
        email: &str,
    ) -> StoreResult<Vec<Invitation>>;
    /// Accepts an invitation: in one transaction, marks it accepted by
    /// `member.user_id` if it is still pending and unexpired at `at` (the
    /// conditional update that decides between racing uses) and adds the
    /// membership (a member already keeps its role). False when it was
    /// not live.
    async fn accept_invitation(
        &self,
        realm_id: Uuid,
        id: Uuid,
        member: &Membership,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// An organization's figures: members, those who signed in since
    /// `active_since`, those with a confirmed second factor.
    async fn organization_stats(
        &self,
        realm_id: Uuid,
        org: Uuid,
        active_since: OffsetDateTime,
    ) -> StoreResult<OrgStats>;
    /// The latest audit records whose actor or target (`user:<id>`) is a
    /// member of the organization, newest first.
    async fn organization_member_audit(
        &self,
        realm_id: Uuid,
        org: Uuid,
        limit: u64,
    ) -> StoreResult<Vec<AuditRecord>>;
}
