//! `/api/v1/auth/*`: registration, login, tokens, sessions.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use portcullis_core::accounts::{LoginOutcome, NewAccount};
use portcullis_core::model::Session;
use portcullis_proto::{
    ChangePasswordRequest, ConsentView, LoginRequest, LoginResponse, Problem, RefreshRequest,
    RegisterRequest, SessionView, TokenDelivery, TokenResponse, UserView, ValidateRequest,
    ValidateResponse,
};
use secrecy::SecretString;

use super::realm_route;
use super::respond::{
    canary_headers, cookie_login_response, mfa_required_response, token_response, user_view,
};
use crate::cookie_mode::{self, CookieCtx};
use crate::error::ApiError;
use crate::extract::{
    Authenticated, ClientMeta, Json, OptionalJson, Params, RealmCtx, bearer_principal,
};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/auth/register", post(register_post));
    r = realm_route(r, "/auth/login", post(login_post));
    r = realm_route(r, "/auth/refresh", post(refresh_post));
    r = realm_route(r, "/auth/logout", post(logout_post));
    r = realm_route(r, "/auth/me", get(me_get));
    r = realm_route(r, "/auth/change-password", post(change_password_post));
    r = realm_route(r, "/auth/sessions", get(sessions_get));
    r = realm_route(r, "/auth/sessions/{id}", delete(session_delete));
    r = realm_route(r, "/auth/consents", get(consents_get));
    r = realm_route(r, "/auth/consents/{client_id}", delete(consent_delete));
    r = realm_route(r, "/auth/validate", post(validate_post));
    r
}

fn session_view((s, current): (Session, bool)) -> SessionView {
    SessionView {
        id: s.id,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: s.expires_at,
        ip: s.ip,
        user_agent: s.user_agent,
        device: s.device,
        current,
        client_id: s.client_id,
        auth_time: s.auth_time,
        amr: s.amr,
        idp: s.idp,
    }
}

/// Register a new account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserView),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, password or name", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn register_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let new = NewAccount {
        email: body.email,
        password: SecretString::from(body.password),
        name: body.name,
    };
    let user = state.core.accounts().register(&realm, new).await?;
    let user = state.core.users().with_roles(user).await?;
    Ok((StatusCode::CREATED, axum::Json(user_view(&user))))
}

/// Log in with email and password. A user with a second factor gets
/// `{mfa_required: true, mfa_token, methods}` and no tokens: complete with
/// `POST /api/v1/mfa/verify` (asking for cookie mode again there).
///
/// With `refresh_token_delivery: "cookie"` (browser apps), the refresh
/// token is not in the answer: `Set-Cookie` carries it in the HttpOnly
/// `__Host-portcullis_refresh` cookie, with `__Host-portcullis_iat` and
/// `__Host-portcullis_csrf`, and the answer has `csrf_token` and
/// `rotate_in` instead (docs/browser-apps.md). Cookie mode needs an https
/// public URL, or a loopback one.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (tokens in the body, or the access token in the body and the refresh token in a cookie), or a second step to complete", body = LoginResponse),
        (status = 401, description = "Invalid email or password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, or cookie delivery asked of a server whose public URL is plain http on a non-loopback host", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn login_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<LoginRequest>,
) -> Result<(HeaderMap, axum::Json<LoginResponse>), ApiError> {
    let cookie = body.refresh_token_delivery == TokenDelivery::Cookie;
    if cookie {
        cookie_mode::ensure_available(&state)?;
    }
    let outcome = state
        .core
        .accounts()
        .login(
            &realm,
            &body.email,
            SecretString::from(body.password),
            &meta,
        )
        .await?;
    Ok(match outcome {
        LoginOutcome::Tokens(tokens) if cookie => {
            let (headers, body) = cookie_login_response(&state, *tokens);
            (
                headers,
                axum::Json(LoginResponse::CookieTokens(Box::new(body))),
            )
        }
        LoginOutcome::Tokens(tokens) => (
            canary_headers(&state, &tokens),
            axum::Json(LoginResponse::Tokens(Box::new(token_response(*tokens)))),
        ),
        LoginOutcome::MfaRequired(required) => (
            HeaderMap::new(),
            axum::Json(LoginResponse::MfaRequired(mfa_required_response(required))),
        ),
    })
}

