//! SCIM 2.0 provisioning (RFC 7643, RFC 7644): a realm's accounts as SCIM
//! `User`s and its authorization groups as SCIM `Group`s, for the
//! provisioning clients of Okta, Microsoft Entra ID and others.
//!
//! The protocol (filter grammar, `PatchOp`, list queries, bulk, schemas)
//! is `portcullis_scim`'s; this module maps it onto accounts and groups:
//!
//! - a `User` is an account: `id` is its id, `emails` (primary) its
//!   address, `active` whether it may sign in, `displayName` its name,
//!   `password` (write only) its password under the realm's policy.
//!   `userName` and `externalId` are stored beside it (an account never
//!   provisioned has its address as `userName`); the Enterprise User
//!   extension's `employeeNumber`, `department` and `manager` in columns
//!   (queried, and the manager is what approval chains follow); every
//!   other attribute the client sent as it sent it. `groups` is computed
//!   from the account's group memberships.
//! - a `Group` is an authorization group: its SCIM `displayName` (any
//!   text, unique case-insensitively) is stored beside the group, whose
//!   own name is a slug of it; `members` are its direct members. Groups
//!   as members are refused (groups nest through their parent).
//!
//! Every resource has a strong validator computed from its content
//! (`meta.version`, the `ETag`), so a change made through any other API
//! changes it too; `If-Match` is checked against it.
//!
//! The caller needs `scim:provision:all` (the built-in `realm-admin` role
//! holds it; grant it to the service account of the provisioning client).
//! Changes are audited as `scim.user.create`, `scim.user.replace`,
//! `scim.user.delete`, `scim.group.create`, `scim.group.replace`,
//! `scim.group.delete` (group changes are also audited by the
//! authorization model as `group.*`).

pub mod bulk;
mod filter;
mod groups;
mod users;

use portcullis_scim::{ScimError, ScimType};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

pub use filter::{ScimCond, ScimValue, UserField};

use crate::access::{Allowed, ScimProvision};
use crate::app::Inner;
use crate::error::Error;

/// Largest page of a SCIM list.
pub const MAX_RESULTS: usize = 1_000;
/// Largest JSON body of a SCIM request, in bytes.
pub const MAX_BODY: usize = 256 * 1024;
/// Longest `userName`, `displayName` or `externalId`, in characters.
pub const MAX_NAME: usize = 256;
/// Largest stored document of other attributes, in bytes.
pub const MAX_DOCUMENT: usize = 32 * 1024;

/// What SCIM says about an account beyond the account itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimUserRecord {
    /// `userName` as given; `None`: the account's e-mail address.
    pub user_name: Option<String>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Enterprise `employeeNumber`.
    pub employee_number: Option<String>,
    /// Enterprise `department`.
    pub department: Option<String>,
    /// Enterprise `manager.value`: an account of the realm.
    pub manager_id: Option<Uuid>,
    /// Every other attribute the client sent (no `id`, `meta`, `schemas`,
    /// `password`, `groups`, nor the fields above).
    pub document: Map<String, Value>,
}

/// A group's SCIM names.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroupRecord {
    /// The realm.
    pub realm_id: Uuid,
    /// The authorization group.
    pub group_id: Uuid,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change of its name or members.
    pub updated_at: OffsetDateTime,
}

/// A query of a realm's accounts as SCIM users.
#[derive(Debug, Clone, Default)]
pub struct ScimUserQuery {
    /// The translated `filter`.
    pub filter: Option<ScimCond>,
    /// `sortBy`, and whether descending.
    pub sort: Option<(UserField, bool)>,
    /// Results to skip.
    pub offset: u64,
    /// Most results.
    pub limit: u64,
}

/// A resource as answered: its JSON and its entity tag.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResource {
    /// The resource, `meta.version` included.
    pub body: Value,
    /// `W/"..."`: the `ETag` header.
    pub etag: String,
}

/// Why a SCIM request failed: a SCIM error (with its `scimType`), or one
/// of the server's own.
#[derive(Debug)]
pub enum ScimFailure {
    /// A protocol error, answered as RFC 7644 §3.12 says.
    Scim(ScimError),
    /// Anything else (not found, not allowed, the store).
    Core(Error),
}

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        Self::Scim(e)
    }
}

