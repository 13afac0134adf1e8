//! Wire types of the Portcullis REST API: the JSON bodies shared by the server,
//! clients and tests, and the public error shape (RFC 9457 problem details).
//!
//! This crate has no logic and depends on nothing of Portcullis.
#![deny(missing_docs)]

pub mod auth;
pub mod authz;
pub mod bff;
pub mod clients;
pub mod edge;
pub mod federation;
pub mod mail;
pub mod mfa;
pub mod orgs;
pub mod problem;
pub mod profile;
pub mod realms;
pub mod users;
pub mod verification;

pub use auth::*;
pub use authz::*;
pub use bff::*;
pub use clients::*;
pub use edge::*;
pub use federation::*;
pub use mail::*;
pub use mfa::*;
pub use orgs::*;
pub use problem::*;
pub use profile::*;
pub use realms::*;
pub use users::*;
pub use verification::*;
