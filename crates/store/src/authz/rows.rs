//! Conversions between authorization rows and the policy model: grantees as
//! a pair of nullable columns, effects and attachments as short strings,
//! permissions as their `resource:action:scope` text, JSON as text.

use portcullis_core::StoreError;
use portcullis_core::model::AuditRecord;
use portcullis_core::ports::StoreResult;
use portcullis_policy::Permission;
use portcullis_policy::model::{Attachment, Effect, Grantee, Policy, Statement, Validity};
use uuid::Uuid;

use crate::convert::{corrupt, instant, micros};
use crate::entities::{audit_event, policy};

/// The `(user_id, group_id)` columns of a grantee.
pub(super) fn grantee_columns(to: Grantee) -> (Option<Uuid>, Option<Uuid>) {
    match to {
        Grantee::User(id) => (Some(id), None),
        Grantee::Group(id) => (None, Some(id)),
    }
}

/// The grantee of a row from its `(user_id, group_id)` columns.
pub(super) fn grantee(user_id: Option<Uuid>, group_id: Option<Uuid>) -> StoreResult<Grantee> {
    match (user_id, group_id) {
        (Some(user), None) => Ok(Grantee::User(user)),
        (None, Some(group)) => Ok(Grantee::Group(group)),
        _ => Err(corrupt("grantee")),
    }
}

/// The stored name of an effect.
pub(super) fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    }
}

/// Parses a stored effect.
pub(super) fn effect(name: &str) -> StoreResult<Effect> {
    match name {
        "allow" => Ok(Effect::Allow),
        "deny" => Ok(Effect::Deny),
        _ => Err(corrupt("effect")),
    }
}

/// The `(attached_kind, attached_id)` columns of an attachment.
pub(super) fn attachment_columns(to: Attachment) -> (&'static str, Option<Uuid>) {
    match to {
        Attachment::Realm => ("realm", None),
        Attachment::User(id) => ("user", Some(id)),
        Attachment::Group(id) => ("group", Some(id)),
        Attachment::Role(id) => ("role", Some(id)),
    }
}

/// The attachment of a policy row.
pub(super) fn attachment(kind: &str, id: Option<Uuid>) -> StoreResult<Attachment> {
    match (kind, id) {
        ("realm", None) => Ok(Attachment::Realm),
        ("user", Some(id)) => Ok(Attachment::User(id)),
        ("group", Some(id)) => Ok(Attachment::Group(id)),
        ("role", Some(id)) => Ok(Attachment::Role(id)),
        _ => Err(corrupt("policy attachment")),
    }
}

/// Parses a stored permission.
pub(super) fn permission(text: &str) -> StoreResult<Permission> {
    Permission::parse(text).map_err(|_| corrupt("permission"))
}

/// A validity from its two columns.
pub(super) fn validity(not_before: Option<i64>, expires_at: Option<i64>) -> Validity {
    Validity {
        not_before,
        expires_at,
    }
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("cannot serialise JSON: {e}"))
}

fn value_json(value: &serde_json::Value) -> StoreResult<String> {
    serde_json::to_string(value).map_err(json_err)
}

fn json_value(text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|_| corrupt("audit JSON"))
}

/// The row of a policy of `realm_id`, created and updated at `at`.
pub(super) fn policy_row(realm_id: Uuid, p: &Policy, at: i64) -> StoreResult<policy::Model> {
    let (kind, id) = attachment_columns(p.attached_to);
    Ok(policy::Model {
        id: p.id,
        realm_id,
        name: p.name.clone(),
        description: p.description.clone(),
        priority: p.priority,
        attached_kind: kind.to_owned(),
        attached_id: id,
        statements: serde_json::to_string(&p.statements).map_err(json_err)?,
        enabled: p.enabled,
        created_at: at,
        updated_at: at,
    })
}

/// The policy of a row.
pub(super) fn policy_of(m: policy::Model) -> StoreResult<Policy> {
    Ok(Policy {
        attached_to: attachment(&m.attached_kind, m.attached_id)?,
        statements: serde_json::from_str::<Vec<Statement>>(&m.statements)
            .map_err(|_| corrupt("policy statements"))?,
        id: m.id,
        name: m.name,
        description: m.description,
        priority: m.priority,
        enabled: m.enabled,
    })
}

/// The row of an audit record, in `realm_id` (the realm the change applies
/// to, whatever the record says).
pub(super) fn audit_row(realm_id: Uuid, r: &AuditRecord) -> StoreResult<audit_event::Model> {
    Ok(audit_event::Model {
        id: r.id,
        realm_id,
        actor: r.actor,
        actor_realm_id: r.actor_realm_id,
        action: r.action.clone(),
        target: r.target.clone(),
        before: r.before.as_ref().map(value_json).transpose()?,
        after: r.after.as_ref().map(value_json).transpose()?,
        request_id: r.request_id.clone(),
        at: micros(r.at),
    })
}

impl TryFrom<audit_event::Model> for AuditRecord {
    type Error = StoreError;
    fn try_from(m: audit_event::Model) -> Result<Self, StoreError> {
        Ok(AuditRecord {
            id: m.id,
            realm_id: m.realm_id,
            actor: m.actor,
            actor_realm_id: m.actor_realm_id,
            action: m.action,
            target: m.target,
            before: m.before.as_deref().map(json_value).transpose()?,
            after: m.after.as_deref().map(json_value).transpose()?,
            request_id: m.request_id,
            at: instant(m.at)?,
        })
    }
}