/// Exchange a refresh token for a new pair. A spent token revokes its family and session.
///
/// Without `refresh_token` in the body (or without a body), the
/// `__Host-portcullis_refresh` cookie of cookie mode is spent instead: the
/// request must then pass the CSRF checks (`X-CSRF-Token`, same origin),
/// the new refresh token goes to the cookie, and the answer has no
/// `refresh_token`.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "The refresh token; left out in cookie mode"),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Cookie mode: the CSRF token of the refresh cookie")),
    responses(
        (status = 200, description = "A new token pair, or in cookie mode the access token (and new cookies)", body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token, or none", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie mode: the CSRF checks failed (`urn:portcullis:problem:csrf`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn refresh_post(
    State(state): State<AppState>,
    cookies: CookieCtx,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let Some(presented) = body.refresh_token else {
        if cookies.token.is_none() {
            return Err(portcullis_core::Error::NotAuthenticated(
                "a refresh token is required: in the body, or in the __Host-portcullis_refresh cookie",
            )
            .into());
        }
        let (headers, body) = cookies.rotate(&state).await?;
        return Ok((headers, axum::Json(body)).into_response());
    };
    let tokens = state
        .core
        .accounts()
        .refresh(
            &cookies.realm,
            SecretString::from(presented),
            &cookies.meta(),
        )
        .await?;
    Ok(axum::Json(token_response(tokens)).into_response())
}

/// End the current session: its refresh tokens and this access token stop working at once.
///
/// In cookie mode (no `Authorization` header, the refresh cookie sent) the
/// cookie's session ends, after the CSRF checks; either way the answer
/// clears the cookies of cookie mode when they were sent.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Cookie mode: the CSRF token of the refresh cookie")),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Missing or invalid access token or refresh cookie", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie mode: the CSRF checks failed (`urn:portcullis:problem:csrf`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn logout_post(
    State(state): State<AppState>,
    cookies: CookieCtx,
) -> Result<Response, Response> {
    let mut clear = HeaderMap::new();
    if cookies.token.is_some() {
        cookie_mode::clear_cookies(&mut clear);
    }
    let by_cookie =
        cookies.token.is_some() && !cookies.headers().contains_key(header::AUTHORIZATION);
    if by_cookie {
        // A refusal of the CSRF checks leaves the cookies be: the request
        // may not be the user's.
        cookies
            .check_csrf(&state)
            .map_err(IntoResponse::into_response)?;
        let ended = match cookies.holder(&state).await {
            Ok(holder) => state
                .core
                .accounts()
                .logout_holder(&holder)
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        };
        return match ended {
            Ok(()) => Ok((clear, StatusCode::NO_CONTENT).into_response()),
            // A dead cookie is no use to keep; a refusal (429) ends nothing.
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => Err((clear, e).into_response()),
            Err(e) => Err(e.into_response()),
        };
    }
    let who = bearer_principal(
        &state,
        cookies.realm.clone(),
        cookies.headers(),
        &cookies.device(),
    )
    .await
    .map_err(IntoResponse::into_response)?;
    cookies
        .admit(&state, &who)
        .await
        .map_err(IntoResponse::into_response)?;
    state
        .core
        .accounts()
        .logout(&who)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok((clear, StatusCode::NO_CONTENT).into_response())
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = state.core.accounts().me(&who).await?;
    let user = state.core.users().with_roles(user).await?;
    Ok(axum::Json(user_view(&user)))
}

/// Change the caller's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or unacceptable new one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn change_password_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .accounts()
        .change_password(
            &who,
            SecretString::from(body.current_password),
            SecretString::from(body.new_password),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's active sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Sessions", body = Vec<SessionView>),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn sessions_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<Vec<SessionView>>, ApiError> {
    let sessions = state.core.accounts().sessions(&who).await?;
    Ok(axum::Json(sessions.into_iter().map(session_view).collect()))
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Session ended"),
        (status = 404, description = "No such session of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn session_delete(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let id = params.id("id", "session")?;
    state.core.accounts().revoke_session(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Validate an access token of this realm (shaped like RFC 7662 introspection).
#[utoipa::path(post, path = "/api/v1/auth/validate", tag = "auth",
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "`active: true` with the claims, or `active: false`", body = ValidateResponse),
    ))]
pub(crate) async fn validate_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    Json(body): Json<ValidateRequest>,
) -> Result<axum::Json<ValidateResponse>, ApiError> {
    let answer = match state.core.accounts().validate(&realm, &body.token).await {
        Some(v) => ValidateResponse {
            active: true,
            sub: Some(v.claims.sub.clone()),
            realm: Some(v.realm),
            iss: Some(v.claims.iss.clone()),
            aud: Some(v.claims.aud.clone()),
            exp: Some(v.claims.exp),
            iat: Some(v.claims.iat),
            jti: Some(v.claims.jti.to_string()),
            sid: v.claims.sid.map(|s| s.to_string()),
            scope: v.claims.scope.clone(),
            token_type: Some("Bearer".to_owned()),
        },
        None => ValidateResponse::default(),
    };
    Ok(axum::Json(answer))
}

/// The consents the caller gave OAuth clients.
#[utoipa::path(get, path = "/api/v1/auth/consents", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Consents, by client", body = Vec<ConsentView>),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn consents_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<Vec<ConsentView>>, ApiError> {
    let consents = state.core.accounts().consents(&who).await?;
    Ok(axum::Json(
        consents
            .into_iter()
            .map(|c| ConsentView {
                client_id: c.client_id,
                scopes: c.scopes,
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
            .collect(),
    ))
}

/// Withdraw a consent: the client asks again next time, and what it holds
/// from the caller's authorizations (refresh and access tokens) ends now.
#[utoipa::path(delete, path = "/api/v1/auth/consents/{client_id}", tag = "auth",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client")),
    responses(
        (status = 204, description = "Consent withdrawn"),
        (status = 404, description = "No consent to this client", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn consent_delete(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let client_id = params.text("client_id")?;
    state
        .core
        .accounts()
        .revoke_consent(&who, client_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
