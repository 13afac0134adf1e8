//! The Portcullis authorization engine.
//!
//! Pure and free of I/O: it knows nothing of storage or HTTP. So far it owns the
//! permission grammar `resource:action:scope`; roles, groups, policies and
//! decisions with explanations build on it.
#![deny(missing_docs)]

pub mod builtin;
pub mod model;
mod permission;

pub use permission::{Permission, PermissionError, Scope, Segment};
