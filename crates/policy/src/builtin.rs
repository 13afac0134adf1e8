//! The built-in roles every realm starts with, and the permissions that
//! protect Portcullis's own admin API.

use crate::Permission;

/// Name of the built-in role that administers a realm.
pub const REALM_ADMIN: &str = "realm-admin";
/// Name of the built-in role of ordinary users.
pub const USER: &str = "user";

/// Permissions of Portcullis's own admin API. Resource names are those of
/// the API; the `all` scope is needed for admin actions on other subjects.
pub const ADMIN_PERMISSIONS: &[&str] = &[
    "realms:manage:all",
    "users:read:all",
    "users:manage:all",
    "sessions:manage:all",
    "roles:read:all",
    "roles:manage:all",
    "groups:read:all",
    "groups:manage:all",
    "policies:read:all",
    "policies:manage:all",
    "authz:check:all",
    "audit:read:all",
    "clients:read:all",
    "clients:manage:all",
    "identity-providers:read:all",
    "identity-providers:manage:all",
    "security:read:all",
    "security:manage:all",
    "service-keys:read:all",
    "service-keys:manage:all",
    "organizations:read:all",
    "organizations:manage:all",
    "scim:provision:all",
];

/// Permissions of the built-in `user` role: what every account may do to
/// itself.
///
/// `organizations:read|manage:team` is delegated administration: a
/// subject's organization teams are the organizations it administers (an
/// `owner` or `admin` membership, and every organization below), so these
/// reach nothing for other accounts.
pub const USER_PERMISSIONS: &[&str] = &[
    "users:read:own",
    "sessions:manage:own",
    "authz:check:own",
    "organizations:read:team",
    "organizations:manage:team",
];

/// A built-in role: name, description and permissions.
#[derive(Debug, Clone)]
pub struct BuiltinRole {
    /// Role name.
    pub name: &'static str,
    /// Role description.
    pub description: &'static str,
    /// Its permissions.
    pub permissions: Vec<Permission>,
}

/// The built-in roles, created with every realm.
pub fn builtin_roles() -> Vec<BuiltinRole> {
    let parse = |list: &[&str]| {
        list.iter()
            .filter_map(|p| Permission::parse(p).ok())
            .collect::<Vec<_>>()
    };
    vec![
        BuiltinRole {
            name: REALM_ADMIN,
            description: "Administers the realm: users, roles, groups, policies and checks",
            permissions: parse(ADMIN_PERMISSIONS),
        },
        BuiltinRole {
            name: USER,
            description: "What every account may do to itself",
            permissions: parse(USER_PERMISSIONS),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_permissions_all_parse() {
        let roles = builtin_roles();
        assert_eq!(roles[0].permissions.len(), ADMIN_PERMISSIONS.len());
        assert_eq!(roles[1].permissions.len(), USER_PERMISSIONS.len());
    }
}
