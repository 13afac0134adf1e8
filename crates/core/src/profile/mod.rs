//! Profiles: the declarative profile schema of a realm (its fields, their
//! types and validation, who reads and edits them, their token claims), and
//! avatar images (sniffed, bounded, decoded and re-encoded).

pub mod avatar;
mod check;
mod document;
pub mod schema;
mod value;

pub use document::{Document, MAX_DOCUMENT_KEYS};
