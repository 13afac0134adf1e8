//! Profiles: a user's declarative profile, avatar, preferences, dashboard
//! and activity.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A user's profile as its reader (the user, or an administrator) sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    /// The user.
    pub user_id: Uuid,
    /// The version of the realm's profile schema the profile follows.
    pub schema_version: u32,
    /// The fields the reader may read: field name to value.
    #[schema(value_type = Object)]
    pub profile: serde_json::Map<String, serde_json::Value>,
    /// Values that schema changes could not keep, by the schema version
    /// they were stored under (administrators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub archived: Option<serde_json::Map<String, serde_json::Value>>,
    /// Last change; absent before the first write.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// The user's verification state (read-only: set by phone and
    /// document verification, never by a profile write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::verification::ProfileVerification>,
}

/// The answer to a schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileSchemaChange {
    /// The schema now in force.
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
    /// Stored profiles migrated to it.
    pub migrated: u64,
    /// Stored profiles that changed meanwhile, migrated at their next read.
    pub deferred: u64,
}

/// A user's avatar, after an upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AvatarView {
    /// Its stable public URL.
    pub url: String,
    /// Its entity tag.
    pub etag: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the stored PNG in bytes.
    pub bytes: usize,
}

/// A user's preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreferencesView {
    /// A BCP 47 language tag.
    pub locale: Option<String>,
    /// An IANA time zone name.
    pub time_zone: Option<String>,
    /// Notification choices: name to on/off.
    #[schema(value_type = Object)]
    pub notifications: serde_json::Map<String, serde_json::Value>,
    /// Last change; absent before the first.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// One security event of a user's activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActivityEvent {
    /// Id.
    pub id: Uuid,
    /// What happened (`user.login`, `profile.update`, ...).
    pub action: String,
    /// What it happened to.
    pub target: String,
    /// Who did it (absent: the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Uuid>,
    /// Whether the user did it himself.
    pub by_self: bool,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A page of a user's activity, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActivityList {
    /// Events on this page.
    pub items: Vec<ActivityEvent>,
    /// The cursor of the next (older) page, absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A session on a user's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardSession {
    /// Id.
    pub id: Uuid,
    /// Device description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// IP address it was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last used.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
}

/// A second factor on a user's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardFactor {
    /// Id.
    pub id: Uuid,
    /// Kind (`totp`, `webauthn`, `sms`, ...).
    pub kind: String,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// An organization membership on a user's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardOrganization {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// The user's role in it.
    pub role: String,
}

/// A user's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardView {
    /// The user.
    pub user_id: Uuid,
    /// Address.
    pub email: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Last sign-in.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    /// Active sessions, newest first.
    pub sessions: Vec<DashboardSession>,
    /// Devices it signed in from (distinct device descriptions of active sessions).
    pub devices: Vec<String>,
    /// Second factors.
    pub factors: Vec<DashboardFactor>,
    /// The latest sign-ins (times), newest first.
    pub recent_sign_ins: Vec<ActivityEvent>,
    /// Groups it belongs to, by name.
    pub groups: Vec<String>,
    /// Roles it holds now, by name.
    pub roles: Vec<String>,
    /// Organizations and its role in each.
    pub organizations: Vec<DashboardOrganization>,
}
