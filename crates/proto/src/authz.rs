//! Bodies of the authorization API: `/api/v1/rbac/...`,
//! `/api/v1/identity/groups/...` and `/api/v1/authz/...`.

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Distinguishes an absent field (`None`) from an explicit `null`
/// (`Some(None)`) in PATCH bodies.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A role or group named in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamedRef {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    /// Id.
    pub id: Uuid,
    /// Unique name in the realm.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Built-in roles cannot be deleted.
    pub builtin: bool,
    /// Permissions the role grants directly.
    pub permissions: Vec<String>,
    /// Roles it includes.
    pub includes: Vec<NamedRef>,
    /// The realm's authorization revision this answer reflects.
    pub revision: i64,
}

/// A list of roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleList {
    /// Roles, by name.
    pub items: Vec<RoleView>,
    /// The realm's authorization revision.
    pub revision: i64,
}

/// `POST /api/v1/rbac/roles`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Unique name: letters, digits, `_ - . :`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Permissions `resource:action:scope`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Roles to include, by id or name.
    #[serde(default)]
    pub includes: Vec<String>,
}

/// `PATCH /api/v1/rbac/roles/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description (`null` or empty clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Replaces the permissions.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Replaces the included roles.
    #[serde(default)]
    pub includes: Option<Vec<String>>,
}

/// `POST` / `DELETE /api/v1/rbac/roles/{id}/permissions`: one permission or several.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePermissionsRequest {
    /// One permission.
    #[serde(default)]
    pub permission: Option<String>,
    /// Several permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A permission in use in the realm, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PermissionUse {
    /// The permission.
    pub permission: String,
    /// Whether it is declared in the realm's catalogue.
    pub defined: bool,
    /// Its description from the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Roles granting it.
    pub roles: Vec<String>,
    /// How many direct grants (allow or deny) name it.
    pub direct_grants: usize,
}

/// `POST /api/v1/rbac/permissions`: declares a permission in the realm's
/// catalogue (or replaces its description). Declaring grants nothing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinePermissionRequest {
    /// The permission, `resource:action:scope`.
    pub permission: String,
    /// What it allows, in words (up to 1,024 characters).
    #[serde(default)]
    pub description: Option<String>,
}

/// `GET /api/v1/rbac/permissions`: the catalogue and every permission in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PermissionList {
    /// Permissions, sorted.
    pub items: Vec<PermissionUse>,
    /// The realm's authorization revision.
    pub revision: i64,
}

/// `POST /api/v1/rbac/users/{id}/roles` and `POST /api/v1/identity/groups/{id}/roles`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRoleRequest {
    /// The role, by id or name.
    pub role: String,
    /// When the grant ends (must be in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the grant starts counting.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
}

/// `POST /api/v1/rbac/users/{id}/permissions` and `POST /api/v1/identity/groups/{id}/permissions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantPermissionRequest {
    /// The permission `resource:action:scope`.
    pub permission: String,
    /// `allow` (default) or `deny`; a deny wins over every allow.
    #[serde(default)]
    pub effect: Option<String>,
    /// When the grant ends (must be in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the grant starts counting.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
}

/// A role grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleGrantView {
    /// The role.
    pub role: NamedRef,
    /// Start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Whether it counts now.
    pub active: bool,
}

/// A direct permission grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PermissionGrantView {
    /// The permission.
    pub permission: String,
    /// `allow` or `deny`.
    pub effect: String,
    /// Start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Whether it counts now.
    pub active: bool,
}

/// A subject's grants (user or group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GrantsView {
    /// Role grants.
    pub roles: Vec<RoleGrantView>,
    /// Direct permission grants.
    pub permissions: Vec<PermissionGrantView>,
    /// The realm's authorization revision.
    pub revision: i64,
}

/// The answer to a change that has no other body: the new revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevisionView {
    /// The realm's authorization revision after the change.
    pub revision: i64,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: Uuid,
    /// Unique name in the realm.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Parent group.
    pub parent: Option<NamedRef>,
    /// Direct members (current and future or expired memberships included).
    pub member_count: usize,
    /// The realm's authorization revision this answer reflects.
    pub revision: i64,
}

/// A list of groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    /// Groups, by name.
    pub items: Vec<GroupView>,
    /// The realm's authorization revision.
    pub revision: i64,
}

/// `POST /api/v1/identity/groups`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Parent group, by id or name.
    #[serde(default)]
    pub parent: Option<String>,
}

/// `PATCH /api/v1/identity/groups/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description (`null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New parent by id or name (`null` makes it a top-level group).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<Option<String>>,
}

