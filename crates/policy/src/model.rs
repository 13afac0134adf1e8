//! The authorization data of one realm, as the store hands it to the engine:
//! roles, groups, grants and policies. Plain data; [`crate::CompiledRealm`]
//! turns a [`RealmSnapshot`] into the indexed view checks run against.
//!
//! Times are Unix microseconds (`i64`), like everywhere in storage (ADR 0001).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Permission;

/// Unix time in microseconds.
pub type Micros = i64;

/// When a grant counts: from `not_before` (inclusive) until `expires_at`
/// (exclusive). `None` bounds are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    /// First instant the grant counts.
    pub not_before: Option<Micros>,
    /// First instant the grant no longer counts.
    pub expires_at: Option<Micros>,
}

impl Validity {
    /// A grant that always counts.
    pub const ALWAYS: Validity = Validity {
        not_before: None,
        expires_at: None,
    };

    /// Whether the grant counts at `now`.
    pub fn holds_at(&self, now: Micros) -> bool {
        self.not_before.is_none_or(|nb| now >= nb) && self.expires_at.is_none_or(|exp| now < exp)
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grants access.
    Allow,
    /// Refuses access; wins over any allow.
    Deny,
}

impl Effect {
    /// `allow` or `deny`, as the API and stored documents write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// Who receives a role or permission grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Grantee {
    /// A user (or, later, a service account).
    User(Uuid),
    /// A group: its members and the members of its descendants receive it.
    Group(Uuid),
}

/// A role: named set of permissions, possibly including other roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Id.
    pub id: Uuid,
    /// Unique name within the realm.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Permissions the role grants directly.
    pub permissions: Vec<Permission>,
    /// Roles this role includes (composition; acyclic).
    pub includes: Vec<Uuid>,
    /// Built-in roles (`realm-admin`, `user`) cannot be deleted.
    pub builtin: bool,
}

/// A group of users; a group's parent's grants reach its members too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Id.
    pub id: Uuid,
    /// Unique name within the realm.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Parent group (acyclic).
    pub parent: Option<Uuid>,
}

/// A user's membership of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The member.
    pub user: Uuid,
    /// The group.
    pub group: Uuid,
    /// When the membership counts.
    pub validity: Validity,
}

/// A role granted to a user or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGrant {
    /// Receiver.
    pub to: Grantee,
    /// The role.
    pub role: Uuid,
    /// When the grant counts.
    pub validity: Validity,
}

/// A permission granted (or denied) directly to a user or group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionGrant {
    /// Receiver.
    pub to: Grantee,
    /// The permission.
    pub permission: Permission,
    /// Allow, or an explicit deny that wins over every allow.
    pub effect: Effect,
    /// When the grant counts.
    pub validity: Validity,
}

/// What a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Attachment {
    /// Every subject of the realm.
    Realm,
    /// One user.
    User(Uuid),
    /// Members of a group (and of its descendants).
    Group(Uuid),
    /// Holders of a role (directly, through a group, or through a role that
    /// includes it).
    Role(Uuid),
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Optional statement id (IAM `Sid`).
    pub sid: Option<String>,
    /// Effect when the statement applies and its condition holds.
    pub effect: Effect,
    /// Action patterns (`read`, `*`, `documents:read`, `doc*`); empty means
    /// every action.
    pub actions: Vec<String>,
    /// Resource patterns (`documents`, `documents/*`, `documents/42`, `*`);
    /// empty means every resource.
    pub resources: Vec<String>,
    /// JSON Logic condition, already validated; `None` always holds.
    pub condition: Option<serde_json::Value>,
}

/// An ABAC policy: ordered by priority (higher first) within an effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Id.
    pub id: Uuid,
    /// Unique name within the realm.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Higher first among policies of the same effect.
    pub priority: i32,
    /// Who the policy applies to.
    pub attached_to: Attachment,
    /// The rules.
    pub statements: Vec<Statement>,
    /// A disabled policy never applies.
    pub enabled: bool,
}

/// Everything the engine needs to decide for one realm, at one revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealmSnapshot {
    /// The realm's authorization revision this snapshot was read at.
    pub revision: i64,
    /// Roles.
    pub roles: Vec<Role>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Group memberships.
    pub memberships: Vec<Membership>,
    /// Role grants.
    pub role_grants: Vec<RoleGrant>,
    /// Direct permission grants.
    pub permission_grants: Vec<PermissionGrant>,
    /// Policies.
    pub policies: Vec<Policy>,
    /// Stored attributes of the users that have any (`subject.attributes` in
    /// conditions, unless a request brings its own).
    #[serde(default)]
    pub subject_attributes: Vec<(Uuid, serde_json::Map<String, serde_json::Value>)>,
    /// The realm's organizations (a tree by `parent`).
    #[serde(default)]
    pub organizations: Vec<OrganizationNode>,
    /// Who belongs to which organization, with which role.
    #[serde(default)]
    pub organization_members: Vec<OrganizationMember>,
}

/// An organization, as the engine sees it: a team for the permissions of
/// scope `team` of its administrators (`resource.team` = `org:<name>` or
/// `org:<id>`), and a name in its members' attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationNode {
    /// Id.
    pub id: Uuid,
    /// Name, unique in the realm.
    pub name: String,
    /// The parent organization.
    pub parent: Option<Uuid>,
}

/// A user's membership of an organization.
///
/// A member's organizations are in its attributes (`subject.attributes.
/// organizations`: names; `subject.attributes.organization_roles`: name ->
/// role). A member whose role is `owner` or `admin` administers the
/// organization and every organization below it: those are its teams
/// `org:<name>` and `org:<id>`. Any other role that names one of the realm's
/// roles is held as that role (`owner`, `admin` and `member` never are,
/// whatever roles the realm has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationMember {
    /// The member.
    pub user: Uuid,
    /// The organization.
    pub organization: Uuid,
    /// The role in the organization.
    pub role: String,
}

/// The prefix of organization teams in `resource.team`.
pub const ORGANIZATION_TEAM_PREFIX: &str = "org:";
