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
