//! Administration of roles, groups, grants and policies, one module each
//! (`roles`, `groups`, `grants`, `policies`); this module holds the values
//! they answer with. Every method takes
//! the caller's right ([`Allowed`]), validates its input against the current view
//! (references, cycles), and applies one change with its audit record.

use std::sync::Arc;

use portcullis_policy::model::{
    Attachment, Effect, Grantee, Group, Membership, PermissionGrant, Policy, Role, RoleGrant,
};
use portcullis_policy::syntax;
use portcullis_proto as proto;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::input::{self, finish};
use super::{Authz, Built, Caller, View};
use crate::access::{
    Allowed, GroupsManage, GroupsRead, PoliciesManage, PoliciesRead, RolesManage, RolesRead,
};
use crate::error::{Error, FieldError, Result};
use crate::model::{AuthzChange, new_id};

/// A new role.
pub type RoleInput = proto::CreateRoleRequest;
/// Changes to a role.
pub type RolePatch = proto::UpdateRoleRequest;
/// A new group.
pub type GroupInput = proto::CreateGroupRequest;
/// Changes to a group.
pub type GroupPatch = proto::UpdateGroupRequest;
/// A role grant.
pub type GrantInput = proto::GrantRoleRequest;
/// A direct permission grant.
pub type PermissionGrantInput = proto::GrantPermissionRequest;
/// A policy in either syntax (the request's JSON object).
pub type PolicyInput = Value;

mod grants;
mod groups;
mod policies;
mod roles;

pub use grants::{GranteeRef, ManageGrants, ReadGrants};

/// An answer read from one view of the realm: the value, and the view it
/// was read at (its revision, and the names of the roles and groups the
/// value refers to).
#[derive(Debug, Clone)]
pub struct Read<T> {
    /// The view the value was read from.
    pub view: Arc<View>,
    /// The value.
    pub value: T,
}

impl<T> Read<T> {
    /// The revision the value was read at.
    pub fn revision(&self) -> i64 {
        self.view.revision()
    }
}

/// A membership or grant, and whether its window holds now.
#[derive(Debug, Clone)]
pub struct Held<T> {
    /// The membership or grant.
    pub grant: T,
    /// Whether it counts now.
    pub active: bool,
}

/// A user's or group's grants.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Roles granted.
    pub roles: Vec<Held<RoleGrant>>,
    /// Permissions granted (or denied) directly.
    pub permissions: Vec<Held<PermissionGrant>>,
}

/// A permission of the realm: declared in its catalogue, used by roles or
/// granted directly.
#[derive(Debug, Clone)]
pub struct PermissionUse {
    /// The permission (`resource:action:scope`).
    pub permission: String,
    /// Whether the catalogue declares it.
    pub defined: bool,
    /// The catalogue's description.
    pub description: Option<String>,
    /// Names of the roles holding it, sorted.
    pub roles: Vec<String>,
    /// How many direct grants name it.
    pub direct_grants: usize,
}

fn to_json<T: serde::Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}
