//! `/api/v1/bff/*`: the backend-for-frontend endpoints. A proxy that keeps a
//! browser app's tokens server-side forwards the app's
//! `__Host-portcullis_refresh` cookie (cookie mode); these routes answer the
//! cookie's session, rotate it, and decide permissions for its user. The
//! whole middleware chain applies: the edge limits them by family
//! (`session`: general, `refresh`: token, `authorize`: service) and, once
//! the cookie is verified, by the account; `POST`s pass the CSRF checks.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use portcullis_core::access::Requester;
use portcullis_proto::{
    BffAuthorizeRequest, BffSessionView, CheckRequestBody, CheckResponseBody, CookieTokenResponse,
    Problem,
};

use super::authz_views::check_response;
use super::realm_route;
use crate::cookie_mode::{CookieCtx, CookieSession};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/bff/session", get(session_get));
    r = realm_route(r, "/bff/refresh", post(refresh_post));
    r = realm_route(r, "/bff/authorize", post(authorize_post));
    r
}

/// The refresh cookie's session: its user, roles, scopes, expiries, and the
/// seconds until a refresh is advised. Spends nothing: a spent cookie is
/// answered 401 here without ending the session (only a refresh detects
/// reuse).
#[utoipa::path(get, path = "/api/v1/bff/session", tag = "bff",
    params(("__Host-portcullis_refresh" = String, Cookie, description = "The refresh cookie of cookie mode")),
    responses(
        (status = 200, description = "The session", body = BffSessionView),
        (status = 401, description = "No refresh cookie, or not a live one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The account's or the address's limiter", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn session_get(
    State(state): State<AppState>,
    session: CookieSession,
) -> Result<axum::Json<BffSessionView>, ApiError> {
    let info = state.core.accounts().session_info(&session.holder).await?;
    Ok(axum::Json(BffSessionView {
        user_id: info.user_id,
        session_id: info.session_id,
        scopes: info.scopes,
        roles: info.roles,
        access_token_expires_at: info.access_expires_at,
        refresh_token_expires_at: info.refresh_expires_at,
        session_expires_at: info.session_expires_at,
        rotate_in: info.rotate_in,
        auth_time: info.auth_time,
        amr: info.amr,
    }))
}

/// Rotate the refresh cookie: new cookies, and a fresh access token in the
/// answer for the proxy to call APIs with. A spent cookie revokes its
/// family and session, as `/auth/refresh` does.
#[utoipa::path(post, path = "/api/v1/bff/refresh", tag = "bff",
    params(
        ("__Host-portcullis_refresh" = String, Cookie, description = "The refresh cookie of cookie mode"),
        ("X-CSRF-Token" = String, Header, description = "The CSRF token of the refresh cookie"),
    ),
    responses(
        (status = 200, description = "Rotated: the access token here, the refresh token in `Set-Cookie`", body = CookieTokenResponse),
        (status = 401, description = "No refresh cookie, or an invalid, expired, revoked or reused one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The CSRF checks failed (`urn:portcullis:problem:csrf`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn refresh_post(
    State(state): State<AppState>,
    cookies: CookieCtx,
) -> Result<(HeaderMap, axum::Json<CookieTokenResponse>), ApiError> {
    let (headers, body) = cookies.rotate(&state).await?;
    Ok((headers, axum::Json(body)))
}

/// May the refresh cookie's user do `action` on `resource`? The decision of
/// `POST /api/v1/authz/check` for that user, with its reason (and its
/// explanation when asked).
#[utoipa::path(post, path = "/api/v1/bff/authorize", tag = "bff",
    params(
        ("__Host-portcullis_refresh" = String, Cookie, description = "The refresh cookie of cookie mode"),
        ("X-CSRF-Token" = String, Header, description = "The CSRF token of the refresh cookie"),
    ),
    request_body = BffAuthorizeRequest,
    responses(
        (status = 200, description = "The decision", body = CheckResponseBody),
        (status = 401, description = "No refresh cookie, or not a live one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The CSRF checks failed (`urn:portcullis:problem:csrf`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn authorize_post(
    State(state): State<AppState>,
    session: CookieSession,
    Json(body): Json<BffAuthorizeRequest>,
) -> Result<axum::Json<CheckResponseBody>, ApiError> {
    let requester = Requester::new(session.holder.principal, session.request_id, session.ip);
    let input = CheckRequestBody {
        subject: None,
        action: body.action,
        resource: body.resource,
        context: body.context,
        explain: body.explain,
        min_revision: body.min_revision,
    };
    Ok(axum::Json(check_response(
        state.core.authz().check(&requester.caller(), input).await?,
    )))
}
