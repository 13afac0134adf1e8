//! The answers several API routers share: a user as the API shows it, the
//! tokens of a login (with its canary cookie; in cookie mode, with the
//! session's cookies), and the second step a login asks for. Route modules import these from here, never from each other.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use portcullis_core::accounts::IssuedTokens;
use portcullis_core::mfa::MfaRequired;
use portcullis_core::users::ManagedUser;
use portcullis_proto::{CookieTokenResponse, MfaRequiredResponse, TokenResponse, UserView};
use secrecy::ExposeSecret;

use crate::extract::CANARY_COOKIE;
use crate::state::AppState;

/// A user as the API shows it.
pub(crate) fn user_view(m: &ManagedUser) -> UserView {
    let u = &m.user;
    UserView {
        id: u.id,
        email: u.email.to_string(),
        name: u.name.clone(),
        active: u.active,
        email_verified: u.email_verified,
        admin: m.is_admin(),
        roles: m.roles.clone(),
        attributes: u.attributes.clone(),
        created_at: u.created_at,
        updated_at: u.updated_at,
        last_login_at: u.last_login_at,
    }
}

/// The `Set-Cookie` of a login's canary (`portcullis_canary`): HttpOnly,
/// SameSite=Strict, for the API's paths, Secure under https. Browsers send
/// it back with refreshes; a refresh presenting another session's canary is
/// suspect (see `portcullis_core::risk`).
pub(crate) fn canary_headers(state: &AppState, t: &IssuedTokens) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(canary) = &t.canary {
        let settings = state.core.settings();
        let mut cookie = Cookie::new(CANARY_COOKIE, canary.expose_secret().to_owned());
        cookie.set_path("/api/v1/");
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_secure(settings.public_url.starts_with("https://"));
        cookie.set_max_age(time::Duration::seconds(
            settings.session_ttl.whole_seconds(),
        ));
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            headers.insert(header::SET_COOKIE, v);
        }
    }
    headers
}

/// A login's answer in cookie mode: the canary and the session cookies,
/// and the tokens but the refresh token.
pub(crate) fn cookie_login_response(
    state: &AppState,
    t: IssuedTokens,
) -> (HeaderMap, CookieTokenResponse) {
    let canary = canary_headers(state, &t);
    let user = t.user.as_ref().map(user_view);
    crate::cookie_mode::cookie_tokens(state, canary, t, user)
}

pub(crate) fn token_response(t: IssuedTokens) -> TokenResponse {
    TokenResponse {
        access_token: t.access_token,
        refresh_token: t.refresh_token.expose_secret().to_owned(),
        token_type: "Bearer".to_owned(),
        expires_in: t.expires_in,
        user: t.user.as_ref().map(user_view),
        amr: t.amr,
    }
}

/// The login answer of a user with a second factor.
pub(crate) fn mfa_required_response(r: MfaRequired) -> MfaRequiredResponse {
    MfaRequiredResponse {
        mfa_required: true,
        mfa_token: r.mfa_token.expose_secret().to_owned(),
        methods: r.methods,
        expires_in: r.expires_in,
    }
}
