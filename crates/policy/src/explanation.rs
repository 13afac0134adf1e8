//! Why a decision came out as it did: the deciding grant or policy, the path
//! that led to it, what was missing, and every policy that was evaluated.

use serde::Serialize;
use uuid::Uuid;

use crate::Permission;
use crate::model::Effect;
use crate::request::Reason;

/// What one step of a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The subject.
    User,
    /// A group (membership, then each ancestor).
    Group,
    /// A role (granted, then each included role).
    Role,
    /// The permission at the end of the path.
    Permission,
    /// Every subject of the realm (start of a realm policy's path).
    Realm,
    /// A policy.
    Policy,
}

impl StepKind {
    fn as_str(self) -> &'static str {
        match self {
            StepKind::User => "user",
            StepKind::Group => "group",
            StepKind::Role => "role",
            StepKind::Permission => "permission",
            StepKind::Realm => "realm",
            StepKind::Policy => "policy",
        }
    }
}

/// One step of a path: `group engineering`, `role deployer`, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStep {
    /// What the step is.
    pub kind: StepKind,
    /// Its id (users, groups, roles, policies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Its name (the user id for a user, the permission text for a
    /// permission).
    pub name: String,
}

impl PathStep {
    pub(crate) fn new(kind: StepKind, id: Option<Uuid>, name: impl Into<String>) -> Self {
        Self {
            kind,
            id,
            name: name.into(),
        }
    }
}

/// Renders steps as `user 0190… -> group engineering -> role deployer ->
/// permission deployments:create:team`.
pub fn path_text(steps: &[PathStep]) -> String {
    let mut out = String::new();
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            out.push_str(" -> ");
        }
        out.push_str(step.kind.as_str());
        if !step.name.is_empty() {
            out.push(' ');
            out.push_str(&step.name);
        }
    }
    out
}

/// The grant or policy statement that decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecidedBy {
    /// A permission (granted directly, through a role or through a group).
    Grant {
        /// The permission.
        permission: Permission,
        /// Allow or deny.
        effect: Effect,
    },
    /// A policy statement.
    Policy {
        /// Policy id.
        id: Uuid,
        /// Policy name.
        name: String,
        /// Policy priority.
        priority: i32,
        /// Statement effect.
        effect: Effect,
        /// Index of the statement within the policy.
        statement: usize,
        /// Statement id, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        sid: Option<String>,
    },
}

/// How a statement's condition came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConditionOutcome {
    /// The statement has no condition: it always holds.
    None,
    /// The condition held.
    Held,
    /// The condition did not hold.
    NotHeld,
    /// The condition failed to evaluate. An ALLOW statement then does not
    /// apply; a DENY statement does (fail closed).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// One policy statement that matched the request's action and resource and
/// is attached to the subject, with how its condition came out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyEvaluation {
    /// Policy id.
    pub id: Uuid,
    /// Policy name.
    pub name: String,
    /// Policy priority.
    pub priority: i32,
    /// Statement effect.
    pub effect: Effect,
    /// Index of the statement within the policy.
    pub statement: usize,
    /// Statement id, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Condition outcome.
    pub condition: ConditionOutcome,
    /// Whether the statement applied (its effect counted).
    pub applied: bool,
    /// How the policy reaches the subject, as text (`realm -> policy x`,
    /// `user … -> group g -> policy x`).
    pub attachment: String,
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The reason (same as the decision's).
    pub reason: Reason,
    /// The deciding grant or policy statement; `None` for a default deny.
    pub decided_by: Option<DecidedBy>,
    /// The path from the subject to what decided, step by step.
    pub path: Vec<PathStep>,
    /// The same path as text.
    pub path_text: Option<String>,
    /// For a default deny: what was missing, and what was held instead.
    pub missing: Option<String>,
    /// Policy statements attached to the subject that matched the action and
    /// resource: denies first, then allows, each by priority (higher first).
    pub policies: Vec<PolicyEvaluation>,
}

/// A permission the subject holds at some instant, with every path to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectivePermission {
    /// The permission.
    pub permission: Permission,
    /// Allow or deny.
    pub effect: Effect,
    /// Each path to it, as text (`user … -> role editor -> permission
    /// documents:update:team`).
    pub sources: Vec<String>,
}
