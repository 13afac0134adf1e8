//! Converters from other systems' exports into [`Record`]s: a Keycloak
//! realm export (`realm-export.json`: realm roles, groups, users with
//! their password credentials, role mappings and group paths), an Auth0
//! bulk-import file (a JSON array of users with `custom_password_hash` or
//! `password_hash`) and a CSV of users (a header row naming `email`,
//! `name`, `password_hash`). Each record comes with its position in the
//! input (the user's index for JSON, the line for CSV), which the import
//! report calls its line.

use std::collections::HashMap;

use portcullis_policy::model::{Grantee, Validity};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::format::{
    GrantRecord, GroupRecord, LineError, MembershipRecord, Record, RoleRecord, UserRecord,
};
use crate::model::new_id;

/// A converted record, or why the item could not be.
pub type Converted = (u64, Result<Record, LineError>);

fn err(field: &str, reason: impl Into<String>) -> LineError {
    LineError::new(field, reason)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn flag(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// A Keycloak realm export: roles first, then groups, users, and their
/// grants and memberships. Composite roles and client roles are left out.
pub fn keycloak(export: &Value) -> Vec<Converted> {
    let mut out = Vec::new();
    let mut roles = HashMap::new();
    let realm_roles = export
        .pointer("/roles/realm")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, r) in realm_roles.iter().enumerate() {
        let Some(name) = text(r, "name") else {
            out.push((n as u64 + 1, Err(err("roles.realm.name", "is missing"))));
            continue;
        };
        let id = new_id();
        roles.insert(name.clone(), id);
        let rec = RoleRecord {
            id,
            name,
            description: text(r, "description"),
            permissions: Vec::new(),
            includes: Vec::new(),
        };
        out.push((n as u64 + 1, Ok(Record::Role(rec))));
    }
    let mut groups = HashMap::new();
    let top = export.get("groups").and_then(Value::as_array);
    let mut stack: Vec<(Option<(Uuid, String)>, &Value)> = top
        .map(|g| g.iter().map(|v| (None, v)).collect())
        .unwrap_or_default();
    let mut n = 0u64;
    while let Some((parent, g)) = stack.pop() {
        n += 1;
        let Some(name) = text(g, "name") else {
            out.push((n, Err(err("groups.name", "is missing"))));
            continue;
        };
        let id = new_id();
        let path = match &parent {
            Some((_, p)) => format!("{p}/{name}"),
            None => format!("/{name}"),
        };
        groups.insert(path.clone(), id);
        let rec = GroupRecord {
            id,
            name,
            description: None,
            parent: parent.map(|(p, _)| p),
        };
        out.push((n, Ok(Record::Group(rec))));
        if let Some(subs) = g.get("subGroups").and_then(Value::as_array) {
            stack.extend(subs.iter().map(|s| (Some((id, path.clone())), s)));
        }
    }
    let users = export
        .get("users")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, u) in users.iter().enumerate() {
        let n = n as u64 + 1;
        match keycloak_user(u) {
            Ok(user) => {
                let id = user.id.unwrap_or_else(new_id);
                let user = UserRecord {
                    id: Some(id),
                    ..user
                };
                out.push((n, Ok(Record::User(user))));
                let names = u.get("realmRoles").and_then(Value::as_array);
                for r in names.into_iter().flatten().filter_map(Value::as_str) {
                    if let Some(role) = roles.get(r) {
                        out.push((n, Ok(grant(id, *role))));
                    }
                }
                let paths = u.get("groups").and_then(Value::as_array);
                for p in paths.into_iter().flatten().filter_map(Value::as_str) {
                    if let Some(group) = groups.get(p) {
                        let m = MembershipRecord {
                            user: id,
                            group: *group,
                            validity: Validity::ALWAYS,
                        };
                        out.push((n, Ok(Record::Membership(m))));
                    }
                }
            }
            Err(e) => out.push((n, Err(e))),
        }
    }
    out
}

fn grant(user: Uuid, role: Uuid) -> Record {
    Record::Grant(GrantRecord {
        to: Grantee::User(user),
        role: Some(role),
        permission: None,
        effect: None,
        validity: Validity::ALWAYS,
    })
}

fn keycloak_user(u: &Value) -> Result<UserRecord, LineError> {
    let email = text(u, "email").ok_or_else(|| err("email", "is missing"))?;
    let name = [text(u, "firstName"), text(u, "lastName")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut password_hash = None;
    let creds = u.get("credentials").and_then(Value::as_array);
    for c in creds.into_iter().flatten() {
        if c.get("type").and_then(Value::as_str) != Some("password") {
            continue;
        }
        let (Some(secret), Some(data)) = (text(c, "secretData"), text(c, "credentialData")) else {
            return Err(err(
                "credentials",
                "a password needs secretData and credentialData",
            ));
        };
        let stored = portcullis_crypto::from_keycloak(&secret, &data)
            .map_err(|e| err("credentials", e.to_string()))?;
        password_hash = Some(stored);
    }
    let mut attributes = Map::new();
    if let Some(attrs) = u.get("attributes").and_then(Value::as_object) {
        for (k, v) in attrs {
            // Keycloak keeps every attribute as a list of strings.
            let v = match v.as_array().map(Vec::as_slice) {
                Some([one]) => one.clone(),
                _ => v.clone(),
            };
            attributes.insert(k.clone(), v);
        }
    }
    Ok(UserRecord {
        id: text(u, "id").and_then(|id| Uuid::parse_str(&id).ok()),
        email,
        name: (!name.is_empty()).then_some(name),
        active: flag(u, "enabled", true),
        email_verified: flag(u, "emailVerified", false),
        attributes,
        password_hash,
        created_at: u
            .get("createdTimestamp")
            .and_then(Value::as_i64)
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok()),
        factors: Vec::new(),
    })
}

