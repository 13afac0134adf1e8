//! Portcullis domain services and the storage ports they need.
//!
//! This crate owns accounts, credentials, sessions, tokens and realms. It knows
//! nothing of HTTP (no axum) and nothing of SQL (only `store` does): it talks to
//! storage through the traits in [`ports`] and reads time from a [`Clock`].

pub mod access;
pub mod accounts;
mod app;
mod audit;
pub mod authz;
pub mod cache;
pub mod clients;
pub mod clock;
pub mod denylist;
pub mod device;
pub mod edge;
pub mod error;
pub mod federation;
pub mod keys;
pub mod links;
pub mod mail;
pub mod mfa;
pub mod model;
pub mod notices;
pub mod orgs;
pub mod passwords;
pub mod ports;
pub mod profile;
pub mod realms;
pub mod recovery;
pub mod revocation;
pub mod risk;
pub mod scim;
pub mod service_keys;
pub mod settings;
pub mod text;
pub mod throttle;
pub mod tokens;
pub mod transfer;
pub mod users;
pub mod verification;
mod verified;
pub mod zero_trust;

pub use app::Portcullis;
pub use clock::{Clock, SharedClock, SystemClock, TestClock};
pub use error::{Error, FieldError, Result, StoreError};
pub use settings::{LoginLimits, Settings};
pub use tokens::Principal;
