//! Profiles: the declarative profile schema of a realm (its fields, their
//! types and validation, who reads and edits them, their token claims), and
//! avatar images (sniffed, bounded, decoded and re-encoded). Pure domain
//! logic: no storage, no HTTP, no clock.
//!
//! - [`schema`]: [`ProfileSchema`] (declared, stored, versioned), checked and
//!   compiled into a [`CompiledSchema`] that validates writes
//!   ([`CompiledSchema::replace`], [`CompiledSchema::merge`]), gives views
//!   ([`CompiledSchema::view`]) and claims ([`CompiledSchema::claims`]);
//!   [`ProfileSchema::migrate`] carries stored documents across a schema
//!   change, archiving what no longer fits under [`ARCHIVE_KEY`].
//! - [`avatar`]: [`sanitize_avatar`] turns an upload into a clean PNG or
//!   says why not ([`AvatarError`]).
//!
//! Inside: `check` holds the schema's checks, `value` each kind's value
//! check and normal form, `document` the operations on documents.

pub mod account;
pub mod avatar;
pub mod avatars;
mod check;
mod document;
pub mod model;
pub mod schema;
mod service;
mod value;

pub use avatar::{Avatar, AvatarError, AvatarLimits, sanitize_avatar};
pub use avatars::{AvatarInfo, MAX_CONCURRENT_DECODES, UploadError};
pub use document::{Document, MAX_DOCUMENT_KEYS};
pub use schema::{
    ARCHIVE_KEY, Audience, ClaimScope, CompiledSchema, FieldKind, ProfileField, ProfileSchema,
};
pub use service::{MIGRATION_BATCH, ProfileRead, Profiles, SchemaChange};
