//! One router per resource.

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

pub mod auth;
pub mod authz;
mod authz_groups;
mod authz_views;
pub mod avatars;
pub mod bff;
pub mod clients;
pub mod federation;
pub mod links;
pub mod mail;
pub mod mfa;
pub mod oauth;
mod oauth_doc;
pub mod ops;
pub mod org_extras;
pub mod orgs;
pub mod pages;
pub mod profile;
pub mod realms;
mod respond;
pub mod risk;
pub mod scim;
pub mod security;
pub mod service_keys;
pub mod transfer;
pub mod user_pages;
pub mod users;
pub mod verification;

/// Mounts a realm-scoped route twice: under `/api/v1/realms/{realm}` and, for
/// the default realm, under `/api/v1` (short paths such as `/api/v1/auth/login`).
pub(crate) fn realm_route(
    router: Router<AppState>,
    path: &str,
    method_router: MethodRouter<AppState>,
) -> Router<AppState> {
    router
        .route(&format!("/api/v1{path}"), method_router.clone())
        .route(&format!("/api/v1/realms/{{realm}}{path}"), method_router)
}
