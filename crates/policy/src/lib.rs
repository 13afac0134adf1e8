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
//!   conditions (validated, depth- and size-limited, with no nested
//!   iteration and no growing `reduce` accumulator).
//! - [`synthetic`]: deterministic generated realms and requests, for
//!   benchmarks and large tests.
//!
//! # Decision
//! An applicable deny wins: a deny permission grant to the user or one of its
//! groups ([`Reason::DirectDeny`]), then a DENY policy statement whose
//! condition holds ([`Reason::PolicyDeny`]). Otherwise an allow allows, and
//! the reason follows the first link of the path that grants it: a
//! permission granted to the user itself ([`Reason::DirectAllow`]), a
//! permission of a role granted to the user itself, or included by one
//! ([`Reason::RoleAllow`]), anything reached through a group membership — a
//! permission granted to the group or an ancestor, or a role granted to them
//! ([`Reason::GroupAllow`]) — then an ALLOW policy statement whose condition
//! holds ([`Reason::PolicyAllow`]). Otherwise deny ([`Reason::NoMatch`]).
//!
//! A permission covers a request when its resource segment covers the
//! resource kind, its action segment the action, and its scope reaches the
//! resource: `all` always; `team` when the resource's team (a group name or
//! id) is one of the subject's groups (ancestors included) or its owner is the
//! subject; `own` when its owner is the subject. Deny grants are read the same
//! way: `documents:read:own` denied refuses reading one's own documents only.
//!
//! # Time
//! Nothing is baked in at compile time: each check passes `now`, and a grant,
//! membership or role grant counts only if its validity holds at `now` —
//! every link of a path (the membership of the group, the grant to the group).
//!
//! # Policies
//! A policy applies to a subject when attached to the realm, to the user, to
//! one of its groups (ancestors included) or to one of its roles (inclusion
//! included), and is enabled. A statement applies when an action pattern
//! matches (`*` globs; a pattern with `:` is matched against `kind:action`,
//! otherwise against the action), a resource pattern matches (a pattern with
//! `/` against `kind/id`, which needs an id, otherwise against the kind) —
//! empty lists match everything — and its condition holds. Priority orders
//! statements of one effect (higher first) in explanations.
//!
//! # Conditions
//! JSON Logic (`datalogic-rs` 5.4), compiled once per statement when the
//! realm is compiled, evaluated against this data:
//!
//! ```json
//! {
//!   "subject":  {"id": "…", "roles": ["…"], "groups": ["…"], "attributes": {}},
//!   "resource": {"type": "documents", "id": "42", "owner": "…", "team": "…", "attributes": {}},
//!   "context":  {"ip": "10.1.2.3", "hour": 10, "day": 3, "weekday": "wednesday"},
//!   "hour": 10, "day": 3, "weekday": "wednesday", "ip": "10.1.2.3"
//! }
//! ```
//!
//! `day` is the ISO weekday (1 = Monday .. 7 = Sunday) and `weekday` its
//! lowercase English name; [`Context::extra`] keys join `context` (the
//! built-in keys win); absent values are `null`; `subject.roles` and
//! `subject.groups` are the names held at `now`, sorted. Two operators are
//! added: `ip_in_range` (`{"ip_in_range": [{"var": "ip"}, "10.0.0.0/8"]}`, or
//! a list of CIDR blocks or addresses; a `null` address is in no range) and
//! `string_like` (`*` and `?` globs). [`syntax::OPERATORS`] lists what a
//! condition may use.
//!
//! **Conditions fail closed.** A condition that fails to evaluate (an error,
//! not `false`: say `ip_in_range` given a number) makes an ALLOW statement not
//! apply and a DENY statement apply: an evaluation error can never let
//! through a request that would otherwise be refused.
//!
//! # Speed
//! [`CompiledRealm::compile`] interns resource kinds and actions, stores role
//! permissions and inclusion closures in shared tables, flattens for each
//! user the roles, grants and groups reached through memberships (with the
//! window of the whole path), and indexes policy statements by resource kind
//! and effect. A check without explanation then reads a handful of
//! contiguous slices and allocates nothing unless an applicable statement has
//! a condition (whose data goes to a reused per-thread arena). The
//! explanation path enumerates sources with their paths and evaluates every
//! applicable statement; it reaches the same decision (property-tested
//! against a naive reference evaluator).
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
