//! Portcullis storage: the ports of `portcullis-core` ([`portcullis_core::ports`])
//! implemented once, on SeaORM, for SQLite (the zero-configuration default) and
//! PostgreSQL (production).
//!
//! This crate owns the schema ([`migration`]), the entities, every SQL query and
//! the pool layout; no other crate knows the ORM or SQL. It depends on core's
//! ports and records only, never on HTTP or protocol crates. Tenant isolation is
//! enforced here: every query on a realm-owned table filters by `realm_id`.
//!
//! - [`SqlStore::connect`] opens a database by URL (`sqlite:`, `postgres:`),
//!   [`SqlStore::migrate`] applies [`migration::Migrator`].
//! - [`testing`] creates fresh databases for tests (also used by the testkit).
//! - `conformance` (feature `conformance`) is the backend-independent test
//!   suite every [`portcullis_core::ports::Store`] must pass.
//!
//! Times are stored as Unix microseconds: values round-trip exactly at
//! microsecond precision (finer digits are truncated) and come back in UTC.

#![warn(missing_docs)]

mod authz;
mod clients;
mod convert;
mod denylist;
mod edge;
mod entities;
mod federation;
mod import_sql;
mod keys;
mod mail;
mod mfa;
pub mod migration;
mod oauth;
mod org_extras;
mod orgs;
mod profile;
mod realms;
mod refresh_tokens;
mod risk;
mod rotate_sql;
mod scim;
mod sessions;
mod store;
pub mod testing;
mod transfer;
mod users;
mod verification;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use migration::Migrator;
pub use store::{QueryEvent, SqlStore};
