//! Bodies of `/api/v1/identity/users`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the API shows it (never a password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// False once deactivated.
    pub active: bool,
    /// Whether the user proved control of the address (a verification or
    /// reset link).
    #[serde(default)]
    pub email_verified: bool,
    /// Realm administrator (holds the built-in `realm-admin` role).
    pub admin: bool,
    /// Names of the roles held now: granted directly, through groups, or
    /// included by other roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Attributes for policy conditions (`subject.attributes`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Last successful login.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

/// `POST /api/v1/identity/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Email address.
    pub email: String,
    /// Initial password; omit for an account that cannot log in with a password yet.
    #[serde(default)]
    pub password: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Make the user a realm administrator.
    #[serde(default)]
    pub admin: bool,
    /// Attributes for policy conditions: up to 64 named JSON values, 4 KiB
    /// in all.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `PUT /api/v1/identity/users/{id}`: replaces the user's editable fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Email address.
    pub email: String,
    /// Display name (`null` clears it).
    #[serde(default)]
    pub name: Option<String>,
    /// Realm administrator.
    #[serde(default)]
    pub admin: bool,
    /// Attributes for policy conditions; omitted leaves them unchanged,
    /// `{}` clears them.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A page of users.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    /// Users on this page, in creation order.
    pub items: Vec<UserView>,
    /// Users matching the filter in all pages.
    pub total: u64,
    /// This page (from 1).
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}
