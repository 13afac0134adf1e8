//! Black-box tests of the HTTP API, each run on SQLite and on PostgreSQL.
// Tests may read the wall clock (dates in requests) and wait for background work.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod accounts;
mod api_conformance;
mod authz;
mod avatars;
mod bff;
mod clients;
mod cross_realm;
mod edge;
mod errors;
// `mail_tests!` (mail.rs) serves links.rs and link_pages.rs too.
#[macro_use]
mod mail;
mod federation;
mod link_pages;
mod links;
mod mfa;
mod oauth;
mod oidc;
mod ops;
mod org_extras;
mod orgs;
mod otp;
mod profile;
mod realms;
mod resilience;
mod risk;
mod scim;
mod sentinel;
mod service_keys;
mod shared_cache;
mod shared_state;
mod social;
mod tokens;
mod transfer;
mod users;
mod verification;
mod webauthn;
mod zero_trust;

pub use portcullis_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, backend_tests};
pub use serde_json::{Value, json};
pub use time::Duration;

pub const PW: &str = "a perfectly fine passphrase";

/// Decodes the claims of a JWT without verifying it.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("json")
}

/// Decodes the header of a JWT.
pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("json")
}