/// `POST /api/v1/identity/groups/{id}/members`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user's id.
    pub user_id: Uuid,
    /// When the membership ends (must be in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it starts counting.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
}

/// A membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// The user's id.
    pub user_id: Uuid,
    /// Start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Whether it counts now.
    pub active: bool,
}

/// Members of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    /// Memberships.
    pub items: Vec<MemberView>,
    /// The realm's authorization revision.
    pub revision: i64,
}

/// A policy statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    /// Statement id.
    pub sid: Option<String>,
    /// `ALLOW` or `DENY`.
    pub effect: String,
    /// Action patterns (empty: every action).
    pub actions: Vec<String>,
    /// Resource patterns (empty: every resource).
    pub resources: Vec<String>,
    /// JSON Logic condition.
    #[schema(value_type = Option<Object>)]
    pub condition: Option<serde_json::Value>,
}

/// What a policy is attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    /// `realm`, `user`, `group` or `role`.
    pub kind: String,
    /// The user, group or role.
    pub id: Option<Uuid>,
    /// The group's or role's name.
    pub name: Option<String>,
}

/// A policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// Id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Higher first among policies of the same effect.
    pub priority: i32,
    /// Disabled policies never apply.
    pub enabled: bool,
    /// Who it applies to.
    pub attached_to: AttachmentView,
    /// Its rules.
    pub statements: Vec<StatementView>,
    /// The realm's authorization revision this answer reflects.
    pub revision: i64,
}

/// A list of policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    /// Policies, by priority then name.
    pub items: Vec<PolicyView>,
    /// The realm's authorization revision.
    pub revision: i64,
}

/// The resource of a check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckResource {
    /// Resource type (`documents`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource id.
    #[serde(default)]
    pub id: Option<String>,
    /// Owner's user id (for scope `own`).
    #[serde(default)]
    pub owner: Option<String>,
    /// Owning team, a group name or id (for scope `team`).
    #[serde(default)]
    pub team: Option<String>,
    /// Attributes for policy conditions.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// `POST /api/v1/authz/check`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequestBody {
    /// The user id to decide for; omitted: the bearer of the request's token.
    #[serde(default)]
    pub subject: Option<String>,
    /// The action (`read`).
    pub action: String,
    /// The resource.
    pub resource: CheckResource,
    /// Context for policy conditions (`ip` defaults to the caller's address).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Include the explanation.
    #[serde(default)]
    pub explain: bool,
    /// Never answer from a revision older than this.
    #[serde(default)]
    pub min_revision: Option<i64>,
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckResponseBody {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// `allow` or `deny`.
    pub decision: String,
    /// Why, as a code: `direct_deny`, `policy_deny`, `direct_allow`,
    /// `role_allow`, `group_allow`, `policy_allow`, `no_match`.
    pub reason: String,
    /// Why, in one sentence.
    pub message: String,
    /// The deciding grant or policy and the path to it (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub explanation: Option<serde_json::Value>,
    /// The revision the decision was made at.
    pub revision: i64,
}

/// `POST /api/v1/authz/check-batch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBatchRequest {
    /// Up to 1,000 checks, decided at one revision.
    pub checks: Vec<CheckRequestBody>,
    /// Never answer from a revision older than this.
    #[serde(default)]
    pub min_revision: Option<i64>,
}

/// The answer to a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckBatchResponse {
    /// Decisions, in request order.
    pub results: Vec<CheckResponseBody>,
    /// The revision every decision was made at.
    pub revision: i64,
}

/// One effective permission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EffectivePermissionView {
    /// The permission.
    pub permission: String,
    /// `allow` or `deny`.
    pub effect: String,
    /// Every path it comes through.
    pub sources: Vec<String>,
}

/// `GET /api/v1/authz/users/{id}/permissions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EffectivePermissions {
    /// The user.
    pub user_id: Uuid,
    /// Roles held now.
    pub roles: Vec<String>,
    /// Groups (teams) now, ancestors included.
    pub groups: Vec<String>,
    /// Permissions held now.
    pub permissions: Vec<EffectivePermissionView>,
    /// The revision of this answer (also the ETag).
    pub revision: i64,
}

/// `POST /api/v1/auth/authorize`: may the bearer do this action on this resource?
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// Resource type.
    pub resource: String,
    /// Action.
    pub action: String,
    /// Resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Owner's user id.
    #[serde(default)]
    pub owner: Option<String>,
    /// Owning team.
    #[serde(default)]
    pub team: Option<String>,
}
