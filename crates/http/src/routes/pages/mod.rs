//! The browser side of the OpenID Provider: the authorization endpoint with
//! its login and consent pages, and RP-initiated logout. Server-rendered
//! HTML that works without JavaScript.
//!
//! - The single sign-on session is the `portcullis_sso` cookie (`HttpOnly`,
//!   `SameSite=Lax`, `Secure` when the public URL is https, path-scoped to
//!   the realm) holding a random secret whose digest is stored.
//! - Every form carries a CSRF token equal to the `portcullis_csrf` cookie
//!   (double submit, compared in constant time), and a POST whose `Origin`
//!   is another site is refused.
//! - Every page has its own Content Security Policy: nothing loads but its
//!   nonce'd inline style, forms go only to this server (and, after a form,
//!   the client's redirect URI), and no page may be framed.
//! - The authorization request travels through the login and consent forms
//!   as its form-encoded parameters and is checked again on every step.
//!
//! One module per step: `authorize` (the endpoint, and where a checked
//! request goes next), `login`, `second_step`, `consent`, `logout`
//! and the mailed `links`; `render` holds what every page shares (its
//! headers, the per-request context, the error and message pages) and
//! `form` how a posted form is read and checked.

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub(crate) mod authorize;
mod consent;
pub(crate) mod form;
mod links;
mod login;
pub(crate) mod logout;
mod render;
mod second_step;
mod social;

/// A cookie of the request, decoded.
pub(crate) fn cookie_of(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    render::cookie(headers, name)
}

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/realms/{realm}/oauth2/authorize",
            get(authorize::authorize_endpoint).post(authorize::authorize_endpoint),
        )
        .route("/realms/{realm}/login", post(login::login_post))
        .route(
            "/realms/{realm}/login/mfa",
            post(second_step::login_mfa_post),
        )
        .route(
            "/realms/{realm}/login/passkey",
            post(login::login_passkey_post),
        )
        .route("/realms/{realm}/consent", post(consent::consent_post))
        .route(
            "/realms/{realm}/oauth2/logout",
            get(logout::logout_endpoint).post(logout::logout_endpoint),
        )
        .route("/realms/{realm}/logout", post(logout::logout_confirm))
        .merge(links::router())
        .merge(social::router())
}
