//! The Portcullis authorization engine.
//!
//! Pure and free of I/O: it knows nothing of storage, HTTP or the clock (the
//! instant to judge at is a parameter). It owns the permission grammar
//! `resource:action:scope`, the realm data model, the compiled realm that
//! decides checks with explanations, and the parsing of policy input.
//!
//! - [`model`]: roles, groups, grants, policies, as the store hands them over.
//! - [`CompiledRealm`]: the indexed view of a [`model::RealmSnapshot`] that
//!   answers [`CheckRequest`]s with [`Decision`]s.
//! - [`syntax`]: native and IAM-style policy statements, JSON Logic
//!   conditions (validated, depth- and size-limited).
//! - [`synthetic`]: deterministic generated realms and requests, for
//!   benchmarks and large tests.

//!
//! # Decision
//! An applicable deny wins (a deny permission grant to the user or one of its
//! groups, then a DENY policy statement whose condition holds); otherwise an
//! allow allows (a direct grant, then a role's permission, then anything
//! reached through a group, then an ALLOW statement whose condition holds);
//! otherwise deny. See [`Reason`].
//!
//! # Conditions fail closed
//! A condition that fails to evaluate (an error, not `false`) makes an ALLOW
//! statement not apply and a DENY statement apply: an error can never let a
//! request through that would otherwise be refused.
//!
//! # Conditions
//! JSON Logic (datalogic-rs), compiled once per statement when the realm is
//! compiled; the data they see is described in the `condition` module docs:
//! `subject.{id,roles,groups,attributes}`, `resource.{type,id,owner,team,
//! attributes}`, `context.{ip,hour,day,weekday,…}`, and `hour`, `day`,
//! `weekday`, `ip` at the top level. Extra operators: `ip_in_range` and
//! `string_like`.
#![deny(missing_docs)]

pub mod builtin;
mod condition;
mod engine;
mod explanation;
pub mod model;
mod pattern;
mod permission;
mod request;
pub mod syntax;
pub mod synthetic;

pub use engine::{CompileError, CompiledRealm};
pub use explanation::{
    ConditionOutcome, DecidedBy, EffectivePermission, Explanation, PathStep, PolicyEvaluation,
    StepKind, path_text,
};
pub use permission::{Permission, PermissionError, Scope, Segment};
pub use request::{CheckRequest, Context, Decision, Reason, Resource};