/// An Auth0 bulk-import file: a JSON array of users.
pub fn auth0(users: &Value) -> Vec<Converted> {
    let Some(items) = users.as_array() else {
        return vec![(1, Err(err("line", "must be a JSON array of users")))];
    };
    items
        .iter()
        .enumerate()
        .map(|(n, u)| (n as u64 + 1, auth0_user(u).map(Record::User)))
        .collect()
}

fn auth0_user(u: &Value) -> Result<UserRecord, LineError> {
    let email = text(u, "email").ok_or_else(|| err("email", "is missing"))?;
    let password_hash = match (u.get("custom_password_hash"), text(u, "password_hash")) {
        (Some(custom), _) => Some(
            portcullis_crypto::from_auth0(custom)
                .map_err(|e| err("custom_password_hash", e.to_string()))?,
        ),
        (None, Some(hash)) => Some(
            portcullis_crypto::from_auth0_password_hash(&hash)
                .map_err(|e| err("password_hash", e.to_string()))?,
        ),
        (None, None) => None,
    };
    let name = text(u, "name").or_else(|| {
        let parts: Vec<String> = [text(u, "given_name"), text(u, "family_name")]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let attributes = u
        .get("user_metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(UserRecord {
        id: None,
        email,
        name,
        active: !flag(u, "blocked", false),
        email_verified: flag(u, "email_verified", false),
        attributes,
        password_hash,
        created_at: None,
        factors: Vec::new(),
    })
}

/// The columns of a CSV of users, from its header row.
#[derive(Debug, Clone, Copy)]
pub struct CsvColumns {
    email: usize,
    name: Option<usize>,
    password_hash: Option<usize>,
}

/// Reads the header row: `email` is required, `name` and `password_hash`
/// are optional, other columns are refused.
pub fn csv_header(line: &str) -> Result<CsvColumns, LineError> {
    let cells = csv_cells(line)?;
    let find = |name: &str| {
        cells
            .iter()
            .position(|c| c.trim().eq_ignore_ascii_case(name))
    };
    if let Some(other) = cells.iter().find(|c| {
        !["email", "name", "password_hash"]
            .iter()
            .any(|k| c.trim().eq_ignore_ascii_case(k))
    }) {
        return Err(err(
            other,
            "is not a known column (email, name, password_hash)",
        ));
    }
    Ok(CsvColumns {
        email: find("email").ok_or_else(|| err("email", "the header row needs an email column"))?,
        name: find("name"),
        password_hash: find("password_hash"),
    })
}

/// One data row of a CSV of users.
pub fn csv_user(cols: &CsvColumns, line: &str) -> Result<Record, LineError> {
    let cells = csv_cells(line)?;
    let cell = |i: Option<usize>| {
        i.and_then(|i| cells.get(i))
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
    };
    Ok(Record::User(UserRecord {
        id: None,
        email: cell(Some(cols.email)).ok_or_else(|| err("email", "is missing"))?,
        name: cell(cols.name),
        active: true,
        email_verified: false,
        attributes: Map::new(),
        password_hash: cell(cols.password_hash),
        created_at: None,
        factors: Vec::new(),
    }))
}

/// Splits a CSV row (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`).
fn csv_cells(line: &str) -> Result<Vec<String>, LineError> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let cur = cells.last_mut().ok_or_else(|| err("line", "is empty"))?;
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => cells.push(String::new()),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(err("line", "has an unterminated quoted cell"));
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_rows() {
        let cols = csv_header("email,name,password_hash").unwrap();
        let Record::User(u) = csv_user(&cols, "a@example.com,\"Doe, Jane\",").unwrap() else {
            panic!("a user");
        };
        assert_eq!(u.name.as_deref(), Some("Doe, Jane"));
        assert!(u.password_hash.is_none());
        assert_eq!(csv_header("email,phone").unwrap_err().field, "phone");
        assert_eq!(csv_user(&cols, ",x,").unwrap_err().field, "email");
    }

    #[test]
    fn keycloak_users_roles_and_groups() {
        let export = json!({
            "roles": {"realm": [{"name": "editor"}]},
            "groups": [{"name": "staff", "subGroups": [{"name": "eu"}]}],
            "users": [{"email": "k@example.com", "firstName": "K", "enabled": true,
                       "realmRoles": ["editor"], "groups": ["/staff/eu"],
                       "credentials": [{"type": "password",
                           "secretData": "{\"value\":\"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\",\"salt\":\"\"}",
                           "credentialData": "{\"algorithm\":\"bcrypt\",\"hashIterations\":10}"}]},
                      {"username": "no-mail"}]
        });
        let out = keycloak(&export);
        let kinds: Vec<_> = out
            .iter()
            .map(|(_, r)| r.as_ref().map(Record::kind).unwrap_or("refused"))
            .collect();
        assert_eq!(
            kinds,
            [
                "role",
                "group",
                "group",
                "user",
                "grant",
                "membership",
                "refused"
            ]
        );
    }

    #[test]
    fn auth0_users() {
        let file = json!([
            {"email": "a@example.com", "email_verified": true,
             "password_hash": "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
            {"email": "b@example.com", "custom_password_hash": {"algorithm": "md5",
             "hash": {"value": "x", "encoding": "hex"}}}
        ]);
        let out = auth0(&file);
        assert!(out[0].1.is_ok());
        assert_eq!(out[1].1.as_ref().unwrap_err().field, "custom_password_hash");
    }
}
