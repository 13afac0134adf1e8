//! Bodies of `/api/v1/organizations`.

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// An organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    /// Id.
    pub id: Uuid,
    /// Name, unique in the realm (1-64 of a-z, 0-9, `-`, `_`).
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The parent organization's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A page of organizations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationList {
    /// Organizations on this page, by name.
    pub items: Vec<OrganizationView>,
    /// Organizations matching the query in all pages.
    pub total: u64,
    /// This page (from 1).
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}

/// `POST /api/v1/organizations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Name, unique in the realm.
    pub name: String,
    /// Name shown to people (defaults to the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description (plain text, at most 1,000 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// The parent organization, by id or name.
    #[serde(default)]
    pub parent: Option<String>,
    /// Attributes (a JSON object, as users').
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `PATCH /api/v1/organizations/{id}`: the fields present change; `parent:
/// null` makes the organization a root, `description: null` removes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New description; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New parent, by id or name; `null` makes it a root.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<Option<String>>,
    /// New attributes (replace the old ones).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A field that is present, `null` included: `Some(None)` for `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/v1/organizations/{id}/users`: add a member, or change its role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOrganizationMemberRequest {
    /// The user, of the same realm.
    pub user_id: Uuid,
    /// Its role in the organization: `owner`, `admin`, `member` (default)
    /// or a role of the realm.
    #[serde(default)]
    pub role: Option<String>,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationMemberView {
    /// The user.
    pub user_id: Uuid,
    /// Its address.
    pub email: String,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its role in the organization.
    pub role: String,
    /// When it joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

/// A page of members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationMemberList {
    /// Members on this page, oldest first.
    pub items: Vec<OrganizationMemberView>,
    /// Members in all pages.
    pub total: u64,
    /// This page (from 1).
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}

/// `POST /api/v1/organizations/{id}/domains`: claim an e-mail domain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOrganizationDomainRequest {
    /// The domain (IDNA allowed; stored lower-case ASCII); not a wildcard,
    /// not a public suffix.
    pub domain: String,
    /// Whether users of the domain join the organization when their
    /// address is verified (default false).
    #[serde(default)]
    pub auto_join: Option<bool>,
    /// The role they get (default `member`).
    #[serde(default)]
    pub role: Option<String>,
}

/// `PATCH /api/v1/organizations/{id}/domains/{domain}`: the fields present
/// change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationDomainRequest {
    /// Whether users of the domain join the organization.
    #[serde(default)]
    pub auto_join: Option<bool>,
    /// The role they get.
    #[serde(default)]
    pub role: Option<String>,
}

/// `POST /api/v1/organizations/{id}/domains/{domain}/verify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyOrganizationDomainRequest {
    /// `dns` (default: the server looks the TXT record up) or `admin` (the
    /// caller, holding the realm's organizations:manage:all, vouches).
    #[serde(default)]
    pub method: Option<String>,
}

/// The DNS TXT record that proves a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TxtRecordView {
    /// Its name (`_portcullis-challenge.<domain>`).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// An organization's e-mail domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationDomainView {
    /// The domain, lower-case ASCII.
    pub domain: String,
    /// Whether it is verified.
    pub verified: bool,
    /// When it was verified.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub verified_at: Option<OffsetDateTime>,
    /// How: `dns` or `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// Whether users of the domain join the organization.
    pub auto_join: bool,
    /// The role they get.
    pub role: String,
    /// The TXT record to publish to verify it.
    pub txt_record: TxtRecordView,
    /// When it was claimed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An organization's domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationDomainList {
    /// The domains, by name.
    pub items: Vec<OrganizationDomainView>,
}

/// `POST /api/v1/organizations/{id}/invitations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// The address invited.
    pub email: String,
    /// The role given on acceptance (default `member`).
    #[serde(default)]
    pub role: Option<String>,
}

/// An invitation to an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    /// Id.
    pub id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The address invited.
    pub email: String,
    /// The role given on acceptance.
    pub role: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the link stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An organization's pending invitations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationList {
    /// Invitations not accepted, oldest first (expired ones too).
    pub items: Vec<InvitationView>,
}

/// `POST /api/v1/organizations/invitations/accept`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The token of the mailed link.
    pub token: String,
}

/// An organization the caller belongs to, with its role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MyMembershipView {
    /// The organization.
    pub organization: OrganizationView,
    /// The caller's role in it.
    pub role: String,
}

/// An invitation waiting for the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MyInvitationView {
    /// Id.
    pub id: Uuid,
    /// The organization.
    pub organization: OrganizationView,
    /// The role offered.
    pub role: String,
    /// When the link stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `GET /api/v1/auth/me/organizations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MyOrganizationsView {
    /// The caller's organizations, by name.
    pub memberships: Vec<MyMembershipView>,
    /// Live invitations to the caller's address (accepted with the mailed
    /// link's token).
    pub invitations: Vec<MyInvitationView>,
}

/// `GET /api/v1/organizations/{id}/dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationDashboardView {
    /// Members.
    pub members: u64,
    /// Members who signed in within 30 days.
    pub active_members_30d: u64,
    /// Members with a confirmed second factor.
    pub members_with_mfa: u64,
    /// `members_with_mfa / members` (0 without members).
    pub mfa_coverage: f64,
    /// Invitations neither accepted nor expired.
    pub pending_invitations: u64,
    /// The latest 20 audit events of its members, newest first.
    pub recent_events: Vec<OrganizationEventView>,
}

/// An audit event of an organization's member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationEventView {
    /// Id.
    pub id: Uuid,
    /// What happened (`user.login`, `mfa.enrol`, ...).
    pub action: String,
    /// What it happened to.
    pub target: String,
    /// Who did it (absent: the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Uuid>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