impl From<Error> for ScimFailure {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(fields) | Error::InvalidInput(fields) => {
                Self::Scim(ScimError::invalid_value(
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ))
            }
            Error::Conflict(m) => Self::Scim(ScimError::new(ScimType::Uniqueness, m)),
            other => Self::Core(other),
        }
    }
}

impl From<crate::StoreError> for ScimFailure {
    fn from(e: crate::StoreError) -> Self {
        Self::from(Error::from(e))
    }
}

/// The result of a SCIM operation.
pub type ScimResult<T> = std::result::Result<T, ScimFailure>;

/// The SCIM service of a realm.
pub struct Scim<'a> {
    i: &'a Inner,
}

impl<'a> Scim<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// The base URL of a realm's SCIM service.
    pub fn base_url(&self, realm_name: &str) -> String {
        format!("{}/scim/v2/realms/{realm_name}", self.i.settings.public_url)
    }

    fn now(&self) -> OffsetDateTime {
        self.i.clock.now()
    }

    /// Records a SCIM change.
    async fn audit(
        &self,
        admin: &Allowed<ScimProvision>,
        action: &str,
        target: String,
        after: Value,
    ) {
        crate::audit::event(
            self.i,
            admin.realm().id,
            admin.caller(),
            action,
            target,
            after,
        )
        .await;
        metrics::counter!("portcullis_scim_requests_total", "action" => action.to_owned())
            .increment(1);
    }
}

/// The entity tag of a resource's content (everything but
/// `meta.version`): a strong validator, sent weak as most clients expect.
pub fn etag_of(body: &Value) -> String {
    let mut copy = body.clone();
    if let Some(meta) = copy.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("version");
    }
    let digest = portcullis_crypto::sha256(copy.to_string().as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Sets `meta.version` and answers the resource.
fn finish(mut body: Value) -> ScimResource {
    let etag = etag_of(&body);
    if let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("version".into(), Value::String(etag.clone()));
    }
    ScimResource { body, etag }
}

/// Checks `If-Match` (`*` or a list of entity tags, weak or strong
/// compared weakly) against the current tag: 412 when none matches.
pub fn check_if_match(if_match: Option<&str>, current: &str) -> ScimResult<()> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let bare = |t: &str| {
        t.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    let want = bare(current);
    let matches = header
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == want);
    if matches {
        Ok(())
    } else {
        Err(ScimFailure::Scim(ScimError::status(
            412,
            format!("the resource's version is {current}, not the one in If-Match"),
        )))
    }
}

/// An id in a path or a reference: a UUID, or "not found" (an id the
/// server never issued is one it does not have).
fn parse_id(id: &str, what: &'static str) -> ScimResult<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| ScimFailure::Core(Error::NotFound(what)))
}

/// A short text value: trimmed, no control characters, 1..=[`MAX_NAME`].
fn short_text(field: &str, value: &str) -> ScimResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_NAME || v.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!(
            "{field} must be 1-{MAX_NAME} characters without control characters"
        ))
        .into());
    }
    Ok(v.to_owned())
}

/// A member of an object, its name compared ignoring case (SCIM attribute
/// names are case-insensitive).
fn member<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Removes a member (any case) and returns it.
fn take(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()?;
    object.remove(&key)
}

/// An optional string member: absent or null is `None`; another type is
/// `invalidValue`.
fn opt_string(object: &Map<String, Value>, name: &str) -> ScimResult<Option<String>> {
    match member(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => short_text(name, s).map(Some),
        Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string")).into()),
    }
}

/// The body of a write: a JSON object whose `schemas` names `core`.
fn resource_body(body: Value, core: &str) -> ScimResult<Map<String, Value>> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object").into());
    };
    match member(&object, "schemas") {
        Some(Value::Array(urns))
            if urns
                .iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(core))) => {}
        _ => {
            return Err(ScimError::invalid_syntax(format!("schemas must include {core}")).into());
        }
    }
    Ok(object)
}
