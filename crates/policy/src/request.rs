//! What a check asks ([`CheckRequest`], [`Resource`], [`Context`]) and what it
//! answers ([`Decision`], [`Reason`]).

use std::borrow::Cow;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::explanation::Explanation;
use crate::model::Micros;

/// One authorization question: may `subject` do `action` to `resource` now?
#[derive(Debug, Clone, Copy)]
pub struct CheckRequest<'a> {
    /// The user asking.
    pub subject: Uuid,
    /// The subject's attributes, for policy conditions (`subject.attributes`).
    pub subject_attributes: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The action, e.g. `read`.
    pub action: &'a str,
    /// What is acted on.
    pub resource: &'a Resource,
    /// Where and when.
    pub context: &'a Context,
    /// The instant grants and memberships are judged at.
    pub now: Micros,
    /// Whether to build an [`Explanation`] (slower; allocates).
    pub explain: bool,
}

/// The resource a check is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource type, e.g. `documents` (matched against a permission's
    /// resource segment).
    pub kind: String,
    /// Its id, if the check is about one resource (`documents/42` patterns).
    pub id: Option<String>,
    /// Its owner: a user id, hyphenated (compared case-insensitively).
    pub owner: Option<String>,
    /// Its team: a group name or group id.
    pub team: Option<String>,
    /// Free attributes, for policy conditions (`resource.attributes`).
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl Resource {
    /// A resource of a kind, with no id, owner, team or attributes.
    pub fn of_kind(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            ..Self::default()
        }
    }
}

/// Where and when a request is made, for policy conditions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Hour of the day, 0 to 23, in the realm's time zone.
    pub hour: u8,
    /// ISO weekday: 1 = Monday .. 7 = Sunday, in the realm's time zone.
    pub day: u8,
    /// Anything else the caller wants conditions to see (`context.<key>`).
    /// The built-in keys (`ip`, `hour`, `day`, `weekday`) win over these.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a decision came out as it did. Denials first, in precedence order,
/// then allows in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A deny permission grant, to the user or to one of its groups.
    DirectDeny,
    /// A DENY policy statement whose condition held (or failed to evaluate).
    PolicyDeny,
    /// An allow permission granted directly to the user.
    DirectAllow,
    /// A permission of a role granted directly to the user (or of a role it
    /// includes).
    RoleAllow,
    /// Anything reached through a group membership: a permission granted to
    /// the group (or an ancestor), or a permission of a role granted to it.
    GroupAllow,
    /// An ALLOW policy statement whose condition held.
    PolicyAllow,
    /// Nothing allowed it: default deny.
    NoMatch,
}

impl Reason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DirectDeny => "direct_deny",
            Reason::PolicyDeny => "policy_deny",
            Reason::DirectAllow => "direct_allow",
            Reason::RoleAllow => "role_allow",
            Reason::GroupAllow => "group_allow",
            Reason::PolicyAllow => "policy_allow",
            Reason::NoMatch => "no_match",
        }
    }

    /// Whether this reason allows the request.
    pub fn allows(self) -> bool {
        matches!(
            self,
            Reason::DirectAllow | Reason::RoleAllow | Reason::GroupAllow | Reason::PolicyAllow
        )
    }

    /// A short sentence for the reason, used when no explanation was asked.
    pub fn sentence(self) -> &'static str {
        match self {
            Reason::DirectDeny => "Denied by an explicit deny permission grant.",
            Reason::PolicyDeny => "Denied by a policy.",
            Reason::DirectAllow => "Allowed by a permission granted directly to the user.",
            Reason::RoleAllow => "Allowed by a permission of one of the user's roles.",
            Reason::GroupAllow => {
                "Allowed by a permission reached through one of the user's groups."
            }
            Reason::PolicyAllow => "Allowed by a policy.",
            Reason::NoMatch => "Denied: no grant or policy allows it.",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to a [`CheckRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Why.
    pub reason: Reason,
    /// One human sentence. Static (no allocation) unless an explanation was
    /// asked for, in which case it names the deciding grant or policy.
    pub message: Cow<'static, str>,
    /// The full explanation, when the request asked for one.
    pub explanation: Option<Explanation>,
}

impl Decision {
    /// A decision without explanation: no allocation.
    pub(crate) fn quick(reason: Reason) -> Self {
        Self {
            allowed: reason.allows(),
            reason,
            message: Cow::Borrowed(reason.sentence()),
            explanation: None,
        }
    }
}
